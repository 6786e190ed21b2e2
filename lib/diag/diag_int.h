/* Helpers private to the diagnostics modules (report, certcheck, probe,
 * doctor). */
#ifndef MTLS_DIAG_INT_H
#define MTLS_DIAG_INT_H

#include <jansson.h>
#include <openssl/x509.h>

#include "mtls/diag.h"
#include "mtls/err.h"

/* ---- report.c ---- */
struct mtls_report *mtls__report_new(void);

/* Adds a finding; FIX and SUBJECT may be NULL. Allocation failures are
 * recorded as a lost finding rather than aborting the diagnosis. */
void mtls__report_add(struct mtls_report *r, enum mtls_severity sev,
    const char *key, const char *subject, const char *fix, const char *fmt,
    ...) MTLS_PRINTF(6, 7);

/* Adds a human-readable detail line. */
void mtls__report_line(struct mtls_report *r, const char *fmt, ...)
    MTLS_PRINTF(2, 3);

/* The JSON details object (borrowed) that mtls_report_json prints. */
json_t *mtls__report_json(struct mtls_report *r);

/* ---- certcheck.c: checks shared by probe and doctor ---- */

/* Days from now until T (negative when past); *OK = 0 for a bad date. */
long mtls__cert_days_until(const ASN1_TIME *t, int *ok);


/* Detail lines describing X, prefixed by PREFIX ("  [0] "). */
void mtls__cert_lines(struct mtls_report *r, X509 *x, const char *prefix);

/* Validity: expired / not yet valid (error), within WARN_DAYS (warn), or
 * ok. WHAT names it in messages ("client certificate client.crt"),
 * KEYPFX prefixes the finding keys ("client_cert" -> client_cert_expired). */
void mtls__check_validity(struct mtls_report *r, X509 *x, const char *subject,
    const char *what, const char *keypfx, int warn_days);

/* EKU bits: 1 = serverAuth allowed, 2 = clientAuth allowed (an absent
 * extension allows both). */
int mtls__cert_eku_roles(X509 *x);

/* "serverAuth, clientAuth" or "(any: no EKU extension)". */
void mtls__cert_eku_describe(X509 *x, char *buf, size_t len);

/* Weak algorithms: RSA/DSA below 2048 bits, SHA-1 or MD5 signatures on
 * certificates other than self-signed roots. */
void mtls__check_weak(struct mtls_report *r, X509 *x, const char *subject,
    const char *what, const char *keypfx);

/* True when X's subject equals its issuer and it verifies itself. */
int mtls__cert_self_signed(X509 *x);

/* "CN=x, O=y" (caller frees with OPENSSL_free); never NULL on success. */
char *mtls__cert_subject(X509 *x);
char *mtls__cert_issuer(X509 *x);

/* True when HOST (a DNS name or IP literal) is among X's names.
 * *CN_ONLY is set when it matches only the subject CN (no SAN). */
int mtls__cert_name_matches(X509 *x, const char *host, int *cn_only);

/* An X509_STORE_CTX verify callback that lets expiry pass: validity is
 * judged per certificate by mtls__check_validity (with days left), and a trust
 * problem behind an expired certificate must still be found. */
int mtls__verify_ignore_time_cb(int ok, X509_STORE_CTX *ctx);

/* "dns:a,ip:b" or "" (caller frees with free()). */
char *mtls__cert_sans(X509 *x);

#endif
