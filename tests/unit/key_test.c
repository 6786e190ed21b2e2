/* key.c: key type names, generation, description and strength policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/pki.h"

static const struct {
	const char *name;
	enum mtls_keytype type;
	int base_id;
	int bits;
	const char *desc;
} types[] = {
	{"ec-p256", MTLS_KEY_EC_P256, EVP_PKEY_EC, 256, "EC P-256"},
	{"ec-p384", MTLS_KEY_EC_P384, EVP_PKEY_EC, 384, "EC P-384"},
	{"rsa-2048", MTLS_KEY_RSA_2048, EVP_PKEY_RSA, 2048, "RSA 2048"},
	{"rsa-3072", MTLS_KEY_RSA_3072, EVP_PKEY_RSA, 3072, "RSA 3072"},
	{"rsa-4096", MTLS_KEY_RSA_4096, EVP_PKEY_RSA, 4096, "RSA 4096"},
	{"ed25519", MTLS_KEY_ED25519, EVP_PKEY_ED25519, 253, "Ed25519"},
};

#define N_TYPES (sizeof(types) / sizeof(types[0]))

static void
keytype_parse_all(void **state)
{
	struct mtls_err e;
	enum mtls_keytype t;
	size_t i;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		t = (enum mtls_keytype)-1;
		assert_int_equal(mtls_keytype_parse(types[i].name, &t, &e), 0);
		assert_int_equal(t, types[i].type);
		/* Round trip: the name is the one the parser accepts. */
		assert_string_equal(mtls_keytype_name(t), types[i].name);
	}
}

static void
keytype_parse_bad(void **state)
{
	static const char *bad[] = {"", "rsa", "rsa-1024", "RSA-2048",
	    "ec-p521", "ec-secp256k1", "ed448", "ec-p256 ", " ec-p256",
	    "dsa-2048"};
	struct mtls_err e;
	enum mtls_keytype t = MTLS_KEY_EC_P256;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mtls_err_clear(&e);
		assert_int_equal(mtls_keytype_parse(bad[i], &t, &e), -1);
		assert_int_equal(e.code, MTLS_E_USAGE);
		/* The message names the value and lists what is accepted. */
		assert_non_null(strstr(e.msg, bad[i]));
		assert_non_null(strstr(e.msg, "ec-p256"));
		assert_int_equal(t, MTLS_KEY_EC_P256); /* untouched */
	}
	assert_string_equal(mtls_keytype_name((enum mtls_keytype)99),
	    "unknown");
}

static void
key_generate_all(void **state)
{
	struct mtls_err e;
	char desc[80];
	size_t i;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		EVP_PKEY *k = mtls_key_generate(types[i].type, &e);

		assert_non_null(k);
		assert_int_equal(EVP_PKEY_get_base_id(k), types[i].base_id);
		if (types[i].base_id != EVP_PKEY_ED25519) {
			assert_int_equal(EVP_PKEY_get_bits(k), types[i].bits);
		}
		mtls_key_describe(k, desc, sizeof(desc));
		assert_string_equal(desc, types[i].desc);
		/* Everything we generate passes our own policy. */
		assert_int_equal(mtls_key_check_strength(k, "k", &e), 0);
		EVP_PKEY_free(k);
	}
	/* Two keys of the same type differ. */
	{
		EVP_PKEY *a = mtls_key_generate(MTLS_KEY_EC_P256, &e);
		EVP_PKEY *b = mtls_key_generate(MTLS_KEY_EC_P256, &e);

		assert_non_null(a);
		assert_non_null(b);
		assert_int_not_equal(EVP_PKEY_eq(a, b), 1);
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	}
}

static void
key_generate_bad_type(void **state)
{
	struct mtls_err e;

	(void)state;
	mtls_err_clear(&e);
	assert_null(mtls_key_generate((enum mtls_keytype)42, &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
}

/* Keys made outside the library, as a partner's CSR would carry them. */
static EVP_PKEY *
foreign_key(const char *kind)
{
	if (strcmp(kind, "rsa-1024") == 0) {
		return EVP_RSA_gen(1024);
	}
	if (strcmp(kind, "rsa-2048") == 0) {
		return EVP_RSA_gen(2048);
	}
	if (strcmp(kind, "ed448") == 0) {
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	}
	if (strcmp(kind, "x25519") == 0) {
		return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	}
	/* Curve names: P-256, P-384, P-521, secp256k1, ... */
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind);
}

static void
key_strength_policy(void **state)
{
	static const struct {
		const char *kind;
		int ok;
		const char *desc;   /* mtls_key_describe */
		const char *in_msg; /* in the refusal */
	} cases[] = {
		{"rsa-1024", 0, "RSA 1024", "at least 2048 bits"},
		{"rsa-2048", 1, "RSA 2048", NULL},
		{"P-256", 1, "EC P-256", NULL},
		{"P-384", 1, "EC P-384", NULL},
		{"P-521", 1, "EC P-521", NULL},
		{"secp256k1", 0, "EC secp256k1", "secp256k1"},
		{"prime192v1", 0, "EC prime192v1", "prime192v1"},
		{"brainpoolP256r1", 0, "EC brainpoolP256r1", "brainpoolP256r1"},
		{"ed448", 1, "Ed448", NULL},
		{"x25519", 0, "X25519 253", "only RSA"},
	};
	struct mtls_err e;
	char desc[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k = foreign_key(cases[i].kind);

		assert_non_null(k);
		mtls_key_describe(k, desc, sizeof(desc));
		assert_string_equal(desc, cases[i].desc);
		mtls_err_clear(&e);
		if (cases[i].ok) {
			assert_int_equal(
			    mtls_key_check_strength(k, "the CSR's key", &e), 0);
			assert_int_equal(e.code, MTLS_OK);
		} else {
			assert_int_equal(
			    mtls_key_check_strength(k, "the CSR's key", &e), -1);
			assert_int_equal(e.code, MTLS_E_POLICY);
			assert_non_null(strstr(e.msg, "the CSR's key"));
			assert_non_null(strstr(e.msg, cases[i].in_msg));
		}
		EVP_PKEY_free(k);
	}
}

static void
key_describe_truncates(void **state)
{
	struct mtls_err e;
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P384, &e);
	char small[5];

	(void)state;
	assert_non_null(k);
	memset(small, 'x', sizeof(small));
	mtls_key_describe(k, small, sizeof(small));
	assert_string_equal(small, "EC P"); /* NUL-terminated, no overflow */
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keytype_parse_all),
	    cmocka_unit_test(keytype_parse_bad),
	    cmocka_unit_test(key_generate_all),
	    cmocka_unit_test(key_generate_bad_type),
	    cmocka_unit_test(key_strength_policy),
	    cmocka_unit_test(key_describe_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
