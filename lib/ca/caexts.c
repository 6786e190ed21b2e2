/* see ca/ca_internal.h: the extensions every CA certificate carries,
 * whether a root (ca.c), an intermediate (subca.c) or a rollover's cross
 * certificate (rollover.c). A leaf of ca/: it calls no other file here. */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "base/internal.h"

int
mtls__add_ext(X509 *x, int nid, int crit, void *value, struct mtls_err *err)
{
	if (X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_DEFAULT) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot add extension %s", OBJ_nid2sn(nid));
	}
	return 0;
}

int
mtls__add_ski(X509 *x, struct mtls_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	int rc;

	if (ski == NULL ||
	    X509_pubkey_digest(x, EVP_sha1(), md, &n) != 1 ||
	    ASN1_OCTET_STRING_set(ski, md, (int)n) != 1) {
		ASN1_OCTET_STRING_free(ski);
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot compute the subject key identifier");
	}
	rc = mtls__add_ext(x, NID_subject_key_identifier, 0, ski, err);
	ASN1_OCTET_STRING_free(ski);
	return rc;
}

int
mtls__add_ca_exts(X509 *x, int path_len, struct mtls_err *err)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int rc = -1;

	if (bc == NULL || ku == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	/* DER encodes TRUE as 0xFF (X.690 11.1); OpenSSL writes the int as
	 * given, and strict parsers (Go: lego, Caddy, cert-manager) refuse 1. */
	bc->ca = 0xFF;
	if (path_len >= 0 && ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set(bc->pathlen, path_len) != 1)) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	/* keyCertSign, cRLSign; digitalSignature so the CA can also sign
	 * OCSP responses itself (RFC 6960 4.2.2.2). */
	if (ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
	    ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 ||
	    ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls__add_ext(x, NID_basic_constraints, 1, bc, err) != 0 ||
	    mtls__add_ext(x, NID_key_usage, 1, ku, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	return rc;
}
