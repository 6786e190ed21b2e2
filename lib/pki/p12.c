/* see pki/p12_int.h: the one PKCS#12 writer; and mtls/ca.h: mtls_p12_build */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "mtls/ca.h"
#include "mtls/pki.h"
#include "base/clock.h"
#include "pki/p12_int.h"

static int
set_id(PKCS12_SAFEBAG *bag, int64_t ms)
{
	char id[32];
	int n = snprintf(id, sizeof(id), "Time %lld", (long long)ms);

	return PKCS12_add_localkeyid(bag, (unsigned char *)id, n);
}

static int
add_key_bags(const struct mtls__p12_entry *e, int64_t ms, int nid, int iter,
    const char *pass, STACK_OF(PKCS12_SAFEBAG) **keybags,
    STACK_OF(PKCS12_SAFEBAG) **certbags)
{
	PKCS12_SAFEBAG *kb, *cb;
	int i;

	kb = PKCS12_add_key_ex(keybags, e->key, 0, iter, nid, pass, NULL, NULL);
	cb = PKCS12_add_cert(certbags, sk_X509_value(e->certs, 0));
	if (kb == NULL || cb == NULL ||
	    PKCS12_add_friendlyname_utf8(kb, e->alias, -1) != 1 ||
	    set_id(kb, ms) != 1 ||
	    PKCS12_add_friendlyname_utf8(cb, e->alias, -1) != 1 ||
	    set_id(cb, ms) != 1) {
		return -1;
	}
	/* The rest of the chain without attributes: Java links it by
	 * issuer; a trust attribute here would make a second entry. */
	for (i = 1; i < sk_X509_num(e->certs); i++) {
		if (PKCS12_add_cert(certbags, sk_X509_value(e->certs, i)) ==
		    NULL) {
			return -1;
		}
	}
	return 0;
}

static int
add_trusted_bag(const struct mtls__p12_entry *e, ASN1_OBJECT *eku,
    STACK_OF(PKCS12_SAFEBAG) **certbags)
{
	PKCS12_SAFEBAG *cb = PKCS12_add_cert(certbags,
	    sk_X509_value(e->certs, 0));

	if (cb == NULL || PKCS12_add_friendlyname_utf8(cb, e->alias, -1) != 1 ||
	    PKCS12_add1_attr_by_txt(cb, MTLS__P12_TRUST_OID, V_ASN1_OBJECT,
		(const unsigned char *)eku, -1) != 1) {
		return -1;
	}
	return 0;
}

static int
add_bags(const struct mtls__p12_entry *e, size_t n, const char *pass,
    int nid, int iter, STACK_OF(PKCS12_SAFEBAG) **keybags,
    STACK_OF(PKCS12_SAFEBAG) **certbags, struct mtls_err *err)
{
	ASN1_OBJECT *eku = OBJ_txt2obj(MTLS__P12_ANY_EKU_OID, 1);
	int64_t last_ms = 0;
	size_t i;
	int rc = -1;

	if (eku == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < n; i++) {
		int64_t ms = e[i].created_ms != 0 ? e[i].created_ms
						  : mtls__now_ms();

		if (e[i].key == NULL) {
			if (add_trusted_bag(&e[i], eku, certbags) != 0) {
				mtls_err_ssl(err, MTLS_E_INTERNAL,
				    "cannot encode the certificate of '%s'",
				    e[i].alias);
				goto out;
			}
			continue;
		}
		if (pass == NULL) {
			mtls_err_set(err, MTLS_E_PASSWORD,
			    "a PKCS#12 keystore holding a key needs a password "
			    "(give --pass)");
			goto out;
		}
		/* localKeyIDs must differ; Java reads the date from them. */
		if (ms <= last_ms) {
			ms = last_ms + 1;
		}
		last_ms = ms;
		if (add_key_bags(&e[i], ms, nid, iter, pass, keybags,
		    certbags) != 0) {
			mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot encode the key entry '%s'", e[i].alias);
			goto out;
		}
	}
	rc = 0;
out:
	ASN1_OBJECT_free(eku);
	return rc;
}

int
mtls__p12_write(const struct mtls__p12_entry *e, size_t n, const char *pass,
    int legacy, int iterations, unsigned char **out, size_t *len,
    struct mtls_err *err)
{
	STACK_OF(PKCS12_SAFEBAG) *keybags = NULL, *certbags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12 *p12 = NULL;
	int iter = iterations > 0 ? iterations : MTLS__P12_ITER;
	int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC
			 : NID_aes_256_cbc;
	unsigned char *q;
	int dlen, rc = -1;

	*out = NULL;
	if (iter < MTLS__P12_ITER) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "PKCS#12 iterations must be at least %d", MTLS__P12_ITER);
	}
	if (add_bags(e, n, pass, nid, iter, &keybags, &certbags, err) != 0) {
		goto out;
	}
	/* Java's layout: the shrouded keys in a plain safe, then the
	 * certificates in an encrypted one (plain when passwordless). */
	if ((keybags != NULL && PKCS12_add_safe_ex(&safes, keybags, -1, 0,
	    NULL, NULL, NULL) != 1) ||
	    (certbags != NULL && PKCS12_add_safe_ex(&safes, certbags,
	    pass == NULL ? -1 : nid, iter, pass, NULL, NULL) != 1)) {
		rc = mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot encrypt the PKCS#12 contents");
		goto out;
	}
	if (safes == NULL) {
		/* An empty store: one empty plain safe. */
		certbags = sk_PKCS12_SAFEBAG_new_null();
		if (certbags == NULL || PKCS12_add_safe_ex(&safes, certbags,
		    -1, 0, NULL, NULL, NULL) != 1) {
			rc = mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	/* Old Java, macOS and Windows read only a SHA-1 MAC with 3DES. */
	p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL);
	if (p12 == NULL || (pass != NULL && PKCS12_set_mac(p12, pass, -1,
	    NULL, 0, iter, legacy ? EVP_sha1() : EVP_sha256()) != 1)) {
		rc = mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot assemble the PKCS#12 file");
		goto out;
	}
	dlen = i2d_PKCS12(p12, NULL);
	if (dlen <= 0 || (*out = OPENSSL_malloc((size_t)dlen)) == NULL) {
		rc = mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot encode the PKCS#12 file");
		goto out;
	}
	q = *out;
	i2d_PKCS12(p12, &q);
	*len = (size_t)dlen;
	rc = 0;
out:
	sk_PKCS12_SAFEBAG_pop_free(keybags, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(certbags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	return rc;
}

int
mtls_p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    const char *friendly, const char *pass, int legacy, unsigned char **der,
    size_t *len, struct mtls_err *err)
{
	struct mtls__p12_entry e = {friendly, key, NULL, 0};
	int i, rc = -1;

	*der = NULL;
	if (!mtls_key_matches_cert(key, cert)) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "cannot build the PKCS#12 file: the key does not belong to "
		    "the certificate");
	}
	e.certs = sk_X509_new_null();
	if (e.certs == NULL || sk_X509_push(e.certs, cert) <= 0) {
		goto oom;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (sk_X509_push(e.certs, sk_X509_value(chain, i)) <= 0) {
			goto oom;
		}
	}
	/* An empty password still encrypts (as openssl pkcs12 -export
	 * -passout pass: does); only keystores without keys go plain. */
	rc = mtls__p12_write(&e, 1, pass != NULL ? pass : "", legacy, 0, der,
	    len, err);
	sk_X509_free(e.certs); /* borrowed certificates */
	return rc;
oom:
	sk_X509_free(e.certs);
	return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
}
