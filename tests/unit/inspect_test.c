/* inspect.c, inspect_p12.c, describe.c: recognising content and
 * describing it. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "mtls/inspect.h"
#include "test_pki.h"

struct fx {
	char *dir;
	struct mtls_ca *ca;
	EVP_PKEY *key;
	X509 *leaf;
	X509 *old; /* expired */
};

static struct fx *F;

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	f->ca = test_ca_new(f->dir, MTLS_KEY_EC_P256, 0, "CN=Inspect CA,O=Ex");
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	f->leaf = test_sign(f->ca, "leaf", MTLS_PROFILE_SERVER,
	    "dns:leaf.example,ip:10.0.0.9", f->key, 30, 0);
	f->old = test_sign(f->ca, "old", MTLS_PROFILE_CLIENT, NULL, f->key, 10,
	    1577836800);
	F = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	X509_free(f->leaf);
	X509_free(f->old);
	EVP_PKEY_free(f->key);
	mtls_ca_free(f->ca);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Serialisations of the fixtures, as files would hold them. */
static char *
pem_of(X509 *a, X509 *b, EVP_PKEY *k, const char *kpass, int trad,
    size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (a != NULL) {
		assert_int_equal(PEM_write_bio_X509(bio, a), 1);
	}
	if (b != NULL) {
		assert_int_equal(PEM_write_bio_X509(bio, b), 1);
	}
	if (k != NULL && trad) {
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k,
		    kpass ? EVP_aes_128_cbc() : NULL, (unsigned char *)kpass,
		    kpass ? (int)strlen(kpass) : 0, NULL, NULL), 1);
	} else if (k != NULL) {
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k,
		    kpass ? EVP_aes_256_cbc() : NULL, kpass,
		    kpass ? (int)strlen(kpass) : 0, NULL, NULL), 1);
	}
	n = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return out;
}

static json_t *
inspect_ok(const void *d, size_t n, const char *pass, const char *format,
    size_t nobjs)
{
	struct mtls_err e;
	json_t *j = mtls_inspect(d, n, "input", pass, &e);

	if (j == NULL) {
		fail_msg("inspect failed: %s", e.msg);
	}
	assert_string_equal(json_string_value(json_object_get(j, "file")),
	    "input");
	assert_string_equal(json_string_value(json_object_get(j, "format")),
	    format);
	assert_int_equal(json_array_size(json_object_get(j, "objects")), nobjs);
	return j;
}

static json_t *
obj(json_t *j, size_t i)
{
	return json_array_get(json_object_get(j, "objects"), i);
}

static const char *
str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
cert_json_fields(void **state)
{
	struct fx *f = *state;
	json_t *j = mtls_cert_to_json(f->leaf);
	json_t *c = mtls_cert_to_json(mtls_ca_cert(f->ca));
	json_t *o = mtls_cert_to_json(f->old);
	char fp[200], *serial = mtls_cert_serial_hex(f->leaf);
	long left;

	assert_string_equal(str(j, "type"), "certificate");
	assert_string_equal(str(j, "subject"), "CN=leaf");
	assert_string_equal(str(j, "issuer"), "CN=Inspect CA, O=Ex");
	assert_string_equal(str(j, "serial"), serial);
	left = (long)json_integer_value(json_object_get(j, "days_left"));
	assert_true(left == 29 || left == 30);
	assert_int_equal(json_array_size(json_object_get(j, "sans")), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "sans"), 0)), "dns:leaf.example");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "sans"), 1)), "ip:10.0.0.9");
	assert_int_equal(json_array_size(json_object_get(j, "key_usage")), 1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "key_usage"), 0)), "digitalSignature");
	assert_int_equal(json_array_size(json_object_get(j, "ext_key_usage")), 1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "ext_key_usage"), 0)), "serverAuth");
	assert_true(json_is_false(json_object_get(j, "ca")));
	assert_true(json_is_false(json_object_get(j, "self_signed")));
	assert_string_equal(str(j, "key"), "EC P-256");
	assert_string_equal(str(j, "signature"), "ecdsa-with-SHA256");
	/* JSON fingerprints and dates follow docs/json.md: lower-case hex,
	 * RFC 3339 UTC. */
	mtls_cert_fingerprint(f->leaf, EVP_sha256(), fp, sizeof(fp));
	assert_int_equal(mtls_fingerprint_hex(fp, fp, sizeof(fp)), 0);
	assert_int_equal(strlen(fp), 64);
	assert_string_equal(str(j, "sha256"), fp);
	mtls_cert_fingerprint(f->leaf, EVP_sha1(), fp, sizeof(fp));
	assert_int_equal(mtls_fingerprint_hex(fp, fp, sizeof(fp)), 0);
	assert_string_equal(str(j, "sha1"), fp);
	assert_int_equal(strlen(str(j, "not_after")), 20);
	assert_int_equal(str(j, "not_after")[10], 'T');
	assert_int_equal(str(j, "not_after")[19], 'Z');
	{
		char small[4];

		/* Anything but hex and colons, or too small a buffer: -1. */
		assert_int_equal(mtls_fingerprint_hex("AB:ZZ", fp, sizeof(fp)), -1);
		assert_string_equal(fp, "");
		assert_int_equal(mtls_fingerprint_hex("AB:CD:EF", small,
		    sizeof(small)), -1);
	}

	/* The CA. */
	assert_true(json_is_true(json_object_get(c, "ca")));
	assert_true(json_is_true(json_object_get(c, "self_signed")));
	assert_int_equal(json_array_size(json_object_get(c, "sans")), 0);
	assert_int_equal(json_array_size(json_object_get(c, "ext_key_usage")), 0);
	{
		json_t *ku = json_object_get(c, "key_usage");
		int certsign = 0, crlsign = 0;
		size_t i;
		json_t *v;

		json_array_foreach(ku, i, v) {
			certsign |= strcmp(json_string_value(v), "keyCertSign") == 0;
			crlsign |= strcmp(json_string_value(v), "cRLSign") == 0;
		}
		assert_true(certsign && crlsign);
	}
	/* An expired one: negative days left, dates as issued. */
	assert_true(json_integer_value(json_object_get(o, "days_left")) < -2000);
	assert_string_equal(str(o, "not_before"), "2020-01-01T00:00:00Z");
	assert_string_equal(str(o, "not_after"), "2020-01-11T00:00:00Z");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "ext_key_usage"), 0)), "clientAuth");
	OPENSSL_free(serial);
	json_decref(j);
	json_decref(c);
	json_decref(o);
}

static void
detect_certs(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *pem = pem_of(f->leaf, mtls_ca_cert(f->ca), NULL, NULL, 0, &n);
	json_t *j = inspect_ok(pem, n, NULL, "PEM", 2);
	unsigned char *der = NULL;
	int dn;

	assert_string_equal(str(obj(j, 0), "subject"), "CN=leaf");
	assert_string_equal(str(obj(j, 1), "subject"), "CN=Inspect CA, O=Ex");
	json_decref(j);
	free(pem);

	dn = i2d_X509(f->leaf, &der);
	j = inspect_ok(der, (size_t)dn, NULL, "DER", 1);
	assert_string_equal(str(obj(j, 0), "type"), "certificate");
	assert_string_equal(str(obj(j, 0), "subject"), "CN=leaf");
	json_decref(j);

	/* Text before the PEM, as `openssl x509 -text` writes. */
	{
		const char *pre = "Certificate:\n    Data: ...\n";
		char *buf;

		pem = pem_of(f->leaf, NULL, NULL, NULL, 0, &n);
		buf = malloc(strlen(pre) + n + 1);
		strcpy(buf, pre);
		strcat(buf, pem);
		j = inspect_ok(buf, strlen(buf), NULL, "PEM", 1);
		json_decref(j);
		free(buf);
		free(pem);
	}
	OPENSSL_free(der);
}

static void
detect_csr(void **state)
{
	X509_REQ *r = test_csr(F->key, "CN=req,O=Partner", "DNS:req.example", 0);
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	unsigned char *der = NULL;
	int dn;
	json_t *j;

	(void)state;
	assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
	n = BIO_get_mem_data(b, &data);
	j = inspect_ok(data, (size_t)n, NULL, "PEM", 1);
	assert_string_equal(str(obj(j, 0), "type"), "certificate request");
	assert_string_equal(str(obj(j, 0), "subject"), "CN=req, O=Partner");
	assert_string_equal(str(obj(j, 0), "key"), "EC P-256");
	assert_true(json_is_true(json_object_get(obj(j, 0), "signature_valid")));
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(obj(j, 0), "sans"), 0)), "dns:req.example");
	json_decref(j);
	BIO_free(b);

	dn = i2d_X509_REQ(r, &der);
	j = inspect_ok(der, (size_t)dn, NULL, "DER", 1);
	assert_string_equal(str(obj(j, 0), "type"), "certificate request");
	json_decref(j);
	/* A tampered request is still recognised, with signature_valid no. */
	{
		unsigned char *hit = memmem(der, (size_t)dn, "Partner", 7);

		assert_non_null(hit);
		*hit = 'Q';
		j = inspect_ok(der, (size_t)dn, NULL, "DER", 1);
		assert_true(json_is_false(json_object_get(obj(j, 0),
		    "signature_valid")));
		json_decref(j);
	}
	OPENSSL_free(der);
	X509_REQ_free(r);
}

static void
detect_keys(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	EVP_PKEY *other = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	static const struct {
		int with_cert;
		int other_key;
		const char *kpass;
		int trad;
		const char *pass;   /* given to inspect */
		const char *encoding;
		int encrypted;
		int described;      /* "key" present */
		int match;          /* -1: no matches_certificate */
	} cases[] = {
		{0, 0, NULL, 0, NULL, "PKCS#8", 0, 1, -1},
		{0, 0, "pw", 0, NULL, "PKCS#8 (encrypted)", 1, 0, -1},
		{0, 0, "pw", 0, "pass:pw", "PKCS#8 (encrypted)", 1, 1, -1},
		{0, 0, NULL, 1, NULL, "traditional", 0, 1, -1},
		{0, 0, "pw", 1, NULL, "traditional", 1, 0, -1},
		{0, 0, "pw", 1, "pass:pw", "traditional", 1, 1, -1},
		{1, 0, NULL, 0, NULL, "PKCS#8", 0, 1, 1},
		{1, 1, NULL, 0, NULL, "PKCS#8", 0, 1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;
		char *pem = pem_of(cases[i].with_cert ? f->leaf : NULL, NULL,
		    cases[i].other_key ? other : f->key, cases[i].kpass,
		    cases[i].trad, &n);
		json_t *j = inspect_ok(pem, n, cases[i].pass, "PEM",
		    cases[i].with_cert ? 2 : 1);
		json_t *k = obj(j, cases[i].with_cert ? 1 : 0);
		json_t *m = json_object_get(k, "matches_certificate");

		assert_string_equal(str(k, "type"), "private key");
		assert_string_equal(str(k, "encoding"), cases[i].encoding);
		assert_int_equal(json_is_true(json_object_get(k, "encrypted")),
		    cases[i].encrypted);
		if (cases[i].described) {
			assert_string_equal(str(k, "key"), "EC P-256");
		} else {
			assert_null(json_object_get(k, "key"));
		}
		if (cases[i].match < 0) {
			assert_null(m);
		} else {
			assert_non_null(m);
			assert_int_equal(json_is_true(m), cases[i].match);
		}
		json_decref(j);
		/* Encrypted with a wrong password: said so. */
		if (cases[i].kpass != NULL) {
			mtls_err_clear(&e);
			assert_null(mtls_inspect((unsigned char *)pem, n, "input", "pass:bad", &e));
			assert_int_equal(e.code, MTLS_E_PASSWORD);
			assert_non_null(strstr(e.msg, "wrong password for input"));
		}
		free(pem);
	}
	/* DER keys: plain and encrypted PKCS#8. */
	{
		BIO *b = BIO_new(BIO_s_mem());
		char *data;
		long n;
		json_t *j;

		assert_int_equal(i2d_PrivateKey_bio(b, f->key), 1);
		n = BIO_get_mem_data(b, &data);
		j = inspect_ok(data, (size_t)n, NULL, "DER", 1);
		assert_string_equal(str(obj(j, 0), "type"), "private key");
		assert_string_equal(str(obj(j, 0), "key"), "EC P-256");
		json_decref(j);
		BIO_free(b);
		b = BIO_new(BIO_s_mem());
		assert_int_equal(i2d_PKCS8PrivateKey_bio(b, f->key,
		    EVP_aes_256_cbc(), "pw", 2, NULL, NULL), 1);
		n = BIO_get_mem_data(b, &data);
		j = inspect_ok(data, (size_t)n, NULL, "DER", 1);
		assert_true(json_is_true(json_object_get(obj(j, 0), "encrypted")));
		json_decref(j);
		j = inspect_ok(data, (size_t)n, "pass:pw", "DER", 1);
		assert_string_equal(str(obj(j, 0), "key"), "EC P-256");
		json_decref(j);
		BIO_free(b);
	}
	EVP_PKEY_free(other);
}

static void
detect_p12(void **state)
{
	struct fx *f = *state;
	static const struct {
		int legacy;
		const char *mac;
	} cases[] = {
		{0, "SHA256"},
		{1, "SHA1"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		STACK_OF(X509) *chain = sk_X509_new_null();
		struct mtls_err e;
		unsigned char *der = NULL;
		size_t n = 0;
		json_t *j;

		sk_X509_push(chain, mtls_ca_cert(f->ca));
		assert_int_equal(mtls_p12_build(f->key, f->leaf, chain, "leaf",
		    "p12pw", cases[i].legacy, &der, &n, &e), 0);
		j = inspect_ok(der, n, "pass:p12pw", "PKCS#12", 4);
		assert_string_equal(str(obj(j, 0), "type"), "pkcs12");
		assert_string_equal(str(obj(j, 0), "mac"), cases[i].mac);
		assert_string_equal(str(obj(j, 1), "type"), "private key");
		assert_string_equal(str(obj(j, 1), "key"), "EC P-256");
		assert_true(json_is_true(json_object_get(obj(j, 1),
		    "matches_certificate")));
		assert_string_equal(str(obj(j, 2), "subject"), "CN=leaf");
		assert_string_equal(str(obj(j, 2), "role"), "key's certificate");
		assert_string_equal(str(obj(j, 3), "subject"),
		    "CN=Inspect CA, O=Ex");
		json_decref(j);
		/* Wrong password. */
		mtls_err_clear(&e);
		assert_null(mtls_inspect(der, n, "store.p12", "pass:nope", &e));
		assert_int_equal(e.code, MTLS_E_PASSWORD);
		assert_non_null(strstr(e.msg, "wrong password for store.p12"));
		/* No password and no terminal: asks for --pass. */
		mtls_err_clear(&e);
		assert_null(mtls_inspect(der, n, "store.p12", NULL, &e));
		assert_int_equal(e.code, MTLS_E_PASSWORD);
		OPENSSL_free(der);
		sk_X509_free(chain);
	}
	/* A store with an empty password opens without asking. */
	{
		struct mtls_err e;
		unsigned char *der = NULL;
		size_t n = 0;
		json_t *j;

		assert_int_equal(mtls_p12_build(f->key, f->leaf, NULL, "leaf", "",
		    0, &der, &n, &e), 0);
		j = inspect_ok(der, n, NULL, "PKCS#12", 3);
		json_decref(j);
		OPENSSL_free(der);
	}
}

static void
detect_bad_input(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *chain = pem_of(f->leaf, mtls_ca_cert(f->ca), NULL, NULL, 0, &n);
	unsigned char *der = NULL, *p12 = NULL;
	int dn = i2d_X509(f->leaf, &der);
	size_t p12n = 0;
	struct mtls_err e;
	const char *second = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
	size_t half_second = (size_t)(second - chain) +
	    (n - (size_t)(second - chain)) / 2;
	static const char text[] = "just some text, not a PKI object\n";
	static const char unknown[] =
	    "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n";
	const struct {
		const char *what;
		const void *data;
		size_t len;
		const char *in;
	} cases[] = {
		{"empty", "", 0, "it is empty"},
		{"text", text, sizeof(text) - 1, "not a certificate"},
		{"half a PEM certificate", chain, n / 4, "input"},
		{"PEM without its END line", chain,
		    (size_t)(strstr(chain, "-----END") - chain), "input"},
		{"half a DER certificate", der, (size_t)dn / 2, "input"},
		{"DER certificate missing a byte", der, (size_t)dn - 1, "input"},
		{"chain cut inside the second certificate", chain, half_second,
		    "input"},
		{"half a PKCS#12", NULL, 0, "input"},
	};
	size_t i;

	(void)unknown;
	assert_int_equal(mtls_p12_build(f->key, f->leaf, NULL, "x", "pw", 0,
	    &p12, &p12n, &e), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const void *d = cases[i].data ? cases[i].data : p12;
		size_t len = cases[i].data ? cases[i].len : p12n / 2;
		json_t *j;

		mtls_err_clear(&e);
		j = mtls_inspect(d, len, "input", "pass:pw", &e);
		if (j != NULL) {
			char *s = json_dumps(j, 0);

			fail_msg("%s: accepted as %s", cases[i].what, s);
		}
		assert_int_equal(e.code, MTLS_E_FORMAT);
		if (strstr(e.msg, cases[i].in) == NULL) {
			fail_msg("%s: '%s' lacks '%s'", cases[i].what, e.msg,
			    cases[i].in);
		}
	}
	/* An unknown PEM label is listed as what it is, not refused. */
	{
		json_t *j = inspect_ok(unknown, sizeof(unknown) - 1, NULL, "PEM", 1);

		assert_string_equal(str(obj(j, 0), "type"), "FOO");
		json_decref(j);
	}
	OPENSSL_free(der);
	OPENSSL_free(p12);
	free(chain);
}

static void
print_for_people(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *pem = pem_of(f->old, NULL, f->key, NULL, 0, &n);
	json_t *j = inspect_ok(pem, n, NULL, "PEM", 2);
	char *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);
	static const char *want[] = {
	    "input: PEM",
	    "[1] certificate",
	    "Subject:     CN=old",
	    "EXPIRED",
	    "days ago",
	    "Ext. usage:  clientAuth",
	    "SHA-256:",
	    "[2] private key",
	    "Matches:     yes",
	};
	size_t i;

	mtls_inspect_print(fp, j);
	fclose(fp);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(out, want[i]) == NULL) {
			fail_msg("'%s' not in:\n%s", want[i], out);
		}
	}
	free(out);
	json_decref(j);
	free(pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cert_json_fields),
	    cmocka_unit_test(detect_certs),
	    cmocka_unit_test(detect_csr),
	    cmocka_unit_test(detect_keys),
	    cmocka_unit_test(detect_p12),
	    cmocka_unit_test(detect_bad_input),
	    cmocka_unit_test(print_for_people),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
