/* OCSP over HTTP for the mtls tool: one query with libcurl, and the
 * revocation step of `mtls verify --ocsp`. */
#ifndef MTLS_OCSP_FETCH_H
#define MTLS_OCSP_FETCH_H

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/ocsp.h"

/* Asks URL (CERT's AIA OCSP URL when NULL) about CERT from ISSUER with an
 * HTTP POST (RFC 6960 appendix A.1), a nonce unless NO_NONCE, and checks
 * the answer (mtls_ocsp_response_check). TIMEOUT in seconds. */
int ocsp_query(X509 *cert, X509 *issuer, const char *url, int no_nonce,
    long timeout, struct mtls_ocsp_result *res, struct mtls_err *err);

/* The issuer of LEAF among CANDIDATES (NULL-safe), or NULL. Borrowed. */
X509 *ocsp_find_issuer(X509 *leaf, STACK_OF(X509) *candidates);

/* For `mtls verify --ocsp`: asks OCSP about LEAF and every CA above it
 * but the anchor (issuers from CHAIN or the certs of CA_FILE), each at
 * URL or its own AIA URL, as serve checks a client's chain; fails with
 * MTLS_E_VERIFY and "certificate SUBJECT (serial S) revoked on DATE
 * (reason)" for the first one revoked, or a sentence when unknown or
 * unanswered. */
int ocsp_verify_step(X509 *leaf, STACK_OF(X509) *chain, const char *ca_file,
    const char *url, struct mtls_err *err);

#endif
