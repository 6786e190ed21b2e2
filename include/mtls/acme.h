/*
 * mtls/acme.h - what the operator decides about the ACME server of
 * `mtls ca serve` (RFC 8555): External Account Binding keys and the
 * identifiers each account may get.
 *
 * An ACME account is created only with an EAB key (RFC 8555 7.3.4) unless
 * the server is started without that requirement. Each key names the
 * identifiers its account may ask for, as an allow list:
 *   "dns:*.internal.example,dns:api.example,ip:10.0.0.0/8,ip:192.0.2.7"
 * "dns:" patterns are shell globs on the lower-case name ('*' matches
 * within one label or more: "*.internal.example" matches
 * "a.internal.example" and "a.b.internal.example", not "internal.example");
 * "ip:" entries are addresses or CIDR blocks, IPv4 or IPv6.
 * The HMAC key is kept in the inventory (the server recomputes the MAC),
 * so the inventory is as secret as the keys it holds (mode 0600).
 */
#ifndef MTLS_ACME_H
#define MTLS_ACME_H

#include <stddef.h>
#include <time.h>

#include "mtls/ca.h"
#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#define MTLS_ACME_KID_LEN 25 /* "eab-" + 20 hex digits + NUL */

/* One EAB key as stored (never its HMAC key). */
struct mtls_acme_eab {
	char kid[MTLS_ACME_KID_LEN];
	char name[256];
	char allow[2048];
	time_t created_at;
	char account[64];    /* the account it created, "" when unused */
	time_t revoked_at;   /* 0: usable */
};

/* Returns 0 when ALLOW is a well-formed allow list (see above), else -1
 * (MTLS_E_USAGE) naming the bad entry. An empty list allows nothing. */
int mtls_acme_allow_check(const char *allow, struct mtls_err *err);

/* 1 when the identifier TYPE ("dns" or "ip") VALUE is allowed by ALLOW,
 * else 0. VALUE is compared in lower case; an IP in canonical form. */
int mtls_acme_allow_match(const char *allow, const char *type,
    const char *value);

/* Makes an EAB key named NAME allowing ALLOW (checked); writes its key id
 * into KID and its HMAC key (base64url of 32 random bytes, as clients take
 * it) into *HMAC (caller frees with mtls_pass_free). */
int mtls_acme_eab_create(struct mtls_ca *ca, const char *name,
    const char *allow, char kid[MTLS_ACME_KID_LEN], char **hmac,
    struct mtls_err *err);

typedef int mtls_acme_eab_cb(const struct mtls_acme_eab *e, void *arg);

/* Calls CB for each EAB key, newest first. */
int mtls_acme_eab_list(struct mtls_ca *ca, mtls_acme_eab_cb *cb, void *arg,
    struct mtls_err *err);

/* Revokes the EAB key KID: no new account with it, and the account it
 * made (if any) is deactivated. MTLS_E_NOTFOUND when unknown. */
int mtls_acme_eab_revoke(struct mtls_ca *ca, const char *kid,
    struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
