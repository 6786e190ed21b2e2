/* One bounded HTTP(S) exchange for revocation data, shared by the CRL
 * fetch (GET) and the OCSP query (POST): the URL rule first, http and
 * https only, no redirects, a size cap, and one way of naming failures. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mtls/err.h"
#include "mtls/pki.h"
#include "revocation/revocation_int.h"

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct mtls__fetched *f = arg;
	size_t n = size * nmemb;
	unsigned char *p;

	if (f->len + n > f->max) {
		f->too_big = 1;
		return 0;
	}
	/* One byte more: a NUL after the body, for callers that parse text. */
	p = realloc(f->data, f->len + n + 1);
	if (p == NULL) {
		return 0;
	}
	memcpy(p + f->len, ptr, n);
	f->data = p;
	f->len += n;
	f->data[f->len] = '\0';
	return n;
}

/* Says why the exchange failed: the cap, libcurl's detail or its code. */
static int
fetch_failed(const char *what, const char *url, const struct mtls__fetched *f,
    const char *curl_err, CURLcode rc, struct mtls_err *err)
{
	if (f->too_big) {
		return mtls_err_set(err, MTLS_E_PEER, "%s %s: larger than %zu MiB",
		    what, url, f->max >> 20);
	}
	return mtls_err_set(err, MTLS_E_PEER, "%s %s: %s", what, url,
	    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
}

int
mtls__revocation_http(const char *what, const char *url, const char *ctype,
    const unsigned char *body, size_t body_len, long timeout_ms,
    struct mtls__fetched *f, struct mtls_err *err)
{
	struct mtls_err bad;
	struct curl_slist *hdrs = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	char header[128];
	long code = 0;
	CURLcode rc;
	CURL *c;
	int ret = -1;

	/* The URL may come from a certificate (AIA, CRL distribution point),
	 * data someone else wrote: the one URL rule applies before libcurl
	 * sees it, as a format error (the user may have typed nothing). */
	memset(&bad, 0, sizeof(bad));
	if (mtls_url_check(url, MTLS_URL_HTTP, &bad) != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT, "%s: %s", what, bad.msg);
	}
	c = curl_easy_init();
	if (c == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start libcurl");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (body != NULL) {
		snprintf(header, sizeof(header), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(NULL, header);
		if (hdrs == NULL) {
			mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fetch_failed(what, url, f, curl_err, rc, err);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		mtls_err_set(err, MTLS_E_PEER, "%s %s answered HTTP %ld", what, url,
		    code);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}
