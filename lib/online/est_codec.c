/* Layer online: the encodings of EST (RFC 7030) - base64 bodies (RFC 2045
 * lines), PKCS#7 certs-only, HTTP Basic credentials (RFC 7617). See
 * est_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "online/est_int.h"

char *
mtls__est_b64_encode(const unsigned char *der, size_t len, size_t *out_len)
{
	EVP_ENCODE_CTX *ec = EVP_ENCODE_CTX_new();
	size_t cap = (len + 2) / 3 * 4 + len / 48 + 8;
	char *out = malloc(cap);
	int n = 0, total = 0;

	if (ec == NULL || out == NULL || len > (size_t)1 << 30) {
		EVP_ENCODE_CTX_free(ec);
		free(out);
		return NULL;
	}
	/* 64-character lines, as RFC 2045 base64 for MIME bodies. */
	EVP_EncodeInit(ec);
	if (EVP_EncodeUpdate(ec, (unsigned char *)out, &n, der, (int)len) != 1) {
		EVP_ENCODE_CTX_free(ec);
		free(out);
		return NULL;
	}
	total = n;
	EVP_EncodeFinal(ec, (unsigned char *)out + total, &n);
	total += n;
	EVP_ENCODE_CTX_free(ec);
	out[total] = '\0';
	*out_len = (size_t)total;
	return out;
}

unsigned char *
mtls__est_b64_decode(const unsigned char *in, size_t len, size_t *out_len)
{
	EVP_ENCODE_CTX *dc = EVP_ENCODE_CTX_new();
	unsigned char *out = malloc(len / 4 * 3 + 4);
	int n = 0, m = 0;

	if (dc == NULL || out == NULL || len == 0 || len > EST_MAX_BODY * 4) {
		goto fail;
	}
	EVP_DecodeInit(dc);
	if (EVP_DecodeUpdate(dc, out, &n, in, (int)len) < 0 ||
	    EVP_DecodeFinal(dc, out + n, &m) != 1 || n + m == 0) {
		goto fail;
	}
	EVP_ENCODE_CTX_free(dc);
	*out_len = (size_t)(n + m);
	return out;
fail:
	EVP_ENCODE_CTX_free(dc);
	free(out);
	return NULL;
}

char *
mtls__est_p7_certs_b64(STACK_OF(X509) *certs, size_t *len, struct mtls_err *err)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	char *out = NULL;
	int dlen, i;

	/* certs-only: SignedData with no signers and empty content
	 * (RFC 5751 3.2.2, RFC 7030 4.1.3). */
	if (p7 == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build a PKCS#7");
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (PKCS7_add_certificate(p7, sk_X509_value(certs, i)) != 1) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build a PKCS#7");
			goto out;
		}
	}
	dlen = i2d_PKCS7(p7, &der);
	if (dlen <= 0 || (out = mtls__est_b64_encode(der, (size_t)dlen, len)) == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode a PKCS#7");
	}
out:
	OPENSSL_free(der);
	PKCS7_free(p7);
	return out;
}

/* ---- HTTP Basic (RFC 7617) ---- */

int
mtls__est_basic_credentials(const char *auth, char *user, size_t ulen, char **pass)
{
	unsigned char *dec;
	size_t n = 0;
	char *colon;
	const char *p;

	*pass = NULL;
	if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0) {
		return -1;
	}
	for (p = auth + 6; *p == ' '; p++) {
	}
	dec = mtls__est_b64_decode((const unsigned char *)p, strlen(p), &n);
	if (dec == NULL) {
		return -1;
	}
	dec[n] = '\0';
	colon = memchr(dec, ':', n);
	if (colon == NULL || strlen((char *)dec) != n ||
	    (size_t)(colon - (char *)dec) >= ulen) {
		OPENSSL_cleanse(dec, n);
		free(dec);
		return -1;
	}
	*colon = '\0';
	snprintf(user, ulen, "%s", (char *)dec);
	*pass = strdup(colon + 1);
	OPENSSL_cleanse(dec, n);
	free(dec);
	return *pass != NULL ? 0 : -1;
}

