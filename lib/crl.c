/* see mtls/ca.h: mtls_ca_crl */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"
#include "internal.h"

struct crl_build {
	X509_CRL *crl;
	X509_EXTENSION *reason_ext[11]; /* one encoded extension per reason */
	long count;
	struct mtls_err *err;
};

static X509_EXTENSION *
reason_ext(struct crl_build *b, const char *name)
{
	int code = 0;
	ASN1_ENUMERATED *e;

	if (name == NULL || mtls_reason_parse(name, &code, NULL) != 0) {
		code = 0;
	}
	if (b->reason_ext[code] == NULL) {
		e = ASN1_ENUMERATED_new();
		if (e == NULL || ASN1_ENUMERATED_set(e, code) != 1) {
			ASN1_ENUMERATED_free(e);
			return NULL;
		}
		b->reason_ext[code] = X509V3_EXT_i2d(NID_crl_reason, 0, e);
		ASN1_ENUMERATED_free(e);
	}
	return b->reason_ext[code];
}

static int
add_entry(const struct mtls_inv_entry *e, void *arg)
{
	struct crl_build *b = arg;
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	BIGNUM *bn = NULL;
	X509_EXTENSION *ext;
	int ok = 0;

	if (r != NULL && BN_hex2bn(&bn, e->serial) > 0 &&
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    (when = ASN1_TIME_set(NULL, e->revoked_at)) != NULL &&
	    X509_REVOKED_set_serialNumber(r, serial) == 1 &&
	    X509_REVOKED_set_revocationDate(r, when) == 1) {
		/* RFC 5280 5.3.1: omit the reason rather than say unspecified. */
		ext = (e->reason != NULL && strcmp(e->reason, "unspecified") != 0)
		    ? reason_ext(b, e->reason) : NULL;
		ok = ext == NULL || X509_REVOKED_add_ext(r, ext, -1) == 1;
	}
	ok = ok && X509_CRL_add0_revoked(b->crl, r) == 1;
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	if (!ok) {
		X509_REVOKED_free(r);
		return mtls_err_ssl(b->err, MTLS_E_INTERNAL,
		    "cannot add serial %s to the CRL", e->serial);
	}
	b->count++;
	return 0;
}

static int
crl_exts(struct mtls_ca *ca, X509_CRL *crl, struct mtls_err *err)
{
	ASN1_INTEGER *num = NULL;
	long long n = 0;
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	int rc = -1;

	if (mtls_ca_next_crl_number(ca, &n, err) != 0) {
		return -1;
	}
	num = ASN1_INTEGER_new();
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	if (num == NULL || ASN1_INTEGER_set_int64(num, n) != 1 || aki == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    X509_CRL_add_ext(crl, aki, -1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot add CRL extensions");
	} else {
		rc = 0;
	}
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	return rc;
}

static int
crl_encode(X509_CRL *crl, int der, unsigned char **out, size_t *len,
    struct mtls_err *err)
{
	BIO *b;
	char *data;
	long n;

	if (der) {
		int dn = i2d_X509_CRL(crl, out);

		if (dn <= 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CRL");
		}
		*len = (size_t)dn;
		return 0;
	}
	b = BIO_new(BIO_s_mem());
	if (b == NULL || PEM_write_bio_X509_CRL(b, crl) != 1) {
		BIO_free(b);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CRL");
	}
	n = BIO_get_mem_data(b, &data);
	*out = OPENSSL_malloc((size_t)n);
	if (*out != NULL) {
		memcpy(*out, data, (size_t)n);
		*len = (size_t)n;
	}
	BIO_free(b);
	return *out != NULL ? 0 : mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
}

int
mtls_ca_crl(struct mtls_ca *ca, int days, int der, unsigned char **out,
    size_t *len, long *count, struct mtls_err *err)
{
	struct crl_build b;
	time_t now = time(NULL);
	ASN1_TIME *t = NULL;
	int rc = -1;
	size_t i;

	memset(&b, 0, sizeof(b));
	b.err = err;
	*out = NULL;
	if (ca->key == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the CA key is not loaded");
	}
	b.crl = X509_CRL_new();
	t = ASN1_TIME_new();
	if (b.crl == NULL || t == NULL || X509_CRL_set_version(b.crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(b.crl, X509_get_subject_name(ca->cert)) != 1 ||
	    ASN1_TIME_set(t, now) == NULL || X509_CRL_set1_lastUpdate(b.crl, t) != 1 ||
	    X509_time_adj_ex(t, days > 0 ? days : 7, 0, &now) == NULL ||
	    X509_CRL_set1_nextUpdate(b.crl, t) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build the CRL");
		goto out;
	}
	if (mtls_ca_list_revoked(ca, add_entry, &b, err) != 0 ||
	    crl_exts(ca, b.crl, err) != 0) {
		goto out;
	}
	/* X509_CRL_sign sorts the entries by serial (RFC 5280 does not
	 * require it, but lookups by binary search rely on it). */
	if (X509_CRL_sign(b.crl, ca->key, mtls_sign_md(ca->key)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the CRL");
		goto out;
	}
	if (crl_encode(b.crl, der, out, len, err) != 0) {
		goto out;
	}
	*count = b.count;
	rc = 0;
out:
	for (i = 0; i < MTLS_ARRAY_LEN(b.reason_ext); i++) {
		X509_EXTENSION_free(b.reason_ext[i]);
	}
	ASN1_TIME_free(t);
	X509_CRL_free(b.crl);
	return rc;
}
