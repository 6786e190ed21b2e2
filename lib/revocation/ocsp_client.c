/* see mtls/ocsp.h: the client side (requests, response checks) */
#include "mtls/ocsp.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "base/clock.h"

#include "revocation/revocation_int.h"

OCSP_REQUEST *
mtls_ocsp_request_new(X509 *cert, X509 *issuer, int nonce,
    struct mtls_err *err)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = NULL;

	if (req == NULL ||
	    (id = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) == NULL ||
	    OCSP_request_add0_id(req, id) == NULL) {
		OCSP_CERTID_free(id);
		goto fail;
	}
	/* RFC 8954: 16 random octets is the recommended minimum. */
	if (nonce && OCSP_request_add1_nonce(req, NULL, 16) != 1) {
		goto fail;
	}
	return req;
fail:
	mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build an OCSP request");
	OCSP_REQUEST_free(req);
	return NULL;
}

/* The signature: by ISSUER itself or by a certificate ISSUER issued with
 * EKU OCSPSigning (RFC 6960 4.2.2.2); OCSP_basic_verify checks both. */
static int
verify_signature(OCSP_BASICRESP *bs, X509 *issuer, struct mtls_err *err)
{
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();
	int rc = -1;

	if (st == NULL || certs == NULL || X509_STORE_add_cert(st, issuer) != 1 ||
	    sk_X509_push(certs, issuer) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	/* The issuer may be an intermediate: trust it as the anchor. */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	if (OCSP_basic_verify(bs, certs, st, 0) != 1) {
		mtls_err_ssl(err, MTLS_E_VERIFY,
		    "the OCSP response is not signed by the issuer or a responder "
		    "it authorised");
		goto out;
	}
	rc = 0;
out:
	sk_X509_free(certs);
	X509_STORE_free(st);
	return rc;
}

static void
human(time_t t, char *buf, size_t len)
{
	mtls__time_format(t, MTLS__TIME_HUMAN, buf, len);
}

int
mtls_ocsp_result_fresh(const struct mtls_ocsp_result *res, time_t at,
    long max_age, long skew, struct mtls_err *err)
{
	long limit = max_age > 0 ? max_age : MTLS_OCSP_DEFAULT_MAX_AGE;
	char when[64];

	if (at == 0) {
		at = time(NULL);
	}
	if (skew < 0) {
		skew = MTLS_OCSP_DEFAULT_SKEW;
	}
	if (res->this_update == 0) {
		return mtls_err_set(err, MTLS_E_VERIFY,
		    "the OCSP answer has no readable thisUpdate");
	}
	human(res->this_update, when, sizeof(when));
	if (res->this_update > at + skew) {
		return mtls_err_set(err, MTLS_E_VERIFY, "the OCSP answer's "
		    "thisUpdate (%s) lies %ld s in the future, more than the "
		    "%ld s of clock skew allowed (--ocsp-clock-skew): check "
		    "the clocks of this host and of the responder", when,
		    (long)(res->this_update - at), skew);
	}
	if (res->next_update != 0 && res->next_update < at - skew) {
		human(res->next_update, when, sizeof(when));
		return mtls_err_set(err, MTLS_E_VERIFY, "the OCSP answer is "
		    "stale: its nextUpdate (%s) passed %ld s ago (RFC 6960 "
		    "4.2.2.1); the responder must sign fresh answers",
		    when, (long)(at - res->next_update));
	}
	/* RFC 6960 4.2.2.1: without nextUpdate, newer information is always
	 * available, so such an answer gets a bounded life; a configured
	 * maximum age bounds every answer (as openssl ocsp -status_age). */
	if ((res->next_update == 0 || max_age > 0) &&
	    at - res->this_update > limit + skew) {
		return mtls_err_set(err, MTLS_E_VERIFY, "the OCSP answer is too "
		    "old: produced %s (%ld s ago)%s, and the maximum age is %ld s "
		    "(--ocsp-max-age); the responder must sign fresh answers",
		    when, (long)(at - res->this_update),
		    res->next_update == 0 ? " without a nextUpdate" : "", limit);
	}
	return 0;
}

int
mtls_ocsp_response_check(const unsigned char *der, size_t len,
    OCSP_REQUEST *req, X509 *cert, X509 *issuer, time_t at,
    struct mtls_ocsp_result *res, struct mtls_err *err)
{
	return mtls__ocsp_response_check_lim(der, len, req, cert, issuer, at,
	    0, -1, res, err);
}

int
mtls__ocsp_response_check_lim(const unsigned char *der, size_t len,
    OCSP_REQUEST *req, X509 *cert, X509 *issuer, time_t at, long max_age,
    long skew, struct mtls_ocsp_result *res, struct mtls_err *err)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int rc = -1, status, reason = -1, st;

	(void)cert; /* the CertID in REQ was made from CERT */
	memset(res, 0, sizeof(*res));
	if (at == 0) {
		at = time(NULL);
	}
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (resp == NULL) {
		mtls_err_ssl(err, MTLS_E_PEER, "the responder's answer is not an OCSP response");
		goto out;
	}
	st = OCSP_response_status(resp);
	if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		mtls_err_set(err, MTLS_E_PEER, "the OCSP responder answered %s",
		    OCSP_response_status_str(st));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs == NULL) {
		mtls_err_ssl(err, MTLS_E_PEER, "the OCSP response has no basic response");
		goto out;
	}
	if (verify_signature(bs, issuer, err) != 0) {
		goto out;
	}
	/* RFC 8954: a nonce we sent must come back unchanged. */
	switch (OCSP_check_nonce(req, bs)) {
	case 1:
	case 2:
	case 3:
		break;
	case -1:
		mtls_err_set(err, MTLS_E_PEER,
		    "the OCSP response does not echo our nonce (possible replay)");
		goto out;
	default:
		mtls_err_set(err, MTLS_E_PEER,
		    "the OCSP response carries a different nonce (replay?)");
		goto out;
	}
	id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
	if (OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd,
		&nextupd) != 1) {
		mtls_err_set(err, MTLS_E_PEER,
		    "the OCSP response does not answer for this certificate");
		goto out;
	}
	res->this_update = (time_t)mtls__time_of_asn1(thisupd);
	res->next_update = nextupd != NULL ? (time_t)mtls__time_of_asn1(nextupd) : 0;
	if (mtls_ocsp_result_fresh(res, at, max_age, skew, err) != 0) {
		goto out;
	}
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD: res->status = MTLS_OCSP_GOOD; break;
	case V_OCSP_CERTSTATUS_REVOKED:
		res->status = MTLS_OCSP_REVOKED;
		res->revoked_at = (time_t)mtls__time_of_asn1(rev);
		res->reason = reason;
		break;
	default: res->status = MTLS_OCSP_UNKNOWN; break;
	}
	rc = 0;
out:
	ERR_clear_error();
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return rc;
}

char *
mtls_ocsp_url(X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
	char *url = NULL;

	if (urls != NULL && sk_OPENSSL_STRING_num(urls) > 0) {
		url = OPENSSL_strdup(sk_OPENSSL_STRING_value(urls, 0));
	}
	X509_email_free(urls);
	return url;
}

void
mtls_ocsp_result_format(const struct mtls_ocsp_result *res, char *buf,
    size_t len)
{
	char when[64];

	switch (res->status) {
	case MTLS_OCSP_GOOD:
		snprintf(buf, len, "good");
		break;
	case MTLS_OCSP_REVOKED:
		mtls__time_format(res->revoked_at, MTLS__TIME_HUMAN, when,
		    sizeof(when));
		snprintf(buf, len, "revoked on %s (%s)", when,
		    mtls_reason_name(res->reason >= 0 ? res->reason : 0));
		break;
	default:
		snprintf(buf, len, "unknown");
		break;
	}
}
