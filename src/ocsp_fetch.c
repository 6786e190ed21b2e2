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

/* 1 when CERT is one of the --ca certificates. */
static int
is_trusted(X509 *cert, STACK_OF(X509) *cas)
{
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		if (X509_cmp(cert, sk_X509_value(cas, i)) == 0) {
			return 1;
		}
	}
	return 0;
}

/* One certificate: good, or an error sentence naming it. */
static int
ocsp_one(X509 *cert, X509 *issuer, int depth, const char *url,
    struct mtls_err *err)
{
	struct mtls_ocsp_result res;
	char *subj = NULL, *serial = NULL, what[400];
	int rc = -1;

	if (ocsp_query(cert, issuer, url, 0, 10, &res, err) != 0) {
		return -1;
	}
	subj = mtls_name_format(X509_get_subject_name(cert));
	serial = mtls_cert_serial_hex(cert);
	if (res.status == MTLS_OCSP_GOOD) {
		rc = 0;
	} else if (res.status == MTLS_OCSP_REVOKED) {
		mtls_explain_revoked(cert, res.revoked_at,
		    res.reason >= 0 ? res.reason : 0, what, sizeof(what));
		mtls_err_set(err, MTLS_E_VERIFY, "%s%s", what, depth > 0
		    ? " (an intermediate CA of the chain: every certificate "
		      "below it is refused)" : "");
	} else {
		mtls_err_set(err, MTLS_E_VERIFY,
		    "certificate %s (serial %s) is unknown to the OCSP responder "
		    "(not issued by the CA it serves?)", subj ? subj : "?",
		    serial ? serial : "?");
	}
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	return rc;
}

int
ocsp_verify_step(X509 *leaf, STACK_OF(X509) *chain, const char *ca_file,
    const char *url, struct mtls_err *err)
{
	STACK_OF(X509) *cas = NULL;
	X509 *cert = leaf, *issuer;
	char *subj;
	int depth, rc = -1;

	if (ca_file != NULL && mtls_load_certs(ca_file, &cas, err) != 0) {
		return -1;
	}
	ERR_clear_error();
	/* Every certificate but the anchor, as serve checks a client's chain
	 * (docs/revocation.md): a revoked intermediate takes its leaves. */
	for (depth = 0; depth < 16; depth++) {
		/* The anchor: a self-signed root, or a trusted CA whose own
		 * issuer is nowhere (OpenSSL's chain ends there too). */
		if (depth > 0 && X509_check_issued(cert, cert) == X509_V_OK) {
			rc = 0;
			break;
		}
		issuer = ocsp_find_issuer(cert, chain);
		if (issuer == NULL || issuer == cert) {
			issuer = ocsp_find_issuer(cert, cas);
		}
		if (issuer == NULL && depth > 0 && is_trusted(cert, cas)) {
			rc = 0;
			break;
		}
		if (issuer == NULL) {
			subj = mtls_name_format(X509_get_subject_name(cert));
			mtls_err_set(err, MTLS_E_USAGE,
			    "cannot find the issuer of %s to ask OCSP; give it "
			    "with --ca or append it to the certificate file",
			    subj ? subj : "?");
			OPENSSL_free(subj);
			break;
		}
		if (ocsp_one(cert, issuer, depth, url, err) != 0) {
			break;
		}
		cert = issuer;
	}
	if (depth == 16) {
		mtls_err_set(err, MTLS_E_VERIFY, "the chain is longer than 16 "
		    "certificates; OCSP was not asked about all of them");
	}
	sk_X509_pop_free(cas, X509_free);
	return rc;
}
