/* see mtls/revocation.h: mtls_ocsp_query, one OCSP query over libcurl. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>

#include "mtls/err.h"
#include "mtls/pki.h"
#include "revocation/revocation_int.h"
#include "mtls/revocation.h"

/* An OCSP response is a few kilobytes at most; refuse anything larger. */
#define RESP_MAX (1024 * 1024)

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

	if (b->len + n > RESP_MAX) {
		b->too_big = 1;
		return 0;
	}
	p = realloc(b->data, b->len + n);
	if (p == NULL) {
		return 0;
	}
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	return n;
}

/* POSTs REQ to URL; the response body lands in *B. */
static int
http_post(const char *url, const unsigned char *req, size_t req_len,
    long timeout_ms, struct body *b, struct mtls_err *err)
{
	struct mtls_err bad;
	CURL *c;
	struct curl_slist *hdrs = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;
	int ret = -1;

	/* The URL may come from a certificate's AIA, a peer's data: the one
	 * URL rule applies before libcurl sees it, as a format error (not a
	 * usage error: the user may have typed nothing). */
	memset(&bad, 0, sizeof(bad));
	if (mtls_url_check(url, MTLS_URL_HTTP, &bad) != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT, "OCSP responder: %s",
		    bad.msg);
	}
	c = curl_easy_init();
	if (c == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start libcurl");
	}
	hdrs = curl_slist_append(NULL, "Content-Type: application/ocsp-request");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)req);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req_len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		mtls_err_set(err, MTLS_E_PEER, "OCSP responder %s: %s", url,
		    b->too_big ? "response larger than 1 MiB"
			       : curl_err[0] ? curl_err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		mtls_err_set(err, MTLS_E_PEER,
		    "OCSP responder %s answered HTTP %ld", url, code);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

int
mtls_ocsp_query(X509 *cert, X509 *issuer, const char *url, int nonce,
    long timeout_ms, struct mtls_ocsp_result *res, struct mtls_err *err)
{
	return mtls__ocsp_query_lim(cert, issuer, url, nonce, timeout_ms, 0, -1,
	    res, err);
}

int
mtls__ocsp_query_lim(X509 *cert, X509 *issuer, const char *url, int nonce,
    long timeout_ms, long max_age, long skew, struct mtls_ocsp_result *res,
    struct mtls_err *err)
{
	OCSP_REQUEST *req = NULL;
	unsigned char *der = NULL;
	char *aia = NULL;
	struct body b = {NULL, 0, 0};
	int len, rc = -1;

	if (url == NULL) {
		aia = mtls_ocsp_url(cert);
		if (aia == NULL) {
			char *subj = mtls_name_format(X509_get_subject_name(cert));

			mtls_err_set(err, MTLS_E_USAGE,
			    "certificate %s names no OCSP responder (no AIA OCSP "
			    "URL); give one with --url", subj ? subj : "?");
			OPENSSL_free(subj);
			return -1;
		}
		url = aia;
	}
	req = mtls_ocsp_request_new(cert, issuer, nonce, err);
	if (req == NULL) {
		goto out;
	}
	len = i2d_OCSP_REQUEST(req, &der);
	if (len <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the OCSP request");
		goto out;
	}
	if (http_post(url, der, (size_t)len, timeout_ms, &b, err) != 0) {
		goto out;
	}
	if (mtls__ocsp_response_check_lim(b.data, b.len, req, cert, issuer, 0,
		max_age, skew, res, err) != 0) {
		char msg[MTLS_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
		mtls_err_set(err, err ? err->code : MTLS_E_PEER, "%s (from %s)", msg, url);
		goto out;
	}
	rc = 0;
out:
	free(b.data);
	OPENSSL_free(der);
	OPENSSL_free(aia);
	OCSP_REQUEST_free(req);
	return rc;
}

