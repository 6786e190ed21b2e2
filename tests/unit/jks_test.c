#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "test_util.h"

static struct fx F;

static int
setup(void **state)
{
	(void)state;
	fx_init(&F);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fx_free(&F);
	return 0;
}

static void
write_jks(struct mtls_store *s, const char *pass, const char *kpass,
    unsigned char **out, size_t *len)
{
	struct mtls_store_opts o = {kpass, 0, 0};
	struct mtls_err e;

	assert_int_equal(mtls_store_serialize(s, MTLS_STORE_JKS, pass, &o, out,
			     len, &e), 0);
}

static void
jks_roundtrip(void **state)
{
	struct mtls_store *s = fx_store(&F, "Server", "RootCA"), *r;
	const struct mtls_store_entry *e;
	unsigned char *d = NULL;
	size_t n = 0;
	struct mtls_err err;

	(void)state;
	assert_non_null(s);
	write_jks(s, "changeit", NULL, &d, &n);
	assert_int_equal(mtls_store_detect(d, n), MTLS_STORE_JKS);
	assert_memory_equal(d, "\xFE\xED\xFE\xED\x00\x00\x00\x02", 8);
	r = mtls_store_parse(d, n, "t.jks", "changeit", NULL, &err);
	assert_non_null(r);
	assert_true(mtls_store_verified(r));
	assert_int_equal(mtls_store_count(r), 2);
	e = mtls_store_get(r, (size_t)mtls_store_find(r, "server"));
	assert_string_equal(e->alias, "server");
	assert_int_equal(e->type, MTLS_ENTRY_KEY);
	assert_int_equal(e->created, 1700000000123LL);
	assert_non_null(e->key);
	assert_int_equal(EVP_PKEY_eq(e->key, F.key), 1);
	assert_int_equal(sk_X509_num(e->certs), 2);
	/* chain reordered leaf first */
	assert_int_equal(X509_cmp(sk_X509_value(e->certs, 0), F.leaf), 0);
	assert_int_equal(X509_cmp(sk_X509_value(e->certs, 1), F.ca), 0);
	e = mtls_store_get(r, (size_t)mtls_store_find(r, "ROOTCA"));
	assert_int_equal(e->type, MTLS_ENTRY_TRUSTED);
	assert_int_equal(X509_cmp(sk_X509_value(e->certs, 0), F.ca), 0);
	mtls_store_free(r);

	/* No password: listed, not verified, keys locked. */
	r = mtls_store_parse(d, n, "t.jks", NULL, NULL, &err);
	assert_non_null(r);
	assert_false(mtls_store_verified(r));
	e = mtls_store_get(r, (size_t)mtls_store_find(r, "server"));
	assert_null(e->key);
	assert_true(e->flags & MTLS_ENTRY_LOCKED);
	mtls_store_free(r);
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

static const struct {
	const char *what;
	const char *pass;
	int flip;       /* byte offset from the end to flip, 0 none */
	int truststore; /* no key entries */
	enum mtls_errcode code;
	const char *msg;
} negative[] = {
    {"wrong password", "wrongpass", 0, 0, MTLS_E_PASSWORD,
	"wrong password for t.jks"},
    {"wrong password, truststore", "wrongpass", 0, 1, MTLS_E_PASSWORD,
	"wrong password for t.jks"},
    {"tampered digest", "changeit", 1, 0, MTLS_E_FORMAT,
	"failed its integrity check"},
    {"tampered certificate byte", "changeit", 30, 0, MTLS_E_FORMAT, NULL},
    {"tampered truststore", "changeit", 1, 1, MTLS_E_PASSWORD,
	"was modified"},
};

static void
jks_negative(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(negative) / sizeof(negative[0]); i++) {
		struct mtls_store *s = negative[i].truststore
		    ? mtls_store_new() : fx_store(&F, "server", NULL);
		unsigned char *d = NULL;
		size_t n = 0;
		struct mtls_err err;

		if (negative[i].truststore) {
			assert_int_equal(mtls_store_add_trusted(s, "ca", F.ca, 0,
					     0, NULL), 0);
		}
		write_jks(s, "changeit", NULL, &d, &n);
		if (negative[i].flip) {
			d[n - (size_t)negative[i].flip] ^= 0x01;
		}
		mtls_err_clear(&err);
		assert_null(mtls_store_parse(d, n, "t.jks", negative[i].pass,
		    NULL, &err));
		print_message("%s: %s\n", negative[i].what, err.msg);
		assert_int_equal(err.code, negative[i].code);
		if (negative[i].msg != NULL) {
			assert_non_null(strstr(err.msg, negative[i].msg));
		}
		mtls_store_buf_free(d, n);
		mtls_store_free(s);
	}
}

static void
jks_truncated_everywhere(void **state)
{
	struct mtls_store *s = fx_store(&F, "server", "ca");
	unsigned char *d = NULL, *copy;
	size_t n = 0, i;
	struct mtls_err err;

	(void)state;
	write_jks(s, "changeit", NULL, &d, &n);
	for (i = 0; i < n; i++) {
		/* A fresh heap copy of exactly i bytes so ASan sees any
		 * read past the end. */
		copy = malloc(i ? i : 1);
		memcpy(copy, d, i);
		assert_null(mtls_store_parse(copy, i, "t.jks", "changeit", NULL,
		    &err));
		assert_int_equal(err.code, MTLS_E_FORMAT);
		assert_null(mtls_store_parse(copy, i, "t.jks", NULL, NULL, &err));
		free(copy);
	}
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

static int
contains(const unsigned char *d, size_t n, const void *needle, size_t k)
{
	size_t i;

	for (i = 0; i + k <= n; i++) {
		if (memcmp(d + i, needle, k) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
jks_aliases(void **state)
{
	/* z, u-umlaut, euro, U+1F600, and a capital A-grave */
	static const char alias[] = "Z\xC3\xBCrich-\xE2\x82\xAC-\xF0\x9F\x98\x80-"
				    "\xC3\x80";
	static const char lower[] = "z\xC3\xBCrich-\xE2\x82\xAC-\xF0\x9F\x98\x80-"
				    "\xC3\xA0";
	struct mtls_store *s = mtls_store_new(), *r;
	unsigned char *d = NULL;
	size_t n = 0;
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_store_add_trusted(s, alias, F.ca, 0, 0, &err), 0);
	assert_int_equal(mtls_store_add_trusted(s, "MixedCase", F.leaf, 0, 0,
			     &err), 0);
	/* The same alias in other case is the same entry. */
	assert_int_equal(mtls_store_add_trusted(s, "MIXEDCASE", F.leaf, 0, 0,
			     &err), -1);
	assert_int_equal(err.code, MTLS_E_EXISTS);
	write_jks(s, "changeit", NULL, &d, &n);
	assert_true(contains(d, n, "\x00\x09mixedcase", 11));
	assert_false(contains(d, n, "MixedCase", 9));
	/* CESU-8: U+1F600 as two 3-byte surrogates */
	assert_true(contains(d, n, "\xED\xA0\xBD\xED\xB8\x80", 6));
	assert_false(contains(d, n, "\xF0\x9F\x98\x80", 4));
	r = mtls_store_parse(d, n, "t.jks", "changeit", NULL, &err);
	assert_non_null(r);
	assert_true(mtls_store_find(r, lower) >= 0);
	assert_string_equal(mtls_store_get(r, (size_t)mtls_store_find(r, lower))
				->alias, lower);
	mtls_store_free(r);
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
	/* Invalid UTF-8 and empty aliases are refused. */
	assert_null(mtls_store_alias_norm("bad\xFF", &err));
	assert_int_equal(err.code, MTLS_E_USAGE);
	assert_null(mtls_store_alias_norm("", &err));
}

static void
jks_key_password(void **state)
{
	struct mtls_store *s = fx_store(&F, "server", NULL), *r, *r2;
	unsigned char *d = NULL, *d2 = NULL;
	size_t n = 0, n2 = 0;
	struct mtls_err err;

	(void)state;
	write_jks(s, "storepass", "keypass1", &d, &n);
	/* Store password alone: verified, key stays locked. */
	r = mtls_store_parse(d, n, "t.jks", "storepass", NULL, &err);
	assert_non_null(r);
	assert_true(mtls_store_get(r, 0)->flags & MTLS_ENTRY_LOCKED);
	/* A locked key survives a rewrite (e.g. after adding a CA). */
	assert_int_equal(mtls_store_add_trusted(r, "ca", F.ca, 0, 0, &err), 0);
	write_jks(r, "storepass", NULL, &d2, &n2);
	r2 = mtls_store_parse(d2, n2, "t.jks", "storepass", "keypass1", &err);
	assert_non_null(r2);
	assert_non_null(mtls_store_get(r2, 0)->key);
	assert_int_equal(EVP_PKEY_eq(mtls_store_get(r2, 0)->key, F.key), 1);
	/* ... but cannot go to PKCS#12 while locked. */
	mtls_store_buf_free(d2, n2);
	assert_int_equal(mtls_store_serialize(r, MTLS_STORE_P12, "storepass",
			     NULL, &d2, &n2, &err), -1);
	assert_int_equal(err.code, MTLS_E_PASSWORD);
	mtls_store_free(r);
	mtls_store_free(r2);
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

/* Hand-made files: a JCEKS secret key, bad magic, bad version, a
 * gigantic count. */
static void
jks_handmade(void **state)
{
	static const unsigned char secret[] =
	    "\xCE\xCE\xCE\xCE\x00\x00\x00\x02\x00\x00\x00\x01"
	    "\x00\x00\x00\x03\x00\x03" "aes\x00\x00\x01\x00\x00\x00\x00\x00"
	    "\xAC\xED\x00\x05\x73\x72" "0123456789012345678901234567890";
	static const unsigned char v3[] =
	    "\xFE\xED\xFE\xED\x00\x00\x00\x03\x00\x00\x00\x00"
	    "01234567890123456789";
	static const unsigned char huge[] =
	    "\xFE\xED\xFE\xED\x00\x00\x00\x02\xFF\xFF\xFF\xFF"
	    "01234567890123456789";
	static const unsigned char empty[] =
	    "\xFE\xED\xFE\xED\x00\x00\x00\x01\x00\x00\x00\x00"
	    "01234567890123456789";
	struct mtls_err err;
	struct mtls_store *s;

	(void)state;
	assert_null(mtls_store_parse(secret, sizeof(secret) - 1, "k.jceks",
	    "changeit", NULL, &err));
	assert_non_null(strstr(err.msg, "secret-key entry ('aes')"));
	assert_non_null(strstr(err.msg, "-deststoretype PKCS12"));
	assert_null(mtls_store_parse(v3, sizeof(v3) - 1, "v3.jks", NULL, NULL,
	    &err));
	assert_non_null(strstr(err.msg, "version 3"));
	assert_null(mtls_store_parse(huge, sizeof(huge) - 1, "h.jks", NULL,
	    NULL, &err));
	assert_int_equal(err.code, MTLS_E_FORMAT);
	/* Version 1, no entries: parses unverified. */
	s = mtls_store_parse(empty, sizeof(empty) - 1, "e.jks", NULL, NULL, &err);
	assert_non_null(s);
	assert_int_equal(mtls_store_count(s), 0);
	mtls_store_free(s);
	assert_int_equal(mtls_store_detect((const unsigned char *)"hello", 5),
	    MTLS_STORE_NONE);
	assert_null(mtls_store_parse((const unsigned char *)"hello", 5, "x",
	    NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "is not a keystore"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jks_roundtrip),
	    cmocka_unit_test(jks_negative),
	    cmocka_unit_test(jks_truncated_everywhere),
	    cmocka_unit_test(jks_aliases),
	    cmocka_unit_test(jks_key_password),
	    cmocka_unit_test(jks_handmade),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
