/* load.c: loading certificates and keys in every form, encoding them,
 * fingerprints and key/certificate matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "test_pki.h"

struct fx {
	char *dir;
	struct mtls_ca *ca;
	EVP_PKEY *key; /* the leaf's key (EC P-256) */
	EVP_PKEY *rsa; /* an RSA key for the traditional RSA form */
	X509 *leaf;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	f->ca = test_ca_new(test_path(f->dir, "ca"), MTLS_KEY_EC_P256, 0,
	    "CN=Load Test CA");
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	f->rsa = mtls_key_generate(MTLS_KEY_RSA_2048, &e);
	assert_non_null(f->key);
	assert_non_null(f->rsa);
	f->leaf = test_sign(f->ca, "leaf", MTLS_PROFILE_SERVER,
	    "dns:leaf.example", f->key, 30, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	X509_free(f->leaf);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->rsa);
	mtls_ca_free(f->ca);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void
write_der_cert(const char *path, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	assert_int_equal(test_write(path, der, (size_t)n), 0);
	OPENSSL_free(der);
}

static void
certs_load_forms(void **state)
{
	struct fx *f = *state;
	X509 *cacert = mtls_ca_cert(f->ca);
	struct mtls_err e;
	STACK_OF(X509) *sk = NULL;
	const char *chain = test_path(f->dir, "chain.pem");
	const char *der = test_path(f->dir, "leaf.der");
	const char *text = test_path(f->dir, "leaf.txt");
	X509 *x;

	/* PEM chain: every certificate, in file order. */
	test_write_certs(chain, f->leaf, cacert);
	assert_int_equal(mtls_load_certs(chain, &sk, &e), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), f->leaf), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), cacert), 0);
	sk_X509_pop_free(sk, X509_free);
	x = mtls_load_cert(chain, &e);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, f->leaf), 0);
	X509_free(x);

	/* DER. */
	write_der_cert(der, f->leaf);
	assert_int_equal(mtls_load_certs(der, &sk, &e), 0);
	assert_int_equal(sk_X509_num(sk), 1);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), f->leaf), 0);
	sk_X509_pop_free(sk, X509_free);

	/* PEM after human-readable text (openssl x509 -text output). */
	{
		BIO *b = BIO_new_file(text, "wb");

		assert_non_null(b);
		assert_int_equal(X509_print(b, f->leaf), 1);
		assert_int_equal(PEM_write_bio_X509(b, f->leaf), 1);
		BIO_free(b);
	}
	x = mtls_load_cert(text, &e);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, f->leaf), 0);
	X509_free(x);
}

static void
certs_load_bad(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	STACK_OF(X509) *sk = (STACK_OF(X509) *)1;
	static const struct {
		const char *file;
		const char *content;
		size_t len;
		enum mtls_errcode code;
	} cases[] = {
		{"empty", "", 0, MTLS_E_FORMAT},
		{"text", "hello, world\n", 13, MTLS_E_FORMAT},
		{"garbage-der", "\x30\x82\x01\x00\x01\x02", 6, MTLS_E_FORMAT},
		{"wrong-pem", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
		    42, MTLS_E_FORMAT},
		{"truncated", "-----BEGIN CERTIFICATE-----\nMIIB", 32,
		    MTLS_E_FORMAT},
		{NULL, NULL, 0, MTLS_E_IO}, /* missing file */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = test_path(f->dir,
		    cases[i].file ? cases[i].file : "does-not-exist");

		if (cases[i].file != NULL) {
			assert_int_equal(
			    test_write(p, cases[i].content, cases[i].len), 0);
		}
		mtls_err_clear(&e);
		sk = (STACK_OF(X509) *)1;
		assert_int_equal(mtls_load_certs(p, &sk, &e), -1);
		assert_null(sk);
		assert_int_equal(e.code, cases[i].code);
		assert_non_null(strstr(e.msg, p));
		mtls_err_clear(&e);
		assert_null(mtls_load_cert(p, &e));
		assert_int_equal(e.code, cases[i].code);
	}
	/* A key is not a certificate. */
	{
		char *pem = NULL;
		size_t len = 0;
		const char *p = test_path(f->dir, "a.key");

		assert_int_equal(mtls_key_to_pem(f->key, NULL, &pem, &len, &e), 0);
		assert_int_equal(test_write(p, pem, len), 0);
		mtls_secret_free(pem, len);
		mtls_err_clear(&e);
		assert_null(mtls_load_cert(p, &e));
		assert_int_equal(e.code, MTLS_E_FORMAT);
	}
}

/* Writes KEY to PATH in FORM; PASS encrypts where the form allows. */
static void
write_key(const char *path, EVP_PKEY *key, const char *form, const char *pass)
{
	BIO *b = BIO_new_file(path, "wb");
	const EVP_CIPHER *c = pass ? EVP_aes_256_cbc() : NULL;
	int plen = pass ? (int)strlen(pass) : 0;
	int ok = 0;

	assert_non_null(b);
	if (strcmp(form, "pkcs8-pem") == 0) {
		ok = PEM_write_bio_PKCS8PrivateKey(b, key, c, pass, plen, NULL,
		    NULL);
	} else if (strcmp(form, "pkcs8-der") == 0) {
		ok = i2d_PKCS8PrivateKey_bio(b, key, c, pass, plen, NULL, NULL);
	} else if (strcmp(form, "trad-pem") == 0) {
		ok = PEM_write_bio_PrivateKey_traditional(b, key, c,
		    (unsigned char *)pass, plen, NULL, NULL);
	} else if (strcmp(form, "trad-der") == 0) {
		ok = i2d_PrivateKey_bio(b, key);
	} else if (strcmp(form, "pkcs8-pem-3des") == 0) {
		/* PKCS#5 v1.5-style PBE, as older tools write it. */
		ok = PEM_write_bio_PKCS8PrivateKey_nid(b, key,
		    NID_pbe_WithSHA1And3_Key_TripleDES_CBC, pass, plen, NULL,
		    NULL);
	}
	assert_int_equal(ok, 1);
	BIO_free(b);
}

static void
keys_load_forms(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *form;
		int rsa;
		int encrypted;
		const char *marker; /* in the file, to prove the form */
	} cases[] = {
		{"pkcs8-pem", 0, 0, "BEGIN PRIVATE KEY"},
		{"pkcs8-pem", 0, 1, "BEGIN ENCRYPTED PRIVATE KEY"},
		{"pkcs8-pem-3des", 0, 1, "BEGIN ENCRYPTED PRIVATE KEY"},
		{"pkcs8-der", 0, 0, NULL},
		{"pkcs8-der", 0, 1, NULL},
		{"trad-pem", 0, 0, "BEGIN EC PRIVATE KEY"},
		{"trad-pem", 0, 1, "Proc-Type: 4,ENCRYPTED"},
		{"trad-pem", 1, 0, "BEGIN RSA PRIVATE KEY"},
		{"trad-pem", 1, 1, "DEK-Info: AES-256-CBC"},
		{"trad-der", 0, 0, NULL},
		{"trad-der", 1, 0, NULL},
		{"pkcs8-pem", 1, 1, "BEGIN ENCRYPTED PRIVATE KEY"},
	};
	struct mtls_err e;
	size_t i;

	setenv("MTLS_TEST_KEYPW", "right horse", 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *orig = cases[i].rsa ? f->rsa : f->key, *k;
		char name[64];
		const char *p;

		snprintf(name, sizeof(name), "key-%zu", i);
		p = test_path(f->dir, name);
		write_key(p, orig, cases[i].form,
		    cases[i].encrypted ? "right horse" : NULL);
		if (cases[i].marker != NULL) {
			size_t n = 0;
			unsigned char *d = test_read(p, &n);

			assert_non_null(strstr((char *)d, cases[i].marker));
			free(d);
		}
		/* The right password (or none needed). */
		mtls_err_clear(&e);
		k = mtls_load_key(p, "env:MTLS_TEST_KEYPW", &e);
		if (k == NULL) {
			fail_msg("%s (%s): %s", cases[i].form, name, e.msg);
		}
		assert_int_equal(EVP_PKEY_eq(k, orig), 1);
		EVP_PKEY_free(k);
		if (!cases[i].encrypted) {
			/* A plain key never consults the password source. */
			k = mtls_load_key(p, "env:MTLS_TEST_NO_SUCH_VAR", &e);
			assert_non_null(k);
			EVP_PKEY_free(k);
			k = mtls_load_key(p, NULL, &e);
			assert_non_null(k);
			EVP_PKEY_free(k);
			continue;
		}
		/* Wrong password: our sentence naming the file. */
		mtls_err_clear(&e);
		assert_null(mtls_load_key(p, "pass:wrong horse", &e));
		assert_int_equal(e.code, MTLS_E_PASSWORD);
		{
			char want[700];

			snprintf(want, sizeof(want), "wrong password for %s", p);
			assert_string_equal(e.msg, want);
		}
		/* No password source for an encrypted key (not a tty). */
		mtls_err_clear(&e);
		assert_null(mtls_load_key(p, NULL, &e));
		assert_int_equal(e.code, MTLS_E_PASSWORD);
		/* A password source that fails keeps its own reason. */
		mtls_err_clear(&e);
		assert_null(mtls_load_key(p, "env:MTLS_TEST_NO_SUCH_VAR", &e));
		assert_int_equal(e.code, MTLS_E_PASSWORD);
		assert_non_null(strstr(e.msg, "MTLS_TEST_NO_SUCH_VAR"));
	}
}

static void
keys_load_bad(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	const char *crt = test_path(f->dir, "not-a-key.crt");
	static const struct {
		const char *file;
		const char *content;
		size_t len;
		enum mtls_errcode code;
	} cases[] = {
		{"empty.key", "", 0, MTLS_E_FORMAT},
		{"text.key", "just words\n", 11, MTLS_E_FORMAT},
		{"der.key", "\x30\x03\x02\x01\x00", 5, MTLS_E_FORMAT},
		{"trunc.key", "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqG", 44,
		    MTLS_E_FORMAT},
		{NULL, NULL, 0, MTLS_E_IO},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = test_path(f->dir,
		    cases[i].file ? cases[i].file : "missing.key");

		if (cases[i].file != NULL) {
			assert_int_equal(
			    test_write(p, cases[i].content, cases[i].len), 0);
		}
		mtls_err_clear(&e);
		assert_null(mtls_load_key(p, "pass:x", &e));
		assert_int_equal(e.code, cases[i].code);
		assert_non_null(strstr(e.msg, p));
	}
	/* A certificate is not a key: a format error, not a password one. */
	test_write_certs(crt, f->leaf, NULL);
	mtls_err_clear(&e);
	assert_null(mtls_load_key(crt, "pass:x", &e));
	assert_int_equal(e.code, MTLS_E_FORMAT);
	assert_non_null(strstr(e.msg, "holds no private key"));
	/* From memory, with the given name in the message. */
	mtls_err_clear(&e);
	assert_null(mtls_parse_key((const unsigned char *)"nope", 4,
	    "memory-blob", NULL, &e));
	assert_int_equal(e.code, MTLS_E_FORMAT);
	assert_non_null(strstr(e.msg, "memory-blob"));
}

static void
key_to_pem_round_trip(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	char *pem = NULL;
	size_t len = 0;
	EVP_PKEY *k;

	/* Plain PKCS#8. */
	assert_int_equal(mtls_key_to_pem(f->key, NULL, &pem, &len, &e), 0);
	assert_int_equal(strlen(pem), len);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	k = mtls_parse_key((unsigned char *)pem, len, "mem", NULL, &e);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	EVP_PKEY_free(k);
	mtls_secret_free(pem, len);

	/* Encrypted: PBES2 with AES-256-CBC. */
	assert_int_equal(mtls_key_to_pem(f->key, "pw", &pem, &len, &e), 0);
	assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	{
		BIO *b = BIO_new_mem_buf(pem, (int)len);
		X509_SIG *sig = PEM_read_bio_PKCS8(b, NULL, NULL, NULL);
		const X509_ALGOR *alg = NULL;
		const ASN1_OBJECT *obj = NULL;
		const void *pval = NULL;
		PBE2PARAM *pbe2;
		int ptype;

		assert_non_null(sig);
		X509_SIG_get0(sig, &alg, NULL);
		X509_ALGOR_get0(&obj, &ptype, &pval, alg);
		assert_int_equal(OBJ_obj2nid(obj), NID_pbes2);
		pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
		    alg->parameter);
		assert_non_null(pbe2);
		assert_int_equal(OBJ_obj2nid(pbe2->encryption->algorithm),
		    NID_aes_256_cbc);
		assert_int_equal(OBJ_obj2nid(pbe2->keyfunc->algorithm),
		    NID_id_pbkdf2);
		PBE2PARAM_free(pbe2);
		X509_SIG_free(sig);
		BIO_free(b);
	}
	k = mtls_parse_key((unsigned char *)pem, len, "mem", "pass:pw", &e);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	EVP_PKEY_free(k);
	mtls_err_clear(&e);
	assert_null(mtls_parse_key((unsigned char *)pem, len, "mem", "pass:no",
	    &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_string_equal(e.msg, "wrong password for mem");
	mtls_secret_free(pem, len);
	mtls_secret_free(NULL, 0); /* NULL-safe */
}

static void
cert_pem_append(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	char *buf = NULL, *ref = NULL;
	size_t len = 0;
	BIO *b, *mem = BIO_new(BIO_s_mem());
	X509 *x;
	long rlen;

	assert_int_equal(mtls_cert_append_pem(f->leaf, &buf, &len, &e), 0);
	assert_int_equal(mtls_cert_append_pem(mtls_ca_cert(f->ca), &buf, &len,
	    &e), 0);
	assert_int_equal(strlen(buf), len);
	/* Byte for byte what OpenSSL's own PEM writer produces. */
	assert_int_equal(PEM_write_bio_X509(mem, f->leaf), 1);
	assert_int_equal(PEM_write_bio_X509(mem, mtls_ca_cert(f->ca)), 1);
	rlen = BIO_get_mem_data(mem, &ref);
	assert_int_equal((size_t)rlen, len);
	assert_memory_equal(ref, buf, len);
	BIO_free(mem);
	/* And it reads back. */
	b = BIO_new_mem_buf(buf, (int)len);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, f->leaf), 0);
	X509_free(x);
	BIO_free(b);
	OPENSSL_free(buf);
}

/* What `openssl x509 -noout OPTION` prints for PATH (first line). */
static void
openssl_says(const char *path, const char *option, char *out, size_t len)
{
	char cmd[900];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout %s", path,
	    option);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)len, p));
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void
fingerprint_and_serial(void **state)
{
	struct fx *f = *state;
	const char *p = test_path(f->dir, "fp.crt");
	char fp[EVP_MAX_MD_SIZE * 3 + 1], want[300], line[300];
	char *serial;
	static const struct {
		const char *opt;
		const char *label;
		int sha256;
	} cases[] = {
		{"-fingerprint -sha256", "sha256 Fingerprint=", 1},
		{"-fingerprint -sha1", "sha1 Fingerprint=", 0},
	};
	size_t i;

	test_write_certs(p, f->leaf, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const EVP_MD *md = cases[i].sha256 ? EVP_sha256() : EVP_sha1();

		assert_int_equal(mtls_cert_fingerprint(f->leaf, md, fp,
		    sizeof(fp)), 0);
		assert_int_equal(strlen(fp), EVP_MD_get_size(md) * 3 - 1);
		openssl_says(p, cases[i].opt, line, sizeof(line));
		snprintf(want, sizeof(want), "%s%s", cases[i].label, fp);
		assert_string_equal(line, want);
	}
	/* Exactly big enough works; one byte less fails cleanly. */
	assert_int_equal(mtls_cert_fingerprint(f->leaf, EVP_sha256(), fp, 96),
	    0);
	assert_int_equal(mtls_cert_fingerprint(f->leaf, EVP_sha256(), fp, 95),
	    -1);
	assert_string_equal(fp, "");

	serial = mtls_cert_serial_hex(f->leaf);
	assert_non_null(serial);
	openssl_says(p, "-serial", line, sizeof(line));
	snprintf(want, sizeof(want), "serial=%s", serial);
	assert_string_equal(line, want);
	OPENSSL_free(serial);
}

static void
key_cert_match(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	EVP_PKEY *other = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	EVP_PKEY *cakey;
	char kp[600];

	snprintf(kp, sizeof(kp), "%s/ca/ca.key", f->dir);
	cakey = mtls_load_key(kp, NULL, &e);

	assert_non_null(other);
	assert_non_null(cakey);
	assert_true(mtls_key_matches_cert(f->key, f->leaf));
	assert_false(mtls_key_matches_cert(other, f->leaf));
	assert_false(mtls_key_matches_cert(f->rsa, f->leaf));
	assert_true(mtls_key_matches_cert(cakey, mtls_ca_cert(f->ca)));
	assert_false(mtls_key_matches_cert(cakey, f->leaf));
	assert_int_equal(ERR_peek_error(), 0); /* queue left clean */
	EVP_PKEY_free(other);
	EVP_PKEY_free(cakey);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(certs_load_forms),
	    cmocka_unit_test(certs_load_bad),
	    cmocka_unit_test(keys_load_forms),
	    cmocka_unit_test(keys_load_bad),
	    cmocka_unit_test(key_to_pem_round_trip),
	    cmocka_unit_test(cert_pem_append),
	    cmocka_unit_test(fingerprint_and_serial),
	    cmocka_unit_test(key_cert_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
