/* The ACME server's state in the CA's inventory (schema version 3):
 * accounts, orders and authorizations as JSON documents keyed by kind and
 * id, account keys by JWK thumbprint, EAB keys, and the account behind
 * each certificate. Private to libmtls (lib/online uses it). Writes join
 * the caller's mtls_ca_begin/commit transaction when one is open. */
#ifndef MTLS_ACME_STORE_H
#define MTLS_ACME_STORE_H

#include <stddef.h>
#include <time.h>

#include "mtls/acme.h"
#include "mtls/ca.h"

/* The EAB key KID: its HMAC key (decoded, up to *KLEN bytes; *KLEN gets
 * the length), its allow list and the account it already made ("" when
 * none). MTLS_E_NOTFOUND when unknown or revoked. */
int mtls__acme_eab_get(struct mtls_ca *ca, const char *kid,
    unsigned char *key, size_t *klen, char *allow, size_t alen,
    char *account, size_t aclen, struct mtls_err *err);

/* Binds the unused EAB key KID to ACCOUNT (once; MTLS_E_EXISTS when it
 * is bound already). */
int mtls__acme_eab_bind(struct mtls_ca *ca, const char *kid,
    const char *account, struct mtls_err *err);

/* Inserts or replaces one document. */
int mtls__acme_put(struct mtls_ca *ca, const char *kind, const char *id,
    const char *account, const char *status, time_t expires,
    const char *doc, struct mtls_err *err);

/* The document KIND/ID (caller frees) and its account into ACCOUNT;
 * NULL with MTLS_E_NOTFOUND when there is none. */
char *mtls__acme_get(struct mtls_ca *ca, const char *kind, const char *id,
    char *account, size_t aclen, struct mtls_err *err);

/* How many documents of KIND ACCOUNT made since SINCE. */
int mtls__acme_count_since(struct mtls_ca *ca, const char *kind,
    const char *account, time_t since, long *n, struct mtls_err *err);

/* The creation time of ACCOUNT's document of KIND made since SINCE that
 * has SKIP older ones (0: the oldest) into *AT: 0 found, 1 none, -1. */
int mtls__acme_nth_since(struct mtls_ca *ca, const char *kind,
    const char *account, time_t since, long skip, time_t *at,
    struct mtls_err *err);

/* FN for each id of ACCOUNT's documents of KIND still alive at NOW (not
 * invalid, and not pending or ready past their expiry), newest first
 * (the second they were made, then the id, descending: order ids begin
 * with their time, so orders of one second come newest first too, and
 * the order is total, so pages neither repeat nor skip one):
 * at most LIMIT, after the first SKIP. Stops at FN's non-zero. */
int mtls__acme_list(struct mtls_ca *ca, const char *kind, const char *account,
    time_t now, long skip, long limit, int (*fn)(const char *id, void *arg),
    void *arg, struct mtls_err *err);

/* The account whose key has THUMBPRINT into ACCOUNT: 0 found, 1 none,
 * -1 error. */
int mtls__acme_key_find(struct mtls_ca *ca, const char *thumbprint,
    char *account, size_t aclen, struct mtls_err *err);

/* Records THUMBPRINT as ACCOUNT's key, replacing OLD_THUMBPRINT when
 * non-NULL (key rollover). MTLS_E_EXISTS when another account has it. */
int mtls__acme_key_set(struct mtls_ca *ca, const char *thumbprint,
    const char *old_thumbprint, const char *account, struct mtls_err *err);

/* Records that ACCOUNT got SERIAL through ORDER. */
int mtls__acme_cert_add(struct mtls_ca *ca, const char *serial,
    const char *account, const char *order, struct mtls_err *err);

/* The account that got SERIAL: 0 found, 1 not an ACME certificate, -1. */
int mtls__acme_cert_account(struct mtls_ca *ca, const char *serial,
    char *account, size_t aclen, struct mtls_err *err);

#endif
