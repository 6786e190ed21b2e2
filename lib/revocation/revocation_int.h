/*
 * Private to libmtls: the CRL set and the OCSP answer cache behind the
 * receiver's revocation checks (lib/link/server/serve_revocation.c).
 *
 * Policies (docs/revocation.md): a CRL past its nextUpdate is "stale";
 * whether a stale CRL is still enforced or refuses everyone is the
 * caller's choice (mtls serve --crl-stale keep|reject). A certificate
 * whose issuer has no CRL in the set is refused (fail closed).
 */
#ifndef MTLS_REVOCATION_INT_H
#define MTLS_REVOCATION_INT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "mtls/revocation.h"

struct mtls__crlset;
struct mtls__ocsp_cache;

/* Loads every CRL (PEM, several per file, or one DER) in the NFILES files
 * and checks each is signed by one of CAS (RFC 5280 6.3.3 (f)): a CRL
 * from any other issuer, a bad signature or a file without a CRL is an
 * error naming the file. CAS is borrowed only during the call. */
struct mtls__crlset *mtls__crlset_load(const char *const *files,
    size_t nfiles, STACK_OF(X509) *cas, struct mtls_err *err);

void mtls__crlset_free(struct mtls__crlset *s);

/* Number of CRLs, and of revoked entries in them all. */
size_t mtls__crlset_count(const struct mtls__crlset *s);
size_t mtls__crlset_entries(const struct mtls__crlset *s);

enum mtls_crl_answer {
	MTLS_CRL_GOOD,    /* a CRL of its issuer does not list it */
	MTLS_CRL_REVOKED, /* listed: *WHEN and *REASON are set */
	MTLS_CRL_NO_CRL,  /* no CRL of its issuer in the set */
};

/* Looks CERT up by issuer name and serial. REASON is the CRL reason code
 * (RFC 5280 5.3.1), 0 (unspecified) when the entry has none. */
enum mtls_crl_answer mtls__crlset_lookup(const struct mtls__crlset *s,
    X509 *cert, time_t *when, int *reason);

/* The earliest nextUpdate among the CRLs that are past it at NOW, or 0
 * when none is stale. A CRL without nextUpdate is never stale. */
time_t mtls__crlset_stale_since(const struct mtls__crlset *s, time_t now);

/* The earliest nextUpdate in the set (0: none has one). */
time_t mtls__crlset_next_update(const struct mtls__crlset *s);

/* Keeps at most MAX answers (0: 10000), each until its nextUpdate or
 * MAX_AGE seconds after it was stored, whichever is first (an answer
 * without nextUpdate lives MAX_AGE). Thread-safe. */
struct mtls__ocsp_cache *mtls__ocsp_cache_new(size_t max, long max_age);

void mtls__ocsp_cache_free(struct mtls__ocsp_cache *c);

/* 1 and *RES when a fresh answer about (ISSUER, CERT's serial) is kept at
 * NOW, 0 otherwise. */
int mtls__ocsp_cache_get(struct mtls__ocsp_cache *c, X509 *cert,
    X509 *issuer, time_t now, struct mtls_ocsp_result *res);

/* Stores RES about (ISSUER, CERT's serial), received at NOW. "unknown"
 * answers are not kept. Returns 0, or -1 when out of memory. */
int mtls__ocsp_cache_put(struct mtls__ocsp_cache *c, X509 *cert,
    X509 *issuer, time_t now, const struct mtls_ocsp_result *res);

/* mtls_ocsp_response_check and mtls_ocsp_query with the freshness
 * limits of mtls_ocsp_result_fresh (MAX_AGE 0, SKEW -1: the defaults). */
int mtls__ocsp_response_check_lim(const unsigned char *der, size_t len,
    OCSP_REQUEST *req, X509 *cert, X509 *issuer, time_t at, long max_age,
    long skew, struct mtls_ocsp_result *res, struct mtls_err *err);
int mtls__ocsp_query_lim(X509 *cert, X509 *issuer, const char *url,
    int nonce, long timeout_ms, long max_age, long skew,
    struct mtls_ocsp_result *res, struct mtls_err *err);

/* Answers kept now (expired ones included until replaced). */
size_t mtls__ocsp_cache_size(struct mtls__ocsp_cache *c);

/* A response body fetched by mtls__revocation_http: DATA (NUL-terminated,
 * the caller frees it), LEN bytes; more than MAX bytes sets TOO_BIG. */
struct mtls__fetched {
	unsigned char *data;
	size_t len;
	size_t max;
	int too_big;
};

/* One HTTP(S) exchange with URL (checked by the one URL rule; http and
 * https only; no redirects; TIMEOUT_MS in all): a POST of BODY (BODY_LEN
 * bytes, Content-Type CTYPE) or, with BODY NULL, a GET. The answer must
 * be 200; its body lands in *F. WHAT names the URL's role in messages
 * ("OCSP responder", "CRL distribution point"). */
int mtls__revocation_http(const char *what, const char *url,
    const char *ctype, const unsigned char *body, size_t body_len,
    long timeout_ms, struct mtls__fetched *f, struct mtls_err *err);

#endif
