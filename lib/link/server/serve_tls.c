/* The receiver's TLS side: context, client verification, handshake
 * outcome bookkeeping. See mtls/serve.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "link/server/serve_int.h"
#include "pki/tlsid_int.h"

static int vcache_idx = -1;
static int hook_idx = -1;
static void vcache_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp);
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* What runs after each client certificate verification (see
 * mtls__serve_tls_on_verified); one per SSL_CTX, freed with it. */
struct verified_hook {
	serve_verified_fn *fn;
	serve_resumed_fn *resumed;
	void *arg;
};

static void
hook_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

static void
tls_index_init(void)
{
	vcache_idx = SSL_CTX_get_ex_new_index(0, "mtls serve vcache", NULL,
	    NULL, vcache_free);
	hook_idx = SSL_CTX_get_ex_new_index(0, "mtls serve verified hook",
	    NULL, NULL, hook_free);
}

int
mtls__serve_tls_hooks(SSL_CTX *ctx, serve_verified_fn *fn,
    serve_resumed_fn *resumed, void *arg)
{
	struct verified_hook *h;

	pthread_once(&tls_once, tls_index_init);
	if (hook_idx < 0) {
		return -1;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		return -1;
	}
	h->fn = fn;
	h->resumed = resumed;
	h->arg = arg;
	if (SSL_CTX_set_ex_data(ctx, hook_idx, h) != 1) {
		free(h);
		return -1;
	}
	return 0;
}

/* The verification result RC after the registered hook (if any) had its
 * say: revocation is checked there, on every handshake. */
static int
verified(X509_STORE_CTX *xs, int rc)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct verified_hook *h;

	if (ssl == NULL || hook_idx < 0) {
		return rc;
	}
	h = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), hook_idx);
	return h != NULL ? h->fn(xs, rc, h->arg) : rc;
}

/* Keeps the leaf of a chain we refuse, for the log and the audit record:
 * whose certificate it was is what an auditor asks first. */
static void
keep_leaf(struct serve_conn *c, X509_STORE_CTX *xs)
{
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);

	if (c != NULL && c->leaf == NULL && leaf != NULL &&
	    X509_up_ref(leaf) == 1) {
		c->leaf = leaf;
	}
}

static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct serve_conn *c = ssl != NULL ? mtls__serve_conn_get(ssl) : NULL;
	long code;
	int depth;
	char buf[SERVE_REASON_MAX];

	if (ok == 1) {
		/* The end-entity rules purpose sslclient leaves open (no EKU, a
		 * CA or certificate signer as the client), as verify has them. */
		X509 *leaf = X509_STORE_CTX_get_current_cert(xs);
		const char *rule = X509_STORE_CTX_get_error_depth(xs) == 0 && leaf != NULL
		    ? mtls_leaf_profile_check(leaf, MTLS_LEAF_CLIENT) : NULL;

		if (rule == NULL && X509_STORE_CTX_get_error_depth(xs) == 0) {
			rule = mtls_chain_names_check(X509_STORE_CTX_get0_chain(xs));
		}

		if (rule == NULL) {
			return 1;
		}
		X509_STORE_CTX_set_error(xs, X509_V_ERR_INVALID_PURPOSE);
		keep_leaf(c, xs);
		if (c != NULL) {
			mtls_leaf_profile_sentence(leaf, rule, buf, sizeof(buf));
			mtls__serve_conn_fail(c, "leaf_profile", "%s", buf);
		}
		return 0;
	}
	code = X509_STORE_CTX_get_error(xs);
	depth = X509_STORE_CTX_get_error_depth(xs);
	keep_leaf(c, xs);
	if (c != NULL) {
		mtls_explain_peer_failure(code, X509_STORE_CTX_get_current_cert(xs),
		    depth, MTLS_PEER_CLIENT, buf, sizeof(buf));
		mtls__serve_conn_fail(c, mtls_explain_peer_key(code, depth,
		    MTLS_PEER_CLIENT), "%s", buf);
	}
	return 0;
}

/* A fatal alert we are about to send: say why, from the error queue. */
static void
alert_sent(struct serve_conn *c, int ret)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

	if ((e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
		ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) ||
	    (ret & 0xff) == SSL_AD_CERTIFICATE_REQUIRED) {
		mtls__serve_conn_fail(c, "no_certificate", MTLS_EXPLAIN_NO_CLIENT_CERT);
		return;
	}
	if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING &&
	    c->ssl != NULL && SSL_get_state(c->ssl) == TLS_ST_BEFORE) {
		/* Nothing but a TCP connect (a port scan, a health probe):
		 * say so rather than blame a decode error. */
		mtls__serve_conn_fail(c, "connect_only", "the client connected "
		    "and closed without sending a ClientHello (a probe)");
		return;
	}
	mtls__serve_conn_fail(c, "tls_error", "TLS error: %s (we sent alert '%s')",
	    why != NULL ? why : "unknown", SSL_alert_desc_string_long(ret));
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct serve_conn *c = mtls__serve_conn_get(ssl);

	if (c == NULL) {
		return;
	}
	if ((where & SSL_CB_HANDSHAKE_START) != 0 && c->peer[0] == '\0') {
		mtls__serve_conn_peer(c, (SSL *)ssl);
	}
	if ((where & SSL_CB_HANDSHAKE_DONE) != 0 && !c->hs_done) {
		c->hs_done = 1;
		if (c->timer != NULL && !c->refused) {
			event_del(c->timer);
		}
		if (c->w != NULL && !c->refused) {
			mtls__serve_conn_audit(c, "accept", "ok");
		}
		if (c->w != NULL) {
			atomic_fetch_add(&c->w->srv->m.handshakes, 1);
			if (SSL_session_reused((SSL *)ssl)) {
				atomic_fetch_add(&c->w->srv->m.handshakes_resumed,
				    1);
			}
		}
	}
	if ((where & SSL_CB_ALERT) == 0 || (ret >> 8) != SSL3_AL_FATAL ||
	    c->hs_done) {
		return;
	}
	if ((where & SSL_CB_WRITE) != 0) {
		alert_sent(c, ret);
		mtls__serve_conn_linger(c);
	} else {
		mtls__serve_conn_fail(c, "client_alert",
		    "the client aborted the handshake with alert '%s': %s",
		    SSL_alert_desc_string_long(ret),
		    mtls_explain_alert(ret & 0xff));
	}
}

SSL *
mtls__serve_ssl_new(SSL_CTX *ctx, struct mtls_err *err)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_new");
		return NULL;
	}
	if (mtls__serve_conn_attach(ssl, err) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Every record header read: after the handshake, an application-data
 * record means a request is on its way (for draining: such a connection is
 * not idle). TLS 1.3 also wraps post-handshake messages in that type,
 * which errs on the side of waiting. */
static void
msg_cb(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	struct serve_conn *c;

	(void)version, (void)arg;
	if (write_p || content_type != SSL3_RT_HEADER || len < 1) {
		return;
	}
	c = mtls__serve_conn_get(ssl);
	if (c != NULL && c->hs_done &&
	    ((const unsigned char *)buf)[0] == SSL3_RT_APPLICATION_DATA) {
		c->busy = 1;
	}
}

const char *
mtls__serve_handshake_reason(const SSL *ssl)
{
	struct serve_conn *c = mtls__serve_conn_get(ssl);

	return c != NULL && c->reason[0] != '\0' ? c->reason : NULL;
}

/*
 * Verified client certificates, per SSL_CTX (so a reload with another CA
 * starts empty). A replication receiver sees the same few agents connect
 * over and over; re-running X509_verify_cert (chain building, name
 * lookups, one ECDSA verification per issuer) for an identical
 * certificate is pure overhead. A hit needs the exact same DER bytes, and
 * an entry expires at the earliest notAfter of its verified chain or
 * after VCACHE_TTL seconds, whichever comes first. Failures are never
 * cached, and proof of possession (CertificateVerify) is still checked by
 * libssl on every handshake.
 */
#define VCACHE_SLOTS 256
#define VCACHE_TTL 300

struct vcache {
	pthread_mutex_t lock;
	struct {
		unsigned char *der;
		int len;
		time_t until;
		STACK_OF(X509) *chain; /* the verified chain, for the
					  revocation of every certificate */
	} e[VCACHE_SLOTS];
	atomic_ulong hits;
};

static void
vcache_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct vcache *vc = ptr;
	size_t i;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (vc == NULL) {
		return;
	}
	for (i = 0; i < VCACHE_SLOTS; i++) {
		OPENSSL_free(vc->e[i].der);
		sk_X509_pop_free(vc->e[i].chain, X509_free);
	}
	pthread_mutex_destroy(&vc->lock);
	free(vc);
}

static size_t
fnv1a(const unsigned char *p, int len)
{
	uint64_t h = 1469598103934665603ULL;
	int i;

	for (i = 0; i < len; i++) {
		h = (h ^ p[i]) * 1099511628211ULL;
	}
	return (size_t)(h % VCACHE_SLOTS);
}

/* Seconds from now until the earliest notAfter in CHAIN (at most TTL). */
static long
chain_lifetime(STACK_OF(X509) *chain)
{
	long best = VCACHE_TTL, s;
	int i, days = 0, secs = 0;

	for (i = 0; i < sk_X509_num(chain); i++) {
		if (ASN1_TIME_diff(&days, &secs, NULL,
			X509_get0_notAfter(sk_X509_value(chain, i))) != 1) {
			return 0;
		}
		s = (long)days * 86400 + secs;
		if (s < best) {
			best = s;
		}
	}
	return best;
}

static int
cached_verify(X509_STORE_CTX *xs, void *arg)
{
	struct vcache *vc = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	STACK_OF(X509) *chain = NULL;
	unsigned char *der = NULL;
	int len = leaf != NULL ? i2d_X509(leaf, &der) : -1, rc;
	time_t now = time(NULL);
	size_t slot;
	long life;

	if (len <= 0) {
		return verified(xs, X509_verify_cert(xs));
	}
	slot = fnv1a(der, len);
	pthread_mutex_lock(&vc->lock);
	if (vc->e[slot].der != NULL && vc->e[slot].len == len &&
	    now < vc->e[slot].until &&
	    memcmp(vc->e[slot].der, der, (size_t)len) == 0) {
		chain = X509_chain_up_ref(vc->e[slot].chain);
	}
	pthread_mutex_unlock(&vc->lock);
	if (chain != NULL) {
		OPENSSL_free(der);
		atomic_fetch_add(&vc->hits, 1);
		/* The chain verified before, so that revocation (checked on
		 * every handshake, hit or not) sees every certificate of it,
		 * and libssl keeps it as the connection's verified chain. */
		X509_STORE_CTX_set0_verified_chain(xs, chain);
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return verified(xs, 1);
	}
	rc = X509_verify_cert(xs);
	life = rc == 1 ? chain_lifetime(X509_STORE_CTX_get0_chain(xs)) : 0;
	if (life <= 0 || (chain = X509_STORE_CTX_get1_chain(xs)) == NULL) {
		OPENSSL_free(der);
		return verified(xs, rc);
	}
	pthread_mutex_lock(&vc->lock);
	OPENSSL_free(vc->e[slot].der);
	sk_X509_pop_free(vc->e[slot].chain, X509_free);
	vc->e[slot].der = der;
	vc->e[slot].len = len;
	vc->e[slot].until = now + life;
	vc->e[slot].chain = chain;
	pthread_mutex_unlock(&vc->lock);
	return verified(xs, rc);
}

/* Without the cache (-DMTLS_NO_VCACHE): verify, then revocation. */
static int __attribute__((unused))
plain_verify(X509_STORE_CTX *xs, void *arg)
{
	(void)arg;
	return verified(xs, X509_verify_cert(xs));
}

static int
use_vcache(SSL_CTX *ctx, struct mtls_err *err)
{
	struct vcache *vc = calloc(1, sizeof(*vc));

	if (vc == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	pthread_mutex_init(&vc->lock, NULL);
	if (SSL_CTX_set_ex_data(ctx, vcache_idx, vc) != 1) {
		vcache_free(NULL, vc, NULL, 0, 0, NULL);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_set_ex_data");
	}
	SSL_CTX_set_cert_verify_callback(ctx, cached_verify, vc);
	return 0;
}

unsigned long
mtls__serve_vcache_hits(SSL_CTX *ctx)
{
	struct vcache *vc = SSL_CTX_get_ex_data(ctx, vcache_idx);

	return vc != NULL ? atomic_load(&vc->hits) : 0;
}

/*
 * Resumption skips certificate verification: without a check, a session
 * (TLS 1.3 ticket or TLS 1.2 ticket) of a client whose certificate has
 * expired or been revoked since would resume for as long as the ticket
 * key lives. So each ticket carries the client's intermediates (the leaf
 * is in the session already), and before a ticket is used the chain is
 * verified again, now, with the same store, profile and revocation hook;
 * on any failure the ticket is ignored and a full handshake follows, in
 * which the certificate is verified and refused with its reason in the
 * log. Session IDs never resume: there is no server-side session cache.
 */
#define TICKET_CHAIN_MAX 16384 /* bytes of intermediates kept in a ticket */

static int
ticket_gen(SSL *s, void *arg)
{
	STACK_OF(X509) *chain = SSL_get0_verified_chain(s);
	SSL_SESSION *ss = SSL_get0_session(s);
	unsigned char buf[TICKET_CHAIN_MAX], *p = buf;
	int i, n;

	(void)arg;
	if (ss == NULL) {
		return 1;
	}
	/* Leaf and trust anchor are known at resumption: the middle only. */
	for (i = 1; i + 1 < sk_X509_num(chain); i++) {
		n = i2d_X509(sk_X509_value(chain, i), NULL);
		if (n <= 0 || (size_t)(p - buf) + (size_t)n > sizeof(buf)) {
			break; /* the rest is looked up in the store */
		}
		(void)i2d_X509(sk_X509_value(chain, i), &p); /* advances p */
	}
	if (SSL_SESSION_set1_ticket_appdata(ss, buf, (size_t)(p - buf)) != 1) {
		ERR_clear_error();
	}
	return 1;
}

/* The certificates a ticket carries (possibly none); NULL on failure. */
static STACK_OF(X509) *
ticket_chain(SSL_SESSION *ss)
{
	STACK_OF(X509) *out = sk_X509_new_null();
	const unsigned char *p = NULL, *end;
	void *data = NULL;
	size_t len = 0;
	X509 *c;

	if (out == NULL ||
	    SSL_SESSION_get0_ticket_appdata(ss, &data, &len) != 1) {
		sk_X509_free(out);
		return NULL;
	}
	p = data;
	end = p + len;
	while (p != NULL && p < end) {
		c = d2i_X509(NULL, &p, (long)(end - p));
		if (c == NULL || sk_X509_push(out, c) <= 0) {
			X509_free(c);
			sk_X509_pop_free(out, X509_free);
			return NULL;
		}
	}
	return out;
}

/* 1 when the session's client may resume: its chain verifies now, under
 * the chain profile, and the revocation hook (if any) agrees. */
static int
resume_allowed(SSL *s, SSL_SESSION *ss)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(s);
	X509 *peer = SSL_SESSION_get0_peer(ss);
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *xs = NULL;
	struct verified_hook *h = hook_idx >= 0 ? SSL_CTX_get_ex_data(ctx,
	    hook_idx) : NULL;
	int ok = 0;

	if (peer == NULL || (untrusted = ticket_chain(ss)) == NULL ||
	    (xs = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx), peer,
		untrusted) != 1 ||
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(xs),
		SSL_CTX_get0_param(ctx)) != 1) {
		goto out;
	}
	/* The same verification as a handshake's: purpose sslclient, the
	 * chain profile and the time now (an expired client stops here). */
	if (X509_verify_cert(xs) != 1 ||
	    mtls_leaf_profile_check(peer, MTLS_LEAF_CLIENT) != NULL ||
	    mtls_chain_names_check(X509_STORE_CTX_get0_chain(xs)) != NULL) {
		goto out;
	}
	ok = h == NULL || h->resumed == NULL ||
	    h->resumed(s, X509_STORE_CTX_get0_chain(xs), h->arg) == 1;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(xs);
	sk_X509_pop_free(untrusted, X509_free);
	return ok;
}

static SSL_TICKET_RETURN
ticket_dec(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
    size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)keyname, (void)keyname_len, (void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		break;
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
	if (!resume_allowed(s, ss)) {
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
	return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
					    : SSL_TICKET_RETURN_USE_RENEW;
}

static int
use_identity(SSL_CTX *ctx, const struct mtls__serve_opts *o,
    struct mtls_err *err)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (mtls_load_certs(o->cert, &certs, err) != 0) {
		return -1;
	}
	key = mtls_load_key(o->key, o->key_pass, err);
	if (key == NULL) {
		goto out;
	}
	if (mtls__ctx_use_chain(ctx, certs, o->cert, err) != 0) {
		goto out;
	}
	if (!mtls_key_matches_cert(key, sk_X509_value(certs, 0))) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "key %s does not belong to certificate %s; give the key "
		    "issued with it", o->key, o->cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "cannot use key %s", o->key);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int
use_ca(SSL_CTX *ctx, const char *path, struct mtls_err *err)
{
	STACK_OF(X509) *cas = NULL;
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	int i, rc = -1;

	if (mtls_load_certs(path, &cas, err) != 0) {
		return -1;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_check_ca(ca) == 0) {
			char *s = mtls_name_format(X509_get_subject_name(ca));

			mtls_err_set(err, MTLS_E_FORMAT,
			    "%s: %s is not a CA certificate; --ca takes the "
			    "CA that issues client certificates", path,
			    s != NULL ? s : "?");
			OPENSSL_free(s);
			goto out;
		}
		/* The store checks the chain; the client CA list names the
		 * CA in the CertificateRequest (RFC 8446 section 4.2.4) so
		 * clients pick the right certificate. */
		if (X509_STORE_add_cert(st, ca) != 1 ||
		    SSL_CTX_add_client_CA(ctx, ca) != 1) {
			mtls_err_ssl(err, MTLS_E_FORMAT, "cannot trust %s", path);
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

SSL_CTX *
mtls__serve_tls_ctx(const struct mtls__serve_opts *o, struct mtls_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	static const unsigned char sid[] = "mtls-serve";

	pthread_once(&tls_once, tls_index_init);
	if (ctx == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_CTX_new");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx,
		"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "configuring TLS");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* Resumption uses stateless tickets (keys die with this context, so
	 * a reload ends resumption of old sessions); no internal cache to
	 * lock or to fill with client certificates. SSL_SESS_CACHE_OFF would
	 * also stop OpenSSL from resuming TLS 1.3 tickets. */
	SSL_CTX_set_session_cache_mode(ctx,
	    SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
	if (SSL_CTX_set_session_ticket_cb(ctx, ticket_gen, ticket_dec,
		NULL) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "setting the ticket checks");
		goto fail;
	}
	if (use_identity(ctx, o, err) != 0 || use_ca(ctx, o->ca, err) != 0) {
		goto fail;
	}
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	if (X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx),
		X509_PURPOSE_SSL_CLIENT) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "setting purpose sslclient");
		goto fail;
	}
	/* The chain profile verify applies; the TLS security level is what
	 * OpenSSL uses as the chain's authentication level in a handshake. */
	mtls_chain_profile_apply(SSL_CTX_get0_param(ctx));
	if (mtls_chain_profile_policies(SSL_CTX_get0_param(ctx), o->policies,
		o->npolicies, o->require_explicit_policy, err) != 0) {
		goto fail;
	}
	SSL_CTX_set_security_level(ctx, MTLS_SECURITY_LEVEL);
	SSL_CTX_set_info_callback(ctx, info_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
#ifndef MTLS_NO_VCACHE /* -DMTLS_NO_VCACHE: for measuring the cache */
	if (use_vcache(ctx, err) != 0) {
		goto fail;
	}
#else
	SSL_CTX_set_cert_verify_callback(ctx, plain_verify, NULL);
#endif
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
