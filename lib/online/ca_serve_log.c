/* see online/ca_serve_int.h: the log lines of `mtls ca serve`, one per
 * event, RFC 3339 UTC stamps, and the text of its metrics page. A leaf:
 * ca_serve.c and ca_serve_http.c call it, it calls neither. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "base/buf.h"
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

int
mtls__casrv_metrics_render(const struct mtls__casrv_metric *m, size_t n,
    struct mtls__buf *b)
{
	size_t i;

	/* The buffer grows: a page never loses its last lines when a metric
	 * is added (a fixed one did, silently). One check at the end: after
	 * a failed growth every write does nothing. */
	for (i = 0; i < n; i++) {
		if (m[i].help != NULL) {
			mtls__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
			    m[i].name, m[i].help, m[i].name, m[i].type);
		}
		mtls__buf_printf(b, "%s%s %llu\n", m[i].name, m[i].labels,
		    m[i].value);
	}
	return b->oom ? -1 : 0;
}
