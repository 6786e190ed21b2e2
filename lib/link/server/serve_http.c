/* The receiver's HTTP side: /bin/receive, /healthz, /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "link/server/serve_int.h"

struct reqctx {
	struct serve_worker *w;
	struct evhttp_request *req;
	struct serve_access acc;
	struct serve_gen *gen;
	X509 *cert;       /* borrowed from the session */
	char *cn;         /* OPENSSL_free */
	char *serial;     /* OPENSSL_free */
	const struct mtls__pmap_rule *rule;
	const char *metric_action;
	struct mtls__content_spool *spool; /* the body; NULL: none (borrowed) */
	char path[MTLS__CONTENT_PATH_MAX + 1];
};

/* The request is answered: the connection is idle unless the client has
 * already sent more (pipelining) that evhttp or OpenSSL holds. */
static void
mark_idle(struct evhttp_request *req)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	SSL *ssl = mtls__serve_bev_ssl(bev);
	struct serve_conn *c = ssl != NULL ? mtls__serve_conn_get(ssl) : NULL;

	if (c != NULL) {
		c->busy = mtls__serve_bev_pending(bev) > 0 || SSL_pending(ssl) > 0;
	}
}

static void
reply(struct reqctx *r, int status, const char *reason, const char *fmt, ...)
    MTLS_PRINTF(4, 5);

static void
reply(struct reqctx *r, int status, const char *reason, const char *fmt, ...)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	char labels[128];
	va_list ap;

	if (body != NULL) {
		va_start(ap, fmt);
		evbuffer_add_vprintf(body, fmt, ap);
		va_end(ap);
		r->acc.bytes_out = evbuffer_get_length(body);
	}
	if (evhttp_find_header(h, "Content-Type") == NULL) {
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	}
	evhttp_add_header(h, "Server", "mtls/" MTLS_VERSION);
	if (atomic_load(&r->w->srv->draining)) {
		evhttp_add_header(h, "Connection", "close");
	}
	r->acc.status = status;
	mark_idle(r->req);
	evhttp_send_reply(r->req, status, reason, body);
	evbuffer_free(body);
	snprintf(labels, sizeof(labels), "action=\"%s\",status=\"%d\"",
	    r->metric_action, status);
	mtls__serve_counters_add(&r->w->srv->m.requests, labels);
}

/* Resolves the principal; 0 when known, -1 after replying 403. */
static int
principal(struct reqctx *r)
{
	char *subj;

	if (r->gen->map == NULL) {
		r->acc.principal = r->cn;
		return 0;
	}
	r->rule = mtls__pmap_match(r->gen->map, r->cert);
	if (r->rule == NULL) {
		subj = mtls_name_format(X509_get_subject_name(r->cert));
		reply(r, 403, "Forbidden",
		    "certificate %s (serial %s) is not mapped to any principal "
		    "in the receiver's map\n", subj != NULL ? subj : "?",
		    r->serial != NULL ? r->serial : "?");
		r->acc.outcome = "unmapped";
		OPENSSL_free(subj);
		return -1;
	}
	r->acc.principal = mtls__pmap_rule_principal(r->rule);
	return 0;
}

static int
all_slashes(const char *s)
{
	return s[0] == '/' && s[strspn(s, "/")] == '\0';
}

/* The audit record of a write or delete, durable before the client hears
 * the outcome; -1 (logged) when it cannot be written. */
static int
audit_apply(struct reqctx *r, int action, size_t bytes, const char *result)
{
	struct mtls__audit_rec a;
	struct mtls_err err;
	char fp[65], subject[1024];

	if (r->w->srv->audit == NULL) {
		return 0;
	}
	mtls__audit_cert(r->cert, fp, subject, sizeof(subject));
	memset(&a, 0, sizeof(a));
	a.event = action == MTLS_ACTION_ACTIVATE ? "write" : "delete";
	a.peer = r->acc.peer;
	a.fp = fp;
	a.subject = subject;
	a.path = r->path;
	a.bytes = bytes;
	a.result = result;
	if (mtls__audit_write(r->w->srv->audit, &a, 1, &err) != 0) {
		mtls__serve_log(r->w->srv, "error", "%s", err.msg);
		return -1;
	}
	return 0;
}

static void
apply(struct reqctx *r, int action)
{
	enum mtls__content_outcome out = MTLS__CONTENT_APPLIED;
	struct mtls_err err = {MTLS_OK, ""};
	int status, rc;
	static const char *const names[] = {"applied", "replayed", "absent"};
	const char *upper = action == MTLS_ACTION_ACTIVATE ? "ACTIVATE"
							   : "DEACTIVATE";
	const size_t bytes = r->acc.bytes_in;

	/* The body is in its spool (serve_frame.c); an empty one has none. */
	if (action == MTLS_ACTION_ACTIVATE && r->spool != NULL) {
		rc = mtls__content_store_apply_spool(r->w->store,
		    (enum mtls_action)action, r->path, r->spool, r->acc.item,
		    r->acc.principal, &out, &err);
	} else {
		rc = mtls__content_store_apply(r->w->store,
		    (enum mtls_action)action, r->path, NULL, 0, r->acc.item,
		    r->acc.principal, &out, &err);
	}
	if (rc != 0) {
		status = err.code == MTLS_E_POLICY ? 403
		    : err.code == MTLS_E_EXISTS	   ? 409
		    : err.code == MTLS_E_BUSY	   ? 503
						   : 500;
		r->acc.outcome = status == 503 ? "in_flight" : "error";
		(void)audit_apply(r, action, bytes,
		    status == 403 ? "refused_403" : status == 409 ? "conflict_409"
		    : status == 503 ? "busy_503" : "error_500");
		if (status == 503) {
			/* The same item is being placed by a live request:
			 * its sender retries and then hears the outcome. */
			evhttp_add_header(evhttp_request_get_output_headers(
			    r->req), "Retry-After", "1");
		} else if (status == 500) {
			mtls__serve_log(r->w->srv, "error", "%s", err.msg);
		}
		reply(r, status, status == 403 ? "Forbidden"
			: status == 409	       ? "Conflict"
			: status == 503	       ? "Service Unavailable"
					       : "Internal Server Error",
		    "%s\n", err.msg);
		return;
	}
	r->acc.outcome = names[out];
	if (audit_apply(r, action, bytes, names[out]) != 0) {
		/* Applied but not on record: the client retries, and the
		 * replay (same Item-Id) is recorded then. */
		reply(r, 500, "Internal Server Error", "audit log unavailable\n");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Item-Status", names[out]);
	reply(r, 200, "OK", "ReplicationAction %s ok.%s", upper,
	    out == MTLS__CONTENT_REPLAYED ? " (already applied)"
	    : out == MTLS__CONTENT_ABSENT ? " (was not present)"
				       : "");
}

static void
receive(struct reqctx *r)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
	const char *a = evhttp_find_header(h, "Action");
	const char *p = evhttp_find_header(h, "Path");
	const char *id = evhttp_find_header(h, "Item-Id");
	struct mtls_err err = {MTLS_OK, ""};
	int action;

	r->metric_action = "invalid";
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "POST");
		reply(r, 405, "Method Not Allowed", "use POST\n");
		return;
	}
	action = a != NULL ? mtls_action_parse(a) : -1;
	if (action < 0) {
		reply(r, 400, "Bad Request",
		    "header Action must be Test, Activate or Deactivate\n");
		return;
	}
	r->acc.action = mtls_action_name((enum mtls_action)action);
	r->metric_action = action == MTLS_ACTION_TEST ? "test"
	    : action == MTLS_ACTION_ACTIVATE	      ? "activate"
						      : "deactivate";
	if (p == NULL) {
		reply(r, 400, "Bad Request", "header Path is missing\n");
		return;
	}
	r->acc.path = p;
	if (action == MTLS_ACTION_TEST && all_slashes(p)) {
		snprintf(r->path, sizeof(r->path), "/");
	} else if (mtls__content_store_path_check(p, r->path, sizeof(r->path), &err) !=
	    0) {
		r->acc.outcome = "bad_path";
		reply(r, 400, "Bad Request", "%s\n", err.msg);
		return;
	}
	r->acc.path = r->path;
	if (id != NULL && !mtls__content_store_id_ok(id)) {
		reply(r, 400, "Bad Request",
		    "header Item-Id must be 1 to %d printable characters "
		    "without spaces\n", MTLS__CONTENT_ID_MAX);
		return;
	}
	r->acc.item = id;
	if (principal(r) != 0) {
		return;
	}
	if (r->rule != NULL && !mtls__pmap_rule_allows(r->rule,
				   (enum mtls_action)action, r->path)) {
		r->acc.outcome = "denied";
		if (action != MTLS_ACTION_TEST) {
			(void)audit_apply(r, action, 0, "denied");
		}
		reply(r, 403, "Forbidden", "principal %s may not %s %s\n",
		    r->acc.principal, r->acc.action, r->path);
		return;
	}
	if (action == MTLS_ACTION_TEST) {
		/* The reply the seed's agents look for (26 bytes). */
		reply(r, 200, "OK", "ReplicationAction TEST ok.");
		return;
	}
	apply(r, action);
}

/* The first header that a request may carry only once and carries more
 * than once, or NULL. Of two Content-Length headers evhttp reads the
 * first (another reader of the same bytes may take the second: request
 * smuggling); of two Path headers the log and the store could disagree. */
static const char *
repeated_header(struct evkeyvalq *h)
{
	static const char *const once[] = {"Path", "Content-Length",
	    "Transfer-Encoding", "Action", "Item-Id", "Host", "Expect"};
	const struct evkeyval *kv;
	size_t i;
	int n;

	for (i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
		n = 0;
		for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
			if (evutil_ascii_strcasecmp(kv->key, once[i]) == 0) {
				n++;
			}
		}
		if (n > 1) {
			return once[i];
		}
	}
	return NULL;
}

static const char *
method_name(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "OTHER";
	}
}

/*
 * evhttp closes a connection by freeing its bufferevent, and libevent 2.1
 * then closes the socket without a TLS close_notify (RFC 8446 section
 * 6.1). OpenSSL 3 clients take that for a truncation attack and discard
 * the session, so nothing resumes. evhttp calls this just before the free,
 * when what we sent has been flushed: say goodbye properly.
 */
static void
conn_closing(struct evhttp_connection *evcon, void *arg)
{
	SSL *ssl = mtls__serve_bev_ssl(evhttp_connection_get_bufferevent(evcon));

	(void)arg;
	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(ssl); /* best effort: the peer may be gone */
		ERR_clear_error();
	}
}

void
mtls__serve_http_request(struct evhttp_request *req, void *arg)
{
	struct reqctx r;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	SSL *ssl = mtls__serve_bev_ssl(evhttp_connection_get_bufferevent(evcon));
	struct serve_conn *c = ssl != NULL ? mtls__serve_conn_get(ssl) : NULL;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *upath = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *dup;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (c != NULL && !c->close_hooked) {
		evhttp_connection_set_closecb(evcon, conn_closing, NULL);
		c->close_hooked = 1;
	}
	memset(&r, 0, sizeof(r));
	r.w = arg;
	r.req = req;
	r.metric_action = "other";
	r.acc.peer = c != NULL ? c->peer : "-";
	r.acc.method = method_name(cmd);
	r.acc.uri = evhttp_request_get_uri(req);
	r.spool = c != NULL ? mtls__serve_frame_spool(c->frame) : NULL;
	r.acc.bytes_in = r.spool != NULL
	    ? (size_t)mtls__content_spool_size(r.spool)
	    : evbuffer_get_length(evhttp_request_get_input_buffer(req));
	r.gen = mtls__serve_gen_get(r.w->srv);
	r.cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
	if (c != NULL && c->refused) {
		/* Over --max-conns; the refusal timer closes it. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		r.acc.outcome = "max_connections";
		reply(&r, 503, "Service Unavailable", "too many connections "
		    "(--max-conns); try again later\n");
		goto out;
	}
	if (r.cert == NULL) {
		/* Cannot happen: the handshake requires a certificate. */
		reply(&r, 403, "Forbidden", "no client certificate\n");
		goto out;
	}
	r.cn = mtls_name_cn(X509_get_subject_name(r.cert));
	r.serial = mtls_cert_serial_hex(r.cert);
	r.acc.serial = r.serial;
	r.acc.principal = r.cn;
	dup = repeated_header(evhttp_request_get_input_headers(req));
	if (dup != NULL) {
		/* Where this request ends is in doubt: end the connection. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		r.acc.outcome = "repeated_header";
		reply(&r, 400, "Bad Request",
		    "header %s appears more than once; send it once\n", dup);
	} else if (upath == NULL) {
		reply(&r, 400, "Bad Request", "malformed request URI\n");
	} else if (strcmp(upath, "/bin/receive") == 0) {
		receive(&r);
	} else if (strcmp(upath, "/healthz") == 0 &&
	    (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
		r.metric_action = "healthz";
		reply(&r, 200, "OK", "%s\n",
		    atomic_load(&r.w->srv->draining) ? "draining" : "ok");
	} else if (strcmp(upath, "/metrics") == 0 && cmd == EVHTTP_REQ_GET) {
		struct evbuffer *b = evbuffer_new();

		r.metric_action = "metrics";
		if (b != NULL) {
			mtls__serve_metrics_render(r.w->srv, b);
		}
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain; version=0.0.4");
		reply(&r, 200, "OK", "%.*s",
		    b != NULL ? (int)evbuffer_get_length(b) : 0,
		    b != NULL ? (const char *)evbuffer_pullup(b, -1) : "");
		evbuffer_free(b);
	} else {
		reply(&r, 404, "Not Found",
		    "no such endpoint; replication uses POST /bin/receive\n");
	}
out:
	r.acc.ms = mtls__serve_elapsed_ms(&start);
	mtls__serve_log_access(r.w->srv, &r.acc);
	mtls__serve_gen_put(r.gen);
	OPENSSL_free(r.cn);
	OPENSSL_free(r.serial);
	if (c != NULL) {
		mtls__serve_frame_done(c->frame);
	}
}
