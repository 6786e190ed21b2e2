/* Layer online: the ACME server (RFC 8555) of `mtls ca serve`, without
 * transport, so tests and fuzzers can drive it directly. Private. */
#ifndef MTLS_ACME_INT_H
#define MTLS_ACME_INT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "mtls/ca.h"
#include "mtls/err.h"

/* Largest JWS body accepted (a finalize with a 4096-bit RSA CSR is ~4 KiB
 * once base64url and JWS wrapped). */
#define MTLS__ACME_MAX_BODY 65536

/* ---- JWS (RFC 7515, as RFC 8555 6.2 restricts it) ---- */

/* base64url without padding (RFC 4648 5); caller frees. */
char *mtls__b64url_enc(const unsigned char *in, size_t n);

/* Strict decoding: the URL alphabet only, no padding, no whitespace.
 * Caller frees; the buffer is NUL-terminated past *OUT_LEN. NULL when
 * malformed. */
unsigned char *mtls__b64url_dec(const char *in, size_t n, size_t *out_len);

/* The public key of JWK (EC P-256/P-384, RSA of 2048 bits or more, OKP
 * Ed25519) and its RFC 7638 thumbprint (base64url of SHA-256, 43
 * characters). NULL with a reason when unusable. */
EVP_PKEY *mtls__jwk_key(const json_t *jwk, char thumb[48],
    struct mtls_err *err);

/* The RFC 7638 thumbprint of JWK (as mtls__jwk_key, without the key). */
int mtls__jwk_thumbprint(const json_t *jwk, char thumb[48],
    struct mtls_err *err);

struct mtls__jws {
	json_t *hdr;            /* the protected header (owned) */
	const char *alg;        /* borrowed from hdr */
	const char *nonce, *url, *kid;
	json_t *jwk;            /* borrowed from hdr, or NULL */
	unsigned char *payload; /* decoded, NUL-terminated; "" for POST-as-GET */
	size_t payload_len;
	char *signing_input;    /* "protected.payload" */
	unsigned char *sig;
	size_t sig_len;
	const char *problem;    /* on failure: the ACME error type
	                           ("malformed", "badSignatureAlgorithm") */
};

/* Parses a flattened JWS (RFC 7515 7.2.2) and checks its protected header
 * has alg (an asymmetric one: ES256, ES384, RS256, EdDSA), nonce, url and
 * exactly one of jwk and kid (RFC 8555 6.2). Nothing is verified yet. */
int mtls__jws_parse(const unsigned char *body, size_t len,
    struct mtls__jws *j, struct mtls_err *err);

/* The same for an already parsed object of KIND: OUTER as above; EAB
 * (RFC 8555 7.3.4): HS256, kid, no nonce; INNER (the key change's inner
 * JWS, 7.3.5): jwk, no kid, no nonce. */
enum { MTLS__JWS_OUTER, MTLS__JWS_EAB, MTLS__JWS_INNER };
int mtls__jws_parse_json(const json_t *obj, int kind, struct mtls__jws *j,
    struct mtls_err *err);

/* Verifies J's signature with KEY, which must suit J's alg. */
int mtls__jws_verify(const struct mtls__jws *j, EVP_PKEY *key,
    struct mtls_err *err);

/* Verifies an HS256 MAC with KEY (constant time). */
int mtls__jws_verify_mac(const struct mtls__jws *j, const unsigned char *key,
    size_t klen, struct mtls_err *err);

void mtls__jws_clear(struct mtls__jws *j);

/* ---- nonces (RFC 8555 6.5) ---- */

/* Nonces are a counter with a MAC: no table of issued nonces, only a
 * window of the recent counters with a bit each for "used". */
#define MTLS__NONCE_WINDOW 65536

struct mtls__nonces {
	unsigned char key[32];
	EVP_MAC_CTX *mac;       /* HMAC-SHA256 keyed with KEY, set up once */
	unsigned long long next;
	unsigned char used[MTLS__NONCE_WINDOW / 8];
};

int mtls__nonce_init(struct mtls__nonces *n, struct mtls_err *err);
/* Frees what mtls__nonce_init made and wipes N. */
void mtls__nonce_clear(struct mtls__nonces *n);

/* A fresh nonce into OUT (base64url, NUL-terminated). */
void mtls__nonce_new(struct mtls__nonces *n, char out[40]);

/* 1 when S was issued by us, is recent, and was not used; marks it used. */
int mtls__nonce_take(struct mtls__nonces *n, const char *s);

/* ---- the server ---- */

struct mtls__acme_opts {
	long cert_lifetime;     /* seconds */
	int no_eab;             /* accounts without External Account Binding */
	const char *allow;      /* what such accounts may get (mtls/acme.h) */
	long orders_per_hour;   /* per account; 0: 300 */
	long accounts_per_ip;   /* newAccount requests per client address per
	                           hour; 0: 20 */
	long pending_lifetime;  /* seconds an order may stay unfinished */
	long validate_timeout;  /* seconds a validation may take; 0: 10 (the
	                           longest Retry-After while one runs) */
	int dns01;              /* offer dns-01 (a resolver is configured) */
};

/* newAccount requests per client address in the current hour: a table
 * in memory, per server (a few addresses make accounts; an address that
 * tries keys or MACs in a loop is stopped). */
#define MTLS__ACME_IP_SLOTS 1024
struct mtls__acme_ipcount {
	char addr[48];
	time_t start;
	long n;
};

/* One validation to run (the transport does it, asynchronously), and
 * report with mtls__acme_check_done. Borrowed for the callback. */
struct mtls__acme_check {
	const char *authz;      /* authorization id */
	int index;              /* challenge index */
	const char *type;       /* "http-01", "tls-alpn-01", "dns-01" */
	const char *id_type;    /* "dns", "ip" */
	const char *id_value;
	const char *token;
	const char *keyauth;    /* token "." thumbprint */
};

typedef void mtls__acme_validate_fn(void *arg, const struct mtls__acme_check *c);

/* Accounts' keys, decoded: a request signed by an account ('kid') finds
 * its key here instead of rebuilding it from the stored JWK. A slot holds
 * one account's key with its thumbprint, and is used only while the
 * stored account still names that thumbprint (so a key changed by
 * another server sharing the inventory is not trusted); keyChange and
 * deactivation empty it. */
#define MTLS__ACME_KEY_SLOTS 512
struct mtls__acme_keyslot {
	char account[64];
	char thumb[48];
	EVP_PKEY *key;
};

/* Validations in flight (challenge "processing", RFC 8555 7.1.6): kept
 * in memory only. The challenge stays "pending" in the inventory until
 * its outcome is recorded, so starting one costs no commit, and a
 * restart leaves it pending (the client may ask again) instead of
 * processing forever. */
#define MTLS__ACME_INFLIGHT 512
struct mtls__acme_inflight {
	char authz[64];         /* "" when free */
	int index;
	long long since_ms;     /* monotonic */
};

struct mtls__acme {
	struct mtls_ca *ca;     /* unlocked; borrowed */
	struct mtls__acme_opts o;
	struct mtls__nonces nonces;
	mtls__acme_validate_fn *validate;
	void *validate_arg;
	char *ca_pem;           /* the CA certificate, appended to chains */
	struct mtls__acme_ipcount *ipc; /* MTLS__ACME_IP_SLOTS */
	struct mtls__acme_keyslot *keys; /* MTLS__ACME_KEY_SLOTS */
	struct mtls__acme_inflight *flight; /* MTLS__ACME_INFLIGHT */
	int nflight;            /* slots in use */
	unsigned long long last_us; /* the time in the last order id */
	double flight_ms;       /* how long validations took lately (moving
	                           average), for Retry-After */
	unsigned long long issued, refused;
};

struct mtls__acme_req {
	int post;               /* 1: POST, 0: GET/HEAD */
	int head;               /* HEAD */
	const char *path;       /* after "/acme/" */
	const char *base;       /* "https://host:port" the client used */
	const char *content_type;
	const unsigned char *body;
	size_t len;
	const char *peer_addr;
	time_t now;             /* 0: time(NULL) */
};

#define MTLS__ACME_HDRS 4

struct mtls__acme_resp {
	int status;
	const char *content_type;
	char *body;             /* owned; free() */
	size_t len;
	char nonce[40];         /* Replay-Nonce, always */
	char *location;         /* owned or NULL */
	char *links[MTLS__ACME_HDRS]; /* owned Link header values */
	int retry_after;
	int issued;
};

int mtls__acme_init(struct mtls__acme *a, struct mtls_ca *ca,
    const struct mtls__acme_opts *o, struct mtls_err *err);
void mtls__acme_clear(struct mtls__acme *a);

/* Answers REQ into RESP (always filled; free with mtls__acme_resp_free). */
void mtls__acme_handle(struct mtls__acme *a, const struct mtls__acme_req *req,
    struct mtls__acme_resp *resp);
void mtls__acme_resp_free(struct mtls__acme_resp *r);
/* Sets R's status, content type and body (taken; NULL: none). */
void mtls__acme_set_body(struct mtls__acme_resp *r, int status,
    const char *type, char *body);

/* The outcome of a validation: OK, or the ACME error type PROBLEM
 * ("connection", "incorrectResponse", "unauthorized", "tls", "dns") with
 * DETAIL. Updates the challenge, its authorization and its order. */
void mtls__acme_check_done(struct mtls__acme *a, const char *authz, int index,
    int ok, const char *problem, const char *detail);

/* ---- between acme.c and the route files ---- */

struct mtls__acme_job {
	struct mtls__acme *a;
	const struct mtls__acme_req *req;
	struct mtls__acme_resp *resp;
	time_t now;
	struct mtls__jws jws;
	json_t *payload;        /* parsed payload; NULL for POST-as-GET */
	char account[64];       /* the authenticated account ("" for jwk) */
	json_t *acct;           /* its document */
	EVP_PKEY *key;          /* the key that signed */
	char thumb[48];         /* its thumbprint */
};

/* An RFC 8555 6.7 problem document: TYPE without the URN prefix. */
void mtls__acme_problem(struct mtls__acme_job *j, int status,
    const char *type, const char *fmt, ...) MTLS_PRINTF(4, 5);

/* A JSON answer (takes OBJ). */
void mtls__acme_reply(struct mtls__acme_job *j, int status, json_t *obj);

/* BASE "/acme/" + the formatted rest; caller frees. */
char *mtls__acme_url(struct mtls__acme_job *j, const char *fmt, ...)
    MTLS_PRINTF(2, 3);

void mtls__acme_link(struct mtls__acme_job *j, char *url, const char *rel);

/* Random id: N random bytes in hex into OUT (2N+1 bytes). */
int mtls__acme_new_id(char *out, size_t n);

/* A stored document as JSON (caller json_decref) and its account. */
json_t *mtls__acme_load(struct mtls__acme_job *j, const char *kind,
    const char *id, char *account, size_t aclen);
int mtls__acme_save(struct mtls__acme_job *j, const char *kind,
    const char *id, const char *account, json_t *doc, struct mtls_err *err);

/* An audit event by this request's peer and account. */
void mtls__acme_audit(struct mtls__acme_job *j, const char *action,
    const char *name, const char *serial, const char *outcome,
    const char *reason);

/* A string member of O, or "" (never NULL). */
const char *mtls__acme_jstr(const json_t *o, const char *k);

/* T as an RFC 3339 UTC string (RFC 8555 7.1). */
json_t *mtls__acme_time_json(time_t t);

/* 1 when DOC's expires_at is not after the job's time. */
int mtls__acme_expired(struct mtls__acme_job *j, json_t *doc);

/* A problem for a failed inventory step: 503 with Retry-After when the
 * inventory is busy, else 500 with its message. */
void mtls__acme_store_problem(struct mtls__acme_job *j,
    const struct mtls_err *e);

/* ACCOUNT's cached key when it still has THUMB (a new reference), else
 * NULL. */
EVP_PKEY *mtls__acme_key_cached(struct mtls__acme *a, const char *account,
    const char *thumb);
/* Keeps KEY (a new reference is taken) as ACCOUNT's, with THUMB. */
void mtls__acme_key_keep(struct mtls__acme *a, const char *account,
    const char *thumb, EVP_PKEY *key);
/* Forgets ACCOUNT's key (keyChange, deactivation). */
void mtls__acme_key_forget(struct mtls__acme *a, const char *account);

/* A new order id into OUT (33 bytes): the time in microseconds, 16 hex
 * digits, increasing from one order to the next on this server, then 8
 * random bytes. Ordered by id, orders made in the same second are
 * newest first on every storage engine. -1 without randomness. */
int mtls__acme_order_id(struct mtls__acme *a, char out[33]);

/* Marks challenge INDEX of AUTHZ as being validated: 1 marked, 0 it was
 * already, -1 the table is full. */
int mtls__acme_flight_start(struct mtls__acme *a, const char *authz,
    int index);
/* 1 when it is being validated; with TAKE, also unmarks it (and counts
 * how long it took). */
int mtls__acme_flight_has(struct mtls__acme *a, const char *authz, int index,
    int take);
/* How many validations are in flight. */
int mtls__acme_flight_count(const struct mtls__acme *a);
/* The Retry-After (RFC 8555 8.2) for a client waiting on challenge INDEX
 * of AUTHZ (-1: any of its challenges): 0 when none is being validated,
 * else the seconds the recent validations took less what this one has
 * run, at least 1, one more per 100 validations in flight, at most
 * MAX. */
int mtls__acme_flight_wait(struct mtls__acme *a, const char *authz, int index,
    int max);

/* Counts one newAccount request from ADDR at NOW: 0 within the limit,
 * else the seconds until ADDR may ask again. */
long mtls__acme_account_rate(struct mtls__acme *a, const char *addr,
    time_t now);

/* Routes: orders in acme_order.c, authorizations and challenges in
 * acme_authz.c, certificates and revocation in acme_cert.c. */
void mtls__acme_new_order(struct mtls__acme_job *j);
void mtls__acme_order(struct mtls__acme_job *j, const char *id, int finalize);
void mtls__acme_authz(struct mtls__acme_job *j, const char *id);
void mtls__acme_chall(struct mtls__acme_job *j, const char *id);
void mtls__acme_cert(struct mtls__acme_job *j, const char *serial);
void mtls__acme_revoke(struct mtls__acme_job *j);
/* The account's orders list (7.1.2.1), page PAGE (1, 2, ...). */
void mtls__acme_orders_list(struct mtls__acme_job *j, long page);

/* The acmeIdentifier extension (RFC 8737 3) for KEYAUTH: DER of an
 * OCTET STRING holding SHA-256(KEYAUTH). */
int mtls__acme_alpn_digest(const char *keyauth, unsigned char out[32]);

#endif
