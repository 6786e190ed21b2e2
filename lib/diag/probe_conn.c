/* see probe_int.h: one TLS connection attempt, observed closely */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "diag/probe_int.h"
#include "base/clock.h"

/* The post-handshake wait for a TLS 1.3 client-auth alert is short: the
 * server sends it right after our Finished, one round trip later. */
#define AFTER_MIN_MS 400
#define HTTP_MAX_MS 3000

static int att_index = -1;

const char *
mtls__probe_version_name(int v)
{
	switch (v) {
	case TLS1_VERSION:
		return "TLS 1.0";
	case TLS1_1_VERSION:
		return "TLS 1.1";
	case TLS1_2_VERSION:
		return "TLS 1.2";
	case TLS1_3_VERSION:
		return "TLS 1.3";
	default:
		return "TLS ?";
	}
}

static void
set_io_timeout(int fd, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	/* Best effort: without them a dead peer would hang us, so the
	 * caller's poll-bounded connect already proved the socket works. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Non-blocking connect bounded by the timeout; the socket is returned in
 * blocking mode with read/write timeouts. */
static int
tcp_connect(const struct probe_peer *p, struct attempt *a)
{
	struct addrinfo *ai;
	int fd = -1;

	for (ai = p->ai; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		int rc, soerr = 0, fl;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			a->sys_errno = errno;
			continue;
		}
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			a->sys_errno = errno;
			close(fd);
			fd = -1;
			continue;
		}
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, p->timeout_ms);
			if (rc == 0) {
				a->outcome = ATT_CONNECT_TIMEOUT;
				a->sys_errno = ETIMEDOUT;
				close(fd);
				fd = -1;
				continue;
			}
			if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR,
					  &soerr, &sl) != 0) {
				soerr = errno;
			}
			rc = soerr == 0 ? 0 : -1;
			errno = soerr;
		}
		if (rc != 0) {
			a->sys_errno = errno;
			a->outcome = errno == ECONNREFUSED ? ATT_REFUSED
				     : errno == ETIMEDOUT  ? ATT_CONNECT_TIMEOUT
							   : ATT_UNREACHABLE;
			close(fd);
			fd = -1;
			continue;
		}
		if (fcntl(fd, F_SETFL, fl) < 0) {
			a->sys_errno = errno;
			a->outcome = ATT_UNREACHABLE;
			close(fd);
			fd = -1;
			continue;
		}
		set_io_timeout(fd, p->timeout_ms);
		return fd;
	}
	return -1;
}

/* Records the first bytes the server sends, to recognise HTTP, SSH or
 * other plain-text protocols on a port that was expected to speak TLS. */
static long
bio_peek_cb(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	struct attempt *a = (struct attempt *)BIO_get_callback_arg(b);
	size_t n, room;

	(void)argi;
	(void)argl;
	(void)len;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 &&
	    processed != NULL && a != NULL && a->nfirst < sizeof(a->first)) {
		room = sizeof(a->first) - a->nfirst;
		n = *processed < room ? *processed : room;
		memcpy(a->first + a->nfirst, argp, n);
		a->nfirst += n;
	}
	return ret;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct attempt *a = SSL_get_ex_data(ssl, att_index);

	if (a == NULL || (where & SSL_CB_ALERT) == 0) {
		return;
	}
	/* RET: level in the high byte, description in the low byte. */
	if (where & SSL_CB_READ) {
		if ((ret >> 8) == SSL3_AL_FATAL && a->alert_recv < 0) {
			a->alert_recv = ret & 0xff;
		}
	} else if ((ret >> 8) == SSL3_AL_FATAL && a->alert_sent < 0) {
		a->alert_sent = ret & 0xff;
	}
}

static void
msg_cb(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	struct attempt *a = SSL_get_ex_data(ssl, att_index);
	const unsigned char *p = buf;

	(void)version;
	(void)arg;
	if (a != NULL && !write_p && content_type == SSL3_RT_HANDSHAKE &&
	    len > 0 && p[0] == SSL3_MT_SERVER_HELLO) {
		a->server_hello = 1;
	}
}

/* Called (client side) only when the server sent a CertificateRequest.
 * SSL_CTX_set_cert_cb rather than set_client_cert_cb: the latter is not
 * called when a certificate is already configured, and we want to see
 * the request (and its CA names) in both attempts. */
static int
cert_cb(SSL *ssl, void *arg)
{
	struct attempt *a = arg;
	const STACK_OF(X509_NAME) *names = SSL_get0_peer_CA_list(ssl);
	int i;

	a->cert_requested = 1;
	if (names != NULL && a->ca_names == NULL) {
		a->ca_names = sk_X509_NAME_new_null();
		for (i = 0; a->ca_names != NULL && i < sk_X509_NAME_num(names);
		     i++) {
			X509_NAME *n = X509_NAME_dup(sk_X509_NAME_value(names, i));

			if (n != NULL && sk_X509_NAME_push(a->ca_names, n) <= 0) {
				X509_NAME_free(n);
			}
		}
	}
	return 1;
}

/* Replaces verification: keep the chain exactly as sent; probe.c
 * verifies it afterwards against the chosen trust, with full detail. */
static int
keep_chain_cb(X509_STORE_CTX *ctx, void *arg)
{
	struct attempt *a = arg;
	STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(ctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	int i;

	if (a->chain != NULL) {
		return 1;
	}
	a->chain = sk_X509_new_null();
	if (a->chain == NULL) {
		return 1;
	}
	/* The untrusted stack is the Certificate message: leaf first. */
	for (i = 0; untrusted != NULL && i < sk_X509_num(untrusted); i++) {
		X509 *x = sk_X509_value(untrusted, i);

		if (X509_up_ref(x) == 1 && sk_X509_push(a->chain, x) <= 0) {
			X509_free(x);
		}
	}
	if (sk_X509_num(a->chain) == 0 && leaf != NULL &&
	    X509_up_ref(leaf) == 1 && sk_X509_push(a->chain, leaf) <= 0) {
		X509_free(leaf);
	}
	return 1;
}

static SSL_CTX *
make_ctx(const struct probe_peer *p, struct attempt *a)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int i, ok = 1;

	if (ctx == NULL) {
		return NULL;
	}
	if (a->version == TLS1_VERSION || a->version == TLS1_1_VERSION) {
		/* For a probe only: OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 in
		 * the handshake) above security level 0. */
		SSL_CTX_set_security_level(ctx, 0);
		ok = SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0") == 1;
	}
	if (a->version != 0) {
		ok = ok && SSL_CTX_set_min_proto_version(ctx, a->version) == 1 &&
		     SSL_CTX_set_max_proto_version(ctx, a->version) == 1;
	} else {
		ok = ok && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, keep_chain_cb, a);
	SSL_CTX_set_cert_cb(ctx, cert_cb, a);
	SSL_CTX_set_info_callback(ctx, info_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	/* One full handshake per attempt: no resumption across attempts. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (ok && a->send_cert && p->cert != NULL && p->key != NULL) {
		ok = SSL_CTX_use_certificate(ctx, p->cert) == 1 &&
		     SSL_CTX_use_PrivateKey(ctx, p->key) == 1;
		for (i = 0; ok && p->chain != NULL && i < sk_X509_num(p->chain);
		     i++) {
			ok = SSL_CTX_add1_chain_cert(ctx,
				 sk_X509_value(p->chain, i)) == 1;
		}
	}
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int
looks_tls(const unsigned char *b, size_t n)
{
	/* A TLS record: content type 20..24, then major version 3. */
	return n < 2 || (b[0] >= 20 && b[0] <= 24 && b[1] == 3);
}

static void
drain_reason(struct attempt *a)
{
	unsigned long e;
	size_t o = strlen(a->reason);

	while ((e = ERR_get_error()) != 0) {
		const char *r = ERR_reason_error_string(e);

		if (o < sizeof(a->reason) - 1) {
			o += (size_t)snprintf(a->reason + o,
			    sizeof(a->reason) - o, "%s%s", o ? "; " : "",
			    r ? r : "unknown error");
		}
	}
}

static void
classify_failure(SSL *ssl, int rc, struct attempt *a)
{
	int e = SSL_get_error(ssl, rc);
	int saved = errno;

	drain_reason(a);
	if (a->nfirst > 0 && !looks_tls(a->first, a->nfirst)) {
		a->outcome = ATT_NOT_TLS;
	} else if (a->nfirst >= 6 && a->first[0] == SSL3_RT_HANDSHAKE &&
		   a->first[5] == SSL3_MT_CLIENT_HELLO) {
		/* Our own ClientHello came back: an echo service or a proxy
		 * that loops to itself, not a TLS server. */
		a->outcome = ATT_NOT_TLS;
	} else if (a->alert_recv >= 0) {
		a->outcome = ATT_ALERT;
	} else if (a->alert_sent >= 0 && a->server_hello) {
		a->outcome = ATT_WE_ABORTED;
	} else if (strstr(a->reason, "no protocols available") != NULL ||
		   strstr(a->reason, "no ciphers available") != NULL) {
		a->outcome = ATT_LOCAL;
	} else if (e == SSL_ERROR_SYSCALL && saved == ECONNRESET) {
		a->outcome = ATT_RESET;
		a->sys_errno = saved;
	} else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
		   (e == SSL_ERROR_SYSCALL &&
		       (saved == EAGAIN || saved == EWOULDBLOCK))) {
		/* The socket's receive timeout expired (SO_RCVTIMEO). */
		a->outcome = ATT_TLS_TIMEOUT;
	} else if (strstr(a->reason, "unexpected eof") != NULL ||
		   (e == SSL_ERROR_SYSCALL && saved == 0)) {
		a->outcome = ATT_EOF;
	} else if (a->alert_sent >= 0) {
		a->outcome = ATT_WE_ABORTED;
	} else {
		a->outcome = ATT_TLS_ERROR;
		a->sys_errno = saved;
	}
}

static int
read_some(SSL *ssl, char *buf, int len, struct attempt *a)
{
	int n;

	ERR_clear_error();
	n = SSL_read(ssl, buf, len);
	if (n > 0) {
		return n;
	}
	if (a->alert_recv >= 0) {
		a->after_what = AFTER_ALERT;
		a->after_alert = a->alert_recv;
	} else if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ||
		   (SSL_get_error(ssl, n) == SSL_ERROR_SYSCALL &&
		       errno != EAGAIN && errno != EWOULDBLOCK) ||
		   SSL_get_error(ssl, n) == SSL_ERROR_SSL) {
		a->after_what = AFTER_CLOSED;
	}
	ERR_clear_error();
	return -1;
}

/* A minimal HTTP request: servers like nginx complete the handshake
 * without a client certificate and refuse only at HTTP level (400). */
static void
try_http(SSL *ssl, int fd, const struct probe_peer *p, struct attempt *a)
{
	char req[512], resp[2048];
	int n, len, got = 0, ms = p->timeout_ms < HTTP_MAX_MS ? p->timeout_ms
							   : HTTP_MAX_MS;

	len = snprintf(req, sizeof(req),
	    "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtls-probe\r\n"
	    "Connection: close\r\n\r\n",
	    p->host_header);
	ERR_clear_error();
	if (SSL_write(ssl, req, len) != len) {
		ERR_clear_error();
		return;
	}
	set_io_timeout(fd, ms);
	while (got < (int)sizeof(resp) - 1) {
		n = read_some(ssl, resp + got, (int)sizeof(resp) - 1 - got, a);
		if (n <= 0) {
			break;
		}
		got += n;
		if (got >= 5 && strncmp(resp, "HTTP/", 5) != 0) {
			break; /* not an HTTP server: nothing more to learn */
		}
	}
	resp[got] = '\0';
	if (got >= 5 && strncmp(resp, "HTTP/", 5) == 0) {
		char *eol = strpbrk(resp, "\r\n");
		char *title = strstr(resp, "<title>"), *te = NULL;

		a->after_what = AFTER_HTTP;
		if (title != NULL) {
			title += 7;
			te = strstr(title, "</title>");
		}
		/* nginx names the certificate problem only in the page title. */
		snprintf(a->http_status, sizeof(a->http_status), "%.*s%s%.*s",
		    eol ? (int)(eol - resp) : got, resp, te ? ": " : "",
		    te ? (int)(te - title) : 0, te ? title : "");
		a->http_cert_missing =
		    strstr(resp, "No required SSL certificate") != NULL;
		a->http_cert_error =
		    strstr(resp, "SSL certificate error") != NULL;
	}
}

static void
after_handshake(SSL *ssl, int fd, const struct probe_peer *p,
    struct attempt *a)
{
	char buf[256];
	int wait = (int)(a->handshake_ms * 2 + AFTER_MIN_MS);

	if (wait > p->timeout_ms) {
		wait = p->timeout_ms;
	}
	set_io_timeout(fd, wait);
	/* Up to TLS 1.2 the server judges our certificate inside the
	 * handshake; only TLS 1.3 (RFC 8446 4.4.2.4) alerts after it. */
	if (a->negotiated == TLS1_3_VERSION) {
		(void)read_some(ssl, buf, sizeof(buf), a);
	}
	if (a->after_what == AFTER_NOTHING && p->http) {
		try_http(ssl, fd, p, a);
	}
}

void
mtls__attempt_clear(struct attempt *a)
{
	sk_X509_NAME_pop_free(a->ca_names, X509_NAME_free);
	sk_X509_pop_free(a->chain, X509_free);
	a->ca_names = NULL;
	a->chain = NULL;
}

int
mtls__attempt_run(const struct probe_peer *p, struct attempt *a)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	BIO *bio = NULL;
	int fd, rc = -1, hs;
	long t0;

	a->alert_recv = a->alert_sent = a->after_alert = -1;
	if (att_index < 0) {
		att_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	}
	fd = tcp_connect(p, a);
	if (fd < 0) {
		return 0;
	}
	ctx = make_ctx(p, a);
	if (ctx == NULL) {
		drain_reason(a);
		a->outcome = ATT_LOCAL;
		rc = 0;
		goto out;
	}
	ssl = SSL_new(ctx);
	bio = BIO_new_socket(fd, BIO_NOCLOSE);
	if (ssl == NULL || bio == NULL || SSL_set_ex_data(ssl, att_index, a) != 1) {
		goto out;
	}
	BIO_set_callback_arg(bio, (char *)a);
	BIO_set_callback_ex(bio, bio_peek_cb);
	SSL_set_bio(ssl, bio, bio);
	bio = NULL;
	if (p->sni != NULL && SSL_set_tlsext_host_name(ssl, p->sni) != 1) {
		goto out;
	}
	t0 = (long)mtls__mono_ms();
	ERR_clear_error();
	errno = 0;
	hs = SSL_connect(ssl);
	a->handshake_ms = (long)mtls__mono_ms() - t0;
	if (a->server_hello) {
		a->negotiated = SSL_version(ssl);
		snprintf(a->protocol, sizeof(a->protocol), "%s",
		    SSL_get_version(ssl));
	}
	if (hs != 1) {
		classify_failure(ssl, hs, a);
		rc = 0;
		goto out;
	}
	a->outcome = ATT_HANDSHAKE_OK;
	a->negotiated = SSL_version(ssl);
	snprintf(a->protocol, sizeof(a->protocol), "%s", SSL_get_version(ssl));
	snprintf(a->cipher, sizeof(a->cipher), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
	if (a->after) {
		after_handshake(ssl, fd, p, a);
	}
	rc = 0;
out:
	ERR_clear_error();
	if (ssl != NULL) {
		SSL_set_quiet_shutdown(ssl, 1);
	}
	SSL_free(ssl);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}
