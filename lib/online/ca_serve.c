/* Layer online: `mtls ca serve`, the CA over HTTPS. See mtls/online.h.
 * One event loop: signing an EC certificate takes microseconds and the
 * inventory commit (one fsync) dominates, which threads would not help. */
#include <arpa/inet.h>
#include <dirent.h>
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
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/ocsp.h"
#include "mtls/online.h"
#include "ca/ca_internal.h"
#include "base/clock.h"
#include "accept/accept_int.h"
#include "online/ca_serve_int.h"
#include "pki/tlsid_int.h"

/* A reload that found the CA lock held tries again once a tick for this
 * many ticks (seconds), then waits for the next reload. */
#define OWN_RETRY_TICKS 600

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct casrv *s = arg;

	(void)what;
	mtls__casrv_log(s, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(s->base, NULL);
}

static void
on_group(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	mtls__casrv_group_flush(arg);
}

static void
on_lock_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	mtls__casrv_lock_release(arg);
}

static void
crl_cache_clear(struct crl_cache *c)
{
	OPENSSL_free(c->der);
	OPENSSL_free(c->pem);
	memset(c, 0, sizeof(*c));
}

/* After a rollover finished: the retired issuer's final CRL (the newest
 * DIR/retired/NAME/final.crl), which /crl-previous.der keeps serving as
 * it is until its nextUpdate, past the last certificate it speaks for.
 * Nothing when there is none, or a rollover is under way. */
static void
load_final_crl(struct casrv *s)
{
	char best[32] = "", path[4400];
	struct crl_cache *c = &s->crl_prev;
	struct mtls_err err;
	struct dirent *de;
	unsigned char *data = NULL, *der = NULL;
	size_t len = 0;
	X509_CRL *crl = NULL;
	BIO *b = NULL;
	DIR *d;
	struct tm tm;
	int dlen;

	s->crl_final = 0;
	snprintf(path, sizeof(path), "%s/" MTLS_CA_RETIRED, mtls_ca_dir(s->ca));
	if (mtls_ca_previous(s->ca) != NULL || (d = opendir(path)) == NULL) {
		return;
	}
	/* Named by the time of finish (YYYYMMDDTHHMMSSZ; longer names are not
	 * ours and fit neither BEST nor the ETag): the largest is the
	 * last issuer retired. */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' && strlen(de->d_name) < sizeof(best) &&
		    strcmp(de->d_name, best) > 0) {
			snprintf(path, sizeof(path), "%s/" MTLS_CA_RETIRED "/%s/"
			    MTLS_CA_FINAL_CRL, mtls_ca_dir(s->ca), de->d_name);
			if (access(path, R_OK) == 0) {
				memcpy(best, de->d_name, strlen(de->d_name) + 1);
			}
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/" MTLS_CA_RETIRED "/%s/" MTLS_CA_FINAL_CRL,
	    mtls_ca_dir(s->ca), best);
	if (best[0] == '\0' || mtls_file_read(path, 1 << 24, &data, &len, &err) != 0) {
		return;
	}
	b = BIO_new_mem_buf(data, (int)len);
	crl = b != NULL ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
	dlen = crl != NULL ? i2d_X509_CRL(crl, &der) : -1;
	if (dlen <= 0 || X509_CRL_get0_nextUpdate(crl) == NULL ||
	    (c->pem = OPENSSL_malloc(len)) == NULL) {
		mtls__casrv_log(s, "cannot read the retired issuer's CRL %s", path);
		OPENSSL_free(der);
		goto out;
	}
	memcpy(c->pem, data, len);
	c->pem_len = len;
	c->der = der;
	c->der_len = (size_t)dlen;
	c->built = time(NULL);
	if (ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm) == 1) {
		c->next_update = timegm(&tm);
	}
	snprintf(c->etag, sizeof(c->etag), "\"final-%s\"", best);
	mtls__time_format(c->built, MTLS__TIME_HTTP, c->last_modified,
	    sizeof(c->last_modified));
	s->crl_final = 1;
out:
	X509_CRL_free(crl);
	BIO_free(b);
	mtls_file_free(data, len);
	ERR_clear_error();
}

/* Takes up the issuer as the CA directory now describes it (after
 * 'mtls ca rollover begin' or 'finish', or a copy of the directory from
 * the host that ran them): the CA's certificate and keys, the OCSP
 * responder, EST's cacerts, the TLS context new connections get, and the
 * CRLs. The loop runs one request at a time, so none is half answered;
 * connections already open keep their TLS context. When anything fails
 * the server keeps serving what it had. */
static int
casrv_reload(struct casrv *s, const char *why)
{
	struct mtls_ocsp_responder_opts oo;
	struct mtls_ocsp_responder *ocsp = NULL;
	struct mtls_ca *old = NULL;
	struct est_ctx est;
	struct mtls_err err;
	SSL_CTX *ctx = NULL;
	char cert[4200], key[4200];
	const char *pass = s->o.ca_pass;

	memset(&est, 0, sizeof(est));
	memset(&err, 0, sizeof(err));
	/* What was signed with the issuer we had is committed and answered
	 * before another one signs. */
	mtls__casrv_group_flush(s);
	s->stamp = s->stamp_seen = mtls__ca_files_stamp(s->ca);
	if (pass != NULL && (strncmp(pass, "fd:", 3) == 0 || strcmp(pass, "stdin") == 0)) {
		mtls__casrv_log(s, "%s: cannot reload the CA: its password was read "
		    "once (--ca-pass %s); restart, or give it as pass:, env: or "
		    "file:", why, pass);
		return -1;
	}
	old = mtls__ca_reload(s->ca, pass, &err);
	if (old == NULL) {
		goto fail;
	}
	memset(&oo, 0, sizeof(oo));
	ocsp = mtls_ocsp_responder_new(s->ca, &oo, &err);
	if (ocsp == NULL ||
	    mtls__est_ctx_init(&est, s->ca, s->o.cert_lifetime, &err) != 0) {
		goto fail;
	}
	/* Its own certificate moves to the new issuer when it can; the one
	 * it has stays trusted through the overlap, so a busy inventory
	 * does not hold the issuer back. A command holding the CA lock
	 * (up to $MTLS_LOCK_WAIT) must not stop the loop: the next ticks
	 * try again (own_retry). */
	s->own_retry = 0;
	if (s->o.cert == NULL && mtls__casrv_own_identity(s, cert, key, sizeof(cert), 1, &err) != 0) {
		if (err.code == MTLS_E_BUSY) {
			s->own_retry = OWN_RETRY_TICKS;
		}
		mtls__casrv_log(s, "%s: keeps its TLS certificate for now: %s%s", why,
		    err.msg, s->own_retry ? " (tried again every second)" : "");
		memset(&err, 0, sizeof(err));
	}
	if ((ctx = mtls__casrv_tls_ctx(s, s->o.cert ? s->o.cert : cert, s->o.key ? s->o.key : key,
		s->o.cert ? s->o.key_pass : NULL, &err)) == NULL) {
		goto fail;
	}
	mtls_ocsp_responder_free(s->ocsp);
	s->ocsp = ocsp;
	est.max_lifetime = s->est.max_lifetime;
	est.group = s->est.group;
	mtls__est_ctx_clear(&s->est);
	s->est = est;
	/* Open connections hold a reference to the old context. */
	SSL_CTX_free(s->ctx);
	s->ctx = ctx;
	crl_cache_clear(&s->crl);
	crl_cache_clear(&s->crl_prev);
	s->crl_prev_warned = 0;
	load_final_crl(s);
	mtls_ca_free(old); /* after the responder that borrowed its key */
	{
		char *subj = mtls_name_format(X509_get_subject_name(mtls_ca_cert(s->ca)));

		mtls__casrv_log(s, "%s: reloaded the CA: issuer %s%s", why,
		    subj != NULL ? subj : "?", mtls_ca_previous(s->ca) != NULL
		    ? " (rollover under way: the retiring issuer still answers "
		      "for what it issued)" : "");
		OPENSSL_free(subj);
	}
	return 0;
fail:
	mtls__casrv_log(s, "%s: cannot reload the CA, still serving the issuer "
	    "it had: %s", why, err.msg);
	mtls_ocsp_responder_free(ocsp);
	mtls__est_ctx_clear(&est);
	mtls__ca_reload_undo(s->ca, old);
	return -1;
}

/* A tick's second try at moving its own certificate after a reload found
 * the CA lock held; never waits for the lock. */
static void
own_retry(struct casrv *s)
{
	struct mtls_err err;
	char cert[4200], key[4200];
	SSL_CTX *ctx;

	memset(&err, 0, sizeof(err));
	s->own_retry--;
	if (mtls__casrv_own_identity(s, cert, key, sizeof(cert), 1, &err) != 0) {
		if (err.code == MTLS_E_BUSY && s->own_retry > 0) {
			return;
		}
		s->own_retry = 0;
		mtls__casrv_log(s, "gives up moving its TLS certificate until the "
		    "next reload (SIGHUP): %s", err.msg);
		return;
	}
	s->own_retry = 0;
	if ((ctx = mtls__casrv_tls_ctx(s, cert, key, NULL, &err)) == NULL) {
		mtls__casrv_log(s, "keeps its TLS certificate: %s", err.msg);
		return;
	}
	SSL_CTX_free(s->ctx); /* open connections hold a reference */
	s->ctx = ctx;
	mtls__casrv_log(s, "the CA lock is free: serves its TLS certificate "
	    "from the current issuer");
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	casrv_reload(arg, "SIGHUP");
}

/* Once a second: keep the CRL current even when nobody asks, and follow
 * the CA directory when its issuer files were replaced. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct casrv *s = arg;
	struct mtls_err err;
	unsigned long long seen;

	(void)fd, (void)what;
	mtls__casrv_group_flush(s); /* the CRL reads what was committed */
	/* Reloaded once the files stood still for a tick: a rollover
	 * replaces several of them, one rename at a time. */
	seen = mtls__ca_files_stamp(s->ca);
	if (seen != s->stamp && seen == s->stamp_seen) {
		casrv_reload(s, "the CA's files changed");
	}
	s->stamp_seen = seen;
	if (s->own_retry > 0 && s->o.cert == NULL) {
		own_retry(s);
	}
	if (mtls__casrv_crl_refresh(s, 0, &err) != 0 &&
	    err.code != MTLS_E_BUSY) { /* busy: the next tick builds it */
		mtls__casrv_log(s, "cannot refresh the CRL: %s", err.msg);
	}
	if (mtls_ca_previous(s->ca) != NULL &&
	    mtls__casrv_crl_refresh(s, 1, &err) != 0 && !s->crl_prev_warned) {
		s->crl_prev_warned = 1;
		mtls__casrv_log(s, "cannot build the retiring issuer's CRL: %s",
		    err.msg);
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
	s->est.max_lifetime = s->o.max_lifetime;
	s->stamp = s->stamp_seen = mtls__ca_files_stamp(s->ca);
	/* One event loop: a batch `mtls issue` holding the inventory makes
	 * an enrollment answer 202 + Retry-After, not stall every client. */
	mtls__inv_busy_wait(s->ca->inv, MTLS__CA_WRITE_WAIT_MS);
	return 0;
}

static void
acme_log(void *arg, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mtls__casrv_log(arg, "%s", buf);
}

/* ACME under /acme/, its validations in this loop. */
static int
acme_start(struct casrv *s, struct mtls_err *err)
{
	struct mtls__acme_srv_opts ao;

	memset(&ao, 0, sizeof(ao));
	ao.acme.cert_lifetime = s->o.acme_cert_lifetime > 0 ?
	    s->o.acme_cert_lifetime : s->o.cert_lifetime;
	ao.acme.no_eab = s->o.insecure_acme_no_eab;
	ao.acme.allow = s->o.acme_allow;
	ao.acme.orders_per_hour = s->o.acme_orders_per_hour;
	ao.acme.accounts_per_ip = s->o.acme_accounts_per_ip;
	ao.listen = s->o.listen;
	ao.http_port = s->o.acme_http_port;
	ao.tls_port = s->o.acme_tls_port;
	ao.resolve = s->o.acme_resolve;
	ao.target_allow = s->o.acme_validate_allow;
	ao.timeout = s->o.acme_validate_timeout;
	ao.dns_resolver = s->o.acme_dns_resolver;
	ao.acme.dns01 = s->o.acme_dns_resolver != NULL;
	ao.log = acme_log;
	ao.log_arg = s;
	s->acme = mtls__acme_srv_new(s->base, s->ca, &ao, err);
	return s->acme != NULL ? 0 : -1;
}

static void
casrv_free(struct casrv *s)
{
	s->stopping = 1; /* the listener goes before the connections */
	if (s->ca != NULL) {
		/* Commit what waits; its answers may not leave any more,
		 * and a client's retry gets the same certificate. */
		mtls__casrv_group_flush(s);
	}
	if (s->http != NULL) {
		evhttp_free(s->http);
	}
	mtls__tls_reserve_free(s->reserve); /* after the connections */
	/* Before the loop it resolves and connects in. */
	mtls__acme_srv_free(s->acme);
	if (s->group_ev != NULL) {
		event_free(s->group_ev);
	}
	if (s->lock_idle_ev != NULL) {
		event_free(s->lock_idle_ev);
	}
	if (s->base != NULL) {
		event_base_free(s->base);
	}
	SSL_CTX_free(s->ctx);
	free(s->held);
	mtls__est_ctx_clear(&s->est);
	mtls_ocsp_responder_free(s->ocsp);
	mtls_ca_free(s->ca);
	OPENSSL_free(s->crl.der);
	OPENSSL_free(s->crl.pem);
	OPENSSL_free(s->crl_prev.der);
	OPENSSL_free(s->crl_prev.pem);
	free(s);
}

/* Zero means the default; contradictions are refused before anything
 * starts. */
static int
apply_defaults(struct mtls__ca_serve_opts *o, struct mtls_err *err)
{
	struct mtls__ca_serve_opts d;

	mtls__ca_serve_opts_init(&d);
	o->cert_lifetime = o->cert_lifetime > 0 ? o->cert_lifetime : d.cert_lifetime;
	o->max_lifetime = o->max_lifetime > 0 ? o->max_lifetime : d.max_lifetime;
	o->crl_days = o->crl_days > 0 ? o->crl_days : d.crl_days;
	o->fail_limit = o->fail_limit > 0 ? o->fail_limit : d.fail_limit;
	o->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : d.idle_timeout;
	o->max_conns = o->max_conns > 0 ? o->max_conns : d.max_conns;
	o->request_timeout = o->request_timeout > 0 ? o->request_timeout
						    : d.request_timeout;
	if (o->cert_lifetime > o->max_lifetime) {
		return mtls_err_set(err, MTLS_E_USAGE, "--cert-lifetime %ld s is "
		    "more than --max-lifetime %ld s", o->cert_lifetime,
		    o->max_lifetime);
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		return mtls_err_set(err, MTLS_E_USAGE, "give --cert and --key "
		    "together, or neither (the CA then issues its own)");
	}
	return mtls__casrv_conn_init(err);
}

int
mtls_ca_serve_run(const struct mtls_ca_serve_config *cfg, struct mtls_err *err)
{
	const struct mtls__ca_serve_opts *o = mtls__ca_serve_config_opts(cfg);
	struct casrv *s = calloc(1, sizeof(*s));
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL, *tick = NULL;
	struct evhttp_bound_socket *bound;
	struct timeval idle, one = {1, 0};
	char cert[4200], key[4200];
	int fd = -1, rc = -1;

	if (s == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	s->o = *o;
	if (apply_defaults(&s->o, err) != 0) {
		goto out;
	}
	if (open_ca(s, err) != 0) {
		goto out;
	}
	if (o->cert == NULL && mtls__casrv_own_identity(s, cert, key, sizeof(cert), 0, err) != 0) {
		goto out;
	}
	s->ctx = mtls__casrv_tls_ctx(s, o->cert ? o->cert : cert, o->key ? o->key : key,
	    o->cert ? o->key_pass : NULL, err);
	if (s->ctx == NULL) {
		goto out;
	}
	if (mtls__casrv_crl_refresh(s, 0, err) != 0) {
		if (err->code != MTLS_E_BUSY) {
			goto out;
		}
		/* A command holds the CA lock: /crl answers 503 (Retry-After)
		 * until a tick builds the CRL. */
		mtls__casrv_log(s, "the CRL is built once the CA lock is free: %s",
		    err->msg);
		mtls_err_clear(err);
	}
	load_final_crl(s);
	fd = bind_listen(o->listen, err);
	if (fd < 0) {
		goto out;
	}
	s->base = event_base_new();
	/* Three priorities: every event gets the middle one by default; the
	 * group commit the lowest, so it runs when a loop iteration found
	 * nothing else to do (the burst that came in during the last
	 * commit is all read and signed before the next one). */
	if (s->base != NULL && event_base_priority_init(s->base, 3) == 0) {
		s->group_ev = event_new(s->base, -1, 0, on_group, s);
		s->lock_idle_ev = evtimer_new(s->base, on_lock_idle, s);
	}
	if (s->group_ev != NULL && event_priority_set(s->group_ev, 2) == 0) {
		s->est.group = 1;
		mtls__ca_group_init(s->ca, mtls__casrv_group_flush, s);
	}
	s->http = s->base != NULL ? evhttp_new(s->base) : NULL;
	if (s->http == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot create the event loop");
		goto out;
	}
	s->reserve = mtls__tls_reserve_new(s->base, 2,
	    mtls__casrv_reserve_pause, s, err);
	if (s->reserve == NULL) {
		goto out;
	}
	if (acme_start(s, err) != 0) {
		goto out;
	}
	idle.tv_sec = (time_t)s->o.idle_timeout;
	idle.tv_usec = (suseconds_t)((s->o.idle_timeout - (double)idle.tv_sec) * 1e6);
	evhttp_set_bevcb(s->http, mtls__casrv_accept_bev, s);
	evhttp_set_gencb(s->http, mtls__casrv_on_request, s);
	/* Slow or stalled clients lose their connection after IDLE. */
	evhttp_set_timeout_tv(s->http, &idle);
	evhttp_set_max_body_size(s->http, EST_MAX_BODY);
	evhttp_set_max_headers_size(s->http, 8192);
	/* Read and drop an oversized body before closing, so the client
	 * gets its 413 rather than a reset while still sending. */
	evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	bound = evhttp_accept_socket_with_handle(s->http, fd);
	if (bound == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot accept on %s", o->listen);
		close(fd);
		goto out;
	}
	s->listener = evhttp_bound_socket_get_listener(bound);
	sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
	sigint = evsignal_new(s->base, SIGINT, on_signal, s);
	sighup = evsignal_new(s->base, SIGHUP, on_hup, s);
	tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
	if (sigterm == NULL || sigint == NULL || sighup == NULL || tick == NULL ||
	    event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0 ||
	    event_add(sighup, NULL) != 0 ||
	    event_add(tick, &one) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot set up signals");
		goto out;
	}
	mtls__casrv_log(s, "listening on https://%s (EST at https://%s" EST_PREFIX
	    "; ACME directory https://%s" ACME_PREFIX "directory; CA %s; "
	    "certificates live %ld s)", o->listen, o->listen, o->listen,
	    o->ca_dir, s->o.cert_lifetime);
	if (o->insecure_acme_no_eab) {
		mtls__casrv_log(s, "warning: --acme-no-eab: ACME accounts "
		    "without External Account Binding may register; they get "
		    "only what --acme-allow allows (%s)", o->acme_allow != NULL ?
		    o->acme_allow : "nothing");
	}
	event_base_dispatch(s->base);
	rc = 0;
out:
	if (sigterm != NULL) {
		event_free(sigterm);
	}
	if (sigint != NULL) {
		event_free(sigint);
	}
	if (sighup != NULL) {
		event_free(sighup);
	}
	if (tick != NULL) {
		event_free(tick);
	}
	casrv_free(s);
	return rc;
}
