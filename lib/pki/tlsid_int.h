/* The TLS identity rule shared by every server and client of ours. */
#ifndef MTLS_PKI_TLSID_INT_H
#define MTLS_PKI_TLSID_INT_H

#include <openssl/ssl.h>

struct mtls_err;

/* Puts CHAIN (leaf first, then intermediates) on CTX as its identity,
 * leaving out self-signed certificates: peers anchor on their own trust
 * store, so only the leaf and intermediates are sent. WHAT names the file
 * in errors. 0, or -1 with ERR set. */
int mtls__ctx_use_chain(SSL_CTX *ctx, STACK_OF(X509) *chain, const char *what,
    struct mtls_err *err);

#endif
