/* Private: keys in PKCS#11 tokens (p11.c). */
#ifndef MTLS_PKI_P11_H
#define MTLS_PKI_P11_H

#include <openssl/evp.h>

#include "mtls/err.h"

/* Keeps the token session (the engine) alive while its key is used. */
struct mtls_p11 {
	void *engine; /* ENGINE *, kept opaque so callers need no engine.h */
};

/* Whether S is an RFC 7512 "pkcs11:" URI. */
int mtls__p11_is_uri(const char *s);

/* The private key at URI, logged in with the PIN named by PIN_SPEC (a
 * password spec; NULL when the token needs none). *HANDLE must outlive
 * the key: free the key first, then mtls__p11_close(*HANDLE). */
EVP_PKEY *mtls__p11_load_key(const char *uri, const char *pin_spec,
    struct mtls_p11 **handle, struct mtls_err *err);

void mtls__p11_close(struct mtls_p11 *h);

#endif
