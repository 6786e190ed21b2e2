/* Layer online (above revocation and diag): EST (RFC 7030) request
 * handling without transport, so tests can drive it directly. Private. */
#ifndef MTLS_EST_INT_H
#define MTLS_EST_INT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"

/* Seconds a client waits before sending a request again when the
 * inventory was busy (202 + Retry-After). */
#define EST_BUSY_RETRY 2

/* Largest base64 CSR body accepted (a 4096-bit RSA CSR is ~2 KiB). */
#define EST_MAX_BODY 16384

struct est_ctx {
	struct mtls_ca *ca;       /* unlocked; borrowed */
	long cert_lifetime;       /* seconds; tokens may ask for their own */
	long max_lifetime;        /* seconds a token may ask for; 0: any */
	int group;                /* writes join the CA's group commit: the
	                             caller commits and answers later */
	char *cacerts;            /* base64 PKCS#7 of the trust anchors */
	size_t cacerts_len;
};

struct est_req {
	const char *op;            /* the path after /.well-known/est/ */
	int post;                  /* 1: POST, 0: GET/HEAD */
	const char *content_type;  /* or NULL */
	const char *authorization; /* Authorization header or NULL */
	const unsigned char *body;
	size_t len;
	X509 *peer;                /* client certificate (borrowed) or NULL */
	long peer_verify;          /* X509_V_OK or the verification error */
	const char *peer_addr;     /* "127.0.0.1:5555", for the audit trail */
	time_t now;                /* 0: time(NULL) */
};

struct est_resp {
	int status;
	const char *reason;       /* HTTP reason phrase */
	const char *content_type;
	int base64;               /* add Content-Transfer-Encoding: base64 */
	int www_authenticate;     /* 401: ask for Basic credentials */
	int retry_after;          /* seconds, 0: none */
	int auth_failed;          /* a wrong credential (for slowing down) */
	int issued;               /* a certificate was issued */
	int busy;                 /* 202: the inventory was busy */
	char *body;               /* owned; free with free() */
	size_t len;
};

int mtls__est_ctx_init(struct est_ctx *c, struct mtls_ca *ca, long cert_lifetime,
    struct mtls_err *err);
void mtls__est_ctx_clear(struct est_ctx *c);

/* Answers REQ into RESP (always filled; free RESP->body). With C->group
 * the request's writes are left in the CA's open group (ca_internal.h):
 * while mtls__ca_group_open says so, RESP must not be sent before
 * mtls__ca_group_commit succeeded. */
void mtls__est_handle(struct est_ctx *c, const struct est_req *req,
    struct est_resp *resp);

/* Base64 (64-character lines) of DER PKCS#7 certs-only holding CERTS. */
char *mtls__est_p7_certs_b64(STACK_OF(X509) *certs, size_t *len,
    struct mtls_err *err);

/* Base64 of DER in 64-character lines (RFC 2045); caller frees. */
char *mtls__est_b64_encode(const unsigned char *der, size_t len, size_t *out_len);

/* Decodes base64 (whitespace and line breaks allowed) into a new buffer. */
unsigned char *mtls__est_b64_decode(const unsigned char *in, size_t len,
    size_t *out_len);

/* USER and a new copy of the password (*PASS, free with mtls_pass_free)
 * from an "Authorization: Basic" header (RFC 7617); -1 when malformed. */
int mtls__est_basic_credentials(const char *auth, char *user, size_t ulen,
    char **pass);


/* ---- steps every EST operation shares (est_step.c) ---- */

/* One request being answered. */
struct est_job {
	struct est_ctx *c;
	const struct est_req *req;
	struct est_resp *resp;
	const char *action;
	char actor[256];
	char name[256];
	X509_REQ *csr;
	GENERAL_NAMES *sans;  /* what the CSR asks for */
	int in_txn;           /* between txn_begin and txn_undo/txn_end */
};

/* An inventory entry, read by mtls__est_take_entry. */
struct found {
	char serial[80];
	char name[256];
	char profile[16];
	char status[16];
	char superseded_by[80];
	time_t revoked_at;
	X509 *cert;
};

void mtls__est_set_text(struct est_resp *r, int status, const char *reason, const char *fmt, ...)
    MTLS_PRINTF(4, 5);
void mtls__est_set_p7(struct est_resp *r, struct mtls_ca *ca, X509 *cert);
int mtls__est_txn_begin(struct est_job *j, struct mtls_err *e);
void mtls__est_txn_undo(struct est_job *j);
int mtls__est_txn_end(struct est_job *j, struct mtls_err *e);
void mtls__est_audit(struct est_job *j, const char *serial, const char *outcome,
    const char *why);
void mtls__est_refuse(struct est_job *j, int status, const char *reason, const char *why);
int mtls__est_read_csr(struct est_job *j);
int mtls__est_sans_allowed(struct est_job *j, const char *allowed, char *why, size_t len);
int mtls__est_subject_is_name(X509_REQ *csr, const char *name, char *why, size_t len);
int mtls__est_take_entry(const struct mtls_inv_entry *e, void *arg);
int mtls__est_same_key(struct est_job *j, const char *serial);
X509 *mtls__est_sign_for(struct est_job *j, const X509_NAME *subj, enum mtls_profile profile,
    const GENERAL_NAMES *sans, long lifetime, char **serial,
    struct mtls_err *e);
void mtls__est_store_failed(struct est_job *j, const struct mtls_err *e);
long mtls__est_lifetime_allowed(struct est_job *j, long asked);

#endif
