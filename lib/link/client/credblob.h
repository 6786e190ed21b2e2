/* Hands curl the client credentials as mtls's own loaders read them. */
#ifndef MTLS_LINK_CREDBLOB_H
#define MTLS_LINK_CREDBLOB_H

#include <curl/curl.h>

#include "mtls/err.h"
#include "mtls/replicate.h"

/* Loads ID's certificate chain, key (KEYPASS: the resolved password, or
 * NULL) and CA file with mtls_load_certs/mtls_load_key, the loaders that
 * `mtls test` and the enqueue check use, and gives them to C as PEM blobs
 * (curl copies them): push then accepts exactly the files (PEM or DER, any
 * key format) that test accepted, instead of curl's PEM-only file reader
 * refusing them once the items are queued. */
int mtls__curl_credentials(CURL *c, const struct mtls_credentials *id,
    const char *keypass, struct mtls_err *err);

#endif
