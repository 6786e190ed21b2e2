/* see mtls/inspect.h: recognising content */
#define _GNU_SOURCE
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/inspect.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "base/internal.h"

struct found {
	json_t *objs;
	X509 *first_cert;
	EVP_PKEY *first_key;
};

static void
add_cert(struct found *f, X509 *x, const char *role)
{
	json_t *j = mtls_cert_to_json(x);

	if (role != NULL) {
		json_object_set_new(j, "role", json_string(role));
	}
	json_array_append_new(f->objs, j);
	if (f->first_cert == NULL && X509_up_ref(x) == 1) {
		f->first_cert = x;
	}
}

static void
add_key(struct found *f, EVP_PKEY *k, const char *encoding, int encrypted)
{
	json_t *j = json_object();
	char buf[80];

	json_object_set_new(j, "type", json_string("private key"));
	json_object_set_new(j, "encoding", json_string(encoding));
	json_object_set_new(j, "encrypted", json_boolean(encrypted));
	if (k != NULL) {
		mtls_key_describe(k, buf, sizeof(buf));
		json_object_set_new(j, "key", json_string(buf));
		if (f->first_key == NULL && EVP_PKEY_up_ref(k) == 1) {
			f->first_key = k;
		}
	}
	json_array_append_new(f->objs, j);
}

static void
add_csr(struct found *f, X509_REQ *r)
{
	json_t *j = json_object(), *sans = json_array();
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(r);
	GENERAL_NAMES *g = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	EVP_PKEY *pk = X509_REQ_get0_pubkey(r);
	char buf[128], *s = mtls_san_format(g), *item, *save = NULL;

	json_object_set_new(j, "type", json_string("certificate request"));
	{
		char *subj = mtls_name_format(X509_REQ_get_subject_name(r));

		json_object_set_new(j, "subject", json_string(subj ? subj : ""));
		OPENSSL_free(subj);
	}
	if (pk != NULL) {
		mtls_key_describe(pk, buf, sizeof(buf));
		json_object_set_new(j, "key", json_string(buf));
	}
	for (item = s ? strtok_r(s, ",", &save) : NULL; item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		json_array_append_new(sans, json_string(item));
	}
	json_object_set_new(j, "sans", sans);
	if (mtls_csr_fingerprint(r, buf, sizeof(buf), NULL) == 0 &&
	    mtls_fingerprint_hex(buf, buf, sizeof(buf)) == 0) {
		json_object_set_new(j, "sha256", json_string(buf));
	}
	json_object_set_new(j, "signature_valid",
	    json_boolean(pk != NULL && X509_REQ_verify(r, pk) == 1));
	ERR_clear_error();
	free(s);
	GENERAL_NAMES_free(g);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	json_array_append_new(f->objs, j);
}

/* Encrypted keys: describe them; decrypt only when a password was given,
 * so that inspecting never prompts unexpectedly in scripts. */
static int
pem_key(struct found *f, const unsigned char *blk, size_t blen, const char *name,
    const char *pass_spec, int encrypted, const char *enc, struct mtls_err *err)
{
	EVP_PKEY *k = NULL;

	if (encrypted && pass_spec == NULL) {
		add_key(f, NULL, enc, 1);
		return 0;
	}
	k = mtls_parse_key(blk, blen, name, pass_spec, err);
	if (k == NULL) {
		return -1;
	}
	add_key(f, k, enc, encrypted);
	EVP_PKEY_free(k);
	return 0;
}

static int
pem_block(struct found *f, const char *label, const char *header,
    const unsigned char *der, long dlen, const char *name, const char *pass_spec,
    struct mtls_err *err)
{
	const unsigned char *p = der;
	char *pem = NULL;
	size_t plen = 0;
	int rc;

	if (strcmp(label, "CERTIFICATE") == 0 || strcmp(label, "TRUSTED CERTIFICATE") == 0) {
		X509 *x = strcmp(label, "CERTIFICATE") == 0 ? d2i_X509(NULL, &p, dlen)
							     : d2i_X509_AUX(NULL, &p, dlen);

		if (x == NULL) {
			return mtls_err_set(err, MTLS_E_FORMAT,
			    "%s: a %s block is corrupted (bad DER inside the PEM)", name, label);
		}
		add_cert(f, x, NULL);
		X509_free(x);
		return 0;
	}
	if (strstr(label, "CERTIFICATE REQUEST") != NULL) {
		X509_REQ *r = d2i_X509_REQ(NULL, &p, dlen);

		if (r == NULL) {
			return mtls_err_set(err, MTLS_E_FORMAT, "%s: the CSR is corrupted", name);
		}
		add_csr(f, r);
		X509_REQ_free(r);
		return 0;
	}
	if (strstr(label, "PRIVATE KEY") != NULL) {
		/* Re-wrap the block so the key loader sees a normal PEM. */
		BIO *b = BIO_new(BIO_s_mem());
		char *data;
		long n;
		int enc = strcmp(label, "ENCRYPTED PRIVATE KEY") == 0 ||
		    strstr(header, "ENCRYPTED") != NULL;
		const char *fmt = strcmp(label, "PRIVATE KEY") == 0 ? "PKCS#8"
		    : strcmp(label, "ENCRYPTED PRIVATE KEY") == 0 ? "PKCS#8 (encrypted)"
								   : "traditional";

		if (b == NULL || PEM_write_bio(b, label, header, der, dlen) <= 0) {
			BIO_free(b);
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		}
		n = BIO_get_mem_data(b, &data);
		pem = data;
		plen = (size_t)n;
		rc = pem_key(f, (unsigned char *)pem, plen, name, pass_spec, enc, fmt, err);
		BIO_free(b);
		return rc;
	}
	{
		json_t *j = json_object();

		json_object_set_new(j, "type", json_string(label));
		json_array_append_new(f->objs, j);
	}
	return 0;
}

static int
scan_pem(struct found *f, const unsigned char *d, size_t n, const char *name,
    const char *pass_spec, struct mtls_err *err)
{
	BIO *b = BIO_new_mem_buf(d, (int)n);
	char *label = NULL, *header = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	int rc = 0;

	if (b == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	while (rc == 0 && PEM_read_bio(b, &label, &header, &der, &dlen) == 1) {
		rc = pem_block(f, label, header, der, dlen, name, pass_spec, err);
		OPENSSL_free(label);
		OPENSSL_free(header);
		OPENSSL_clear_free(der, (size_t)dlen);
		label = header = NULL;
		der = NULL;
		ERR_clear_error();
	}
	/* The loop ends with "no start line" when the input is used up; any
	 * other reason is a block cut short or damaged, which must not pass
	 * for a shorter but complete file. */
	if (rc == 0 && ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		rc = mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: PEM block %zu is truncated or corrupted (is the file "
		    "complete?)",
		    name, json_array_size(f->objs) + 1);
	}
	ERR_clear_error();
	BIO_free(b);
	return rc;
}

int mtls__inspect_p12(json_t *objs, PKCS12 *p12, const char *name,
    const char *pass_spec, struct mtls_err *err);

static int
scan_der(struct found *f, const unsigned char *d, size_t n, const char *name,
    const char *pass_spec, const char **format, struct mtls_err *err)
{
	const unsigned char *p = d;
	X509 *x;
	X509_REQ *r;
	PKCS12 *p12;

	if ((x = d2i_X509(NULL, &p, (long)n)) != NULL && p == d + n) {
		*format = "DER";
		add_cert(f, x, NULL);
		X509_free(x);
		return 0;
	}
	X509_free(x);
	p = d;
	if ((r = d2i_X509_REQ(NULL, &p, (long)n)) != NULL && p == d + n) {
		*format = "DER";
		add_csr(f, r);
		X509_REQ_free(r);
		return 0;
	}
	X509_REQ_free(r);
	p = d;
	if ((p12 = d2i_PKCS12(NULL, &p, (long)n)) != NULL && p == d + n) {
		int rc = mtls__inspect_p12(f->objs, p12, name, pass_spec, err);

		*format = "PKCS#12";
		PKCS12_free(p12);
		return rc;
	}
	PKCS12_free(p12);
	p = d;
	{
		X509_SIG *sig = d2i_X509_SIG(NULL, &p, (long)n);

		if (sig != NULL && p == d + n) {
			X509_SIG_free(sig);
			*format = "DER";
			return pem_key(f, d, n, name, pass_spec, 1, "PKCS#8 (encrypted)", err);
		}
		X509_SIG_free(sig);
	}
	ERR_clear_error();
	{
		EVP_PKEY *k;

		p = d;
		k = d2i_AutoPrivateKey(NULL, &p, (long)n);
		if (k != NULL) {
			*format = "DER";
			add_key(f, k, "DER", 0);
			EVP_PKEY_free(k);
			return 0;
		}
	}
	ERR_clear_error();
	return 0;
}

static void
note_key_match(struct found *f)
{
	size_t i;
	json_t *o;

	if (f->first_key == NULL || f->first_cert == NULL) {
		return;
	}
	json_array_foreach(f->objs, i, o) {
		const char *t = json_string_value(json_object_get(o, "type"));

		if (t != NULL && strcmp(t, "private key") == 0) {
			json_object_set_new(o, "matches_certificate",
			    json_boolean(mtls_key_matches_cert(f->first_key, f->first_cert)));
			return;
		}
	}
}

json_t *
mtls_inspect(const unsigned char *d, size_t n, const char *name,
    const char *pass_spec, struct mtls_err *err)
{
	struct found f = {json_array(), NULL, NULL};
	const char *format = "PEM";
	json_t *out = NULL;
	int rc;

	if (mtls__looks_pem(d, n)) {
		rc = scan_pem(&f, d, n, name, pass_spec, err);
	} else {
		rc = scan_der(&f, d, n, name, pass_spec, &format, err);
	}
	if (rc == 0 && json_array_size(f.objs) == 0) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: not a certificate, key, CSR or PKCS#12 file that mtls "
		    "recognises (%s; is it truncated?)",
		    name, n == 0 ? "it is empty" : "unknown content");
		rc = -1;
	}
	if (rc == 0) {
		note_key_match(&f);
		out = json_object();
		json_object_set_new(out, "file", json_string(name));
		json_object_set_new(out, "format", json_string(format));
		json_object_set(out, "objects", f.objs);
	}
	json_decref(f.objs);
	X509_free(f.first_cert);
	EVP_PKEY_free(f.first_key);
	return out;
}
