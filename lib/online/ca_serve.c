/* Layer online: `mtls ca serve`, the CA over HTTPS. See mtls/online.h.
 * One event loop: signing an EC certificate takes microseconds and the
 * inventory commit (one fsync) dominates, which threads would not help. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/ocsp.h"
#include "mtls/online.h"
#include "online/est_int.h"
#include "ca/ca_internal.h"

#define EST_PREFIX "/.well-known/est/"
#define FAIL_SLOTS 256
#define FAIL_WINDOW 60

/* Failed authentications per client address (a small open table: an
 * attacker with many addresses evicts entries, but each address is then
 * limited on its own). */
struct fail_slot {
	char addr[64];
	int fails;
	time_t first, blocked_until;
};

struct crl_cache {
	unsigned char *der;
	char *pem;
	size_t der_len, pem_len;
	time_t built, next_update;
	long long rev_count;
	time_t rev_latest;
	char etag[40];
	char last_modified[40];
};

struct casrv {
	struct mtls_ca_serve_opts o;
	struct mtls_ca *ca;
	struct est_ctx est;
	struct mtls_ocsp_responder *ocsp;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx;
	struct crl_cache crl;
	struct fail_slot fails[FAIL_SLOTS];
	unsigned long long issued, refused, requests, slowed, crl_builds;
	unsigned long long by_status[6]; /* 1xx..5xx */
};

void
mtls_ca_serve_opts_init(struct mtls_ca_serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cert_lifetime = MTLS_ENROLL_DEFAULT_LIFETIME;
	o->crl_days = 1;
	o->idle_timeout = 15;
	o->fail_limit = 5;
}

static void
logf_(struct casrv *s, const char *fmt, ...) MTLS_PRINTF(2, 3);

static void
logf_(struct casrv *s, const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	(void)s;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s mtls ca serve: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* ---- TLS ---- */

/* Every client certificate is accepted at the TLS layer and judged by
 * the operation: enrollment needs none, re-enrollment refuses a bad one
 * with a reason in words instead of a bare alert.
 * SSL_get_verify_result still reports the verification error. */
static int
accept_any(int ok, X509_STORE_CTX *xs)
{
	(void)ok, (void)xs;
	return 1;
}

static SSL_CTX *
tls_ctx(struct casrv *s, const char *cert, const char *key,
    const char *key_pass, struct mtls_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509) *chain = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	EVP_PKEY *pk = NULL;
	X509_STORE *store;
	int i;

	if (ctx == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_new");
		return NULL;
	}
	if (mtls_load_certs(cert, &chain, err) != 0 ||
	    (pk = mtls_load_key(key, key_pass, err)) == NULL) {
		goto fail;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
	    SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "cannot use %s and %s as the TLS "
		    "identity", cert, key);
		goto fail;
	}
	for (i = 1; i < sk_X509_num(chain); i++) {
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_add1_chain_cert");
			goto fail;
		}
	}
	store = SSL_CTX_get_cert_store(ctx);
	names = sk_X509_NAME_new_null();
	if (X509_STORE_add_cert(store, mtls_ca_cert(s->ca)) != 1 || names == NULL ||
	    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(
		mtls_ca_cert(s->ca)))) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set up client "
		    "certificate verification");
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL;
	/* Ask for a certificate, do not require one (simpleenroll has none). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mtls-ca", 7);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pk);
	return ctx;
fail:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pk);
	SSL_CTX_free(ctx);
	return NULL;
}

/* "dns:HOST" or "ip:ADDR" for the host part of LISTEN. */
static void
listen_san(const char *listen, char *out, size_t len)
{
	char host[256];
	char *c;
	unsigned char buf[16];

	snprintf(host, sizeof(host), "%s", listen);
	c = strrchr(host, ':');
	if (c != NULL) {
		*c = '\0';
	}
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		c = strchr(host, ']');
		if (c != NULL) {
			*c = '\0';
		}
	}
	if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
		snprintf(out, len, "ip:%s", host);
	} else {
		snprintf(out, len, "dns:%s", host[0] ? host : "localhost");
	}
}

/* The server's own identity, issued by the CA into CA_DIR/online/ the
 * first time and again when it is within a day of expiring. */
static int
own_identity(struct casrv *s, char *cert, char *key, size_t len,
    struct mtls_err *err)
{
	char dir[4096], sans[600];
	struct mtls_identity_opts io;
	struct mtls_fileset *fs = NULL;
	struct mtls_err ignore;
	X509 *x, *have;
	EVP_PKEY *k;
	int ok;

	snprintf(dir, sizeof(dir), "%s/online", mtls_ca_dir(s->ca));
	snprintf(cert, len, "%s/ca-serve.chain.pem", dir);
	snprintf(key, len, "%s/ca-serve.key", dir);
	have = mtls_load_cert(cert, &ignore);
	k = have != NULL ? mtls_load_key(key, NULL, &ignore) : NULL;
	ok = have != NULL && k != NULL && mtls_key_matches_cert(k, have) &&
	    X509_cmp_time(X509_get0_notAfter(have), NULL) > 0;
	if (ok) {
		time_t soon = time(NULL) + 86400;

		ok = X509_cmp_time(X509_get0_notAfter(have), &soon) > 0;
	}
	X509_free(have);
	EVP_PKEY_free(k);
	if (ok) {
		return 0;
	}
	if (mtls_mkdir_p(dir, 0700, err) != 0) {
		return -1;
	}
	listen_san(s->o.listen, sans, sizeof(sans));
	memset(&io, 0, sizeof(io));
	io.name = "ca-serve";
	io.profile = MTLS_PROFILE_SERVER;
	io.sans = s->o.sans != NULL ? s->o.sans : sans;
	io.days = 90;
	io.key_type = MTLS_KEY_EC_P256;
	io.out_dir = dir;
	fs = mtls_fileset_new(1, err);
	if (fs == NULL) {
		return -1;
	}
	x = mtls_identity_issue(s->ca, &io, fs, err);
	if (x == NULL || mtls_fileset_commit(fs, err) != 0) {
		X509_free(x);
		mtls_fileset_free(fs);
		return -1;
	}
	logf_(s, "issued its own TLS certificate (%s) into %s", io.sans, dir);
	X509_free(x);
	mtls_fileset_free(fs);
	return 0;
}

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
method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "?";
	}
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
	if (resp.auth_failed) {
		note_failure(s, addr);
	}
	if (resp.issued) {
		s->issued++;
	} else if (resp.status >= 400) {
		s->refused++;
	}
	if (resp.base64) {
		/* RFC 7030 4.1.3, 4.2.3: base64 bodies say so. */
		evhttp_add_header(outh, "Content-Transfer-Encoding", "base64");
	}
	if (resp.www_authenticate) {
		evhttp_add_header(outh, "WWW-Authenticate",
		    "Basic realm=\"mtls EST\", charset=\"UTF-8\"");
	}
	if (resp.retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", resp.retry_after);
		evhttp_add_header(outh, "Retry-After", ra);
	}
	if (!s->o.log_quiet) {
		logf_(s, "%s %s %s%s -> %d%s%.*s", addr, method_name(req),
		    EST_PREFIX, op, resp.status, resp.status >= 400 ? ": " : "",
		    resp.status >= 400 && resp.len > 0 ? (int)resp.len - 1 : 0,
		    resp.status >= 400 && resp.body ? resp.body : "");
	}
	send_body(s, req, resp.status, resp.reason, resp.content_type, resp.body,
	    resp.len);
	free(resp.body);
}

/* The CRL is rebuilt when a revocation changed the inventory and when
 * half of its validity has passed, long before its nextUpdate. */
static int
crl_refresh(struct casrv *s, struct mtls_err *err)
{
	struct crl_cache *c = &s->crl;
	long long count = 0;
	time_t latest = 0, now = time(NULL);
	unsigned char *der = NULL, *pem = NULL;
	size_t dlen = 0, plen = 0;
	long n = 0;
	struct tm tm;
	X509_CRL *crl;
	const unsigned char *p;

	if (mtls__ca_revocation_state(s->ca, &count, &latest, err) != 0) {
		return -1;
	}
	if (c->der != NULL && count == c->rev_count && latest == c->rev_latest &&
	    now < c->built + (c->next_update - c->built) / 2) {
		return 0;
	}
	if (mtls_ca_crl(s->ca, s->o.crl_days, 1, &der, &dlen, &n, err) != 0) {
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
	gmtime_r(&now, &tm);
	strftime(c->last_modified, sizeof(c->last_modified),
	    "%a, %d %b %Y %H:%M:%S GMT", &tm);
	s->crl_builds++;
	logf_(s, "CRL built: %ld revoked, next update in %d day%s", n,
	    s->o.crl_days, s->o.crl_days == 1 ? "" : "s");
	return 0;
}

static void
route_crl(struct casrv *s, struct evhttp_request *req, int pem)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *inm = evhttp_find_header(in, "If-None-Match");
	const char *ims = evhttp_find_header(in, "If-Modified-Since");
	struct mtls_err err;
	char expires[40];
	struct tm tm;

	if (crl_refresh(s, &err) != 0) {
		logf_(s, "cannot build the CRL: %s", err.msg);
		send_text(s, req, 503, "Service Unavailable", "the CRL cannot be "
		    "built now\n");
		return;
	}
	evhttp_add_header(out, "ETag", s->crl.etag);
	evhttp_add_header(out, "Last-Modified", s->crl.last_modified);
	gmtime_r(&s->crl.next_update, &tm);
	strftime(expires, sizeof(expires), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evhttp_add_header(out, "Expires", expires);
	/* RFC 9110 13.1.2, 13.1.3: pollers pay one header exchange. */
	if ((inm != NULL && strstr(inm, s->crl.etag) != NULL) ||
	    (inm == NULL && ims != NULL && strcmp(ims, s->crl.last_modified) == 0)) {
		send_body(s, req, 304, "Not Modified", NULL, "", 0);
		return;
	}
	if (pem) {
		send_body(s, req, 200, "OK", "application/x-pem-file", s->crl.pem,
		    s->crl.pem_len);
	} else {
		/* RFC 5280 4.2.1.13 / RFC 2585 */
		send_body(s, req, 200, "OK", "application/pkix-crl", s->crl.der,
		    s->crl.der_len);
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
	char buf[2048];
	int n;

	mtls_ocsp_responder_stats(s->ocsp, &os);
	n = snprintf(buf, sizeof(buf),
	    "# HELP mtls_ca_requests_total HTTP requests answered.\n"
	    "# TYPE mtls_ca_requests_total counter\n"
	    "mtls_ca_requests_total %llu\n"
	    "# HELP mtls_ca_responses_total Responses by status class.\n"
	    "# TYPE mtls_ca_responses_total counter\n"
	    "mtls_ca_responses_total{class=\"2xx\"} %llu\n"
	    "mtls_ca_responses_total{class=\"3xx\"} %llu\n"
	    "mtls_ca_responses_total{class=\"4xx\"} %llu\n"
	    "mtls_ca_responses_total{class=\"5xx\"} %llu\n"
	    "# HELP mtls_ca_certificates_issued_total Certificates issued by EST.\n"
	    "# TYPE mtls_ca_certificates_issued_total counter\n"
	    "mtls_ca_certificates_issued_total %llu\n"
	    "# HELP mtls_ca_requests_refused_total EST requests refused.\n"
	    "# TYPE mtls_ca_requests_refused_total counter\n"
	    "mtls_ca_requests_refused_total %llu\n"
	    "# HELP mtls_ca_clients_slowed_total Requests answered 429 after "
	    "repeated failures.\n"
	    "# TYPE mtls_ca_clients_slowed_total counter\n"
	    "mtls_ca_clients_slowed_total %llu\n"
	    "# HELP mtls_ca_crl_builds_total CRLs signed.\n"
	    "# TYPE mtls_ca_crl_builds_total counter\n"
	    "mtls_ca_crl_builds_total %llu\n"
	    "# HELP mtls_ca_ocsp_requests_total OCSP requests.\n"
	    "# TYPE mtls_ca_ocsp_requests_total counter\n"
	    "mtls_ca_ocsp_requests_total %llu\n",
	    s->requests, s->by_status[2], s->by_status[3], s->by_status[4],
	    s->by_status[5], s->issued, s->refused, s->slowed, s->crl_builds,
	    os.requests);
	send_body(s, req, 200, "OK", "text/plain; version=0.0.4", buf,
	    n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

/* Routes by path prefix; a new protocol is one more row. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct casrv *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	s->requests++;
	if (path == NULL) {
		send_text(s, req, 400, "Bad Request", "bad request URI\n");
		return;
	}
	if (strncmp(path, EST_PREFIX, strlen(EST_PREFIX)) == 0) {
		route_est(s, req, path + strlen(EST_PREFIX));
	} else if (strcmp(path, "/crl.der") == 0 || strcmp(path, "/crl") == 0) {
		route_crl(s, req, 0);
	} else if (strcmp(path, "/crl.pem") == 0) {
		route_crl(s, req, 1);
	} else if (strncmp(path, "/ocsp", 5) == 0 &&
		   (path[5] == '\0' || path[5] == '/')) {
		route_ocsp(s, req, path + 5);
	} else if (strcmp(path, "/healthz") == 0) {
		send_text(s, req, 200, "OK", "ok\n");
	} else if (strcmp(path, "/metrics") == 0) {
		route_metrics(s, req);
	} else {
		send_text(s, req, 404, "Not Found", "not here: EST is under "
		    "/.well-known/est/, the CRL at /crl.der and /crl.pem, OCSP at "
		    "/ocsp\n");
	}
}

static struct bufferevent *
accept_bev(struct event_base *base, void *arg)
{
	struct casrv *s = arg;
	SSL *ssl = SSL_new(s->ctx);
	struct bufferevent *bev;

	if (ssl == NULL) {
		/* evhttp would fall back to plaintext on NULL: stop instead. */
		logf_(s, "fatal: cannot make a TLS connection (out of memory)");
		abort();
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		logf_(s, "fatal: cannot make a TLS connection (out of memory)");
		abort();
	}
	return bev;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct casrv *s = arg;

	(void)what;
	logf_(s, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(s->base, NULL);
}

/* Once a second: keep the CRL current even when nobody asks. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct casrv *s = arg;
	struct mtls_err err;

	(void)fd, (void)what;
	if (crl_refresh(s, &err) != 0) {
		logf_(s, "cannot refresh the CRL: %s", err.msg);
	}
}

static int
bind_listen(const char *spec, struct mtls_err *err)
{
	char host[256], *port;
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1, rc;

	snprintf(host, sizeof(host), "%s", spec);
	port = strrchr(host, ':');
	if (port == NULL || port == host || port[1] == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "--listen needs ADDRESS:PORT "
		    "(e.g. 127.0.0.1:8443), not '%s'", spec);
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "--listen %s: %s", spec,
		    gai_strerror(rc));
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot listen on %s", spec);
		if (fd >= 0) {
			close(fd);
		}
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
open_ca(struct casrv *s, struct mtls_err *err)
{
	struct mtls_ocsp_responder_opts oo;

	s->ca = mtls_ca_open(s->o.ca_dir, err);
	if (s->ca == NULL) {
		return -1;
	}
	if (mtls_ca_unlock(s->ca, s->o.ca_pass, err) != 0) {
		if (err != NULL && err->code == MTLS_E_PASSWORD && s->o.ca_pass == NULL) {
			return mtls_err_set(err, MTLS_E_PASSWORD, "the CA key in %s is "
			    "encrypted and no password was given: start with --ca-pass "
			    "SPEC (env:VAR, file:PATH, fd:N or stdin); nothing is served "
			    "until it is unlocked", s->o.ca_dir);
		}
		return -1;
	}
	memset(&oo, 0, sizeof(oo));
	s->ocsp = mtls_ocsp_responder_new(s->ca, &oo, err);
	if (s->ocsp == NULL ||
	    mtls__est_ctx_init(&s->est, s->ca, s->o.cert_lifetime, err) != 0) {
		return -1;
	}
	return 0;
}

static void
casrv_free(struct casrv *s)
{
	if (s->http != NULL) {
		evhttp_free(s->http);
	}
	if (s->base != NULL) {
		event_base_free(s->base);
	}
	SSL_CTX_free(s->ctx);
	mtls__est_ctx_clear(&s->est);
	mtls_ocsp_responder_free(s->ocsp);
	mtls_ca_free(s->ca);
	OPENSSL_free(s->crl.der);
	OPENSSL_free(s->crl.pem);
	free(s);
}

int
mtls_ca_serve_run(const struct mtls_ca_serve_opts *o, struct mtls_err *err)
{
	struct casrv *s = calloc(1, sizeof(*s));
	struct event *sigterm = NULL, *sigint = NULL, *tick = NULL;
	struct timeval idle, one = {1, 0};
	char cert[4200], key[4200];
	int fd = -1, rc = -1;

	if (s == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	s->o = *o;
	if (s->o.cert_lifetime <= 0) {
		s->o.cert_lifetime = MTLS_ENROLL_DEFAULT_LIFETIME;
	}
	if (s->o.crl_days <= 0) {
		s->o.crl_days = 1;
	}
	if (s->o.fail_limit <= 0) {
		s->o.fail_limit = 5;
	}
	if (s->o.idle_timeout <= 0) {
		s->o.idle_timeout = 15;
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		mtls_err_set(err, MTLS_E_USAGE, "give --cert and --key together, or "
		    "neither (the CA then issues its own)");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (open_ca(s, err) != 0) {
		goto out;
	}
	if (o->cert == NULL && own_identity(s, cert, key, sizeof(cert), err) != 0) {
		goto out;
	}
	s->ctx = tls_ctx(s, o->cert ? o->cert : cert, o->key ? o->key : key,
	    o->cert ? o->key_pass : NULL, err);
	if (s->ctx == NULL || crl_refresh(s, err) != 0) {
		goto out;
	}
	fd = bind_listen(o->listen, err);
	if (fd < 0) {
		goto out;
	}
	s->base = event_base_new();
	s->http = s->base != NULL ? evhttp_new(s->base) : NULL;
	if (s->http == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot create the event loop");
		goto out;
	}
	idle.tv_sec = (time_t)s->o.idle_timeout;
	idle.tv_usec = (suseconds_t)((s->o.idle_timeout - (double)idle.tv_sec) * 1e6);
	evhttp_set_bevcb(s->http, accept_bev, s);
	evhttp_set_gencb(s->http, on_request, s);
	/* Slow or stalled clients lose their connection after IDLE. */
	evhttp_set_timeout_tv(s->http, &idle);
	evhttp_set_max_body_size(s->http, EST_MAX_BODY);
	evhttp_set_max_headers_size(s->http, 8192);
	/* Read and drop an oversized body before closing, so the client
	 * gets its 413 rather than a reset while still sending. */
	evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	if (evhttp_accept_socket_with_handle(s->http, fd) == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot accept on %s", o->listen);
		close(fd);
		goto out;
	}
	sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
	sigint = evsignal_new(s->base, SIGINT, on_signal, s);
	tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
	if (sigterm == NULL || sigint == NULL || tick == NULL ||
	    event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0 ||
	    event_add(tick, &one) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot set up signals");
		goto out;
	}
	logf_(s, "listening on https://%s (EST at https://%s" EST_PREFIX
	    "; CA %s; certificates live %ld s)", o->listen, o->listen, o->ca_dir,
	    s->o.cert_lifetime);
	event_base_dispatch(s->base);
	rc = 0;
out:
	if (sigterm != NULL) {
		event_free(sigterm);
	}
	if (sigint != NULL) {
		event_free(sigint);
	}
	if (tick != NULL) {
		event_free(tick);
	}
	casrv_free(s);
	return rc;
}
