/* p12.c: PKCS#12 modern (PBES2/AES-256, SHA-256 MAC) and legacy (3DES,
 * SHA-1 MAC), checked by taking the structure apart with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "mtls/store.h"
#include "test_pki.h"

struct fx {
	char *dir;
	struct mtls_ca *ca;
	EVP_PKEY *key;
	X509 *cert;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	f->ca = test_ca_new(f->dir, MTLS_KEY_EC_P256, 0, "CN=P12 CA");
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	f->cert = test_sign(f->ca, "app", MTLS_PROFILE_CLIENT, NULL, f->key, 30,
	    0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	mtls_ca_free(f->ca);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* The NID of a PBE algorithm; for PBES2, the cipher, KDF and PRF too. */
struct pbe {
	int nid;
	int cipher;
	int kdf;
	int prf;
	long iter;
};

static void
describe_pbe(const X509_ALGOR *alg, struct pbe *out)
{
	const ASN1_OBJECT *obj = NULL;
	int ptype;
	const void *pval = NULL;

	memset(out, 0, sizeof(*out));
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	out->nid = OBJ_obj2nid(obj);
	if (out->nid == NID_pbes2) {
		PBE2PARAM *p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
		    alg->parameter);
		PBKDF2PARAM *kdf;

		assert_non_null(p2);
		out->cipher = OBJ_obj2nid(p2->encryption->algorithm);
		out->kdf = OBJ_obj2nid(p2->keyfunc->algorithm);
		kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
		    p2->keyfunc->parameter);
		assert_non_null(kdf);
		out->prf = kdf->prf ? OBJ_obj2nid(kdf->prf->algorithm)
				    : NID_hmacWithSHA1; /* the default */
		out->iter = ASN1_INTEGER_get(kdf->iter);
		PBKDF2PARAM_free(kdf);
		PBE2PARAM_free(p2);
	} else {
		PBEPARAM *p = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM),
		    alg->parameter);

		assert_non_null(p);
		out->iter = ASN1_INTEGER_get(p->iter);
		PBEPARAM_free(p);
	}
}

struct summary {
	int mac_md;
	long mac_iter;
	struct pbe certs;  /* encryption of the certificate bag */
	struct pbe key;    /* encryption of the shrouded key bag */
	int n_certs;
	int n_keys;
	char friendly[64];
};

static void
summarise(PKCS12 *p12, const char *pass, struct summary *s)
{
	const X509_ALGOR *macalg = NULL;
	const ASN1_INTEGER *iter = NULL;
	const ASN1_OBJECT *obj = NULL;
	STACK_OF(PKCS7) *safes;
	int i, j;

	memset(s, 0, sizeof(*s));
	assert_true(PKCS12_mac_present(p12));
	PKCS12_get0_mac(NULL, &macalg, NULL, &iter, p12);
	X509_ALGOR_get0(&obj, NULL, NULL, macalg);
	s->mac_md = OBJ_obj2nid(obj);
	s->mac_iter = iter ? ASN1_INTEGER_get(iter) : 1;
	safes = PKCS12_unpack_authsafes(p12);
	assert_non_null(safes);
	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data(p7);
			break;
		case NID_pkcs7_encrypted:
			describe_pbe(p7->d.encrypted->enc_data->algorithm,
			    &s->certs);
			bags = PKCS12_unpack_p7encdata(p7, pass, -1);
			break;
		default:
			fail_msg("unexpected content type in the PKCS#12");
		}
		assert_non_null(bags);
		for (j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			const X509_ALGOR *alg = NULL;
			char *fn;

			switch (PKCS12_SAFEBAG_get_nid(bag)) {
			case NID_certBag:
				s->n_certs++;
				break;
			case NID_pkcs8ShroudedKeyBag:
				s->n_keys++;
				X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg,
				    NULL);
				describe_pbe(alg, &s->key);
				fn = PKCS12_get_friendlyname(bag);
				if (fn != NULL) {
					snprintf(s->friendly, sizeof(s->friendly),
					    "%s", fn);
				}
				OPENSSL_free(fn);
				break;
			default:
				fail_msg("unexpected bag %d",
				    PKCS12_SAFEBAG_get_nid(bag));
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
}

static void
p12_algorithms(void **state)
{
	struct fx *f = *state;
	static const struct {
		int legacy;
		int mac_md;
		int pbe;     /* both bags */
		int cipher;  /* for PBES2 */
		int prf;
		long min_iter;
	} cases[] = {
		{0, NID_sha256, NID_pbes2, NID_aes_256_cbc, NID_hmacWithSHA256,
		    10000},
		{1, NID_sha1, NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 0, 0, 2048},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		STACK_OF(X509) *chain = sk_X509_new_null();
		struct mtls_err e;
		unsigned char *der = NULL;
		const unsigned char *p;
		size_t len = 0;
		PKCS12 *p12;
		struct summary s;

		sk_X509_push(chain, mtls_ca_cert(f->ca));
		assert_int_equal(mtls_p12_build(f->key, f->cert, chain, "app",
		    "p12 secret", cases[i].legacy, &der, &len, &e), 0);
		p = der;
		p12 = d2i_PKCS12(NULL, &p, (long)len);
		assert_non_null(p12);
		assert_true(p == der + len);
		summarise(p12, "p12 secret", &s);
		assert_int_equal(s.mac_md, cases[i].mac_md);
		assert_true(s.mac_iter >= cases[i].min_iter);
		assert_int_equal(s.certs.nid, cases[i].pbe);
		assert_int_equal(s.key.nid, cases[i].pbe);
		if (cases[i].pbe == NID_pbes2) {
			assert_int_equal(s.certs.cipher, cases[i].cipher);
			assert_int_equal(s.key.cipher, cases[i].cipher);
			assert_int_equal(s.certs.kdf, NID_id_pbkdf2);
			assert_int_equal(s.key.kdf, NID_id_pbkdf2);
			assert_int_equal(s.key.prf, cases[i].prf);
			assert_int_equal(s.certs.prf, cases[i].prf);
		}
		assert_true(s.key.iter >= cases[i].min_iter);
		assert_true(s.certs.iter >= cases[i].min_iter);
		assert_int_equal(s.n_keys, 1);
		assert_int_equal(s.n_certs, 2); /* leaf + CA */
		assert_string_equal(s.friendly, "app");

		/* PKCS12_parse with the password recovers everything. */
		{
			EVP_PKEY *k = NULL;
			X509 *c = NULL;
			STACK_OF(X509) *ca = NULL;

			assert_int_equal(PKCS12_verify_mac(p12, "p12 secret", -1),
			    1);
			assert_int_equal(PKCS12_parse(p12, "p12 secret", &k, &c,
			    &ca), 1);
			assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
			assert_int_equal(X509_cmp(c, f->cert), 0);
			assert_int_equal(sk_X509_num(ca), 1);
			assert_int_equal(X509_cmp(sk_X509_value(ca, 0),
			    mtls_ca_cert(f->ca)), 0);
			EVP_PKEY_free(k);
			X509_free(c);
			sk_X509_pop_free(ca, X509_free);
		}
		/* And the wrong one recovers nothing. */
		{
			EVP_PKEY *k = NULL;
			X509 *c = NULL;

			assert_int_not_equal(PKCS12_verify_mac(p12, "wrong", -1), 1);
			assert_int_not_equal(PKCS12_parse(p12, "wrong", &k, &c,
			    NULL), 1);
			assert_null(k);
			ERR_clear_error();
		}
		PKCS12_free(p12);
		OPENSSL_free(der);
		sk_X509_free(chain);
	}
}

static void
p12_without_chain(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	PKCS12 *p12;
	struct summary s;

	assert_int_equal(mtls_p12_build(f->key, f->cert, NULL, "solo", "pw", 0,
	    &der, &len, &e), 0);
	p = der;
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	assert_non_null(p12);
	summarise(p12, "pw", &s);
	assert_int_equal(s.n_certs, 1);
	assert_int_equal(s.n_keys, 1);
	assert_string_equal(s.friendly, "solo");
	PKCS12_free(p12);
	OPENSSL_free(der);
}

static void
p12_key_cert_mismatch(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	EVP_PKEY *other = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	unsigned char *der = (unsigned char *)"untouched";
	size_t len = 0;

	/* PKCS12_create refuses a key that does not belong to the cert. */
	mtls_err_clear(&e);
	assert_int_equal(mtls_p12_build(other, f->cert, NULL, "x", "pw", 0,
	    &der, &len, &e), -1);
	assert_null(der);
	assert_int_equal(e.code, MTLS_E_INTERNAL);
	assert_non_null(strstr(e.msg, "PKCS#12"));
	assert_int_equal(ERR_peek_error(), 0);
	EVP_PKEY_free(other);
}

/* One writer, one iteration policy: `issue --p12` (mtls_p12_build) and
 * the keystore writer produce the same parameters, modern or legacy, and
 * legacy means other algorithms, never fewer than 10,000 iterations. */
static void
one_iteration_policy(void **state)
{
	struct fx *f = *state;
	int legacy;

	for (legacy = 0; legacy <= 1; legacy++) {
		struct mtls_store_opts opts = {NULL, legacy, 0};
		STACK_OF(X509) *chain = sk_X509_new_null();
		struct mtls_store *s = mtls_store_new();
		unsigned char *der[2] = {NULL, NULL};
		size_t len[2] = {0, 0};
		struct summary sum[2];
		struct mtls_err e;
		int w;

		sk_X509_push(chain, mtls_ca_cert(f->ca));
		assert_int_equal(mtls_p12_build(f->key, f->cert, chain, "app",
		    "pw", legacy, &der[0], &len[0], &e), 0);
		sk_X509_insert(chain, f->cert, 0);
		assert_int_equal(mtls_store_add_key(s, "app", f->key, chain, 0,
		    0, &e), 0);
		assert_int_equal(mtls_store_serialize(s, MTLS_STORE_P12, "pw",
		    &opts, &der[1], &len[1], &e), 0);
		for (w = 0; w < 2; w++) {
			const unsigned char *p = der[w];
			PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len[w]);

			assert_non_null(p12);
			summarise(p12, "pw", &sum[w]);
			assert_int_equal(sum[w].mac_iter, 10000);
			assert_int_equal(sum[w].key.iter, 10000);
			assert_int_equal(sum[w].certs.iter, 10000);
			assert_int_equal(sum[w].mac_md,
			    legacy ? NID_sha1 : NID_sha256);
			assert_int_equal(sum[w].key.nid, legacy
			    ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC
			    : NID_pbes2);
			PKCS12_free(p12);
		}
		assert_int_equal(sum[0].n_certs, sum[1].n_certs);
		assert_string_equal(sum[0].friendly, sum[1].friendly);
		/* Fewer iterations are refused, legacy or not. */
		opts.iterations = 2048;
		mtls_err_clear(&e);
		mtls_store_buf_free(der[1], len[1]);
		der[1] = NULL;
		assert_int_equal(mtls_store_serialize(s, MTLS_STORE_P12, "pw",
		    &opts, &der[1], &len[1], &e), -1);
		assert_int_equal(e.code, MTLS_E_USAGE);
		assert_non_null(strstr(e.msg, "at least 10000"));
		OPENSSL_free(der[0]);
		mtls_store_free(s);
		sk_X509_free(chain);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(p12_algorithms),
	    cmocka_unit_test(p12_without_chain),
	    cmocka_unit_test(p12_key_cert_mismatch),
	    cmocka_unit_test(one_iteration_policy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
