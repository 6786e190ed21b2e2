/* Shared between doctor.c (finding and reading the files) and
 * doctor_check.c (judging them). */
#ifndef MTLS_DOCTOR_INT_H
#define MTLS_DOCTOR_INT_H

#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/diag.h"
#include "diag/revcheck.h"

enum dkind {
	DK_IDENTITY = 1, /* a leaf certificate (+ chain, maybe + key) */
	DK_KEY = 2,      /* holds a private key */
	DK_TRUST = 4,    /* a truststore: ca.crt, *ca*.pem, --ca */
	DK_CHAIN = 8,    /* NAME.chain.pem: intermediates */
	DK_STORE = 16,   /* PKCS#12 / JKS keystore */
};

struct dfile {
	char *path;
	char *base; /* file name without extension and .chain suffix */
	int kind;
	struct stat st;
	STACK_OF(X509) *certs; /* as in the file, in order */
	EVP_PKEY *key;
	int key_used; /* a certificate matched this key */
	int leaf_revoked; /* cert_revoked was reported for its leaf */
};

struct doctor {
	const struct mtls_doctor_opts *o;
	struct mtls_report *r;
	struct dfile *f;
	size_t n, cap;
	STACK_OF(X509) *trust; /* all truststore certificates */
	const char *trust_name;
	STACK_OF(X509) *pool; /* every CA certificate seen anywhere */
	int warn_days;
	struct mtls__revcheck *rev; /* NULL when it could not be set up */
};

/* doctor_check.c */
void mtls__doctor_check_keyfile(struct doctor *d, struct dfile *k);
void mtls__doctor_check_identity(struct doctor *d, struct dfile *c);
void mtls__doctor_check_trust(struct doctor *d);

/* doctor_roll.c: files still on the issuer --rollover names. */
void mtls__doctor_check_rollover(struct doctor *d);

#endif
