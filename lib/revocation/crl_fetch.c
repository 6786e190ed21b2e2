/* see mtls/revocation.h: mtls_crl_fetch, a CRL from its distribution
 * point (RFC 5280 4.2.1.13) over HTTP(S) or from a file: URL. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/file.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"
#include "revocation/revocation_int.h"

/* Appends CRL to *PEM as one "X509 CRL" block. */
static int
append_crl(X509_CRL *crl, char **pem, size_t *len, struct mtls_err *err)
{
	unsigned char *der = NULL;
	int n = i2d_X509_CRL(crl, &der);

	if (n <= 0) {
		return mtls_err_ssl(err, MTLS_E_FORMAT, "cannot encode the CRL");
	}
	n = mtls_pem_append("X509 CRL", der, (size_t)n, pem, len, err);
	OPENSSL_free(der);
	return n;
}

/* DATA (one DER CRL, or PEM blocks) as PEM blocks in *PEM. */
static int
to_pem(const char *url, const unsigned char *data, size_t dlen, char **pem,
    size_t *len, struct mtls_err *err)
{
	X509_CRL *crl = NULL;
	BIO *bio = NULL;
	int count = 0;

	if (dlen >= 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		bio = BIO_new_mem_buf(data, (int)dlen);
		if (bio == NULL) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "BIO_new_mem_buf");
		}
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
			if (append_crl(crl, pem, len, err) != 0) {
				X509_CRL_free(crl);
				BIO_free(bio);
				return -1;
			}
			X509_CRL_free(crl);
			count++;
		}
		BIO_free(bio);
		ERR_clear_error(); /* the end of the PEM blocks */
	} else {
		const unsigned char *p = data;

		crl = d2i_X509_CRL(NULL, &p, (long)dlen);
		if (crl != NULL) {
			count = append_crl(crl, pem, len, err) == 0 ? 1 : -1;
			X509_CRL_free(crl);
			if (count < 0) {
				return -1;
			}
		}
	}
	if (count == 0) {
		return mtls_err_ssl(err, MTLS_E_FORMAT, "%s holds no CRL (neither "
		    "DER nor PEM)", url);
	}
	return 0;
}

int
mtls_crl_fetch(const char *url, long timeout_ms, char **pem, size_t *len,
    struct mtls_err *err)
{
	struct mtls__fetched b = {NULL, 0, MTLS_CRL_FETCH_MAX, 0};
	unsigned char *fdata = NULL;
	size_t flen = 0;
	int rc = -1;

	*pem = NULL;
	*len = 0;
	if (strncmp(url, "file:///", 8) == 0) {
		/* file:///PATH (RFC 8089, no host): the path starts at the
		 * third slash. */
		if (mtls_file_read(url + 7, MTLS_CRL_FETCH_MAX, &fdata, &flen,
		    err) != 0) {
			return -1;
		}
		rc = to_pem(url, fdata, flen, pem, len, err);
		mtls_file_free(fdata, flen);
	} else if (strncmp(url, "http://", 7) == 0 ||
	    strncmp(url, "https://", 8) == 0) {
		if (mtls__revocation_http("CRL distribution point", url, NULL, NULL,
		    0, timeout_ms, &b, err) == 0) {
			rc = to_pem(url, b.data != NULL ? b.data :
			    (const unsigned char *)"", b.len, pem, len, err);
		}
		free(b.data);
	} else {
		return mtls_err_set(err, MTLS_E_USAGE, "CRL distribution point %s: "
		    "only http://, https:// and file:/// are fetched", url);
	}
	if (rc != 0) {
		OPENSSL_free(*pem);
		*pem = NULL;
		*len = 0;
	}
	return rc;
}
