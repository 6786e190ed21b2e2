/*
 * mtls/explain.h - one place that turns OpenSSL's verification results and
 * TLS alerts into our own sentences. `verify`, `serve`'s log, `test`,
 * `probe` and `doctor` all use it, so one cause reads the same everywhere.
 */
#ifndef MTLS_EXPLAIN_H
#define MTLS_EXPLAIN_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* A short reason for an X509_V_ERR_* code ("unknown issuer"); never NULL. */
const char *mtls_explain_verify_code(long code);

/* A stable machine-friendly key for metrics ("unknown_issuer"). */
const char *mtls_explain_verify_key(long code);

/* A whole sentence for a failed verification of CERT at DEPTH (0 = leaf):
 * "certificate CN=x (serial 0A..) expired on 2026-01-02 10:00:00 UTC".
 * CERT may be NULL. Writes into BUF. */
void mtls_explain_verify_failure(long code, X509 *cert, int depth, char *buf,
    size_t len);

/* What a TLS alert (RFC 8446 section 6) received from the peer most
 * likely means, in words ("the peer rejected our certificate"). */
const char *mtls_explain_alert(int alert_description);

/* A stable key for a TLS alert ("unknown_ca", "certificate_required"). */
const char *mtls_explain_alert_key(int alert_description);

/* What to do when the peer sent ALERT in answer to our certificate (or
 * its absence); never NULL. */
const char *mtls_explain_alert_fix(int alert_description);

/* What to do about CODE, or NULL when there is nothing specific. */
const char *mtls_explain_verify_fix(long code);

/* ASN1_TIME as "2026-01-02 10:00:00 UTC" into BUF. */
void mtls_time_format(const ASN1_TIME *t, char *buf, size_t len);

/* "certificate CN=x (serial 01) revoked on DATE (keyCompromise)": the one
 * wording of a revocation, from a CRL entry or an OCSP answer. REASON is
 * the CRL reason code (RFC 5280 5.3.1); WHEN 0 leaves the date out. */
void mtls_explain_revoked(X509 *cert, time_t when, int reason, char *buf,
    size_t len);

/* Roles for mtls_explain_peer_failure: what the peer's certificate was
 * being checked for. */
enum mtls_peer_role { MTLS_PEER_CLIENT, MTLS_PEER_SERVER };

/* The reason a server gives when the client sent no certificate. */
#define MTLS_EXPLAIN_NO_CLIENT_CERT "no certificate sent"

/* Like mtls_explain_verify_failure, for the peer's certificate checked in
 * ROLE: a leaf whose extended key usage lacks clientAuth (serverAuth) reads
 * "certificate CN=x (serial 01) is not a client certificate (...)". */
void mtls_explain_peer_failure(long code, X509 *cert, int depth,
    enum mtls_peer_role role, char *buf, size_t len);

/* Stable metric key for the same failure ("not_client_cert", else as
 * mtls_explain_verify_key). */
const char *mtls_explain_peer_key(long code, int depth,
    enum mtls_peer_role role);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
