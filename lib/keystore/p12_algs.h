/* The algorithms a PKCS#12 file was written with, readable without its
 * password: what old Java, macOS or Windows will or will not open. */
#ifndef MTLS_KEYSTORE_P12_ALGS_H
#define MTLS_KEYSTORE_P12_ALGS_H

#include <stddef.h>

struct mtls__p12_algs {
	char mac[96];   /* "HMAC sha256, 10000 iterations" or "none (...)" */
	char key[160];  /* the shrouded key bag's PBE, "" when none found */
	char certs[160]; /* the encrypted certificate safe's PBE, or "none ..." */
};

/* Fills OUT from the DER PKCS#12 in DATA; -1 when it is not one. */
int mtls__p12_algs(const unsigned char *data, size_t len,
    struct mtls__p12_algs *out);

#endif
