/* The receiver's log lines, text or JSON, one per event, to stderr (a
 * leaf: every serve file calls it, it calls none of them). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "link/server/serve_int.h"

void
mtls__serve_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char base[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", base, (long)(tv.tv_usec / 1000));
}

double
mtls__serve_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Writes one line to stderr; JSON objects are freed here. */
static void
emit(struct serve *srv, json_t *obj, const char *text)
{
	char *s = NULL;

	if (obj != NULL) {
		s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(4));
		json_decref(obj);
	}
	pthread_mutex_lock(&srv->log_lock);
	fprintf(stderr, "%s\n", s != NULL ? s : text);
	fflush(stderr);
	pthread_mutex_unlock(&srv->log_lock);
	free(s);
}

void
mtls__serve_log(struct serve *srv, const char *level, const char *fmt, ...)
{
	char now[40], msg[1024], line[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		emit(srv, json_pack("{s:s, s:s, s:s}", "time", now, "level",
		    level, "msg", msg), NULL);
		return;
	}
	snprintf(line, sizeof(line), "%s %s %s", now, level, msg);
	emit(srv, NULL, line);
}

void
mtls__serve_log_handshake(struct serve *srv, const char *peer, const char *key,
    const char *reason)
{
	char now[40], line[1200];

	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		emit(srv, json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", now,
		    "event", "handshake_failed", "peer", peer, "reason_key", key,
		    "reason", reason), NULL);
		return;
	}
	snprintf(line, sizeof(line), "%s %s handshake refused: %s", now, peer,
	    reason);
	emit(srv, NULL, line);
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

/* A field for the text log: control characters (a refused Path header is
 * logged as sent) become '?', so one request stays one line. */
static const char *
clean(const char *s, char *buf, size_t len)
{
	size_t i;

	s = dash(s);
	for (i = 0; s[i] != '\0' && i + 1 < len; i++) {
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	}
	buf[i] = '\0';
	return buf;
}

void
mtls__serve_log_access(struct serve *srv, const struct serve_access *a)
{
	char now[40], line[3000], uri[1100], path[1100], item[200];

	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		emit(srv, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
				    "s:s, s:s, s:i, s:I, s:I, s:f, s:s?}",
		    "time", now, "event", "request", "peer", dash(a->peer),
		    "principal", dash(a->principal), "serial", dash(a->serial),
		    "method", dash(a->method), "uri", dash(a->uri), "action",
		    dash(a->action), "path", dash(a->path), "item",
		    dash(a->item), "status", a->status,
		    "bytes_in", (json_int_t)a->bytes_in, "bytes_out",
		    (json_int_t)a->bytes_out, "ms", a->ms, "outcome",
		    a->outcome), NULL);
		return;
	}
	snprintf(line, sizeof(line),
	    "%s %s principal=%s serial=%s \"%s %s\" action=%s path=%s "
	    "item=%s status=%d bytes_in=%zu bytes_out=%zu ms=%.2f%s%s",
	    now, dash(a->peer), dash(a->principal), dash(a->serial),
	    dash(a->method), clean(a->uri, uri, sizeof(uri)), dash(a->action),
	    clean(a->path, path, sizeof(path)), clean(a->item, item, sizeof(item)),
	    a->status, a->bytes_in, a->bytes_out, a->ms,
	    a->outcome != NULL ? " outcome=" : "",
	    a->outcome != NULL ? a->outcome : "");
	emit(srv, NULL, line);
}
