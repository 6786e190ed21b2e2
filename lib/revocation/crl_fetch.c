/* see mtls/revocation.h: mtls_crl_fetch, a CRL from its distribution
 * point (RFC 5280 4.2.1.13) over HTTP(S) or from a file: URL. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/file.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"

struct body {
	unsigned char *data;
	size_t len;
	int too_big;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	unsigned char *p;

	if (b->len + n > MTLS_CRL_FETCH_MAX) {
		b->too_big = 1;
		return 0;
	}
	p = realloc(b->data, b->len + n + 1);
	if (p == NULL) {
		return 0;
	}
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* GETs URL (http or https only, no redirects) into *B. */
static int
http_get(const char *url, long timeout_ms, struct body *b,
    struct mtls_err *err)
{
	struct mtls_err bad;
	char curl_err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;
	CURL *c;
	int ret = -1;

	/* The URL comes from a certificate, data someone else wrote: the one
	 * URL rule applies before libcurl sees it. */
	memset(&bad, 0, sizeof(bad));
	if (mtls_url_check(url, MTLS_URL_HTTP, &bad) != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT, "CRL distribution point: %s",
		    bad.msg);
	}
	c = curl_easy_init();
	if (c == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start libcurl");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		mtls_err_set(err, MTLS_E_PEER, "CRL distribution point %s: %s", url,
		    b->too_big ? "larger than 16 MiB"
			       : curl_err[0] ? curl_err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		mtls_err_set(err, MTLS_E_PEER,
		    "CRL distribution point %s answered HTTP %ld", url, code);
		goto out;
	}
	ret = 0;
out:
	curl_easy_cleanup(c);
	return ret;
}

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
	struct body b = {NULL, 0, 0};
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
		if (http_get(url, timeout_ms, &b, err) == 0) {
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
