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
