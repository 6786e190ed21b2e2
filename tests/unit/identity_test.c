/* identity.c: key + certificate + files for one name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pkcs12.h>

#include "mtls/file.h"
#include "test_pki.h"

struct fx {
	char *dir;
	char *out;
	struct mtls_ca *ca;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = test_tmpdir();
	f->ca = test_ca_new(test_path(f->dir, "ca"), MTLS_KEY_EC_P256, 0,
	    "CN=Identity CA");
	f->out = strdup(test_path(f->dir, "out"));
	assert_int_equal(mkdir(f->out, 0755), 0);
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
	free(f->out);
	free(f);
	return 0;
}

static const char *
outfile(struct fx *f, const char *name, const char *ext)
{
	char n[300];

	snprintf(n, sizeof(n), "%s%s", name, ext);
	return test_path(f->out, n);
}

/* Issues inside a batch, as `mtls issue` does; commits both on success. */
static X509 *
issue(struct fx *f, const struct mtls_identity_opts *o, int force,
    struct mtls_err *e)
{
	struct mtls_fileset *fs = mtls_fileset_new(force, e);
	X509 *x;

	assert_non_null(fs);
	assert_int_equal(mtls_ca_begin(f->ca, e), 0);
	x = mtls_identity_issue(f->ca, o, fs, e);
	if (x == NULL) {
		mtls_ca_rollback(f->ca);
		mtls_fileset_free(fs);
		return NULL;
	}
	/* Staged, not yet visible. */
	assert_int_equal(mtls_fileset_count(fs), o->p12 ? 4 : 3);
	assert_false(test_exists(outfile(f, o->name, ".crt")) && !force);
	assert_int_equal(mtls_ca_commit(f->ca, e), 0);
	assert_int_equal(mtls_fileset_commit(fs, e), 0);
	mtls_fileset_free(fs);
	return x;
}

static void
issue_files(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		enum mtls_profile p;
		const char *subject;
		const char *sans;
		const char *want_subject;
		const char *want_sans;
		const char *key_pass;
		int p12;
		int legacy;
		enum mtls_keytype kt;
	} cases[] = {
		{"web", MTLS_PROFILE_SERVER, NULL, NULL, "CN=web", "dns:web", NULL,
		    0, 0, MTLS_KEY_EC_P256},
		{"api.example.com", MTLS_PROFILE_NODE, NULL,
		    "dns:api.example.com,ip:10.0.0.1", "CN=api.example.com",
		    "dns:api.example.com,ip:10.0.0.1", NULL, 1, 0,
		    MTLS_KEY_EC_P384},
		{"laptop", MTLS_PROFILE_CLIENT, "CN=Laptop 7,O=Example", NULL,
		    "CN=Laptop 7, O=Example", "", "key secret", 1, 1,
		    MTLS_KEY_ED25519},
		{"rsa_client", MTLS_PROFILE_CLIENT, NULL, NULL, "CN=rsa_client",
		    "", NULL, 0, 0, MTLS_KEY_RSA_2048},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtls_identity_opts o;
		struct mtls_err e;
		X509 *x;
		EVP_PKEY *k;
		STACK_OF(X509) *chain = NULL;
		char *s;
		GENERAL_NAMES *g;

		memset(&o, 0, sizeof(o));
		o.name = cases[i].name;
		o.profile = cases[i].p;
		o.subject = cases[i].subject;
		o.sans = cases[i].sans;
		o.key_type = cases[i].kt;
		o.out_dir = f->out;
		o.key_pass = cases[i].key_pass;
		o.p12 = cases[i].p12;
		o.p12_legacy = cases[i].legacy;
		o.p12_pass = "p12 secret";
		x = issue(f, &o, 0, &e);
		if (x == NULL) {
			fail_msg("%s: %s", cases[i].name, e.msg);
		}
		assert_int_equal(test_mode(outfile(f, o.name, ".key")), 0600);
		assert_int_equal(test_mode(outfile(f, o.name, ".crt")), 0644);
		assert_int_equal(test_mode(outfile(f, o.name, ".chain.pem")),
		    0644);
		if (o.p12) {
			assert_int_equal(test_mode(outfile(f, o.name, ".p12")),
			    0600);
		} else {
			assert_false(test_exists(outfile(f, o.name, ".p12")));
		}
		s = mtls_name_format(X509_get_subject_name(x));
		assert_string_equal(s, cases[i].want_subject);
		OPENSSL_free(s);
		g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		s = mtls_san_format(g);
		assert_string_equal(s, cases[i].want_sans);
		free(s);
		GENERAL_NAMES_free(g);

		/* NAME.crt is the certificate; NAME.chain.pem is leaf + CA. */
		{
			X509 *c = mtls_load_cert(outfile(f, o.name, ".crt"), &e);

			assert_non_null(c);
			assert_int_equal(X509_cmp(c, x), 0);
			X509_free(c);
		}
		assert_int_equal(mtls_load_certs(outfile(f, o.name,
		    ".chain.pem"), &chain, &e), 0);
		assert_int_equal(sk_X509_num(chain), 2);
		assert_int_equal(X509_cmp(sk_X509_value(chain, 0), x), 0);
		assert_int_equal(X509_cmp(sk_X509_value(chain, 1),
		    mtls_ca_cert(f->ca)), 0);
		sk_X509_pop_free(chain, X509_free);

		/* NAME.key is the certificate's key, encrypted when asked. */
		{
			char spec[64];

			snprintf(spec, sizeof(spec), "pass:%s",
			    cases[i].key_pass ? cases[i].key_pass : "");
			k = mtls_load_key(outfile(f, o.name, ".key"),
			    cases[i].key_pass ? spec : NULL, &e);
			assert_non_null(k);
			assert_true(mtls_key_matches_cert(k, x));
			if (cases[i].key_pass != NULL) {
				mtls_err_clear(&e);
				assert_null(mtls_load_key(outfile(f, o.name,
				    ".key"), "pass:nope", &e));
				assert_int_equal(e.code, MTLS_E_PASSWORD);
			}
		}
		{
			char d[80];

			mtls_key_describe(k, d, sizeof(d));
			assert_string_equal(d,
			    cases[i].kt == MTLS_KEY_EC_P256   ? "EC P-256"
			    : cases[i].kt == MTLS_KEY_EC_P384 ? "EC P-384"
			    : cases[i].kt == MTLS_KEY_ED25519 ? "Ed25519"
							      : "RSA 2048");
		}
		/* NAME.p12 opens with its password to the same key and cert. */
		if (o.p12) {
			size_t n = 0;
			unsigned char *d = test_read(outfile(f, o.name, ".p12"),
			    &n);
			const unsigned char *p = d;
			PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)n);
			EVP_PKEY *pk = NULL;
			X509 *pc = NULL;
			STACK_OF(X509) *ca = NULL;

			assert_non_null(p12);
			assert_int_equal(PKCS12_parse(p12, "p12 secret", &pk, &pc,
			    &ca), 1);
			assert_int_equal(EVP_PKEY_eq(pk, k), 1);
			assert_int_equal(X509_cmp(pc, x), 0);
			assert_int_equal(sk_X509_num(ca), 1);
			EVP_PKEY_free(pk);
			X509_free(pc);
			sk_X509_pop_free(ca, X509_free);
			PKCS12_free(p12);
			free(d);
		}
		EVP_PKEY_free(k);
		assert_int_equal(test_inventory_rows(f->ca, o.name), 1);
		X509_free(x);
	}
}

static void
issue_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		enum mtls_profile p;
		const char *subject;
		const char *sans;
		enum mtls_errcode code;
		const char *in;
	} cases[] = {
		{"", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE, "bad name"},
		{"a/b", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE, "'/'"},
		{"../up", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE, "'/'"},
		{"..", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE, "bad name"},
		{".", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE, "bad name"},
		{"tab\there", MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE,
		    "control"},
		/* A server needs a SAN; NAME is not a DNS name. */
		{"my_server", MTLS_PROFILE_SERVER, NULL, NULL, MTLS_E_USAGE,
		    "--san"},
		{"node one", MTLS_PROFILE_NODE, NULL, NULL, MTLS_E_USAGE,
		    "--san"},
		{"bad-san", MTLS_PROFILE_SERVER, NULL, "dns:-x.example",
		    MTLS_E_USAGE, "bad SAN"},
		{"bad-subject", MTLS_PROFILE_CLIENT, "CN", NULL, MTLS_E_USAGE,
		    "bad name"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaa",
		    MTLS_PROFILE_CLIENT, NULL, NULL, MTLS_E_USAGE,
		    "common name"},
	};
	size_t i;
	int before = test_inventory_rows(f->ca, NULL);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtls_identity_opts o;
		struct mtls_err e;

		memset(&o, 0, sizeof(o));
		o.name = cases[i].name;
		o.profile = cases[i].p;
		o.subject = cases[i].subject;
		o.sans = cases[i].sans;
		o.out_dir = f->out;
		mtls_err_clear(&e);
		if (issue(f, &o, 0, &e) != NULL) {
			fail_msg("'%s' was issued", cases[i].name);
		}
		assert_int_equal(e.code, cases[i].code);
		if (strstr(e.msg, cases[i].in) == NULL) {
			fail_msg("'%s': '%s' lacks '%s'", cases[i].name, e.msg,
			    cases[i].in);
		}
	}
	assert_int_equal(test_inventory_rows(f->ca, NULL), before);
	/* NULL name. */
	{
		struct mtls_identity_opts o;
		struct mtls_fileset *fs;
		struct mtls_err e;

		memset(&o, 0, sizeof(o));
		fs = mtls_fileset_new(0, &e);
		mtls_err_clear(&e);
		assert_null(mtls_identity_issue(f->ca, &o, fs, &e));
		assert_int_equal(e.code, MTLS_E_USAGE);
		mtls_fileset_free(fs);
	}
}

static void
issue_existing_files(void **state)
{
	struct fx *f = *state;
	struct mtls_identity_opts o;
	struct mtls_err e;
	unsigned char *before, *after;
	size_t nb = 0, na = 0;
	X509 *x;
	int n;

	memset(&o, 0, sizeof(o));
	o.name = "again";
	o.profile = MTLS_PROFILE_CLIENT;
	o.out_dir = f->out;
	x = issue(f, &o, 0, &e);
	assert_non_null(x);
	X509_free(x);
	before = test_read(outfile(f, "again", ".key"), &nb);
	n = test_inventory_rows(f->ca, "again");
	/* Without force: refused, old files kept, nothing recorded. */
	mtls_err_clear(&e);
	assert_null(issue(f, &o, 0, &e));
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_non_null(strstr(e.msg, "again.key"));
	after = test_read(outfile(f, "again", ".key"), &na);
	assert_int_equal(na, nb);
	assert_memory_equal(before, after, nb);
	free(after);
	assert_int_equal(test_inventory_rows(f->ca, "again"), n);
	/* With force: replaced. */
	x = issue(f, &o, 1, &e);
	assert_non_null(x);
	after = test_read(outfile(f, "again", ".key"), &na);
	assert_false(na == nb && memcmp(before, after, nb) == 0);
	assert_int_equal(test_mode(outfile(f, "again", ".key")), 0600);
	{
		EVP_PKEY *k = mtls_load_key(outfile(f, "again", ".key"), NULL, &e);

		assert_true(mtls_key_matches_cert(k, x));
		EVP_PKEY_free(k);
	}
	assert_int_equal(test_inventory_rows(f->ca, "again"), n + 1);
	free(after);
	free(before);
	X509_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(issue_files),
	    cmocka_unit_test(issue_refused),
	    cmocka_unit_test(issue_existing_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
