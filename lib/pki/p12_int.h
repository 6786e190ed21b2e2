/* The one PKCS#12 writer (pki/p12.c), shared by `mtls issue --p12`
 * (mtls_p12_build) and the keystore codec (keystore/p12store.c). Private
 * to libmtls.
 *
 * One policy for every PKCS#12 we write (RFC 7292): at least
 * MTLS__P12_ITER iterations for the key bags, the certificate safe and the
 * MAC alike. Modern files use PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and
 * an HMAC-SHA256 MAC; legacy files (old Java, macOS, Windows) use
 * PBE-SHA1-3DES and an HMAC-SHA1 MAC, with the same iteration count:
 * legacy names the algorithms old readers know, not fewer iterations, and
 * those readers accept any count. RC2-40 is never written. */
#ifndef MTLS_PKI_P12_INT_H
#define MTLS_PKI_P12_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/err.h"

#define MTLS__P12_ITER 10000
/* Java's attribute marking a trusted certificate, and the "any" EKU it
 * holds (what keytool writes for -importcert). */
#define MTLS__P12_TRUST_OID "2.16.840.1.113894.746875.1.1"
#define MTLS__P12_ANY_EKU_OID "2.5.29.37.0"

struct mtls__p12_entry {
	const char *alias;      /* friendlyName */
	EVP_PKEY *key;          /* NULL: a trusted certificate entry */
	STACK_OF(X509) *certs;  /* leaf first, then its chain */
	int64_t created_ms;     /* localKeyID "Time <ms>", as Java writes */
};

/*
 * Writes N entries as one PKCS#12 file in Java's layout: the shrouded keys
 * in a plain safe, the certificates in a safe encrypted under PASS. PASS
 * NULL writes no encryption and no MAC (a passwordless truststore; only
 * for entries without keys). ITERATIONS 0 means MTLS__P12_ITER; fewer are
 * refused (MTLS_E_USAGE). *OUT is OPENSSL_malloc'd.
 */
int mtls__p12_write(const struct mtls__p12_entry *e, size_t n,
    const char *pass, int legacy, int iterations, unsigned char **out,
    size_t *len, struct mtls_err *err);

#endif
