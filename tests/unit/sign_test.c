/* sign.c: profiles decide the extensions; serials; validity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/x509v3.h>

#include "test_pki.h"

struct fx {
	char *dir;
	struct mtls_ca *ca;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = test_tmpdir();
	f->ca = test_ca_new(f->dir, MTLS_KEY_EC_P256, 0, "CN=Sign Test CA");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	mtls_ca_free(f->ca);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int
has_eku(EXTENDED_KEY_USAGE *eku, int nid)
{
	int i;

	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid) {
			return 1;
		}
	}
	return 0;
}

/* Every extension of X as the profile promises (RFC 5280 4.2). */
static void
check_exts(X509 *x, X509 *cacert, EVP_PKEY *key, enum mtls_profile p,
    const char *sans)
{
	int crit = -1, rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	BASIC_CONSTRAINTS *bc;
	ASN1_BIT_STRING *ku;
	EXTENDED_KEY_USAGE *eku;
	GENERAL_NAMES *gens;
	const ASN1_OCTET_STRING *ski, *aki, *caski;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *s;

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(cacert)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(cacert)), 1);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);

	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(x), 0);

	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 0)); /* digitalSignature */
	assert_int_equal(ASN1_BIT_STRING_get_bit(ku, 2), /* keyEncipherment */
	    rsa && p != MTLS_PROFILE_OCSP);
	assert_false(ASN1_BIT_STRING_get_bit(ku, 5)); /* keyCertSign */
	assert_false(ASN1_BIT_STRING_get_bit(ku, 6)); /* cRLSign */
	ASN1_BIT_STRING_free(ku);

	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	assert_non_null(eku);
	assert_int_equal(crit, 0);
	assert_int_equal(has_eku(eku, NID_server_auth),
	    p == MTLS_PROFILE_SERVER || p == MTLS_PROFILE_NODE);
	assert_int_equal(has_eku(eku, NID_client_auth),
	    p == MTLS_PROFILE_CLIENT || p == MTLS_PROFILE_NODE);
	assert_int_equal(has_eku(eku, NID_OCSP_sign), p == MTLS_PROFILE_OCSP);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), p == MTLS_PROFILE_NODE ? 2 : 1);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	/* What OpenSSL's own purpose checks conclude from them. */
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == 1,
	    p == MTLS_PROFILE_SERVER || p == MTLS_PROFILE_NODE);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) == 1,
	    p == MTLS_PROFILE_CLIENT || p == MTLS_PROFILE_NODE);

	/* SKI: SHA-1 of the public key (RFC 5280 4.2.1.2 method 1). */
	ski = X509_get0_subject_key_id(x);
	assert_non_null(ski);
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), md, &n), 1);
	assert_int_equal(ASN1_STRING_length(ski), (int)n);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, n);
	/* AKI: the CA's SKI. */
	aki = X509_get0_authority_key_id(x);
	caski = X509_get0_subject_key_id(cacert);
	assert_non_null(aki);
	assert_non_null(caski);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, caski), 0);
	{
		AUTHORITY_KEYID *akid = X509_get_ext_d2i(x,
		    NID_authority_key_identifier, NULL, NULL);

		assert_non_null(akid);
		assert_int_equal(X509_check_akid(cacert, akid), X509_V_OK);
		AUTHORITY_KEYID_free(akid);
	}

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (sans == NULL || *sans == '\0') {
		assert_null(gens);
	} else {
		assert_non_null(gens);
		assert_int_equal(crit, 0); /* the subject is not empty */
		s = mtls_san_format(gens);
		assert_string_equal(s, sans);
		free(s);
		GENERAL_NAMES_free(gens);
	}
}

static void
sign_profiles(void **state)
{
	struct fx *f = *state;
	static const struct {
		enum mtls_profile p;
		enum mtls_keytype kt;
		const char *sans;
	} cases[] = {
		{MTLS_PROFILE_SERVER, MTLS_KEY_EC_P256, "dns:web.example,ip:10.0.0.5"},
		{MTLS_PROFILE_CLIENT, MTLS_KEY_EC_P256, NULL},
		{MTLS_PROFILE_CLIENT, MTLS_KEY_EC_P256, "email:ops@example.com"},
		{MTLS_PROFILE_NODE, MTLS_KEY_EC_P384,
		    "dns:node1.example,ip:2001:db8::7,uri:spiffe://example/node1"},
		{MTLS_PROFILE_OCSP, MTLS_KEY_EC_P256, NULL},
		{MTLS_PROFILE_SERVER, MTLS_KEY_RSA_2048, "dns:rsa.example"},
		{MTLS_PROFILE_CLIENT, MTLS_KEY_RSA_2048, NULL},
		{MTLS_PROFILE_OCSP, MTLS_KEY_RSA_2048, NULL},
		{MTLS_PROFILE_NODE, MTLS_KEY_ED25519, "dns:ed.example"},
	};
	EVP_PKEY *keys[8] = {NULL};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtls_err e;
		EVP_PKEY *k;
		X509 *x;

		if (keys[cases[i].kt] == NULL) {
			keys[cases[i].kt] = mtls_key_generate(cases[i].kt, &e);
		}
		k = keys[cases[i].kt];
		x = test_sign(f->ca, "subject", cases[i].p, cases[i].sans, k, 30,
		    0);
		check_exts(x, mtls_ca_cert(f->ca), k, cases[i].p, cases[i].sans);
		X509_free(x);
	}
	for (i = 0; i < 8; i++) {
		EVP_PKEY_free(keys[i]);
	}
}

static void
sign_empty_subject_san_critical(void **state)
{
	struct fx *f = *state;
	struct mtls_cert_request r;
	struct mtls_err e;
	X509_NAME *empty = X509_NAME_new();
	GENERAL_NAMES *g = test_sans("dns:only-san.example");
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	int crit = -1;
	GENERAL_NAMES *got;
	X509 *x;

	memset(&r, 0, sizeof(r));
	r.name = "only-san";
	r.subject = empty;
	r.pubkey = k;
	r.profile = MTLS_PROFILE_SERVER;
	r.sans = g;
	x = mtls_ca_sign(f->ca, &r, &e);
	assert_non_null(x);
	/* RFC 5280 4.2.1.6: critical when the subject is empty. */
	got = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	assert_non_null(got);
	assert_int_equal(crit, 1);
	GENERAL_NAMES_free(got);
	X509_free(x);
	X509_NAME_free(empty);
	GENERAL_NAMES_free(g);
	EVP_PKEY_free(k);
}

static int
collect_serials(const struct mtls_inv_entry *e, void *arg)
{
	int *n = arg;

	(void)e;
	(*n)++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
serials_unique_and_long(void **state)
{
	struct fx *f = *state;
	enum { N = 500 };
	char *serials[N];
	struct mtls_err e;
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	int i, rows = 0;

	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	for (i = 0; i < N; i++) {
		X509 *x = test_sign(f->ca, "many", MTLS_PROFILE_CLIENT, NULL, k,
		    1, 0);
		const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
		BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);

		/* Positive, at least 64 bits (CA/B BR 7.1), at most 20 octets
		 * (RFC 5280 4.1.2.2). */
		assert_non_null(bn);
		assert_false(BN_is_negative(bn));
		assert_true(BN_num_bits(bn) >= 64);
		assert_true(ASN1_STRING_length(sn) <= 20);
		BN_free(bn);
		serials[i] = mtls_cert_serial_hex(x);
		X509_free(x);
	}
	assert_int_equal(mtls_ca_commit(f->ca, &e), 0);
	qsort(serials, N, sizeof(serials[0]), cmp_str);
	for (i = 1; i < N; i++) {
		assert_string_not_equal(serials[i - 1], serials[i]);
	}
	for (i = 0; i < N; i++) {
		OPENSSL_free(serials[i]);
	}
	assert_int_equal(mtls_ca_list(f->ca, "many", collect_serials, &rows, &e),
	    0);
	assert_int_equal(rows, N);
	EVP_PKEY_free(k);
}

static int
count_rows(struct mtls_ca *ca, const char *name)
{
	struct mtls_err e;
	int n = 0;

	assert_int_equal(mtls_ca_list(ca, name, collect_serials, &n, &e), 0);
	return n;
}

static void
validity(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	static const struct {
		int days;     /* requested; 0: default */
		time_t nb;    /* 0: now */
		int want_days;
	} cases[] = {
		{30, 0, 30},
		{0, 0, MTLS_DEFAULT_DAYS},
		{1, 0, 1},
		{10, 1577836800, 10}, /* back-dated issuance */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t before = time(NULL);
		X509 *x = test_sign(f->ca, "validity", MTLS_PROFILE_CLIENT, NULL,
		    k, cases[i].days, cases[i].nb);
		int d = 0, s = 0;
		ASN1_TIME *want = ASN1_TIME_new();

		assert_int_equal(ASN1_TIME_diff(&d, &s, X509_get0_notBefore(x),
		    X509_get0_notAfter(x)), 1);
		assert_int_equal(d, cases[i].want_days);
		assert_int_equal(s, 0);
		if (cases[i].nb != 0) {
			ASN1_TIME_set(want, cases[i].nb);
		} else {
			/* Back-dated five minutes for clock skew. */
			time_t got;
			struct tm tm;

			assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(x),
			    &tm), 1);
			got = timegm(&tm);
			assert_true(got >= before - 300 && got <= time(NULL) - 300);
			ASN1_TIME_set(want, got);
		}
		assert_int_equal(ASN1_TIME_compare(want, X509_get0_notBefore(x)),
		    0);
		ASN1_TIME_free(want);
		X509_free(x);
	}
	EVP_PKEY_free(k);
}

static void
validity_not_beyond_ca(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca *ca = test_ca_new(tmp, MTLS_KEY_EC_P256, 10,
	    "CN=Short CA");
	struct mtls_cert_request r;
	struct mtls_err e;
	X509_NAME *subj = mtls_name_parse("CN=long", &e);
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	static const struct {
		int days;
		int ok;
	} cases[] = {
		{9, 1},
		{11, 0},
		{0, 0}, /* default 397 > 10 */
		{3650, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x;
		int rows = count_rows(ca, "long");

		memset(&r, 0, sizeof(r));
		r.name = "long";
		r.subject = subj;
		r.pubkey = k;
		r.profile = MTLS_PROFILE_CLIENT;
		r.days = cases[i].days;
		mtls_err_clear(&e);
		x = mtls_ca_sign(ca, &r, &e);
		if (cases[i].ok) {
			assert_non_null(x);
			assert_true(ASN1_TIME_compare(X509_get0_notAfter(x),
			    X509_get0_notAfter(mtls_ca_cert(ca))) <= 0);
			assert_int_equal(count_rows(ca, "long"), rows + 1);
		} else {
			assert_null(x);
			assert_int_equal(e.code, MTLS_E_POLICY);
			assert_non_null(strstr(e.msg, "outlive the CA"));
			/* Nothing recorded for a refused certificate. */
			assert_int_equal(count_rows(ca, "long"), rows);
		}
		X509_free(x);
	}
	X509_NAME_free(subj);
	EVP_PKEY_free(k);
	mtls_ca_free(ca);
	test_rmrf(tmp);
	free(tmp);
}

static void
ca_key_types_sign(void **state)
{
	static const struct {
		enum mtls_keytype kt;
		int sig_nid;
	} cases[] = {
		{MTLS_KEY_EC_P256, NID_ecdsa_with_SHA256},
		{MTLS_KEY_EC_P384, NID_ecdsa_with_SHA384},
		{MTLS_KEY_ED25519, NID_ED25519},
		{MTLS_KEY_RSA_2048, NID_sha256WithRSAEncryption},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tmp = test_tmpdir();
		struct mtls_ca *ca = test_ca_new(tmp, cases[i].kt, 0, NULL);
		struct mtls_err e;
		EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
		X509 *x = test_sign(ca, "leaf", MTLS_PROFILE_NODE, "dns:leaf.example",
		    k, 30, 0);

		assert_int_equal(X509_get_signature_nid(x), cases[i].sig_nid);
		check_exts(x, mtls_ca_cert(ca), k, MTLS_PROFILE_NODE,
		    "dns:leaf.example");
		X509_free(x);
		EVP_PKEY_free(k);
		mtls_ca_free(ca);
		test_rmrf(tmp);
		free(tmp);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sign_profiles),
	    cmocka_unit_test(sign_empty_subject_san_critical),
	    cmocka_unit_test(serials_unique_and_long),
	    cmocka_unit_test(validity),
	    cmocka_unit_test(validity_not_beyond_ca),
	    cmocka_unit_test(ca_key_types_sign),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
