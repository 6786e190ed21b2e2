/* see mtls/revocation.h: mtls_ocsp_query, one OCSP query over HTTP. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mtls/err.h"
#include "mtls/pki.h"
#include "revocation/revocation_int.h"
#include "mtls/revocation.h"

/* An OCSP response is a few kilobytes at most; refuse anything larger. */
#define RESP_MAX (1024 * 1024)

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
	struct mtls__fetched b = {NULL, 0, RESP_MAX, 0};
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
	if (mtls__revocation_http("OCSP responder", url,
	    "application/ocsp-request", der, (size_t)len, timeout_ms, &b,
	    err) != 0) {
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

