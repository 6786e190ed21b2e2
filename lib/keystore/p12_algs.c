/* see keystore/p12_algs.h */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "keystore/p12_algs.h"

static const char *
sn(const ASN1_OBJECT *o)
{
	const char *s = OBJ_nid2sn(OBJ_obj2nid(o));

	return s != NULL && strcmp(s, "UNDEF") != 0 ? s : "unknown";
}

/* "PBES2 (PBKDF2 hmacWithSHA256, 10000 iterations, AES-256-CBC)" or
 * "pbeWithSHA1And3-KeyTripleDES-CBC, 10000 iterations": the algorithm a
 * PKCS#12 password-based encryption uses (RFC 8018, RFC 7292 appendix C). */
static void
pbe_text(const X509_ALGOR *alg, char *buf, size_t len)
{
	const ASN1_OBJECT *oid = NULL;
	const void *pval = NULL;
	int ptype = 0;

	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	if (OBJ_obj2nid(oid) == NID_pbes2 && ptype == V_ASN1_SEQUENCE) {
		PBE2PARAM *p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
		    (const ASN1_TYPE *)alg->parameter);
		PBKDF2PARAM *kdf = NULL;
		const char *prf = "hmacWithSHA1"; /* RFC 8018 A.2 default */

		if (p2 != NULL && OBJ_obj2nid(p2->keyfunc->algorithm) == NID_id_pbkdf2) {
			kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
			    p2->keyfunc->parameter);
		}
		if (kdf != NULL && kdf->prf != NULL) {
			prf = sn(kdf->prf->algorithm);
		}
		if (p2 != NULL && kdf != NULL) {
			snprintf(buf, len, "PBES2 (PBKDF2 %s, %ld iterations, %s)", prf,
			    ASN1_INTEGER_get(kdf->iter), sn(p2->encryption->algorithm));
		} else {
			snprintf(buf, len, "PBES2 (unreadable parameters)");
		}
		PBKDF2PARAM_free(kdf);
		PBE2PARAM_free(p2);
		return;
	}
	if (ptype == V_ASN1_SEQUENCE) {
		PBEPARAM *p = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM),
		    (const ASN1_TYPE *)alg->parameter);

		if (p != NULL) {
			snprintf(buf, len, "%s, %ld iterations", sn(oid),
			    ASN1_INTEGER_get(p->iter));
			PBEPARAM_free(p);
			return;
		}
	}
	snprintf(buf, len, "%s", sn(oid));
}

static void
mac_text(PKCS12 *p12, char *buf, size_t len)
{
	const X509_ALGOR *algor = NULL;
	const ASN1_INTEGER *iter = NULL;
	const ASN1_OBJECT *oid = NULL;

	if (!PKCS12_mac_present(p12)) {
		snprintf(buf, len, "none (integrity not protected)");
		return;
	}
	PKCS12_get0_mac(NULL, &algor, NULL, &iter, p12);
	X509_ALGOR_get0(&oid, NULL, NULL, algor);
	/* RFC 7292 appendix B: a missing count means 1. */
	snprintf(buf, len, "HMAC %s, %ld iterations", sn(oid),
	    iter != NULL ? ASN1_INTEGER_get(iter) : 1L);
}

/* The first shrouded key bag's algorithm, from the plain (not encrypted)
 * safes, where PKCS#12 writers put the key. */
static void
key_text(STACK_OF(PKCS7) *safes, char *buf, size_t len)
{
	int i, j;

	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags;

		if (OBJ_obj2nid(p7->type) != NID_pkcs7_data) {
			continue;
		}
		bags = PKCS12_unpack_p7data(p7);
		for (j = 0; bags != NULL && j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			const PKCS12_SAFEBAG *b = sk_PKCS12_SAFEBAG_value(bags, j);
			const X509_ALGOR *alg = NULL;

			if (PKCS12_SAFEBAG_get_nid(b) != NID_pkcs8ShroudedKeyBag) {
				continue;
			}
			X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(b), &alg, NULL);
			pbe_text(alg, buf, len);
			break;
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
		if (buf[0] != '\0') {
			return;
		}
	}
}

static void
certs_text(STACK_OF(PKCS7) *safes, char *buf, size_t len)
{
	int i;

	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);

		if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted &&
		    p7->d.encrypted != NULL && p7->d.encrypted->enc_data != NULL) {
			pbe_text(p7->d.encrypted->enc_data->algorithm, buf, len);
			return;
		}
	}
	snprintf(buf, len, "none (certificates in the clear)");
}

int
mtls__p12_algs(const unsigned char *data, size_t len, struct mtls__p12_algs *out)
{
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(PKCS7) *safes;

	memset(out, 0, sizeof(*out));
	if (p12 == NULL) {
		ERR_clear_error();
		return -1;
	}
	mac_text(p12, out->mac, sizeof(out->mac));
	safes = PKCS12_unpack_authsafes(p12);
	if (safes != NULL) {
		key_text(safes, out->key, sizeof(out->key));
		certs_text(safes, out->certs, sizeof(out->certs));
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	ERR_clear_error();
	return 0;
}
