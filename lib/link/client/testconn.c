/* see mtls/replicate.h: the step-by-step replication test */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "mtls/replicate.h"
#include "base/internal.h"
#include "base/clock.h"
#include "link/client/replicate_int.h"
#include "diag/revcheck.h"
#include "pki/tlsid_int.h"

#define RESPONSE_MAX (64 * 1024)

/* What the callbacks saw during the handshake. */
struct tc_state {
	FILE *log;
	int cert_requested;   /* the server sent a CertificateRequest */
	int alert_received;   /* a fatal alert from the server */
	int alert_desc;
	long verify_code;     /* first verification failure, or X509_V_OK */
	int verify_depth;
	X509 *verify_cert;    /* the certificate it concerns (owned) */
};

static int tc_index = -1;

static void
tc_log(FILE *log, const char *fmt, ...) MTLS_PRINTF(2, 3);

static void
tc_log(FILE *log, const char *fmt, ...)
{
	va_list ap;
	char stamp[32];

	if (log == NULL) {
		return;
	}
	mtls__time_format(time(NULL), MTLS__TIME_RFC3339, stamp, sizeof(stamp));
	fprintf(log, "%s - ", stamp);
	va_start(ap, fmt);
	vfprintf(log, fmt, ap);
	va_end(ap);
	fputc('\n', log);
	fflush(log);
}

static struct tc_state *
tc_get(SSL *ssl)
{
	return SSL_get_ex_data(ssl, tc_index);
}

static int
tc_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tc_state *st = ssl != NULL ? tc_get(ssl) : NULL;

	if (!ok && st != NULL && st->verify_code == X509_V_OK) {
		X509 *c = X509_STORE_CTX_get_current_cert(xs);

		st->verify_code = X509_STORE_CTX_get_error(xs);
		st->verify_depth = X509_STORE_CTX_get_error_depth(xs);
		if (c != NULL && X509_up_ref(c) == 1) {
			st->verify_cert = c;
		}
	}
	return ok;
}

/* Called on the client only when the server sent a CertificateRequest
 * (RFC 8446 section 4.3.2); our certificate is already set on the
 * context, so this only notes the request. */
static int
tc_cert_cb(SSL *ssl, void *arg)
{
	struct tc_state *st = tc_get(ssl);

	(void)arg;
	if (st != NULL) {
		st->cert_requested = 1;
	}
	return 1;
}

static void
tc_info_cb(const SSL *ssl, int where, int ret)
{
	struct tc_state *st = SSL_get_ex_data(ssl, tc_index);

	if (st == NULL || !(where & SSL_CB_READ_ALERT)) {
		return;
	}
	/* ret: level in the high byte, description in the low byte. */
	if ((ret >> 8) == SSL3_AL_FATAL && !st->alert_received) {
		st->alert_received = 1;
		st->alert_desc = ret & 0xff;
	}
}

static void
log_cert(FILE *log, const char *what, X509 *c)
{
	char *subj = mtls_name_format(X509_get_subject_name(c));
	char *iss = mtls_name_format(X509_get_issuer_name(c));
	char *serial = mtls_cert_serial_hex(c);
	char nb[64], na[64];
	GENERAL_NAMES *sans = X509_get_ext_d2i(c, NID_subject_alt_name, NULL,
	    NULL);
	char *san = sans != NULL ? mtls_san_format(sans) : NULL;

	mtls__time_format_asn1(X509_get0_notBefore(c), MTLS__TIME_HUMAN, nb,
	    sizeof(nb));
	mtls__time_format_asn1(X509_get0_notAfter(c), MTLS__TIME_HUMAN, na,
	    sizeof(na));
	tc_log(log, "%s: %s", what, subj ? subj : "?");
	tc_log(log, "  issuer: %s, serial %s", iss ? iss : "?",
	    serial ? serial : "?");
	tc_log(log, "  valid from %s until %s", nb, na);
	tc_log(log, "  names: %s", san != NULL && *san ? san : "(no SANs)");
	free(san);
	GENERAL_NAMES_free(sans);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(serial);
}

static int
set_timeouts(int fd, int secs)
{
	struct timeval tv = {.tv_sec = secs, .tv_usec = 0};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		return -1;
	}
	return 0;
}

/* Connects to one address within TIMEOUT seconds; returns the fd or -1
 * with errno set (ETIMEDOUT on timeout). */
static int
connect_one(const struct addrinfo *ai, int timeout)
{
	int fd, flags, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0) {
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		goto fail;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout * 1000) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
			goto fail;
		}
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, flags) != 0 || set_timeouts(fd, timeout) != 0) {
		goto fail;
	}
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

static int
tc_connect(const struct mtls_url *u, const char *resolve, int timeout,
    FILE *log, struct mtls_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char addr[NI_MAXHOST], forced[64];
	const char *lookup = u->host;
	int fd = -1, gai, last_errno = 0, hit;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hit = mtls__resolve_find(resolve, u->host, u->port, forced,
	    sizeof(forced), err);
	if (hit < 0) {
		return -1;
	}
	if (hit == 1) {
		tc_log(log, "Resolving %s: %s (given by --resolve)", u->host,
		    forced);
		lookup = forced;
		hints.ai_flags = AI_NUMERICHOST;
	} else {
		tc_log(log, "Resolving %s", u->host);
	}
	gai = getaddrinfo(lookup, u->port, &hints, &res);
	if (gai != 0) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "cannot resolve '%s': %s; check the host name in the URL",
		    u->host, gai_strerror(gai));
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
			NULL, 0, NI_NUMERICHOST) != 0) {
			snprintf(addr, sizeof(addr), "?");
		}
		tc_log(log, "Connecting to %s port %s", addr, u->port);
		fd = connect_one(ai, timeout);
		if (fd < 0) {
			last_errno = errno;
			tc_log(log, "  %s", strerror(last_errno));
		}
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		tc_log(log, "Connected to %s port %s", addr, u->port);
		return fd;
	}
	if (last_errno == ECONNREFUSED) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "no endpoint: connection refused by %s port %s (nothing "
		    "listens there; is the receiver running, and is the port "
		    "right?)", u->host, u->port);
	}
	if (last_errno == ETIMEDOUT) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "no endpoint: connecting to %s port %s timed out after %d s "
		    "(a firewall, or the host is down)", u->host, u->port,
		    timeout);
	}
	errno = last_errno;
	return mtls_err_sys(err, MTLS_E_PEER, "cannot connect to %s port %s",
	    u->host, u->port);
}

static SSL_CTX *
tc_ctx(const struct mtls_credentials *id, FILE *log, struct mtls_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	STACK_OF(X509) *chain = NULL, *cas = NULL;
	EVP_PKEY *key = NULL;
	int i;

	if (ctx == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "creating a TLS context");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "setting TLS 1.2 minimum");
		goto fail;
	}
	if (mtls_load_certs(id->cert, &chain, err) != 0) {
		goto fail;
	}
	key = mtls_load_key(id->key, id->key_pass, err);
	if (key == NULL) {
		goto fail;
	}
	log_cert(log, "Our client certificate", sk_X509_value(chain, 0));
	if (mtls__cert_check_dates(sk_X509_value(chain, 0), id->cert,
		err) != 0) {
		goto fail;
	}
	if (mtls__ctx_use_chain(ctx, chain, id->cert, NULL) != 0 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		mtls_err_ssl(err, MTLS_E_FORMAT,
		    "using the certificate %s with the key %s", id->cert, id->key);
		goto fail;
	}
	if (mtls_load_certs(id->ca, &cas, err) != 0) {
		goto fail;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		char *s = mtls_name_format(X509_get_subject_name(sk_X509_value(cas, i)));

		tc_log(log, "Trusting CA %s (from %s)", s ? s : "?", id->ca);
		OPENSSL_free(s);
		if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
			sk_X509_value(cas, i)) != 1) {
			mtls_err_ssl(err, MTLS_E_FORMAT, "trusting %s", id->ca);
			goto fail;
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tc_verify_cb);
	SSL_CTX_set_cert_cb(ctx, tc_cert_cb, NULL);
	SSL_CTX_set_info_callback(ctx, tc_info_cb);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	EVP_PKEY_free(key);
	return ctx;
fail:
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The precise reason a handshake or a read failed, from what the
 * callbacks saw, into ERR. WHILE says what we were doing. */
static int
tc_explain_failure(SSL *ssl, int ret, struct tc_state *st, const char *while_,
    int timeout, struct mtls_err *err)
{
	char buf[512];
	int e = SSL_get_error(ssl, ret);
	const char *fix;

	if (st->verify_code != X509_V_OK) {
		mtls_explain_verify_failure(st->verify_code, st->verify_cert,
		    st->verify_depth, buf, sizeof(buf));
		fix = mtls_explain_verify_fix(st->verify_code);
		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_VERIFY,
		    "the server's %s%s%s", buf, fix ? "; " : "", fix ? fix : "");
	}
	if (st->alert_received) {
		/* Alerts 42-49 and 116 (RFC 8446 section 6.2) concern the
		 * certificate we sent. */
		int about_us = st->cert_requested &&
		    ((st->alert_desc >= 42 && st->alert_desc <= 49) ||
			st->alert_desc == 116);

		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_PEER,
		    "%s%s%s: %s (TLS alert %d: %s)",
		    about_us ? "our certificate was rejected by the server ("
			     : "",
		    while_, about_us ? ")" : "",
		    mtls_explain_alert(st->alert_desc), st->alert_desc,
		    SSL_alert_desc_string_long(st->alert_desc));
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ ||
	    e == SSL_ERROR_WANT_WRITE) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			ERR_clear_error();
			return mtls_err_set(err, MTLS_E_PEER,
			    "%s: no answer within %d s", while_, timeout);
		}
		if (ret == 0 || errno == 0 || errno == ECONNRESET ||
		    errno == EPIPE) {
			ERR_clear_error();
			return mtls_err_set(err, MTLS_E_PEER,
			    "%s: the server closed the connection without a "
			    "TLS alert%s", while_,
			    st->cert_requested
				? " (it may have rejected our certificate; see "
				  "its log)"
				: " (is this a TLS port?)");
		}
		return mtls_err_sys(err, MTLS_E_PEER, "%s", while_);
	}
	if (e == SSL_ERROR_SSL) {
		int reason = ERR_GET_REASON(ERR_peek_error());

		if (reason == SSL_R_WRONG_VERSION_NUMBER ||
		    reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
		    reason == SSL_R_RECORD_LENGTH_MISMATCH) {
			ERR_clear_error();
			return mtls_err_set(err, MTLS_E_PEER,
			    "%s: the server does not speak TLS on this port (a "
			    "plain HTTP server?); check the port in the URL",
			    while_);
		}
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "%s: the server closed the connection", while_);
	}
	return mtls_err_ssl(err, MTLS_E_PEER, "%s", while_);
}

static void
log_handshake(SSL *ssl, const char *name, struct tc_state *st, FILE *log)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(ssl);
	EVP_PKEY *tmp = NULL;
	int i;

	tc_log(log, "TLS handshake done: %s, cipher %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	if (SSL_get_peer_tmp_key(ssl, &tmp) == 1) {
		char group[64] = "";
		const char *type = EVP_PKEY_get0_type_name(tmp);

		/* X25519 names itself; an EC key needs its curve. */
		if (EVP_PKEY_get_group_name(tmp, group, sizeof(group), NULL) != 1) {
			group[0] = '\0';
		}
		tc_log(log, "  key exchange: %s%s%s", type ? type : "?",
		    group[0] ? " " : "", group);
		EVP_PKEY_free(tmp);
	}
	if (peer != NULL) {
		log_cert(log, "Server certificate", peer);
		tc_log(log, "  chain verified to a trusted CA; name %s %s",
		    name, "matched");
	}
	if (!st->cert_requested) {
		tc_log(log, "The server did NOT ask for a client certificate");
		return;
	}
	tc_log(log, "The server asked for a client certificate");
	for (i = 0; names != NULL && i < sk_X509_NAME_num(names); i++) {
		char *s = mtls_name_format(sk_X509_NAME_value(names, i));

		tc_log(log, "  acceptable CA: %s", s ? s : "?");
		OPENSSL_free(s);
	}
	tc_log(log, "Sent our client certificate");
}

static int
tc_write_all(SSL *ssl, const char *buf, size_t len, struct tc_state *st,
    int timeout, struct mtls_err *err)
{
	size_t done = 0;

	while (done < len) {
		size_t n = 0;
		int r;

		ERR_clear_error();
		r = SSL_write_ex(ssl, buf + done, len - done, &n);
		if (r != 1 && !st->alert_received) {
			char junk[256];
			size_t got;

			/* The server may have sent an alert (rejecting our
			 * certificate) and closed: read it to say why. */
			ERR_clear_error();
			(void)SSL_read_ex(ssl, junk, sizeof(junk), &got);
		}
		if (r != 1) {
			return tc_explain_failure(ssl, r, st, "sending the request",
			    timeout, err);
		}
		done += n;
	}
	return 0;
}

static int
tc_request(SSL *ssl, const struct mtls_url *u, const char *path, int use_get,
    struct tc_state *st, int timeout, FILE *log, struct mtls_err *err)
{
	char req[4096];
	char host[300];
	char *line, *save = NULL;
	int n;

	if (strchr(u->host, ':') != NULL) {
		snprintf(host, sizeof(host), "[%s]:%s", u->host, u->port);
	} else {
		snprintf(host, sizeof(host), "%s:%s", u->host, u->port);
	}
	n = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: mtls/%s\r\n"
	    "Action: Test\r\n"
	    "Path: %s\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Length: 0\r\n"
	    "Connection: close\r\n\r\n",
	    use_get ? "GET" : "POST", u->path, host, mtls_version(), path);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		return mtls_err_set(err, MTLS_E_USAGE, "the request is too long");
	}
	tc_log(log, "Sending %s request to https://%s%s (Action: Test, "
		    "Path: %s)", use_get ? "GET" : "POST", host, u->path, path);
	tc_log(log, "Sending message to %s port %s", u->host, u->port);
	{
		char copy[4096];

		memcpy(copy, req, (size_t)n + 1);
		for (line = strtok_r(copy, "\r\n", &save); line != NULL;
		     line = strtok_r(NULL, "\r\n", &save)) {
			tc_log(log, ">> %s", line);
		}
	}
	return tc_write_all(ssl, req, (size_t)n, st, timeout, err);
}

/* Reads the response (headers, then Content-Length bytes or up to EOF)
 * into BUF; returns its length or -1. */
static int
tc_read_response(SSL *ssl, char *buf, size_t cap, struct tc_state *st,
    int timeout, struct mtls_err *err)
{
	size_t len = 0;

	for (;;) {
		size_t n = 0;
		int r;
		char *hend;

		if (len + 1 >= cap) {
			break;
		}
		ERR_clear_error();
		r = SSL_read_ex(ssl, buf + len, cap - 1 - len, &n);
		if (r != 1) {
			int e = SSL_get_error(ssl, r);

			if (len > 0 && (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SYSCALL && errno == 0))) {
				ERR_clear_error();
				break; /* response ended by close */
			}
			return tc_explain_failure(ssl, r, st,
			    "waiting for the response", timeout, err);
		}
		len += n;
		buf[len] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		if (hend != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			if (cl != NULL && cl < hend) {
				long want = strtol(cl + 17, NULL, 10);

				if (want >= 0 && (size_t)(hend + 4 - buf) +
				    (size_t)want <= len) {
					break;
				}
			}
		}
	}
	buf[len] = '\0';
	return (int)len;
}

/* Logs the response and checks its status line. */
static int
tc_check_response(char *resp, const char *path, int cert_requested,
    FILE *log, struct mtls_err *err)
{
	char *hend = strstr(resp, "\r\n\r\n");
	char *line, *save = NULL, *body;
	char status[256] = "";
	int code = 0, lines = 0;

	if (hend == NULL) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "the server's answer is not an HTTP response (%zu bytes)",
		    strlen(resp));
	}
	*hend = '\0';
	body = hend + 4;
	for (line = strtok_r(resp, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (status[0] == '\0') {
			snprintf(status, sizeof(status), "%s", line);
		}
		tc_log(log, "<< %s", line);
	}
	tc_log(log, "<<");
	save = NULL;
	for (line = strtok_r(body, "\r\n", &save); line != NULL && lines < 20;
	     line = strtok_r(NULL, "\r\n", &save), lines++) {
		tc_log(log, "<< %s", line);
	}
	if (sscanf(status, "HTTP/%*d.%*d %d", &code) != 1) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "the server's answer is not an HTTP response: '%s'", status);
	}
	tc_log(log, "Message sent. Response: %s", status + 9);
	if (!cert_requested) {
		/* The request went through without a client certificate: the
		 * server is not doing mutual TLS, which is what we test. */
		return mtls_err_set(err, MTLS_E_POLICY,
		    "the server asked for no client certificate: it is not "
		    "configured for mutual TLS (it must require and verify "
		    "client certificates, e.g. 'mtls serve --ca')");
	}
	if (code != 200) {
		return mtls_err_set(err, MTLS_E_PEER,
		    "the receiver refused the Test of %s: %s%s", path,
		    status + 9,
		    code == 403 ? " (our certificate is not mapped to a "
				  "principal allowed to do this)"
				: "");
	}
	tc_log(log, "Replication (TEST) of %s successful.", path);
	return 0;
}

static int
tc_handshake(SSL_CTX *ctx, int fd, const struct mtls_url *u,
    const char *servername, struct tc_state *st, int timeout, FILE *log,
    SSL **out, struct mtls_err *err)
{
	SSL *ssl = SSL_new(ctx);
	X509_VERIFY_PARAM *vp;
	const char *name = servername != NULL ? servername : u->host;
	int name_is_ip = servername != NULL ? mtls__is_ip_literal(servername)
					    : u->host_is_ip;
	int r;

	if (ssl == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "creating a TLS session");
	}
	*out = ssl;
	if (SSL_set_ex_data(ssl, tc_index, st) != 1 || SSL_set_fd(ssl, fd) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "setting up TLS");
	}
	vp = SSL_get0_param(ssl);
	if (name_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "setting the address to check");
		}
	} else if (SSL_set1_host(ssl, name) != 1 ||
	    SSL_set_tlsext_host_name(ssl, name) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "setting the name to check");
	}
	tc_log(log, "Starting TLS handshake (TLS 1.2 or 1.3), checking that "
		    "the server's certificate chains to our CA and names %s",
	    name);
	ERR_clear_error();
	r = SSL_connect(ssl);
	if (r != 1) {
		if (st->verify_cert != NULL && st->verify_depth == 0) {
			log_cert(log, "Server certificate (not accepted)",
			    st->verify_cert);
		}
		return tc_explain_failure(ssl, r, st, "TLS handshake", timeout,
		    err);
	}
	log_handshake(ssl, name, st, log);
	return 0;
}

/* The receiver's chain as verified, under the same revocation rule serve
 * applies to its clients (diag/revcheck.h): before any request is sent. */
static int
tc_revocation(SSL *ssl, const struct mtls_testconn_opts *o, FILE *log,
    struct mtls_err *err)
{
	STACK_OF(X509) *cas = NULL;
	struct mtls__revcheck *rc = NULL;
	char note[1024] = "";
	int r = -1;

	if (o->rev.insecure_no_revocation) {
		tc_log(log, "Revocation of the receiver's chain NOT checked "
		    "(INSECURE: --insecure-no-revocation)");
		return 0;
	}
	if (o->rev.ncrl > 0 && mtls_load_certs(o->id.ca, &cas, err) != 0) {
		return -1;
	}
	rc = mtls__revcheck_new(&o->rev, cas, err);
	if (rc == NULL) {
		goto out;
	}
	if (mtls__revcheck_chain(rc, SSL_get0_verified_chain(ssl), note,
		sizeof(note), err) != 0) {
		tc_log(log, "The receiver's chain is refused: %s", err->msg);
		goto out;
	}
	tc_log(log, "Receiver's chain: %s", note);
	r = 0;
out:
	mtls__revcheck_free(rc);
	sk_X509_pop_free(cas, X509_free);
	return r;
}

int
mtls_testconn_run(const struct mtls_testconn_opts *o, FILE *log,
    struct mtls_err *err)
{
	struct mtls_url u;
	struct tc_state st;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char *resp = NULL;
	const char *path = o->path != NULL ? o->path : "/content";
	int timeout = o->timeout_s > 0 ? o->timeout_s : 10;
	int fd = -1, rc = -1, n;

	memset(&st, 0, sizeof(st));
	st.log = log;
	st.verify_code = X509_V_OK;
	if (mtls_url_parse(o->url, &u, err) != 0) {
		return -1;
	}
	if (tc_index < 0) {
		tc_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (tc_index < 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "ex_data index");
		}
	}
	tc_log(log, "Replication test of %s against https://%s%s%s:%s%s", path,
	    strchr(u.host, ':') ? "[" : "", u.host, strchr(u.host, ':') ? "]" : "",
	    u.port, u.path);
	ctx = tc_ctx(&o->id, log, err);
	if (ctx == NULL) {
		goto out;
	}
	fd = tc_connect(&u, o->resolve, timeout, log, err);
	if (fd < 0) {
		goto out;
	}
	if (tc_handshake(ctx, fd, &u, o->servername, &st, timeout, log, &ssl,
		err) != 0 || tc_revocation(ssl, o, log, err) != 0) {
		goto out;
	}
	if (tc_request(ssl, &u, path, o->use_get, &st, timeout, log, err) != 0) {
		goto out;
	}
	resp = malloc(RESPONSE_MAX);
	if (resp == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	n = tc_read_response(ssl, resp, RESPONSE_MAX, &st, timeout, err);
	if (n < 0) {
		goto out;
	}
	if (tc_check_response(resp, path, st.cert_requested, log, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	if (rc == 0) {
		if (log != NULL) {
			fprintf(log, "Replication test succeeded\n");
		}
	} else if (log != NULL && err != NULL) {
		tc_log(log, "Error: %s", err->msg);
		fprintf(log, "Replication test failed\n");
	}
	if (ssl != NULL) {
		if (rc == 0) {
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
	}
	ERR_clear_error();
	if (fd >= 0) {
		close(fd);
	}
	X509_free(st.verify_cert);
	SSL_CTX_free(ctx);
	free(resp);
	return rc;
}
