/* csr.c: loading CSRs and the checks before signing a partner's request. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "test_pki.h"

static EVP_PKEY *p256;

static int
setup(void **state)
{
	struct mtls_err e;

	(void)state;
	p256 = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	return p256 == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(p256);
	return 0;
}

static void
csr_accepted(void **state)
{
	static const struct {
		const char *san_conf;
		const char *allow;
		const char *want; /* mtls_san_format of the returned SANs */
	} cases[] = {
		{NULL, NULL, ""},
		{"DNS:a.partner.example", NULL, "dns:a.partner.example"},
		{"DNS:a.partner.example,IP:10.0.3.4,URI:spiffe://p/x,"
		 "email:ops@partner.example",
		    NULL,
		    "dns:a.partner.example,ip:10.0.3.4,uri:spiffe://p/x,"
		    "email:ops@partner.example"},
		{"DNS:a.partner.example", "dns:*.partner.example",
		    "dns:a.partner.example"},
		{"DNS:A.PARTNER.EXAMPLE", "dns:*.partner.example",
		    "dns:A.PARTNER.EXAMPLE"},
		{"DNS:a.partner.example,IP:10.0.3.4",
		    "dns:*.partner.example,ip:10.0.*",
		    "dns:a.partner.example,ip:10.0.3.4"},
		{"IP:2001:db8::5", "ip:2001:db8::*", "ip:2001:db8::5"},
		{NULL, "dns:*.partner.example", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_REQ *r = test_csr(p256, "CN=partner,O=Partner", cases[i].san_conf,
		    0);
		GENERAL_NAMES *sans = NULL;
		struct mtls_err e;
		char *s;

		if (mtls_csr_check(r, cases[i].allow, &sans, &e) != 0) {
			fail_msg("case %zu refused: %s", i, e.msg);
		}
		assert_non_null(sans);
		s = mtls_san_format(sans);
		assert_string_equal(s, cases[i].want);
		free(s);
		GENERAL_NAMES_free(sans);
		X509_REQ_free(r);
	}
	/* Other key types we certify. */
	{
		static const char *kinds[] = {"ED25519", "RSA"};
		size_t k;

		for (k = 0; k < 2; k++) {
			EVP_PKEY *key = k == 0 ? EVP_PKEY_Q_keygen(NULL, NULL,
						     kinds[k])
					       : EVP_RSA_gen(2048);
			X509_REQ *r = test_csr(key, "CN=k", "DNS:k.example", 0);
			GENERAL_NAMES *sans = NULL;
			struct mtls_err e;

			assert_int_equal(mtls_csr_check(r, NULL, &sans, &e), 0);
			GENERAL_NAMES_free(sans);
			X509_REQ_free(r);
			EVP_PKEY_free(key);
		}
	}
}

static void
csr_refused_policy(void **state)
{
	static const struct {
		const char *what;
		const char *key; /* NULL: P-256; else "rsa-1024", a curve */
		const char *san_conf;
		int ca;
		const char *allow;
		const char *in;
	} cases[] = {
		{"CA:TRUE", NULL, "DNS:x.example", 1, NULL, "CA:TRUE"},
		{"RSA-1024", "rsa-1024", NULL, 0, NULL, "2048"},
		{"secp256k1", "secp256k1", NULL, 0, NULL, "secp256k1"},
		{"bad DNS", NULL, "DNS:-bad.example", 0, NULL, "malformed DNS"},
		{"DNS with space", NULL, "DNS:a b.example", 0, NULL,
		    "malformed DNS"},
		{"wildcard mid", NULL, "DNS:a.*.example", 0, NULL,
		    "malformed DNS"},
		{"bad email", NULL, "email:nobody", 0, NULL, "malformed email"},
		{"bad URI", NULL, "URI:no-scheme", 0, NULL, "malformed URI"},
		{"dirName SAN", NULL, "dirName:dn_sect", 0, NULL, "unsupported"},
		{"allow DNS", NULL, "DNS:evil.example", 0,
		    "dns:*.partner.example", "dns:evil.example"},
		{"allow IP", NULL, "DNS:a.partner.example,IP:10.1.0.1", 0,
		    "dns:*.partner.example,ip:10.0.*", "ip:10.1.0.1"},
		{"allow kind", NULL, "email:x@partner.example", 0,
		    "dns:*.partner.example", "--san-allow"},
		{"allow suffix", NULL, "DNS:partner.example.evil", 0,
		    "dns:*.partner.example", "partner.example.evil"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *key = p256;
		X509_REQ *r;
		GENERAL_NAMES *sans = (GENERAL_NAMES *)1;
		struct mtls_err e;

		if (cases[i].key != NULL &&
		    strcmp(cases[i].key, "rsa-1024") == 0) {
			key = EVP_RSA_gen(1024);
		} else if (cases[i].key != NULL) {
			key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].key);
		}
		assert_non_null(key);
		if (cases[i].san_conf != NULL &&
		    strncmp(cases[i].san_conf, "dirName", 7) == 0) {
			/* Needs a config section: build the name directly. */
			GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
			GENERAL_NAME *gn = GENERAL_NAME_new();
			STACK_OF(X509_EXTENSION) *exts = NULL;
			X509_NAME *n = mtls_name_parse("CN=dir", &e);

			GENERAL_NAME_set0_value(gn, GEN_DIRNAME, n);
			sk_GENERAL_NAME_push(g, gn);
			r = X509_REQ_new();
			X509_REQ_set_pubkey(r, key);
			assert_int_equal(X509V3_add1_i2d(&exts,
			    NID_subject_alt_name, g, 0, 0), 1);
			assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
			assert_true(X509_REQ_sign(r, key, EVP_sha256()) > 0);
			sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
			GENERAL_NAMES_free(g);
		} else {
			r = test_csr(key, "CN=partner", cases[i].san_conf,
			    cases[i].ca);
		}
		mtls_err_clear(&e);
		if (mtls_csr_check(r, cases[i].allow, &sans, &e) == 0) {
			fail_msg("%s: accepted", cases[i].what);
		}
		assert_null(sans);
		assert_int_equal(e.code, MTLS_E_POLICY);
		if (strstr(e.msg, cases[i].in) == NULL) {
			fail_msg("%s: '%s' lacks '%s'", cases[i].what, e.msg,
			    cases[i].in);
		}
		assert_int_equal(ERR_peek_error(), 0);
		X509_REQ_free(r);
		if (key != p256) {
			EVP_PKEY_free(key);
		}
	}
}

/* DER of R with one byte changed at the first occurrence of NEEDLE
 * (or at the very end when NEEDLE is NULL: inside the signature). */
static X509_REQ *
tamper(X509_REQ *r, const char *needle)
{
	unsigned char *der = NULL, *hit;
	const unsigned char *p;
	int n = i2d_X509_REQ(r, &der);
	X509_REQ *out;

	assert_true(n > 0);
	if (needle == NULL) {
		hit = der + n - 1;
	} else {
		hit = memmem(der, (size_t)n, needle, strlen(needle));
		assert_non_null(hit);
	}
	*hit ^= 0x01;
	p = der;
	out = d2i_X509_REQ(NULL, &p, n);
	OPENSSL_free(der);
	return out;
}

static void
csr_broken_signature(void **state)
{
	static const char *where[] = {
	    "honest",          /* the subject */
	    "ok.example",      /* the requested SAN */
	    NULL,              /* the signature itself */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		X509_REQ *good = test_csr(p256, "CN=honest", "DNS:ok.example", 0);
		X509_REQ *bad = tamper(good, where[i]);
		GENERAL_NAMES *sans = NULL;
		struct mtls_err e;

		assert_non_null(bad); /* still well-formed DER */
		mtls_err_clear(&e);
		assert_int_equal(mtls_csr_check(bad, NULL, &sans, &e), -1);
		assert_int_equal(e.code, MTLS_E_POLICY);
		assert_non_null(strstr(e.msg, "signature does not verify"));
		assert_null(sans);
		/* The untouched one passes. */
		assert_int_equal(mtls_csr_check(good, NULL, &sans, &e), 0);
		GENERAL_NAMES_free(sans);
		X509_REQ_free(bad);
		X509_REQ_free(good);
	}
	/* A request signed by a key other than the one it carries. */
	{
		struct mtls_err e;
		EVP_PKEY *other = mtls_key_generate(MTLS_KEY_EC_P256, &e);
		X509_REQ *r = test_csr(p256, "CN=pop", NULL, 0);
		GENERAL_NAMES *sans = NULL;

		assert_true(X509_REQ_sign(r, other, EVP_sha256()) > 0);
		mtls_err_clear(&e);
		assert_int_equal(mtls_csr_check(r, NULL, &sans, &e), -1);
		assert_non_null(strstr(e.msg, "signature does not verify"));
		X509_REQ_free(r);
		EVP_PKEY_free(other);
	}
}

static void
csr_malformed_san_extension(void **state)
{
	/* A subjectAltName whose DER does not decode. */
	ASN1_OCTET_STRING *junk = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_REQ *r = X509_REQ_new();
	GENERAL_NAMES *sans = NULL;
	struct mtls_err e;

	(void)state;
	assert_int_equal(ASN1_OCTET_STRING_set(junk,
	    (const unsigned char *)"\x30\x05\x82\x10zz", 6), 1);
	ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, junk);
	assert_non_null(ext);
	sk_X509_EXTENSION_push(exts, ext);
	X509_REQ_set_pubkey(r, p256);
	assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
	assert_true(X509_REQ_sign(r, p256, EVP_sha256()) > 0);
	mtls_err_clear(&e);
	assert_int_equal(mtls_csr_check(r, NULL, &sans, &e), -1);
	assert_int_equal(e.code, MTLS_E_POLICY);
	assert_non_null(strstr(e.msg, "malformed"));
	assert_int_equal(ERR_peek_error(), 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_OCTET_STRING_free(junk);
	X509_REQ_free(r);
}

static void
csr_load(void **state)
{
	char *tmp = test_tmpdir();
	X509_REQ *r = test_csr(p256, "CN=load", "DNS:load.example", 0), *got;
	struct mtls_err e;
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(r, &der);
	BIO *b;

	(void)state;
	/* PEM */
	b = BIO_new_file(test_path(tmp, "r.csr"), "wb");
	assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
	BIO_free(b);
	got = mtls_load_csr(test_path(tmp, "r.csr"), &e);
	assert_non_null(got);
	assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(got),
	    X509_REQ_get_subject_name(r)), 0);
	X509_REQ_free(got);
	/* DER */
	assert_int_equal(test_write(test_path(tmp, "r.der"), der, (size_t)n), 0);
	got = mtls_load_csr(test_path(tmp, "r.der"), &e);
	assert_non_null(got);
	X509_REQ_free(got);
	/* Not a CSR: empty, text, a truncated PEM, a truncated DER, a
	 * certificate-shaped PEM. */
	{
		static const struct {
			const char *file;
			const char *data;
			size_t len;
		} bad[] = {
			{"empty.csr", "", 0},
			{"text.csr", "please sign me\n", 15},
			{"trunc.csr", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB", 41},
			{"wrong.csr", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
				      "-----END PRIVATE KEY-----\n", 59},
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const char *p = test_path(tmp, bad[i].file);

			assert_int_equal(test_write(p, bad[i].data, bad[i].len), 0);
			mtls_err_clear(&e);
			assert_null(mtls_load_csr(p, &e));
			assert_int_equal(e.code, MTLS_E_FORMAT);
			assert_non_null(strstr(e.msg, p));
		}
		assert_int_equal(test_write(test_path(tmp, "half.der"), der,
		    (size_t)n / 2), 0);
		mtls_err_clear(&e);
		assert_null(mtls_load_csr(test_path(tmp, "half.der"), &e));
		assert_int_equal(e.code, MTLS_E_FORMAT);
	}
	mtls_err_clear(&e);
	assert_null(mtls_load_csr(test_path(tmp, "missing.csr"), &e));
	assert_int_equal(e.code, MTLS_E_IO);
	OPENSSL_free(der);
	X509_REQ_free(r);
	test_rmrf(tmp);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(csr_accepted),
	    cmocka_unit_test(csr_refused_policy),
	    cmocka_unit_test(csr_broken_signature),
	    cmocka_unit_test(csr_malformed_san_extension),
	    cmocka_unit_test(csr_load),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
