/* Layer online: `mtls ca serve` - answering requests: EST, the CRL, OCSP,
 * health and metrics, and slowing down clients that keep failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/ocsp.h"
#include "base/buf.h"
#include "base/clock.h"
#include "online/ca_serve_int.h"
#include "ca/ca_internal.h"

/* ---- slowing down repeated failures ---- */

static struct fail_slot *
fail_slot(struct casrv *s, const char *addr, int create)
{
	size_t h = 5381, i;
	const char *p;
	struct fail_slot *f;

	for (p = addr; *p != '\0' && *p != ' '; p++) {
		h = h * 33 + (unsigned char)*p;
	}
	for (i = 0; i < 8; i++) {
		f = &s->fails[(h + i) % FAIL_SLOTS];
		if (strcmp(f->addr, addr) == 0) {
			return f;
		}
		if (create && (f->addr[0] == '\0' ||
		    f->first + FAIL_WINDOW < time(NULL))) {
			memset(f, 0, sizeof(*f));
			snprintf(f->addr, sizeof(f->addr), "%s", addr);
			return f;
		}
	}
	return create ? &s->fails[h % FAIL_SLOTS] : NULL;
}

/* Seconds the client at ADDR must wait, 0 when it may go on. */
static long
blocked_for(struct casrv *s, const char *addr)
{
	struct fail_slot *f = fail_slot(s, addr, 0);
	time_t now = time(NULL);

	return f != NULL && f->blocked_until > now ? (long)(f->blocked_until - now) : 0;
}

static void
note_failure(struct casrv *s, const char *addr)
{
	struct fail_slot *f = fail_slot(s, addr, 1);
	time_t now = time(NULL);
	int over;

	if (strcmp(f->addr, addr) != 0) {
		memset(f, 0, sizeof(*f));
		snprintf(f->addr, sizeof(f->addr), "%s", addr);
	}
	if (f->first + FAIL_WINDOW < now) {
		f->first = now;
		f->fails = 0;
	}
	f->fails++;
	over = f->fails - s->o.fail_limit;
	if (over >= 0) {
		/* 5, 10, 20 ... seconds, at most 5 minutes. */
		f->blocked_until = now + (over < 6 ? 5L << over : 300);
		f->first = now;
	}
}

/* ---- HTTP ---- */

static void
peer_ip(struct evhttp_request *req, char *out, size_t len)
{
	char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
	snprintf(out, len, "%s", addr != NULL ? addr : "-");
}

static SSL *
req_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c != NULL ? evhttp_connection_get_bufferevent(c) : NULL;

	return bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
}

static void
send_body(struct casrv *s, struct evhttp_request *req, int status,
    const char *reason, const char *type, const void *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	s->by_status[status / 100 < 6 ? status / 100 : 0]++;
	if (type != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", type);
	}
	if (out == NULL || (len > 0 && evbuffer_add(out, body, len) != 0)) {
		evbuffer_free(out);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, status, reason, out);
	evbuffer_free(out);
}

static void
send_text(struct casrv *s, struct evhttp_request *req, int status,
    const char *reason, const char *text)
{
	send_body(s, req, status, reason, "text/plain; charset=utf-8", text,
	    strlen(text));
}

static const char *
method_name_of(int cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "?";
	}
}

static const char *
method_name(struct evhttp_request *req)
{
	return method_name_of((int)evhttp_request_get_command(req));
}

/* cacerts 0, simpleenroll 1, simplereenroll 2, csrattrs and others 3. */
static int
op_index(const char *op)
{
	static const char *const ops[] = {"cacerts", "simpleenroll",
	    "simplereenroll"};
	int i;

	for (i = 0; i < 3; i++) {
		if (strcmp(op, ops[i]) == 0) {
			return i;
		}
	}
	return 3;
}

/* Sends one EST answer: its headers, the counters, the log line. */
static void
est_reply(struct casrv *s, struct evhttp_request *req, const char *addr,
    const char *method, const char *op, struct est_resp *resp)
{
	struct evkeyvalq *outh = evhttp_request_get_output_headers(req);
	char ra[24];

	if (resp->busy) {
		s->busy++;
	}
	if (resp->issued) {
		s->issued++;
	} else if (resp->status >= 400) {
		s->refused++;
	}
	if (resp->base64) {
		/* RFC 7030 4.1.3, 4.2.3: base64 bodies say so. */
		evhttp_add_header(outh, "Content-Transfer-Encoding", "base64");
	}
	if (resp->www_authenticate) {
		evhttp_add_header(outh, "WWW-Authenticate",
		    "Basic realm=\"mtls EST\", charset=\"UTF-8\"");
	}
	if (resp->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", resp->retry_after);
		evhttp_add_header(outh, "Retry-After", ra);
	}
	if (!s->o.log_quiet) {
		mtls__casrv_log(s, "%s %s %s%s -> %d%s%.*s", addr, method,
		    EST_PREFIX, op, resp->status, resp->status >= 400 ? ": " : "",
		    resp->status >= 400 && resp->len > 0 ? (int)resp->len - 1 : 0,
		    resp->status >= 400 && resp->body ? resp->body : "");
	}
	send_body(s, req, resp->status, resp->reason, resp->content_type,
	    resp->body, resp->len);
	free(resp->body);
	resp->body = NULL;
}

/* The group could not be committed: nothing of it was recorded, so each
 * waiting answer becomes "send it again" (202 when another writer held
 * the inventory, as store_failed in est.c answers). */
static void
group_failed(struct est_resp *r, const struct mtls_err *e)
{
	char buf[600];
	int n;

	n = snprintf(buf, sizeof(buf), "%s; nothing was recorded: send the "
	    "same request again\n", r->busy || e->code == MTLS_E_BUSY
	    ? "the CA's inventory is busy" : e->msg);
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->body = strdup(buf);
	r->len = r->body != NULL && n > 0 ? strlen(r->body) : 0;
	r->content_type = "text/plain; charset=utf-8";
	if (e->code == MTLS_E_BUSY) {
		r->status = 202;
		r->reason = "Accepted";
		r->retry_after = EST_BUSY_RETRY;
		r->busy = 1;
	} else {
		r->status = 500;
		r->reason = "Internal Server Error";
	}
}

void
mtls__casrv_lock_release(struct casrv *s)
{
	if (mtls__ca_group_open(s->ca) || !mtls__ca_lock_held(s->ca)) {
		return;
	}
	mtls_ca_release(s->ca);
	s->lock_since = 0;
	s->lock_releases++;
}

/* After a group commit: the CA lock stays for the next group unless it
 * was held long enough or a command waits for it (it is taken again, at
 * the earliest, once the waiter has had it). */
static void
lock_keep(struct casrv *s)
{
	struct timeval idle = {0, LOCK_IDLE_MS * 1000};
	int64_t now = mtls__mono_ms();

	if (!mtls__ca_lock_held(s->ca)) {
		s->lock_since = 0;
		return;
	}
	if (s->lock_since == 0) {
		s->lock_since = now;
	}
	if (s->lock_idle_ev == NULL || now - s->lock_since >= LOCK_HOLD_MS ||
	    mtls__ca_lock_wanted(s->ca)) {
		mtls__casrv_lock_release(s);
		return;
	}
	evtimer_add(s->lock_idle_ev, &idle);
}

void
mtls__casrv_group_flush(void *arg)
{
	struct casrv *s = arg;
	struct mtls_err e;
	size_t i, n;
	int rc;

	if (!mtls__ca_group_open(s->ca) && s->nheld == 0) {
		return;
	}
	mtls_err_clear(&e);
	rc = mtls__ca_group_commit(s->ca, 1, &e);
	lock_keep(s);
	if (rc != 0) {
		mtls__casrv_log(s, "cannot commit %zu enrollment(s): %s", s->nheld,
		    e.msg);
	}
	s->group_commits++;
	s->group_answers += s->nheld;
	/* Sending does not write: no new group opens while answering. */
	n = s->nheld;
	s->nheld = 0;
	for (i = 0; i < n; i++) {
		struct held_answer *h = &s->held[i];

		if (rc != 0) {
			group_failed(&h->resp, &e);
		}
		est_reply(s, h->req, h->addr, method_name_of(h->method), h->op,
		    &h->resp);
	}
}

/* Keeps an answer until the group commit; 0 when kept. */
static int
hold(struct casrv *s, struct evhttp_request *req, const char *addr,
    const char *op, struct est_resp *resp)
{
	struct held_answer *h;

	if (s->nheld == s->held_cap) {
		size_t ncap = s->held_cap ? s->held_cap * 2 : 16;
		struct held_answer *nh = realloc(s->held, ncap * sizeof(*nh));

		if (nh == NULL) {
			return -1;
		}
		s->held = nh;
		s->held_cap = ncap;
	}
	h = &s->held[s->nheld];
	h->req = req;
	h->resp = *resp;
	h->method = (int)evhttp_request_get_command(req);
	snprintf(h->addr, sizeof(h->addr), "%s", addr);
	snprintf(h->op, sizeof(h->op), "%s", op);
	if (s->nheld++ == 0) {
		s->group_start = mtls__mono_ms();
	}
	if (s->nheld >= GROUP_MAX ||
	    mtls__mono_ms() - s->group_start >= GROUP_MAX_MS) {
		mtls__casrv_group_flush(s);
	} else {
		event_active(s->group_ev, EV_TIMEOUT, 0);
	}
	return 0;
}

static void
route_est(struct casrv *s, struct evhttp_request *req, const char *op)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *outh = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct est_req r;
	struct est_resp resp;
	char addr[64], actor[96], ra[24];
	SSL *ssl = req_ssl(req);
	long wait;

	peer_ip(req, addr, sizeof(addr));
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	r.content_type = evhttp_find_header(in, "Content-Type");
	r.authorization = evhttp_find_header(in, "Authorization");
	r.len = evbuffer_get_length(body);
	r.body = r.len > 0 ? evbuffer_pullup(body, -1) : (const unsigned char *)"";
	r.peer = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
	r.peer_verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	snprintf(actor, sizeof(actor), "%s", addr);
	r.peer_addr = actor;
	wait = r.post ? blocked_for(s, addr) : 0;
	if (wait > 0) {
		s->slowed++;
		snprintf(ra, sizeof(ra), "%ld", wait);
		evhttp_add_header(outh, "Retry-After", ra);
		send_text(s, req, 429, "Too Many Requests", "too many failed "
		    "attempts from this address; wait and retry\n");
		return;
	}
	mtls__est_handle(&s->est, &r, &resp);
	s->by_op[op_index(op)]++;
	if (resp.auth_failed) {
		note_failure(s, addr);
	}
	/* Its writes (and what it read) are not durable yet: the answer
	 * waits for the group's commit. */
	if (mtls__ca_group_open(s->ca) && hold(s, req, addr, op, &resp) == 0) {
		return;
	}
	mtls__casrv_group_flush(s); /* out of memory to wait: commit now */
	est_reply(s, req, addr, method_name(req), op, &resp);
}

/* The CRL is rebuilt when a revocation changed the inventory and when
 * half of its validity has passed, long before its nextUpdate. A build
 * takes the next CRL number, so it runs under the CA lock, as `mtls crl`
 * does: while a command holds the lock, a still-valid CRL keeps being
 * served (and is rebuilt on a later tick or request); without one, the
 * caller gets MTLS_E_BUSY after a short wait. */
int
mtls__casrv_crl_refresh(struct casrv *s, int prev, struct mtls_err *err)
{
	struct crl_cache *c = prev ? &s->crl_prev : &s->crl;
	long long count = 0;
	time_t latest = 0, now = time(NULL);
	unsigned char *der = NULL, *pem = NULL;
	size_t dlen = 0, plen = 0;
	long n = 0;
	X509_CRL *crl;
	const unsigned char *p;
	const int valid = c->der != NULL && now < c->next_update;
	int took = 0, rc;

	if (mtls__ca_revocation_state(s->ca, &count, &latest, err) != 0) {
		return -1;
	}
	if (c->der != NULL && count == c->rev_count && latest == c->rev_latest &&
	    now < c->built + (c->next_update - c->built) / 2) {
		return 0;
	}
	/* The number is taken in a transaction of its own, never inside a
	 * group commit that could still fail and give it back. */
	mtls__casrv_group_flush(s);
	if (mtls__ca_lock_wait(s->ca, valid ? 0 : MTLS__CA_WRITE_WAIT_MS,
		&took, err) != 0) {
		return valid && err->code == MTLS_E_BUSY ? 0 : -1;
	}
	/* What the lock's holder revoked is in the inventory now. */
	if (mtls__ca_revocation_state(s->ca, &count, &latest, err) != 0) {
		rc = -1;
	} else {
		rc = prev ? mtls_ca_crl_previous(s->ca, s->o.crl_days, 1, &der,
				&dlen, &n, err)
			  : mtls_ca_crl(s->ca, s->o.crl_days, 1, &der, &dlen, &n,
				err);
	}
	if (took) {
		mtls_ca_release(s->ca);
	}
	if (rc != 0) {
		return -1;
	}
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)dlen);
	if (crl == NULL || mtls_pem_append("X509 CRL", der, dlen, (char **)&pem,
		&plen, err) != 0) {
		X509_CRL_free(crl);
		OPENSSL_free(der);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CRL");
	}
	X509_CRL_free(crl);
	OPENSSL_free(c->der);
	OPENSSL_free(c->pem);
	c->der = der;
	c->der_len = dlen;
	c->pem = (char *)pem;
	c->pem_len = plen;
	c->built = now;
	c->next_update = now + (time_t)s->o.crl_days * 86400;
	c->rev_count = count;
	c->rev_latest = latest;
	snprintf(c->etag, sizeof(c->etag), "\"%llx-%llx-%lld\"",
	    (unsigned long long)now, (unsigned long long)latest, count);
	mtls__time_format(now, MTLS__TIME_HTTP, c->last_modified,
	    sizeof(c->last_modified));
	s->crl_builds++;
	mtls__casrv_log(s, "%s built: %ld revoked, next update in %d day%s",
	    prev ? "the retiring issuer's CRL" : "CRL", n,
	    s->o.crl_days, s->o.crl_days == 1 ? "" : "s");
	return 0;
}

static void
route_crl(struct casrv *s, struct evhttp_request *req, int pem, int prev)
{
	struct crl_cache *c = prev ? &s->crl_prev : &s->crl;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *inm = evhttp_find_header(in, "If-None-Match");
	const char *ims = evhttp_find_header(in, "If-Modified-Since");
	struct mtls_err err;
	char expires[40];

	if (prev && mtls_ca_previous(s->ca) == NULL && !s->crl_final) {
		send_text(s, req, 404, "Not Found", "no rollover is under way "
		    "and no issuer was retired: the CA's one CRL is at /crl.der "
		    "and /crl.pem\n");
		return;
	}
	if (!(prev && s->crl_final) && mtls__casrv_crl_refresh(s, prev, &err) != 0) {
		mtls__casrv_log(s, "cannot build the CRL: %s", err.msg);
		if (err.code == MTLS_E_BUSY) {
			/* A command holds the CA lock: built once it is done. */
			evhttp_add_header(out, "Retry-After", "1");
		}
		send_text(s, req, 503, "Service Unavailable", "the CRL cannot be "
		    "built now\n");
		return;
	}
	evhttp_add_header(out, "ETag", c->etag);
	evhttp_add_header(out, "Last-Modified", c->last_modified);
	mtls__time_format(c->next_update, MTLS__TIME_HTTP, expires,
	    sizeof(expires));
	evhttp_add_header(out, "Expires", expires);
	/* RFC 9110 13.1.2, 13.1.3: pollers pay one header exchange. */
	if ((inm != NULL && strstr(inm, c->etag) != NULL) ||
	    (inm == NULL && ims != NULL && strcmp(ims, c->last_modified) == 0)) {
		send_body(s, req, 304, "Not Modified", NULL, "", 0);
		return;
	}
	if (pem) {
		send_body(s, req, 200, "OK", "application/x-pem-file", c->pem,
		    c->pem_len);
	} else {
		/* RFC 5280 4.2.1.13 / RFC 2585 */
		send_body(s, req, 200, "OK", "application/pkix-crl", c->der,
		    c->der_len);
	}
}

static void
route_ocsp(struct casrv *s, struct evhttp_request *req, const char *rest)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	unsigned char *der = NULL;
	const unsigned char *resp;
	size_t len = 0, rlen = 0;
	char *dec = NULL;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		len = evbuffer_get_length(in);
		resp = mtls_ocsp_respond(s->ocsp, len ? evbuffer_pullup(in, -1)
		    : (const unsigned char *)"", len, &rlen);
	} else {
		/* GET /ocsp/{url-encoded base64 of the DER request} (A.1). */
		dec = evhttp_uridecode(rest[0] == '/' ? rest + 1 : rest, 0, NULL);
		der = dec != NULL ? mtls__est_b64_decode((unsigned char *)dec,
		    strlen(dec), &len) : NULL;
		resp = mtls_ocsp_respond(s->ocsp, der ? der : (const unsigned char *)"",
		    der ? len : 0, &rlen);
	}
	send_body(s, req, 200, "OK", "application/ocsp-response", resp, rlen);
	free(dec);
	free(der);
}

static void
route_metrics(struct casrv *s, struct evhttp_request *req)
{
	struct mtls_ocsp_stats os;

	mtls_ocsp_responder_stats(s->ocsp, &os);
	const struct mtls__casrv_metric m[] = {
	    {"mtls_ca_requests_total", "counter", "HTTP requests answered.", "",
		s->requests},
	    {"mtls_ca_responses_total", "counter", "Responses by status class.",
		"{class=\"2xx\"}", s->by_status[2]},
	    {"mtls_ca_responses_total", NULL, NULL, "{class=\"3xx\"}",
		s->by_status[3]},
	    {"mtls_ca_responses_total", NULL, NULL, "{class=\"4xx\"}",
		s->by_status[4]},
	    {"mtls_ca_responses_total", NULL, NULL, "{class=\"5xx\"}",
		s->by_status[5]},
	    {"mtls_ca_est_requests_total", "counter", "EST requests by operation.",
		"{op=\"cacerts\"}", s->by_op[0]},
	    {"mtls_ca_est_requests_total", NULL, NULL, "{op=\"simpleenroll\"}",
		s->by_op[1]},
	    {"mtls_ca_est_requests_total", NULL, NULL,
		"{op=\"simplereenroll\"}", s->by_op[2]},
	    {"mtls_ca_est_requests_total", NULL, NULL, "{op=\"other\"}",
		s->by_op[3]},
	    {"mtls_ca_certificates_issued_total", "counter",
		"Certificates issued by EST.", "", s->issued},
	    {"mtls_ca_requests_refused_total", "counter", "EST requests refused.",
		"", s->refused},
	    {"mtls_ca_requests_busy_total", "counter", "EST requests answered 202 "
		"+ Retry-After because another writer held the inventory.", "",
		s->busy},
	    {"mtls_ca_clients_slowed_total", "counter", "Requests answered 429 "
		"after repeated failures.", "", s->slowed},
	    {"mtls_ca_connections_total", "counter", "Connections accepted.", "",
		s->conns_total},
	    {"mtls_ca_connections_open", "gauge", "Connections open now.", "",
		(unsigned long long)s->conns_open},
	    {"mtls_ca_connections_max", "gauge", "--max-conns.", "",
		(unsigned long long)s->o.max_conns},
	    {"mtls_ca_accept_paused_total", "counter", "Times accepting paused "
		"because --max-conns connections were open.", "", s->accept_paused},
	    {"mtls_ca_requests_timed_out_total", "counter", "Connections closed "
		"because a request did not arrive within --request-timeout.", "",
		s->timed_out},
	    {"mtls_ca_connections_unserved_total", "counter", "Connections "
		"closed unanswered because their TLS state could not be "
		"allocated (out of memory).", "", s->unserved},
	    {"mtls_ca_crl_builds_total", "counter", "CRLs signed.", "",
		s->crl_builds},
	    {"mtls_ca_group_commits_total", "counter", "Durable commits of "
		"enrollments (one per group of requests answered together).", "",
		s->group_commits},
	    {"mtls_ca_group_answers_total", "counter", "EST answers that waited "
		"for a group commit.", "", s->group_answers},
	    {"mtls_ca_lock_releases_total", "counter", "Times the CA lock, kept "
		"across a burst of enrollments, was given up.", "",
		s->lock_releases},
	    {"mtls_ca_ocsp_requests_total", "counter", "OCSP requests.", "",
		os.requests},
	};
	struct mtls__buf b = MTLS__BUF_INIT;

	if (mtls__casrv_metrics_render(m, sizeof(m) / sizeof(m[0]), &b) != 0) {
		mtls__casrv_log(s, "/metrics: out of memory building the page");
		send_text(s, req, 503, "Service Unavailable", "the metrics "
		    "cannot be built now\n");
	} else {
		send_body(s, req, 200, "OK", "text/plain; version=0.0.4",
		    mtls__buf_str(&b), b.len);
	}
	mtls__buf_free(&b);
}

/* Routes by path prefix; a new protocol is one more row. */
static void
route_acme(struct casrv *s, struct evhttp_request *req, const char *op)
{
	char addr[64];
	int issued = 0, st;

	peer_ip(req, addr, sizeof(addr));
	st = mtls__acme_srv_route(s->acme, req, op, addr, &issued);
	s->by_status[st / 100 < 6 ? st / 100 : 0]++;
	if (issued) {
		s->issued++;
	}
	if (!s->o.log_quiet) {
		mtls__casrv_log(s, "%s %s " ACME_PREFIX "%s -> %d", addr, method_name(req),
		    op, st);
	}
}

/* 1 when URL (a CRL URL the CA puts in certificates) names PATH on
 * this server: the same path, the host and port being this server's to
 * know. */
static int
url_path_is(const char *url, const char *path)
{
	const char *p;

	if (url == NULL || (p = strstr(url, "://")) == NULL) {
		return 0;
	}
	p = strchr(p + 3, '/');
	return p != NULL && strcmp(p, path) == 0;
}

static int
is_pem_path(const char *path)
{
	size_t n = strlen(path);

	return n >= 4 && strcmp(path + n - 4, ".pem") == 0;
}

void
mtls__casrv_on_request(struct evhttp_request *req, void *arg)
{
	struct casrv *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	s->requests++;
	/* The whole request came in: the next one gets its own time. */
	mtls__casrv_conn_rearm(req_ssl(req));
	if (path == NULL) {
		send_text(s, req, 400, "Bad Request", "bad request URI\n");
		return;
	}
	if (strncmp(path, EST_PREFIX, strlen(EST_PREFIX)) == 0) {
		route_est(s, req, path + strlen(EST_PREFIX));
		return;
	}
	/* What the other routes read or write comes after the enrollments
	 * answered so far. */
	mtls__casrv_group_flush(s);
	if (strncmp(path, ACME_PREFIX, strlen(ACME_PREFIX)) == 0) {
		route_acme(s, req, path + strlen(ACME_PREFIX));
	} else if (url_path_is(mtls_ca_previous_crl_url(s->ca), path) &&
		   (mtls_ca_previous(s->ca) != NULL || s->crl_final)) {
		/* The URL in the old issuer's certificates, when the rollover
		 * gave the new one its own: the old issuer's CRL (its final
		 * one once retired), whatever the path is. */
		route_crl(s, req, is_pem_path(path), 1);
	} else if (url_path_is(mtls_ca_crl_url(s->ca), path) &&
		   strcmp(path, "/crl-previous.der") != 0 &&
		   strcmp(path, "/crl-previous.pem") != 0) {
		route_crl(s, req, is_pem_path(path), 0);
	} else if (strcmp(path, "/crl.der") == 0 || strcmp(path, "/crl") == 0) {
		route_crl(s, req, 0, 0);
	} else if (strcmp(path, "/crl.pem") == 0) {
		route_crl(s, req, 1, 0);
	} else if (strcmp(path, "/crl-previous.der") == 0) {
		/* The retiring issuer's CRL during a rollover. */
		route_crl(s, req, 0, 1);
	} else if (strcmp(path, "/crl-previous.pem") == 0) {
		route_crl(s, req, 1, 1);
	} else if (strncmp(path, "/ocsp", 5) == 0 &&
		   (path[5] == '\0' || path[5] == '/')) {
		route_ocsp(s, req, path + 5);
	} else if (strcmp(path, "/healthz") == 0) {
		send_text(s, req, 200, "OK", "ok\n");
	} else if (strcmp(path, "/metrics") == 0) {
		route_metrics(s, req);
	} else {
		send_text(s, req, 404, "Not Found", "not here: EST is under "
		    "/.well-known/est/, ACME at /acme/directory, the CRL at /crl.der and /crl.pem "
		    "(the retiring issuer's at /crl-previous.der during a rollover), OCSP at "
		    "/ocsp\n");
	}
}
