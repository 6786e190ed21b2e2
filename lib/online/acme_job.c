/* see acme_int.h: what every ACME handler does with its job - replies,
 * problem documents (RFC 8555 6.7), URLs and Link headers, ids, stored
 * objects and the audit trail. A leaf of the ACME files: acme.c,
 * acme_order.c, acme_authz.c and acme_cert.c call it, it calls none. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "base/clock.h"
#include "ca/acme_store.h"
#include "mtls/acme.h"
#include "mtls/token.h"
#include "online/acme_int.h"
#include "ca/token_int.h"

#define PROBLEM_URN "urn:ietf:params:acme:error:"

void
mtls__acme_resp_free(struct mtls__acme_resp *r)
{
	int i;

	free(r->body);
	free(r->location);
	for (i = 0; i < MTLS__ACME_HDRS; i++) {
		free(r->links[i]);
	}
	memset(r, 0, sizeof(*r));
}

/* ---- answers ---- */

void
mtls__acme_set_body(struct mtls__acme_resp *r, int status, const char *type,
    char *body)
{
	free(r->body);
	r->status = status;
	r->content_type = type;
	r->body = body;
	r->len = body != NULL ? strlen(body) : 0;
}

void
mtls__acme_reply(struct mtls__acme_job *j, int status, json_t *obj)
{
	char *s = obj != NULL ? json_dumps(obj, JSON_INDENT(2)) : NULL;

	json_decref(obj);
	if (s == NULL) {
		mtls__acme_set_body(j->resp, 500, "text/plain", NULL);
		return;
	}
	mtls__acme_set_body(j->resp, status, "application/json", s);
}

void
mtls__acme_problem(struct mtls__acme_job *j, int status, const char *type,
    const char *fmt, ...)
{
	char detail[1024], urn[96];
	json_t *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(urn, sizeof(urn), PROBLEM_URN "%s", type);
	free(j->resp->body);
	doc = json_pack("{s:s, s:s, s:i}", "type", urn, "detail", detail,
	    "status", status);
	j->resp->body = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	j->resp->len = j->resp->body != NULL ? strlen(j->resp->body) : 0;
	j->resp->status = status;
	j->resp->content_type = "application/problem+json";
	j->a->refused++;
	if (strcmp(type, "badNonce") == 0 || strcmp(type, "rateLimited") == 0) {
		j->resp->retry_after = strcmp(type, "rateLimited") == 0 ? 60 : 0;
	}
}

char *
mtls__acme_url(struct mtls__acme_job *j, const char *fmt, ...)
{
	char rest[512], *out;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	n = strlen(j->req->base) + strlen(rest) + 8;
	out = malloc(n);
	if (out != NULL) {
		snprintf(out, n, "%s/acme/%s", j->req->base, rest);
	}
	return out;
}

void
mtls__acme_link(struct mtls__acme_job *j, char *url, const char *rel)
{
	char *v;
	size_t n;
	int i;

	if (url == NULL) {
		return;
	}
	n = strlen(url) + strlen(rel) + 16;
	v = malloc(n);
	if (v != NULL) {
		snprintf(v, n, "<%s>;rel=\"%s\"", url, rel);
	}
	for (i = 0; i < MTLS__ACME_HDRS && v != NULL; i++) {
		if (j->resp->links[i] == NULL) {
			j->resp->links[i] = v;
			v = NULL;
		}
	}
	free(v);
	free(url);
}

int
mtls__acme_new_id(char *out, size_t n)
{
	unsigned char r[32];
	size_t i;

	if (n > sizeof(r) || RAND_bytes(r, (int)n) != 1) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	}
	return 0;
}

json_t *
mtls__acme_load(struct mtls__acme_job *j, const char *kind, const char *id,
    char *account, size_t aclen)
{
	struct mtls_err e;
	json_error_t je;
	char *doc;
	json_t *o;

	doc = mtls__acme_get(j->a->ca, kind, id, account, aclen, &e);
	if (doc == NULL) {
		if (e.code == MTLS_E_NOTFOUND) {
			mtls__acme_problem(j, 404, "malformed", "no %s '%.64s' here",
			    kind, id);
		} else {
			mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
		}
		return NULL;
	}
	o = json_loads(doc, 0, &je);
	free(doc);
	if (o == NULL) {
		mtls__acme_problem(j, 500, "serverInternal", "the stored %s '%.64s' "
		    "is damaged", kind, id);
	}
	return o;
}

int
mtls__acme_save(struct mtls__acme_job *j, const char *kind, const char *id,
    const char *account, json_t *doc, struct mtls_err *err)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	const char *status = json_string_value(json_object_get(doc, "status"));
	json_int_t exp = json_integer_value(json_object_get(doc, "expires_at"));
	int rc;

	(void)j;
	if (s == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	rc = mtls__acme_put(j->a->ca, kind, id, account, status ? status : "",
	    (time_t)exp, s, err);
	free(s);
	return rc;
}

/* ---- directory and nonces ---- */

void
mtls__acme_audit(struct mtls__acme_job *j, const char *action, const char *name,
    const char *serial, const char *outcome, const char *reason)
{
	struct mtls_audit_event ev;
	struct mtls_err e;
	char actor[160];

	snprintf(actor, sizeof(actor), "acme %s%s%s", j->req->peer_addr ?
	    j->req->peer_addr : "-", j->account[0] ? " account " : "", j->account);
	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.action = action;
	ev.name = name ? name : "";
	ev.serial = serial ? serial : "";
	ev.outcome = outcome;
	ev.reason = reason ? reason : "";
	(void)mtls__audit_add(j->a->ca, &ev, &e);
}

const char *
mtls__acme_jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* RFC 8555 7.1: timestamps are RFC 3339, in UTC (base/clock.c). */
json_t *
mtls__acme_time_json(time_t t)
{
	char b[32];

	mtls__time_format(t, MTLS__TIME_RFC3339, b, sizeof(b));
	return json_string(b);
}

int
mtls__acme_expired(struct mtls__acme_job *j, json_t *doc)
{
	return (time_t)json_integer_value(json_object_get(doc, "expires_at")) <=
	    j->now;
}

void
mtls__acme_store_problem(struct mtls__acme_job *j, const struct mtls_err *e)
{
	if (strstr(e->msg, "locked") != NULL || strstr(e->msg, "busy") != NULL) {
		mtls__acme_problem(j, 503, "serverInternal", "the CA's inventory is "
		    "busy; retry later");
		j->resp->retry_after = 2;
		return;
	}
	mtls__acme_problem(j, 500, "serverInternal", "%s", e->msg);
}
