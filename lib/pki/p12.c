/* see mtls/ca.h: mtls_p12_build */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "mtls/ca.h"

#define P12_MODERN_ITER 10000
#define P12_LEGACY_ITER 2048

int
mtls_p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    const char *friendly, const char *pass, int legacy, unsigned char **der,
    size_t *len, struct mtls_err *err)
{
	/* Old Java, macOS and Windows read only 3DES with a SHA-1 MAC; the
	 * MAC digest has to be set separately, since PKCS12_create picks
	 * its own (research/keystores.md). */
	int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC
			 : NID_aes_256_cbc;
	int iter = legacy ? P12_LEGACY_ITER : P12_MODERN_ITER;
	const EVP_MD *mac_md = legacy ? EVP_sha1() : EVP_sha256();
	PKCS12 *p12;
	int n;

	*der = NULL;
	p12 = PKCS12_create(pass, friendly, key, cert, chain, nid, nid, iter,
	    -1, 0);
	if (p12 == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot build the PKCS#12 file");
	}
	if (PKCS12_set_mac(p12, pass, -1, NULL, 0, iter, mac_md) != 1) {
		PKCS12_free(p12);
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot add the PKCS#12 integrity MAC");
	}
	n = i2d_PKCS12(p12, der);
	PKCS12_free(p12);
	if (n <= 0) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot encode the PKCS#12 file");
	}
	*len = (size_t)n;
	return 0;
}
