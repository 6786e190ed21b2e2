/* see online/ca_serve_int.h: the log lines of `mtls ca serve`, one per
 * event, RFC 3339 UTC stamps. A leaf: ca_serve.c and ca_serve_http.c call
 * it, it calls neither. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "online/ca_serve_int.h"

void
mtls__casrv_log(struct casrv *s, const char *fmt, ...)
{
	char ts[32];
	va_list ap;

	(void)s;
	mtls__time_format(time(NULL), MTLS__TIME_RFC3339, ts, sizeof(ts));
	fprintf(stderr, "%s mtls ca serve: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}
