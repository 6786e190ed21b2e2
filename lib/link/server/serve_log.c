/* The receiver's log lines, text or JSON, one per event, to stderr (a
 * leaf: every serve file calls it, it calls none of them). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/internal.h"
#include "link/server/serve_int.h"

void
mtls__serve_now(char *buf, size_t len)
{
	mtls__time_format_ms(mtls__now_ms(), MTLS__TIME_RFC3339_MS, buf, len);
}

double
mtls__serve_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Writes one line to stderr; JSON objects are freed here. Every string
 * in OBJ went through mtls__serve_log_escape (valid UTF-8), so encoding fails
 * only without memory; even then the record is not silently lost. */
static void
emit(struct serve *srv, json_t *obj, const char *text)
{
	char *s = NULL;

	if (obj != NULL) {
		s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(4));
		json_decref(obj);
	}
	if (s == NULL && text == NULL) {
		text = srv->opts.log_json
		    ? "{\"event\":\"log_error\",\"message\":\"a log record "
		      "could not be encoded (out of memory)\"}"
		    : "log_error: a log record could not be encoded (out of "
		      "memory)";
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
	char now[40], raw[1024], msg[1100], line[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Messages quote client certificates and files: one line each. */
	mtls__serve_log_escape(raw, 0, msg, sizeof(msg));
	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		emit(srv, json_pack("{s:s, s:s, s:s}", "time", now, "level",
		    level, "message", msg), NULL);
		return;
	}
	snprintf(line, sizeof(line), "%s %s %s", now, level, msg);
	emit(srv, NULL, line);
}

/* The JSON form of the text log's "-": null (docs/json.md). */
static const char *
absent(const char *s)
{
	return s != NULL && *s != '\0' && strcmp(s, "-") != 0 ? s : NULL;
}

void
mtls__serve_log_handshake(struct serve *srv, const char *peer, const char *key,
    const char *reason, const char *fp, const char *subject)
{
	char now[40], line[3000], why[SERVE_REASON_MAX + 200], subj[1200];

	mtls__serve_log_escape(reason, 0, why, sizeof(why));
	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		mtls__serve_log_escape(subject, 0, subj, sizeof(subj));
		/* docs/json.md: "-" (no certificate) is null there. */
		emit(srv, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}",
		    "time", now, "event", "handshake_failed", "peer", peer,
		    "reason_key", key, "reason", why, "sha256", absent(fp),
		    "subject", absent(subj)), NULL);
		return;
	}
	mtls__serve_log_escape(subject, SERVE_ESC_FIELD, subj, sizeof(subj));
	snprintf(line, sizeof(line), "%s %s handshake refused: %s (fp=%s "
	    "subject=%s)", now, peer, why, fp, subj);
	emit(srv, NULL, line);
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

const char *
mtls__serve_log_escape(const char *s, int flags, char *out, size_t len)
{
	return mtls_escape(s, (flags & SERVE_ESC_FIELD) ? MTLS_ESC_FIELD : 0,
	    out, len);
}

/* The client-controlled fields of an access record, escaped. */
struct access_fields {
	char principal[512], serial[200], method[40], uri[2100], action[40],
	    path[2100], item[520], outcome[64];
};

static void
escape_fields(const struct serve_access *a, int flags, struct access_fields *f)
{
	mtls__serve_log_escape(dash(a->principal), flags, f->principal,
	    sizeof(f->principal));
	mtls__serve_log_escape(dash(a->serial), flags, f->serial, sizeof(f->serial));
	mtls__serve_log_escape(dash(a->method), flags, f->method, sizeof(f->method));
	mtls__serve_log_escape(dash(a->uri), flags, f->uri, sizeof(f->uri));
	mtls__serve_log_escape(dash(a->action), flags, f->action, sizeof(f->action));
	mtls__serve_log_escape(dash(a->path), flags, f->path, sizeof(f->path));
	mtls__serve_log_escape(dash(a->item), flags, f->item, sizeof(f->item));
	mtls__serve_log_escape(a->outcome, flags, f->outcome, sizeof(f->outcome));
}

void
mtls__serve_log_access(struct serve *srv, const struct serve_access *a)
{
	char now[40], line[8000];
	struct access_fields f;

	mtls__serve_now(now, sizeof(now));
	if (srv->opts.log_json) {
		/* In docs/json.md's vocabulary: absent fields are null, the
		 * HTTP status is http_status (status is a certificate's
		 * standing), the duration an integer with its unit. */
		escape_fields(a, 0, &f);
		emit(srv, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, "
				    "s:s?, s:s?, s:s?, s:i, s:I, s:I, s:I, s:s*}",
		    "time", now, "event", "request", "peer", dash(a->peer),
		    "principal", absent(f.principal), "serial", absent(f.serial),
		    "method", absent(f.method), "uri", absent(f.uri),
		    "action", absent(f.action), "path", absent(f.path),
		    "item", absent(f.item), "http_status", a->status,
		    "bytes_in", (json_int_t)a->bytes_in, "bytes_out",
		    (json_int_t)a->bytes_out, "duration_us",
		    (json_int_t)(a->ms * 1000.0 + 0.5), "outcome",
		    a->outcome != NULL ? f.outcome : NULL), NULL);
		return;
	}
	/* key=value fields: a space would let a value pose as more fields. */
	escape_fields(a, SERVE_ESC_FIELD, &f);
	snprintf(line, sizeof(line),
	    "%s %s principal=%s serial=%s \"%s %s\" action=%s path=%s "
	    "item=%s status=%d bytes_in=%zu bytes_out=%zu ms=%.2f%s%s",
	    now, dash(a->peer), f.principal, f.serial, f.method, f.uri,
	    f.action, f.path, f.item, a->status, a->bytes_in, a->bytes_out,
	    a->ms, a->outcome != NULL ? " outcome=" : "",
	    a->outcome != NULL ? f.outcome : "");
	emit(srv, NULL, line);
}
