#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

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
write_p12(struct mtls_store *s, const char *pass, int legacy,
    unsigned char **out, size_t *len)
{
	struct mtls_store_opts o = {NULL, legacy, 0};
	struct mtls_err e;

	assert_int_equal(mtls_store_serialize(s, MTLS_STORE_P12, pass, &o, out,
			     len, &e), 0);
}

/* MAC digest and iteration count, and the NID of the first shrouded key
 * bag's algorithm. */
static void
p12_algs(const unsigned char *d, size_t n, int *mac_nid, long *iter)
{
	const unsigned char *p = d;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)n);
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	const ASN1_INTEGER *it = NULL;

	assert_non_null(p12);
	PKCS12_get0_mac(NULL, &alg, NULL, &it, p12);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	*mac_nid = OBJ_obj2nid(obj);
	*iter = ASN1_INTEGER_get(it);
	PKCS12_free(p12);
}

static void
p12_roundtrip(void **state)
{
	static const struct {
		int legacy;
		int mac_nid;
	} profiles[] = {{0, NID_sha256}, {1, NID_sha1}};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct mtls_store *s = fx_store(&F, "Server", "RootCA"), *r;
		const struct mtls_store_entry *e;
		unsigned char *d = NULL;
		size_t n = 0;
		struct mtls_err err;
		int mac;
		long iter;

		write_p12(s, "changeit", profiles[i].legacy, &d, &n);
		assert_int_equal(mtls_store_detect(d, n), MTLS_STORE_P12);
		p12_algs(d, n, &mac, &iter);
		assert_int_equal(mac, profiles[i].mac_nid);
		assert_true(iter >= 10000);
		r = mtls_store_parse(d, n, "t.p12", "changeit", NULL, &err);
		assert_non_null(r);
		assert_true(mtls_store_verified(r));
		assert_int_equal(mtls_store_count(r), 2);
		e = mtls_store_get(r, (size_t)mtls_store_find(r, "server"));
		assert_string_equal(e->alias, "server");
		assert_int_equal(e->type, MTLS_ENTRY_KEY);
		assert_int_equal(e->created, 1700000000123LL); /* "Time <ms>" */
		assert_int_equal(EVP_PKEY_eq(e->key, F.key), 1);
		assert_int_equal(sk_X509_num(e->certs), 2);
		assert_int_equal(X509_cmp(sk_X509_value(e->certs, 0), F.leaf), 0);
		e = mtls_store_get(r, (size_t)mtls_store_find(r, "rootca"));
		assert_int_equal(e->type, MTLS_ENTRY_TRUSTED);
		assert_false(e->flags & MTLS_ENTRY_NOTRUST); /* Java attr */
		mtls_store_free(r);
		mtls_store_buf_free(d, n);
		mtls_store_free(s);
	}
}

static void
p12_negative(void **state)
{
	struct mtls_store *s = fx_store(&F, "server", "ca");
	unsigned char *d = NULL;
	size_t n = 0;
	struct mtls_err err;

	(void)state;
	write_p12(s, "changeit", 0, &d, &n);
	assert_null(mtls_store_parse(d, n, "t.p12", "wrongpass", NULL, &err));
	assert_int_equal(err.code, MTLS_E_PASSWORD);
	assert_string_equal(err.msg, "wrong password for t.p12");
	assert_null(mtls_store_parse(d, n, "t.p12", NULL, NULL, &err));
	assert_int_equal(err.code, MTLS_E_PASSWORD);
	assert_non_null(strstr(err.msg, "--pass"));
	/* The MAC value is in the last bytes (MacData ends with the salt
	 * and iterations): flip a byte of the digest itself. */
	{
		const unsigned char *p = d;
		PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)n);
		const ASN1_OCTET_STRING *mac = NULL;
		unsigned char *at;

		PKCS12_get0_mac(&mac, NULL, NULL, NULL, p12);
		at = (unsigned char *)memmem(d, n, ASN1_STRING_get0_data(mac),
		    (size_t)ASN1_STRING_length(mac));
		assert_non_null(at);
		*at ^= 0x01;
		PKCS12_free(p12);
	}
	assert_null(mtls_store_parse(d, n, "t.p12", "changeit", NULL, &err));
	assert_int_equal(err.code, MTLS_E_FORMAT);
	assert_non_null(strstr(err.msg, "failed its integrity check"));
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

static void
p12_truncated_everywhere(void **state)
{
	struct mtls_store *s = mtls_store_new();
	unsigned char *d = NULL, *copy;
	size_t n = 0, i;
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_store_add_trusted(s, "ca", F.ca, 0, 0, &err), 0);
	write_p12(s, "changeit", 0, &d, &n);
	for (i = 0; i < n; i++) {
		copy = malloc(i ? i : 1);
		memcpy(copy, d, i);
		assert_null(mtls_store_parse(copy, i, "t.p12", "changeit", NULL,
		    &err));
		free(copy);
	}
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

static void
p12_passwordless_and_foreign(void **state)
{
	struct mtls_store *s = mtls_store_new(), *r;
	unsigned char *d = NULL, *der = NULL, *q;
	size_t n = 0;
	struct mtls_err err;
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12;
	int dlen;

	(void)state;
	/* A passwordless truststore: no MAC, plain safe. */
	assert_int_equal(mtls_store_add_trusted(s, "ca", F.ca, 0, 0, &err), 0);
	write_p12(s, "", 0, &d, &n);
	r = mtls_store_parse(d, n, "np.p12", NULL, NULL, &err);
	assert_non_null(r);
	assert_false(mtls_store_verified(r));
	assert_int_equal(mtls_store_count(r), 1);
	mtls_store_free(r);
	mtls_store_buf_free(d, n);
	/* ... but never a passwordless key store. */
	assert_int_equal(mtls_store_add_key(s, "k", F.key, F.chain, 0, 0, &err),
	    0);
	assert_int_equal(mtls_store_serialize(s, MTLS_STORE_P12, "", NULL, &d,
			     &n, &err), -1);
	assert_int_equal(err.code, MTLS_E_PASSWORD);
	mtls_store_free(s);

	/* OpenSSL's own cert-only file lacks Java's trust attribute: read,
	 * flagged NOTRUST. */
	sk_X509_push(cas, F.ca);
	p12 = PKCS12_create("changeit", "rootca", NULL, NULL, cas, 0,
	    NID_aes_256_cbc, 2048, 2048, 0);
	assert_non_null(p12);
	dlen = i2d_PKCS12(p12, NULL);
	der = malloc((size_t)dlen);
	q = der;
	i2d_PKCS12(p12, &q);
	r = mtls_store_parse(der, (size_t)dlen, "o.p12", "changeit", NULL, &err);
	assert_non_null(r);
	assert_int_equal(mtls_store_count(r), 1);
	assert_true(mtls_store_get(r, 0)->flags & MTLS_ENTRY_NOTRUST);
	mtls_store_free(r);
	free(der);
	PKCS12_free(p12);
	sk_X509_free(cas);
}

static void
p12_describe(void **state)
{
	struct mtls_store *s = fx_store(&F, "server", "ca");
	unsigned char *d = NULL;
	size_t n = 0;
	struct mtls_err err;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	(void)state;
	write_p12(s, "changeit", 0, &d, &n);
	f = open_memstream(&buf, &blen);
	assert_int_equal(mtls_store_describe(f, d, n, "t.p12", "pass:changeit",
			     0, &err), 1);
	assert_int_equal(mtls_store_describe(f, d, n, "t.p12", "pass:changeit",
			     1, &err), 1);
	fclose(f);
	assert_non_null(strstr(buf, "Alias: server"));
	assert_non_null(strstr(buf, "trustedCertEntry"));
	assert_non_null(strstr(buf, "SHA-256: "));
	assert_non_null(strstr(buf, "\"alias\": \"ca\""));
	assert_non_null(strstr(buf, "\"not_after\""));
	free(buf);
	assert_int_equal(mtls_store_describe(stdout, (const unsigned char *)"x",
			     1, "x", NULL, 0, &err), 0);
	assert_int_equal(mtls_store_describe(stdout, d, n, "t.p12",
			     "pass:nope", 0, &err), -1);
	assert_int_equal(err.code, MTLS_E_PASSWORD);
	mtls_store_buf_free(d, n);
	mtls_store_free(s);
}

/* An RC2-40 file (keytool of old, openssl -legacy) is read, and reading it
 * does not enable the legacy algorithms in the application's default
 * OpenSSL context: libmtls keeps them in a library context of its own. */
static void
p12_rc2_private_libctx(void **state)
{
	OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *pd, *pl;
	STACK_OF(X509) *ca = sk_X509_new_null();
	struct mtls_store *s;
	struct mtls_err err;
	unsigned char *d = NULL;
	EVP_CIPHER *rc2;
	PKCS12 *p12;
	int n;

	(void)state;
	assert_non_null(lc);
	pd = OSSL_PROVIDER_load(lc, "default");
	pl = OSSL_PROVIDER_load(lc, "legacy");
	if (pl == NULL) {
		skip(); /* OpenSSL without its legacy module */
	}
	assert_non_null(ca);
	assert_int_equal(sk_X509_push(ca, F.ca), 1);
	p12 = PKCS12_create_ex("legacy pw", "server", F.key, F.leaf, ca,
	    NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
	    NID_pbe_WithSHA1And40BitRC2_CBC, 10000, 10000, 0, lc, NULL);
	assert_non_null(p12);
	n = i2d_PKCS12(p12, &d);
	assert_true(n > 0);
	/* The default context of this process has no RC2 before ... */
	rc2 = EVP_CIPHER_fetch(NULL, "RC2-40-CBC", NULL);
	assert_null(rc2);
	ERR_clear_error();
	s = mtls_store_parse(d, (size_t)n, "old.p12", "legacy pw", NULL, &err);
	if (s == NULL) {
		fail_msg("%s", err.msg);
	}
	assert_int_equal(mtls_store_count(s), 1);
	assert_non_null(mtls_store_get(s, 0)->key);
	assert_int_equal(sk_X509_num(mtls_store_get(s, 0)->certs), 2);
	/* ... nor after libmtls decrypted the RC2-40 certificate bag. */
	rc2 = EVP_CIPHER_fetch(NULL, "RC2-40-CBC", NULL);
	assert_null(rc2);
	ERR_clear_error();
	mtls_store_free(s);
	OPENSSL_free(d);
	PKCS12_free(p12);
	sk_X509_free(ca);
	OSSL_PROVIDER_unload(pl);
	OSSL_PROVIDER_unload(pd);
	OSSL_LIB_CTX_free(lc);
	mtls_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(p12_roundtrip),
	    cmocka_unit_test(p12_negative),
	    cmocka_unit_test(p12_truncated_everywhere),
	    cmocka_unit_test(p12_passwordless_and_foreign),
	    cmocka_unit_test(p12_describe),
	    cmocka_unit_test(p12_rc2_private_libctx),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
