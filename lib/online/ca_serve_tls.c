/* Layer online: `mtls ca serve`'s TLS side: the server context (any client
 * certificate accepted, judged per operation) and its own identity,
 * issued by the CA it serves. */
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

SSL_CTX *
mtls__casrv_tls_ctx(struct casrv *s, const char *cert, const char *key,
    const char *key_pass, struct mtls_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509) *chain = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	EVP_PKEY *pk = NULL;
	X509_STORE *store;

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
	    mtls__ctx_use_chain(ctx, chain, cert, NULL) != 0 ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "cannot use %s and %s as the TLS "
		    "identity", cert, key);
		goto fail;
	}
	store = SSL_CTX_get_cert_store(ctx);
	names = sk_X509_NAME_new_null();
	/* Under an intermediate, the root anchors re-enrollment chains. */
	if (X509_STORE_add_cert(store, mtls_ca_root(s->ca)) != 1 ||
	    (mtls_ca_root(s->ca) != mtls_ca_cert(s->ca) &&
		X509_STORE_add_cert(store, mtls_ca_cert(s->ca)) != 1) ||
	    names == NULL ||
	    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(
		mtls_ca_cert(s->ca)))) <= 0 ||
	    /* During a rollover, nodes re-enroll with what the old issuer
	     * signed: that is how they move to the new one. */
	    (mtls_ca_previous(s->ca) != NULL &&
		(X509_STORE_add_cert(store, mtls_ca_previous(s->ca)) != 1 ||
		    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(
			mtls_ca_previous(s->ca)))) <= 0))) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set up client "
		    "certificate verification");
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL; /* the context's now: not freed again on failure */
	names = NULL;
	/* Re-enrollment renews whatever profile the node has: a server-only
	 * certificate (no clientAuth EKU) is still its proof of identity
	 * (RFC 7030 3.3.2), so the chain is verified for any purpose. */
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_set_purpose");
		goto fail;
	}
	/* Ask for a certificate, do not require one (simpleenroll has none). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mtls-ca", 7);
	/* One TLS 1.3 session ticket per handshake, not OpenSSL's two: a
	 * node resumes at most once before its next renewal, and each
	 * ticket is sealed and written for nothing in a storm of new
	 * connections. Idle connections give their buffers back (many are
	 * open at once in a storm). */
	if (SSL_CTX_set_num_tickets(ctx, 1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_set_num_tickets");
		goto fail;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
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

static int
have_serial(struct mtls_ca *ca)
{
	char serial[80];
	struct mtls_err ignore;

	return mtls_ca_current(ca, "ca-serve", serial, sizeof(serial),
	    &ignore) == 0;
}

/* The server's own identity, issued by the CA into CA_DIR/online/ the
 * first time and again when it is within a day of expiring. */
/* NOWAIT: a reload inside the event loop, which must not stall behind a
 * command holding the CA lock: MTLS_E_BUSY at once instead of a wait. */
int
mtls__casrv_own_identity(struct casrv *s, char *cert, char *key, size_t len, int nowait,
    struct mtls_err *err)
{
	char dir[4096], sans[600];
	struct mtls_identity_opts io;
	struct mtls_fileset *fs = NULL;
	struct mtls_err ignore;
	X509 *x, *have;
	EVP_PKEY *k;
	int ok, moved, days = 0, secs = 0, took = 0, rc;

	snprintf(dir, sizeof(dir), "%s/online", mtls_ca_dir(s->ca));
	snprintf(cert, len, "%s/ca-serve.chain.pem", dir);
	snprintf(key, len, "%s/ca-serve.key", dir);
	have = mtls_load_cert(cert, &ignore);
	k = have != NULL ? mtls_load_key(key, NULL, &ignore) : NULL;
	/* Issued by the current issuer: after a rollover began, the next
	 * start moves the server's own certificate to the new one. */
	ok = have != NULL && k != NULL && mtls_key_matches_cert(k, have) &&
	    X509_cmp_time(X509_get0_notAfter(have), NULL) > 0 &&
	    X509_check_issued(mtls_ca_cert(s->ca), have) == X509_V_OK;
	if (ok) {
		time_t soon = time(NULL) + 86400;

		ok = X509_cmp_time(X509_get0_notAfter(have), &soon) > 0;
	}
	moved = have != NULL && mtls_ca_previous(s->ca) != NULL &&
	    X509_check_issued(mtls_ca_previous(s->ca), have) == X509_V_OK;
	X509_free(have);
	EVP_PKEY_free(k);
	if (ok) {
		return 0;
	}
	if (mtls_mkdir_p(dir, 0700, err) != 0) {
		return -1;
	}
	/* 90 days, but never past the CA's own notAfter (RFC 5280 6.1.3:
	 * the path would not validate). */
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(
		mtls_ca_cert(s->ca))) != 1 || days < 1) {
		return mtls_err_set(err, MTLS_E_POLICY, "the CA certificate in %s "
		    "expires within a day: renew the CA before serving", mtls_ca_dir(
		    s->ca));
	}
	if (nowait && mtls__ca_lock_wait(s->ca, 0, &took, err) != 0) {
		return -1;
	}
	listen_san(s->o.listen, sans, sizeof(sans));
	memset(&io, 0, sizeof(io));
	io.name = "ca-serve";
	io.profile = MTLS_PROFILE_SERVER;
	io.sans = s->o.sans != NULL ? s->o.sans : sans;
	io.days = days < 90 ? days : 90;
	io.key_type = MTLS_KEY_EC_P256;
	io.out_dir = dir;
	fs = mtls_fileset_new(1, err);
	if (fs == NULL) {
		rc = -1;
		goto out;
	}
	/* Moving to a rollover's new issuer: a renewal, which records the
	 * old certificate as superseded, so the rollover does not wait for it. */
	if (moved && have_serial(s->ca)) {
		struct mtls_renew_opts ro;

		memset(&ro, 0, sizeof(ro));
		ro.days = io.days;
		ro.out_dir = dir;
		x = mtls_identity_renew(s->ca, "ca-serve", &ro, fs, err);
	} else {
		x = mtls_identity_issue(s->ca, &io, fs, err);
	}
	rc = x == NULL || mtls_fileset_commit(fs, err) != 0 ? -1 : 0;
	if (rc == 0) {
		mtls__casrv_log(s, "issued its own TLS certificate (%s, %d days) "
		    "into %s", io.sans, io.days, dir);
	}
	X509_free(x);
	mtls_fileset_free(fs);
out:
	if (took) {
		mtls_ca_release(s->ca);
	}
	return rc;
}
