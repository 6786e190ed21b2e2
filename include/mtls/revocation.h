/*
 * mtls/revocation.h - revocation checks a server applies to its clients:
 * a set of CRLs verified against the trusted CAs (with staleness), and a
 * cache of OCSP answers keyed by (issuer, serial).
 *
 * Policies (docs/revocation.md): a CRL past its nextUpdate is "stale";
 * whether a stale CRL is still enforced or refuses everyone is the
 * caller's choice (mtls serve --crl-stale keep|reject). A certificate
 * whose issuer has no CRL in the set is refused (fail closed).
 */
#ifndef MTLS_REVOCATION_H
#define MTLS_REVOCATION_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/ocsp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CRL sets ---- */

struct mtls_crlset;

/* Loads every CRL (PEM, several per file, or one DER) in the NFILES files
 * and checks each is signed by one of CAS (RFC 5280 6.3.3 (f)): a CRL
 * from any other issuer, a bad signature or a file without a CRL is an
 * error naming the file. CAS is borrowed only during the call. */
struct mtls_crlset *mtls_crlset_load(const char *const *files,
    size_t nfiles, STACK_OF(X509) *cas, struct mtls_err *err);

void mtls_crlset_free(struct mtls_crlset *s);

/* Number of CRLs, and of revoked entries in them all. */
size_t mtls_crlset_count(const struct mtls_crlset *s);
size_t mtls_crlset_entries(const struct mtls_crlset *s);

enum mtls_crl_answer {
	MTLS_CRL_GOOD,    /* a CRL of its issuer does not list it */
	MTLS_CRL_REVOKED, /* listed: *WHEN and *REASON are set */
	MTLS_CRL_NO_CRL,  /* no CRL of its issuer in the set */
};

/* Looks CERT up by issuer name and serial. REASON is the CRL reason code
 * (RFC 5280 5.3.1), 0 (unspecified) when the entry has none. */
enum mtls_crl_answer mtls_crlset_lookup(const struct mtls_crlset *s,
    X509 *cert, time_t *when, int *reason);

/* The earliest nextUpdate among the CRLs that are past it at NOW, or 0
 * when none is stale. A CRL without nextUpdate is never stale. */
time_t mtls_crlset_stale_since(const struct mtls_crlset *s, time_t now);

/* The earliest nextUpdate in the set (0: none has one). */
time_t mtls_crlset_next_update(const struct mtls_crlset *s);

/* ---- OCSP answers cache ---- */

struct mtls_ocsp_cache;

/* Keeps at most MAX answers (0: 10000), each until its nextUpdate or
 * MAX_AGE seconds after it was stored, whichever is first (an answer
 * without nextUpdate lives MAX_AGE). Thread-safe. */
struct mtls_ocsp_cache *mtls_ocsp_cache_new(size_t max, long max_age);

void mtls_ocsp_cache_free(struct mtls_ocsp_cache *c);

/* 1 and *RES when a fresh answer about (ISSUER, CERT's serial) is kept at
 * NOW, 0 otherwise. */
int mtls_ocsp_cache_get(struct mtls_ocsp_cache *c, X509 *cert,
    X509 *issuer, time_t now, struct mtls_ocsp_result *res);

/* Stores RES about (ISSUER, CERT's serial), received at NOW. "unknown"
 * answers are not kept. Returns 0, or -1 when out of memory. */
int mtls_ocsp_cache_put(struct mtls_ocsp_cache *c, X509 *cert,
    X509 *issuer, time_t now, const struct mtls_ocsp_result *res);

/* Answers kept now (expired ones included until replaced). */
size_t mtls_ocsp_cache_size(struct mtls_ocsp_cache *c);

/* ---- OCSP over HTTP ---- */

/* Asks URL (CERT's AIA OCSP URL when NULL) about CERT from ISSUER with an
 * HTTP POST (RFC 6960 appendix A.1), a nonce when NONCE, within
 * TIMEOUT_MS milliseconds, and checks the answer
 * (mtls_ocsp_response_check). Unreachable, HTTP errors and bad answers
 * are MTLS_E_PEER; no URL at all is MTLS_E_USAGE. */
int mtls_ocsp_query(X509 *cert, X509 *issuer, const char *url, int nonce,
    long timeout_ms, struct mtls_ocsp_result *res, struct mtls_err *err);

#ifdef __cplusplus
}
#endif
#endif
