/* see credblob.h */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mtls/pki.h"
#include "link/client/credblob.h"

static int
certs_pem(const char *path, char **buf, size_t *len, struct mtls_err *err)
{
	STACK_OF(X509) *sk = NULL;
	int i, rc = -1;

	if (mtls_load_certs(path, &sk, err) != 0) {
		return -1;
	}
	if (sk_X509_num(sk) == 0) {
		mtls_err_set(err, MTLS_E_FORMAT, "%s holds no certificate", path);
		goto out;
	}
	for (i = 0; i < sk_X509_num(sk); i++) {
		if (mtls_cert_append_pem(sk_X509_value(sk, i), buf, len, err) != 0) {
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

static int
set_blob(CURL *c, CURLoption opt, char *data, size_t len)
{
	struct curl_blob b;

	b.data = data;
	b.len = len;
	b.flags = CURL_BLOB_COPY;
	return curl_easy_setopt(c, opt, &b) == CURLE_OK ? 0 : -1;
}

int
mtls__curl_credentials(CURL *c, const struct mtls_credentials *id,
    const char *keypass, struct mtls_err *err)
{
	char *cert = NULL, *ca = NULL, *key = NULL, *spec = NULL;
	size_t clen = 0, calen = 0, klen = 0, slen = 0;
	EVP_PKEY *pk = NULL;
	int rc = -1;

	if (keypass != NULL) {
		slen = strlen(keypass) + 6;
		spec = OPENSSL_malloc(slen);
		if (spec == NULL) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		snprintf(spec, slen, "pass:%s", keypass);
	}
	if (certs_pem(id->cert, &cert, &clen, err) != 0 ||
	    certs_pem(id->ca, &ca, &calen, err) != 0) {
		goto out;
	}
	pk = mtls_load_key(id->key, spec, err);
	if (pk == NULL || mtls_key_to_pem(pk, NULL, &key, &klen, err) != 0) {
		goto out;
	}
	if (set_blob(c, CURLOPT_SSLCERT_BLOB, cert, clen) != 0 ||
	    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    set_blob(c, CURLOPT_SSLKEY_BLOB, key, klen) != 0 ||
	    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
	    set_blob(c, CURLOPT_CAINFO_BLOB, ca, calen) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "this libcurl cannot take "
		    "certificates from memory (CURLOPT_*_BLOB, curl 7.77)");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	if (key != NULL) {
		mtls_secret_free(key, klen);
	}
	if (spec != NULL) {
		OPENSSL_clear_free(spec, slen);
	}
	OPENSSL_free(cert);
	OPENSSL_free(ca);
	return rc;
}
