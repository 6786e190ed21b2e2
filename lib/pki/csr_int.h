/* CSR helpers private to libmtls. */
#ifndef MTLS_PKI_CSR_INT_H
#define MTLS_PKI_CSR_INT_H

#include <openssl/x509.h>

/* REQ's public key, decoded again from its SubjectPublicKeyInfo into a
 * key OpenSSL 3.0 writes into a certificate directly (EC and RSA, through
 * their built-in encoders) instead of encoding it with the provider
 * encoders and decoding the result again, which cost a signing server
 * more than the signature. Other key types: REQ's own key. A new
 * reference (EVP_PKEY_free), or NULL when REQ has no usable key. */
EVP_PKEY *mtls__csr_pubkey(X509_REQ *req);

#endif
