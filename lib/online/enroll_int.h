/* Layer online, node side: the EST client (est_client.c) and installing
 * an identity's files (enroll_install.c), shared by enroll.c and renew.c.
 * Private. */
#ifndef MTLS_ENROLL_INT_H
#define MTLS_ENROLL_INT_H

#include <stddef.h>

#include <openssl/x509v3.h>

#include "mtls/file.h"

/* One HTTP answer of the CA. */
struct est_answer {
	long status;
	char *body;            /* NUL-terminated; free() */
	size_t len;
	char retry_after[16];
};

/* Where a request goes and how it is authenticated. */
struct est_call {
	const char *url;       /* base URL */
	const char *op;        /* "cacerts", ... or "/crl.pem" (a path) */
	const char *ca_pem;    /* pinned trust anchors (PEM), NULL: none yet */
	const char *user, *pass; /* HTTP Basic */
	const char *cert_pem, *key_pem; /* client certificate */
	const char *body;      /* POST body (base64 CSR) or NULL: GET */
	long timeout_ms;       /* 0: 10 s */
};

/* Performs CALL into *H (free H->body). -1 only when no answer came. */
int mtls__est_client_http(const struct est_call *c, struct est_answer *h,
    struct mtls_err *err);

/* The certificates of a base64 PKCS#7 certs-only answer. */
STACK_OF(X509) *mtls__est_client_p7_certs(const struct est_answer *h,
    struct mtls_err *err);

/* SHA-256 of X as 64 upper-case hex digits. */
void mtls__est_client_ca_fp(X509 *x, char out[65]);

/* Fetches cacerts (over a connection verified by CA_PEM when given),
 * finds the certificate whose SHA-256 is PIN (anything else fails) and
 * returns the anchor it leads to: itself, or the root above a pinned
 * intermediate. *OTHERS (caller frees) gets the rest of cacerts: the
 * untrusted intermediates that chains are built from. */
X509 *mtls__est_client_pinned_ca(const char *url, const char *pin, const char *ca_pem,
    long timeout_ms, STACK_OF(X509) **others, struct mtls_err *err);

/* PEM of X (OPENSSL_free), or NULL. */
char *mtls__est_client_pem(X509 *x);

/* Base64 DER CSR for KEY with SUBJ, and SANS when given; free(). */
char *mtls__est_client_csr(EVP_PKEY *key, const X509_NAME *subj,
    const GENERAL_NAMES *sans, struct mtls_err *err);

/* Posts CALL (simpleenroll or simplereenroll), honouring the Retry-After
 * of a 202 or 503 a few times; returns the new certificate, checked to be
 * for KEY and issued by CA. */
X509 *mtls__est_client_post_csr(struct est_call *call, EVP_PKEY *key, X509 *ca,
    STACK_OF(X509) *untrusted, struct mtls_err *err);

/* What an identity installs. */
struct enroll_install {
	const char *dir, *name;
	EVP_PKEY *key;
	X509 *cert, *ca;        /* the new certificate; the anchor */
	X509 *ca_next;          /* during a CA rollover, the root that succeeds
	                           CA (ca.pem then holds both), or NULL */
	STACK_OF(X509) *untrusted; /* intermediates from cacerts, or NULL */
	unsigned formats;       /* MTLS_ENROLL_* */
	const char *bundle;     /* bundle target or NULL */
	const char *store_pass; /* resolved password, or NULL */
	const char *crl_pem;    /* or NULL */
	size_t crl_len;
};

/* Stages DIR/NAMEEXT with D into FS. */
int mtls__enroll_stage(struct mtls_fileset *fs, const char *dir, const char *name,
    const char *ext, const void *d, size_t n, mode_t mode, struct mtls_err *err);

/* Stages every file of IN: PEM always (the renewal agent reads it), then
 * stores, bundle, CRL. */
int mtls__enroll_stage_all(const struct enroll_install *in, struct mtls_fileset *fs,
    struct mtls_err *err);

/* The CA's current CRL (PEM), best effort; NULL when there is none. */
char *mtls__enroll_fetch_crl(const char *url, const char *ca_pem, long timeout_ms,
    size_t *len);

#endif
