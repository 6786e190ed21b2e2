/* Certificates made in-process for unit tests (OpenSSL API, P-256). */
#ifndef MTLS_SERVE_CERTS_H
#define MTLS_SERVE_CERTS_H

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline EVP_PKEY *
tp_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static inline void
tp_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext != NULL) {
		X509_add_ext(cert, ext, -1);
		X509_EXTENSION_free(ext);
	}
}

/*
 * A certificate for KEY named CN, signed by ISSUER/IKEY (NULL: self-signed
 * CA). EKU ("clientAuth", "serverAuth", NULL for none), SAN ("DNS:a,URI:b"
 * or NULL). Validity from NOW+FROM_DAYS to NOW+TO_DAYS.
 */
static inline X509 *
tp_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    const char *eku, const char *san, long from_days, long to_days)
{
	static long serial = 1;
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"mtls test", -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer)
					       : n);
	X509_gmtime_adj(X509_getm_notBefore(c), from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(c), to_days * 86400);
	X509_set_pubkey(c, key);
	if (issuer == NULL) {
		tp_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
		tp_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		tp_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
		tp_ext(c, issuer, NID_key_usage, "critical,digitalSignature");
	}
	if (eku != NULL) {
		tp_ext(c, issuer ? issuer : c, NID_ext_key_usage, eku);
	}
	if (san != NULL) {
		tp_ext(c, issuer ? issuer : c, NID_subject_alt_name, san);
	}
	/* RFC 5280 4.2.1.1/4.2.1.2, which the strict chain profile checks. */
	tp_ext(c, issuer ? issuer : c, NID_subject_key_identifier, "hash");
	if (issuer != NULL) {
		tp_ext(c, issuer, NID_authority_key_identifier, "keyid:always");
	}
	X509_sign(c, issuer != NULL ? ikey : key, EVP_sha256());
	X509_NAME_free(n);
	return c;
}

static inline int
tp_write_cert(const char *path, X509 *c)
{
	FILE *f = fopen(path, "w");
	int ok = f != NULL && PEM_write_X509(f, c) == 1;

	if (f != NULL) {
		fclose(f);
	}
	return ok ? 0 : -1;
}

static inline int
tp_write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	int ok = f != NULL &&
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;

	if (f != NULL) {
		fclose(f);
	}
	return ok ? 0 : -1;
}

#endif
