/* Test PKI made in-process for the keystore tests. */
#ifndef MTLS_STORE_FIXTURE_H
#define MTLS_STORE_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "mtls/store.h"

/* A self-signed certificate for KEY with common name CN. */
static inline X509 *
fx_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, key);
	X509_sign(x, ikey ? ikey : key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

struct fx {
	EVP_PKEY *cakey, *key;
	X509 *ca, *leaf;
	STACK_OF(X509) *chain;
};

static inline void
fx_init(struct fx *f)
{
	f->cakey = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	f->ca = fx_cert(f->cakey, "Test CA", NULL, NULL);
	f->leaf = fx_cert(f->key, "Server", f->ca, f->cakey);
	f->chain = sk_X509_new_null();
	sk_X509_push(f->chain, f->ca); /* out of order on purpose */
	sk_X509_push(f->chain, f->leaf);
}

static inline void
fx_free(struct fx *f)
{
	sk_X509_free(f->chain);
	X509_free(f->ca);
	X509_free(f->leaf);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->cakey);
}

/* A store with key entry ALIAS_KEY (chain of 2) and trusted ALIAS_CA. */
static inline struct mtls_store *
fx_store(struct fx *f, const char *alias_key, const char *alias_ca)
{
	struct mtls_store *s = mtls_store_new();

	if (mtls_store_add_key(s, alias_key, f->key, f->chain, 1700000000123LL,
	    0, NULL) != 0 ||
	    (alias_ca != NULL && mtls_store_add_trusted(s, alias_ca, f->ca,
	    1700000000456LL, 0, NULL) != 0)) {
		mtls_store_free(s);
		return NULL;
	}
	return s;
}

#endif
