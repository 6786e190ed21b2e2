/* Private to libmtls: token checks and the audit log used by the online
 * CA (lib/online/). */
#ifndef MTLS_TOKEN_INT_H
#define MTLS_TOKEN_INT_H

#include <time.h>

#include "mtls/token.h"

/* Finds the token that USER (a token id or a name) and SECRET designate,
 * whatever its state, into *OUT; the caller judges expiry, use and
 * revocation (mtls__token_usable). No match: MTLS_E_PASSWORD. The secret
 * is compared in constant time. */
int mtls__token_find(struct mtls_ca *ca, const char *user, const char *secret,
    struct mtls_token *out, struct mtls_err *err);

/* 0 when T can pay for a certificate at NOW; otherwise -1 with
 * MTLS_E_POLICY saying why (used on DATE for serial S, revoked, expired). */
int mtls__token_usable(const struct mtls_token *t, time_t now,
    struct mtls_err *err);

/* Marks token ID used by the certificate SERIAL. Meant to run inside the
 * transaction that recorded that certificate (mtls_ca_begin ... commit);
 * fails with MTLS_E_EXISTS when another request consumed it first. */
int mtls__token_consume(struct mtls_ca *ca, const char *id, const char *serial,
    time_t now, struct mtls_err *err);

/* Records E (joins an open mtls_ca_begin transaction). */
int mtls__audit_add(struct mtls_ca *ca, const struct mtls_audit_event *e,
    struct mtls_err *err);

#endif
