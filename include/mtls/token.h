/*
 * mtls/token.h - one-time enrollment tokens and the CA's audit trail.
 *
 * A token lets one node enroll once (EST simpleenroll, RFC 7030 section
 * 4.2.1, authenticated with HTTP Basic as section 3.2.3 allows): it is
 * bound to a name, a profile, the SANs the certificate may carry and an
 * expiry. Only the SHA-256 of its secret is stored; the secret is shown
 * once, when the token is made. A token is consumed in the same inventory
 * transaction that records the certificate it paid for, so there is never
 * a used token without its certificate, or the reverse.
 *
 * Every issuance and every refusal of the online CA, and every token made
 * or revoked, is an audit event: who, what, when, why.
 */
#ifndef MTLS_TOKEN_H
#define MTLS_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "mtls/ca.h"
#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#define MTLS_TOKEN_ID_LEN 17 /* 16 hex digits and NUL */

struct mtls_token_spec {
	const char *name;       /* the identity's name (CN and inventory) */
	enum mtls_profile profile;
	const char *sans;       /* "dns:a,ip:b": what the CSR may ask for;
	                           NULL/"": dns:NAME for server and node */
	long ttl;               /* seconds the token stays usable (> 0) */
	long cert_lifetime;     /* seconds of the certificate; 0: the
	                           server's default */
	const char *created_by; /* who made it, for the audit trail */
};

/* One token as stored (never its secret). Owned copies. */
struct mtls_token {
	char id[MTLS_TOKEN_ID_LEN];
	char name[256];
	char profile[16];
	char sans[2048];
	long cert_lifetime;
	time_t created_at, expires_at;
	time_t used_at;      /* 0: not used */
	char used_serial[80];
	time_t revoked_at;   /* 0: not revoked */
	char created_by[128];
};

/* Makes a token from SPEC: checks the name and SANs, records it, writes
 * its id into ID and its secret (43 characters of base64url, 256 random
 * bits) into *SECRET (caller frees with mtls_pass_free). Inside a
 * transaction the caller opened with mtls_ca_begin, the token joins it
 * (many tokens, one commit): nothing is recorded until mtls_ca_commit,
 * and after a failure the caller rolls back (mtls_ca_rollback); outside
 * one, the token is committed in its own. */
int mtls_token_create(struct mtls_ca *ca, const struct mtls_token_spec *spec,
    char id[MTLS_TOKEN_ID_LEN], char **secret, struct mtls_err *err);

typedef int mtls_token_cb(const struct mtls_token *t, void *arg);

/* Calls CB for each token, newest first; only usable ones (not used, not
 * revoked, not expired at NOW) unless ALL. */
int mtls_token_list(struct mtls_ca *ca, int all, time_t now,
    mtls_token_cb *cb, void *arg, struct mtls_err *err);

/* Revokes the token with id WHICH, or every unused token named WHICH.
 * *COUNT gets how many; none is MTLS_E_NOTFOUND. */
int mtls_token_revoke(struct mtls_ca *ca, const char *which,
    const char *actor, int *count, struct mtls_err *err);

/* ---- audit trail ---- */

struct mtls_audit_event {
	long long id;        /* assigned when recorded */
	time_t at;           /* 0 when adding: now */
	const char *actor;   /* "127.0.0.1:5555 token 0a1b..", "operator root" */
	const char *action;  /* "simpleenroll", "simplereenroll",
	                        "token-create", "token-revoke" */
	const char *name;    /* identity concerned, or "" */
	const char *serial;  /* certificate issued, or "" */
	const char *outcome; /* "issued", "refused", "created", "revoked" */
	const char *reason;  /* why (refusals), or "" */
};

typedef int mtls_audit_cb(const struct mtls_audit_event *e, void *arg);

/* Calls CB for the last LIMIT events (0: all), oldest first. */
int mtls_audit_list(struct mtls_ca *ca, long limit, mtls_audit_cb *cb,
    void *arg, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
