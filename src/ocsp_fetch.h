/* OCSP for `mtls ocsp check`: one query, and finding the issuer. (`mtls
 * verify --ocsp` checks the whole chain in the library, with serve's walk.) */
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

#endif
