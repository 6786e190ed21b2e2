/* see ocsp_fetch.h */
#include "ocsp_fetch.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"

int
ocsp_query(X509 *cert, X509 *issuer, const char *url, int no_nonce,
    long timeout, struct mtls_ocsp_result *res, struct mtls_err *err)
{
	return mtls_ocsp_query(cert, issuer, url, !no_nonce, timeout * 1000,
	    res, err);
}

X509 *
ocsp_find_issuer(X509 *leaf, STACK_OF(X509) *candidates)
{
	int i;

	for (i = 0; i < sk_X509_num(candidates); i++) {
		X509 *c = sk_X509_value(candidates, i);

		if (X509_check_issued(c, leaf) == X509_V_OK) {
			return c;
		}
	}
	return NULL;
}

int
ocsp_verify_step(X509 *leaf, STACK_OF(X509) *chain, const char *ca_file,
    const char *url, struct mtls_err *err)
{
	STACK_OF(X509) *cas = NULL;
	X509 *issuer = ocsp_find_issuer(leaf, chain);
	struct mtls_ocsp_result res;
	char *subj = NULL, *serial = NULL, what[200];
	int rc = -1;

	if (issuer == NULL && ca_file != NULL) {
		if (mtls_load_certs(ca_file, &cas, err) != 0) {
			return -1;
		}
		issuer = ocsp_find_issuer(leaf, cas);
	}
	ERR_clear_error();
	subj = mtls_name_format(X509_get_subject_name(leaf));
	serial = mtls_cert_serial_hex(leaf);
	if (issuer == NULL) {
		mtls_err_set(err, MTLS_E_USAGE,
		    "cannot find the issuer of %s to ask OCSP; give it with --ca "
		    "or append it to the certificate file", subj ? subj : "?");
		goto out;
	}
	if (ocsp_query(leaf, issuer, url, 0, 10, &res, err) != 0) {
		goto out;
	}
	mtls_ocsp_result_format(&res, what, sizeof(what));
	if (res.status == MTLS_OCSP_GOOD) {
		rc = 0;
	} else if (res.status == MTLS_OCSP_REVOKED) {
		mtls_explain_revoked(leaf, res.revoked_at,
		    res.reason >= 0 ? res.reason : 0, what, sizeof(what));
		mtls_err_set(err, MTLS_E_VERIFY, "%s", what);
	} else {
		mtls_err_set(err, MTLS_E_VERIFY,
		    "certificate %s (serial %s) is unknown to the OCSP responder "
		    "(not issued by the CA it serves?)", subj ? subj : "?",
		    serial ? serial : "?");
	}
out:
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}
