/* ca.c: creating, replacing, opening and unlocking a CA directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <dirent.h>
#include <time.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <openssl/x509v3.h>

#include "test_pki.h"

static int
count_cb(const struct mtls_inv_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int
inv_rows(struct mtls_ca *ca)
{
	struct mtls_err e;
	int n = 0;

	assert_int_equal(mtls_ca_list(ca, NULL, count_cb, &n, &e), 0);
	return n;
}

/* The root's extensions, as RFC 5280 4.2.1.9 / 4.2.1.3 want them. */
static void
check_root(X509 *x, const char *subject, int days)
{
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints,
	    &crit, NULL);
	ASN1_BIT_STRING *ku;
	const ASN1_OCTET_STRING *ski;
	char *s;
	int d = 0, secs = 0;

	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_true(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 5)); /* keyCertSign */
	assert_true(ASN1_BIT_STRING_get_bit(ku, 6)); /* cRLSign */
	assert_false(ASN1_BIT_STRING_get_bit(ku, 2)); /* keyEncipherment */
	ASN1_BIT_STRING_free(ku);
	ski = X509_get0_subject_key_id(x);
	assert_non_null(ski);
	assert_int_equal(ASN1_STRING_length(ski), 20);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_check_issued(x, x), X509_V_OK);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	assert_int_equal(X509_check_ca(x), 1);
	s = mtls_name_format(X509_get_subject_name(x));
	assert_string_equal(s, subject);
	OPENSSL_free(s);
	assert_int_equal(ASN1_TIME_diff(&d, &secs, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)), 1);
	/* notBefore is back-dated 5 minutes for clock skew. */
	assert_int_equal(d, days);
	assert_int_equal(secs, 300);
}

static void
init_files_and_modes(void **state)
{
	static const struct {
		enum mtls_keytype kt;
		const char *dn;
		int days;
		int sig_nid;
	} cases[] = {
		{MTLS_KEY_EC_P256, NULL, 0, NID_ecdsa_with_SHA256},
		{MTLS_KEY_EC_P384, "CN=P384 Root,O=Example", 100,
		    NID_ecdsa_with_SHA384},
		{MTLS_KEY_ED25519, "/CN=Ed Root/O=Example", 30, NID_ED25519},
		{MTLS_KEY_RSA_2048, "CN=RSA Root", 365,
		    NID_sha256WithRSAEncryption},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tmp = test_tmpdir();
		const char *dir = test_path(tmp, "sub/pki");
		struct mtls_ca_init_opts o;
		struct mtls_err e;
		struct mtls_ca *ca;
		X509 *x;
		char want[100];

		memset(&o, 0, sizeof(o));
		o.dir = dir;
		o.name = cases[i].dn;
		o.key_type = cases[i].kt;
		o.days = cases[i].days;
		if (mtls_ca_init(&o, &e) != 0) {
			fail_msg("init %zu: %s", i, e.msg);
		}
		assert_int_equal(test_mode(dir), 0700);
		assert_int_equal(test_mode(test_path(dir, "ca.key")), 0600);
		assert_int_equal(test_mode(test_path(dir, "ca.crt")), 0644);
		assert_true(test_exists(test_path(dir, "ca.json")));
		assert_true(test_exists(test_path(dir, "inventory.db")));
		ca = mtls_ca_open(dir, &e);
		assert_non_null(ca);
		assert_string_equal(mtls_ca_dir(ca), dir);
		assert_null(mtls_ca_crl_url(ca));
		assert_null(mtls_ca_ocsp_url(ca));
		x = mtls_ca_cert(ca);
		snprintf(want, sizeof(want), "%s",
		    cases[i].dn == NULL ? "CN=mtls Root CA"
		    : i == 1 ? "CN=P384 Root, O=Example"
		    : i == 2 ? "CN=Ed Root, O=Example"
			     : "CN=RSA Root");
		check_root(x, want,
		    cases[i].days ? cases[i].days : MTLS_DEFAULT_CA_DAYS);
		assert_int_equal(X509_get_signature_nid(x), cases[i].sig_nid);
		assert_int_equal(mtls_ca_unlock(ca, NULL, &e), 0);
		assert_int_equal(inv_rows(ca), 0);
		mtls_ca_free(ca);
		test_rmrf(tmp);
		free(tmp);
	}
}

static void
init_encrypted_key(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca_init_opts o;
	struct mtls_err e;
	struct mtls_ca *ca;
	size_t n = 0;
	unsigned char *d;
	EVP_PKEY *k;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.dir = tmp;
	o.key_type = MTLS_KEY_EC_P256;
	o.pass_spec = "pass:ca secret";
	assert_int_equal(mtls_ca_init(&o, &e), 0);
	d = test_read(test_path(tmp, "ca.key"), &n);
	assert_non_null(strstr((char *)d, "BEGIN ENCRYPTED PRIVATE KEY"));
	free(d);
	ca = mtls_ca_open(tmp, &e);
	assert_non_null(ca);
	/* Signing before unlocking is a usage error, not a crash. */
	k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	{
		struct mtls_cert_request r;
		X509_NAME *subj = mtls_name_parse("CN=x", &e);

		memset(&r, 0, sizeof(r));
		r.name = "x";
		r.subject = subj;
		r.pubkey = k;
		mtls_err_clear(&e);
		assert_null(mtls_ca_sign(ca, &r, &e));
		assert_int_equal(e.code, MTLS_E_USAGE);
		X509_NAME_free(subj);
	}
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_unlock(ca, "pass:wrong", &e), -1);
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_non_null(strstr(e.msg, "wrong password for"));
	assert_non_null(strstr(e.msg, "ca.key"));
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), -1);
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_int_equal(mtls_ca_unlock(ca, "pass:ca secret", &e), 0);
	/* Unlocking twice is harmless. */
	assert_int_equal(mtls_ca_unlock(ca, "pass:anything", &e), 0);
	X509_free(test_sign(ca, "x", MTLS_PROFILE_CLIENT, NULL, k, 1, 0));
	EVP_PKEY_free(k);
	mtls_ca_free(ca);
	test_rmrf(tmp);
	free(tmp);
}

static int
count_aside(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "inventory.db.replaced-", 22) == 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

/* A kill during 'ca init' leaves files but no ca.crt (placed last) and an
 * empty inventory: the next init finishes the job without --force and
 * says so; open explains the state instead of "no CA". */
static void
init_interrupted_is_rerunnable(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca_init_opts o;
	struct mtls_err e;
	char note[256] = "";

	(void)state;
	memset(&o, 0, sizeof(o));
	o.dir = tmp;
	assert_int_equal(mtls_ca_init(&o, &e), 0);
	unlink(test_path(tmp, "ca.crt"));
	assert_int_equal(test_write(test_path(tmp, "ca.crt.tmp-AbC123"), "x", 1), 0);
	assert_int_equal(test_write(test_path(tmp, "lock"), "pid 1 (mtls ca)\n", 16), 0);
	mtls_err_clear(&e);
	assert_null(mtls_ca_open(tmp, &e));
	assert_non_null(strstr(e.msg, "interrupted"));
	o.note = note;
	o.note_len = sizeof(note);
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_init(&o, &e), 0);
	assert_non_null(strstr(note, "interrupted"));
	assert_true(test_exists(test_path(tmp, "ca.crt")));
	assert_false(test_exists(test_path(tmp, "ca.crt.tmp-AbC123")));
	assert_int_equal(count_aside(tmp), 0);
	test_rmrf(tmp);
	free(tmp);
}

static void
init_refuses_then_force(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca_init_opts o;
	struct mtls_err e;
	struct mtls_ca *ca;
	unsigned char *before, *after;
	size_t nb = 0, na = 0;
	EVP_PKEY *k;

	(void)state;
	ca = test_ca_new(tmp, MTLS_KEY_EC_P256, 0, "CN=First");
	k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	X509_free(test_sign(ca, "one", MTLS_PROFILE_CLIENT, NULL, k, 1, 0));
	X509_free(test_sign(ca, "two", MTLS_PROFILE_CLIENT, NULL, k, 1, 0));
	assert_int_equal(inv_rows(ca), 2);
	mtls_ca_free(ca);
	before = test_read(test_path(tmp, "ca.crt"), &nb);

	memset(&o, 0, sizeof(o));
	o.dir = tmp;
	o.name = "CN=Second";
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_init(&o, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_non_null(strstr(e.msg, "--force"));
	assert_non_null(strstr(e.msg, tmp));
	after = test_read(test_path(tmp, "ca.crt"), &na);
	assert_int_equal(na, nb);
	assert_memory_equal(before, after, nb); /* untouched */
	free(after);
	assert_int_equal(count_aside(tmp), 0);

	/* Only the key left beside an inventory with certificates: a CA
	 * whose certificate went missing, still refused (the key is never
	 * overwritten). */
	unlink(test_path(tmp, "ca.crt"));
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_init(&o, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_int_equal(test_write(test_path(tmp, "ca.crt"), before, nb), 0);

	o.force = 1;
	assert_int_equal(mtls_ca_init(&o, &e), 0);
	after = test_read(test_path(tmp, "ca.crt"), &na);
	assert_false(na == nb && memcmp(before, after, nb) == 0);
	free(after);
	assert_int_equal(test_mode(test_path(tmp, "ca.key")), 0600);
	/* The old inventory is kept aside, the new one is empty. */
	assert_int_equal(count_aside(tmp), 1);
	ca = mtls_ca_open(tmp, &e);
	assert_non_null(ca);
	assert_int_equal(inv_rows(ca), 0);
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), 0);
	{
		char *s = mtls_name_format(X509_get_subject_name(mtls_ca_cert(ca)));

		assert_string_equal(s, "CN=Second");
		OPENSSL_free(s);
	}
	mtls_ca_free(ca);
	{
		/* The rows of the old CA are still in the file set aside. */
		DIR *d = opendir(tmp);
		struct dirent *de;
		sqlite3 *db;
		sqlite3_stmt *st;
		char p[700] = "";

		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "inventory.db.replaced-", 22) == 0) {
				snprintf(p, sizeof(p), "%s/%s", tmp, de->d_name);
			}
		}
		closedir(d);
		assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY,
		    NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db,
		    "SELECT count(*) FROM certs", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 2);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(before);
	EVP_PKEY_free(k);
	test_rmrf(tmp);
	free(tmp);
}

static void
init_bad_options(void **state)
{
	static const struct {
		const char *name;
		const char *crl;
		const char *ocsp;
		enum mtls_errcode code;
		const char *in;
	} cases[] = {
		{"CN", NULL, NULL, MTLS_E_USAGE, "bad name"},
		{"XX=y", NULL, NULL, MTLS_E_USAGE, "bad name"},
		{NULL, "ftp://x/crl", NULL, MTLS_E_USAGE, "--crl-url"},
		{NULL, NULL, "ocsp.example", MTLS_E_USAGE, "--ocsp-url"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tmp = test_tmpdir();
		struct mtls_ca_init_opts o;
		struct mtls_err e;

		memset(&o, 0, sizeof(o));
		o.dir = test_path(tmp, "pki");
		o.name = cases[i].name;
		o.crl_url = cases[i].crl;
		o.ocsp_url = cases[i].ocsp;
		mtls_err_clear(&e);
		assert_int_equal(mtls_ca_init(&o, &e), -1);
		assert_int_equal(e.code, cases[i].code);
		assert_non_null(strstr(e.msg, cases[i].in));
		/* Nothing was written. */
		{
			char kp[700];

			snprintf(kp, sizeof(kp), "%s/pki/ca.key", tmp);
			assert_false(test_exists(kp));
		}
		test_rmrf(tmp);
		free(tmp);
	}
}

static void
init_with_urls(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca_init_opts o;
	struct mtls_err e;
	struct mtls_ca *ca;
	EVP_PKEY *k;
	X509 *x;
	STACK_OF(DIST_POINT) *dps;
	AUTHORITY_INFO_ACCESS *aia;
	ACCESS_DESCRIPTION *ad;
	GENERAL_NAME *gn;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.dir = tmp;
	o.crl_url = "http://ca.example/root.crl";
	o.ocsp_url = "https://ocsp.example/";
	assert_int_equal(mtls_ca_init(&o, &e), 0);
	ca = mtls_ca_open(tmp, &e);
	assert_non_null(ca);
	assert_string_equal(mtls_ca_crl_url(ca), o.crl_url);
	assert_string_equal(mtls_ca_ocsp_url(ca), o.ocsp_url);
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), 0);
	k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	x = test_sign(ca, "u", MTLS_PROFILE_SERVER, "dns:u.example", k, 5, 0);
	dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	assert_non_null(dps);
	gn = sk_GENERAL_NAME_value(sk_DIST_POINT_value(dps, 0)->distpoint->name.fullname, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_string_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
	    o.crl_url);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	assert_non_null(aia);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_OCSP);
	assert_string_equal(ASN1_STRING_get0_data(
	    ad->location->d.uniformResourceIdentifier), o.ocsp_url);
	AUTHORITY_INFO_ACCESS_free(aia);
	X509_free(x);
	EVP_PKEY_free(k);
	mtls_ca_free(ca);
	test_rmrf(tmp);
	free(tmp);
}

static void
open_and_unlock_failures(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_err e;
	struct mtls_ca *ca;

	(void)state;
	/* No CA at all. */
	mtls_err_clear(&e);
	assert_null(mtls_ca_open(test_path(tmp, "nothing-here"), &e));
	assert_int_equal(e.code, MTLS_E_NOTFOUND);
	assert_non_null(strstr(e.msg, "nothing-here"));
	assert_non_null(strstr(e.msg, "mtls ca init"));
	mtls_err_clear(&e);
	assert_null(mtls_ca_open(tmp, &e));
	assert_int_equal(e.code, MTLS_E_NOTFOUND);

	ca = test_ca_new(tmp, MTLS_KEY_EC_P256, 0, NULL);
	mtls_ca_free(ca);
	/* A broken ca.json. */
	{
		size_t n = 0;
		unsigned char *good = test_read(test_path(tmp, "ca.json"), &n);

		assert_int_equal(test_write(test_path(tmp, "ca.json"), "{oops", 5), 0);
		mtls_err_clear(&e);
		assert_null(mtls_ca_open(tmp, &e));
		assert_int_equal(e.code, MTLS_E_FORMAT);
		assert_non_null(strstr(e.msg, "ca.json"));
		assert_int_equal(test_write(test_path(tmp, "ca.json"), good, n), 0);
		free(good);
	}
	/* ca.crt that is not a certificate. */
	{
		size_t n = 0;
		unsigned char *good = test_read(test_path(tmp, "ca.crt"), &n);

		assert_int_equal(test_write(test_path(tmp, "ca.crt"), "x", 1), 0);
		mtls_err_clear(&e);
		assert_null(mtls_ca_open(tmp, &e));
		assert_int_equal(e.code, MTLS_E_FORMAT);
		assert_int_equal(test_write(test_path(tmp, "ca.crt"), good, n), 0);
		free(good);
	}
	/* ca.key of another CA: refused at unlock. */
	{
		EVP_PKEY *other = mtls_key_generate(MTLS_KEY_EC_P256, &e);
		char *pem = NULL;
		size_t len = 0;

		assert_int_equal(mtls_key_to_pem(other, NULL, &pem, &len, &e), 0);
		assert_int_equal(test_write(test_path(tmp, "ca.key"), pem, len), 0);
		mtls_secret_free(pem, len);
		EVP_PKEY_free(other);
		ca = mtls_ca_open(tmp, &e);
		assert_non_null(ca);
		mtls_err_clear(&e);
		assert_int_equal(mtls_ca_unlock(ca, NULL, &e), -1);
		assert_int_equal(e.code, MTLS_E_FORMAT);
		assert_non_null(strstr(e.msg, "does not belong"));
		mtls_ca_free(ca);
	}
	/* No key file at all. */
	unlink(test_path(tmp, "ca.key"));
	ca = mtls_ca_open(tmp, &e);
	assert_non_null(ca);
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), -1);
	assert_int_equal(e.code, MTLS_E_IO);
	mtls_ca_free(ca);
	mtls_ca_free(NULL);
	test_rmrf(tmp);
	free(tmp);
}

static void
profiles(void **state)
{
	static const struct {
		const char *name;
		enum mtls_profile p;
	} good[] = {
		{"server", MTLS_PROFILE_SERVER},
		{"client", MTLS_PROFILE_CLIENT},
		{"node", MTLS_PROFILE_NODE},
		{"ocsp", MTLS_PROFILE_OCSP},
	};
	static const char *bad[] = {"", "Server", "ca", "both", "client "};
	struct mtls_err e;
	enum mtls_profile p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(mtls_profile_parse(good[i].name, &p, &e), 0);
		assert_int_equal(p, good[i].p);
		assert_string_equal(mtls_profile_name(p), good[i].name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mtls_err_clear(&e);
		assert_int_equal(mtls_profile_parse(bad[i], &p, &e), -1);
		assert_int_equal(e.code, MTLS_E_USAGE);
		assert_non_null(strstr(e.msg, "server, client, node"));
	}
	assert_string_equal(mtls_profile_name((enum mtls_profile)77), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(init_files_and_modes),
	    cmocka_unit_test(init_encrypted_key),
	    cmocka_unit_test(init_refuses_then_force),
	    cmocka_unit_test(init_interrupted_is_rerunnable),
	    cmocka_unit_test(init_bad_options),
	    cmocka_unit_test(init_with_urls),
	    cmocka_unit_test(open_and_unlock_failures),
	    cmocka_unit_test(profiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
