/* see mtls/ca.h: mtls_csr_check, mtls_load_csr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/ca.h"
#include "base/internal.h"
#include "pki/csr_int.h"

X509_REQ *
mtls_load_csr(const char *path, struct mtls_err *err)
{
	unsigned char *d = NULL;
	size_t n = 0;
	X509_REQ *req = NULL;

	if (mtls_file_read(path, 1024 * 1024, &d, &n, err) != 0) {
		return NULL;
	}
	if (mtls__looks_pem(d, n)) {
		BIO *b = BIO_new_mem_buf(d, (int)n);

		req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		const unsigned char *p = d;

		req = d2i_X509_REQ(NULL, &p, (long)n);
	}
	mtls_file_free(d, n);
	ERR_clear_error();
	if (req == NULL) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s is not a certificate signing request (PEM or DER PKCS#10)",
		    path);
	}
	return req;
}

static int
csr_refuses_ca(STACK_OF(X509_EXTENSION) *exts, struct mtls_err *err)
{
	BASIC_CONSTRAINTS *bc;
	int crit = 0;

	bc = X509V3_get_d2i(exts, NID_basic_constraints, &crit, NULL);
	if (bc == NULL) {
		return 0;
	}
	if (bc->ca) {
		BASIC_CONSTRAINTS_free(bc);
		return mtls_err_set(err, MTLS_E_POLICY,
		    "the CSR asks for a CA certificate (basicConstraints "
		    "CA:TRUE); partner requests can only get end-entity "
		    "certificates");
	}
	BASIC_CONSTRAINTS_free(bc);
	return 0;
}

static int
csr_check_sans(STACK_OF(X509_EXTENSION) *exts, const char *allow,
    GENERAL_NAMES **out, struct mtls_err *err)
{
	int crit = 0, i;
	GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit,
	    NULL);

	if (gens == NULL && crit != -1) {
		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_POLICY,
		    "the CSR's subject alternative names are malformed");
	}
	if (gens == NULL) {
		gens = sk_GENERAL_NAME_new_null();
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *text;

		if (mtls_san_check(g, err) != 0) {
			GENERAL_NAMES_free(gens);
			return -1;
		}
		text = mtls_san_text(g);
		if (allow != NULL && (text == NULL || !mtls_san_allowed(text, allow))) {
			mtls_err_set(err, MTLS_E_POLICY,
			    "the CSR asks for SAN %s, which --san-allow '%s' "
			    "does not permit",
			    text ? text : "?", allow);
			free(text);
			GENERAL_NAMES_free(gens);
			return -1;
		}
		free(text);
	}
	*out = gens;
	return 0;
}

int
mtls_csr_check(X509_REQ *req, const char *san_allow, GENERAL_NAMES **sans,
    struct mtls_err *err)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int rc = -1;

	*sans = NULL;
	/* Proof of possession first (RFC 2986 4.2): nothing else in an
	 * unsigned request can be believed. */
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_POLICY,
		    "the CSR's signature does not verify: it was altered or "
		    "its sender does not hold the key; ask for a new CSR");
	}
	if (mtls_key_check_strength(pub, "the CSR's key", err) != 0) {
		return -1;
	}
	exts = X509_REQ_get_extensions(req);
	ERR_clear_error();
	if (csr_refuses_ca(exts, err) != 0 ||
	    csr_check_sans(exts, san_allow, sans, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int
mtls_csr_fingerprint(X509_REQ *req, char *buf, size_t len,
    struct mtls_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t off = 0;

	if (X509_REQ_digest(req, EVP_sha256(), md, &n) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot hash the CSR");
	}
	if (len < (size_t)n * 3) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "fingerprint buffer too small");
	}
	for (i = 0; i < n; i++) {
		off += (size_t)snprintf(buf + off, len - off, i ? ":%02X" : "%02X", md[i]);
	}
	return 0;
}

/* see csr_int.h */
EVP_PKEY *
mtls__csr_pubkey(X509_REQ *req)
{
	X509_PUBKEY *spki = X509_REQ_get_X509_PUBKEY(req);
	ASN1_OBJECT *alg = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pk = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int n = 0;

	if (spki != NULL &&
	    X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, spki) == 1 &&
	    (n = i2d_X509_PUBKEY(spki, &der)) > 0) {
		p = der;
		switch (OBJ_obj2nid(alg)) {
		case NID_X9_62_id_ecPublicKey:
			ec = d2i_EC_PUBKEY(NULL, &p, n);
			break;
		case NID_rsaEncryption:
			rsa = d2i_RSA_PUBKEY(NULL, &p, n);
			break;
		default:
			break;
		}
	}
	if ((ec != NULL || rsa != NULL) && (pk = EVP_PKEY_new()) != NULL &&
	    (ec != NULL ? EVP_PKEY_assign_EC_KEY(pk, ec)
			: EVP_PKEY_assign_RSA(pk, rsa)) == 1) {
		ec = NULL;
		rsa = NULL;
	} else {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EC_KEY_free(ec);
	RSA_free(rsa);
	OPENSSL_free(der);
	ERR_clear_error();
	if (pk == NULL && (pk = X509_REQ_get0_pubkey(req)) != NULL &&
	    EVP_PKEY_up_ref(pk) != 1) {
		pk = NULL;
	}
	return pk;
}
