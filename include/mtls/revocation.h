/*
 * mtls/revocation.h - asking an OCSP responder about a certificate over
 * HTTP (RFC 6960 appendix A.1), and fetching a CRL from its distribution
 * point.
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

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- OCSP over HTTP ---- */

/* Asks URL (CERT's AIA OCSP URL when NULL) about CERT from ISSUER with an
 * HTTP POST (RFC 6960 appendix A.1), a nonce when NONCE, within
 * TIMEOUT_MS milliseconds, and checks the answer
 * (mtls_ocsp_response_check). Unreachable, HTTP errors and bad answers
 * are MTLS_E_PEER; no URL at all is MTLS_E_USAGE. */
int mtls_ocsp_query(X509 *cert, X509 *issuer, const char *url, int nonce,
    long timeout_ms, struct mtls_ocsp_result *res, struct mtls_err *err);

/* ---- checking a peer's chain (push, test, doctor; serve has its own
 * options in mtls/serve.h and the same rule) ---- */

/* How a client checks that no certificate of its peer's verified chain
 * (the receiver's) is revoked. Every certificate but the self-signed
 * trust anchor is checked, each against its issuer (RFC 5280 6.3): a
 * revoked intermediate takes everything below it.
 *  - CRL: with NCRL files, each certificate's issuer must have a CRL
 *    among them (fail closed), and the certificate must not be listed.
 *  - OCSP: asked about each certificate that names a responder in its
 *    Authority Information Access when nothing else is configured (no
 *    CRL, no OCSP), and about every one when OCSP is set (the leaf at
 *    OCSP_URL when given). No answer refuses the
 *    peer (fail closed) unless INSECURE_SOFT_FAIL, which accepts it with
 *    a warning; a bad answer (stale, forged) always refuses.
 *  - INSECURE_NO_REVOCATION checks nothing, not even a named responder.
 * All zero: OCSP where the chain names a responder, nothing else.
 * Checks of a resumed TLS session are not repeated. */
struct mtls_revocation_opts {
	const char *const *crl;      /* CRL files (PEM or DER), signed by a CA
	                                of the trust file */
	size_t ncrl;
	int ocsp;                    /* ask OCSP about every certificate */
	const char *ocsp_url;        /* the leaf's responder, or NULL: AIA */
	long ocsp_timeout_ms;        /* per query; 0: 5000 */
	int insecure_soft_fail;      /* no OCSP answer: accept and warn */
	int insecure_no_revocation;  /* check nothing */
};

/* ---- CRLs from a distribution point ---- */

/* The largest CRL mtls_crl_fetch accepts (bytes). */
#define MTLS_CRL_FETCH_MAX (16 * 1024 * 1024)

/* Fetches the CRL(s) at URL, a CRL distribution point: http:// or
 * https:// (one GET, no redirects, within TIMEOUT_MS milliseconds) or
 * file:///PATH; any other scheme (ldap:, ...) is MTLS_E_USAGE. The body
 * (one DER CRL, or PEM blocks) must parse as CRLs and stay under
 * MTLS_CRL_FETCH_MAX. On success *PEM (NUL-terminated, *LEN bytes; free
 * with OPENSSL_free()) holds them as "X509 CRL" PEM blocks, ready to append to a
 * file that mtls_load_crls reads. Unreachable and HTTP errors are
 * MTLS_E_PEER, an unparsable body MTLS_E_FORMAT. */
int mtls_crl_fetch(const char *url, long timeout_ms, char **pem, size_t *len,
    struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
