/* The receiver's revocation checks: CRLs (reloaded when their files
 * change), OCSP with a cache, and the session-resumption guard. See
 * docs/revocation.md for the policies. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"
#include "base/clock.h"
#include "diag/revcheck.h"
#include "link/server/serve_int.h"
#include "link/server/serve_rev.h"
#include "revocation/revocation_int.h"

struct filesig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int missing;
};

struct serve_rev {
	struct serve *srv;
	pthread_rwlock_t lock;      /* guards crls and cas */
	struct mtls__crlset *crls;   /* NULL without --crl */
	STACK_OF(X509) *cas;        /* --ca, for OCSP issuers */
	struct filesig *sig;        /* one per CRL file */
	atomic_long stale_since;    /* 0: fresh */
	atomic_ulong crl_reloads, crl_reload_failures;
	atomic_ulong ocsp_queries, ocsp_failures, ocsp_cache_hits;
	atomic_ulong resume_refused;
	struct mtls__ocsp_cache *cache; /* NULL without --ocsp */
	long ocsp_timeout_ms;
};

static void
filesig_of(const char *path, struct filesig *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0) {
		s->missing = 1;
		return;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
}

static int
filesig_eq(const struct filesig *a, const struct filesig *b)
{
	return a->missing == b->missing && a->dev == b->dev &&
	    a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void
date_of(time_t t, char *buf, size_t len)
{
	mtls__time_format(t, MTLS__TIME_HUMAN, buf, len);
}

/* Loads the CA file and the CRLs into a fresh pair; swaps them in. */
static int
rev_load(struct serve_rev *rev, struct mtls_err *err)
{
	const struct mtls__serve_opts *o = &rev->srv->opts;
	STACK_OF(X509) *cas = NULL;
	struct mtls__crlset *crls = NULL;
	size_t i;

	for (i = 0; i < o->ncrl; i++) {
		filesig_of(o->crl[i], &rev->sig[i]);
	}
	if (mtls_load_certs(o->ca, &cas, err) != 0) {
		return -1;
	}
	if (o->ncrl > 0) {
		crls = mtls__crlset_load(o->crl, o->ncrl, cas, err);
		if (crls == NULL) {
			sk_X509_pop_free(cas, X509_free);
			return -1;
		}
	}
	pthread_rwlock_wrlock(&rev->lock);
	mtls__crlset_free(rev->crls);
	sk_X509_pop_free(rev->cas, X509_free);
	rev->crls = crls;
	rev->cas = cas;
	pthread_rwlock_unlock(&rev->lock);
	return 0;
}

static void
log_crls(struct serve_rev *rev, const char *what)
{
	char next[64] = "none";
	time_t nu;

	pthread_rwlock_rdlock(&rev->lock);
	nu = mtls__crlset_next_update(rev->crls);
	if (nu != 0) {
		date_of(nu, next, sizeof(next));
	}
	mtls__serve_log(rev->srv, "info", "%s: %zu CRL%s with %zu revoked "
	    "certificates (next update %s; stale CRLs: %s)", what,
	    mtls__crlset_count(rev->crls),
	    mtls__crlset_count(rev->crls) == 1 ? "" : "s",
	    mtls__crlset_entries(rev->crls), next,
	    rev->srv->opts.crl_stale_reject ? "refuse every client"
					    : "keep enforcing, warn");
	pthread_rwlock_unlock(&rev->lock);
}

int
mtls__serve_rev_start(struct serve *srv, struct mtls_err *err)
{
	const struct mtls__serve_opts *o = &srv->opts;
	struct serve_rev *rev;

	if (o->ncrl == 0 && !o->ocsp) {
		return 0;
	}
	rev = calloc(1, sizeof(*rev));
	if (rev == NULL || (rev->sig = calloc(o->ncrl + 1,
				sizeof(*rev->sig))) == NULL) {
		free(rev);
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	rev->srv = srv;
	pthread_rwlock_init(&rev->lock, NULL);
	rev->ocsp_timeout_ms = (long)((o->ocsp_timeout > 0 ? o->ocsp_timeout
							  : 2) * 1000);
	if (o->ocsp) {
		rev->cache = mtls__ocsp_cache_new(0, o->ocsp_max_age);
		if (rev->cache == NULL) {
			mtls__serve_rev_free(rev);
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
	}
	if (rev_load(rev, err) != 0) {
		mtls__serve_rev_free(rev);
		return -1;
	}
	srv->rev = rev;
	if (o->ncrl > 0) {
		log_crls(rev, "revocation");
	}
	if (o->ocsp) {
		mtls__serve_log(srv, o->insecure_ocsp_fail_open ? "warning" : "info",
		    "revocation: OCSP at %s, answers cached until their "
		    "nextUpdate (at most %ld s), %s, %ld s clock skew, %.1f s "
		    "timeout, unreachable responder: %s", o->ocsp_url != NULL
		    ? o->ocsp_url : "the URL in each certificate",
		    o->ocsp_max_age > 0 ? o->ocsp_max_age : 3600,
		    o->ocsp_max_age > 0 ? "every answer's thisUpdate at most "
		    "that old" : "an answer without nextUpdate at most 3600 s old",
		    o->ocsp_clock_skew > 0 ? o->ocsp_clock_skew
		    : (long)MTLS_OCSP_DEFAULT_SKEW,
		    (double)rev->ocsp_timeout_ms / 1000, o->insecure_ocsp_fail_open
		    ? "INSECURE: accept unchecked and warn "
		      "(--insecure-ocsp-fail-open)" : "refuse (fail-closed)");
	}
	if (o->insecure_revocation_leaf_only) {
		mtls__serve_log(srv, "warning", "revocation: INSECURE: only client "
		    "certificates are checked, not their intermediate CAs "
		    "(--insecure-revocation-leaf-only): a revoked intermediate "
		    "still admits every certificate it issued");
	}
	mtls__serve_rev_tick(srv, 0);
	return 0;
}

void
mtls__serve_rev_free(struct serve_rev *rev)
{
	if (rev == NULL) {
		return;
	}
	mtls__crlset_free(rev->crls);
	sk_X509_pop_free(rev->cas, X509_free);
	mtls__ocsp_cache_free(rev->cache);
	pthread_rwlock_destroy(&rev->lock);
	free(rev->sig);
	free(rev);
}

void
mtls__serve_rev_tick(struct serve *srv, int force)
{
	struct serve_rev *rev = srv->rev;
	struct mtls_err err = {MTLS_OK, ""};
	struct filesig now_sig;
	char since[64];
	int changed = force;
	time_t stale;
	size_t i;

	if (rev == NULL) {
		return;
	}
	for (i = 0; i < srv->opts.ncrl; i++) {
		filesig_of(srv->opts.crl[i], &now_sig);
		if (!filesig_eq(&now_sig, &rev->sig[i])) {
			changed = 1;
		}
	}
	if (changed && (srv->opts.ncrl > 0 || force)) {
		if (rev_load(rev, &err) != 0) {
			atomic_fetch_add(&rev->crl_reload_failures, 1);
			/* Once per change: a CRL being rewritten is retried
			 * at the next change, the old one stays in force. */
			mtls__serve_log(srv, "error", "CRL reload failed, still "
			    "enforcing the previous CRLs: %s", err.msg);
		} else if (srv->opts.ncrl > 0) {
			atomic_fetch_add(&rev->crl_reloads, 1);
			log_crls(rev, force ? "SIGHUP: reloaded CRLs"
					    : "CRL file changed: reloaded");
		}
	}
	pthread_rwlock_rdlock(&rev->lock);
	stale = mtls__crlset_stale_since(rev->crls, time(NULL));
	pthread_rwlock_unlock(&rev->lock);
	if (stale != 0 && atomic_load(&rev->stale_since) == 0) {
		date_of(stale, since, sizeof(since));
		mtls__serve_log(srv, "warning", "the CRL is past its next update (%s): "
		    "%s; publish a fresh one (mtls crl)", since,
		    srv->opts.crl_stale_reject
		    ? "refusing every client (--crl-stale reject)"
		    : "still enforcing it (--crl-stale keep)");
	}
	atomic_store(&rev->stale_since, (long)stale);
}

/* ---- the checks ---- */

struct verdict {
	const char *key; /* NULL: accept */
	long code;       /* X509_V_ERR_* for the alert */
	char why[SERVE_REASON_MAX];
};

static void
refuse(struct verdict *v, const char *key, long code, const char *fmt, ...)
    MTLS_PRINTF(4, 5);

static void
refuse(struct verdict *v, const char *key, long code, const char *fmt, ...)
{
	va_list ap;

	v->key = key;
	v->code = code;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

static void
check_crl(struct serve_rev *rev, X509 *leaf, struct verdict *v)
{
	time_t when = 0, stale = (time_t)atomic_load(&rev->stale_since);
	int reason = 0;
	char since[64];
	char *iss;

	if (stale != 0 && rev->srv->opts.crl_stale_reject) {
		date_of(stale, since, sizeof(since));
		refuse(v, "crl_stale", X509_V_ERR_CRL_HAS_EXPIRED,
		    "the CRL is past its next update (%s) and --crl-stale is "
		    "reject: every client is refused until a fresh CRL is "
		    "published (mtls crl)", since);
		return;
	}
	pthread_rwlock_rdlock(&rev->lock);
	switch (mtls__crlset_lookup(rev->crls, leaf, &when, &reason)) {
	case MTLS_CRL_GOOD:
		break;
	case MTLS_CRL_REVOKED:
		refuse(v, "revoked", X509_V_ERR_CERT_REVOKED, "%s", "");
		mtls_explain_revoked(leaf, when, reason, v->why,
		    sizeof(v->why));
		break;
	case MTLS_CRL_NO_CRL:
	default:
		iss = mtls_name_format(X509_get_issuer_name(leaf));
		refuse(v, "no_crl", X509_V_ERR_UNABLE_TO_GET_CRL,
		    "no CRL of the issuer %s in --crl: its certificates cannot "
		    "be checked, so they are refused; add that CA's CRL",
		    iss != NULL ? iss : "?");
		OPENSSL_free(iss);
		break;
	}
	pthread_rwlock_unlock(&rev->lock);
}

/* The issuer of LEAF among the --ca certificates (up-referenced). */
static X509 *
find_issuer(struct serve_rev *rev, X509 *leaf)
{
	X509 *found = NULL;
	int i;

	pthread_rwlock_rdlock(&rev->lock);
	for (i = 0; i < sk_X509_num(rev->cas); i++) {
		X509 *c = sk_X509_value(rev->cas, i);

		if (X509_check_issued(c, leaf) == X509_V_OK) {
			found = c;
			X509_up_ref(found);
			break;
		}
	}
	pthread_rwlock_unlock(&rev->lock);
	return found;
}

/* ONLINE 0: only the cache may answer (resumption); a miss sets *MISS. */
static void
check_ocsp(struct serve_rev *rev, X509 *leaf, X509 *chain_issuer, int depth,
    int online, int *miss, struct verdict *v)
{
	const struct mtls__serve_opts *o = &rev->srv->opts;
	struct mtls_err err = {MTLS_OK, ""};
	struct mtls_ocsp_result res;
	X509 *issuer = chain_issuer != NULL && X509_up_ref(chain_issuer) == 1
	    ? chain_issuer : find_issuer(rev, leaf);
	char *subj = NULL, *serial = NULL;
	time_t now = time(NULL);
	long skew = o->ocsp_clock_skew > 0 ? o->ocsp_clock_skew : -1;

	if (issuer == NULL) {
		refuse(v, "ocsp_no_issuer", X509_V_ERR_OCSP_VERIFY_FAILED,
		    "cannot ask OCSP: the issuer of the certificate is not in "
		    "--ca");
		return;
	}
	/* A kept answer is held to the same freshness as a new one: it
	 * ages in the cache. */
	if (mtls__ocsp_cache_get(rev->cache, leaf, issuer, now, &res) &&
	    mtls_ocsp_result_fresh(&res, now, o->ocsp_max_age, skew,
		&err) == 0) {
		atomic_fetch_add(&rev->ocsp_cache_hits, 1);
	} else if (!online) {
		*miss = 1;
		goto out;
	} else {
		atomic_fetch_add(&rev->ocsp_queries, 1);
		/* No nonce: RFC 5019 responders pre-sign, and the answer
		 * is cached anyway; the signature and dates are checked. */
		/* --ocsp-url names the responder of the client certificates'
		 * CA; an intermediate is asked about at its own AIA URL. */
		err.code = MTLS_OK;
		if (mtls__ocsp_query_lim(leaf, issuer, depth == 0 ? o->ocsp_url
			: NULL, 0, rev->ocsp_timeout_ms, o->ocsp_max_age, skew,
			&res, &err) != 0) {
			atomic_fetch_add(&rev->ocsp_failures, 1);
			subj = mtls_name_format(X509_get_subject_name(leaf));
			serial = mtls_cert_serial_hex(leaf);
			/* An answer that came but is stale, forged or about
			 * another certificate is refused even fail-open: only
			 * an absent answer is what fail-open forgives. */
			if (err.code == MTLS_E_VERIFY) {
				refuse(v, "ocsp_bad_answer", X509_V_ERR_OCSP_VERIFY_FAILED,
				    "certificate %s (serial %s): OCSP answer refused: %s",
				    subj ? subj : "?", serial ? serial : "?", err.msg);
				goto out;
			}
			if (o->insecure_ocsp_fail_open) {
				mtls__serve_log(rev->srv, "warning", "certificate %s "
				    "(serial %s) accepted unchecked: OCSP "
				    "responder unreachable (fail-open): %s",
				    subj ? subj : "?", serial ? serial : "?",
				    err.msg);
				goto out;
			}
			refuse(v, "ocsp_unreachable", X509_V_ERR_OCSP_VERIFY_NEEDED,
			    "certificate %s (serial %s): OCSP responder "
			    "unreachable (fail-closed): %s", subj ? subj : "?",
			    serial ? serial : "?", err.msg);
			goto out;
		}
		mtls__ocsp_cache_put(rev->cache, leaf, issuer, now, &res);
	}
	if (res.status == MTLS_OCSP_REVOKED) {
		refuse(v, "revoked", X509_V_ERR_CERT_REVOKED, "%s", "");
		mtls_explain_revoked(leaf, res.revoked_at,
		    res.reason >= 0 ? res.reason : 0, v->why, sizeof(v->why));
	} else if (res.status != MTLS_OCSP_GOOD) {
		subj = mtls_name_format(X509_get_subject_name(leaf));
		serial = mtls_cert_serial_hex(leaf);
		refuse(v, "ocsp_unknown", X509_V_ERR_OCSP_CERT_UNKNOWN,
		    "certificate %s (serial %s) is unknown to the OCSP "
		    "responder (not issued by the CA it serves?)",
		    subj ? subj : "?", serial ? serial : "?");
	}
out:
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	X509_free(issuer);
}

static void
check(struct serve_rev *rev, X509 *cert, X509 *issuer, int depth, int online,
    int *miss, struct verdict *v)
{
	v->key = NULL;
	if (rev->srv->opts.ncrl > 0) {
		check_crl(rev, cert, v);
	}
	if (v->key == NULL && rev->cache != NULL) {
		check_ocsp(rev, cert, issuer, depth, online, miss, v);
	}
}

struct chain_walk {
	struct serve_rev *rev;
	int online, *miss;
	struct verdict *v;
};

static int
check_one(X509 *cert, X509 *issuer, int depth, void *arg)
{
	struct chain_walk *w = arg;

	check(w->rev, cert, issuer, depth, w->online, w->miss, w->v);
	return w->v->key != NULL || *w->miss;
}

/* Every certificate of CHAIN (leaf first) but a self-signed trust anchor,
 * each against its issuer's CRL and OCSP: a revoked intermediate takes
 * every certificate below it with it (RFC 5280 6.3). The walk is the one
 * the clients (push, test, doctor) use on a receiver's chain. */
static void
check_chain(struct serve_rev *rev, STACK_OF(X509) *chain, int online,
    int *miss, struct verdict *v)
{
	struct chain_walk w = {rev, online, miss, v};

	v->key = NULL;
	(void)mtls__rev_walk(chain, rev->srv->opts.insecure_revocation_leaf_only,
	    check_one, &w);
}

/* The post-verification hook (mtls__serve_tls_hooks) with the result RC
 * of the certificate verification, cached or not: returns RC, or 0 when
 * a certificate of the chain is revoked or cannot be checked under the
 * policy (the reason goes to the connection's log line). */
static int
rev_verified(X509_STORE_CTX *xs, int rc, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct serve_rev *rev = arg;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
	struct serve_conn *c;
	struct verdict v;
	int miss = 0;

	if (rc != 1 || ssl == NULL) {
		return rc;
	}
	if (sk_X509_num(chain) < 1) {
		/* Never accept what could not be checked. */
		refuse(&v, "no_chain", X509_V_ERR_UNSPECIFIED, "the verified "
		    "chain is missing, so revocation cannot be checked");
	} else {
		check_chain(rev, chain, 1, &miss, &v);
	}
	if (v.key == NULL) {
		return 1;
	}
	c = mtls__serve_conn_get(ssl);
	if (c != NULL) {
		mtls__serve_conn_fail(c, v.key, "%s", v.why);
	}
	X509_STORE_CTX_set_error(xs, (int)v.code);
	return 0;
}

/* Before a session resumes (see serve_tls.c): the chain, verified again,
 * goes through the same checks, OCSP from the cache only; a refusal or a
 * cache miss means a full handshake, which checks online and logs why. */
static int
rev_resumed(SSL *ssl, STACK_OF(X509) *chain, void *arg)
{
	struct serve_rev *rev = arg;
	struct verdict v;
	int miss = 0;

	(void)ssl;
	check_chain(rev, chain, 0, &miss, &v);
	if (v.key != NULL) {
		atomic_fetch_add(&rev->resume_refused, 1);
		return 0;
	}
	return !miss;
}

int
mtls__serve_rev_attach(struct serve_rev *rev, SSL_CTX *ctx)
{
	if (rev == NULL) {
		return 0;
	}
	if (mtls__serve_tls_hooks(ctx, rev_verified, rev_resumed, rev) != 0) {
		/* Without the hook revoked clients would pass: stop. */
		mtls__serve_log(rev->srv, "error", "cannot attach the revocation "
		    "checks to the TLS context");
		return -1;
	}
	return 0;
}

void
mtls__serve_rev_metrics(struct serve_rev *rev, struct evbuffer *out)
{
	if (rev == NULL) {
		return;
	}
	evbuffer_add_printf(out,
	    "# HELP mtls_crl_stale 1 when a loaded CRL is past its "
	    "nextUpdate.\n# TYPE mtls_crl_stale gauge\nmtls_crl_stale %d\n"
	    "# HELP mtls_crl_reloads_total CRL reloads (file change or "
	    "SIGHUP).\n# TYPE mtls_crl_reloads_total counter\n"
	    "mtls_crl_reloads_total %lu\n"
	    "# HELP mtls_crl_reload_failures_total CRL reloads refused.\n"
	    "# TYPE mtls_crl_reload_failures_total counter\n"
	    "mtls_crl_reload_failures_total %lu\n"
	    "# HELP mtls_ocsp_queries_total OCSP queries sent.\n"
	    "# TYPE mtls_ocsp_queries_total counter\n"
	    "mtls_ocsp_queries_total %lu\n"
	    "# HELP mtls_ocsp_failures_total OCSP queries without an answer.\n"
	    "# TYPE mtls_ocsp_failures_total counter\n"
	    "mtls_ocsp_failures_total %lu\n"
	    "# HELP mtls_ocsp_cache_hits_total Client certificates answered "
	    "from the OCSP cache.\n# TYPE mtls_ocsp_cache_hits_total counter\n"
	    "mtls_ocsp_cache_hits_total %lu\n"
	    "# HELP mtls_resumptions_refused_total Session resumptions of "
	    "refused (revoked) clients turned into full handshakes.\n"
	    "# TYPE mtls_resumptions_refused_total counter\n"
	    "mtls_resumptions_refused_total %lu\n",
	    atomic_load(&rev->stale_since) != 0,
	    atomic_load(&rev->crl_reloads),
	    atomic_load(&rev->crl_reload_failures),
	    atomic_load(&rev->ocsp_queries), atomic_load(&rev->ocsp_failures),
	    atomic_load(&rev->ocsp_cache_hits),
	    atomic_load(&rev->resume_refused));
}
