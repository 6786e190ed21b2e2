/* The one rule for checking the revocation of a peer's verified chain,
 * shared by the receiver (lib/link/server/serve_revocation.c, which
 * brings its own CRL reloads and OCSP cache) and the clients: push (the
 * agent), the connection test and doctor. Private to libmtls. */
#ifndef MTLS_DIAG_REVCHECK_H
#define MTLS_DIAG_REVCHECK_H

#include <stddef.h>

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/revocation.h"

/* Checks CERT (at DEPTH of the chain, 0 the leaf) against ISSUER (NULL
 * when the chain does not hold it); 0 passes, non-zero stops the walk. */
typedef int mtls__rev_one_fn(X509 *cert, X509 *issuer, int depth,
    void *arg);

/* The walk: every certificate of CHAIN (leaf first, as verified) but a
 * self-signed trust anchor, each with its issuer, leaf first; LEAF_ONLY
 * stops after the leaf (an insecure option of serve). Returns the first
 * non-zero return of ONE, or 0. */
int mtls__rev_walk(STACK_OF(X509) *chain, int leaf_only,
    mtls__rev_one_fn *one, void *arg);

struct mtls__revcheck;

/* A checker for O (copied; CRL files loaded now, each checked to be
 * signed by one of CAS). NULL with ERR on a bad CRL file. A checker
 * whose options check nothing is still returned; it passes everything. */
struct mtls__revcheck *mtls__revcheck_new(const struct mtls_revocation_opts *o,
    STACK_OF(X509) *cas, struct mtls_err *err);
void mtls__revcheck_free(struct mtls__revcheck *rc);

/* 1 when RC may check something for some chain (not insecure_no_revocation). */
int mtls__revcheck_active(const struct mtls__revcheck *rc);

/* Checks CHAIN (verified; leaf first) under RC's options. 0: nothing is
 * revoked (NOTE, when non-NULL, then says what was checked, or names a
 * certificate accepted unchecked under insecure_soft_fail, with
 * "INSECURE"); -1: MTLS_E_VERIFY with the sentence naming the certificate
 * and the rule (revoked, no CRL of its issuer, no OCSP answer, a bad
 * answer). Thread-safe: one checker serves many connections. */
int mtls__revcheck_chain(const struct mtls__revcheck *rc,
    STACK_OF(X509) *chain, char *note, size_t note_len, struct mtls_err *err);

/* mtls__revcheck_chain; on -1, *REFUSED_DEPTH gets the depth of the
 * certificate refused (0 the leaf), so a caller that reported the leaf's
 * revocation already can tell a second report of it from news. */
int mtls__revcheck_chain_at(const struct mtls__revcheck *rc,
    STACK_OF(X509) *chain, char *note, size_t note_len, int *refused_depth,
    struct mtls_err *err);

#endif
