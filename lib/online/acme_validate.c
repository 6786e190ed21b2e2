/* ACME challenge validations in the server's event loop without blocking
 * it (RFC 8555 8.3 http-01, RFC 8737 tls-alpn-01, RFC 8555 8.4 dns-01).
 * dns-01 asks a configured resolver for a TXT record, which libevent's
 * evdns cannot; c-ares does, with its sockets watched by this loop (no
 * thread, no blocking lookup). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <ares.h>

#include "base/internal.h"
#include "mtls/acme.h"
#include "online/acme_srv_int.h"

/* One validation in flight. */
struct vjob {
	struct mtls__acme_srv *s;
	char authz[64];
	int index;
	int alpn;              /* tls-alpn-01 */
	int dns;               /* dns-01 */
	int dns_pending;       /* c-ares holds this job until it answers */
	int reap_wanted;       /* finished meanwhile: freed by that answer */
	char want[48];         /* dns-01: base64url(SHA-256(keyauth)) */
	char id_type[8];
	char host[300];        /* the identifier */
	char token[128];
	char keyauth[200];
	char addr[64];
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	struct evdns_getaddrinfo_request *dreq;
	struct event *timer;
	int done;
};

static void
vjob_free(struct vjob *v)
{
	if (v->conn != NULL) {
		evhttp_connection_free(v->conn);
	}
	if (v->bev != NULL) {
		bufferevent_free(v->bev);
	}
	if (v->timer != NULL) {
		event_free(v->timer);
	}
	v->s->inflight--;
	free(v);
}

static void
vjob_reap(evutil_socket_t fd, short what, void *arg)
{
	struct vjob *v = arg;

	(void)fd, (void)what;
	if (v->dns_pending) {
		/* c-ares cannot cancel one query: its answer frees the job. */
		event_free(v->timer);
		v->timer = NULL;
		v->reap_wanted = 1;
		return;
	}
	vjob_free(v);
}

static const char *
vjob_type(const struct vjob *v)
{
	return v->dns ? "dns-01" : v->alpn ? "tls-alpn-01" : "http-01";
}

/* Reports once; the job is freed from the loop, never from inside the
 * callback of the connection it owns. */
static void
vjob_finish(struct vjob *v, int ok, const char *problem, const char *fmt, ...)
    MTLS_PRINTF(4, 5);

static void
vjob_finish(struct vjob *v, int ok, const char *problem, const char *fmt, ...)
{
	char detail[600];
	va_list ap;
	struct timeval now = {0, 0};

	if (v->done) {
		return;
	}
	v->done = 1;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	mtls__acme_check_done(&v->s->acme, v->authz, v->index, ok, problem,
	    detail);
	if (v->s->o.log != NULL) {
		v->s->o.log(v->s->o.log_arg, "acme %s of %s:%s at %s: %s%s%s",
		    vjob_type(v), v->id_type, v->host,
		    v->addr[0] ? v->addr : "-", ok ? "valid" : "invalid",
		    ok ? "" : ": ", ok ? "" : detail);
	}
	if (v->timer != NULL) {
		event_del(v->timer);
		event_free(v->timer);
	}
	v->timer = evtimer_new(v->s->base, vjob_reap, v);
	if (v->timer == NULL || evtimer_add(v->timer, &now) != 0) {
		/* Out of memory: leak the job rather than free it under us. */
		v->timer = NULL;
	}
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct vjob *v = arg;

	(void)fd, (void)what;
	if (v->dreq != NULL) {
		evdns_getaddrinfo_cancel(v->dreq);
		v->dreq = NULL;
	}
	vjob_finish(v, 0, "connection", "no answer from %s within %.0f s",
	    v->addr[0] ? v->addr : v->host, v->s->o.timeout);
}

/* ---- http-01 (RFC 8555 8.3) ---- */

static void
on_http(struct evhttp_request *req, void *arg)
{
	struct vjob *v = arg;
	struct evbuffer *in;
	size_t n;
	char body[512];
	int code;

	if (v->done) {
		return;
	}
	if (req == NULL || (code = evhttp_request_get_response_code(req)) == 0) {
		vjob_finish(v, 0, "connection", "cannot fetch http://%s:%d/"
		    ".well-known/acme-challenge/%s from %s", v->host,
		    v->s->o.http_port, v->token, v->addr);
		return;
	}
	if (code != 200) {
		vjob_finish(v, 0, "unauthorized", "http://%s:%d/.well-known/"
		    "acme-challenge/%s answered %d (redirects are not followed)",
		    v->host, v->s->o.http_port, v->token, code);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	if (n >= sizeof(body)) {
		vjob_finish(v, 0, "incorrectResponse", "the answer is %zu bytes, "
		    "longer than a key authorization", n);
		return;
	}
	evbuffer_copyout(in, body, n);
	body[n] = '\0';
	/* 8.3: the key authorization, trailing whitespace allowed. */
	while (n > 0 && isspace((unsigned char)body[n - 1])) {
		body[--n] = '\0';
	}
	if (strcmp(body, v->keyauth) != 0) {
		vjob_finish(v, 0, "incorrectResponse", "the answer is not the key "
		    "authorization for this account's key (got '%.80s')", body);
		return;
	}
	vjob_finish(v, 1, NULL, "ok");
}

static void
http_start(struct vjob *v)
{
	struct evhttp_request *req;
	char path[200];

	v->conn = evhttp_connection_base_new(v->s->base, NULL, v->addr,
	    (ev_uint16_t)v->s->o.http_port);
	req = v->conn != NULL ? evhttp_request_new(on_http, v) : NULL;
	if (req == NULL) {
		vjob_finish(v, 0, "serverInternal", "out of memory");
		return;
	}
	evhttp_connection_set_retries(v->conn, 0);
	evhttp_connection_set_max_body_size(v->conn, 4096);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", v->host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "User-Agent",
	    "mtls-acme-validation");
	snprintf(path, sizeof(path), "/.well-known/acme-challenge/%s", v->token);
	if (evhttp_make_request(v->conn, req, EVHTTP_REQ_GET, path) != 0) {
		vjob_finish(v, 0, "connection", "cannot connect to %s", v->addr);
	}
}

/* ---- tls-alpn-01 (RFC 8737 3) ---- */

static int
alpn_cert_ok(struct vjob *v, X509 *x, char *why, size_t len)
{
	static const char oid[] = "1.3.6.1.5.5.7.1.31";
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	GENERAL_NAMES *g = NULL;
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os = NULL;
	const unsigned char *p;
	unsigned char want[32];
	int i, pos, ok = 0;

	pos = obj != NULL ? X509_get_ext_by_OBJ(x, obj, -1) : -1;
	ASN1_OBJECT_free(obj);
	if (pos < 0) {
		snprintf(why, len, "the certificate has no acmeIdentifier extension");
		return 0;
	}
	ext = X509_get_ext(x, pos);
	if (!X509_EXTENSION_get_critical(ext)) {
		snprintf(why, len, "the acmeIdentifier extension is not critical");
		return 0;
	}
	p = ASN1_STRING_get0_data(X509_EXTENSION_get_data(ext));
	os = d2i_ASN1_OCTET_STRING(NULL, &p,
	    ASN1_STRING_length(X509_EXTENSION_get_data(ext)));
	if (os == NULL || ASN1_STRING_length(os) != 32 ||
	    mtls__acme_alpn_digest(v->keyauth, want) != 0 ||
	    CRYPTO_memcmp(ASN1_STRING_get0_data(os), want, 32) != 0) {
		snprintf(why, len, "the acmeIdentifier is not SHA-256 of the key "
		    "authorization");
		goto out;
	}
	/* Exactly one SAN: the identifier. */
	g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; g != NULL && i < sk_GENERAL_NAME_num(g); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		char ip[64];

		if (n->type == GEN_DNS && strcmp(v->id_type, "dns") == 0 &&
		    (size_t)ASN1_STRING_length(n->d.dNSName) == strlen(v->host) &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(n->d.dNSName),
			v->host, strlen(v->host)) == 0) {
			ok++;
		} else if (n->type == GEN_IPADD && strcmp(v->id_type, "ip") == 0 &&
		    inet_ntop(ASN1_STRING_length(n->d.iPAddress) == 4 ? AF_INET :
			AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), ip,
			sizeof(ip)) != NULL && strcmp(ip, v->host) == 0) {
			ok++;
		} else {
			ok = -100;
		}
	}
	if (ok != 1) {
		snprintf(why, len, "the certificate's SAN must be exactly %s:%.120s",
		    v->id_type, v->host);
		ok = 0;
	}
out:
	ASN1_OCTET_STRING_free(os);
	GENERAL_NAMES_free(g);
	return ok;
}

static void
on_alpn(struct bufferevent *bev, short what, void *arg)
{
	struct vjob *v = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	const unsigned char *proto = NULL;
	unsigned int plen = 0;
	char why[200];
	X509 *x;

	if (v->done) {
		return;
	}
	if (!(what & BEV_EVENT_CONNECTED)) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		vjob_finish(v, 0, "tls", "TLS with %s:%d failed: %s", v->addr,
		    v->s->o.tls_port, e ? ERR_reason_error_string(e) :
		    "connection refused or closed");
		ERR_clear_error();
		return;
	}
	SSL_get0_alpn_selected(ssl, &proto, &plen);
	if (plen != 10 || memcmp(proto, "acme-tls/1", 10) != 0) {
		vjob_finish(v, 0, "tls", "%s:%d did not select ALPN acme-tls/1",
		    v->addr, v->s->o.tls_port);
		return;
	}
	x = SSL_get0_peer_certificate(ssl);
	if (x == NULL || !alpn_cert_ok(v, x, why, sizeof(why))) {
		vjob_finish(v, 0, "unauthorized", "%s", x ? why : "no certificate");
		return;
	}
	vjob_finish(v, 1, NULL, "ok");
}

/* RFC 8738 6: an IP identifier's SNI is its reverse-DNS name. */
static void
sni_name(const struct vjob *v, char *out, size_t len)
{
	unsigned char b[16];
	size_t o = 0;
	int i;

	if (strcmp(v->id_type, "ip") != 0) {
		snprintf(out, len, "%s", v->host);
		return;
	}
	if (inet_pton(AF_INET, v->host, b) == 1) {
		snprintf(out, len, "%d.%d.%d.%d.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return;
	}
	if (inet_pton(AF_INET6, v->host, b) == 1) {
		for (i = 15; i >= 0 && o + 4 < len; i--) {
			o += (size_t)snprintf(out + o, len - o, "%x.%x.", b[i] & 15,
			    b[i] >> 4);
		}
		snprintf(out + o, len - o, "ip6.arpa");
	}
}

static void
alpn_start(struct vjob *v)
{
	static const unsigned char alpn[] = "\x0a" "acme-tls/1";
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char sni[300], hp[100];
	SSL *ssl;

	snprintf(hp, sizeof(hp), strchr(v->addr, ':') ? "[%s]:%d" : "%s:%d",
	    v->addr, v->s->o.tls_port);
	ssl = SSL_new(v->s->alpn_ctx);
	sni_name(v, sni, sizeof(sni));
	if (ssl == NULL || evutil_parse_sockaddr_port(hp, (struct sockaddr *)&ss,
		&sl) != 0 || SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0) {
		SSL_free(ssl);
		vjob_finish(v, 0, "serverInternal", "cannot set up TLS to %s", hp);
		return;
	}
	v->bev = bufferevent_openssl_socket_new(v->s->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (v->bev == NULL) {
		SSL_free(ssl);
		vjob_finish(v, 0, "serverInternal", "out of memory");
		return;
	}
	bufferevent_setcb(v->bev, NULL, NULL, on_alpn, v);
	if (bufferevent_socket_connect(v->bev, (struct sockaddr *)&ss, sl) != 0) {
		vjob_finish(v, 0, "connection", "cannot connect to %s", hp);
	}
}

/* ---- dns-01 (RFC 8555 8.4) through c-ares on this loop ---- */

static void ares_rearm(struct mtls__acme_srv *s);

static void
on_ares_fd(evutil_socket_t fd, short what, void *arg)
{
	struct mtls__acme_srv *s = arg;

	ares_process_fd(s->ares, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	ares_rearm(s);
}

static void
on_ares_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mtls__acme_srv *s = arg;

	(void)fd, (void)what;
	ares_process_fd(s->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	ares_rearm(s);
}

/* c-ares' next timeout (a retry, a query given up) as this loop's timer. */
static void
ares_rearm(struct mtls__acme_srv *s)
{
	struct timeval tv, *t;

	if (s->ares == NULL || s->ares_timer == NULL) {
		return;
	}
	t = ares_timeout(s->ares, NULL, &tv);
	if (t != NULL) {
		evtimer_add(s->ares_timer, t);
	} else {
		evtimer_del(s->ares_timer);
	}
}

/* c-ares says which of its sockets to watch, and for what. */
static void
ares_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct mtls__acme_srv *s = data;
	struct dns_fd *slot = NULL;
	int i;

	for (i = 0; i < DNS_FDS; i++) {
		if (s->dfd[i].fd == fd) {
			slot = &s->dfd[i];
			break;
		}
		if (slot == NULL && s->dfd[i].fd == ARES_SOCKET_BAD) {
			slot = &s->dfd[i];
		}
	}
	if (slot == NULL) {
		return;         /* never more than a few: one per server address */
	}
	if (slot->ev != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	slot->fd = ARES_SOCKET_BAD;
	if (!readable && !writable) {
		return;
	}
	slot->ev = event_new(s->base, fd, (short)((readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0) | EV_PERSIST), on_ares_fd, s);
	if (slot->ev != NULL && event_add(slot->ev, NULL) == 0) {
		slot->fd = fd;
	}
}

/* The TXT answer: one of the records (its strings joined, RFC 7208 3.3
 * style) must be the expected digest. */
static void
on_txt(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct vjob *v = arg;
	struct ares_txt_ext *txt = NULL, *t;
	char rec[512], first[64] = "";
	size_t n = 0;
	int found = 0, records = 0;

	(void)timeouts;
	v->dns_pending = 0;
	if (status == ARES_EDESTRUCTION) {
		return;         /* the server is stopping */
	}
	if (v->reap_wanted) {
		vjob_free(v);   /* finished (timed out) while asking */
		return;
	}
	if (status != ARES_SUCCESS && status != ARES_ENODATA &&
	    status != ARES_ENOTFOUND) {
		vjob_finish(v, 0, "dns", "cannot ask %s for the TXT record of "
		    "_acme-challenge.%s: %s", v->s->resolver, v->host,
		    ares_strerror(status));
		return;
	}
	if (status == ARES_SUCCESS &&
	    ares_parse_txt_reply_ext(abuf, alen, &txt) != ARES_SUCCESS) {
		vjob_finish(v, 0, "dns", "%s answered the TXT query for "
		    "_acme-challenge.%s with something unreadable", v->s->resolver,
		    v->host);
		return;
	}
	for (t = txt; t != NULL; t = t->next) {
		if (t->record_start) {
			n = 0;
			records++;
		}
		if (n + t->length < sizeof(rec)) {
			memcpy(rec + n, t->txt, t->length);
			n += t->length;
		}
		rec[n] = '\0';
		if (t->next == NULL || t->next->record_start) {
			if (first[0] == '\0') {
				snprintf(first, sizeof(first), "%.60s", rec);
			}
			found |= strcmp(rec, v->want) == 0;
		}
	}
	ares_free_data(txt);
	if (found) {
		vjob_finish(v, 1, NULL, "ok");
	} else if (records == 0) {
		vjob_finish(v, 0, "unauthorized", "no TXT record at "
		    "_acme-challenge.%s (asked %s)", v->host, v->s->resolver);
	} else {
		vjob_finish(v, 0, "unauthorized", "no TXT record at "
		    "_acme-challenge.%s is the digest of this account's key "
		    "authorization (found %d, the first '%s')", v->host, records,
		    first);
	}
}

static void
dns_start(struct vjob *v)
{
	unsigned char d[32];
	unsigned int n = 0;
	char name[320], *b = NULL;

	if (v->s->ares == NULL) {
		vjob_finish(v, 0, "serverInternal", "dns-01 needs "
		    "--acme-dns-resolver");
		return;
	}
	if (EVP_Digest(v->keyauth, strlen(v->keyauth), d, &n, EVP_sha256(),
		NULL) != 1 || n != 32 || (b = mtls__b64url_enc(d, 32)) == NULL) {
		ERR_clear_error();
		vjob_finish(v, 0, "serverInternal", "out of memory");
		return;
	}
	snprintf(v->want, sizeof(v->want), "%s", b);
	free(b);
	snprintf(v->addr, sizeof(v->addr), "%.60s", v->s->resolver);
	snprintf(name, sizeof(name), "_acme-challenge.%s", v->host);
	v->dns_pending = 1;
	ares_query(v->s->ares, name, ns_c_in, ns_t_txt, on_txt, v);
	ares_rearm(v->s);
}

int
mtls__acme_srv_dns_setup(struct mtls__acme_srv *s, const char *resolver, struct mtls_err *err)
{
	struct ares_options ao;
	int i;

	for (i = 0; i < DNS_FDS; i++) {
		s->dfd[i].fd = ARES_SOCKET_BAD;
	}
	if (resolver == NULL) {
		return 0;
	}
	if (mtls__dns_server_check(resolver, s->resolver, sizeof(s->resolver),
		err) != 0) {
		return -1;
	}
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start c-ares");
	}
	s->ares_lib = 1;
	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = ares_sock_state;
	ao.sock_state_cb_data = s;
	ao.timeout = 2000;      /* ms per try; two tries, within the
	                           validation's own timeout as a rule */
	ao.tries = 2;
	ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	if (ares_init_options(&s->ares, &ao, ARES_OPT_SOCK_STATE_CB |
		ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS) != ARES_SUCCESS) {
		s->ares = NULL;
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start c-ares");
	}
	if (ares_set_servers_ports_csv(s->ares, s->resolver) != ARES_SUCCESS) {
		return mtls_err_set(err, MTLS_E_USAGE, "c-ares refused the DNS "
		    "server %s", s->resolver);
	}
	s->ares_timer = evtimer_new(s->base, on_ares_timer, s);
	if (s->ares_timer == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	return 0;
}

/* ---- where to connect ---- */

static void
connect_to(struct vjob *v)
{
	/* A private CA must not become a port scanner: only the addresses
	 * the operator allows, when it says so. */
	if (v->s->target_allow != NULL &&
	    !mtls_acme_allow_match(v->s->target_allow, "ip", v->addr)) {
		vjob_finish(v, 0, "rejectedIdentifier", "%s resolves to %s, which "
		    "this CA does not connect to (--acme-validate-allow)", v->host,
		    v->addr);
		return;
	}
	if (v->alpn) {
		alpn_start(v);
	} else {
		http_start(v);
	}
}

static void
on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct vjob *v = arg;

	v->dreq = NULL;
	if (result != 0 || res == NULL) {
		if (result != EVUTIL_EAI_CANCEL) {
			vjob_finish(v, 0, "dns", "cannot resolve %s: %s", v->host,
			    evutil_gai_strerror(result));
		}
		if (res != NULL) {
			evutil_freeaddrinfo(res);
		}
		return;
	}
	if (evutil_inet_ntop(res->ai_family, res->ai_family == AF_INET ?
		(void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr :
		(void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, v->addr,
		sizeof(v->addr)) == NULL) {
		v->addr[0] = '\0';
	}
	evutil_freeaddrinfo(res);
	connect_to(v);
}

void
mtls__acme_srv_check(void *arg, const struct mtls__acme_check *c)
{
	struct mtls__acme_srv *s = arg;
	struct vjob *v;
	struct timeval tv;
	struct evutil_addrinfo hints;
	struct mtls_err e;
	char port[16];
	int rc;

	if (s->inflight >= 256 || (v = calloc(1, sizeof(*v))) == NULL) {
		mtls__acme_check_done(&s->acme, c->authz, c->index, 0,
		    "serverInternal", "too many validations at once; retry later");
		return;
	}
	s->inflight++;
	v->s = s;
	snprintf(v->authz, sizeof(v->authz), "%s", c->authz);
	v->index = c->index;
	v->alpn = strcmp(c->type, "tls-alpn-01") == 0;
	v->dns = strcmp(c->type, "dns-01") == 0;
	snprintf(v->id_type, sizeof(v->id_type), "%s", c->id_type);
	snprintf(v->host, sizeof(v->host), "%s", c->id_value);
	snprintf(v->token, sizeof(v->token), "%s", c->token);
	snprintf(v->keyauth, sizeof(v->keyauth), "%s", c->keyauth);
	tv.tv_sec = (time_t)s->o.timeout;
	tv.tv_usec = (suseconds_t)((s->o.timeout - (double)tv.tv_sec) * 1e6);
	v->timer = evtimer_new(s->base, on_timeout, v);
	if (v->timer == NULL || evtimer_add(v->timer, &tv) != 0) {
		vjob_finish(v, 0, "serverInternal", "out of memory");
		return;
	}
	if (v->dns) {
		dns_start(v);
		return;
	}
	snprintf(port, sizeof(port), "%d", v->alpn ? s->o.tls_port :
	    s->o.http_port);
	rc = mtls__resolve_find(s->resolve, v->host, port, v->addr,
	    sizeof(v->addr), &e);
	if (rc == 1 || strcmp(v->id_type, "ip") == 0) {
		if (rc != 1) {
			snprintf(v->addr, sizeof(v->addr), "%.63s", v->host);
		}
		connect_to(v);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	v->dreq = evdns_getaddrinfo(s->dns, v->host, port, &hints, on_resolved, v);
}
