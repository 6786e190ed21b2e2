/* doctor: each check against crafted files, good and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtls/diag.h"
#include "test_util.h"

static char *dir;
static EVP_PKEY *ca_key, *int_key;
static X509 *ca_cert, *int_cert;

struct spec {
	const char *cn;
	const char *eku;   /* "clientAuth", "serverAuth,clientAuth", NULL */
	const char *san;   /* "DNS:node1.example", NULL */
	long from_days;    /* notBefore offset from now */
	long to_days;      /* notAfter offset from now */
	int rsa_bits;      /* 0: EC P-256 */
	const EVP_MD *md;  /* NULL: SHA-256 */
	int is_ca;
};

static EVP_PKEY *
make_key(int rsa_bits)
{
	return rsa_bits ? EVP_RSA_gen((unsigned)rsa_bits) : EVP_EC_gen("P-256");
}

static void
add_ext(X509 *x, X509 *iss, int nid, const char *val)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, iss, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, val);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for KEY per S, issued by ISS/ISSKEY (self-signed when
 * ISS is NULL). */
static X509 *
make_cert(const struct spec *s, EVP_PKEY *key, X509 *iss, EVP_PKEY *isskey)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)s->cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) : n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), s->from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), s->to_days * 86400);
	X509_set_pubkey(x, key);
	if (s->is_ca) {
		add_ext(x, iss ? iss : x, NID_basic_constraints,
		    "critical,CA:TRUE");
		add_ext(x, iss ? iss : x, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, iss ? iss : x, NID_basic_constraints, "CA:FALSE");
	}
	if (s->eku != NULL) {
		add_ext(x, iss ? iss : x, NID_ext_key_usage, s->eku);
	}
	if (s->san != NULL) {
		add_ext(x, iss ? iss : x, NID_subject_alt_name, s->san);
	}
	assert_true(X509_sign(x, isskey ? isskey : key,
			s->md ? s->md : EVP_sha256()) > 0);
	return x;
}

static char *
path_in(const char *sub, const char *name)
{
	static char buf[8][700];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s/%s", dir, sub, name);
	return buf[i];
}

static void
write_cert(const char *sub, const char *name, X509 *x, X509 *chain)
{
	FILE *f = fopen(path_in(sub, name), "w");

	assert_non_null(f);
	PEM_write_X509(f, x);
	if (chain != NULL) {
		PEM_write_X509(f, chain);
	}
	fclose(f);
}

static void
write_key(const char *sub, const char *name, EVP_PKEY *k, mode_t mode)
{
	char *p = path_in(sub, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(p, mode);
}

/* A node directory "SUB" with NAME.crt/NAME.key made per S (issued by the
 * root, or by the intermediate when VIA_INT), plus ca.crt unless NO_CA. */
static void
make_node(const char *sub, const struct spec *s, int via_int, int no_ca)
{
	char d[600];
	EVP_PKEY *k = make_key(s->rsa_bits);
	X509 *x;

	snprintf(d, sizeof(d), "%s/%s", dir, sub);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_non_null(k);
	x = make_cert(s, k, via_int ? int_cert : ca_cert,
	    via_int ? int_key : ca_key);
	write_cert(sub, "node.crt", x, NULL);
	write_key(sub, "node.key", k, 0600);
	if (!no_ca) {
		write_cert(sub, "ca.crt", ca_cert, NULL);
	}
	X509_free(x);
	EVP_PKEY_free(k);
}

static struct mtls_report *
run(const char *sub, enum mtls_role role, const char *host)
{
	char d[600];
	const char *paths[1];
	struct mtls_doctor_opts o;
	struct mtls_err err;
	struct mtls_report *r;

	snprintf(d, sizeof(d), "%s/%s", dir, sub);
	paths[0] = d;
	memset(&o, 0, sizeof(o));
	o.paths = paths;
	o.npaths = 1;
	o.role = role;
	o.host = host;
	r = mtls_doctor(&o, &err);
	if (r == NULL) {
		fail_msg("doctor failed: %s", err.msg);
	}
	return r;
}

static const struct spec good = {"node1", "serverAuth,clientAuth",
    "DNS:node1.example,IP:127.0.0.1", -1, 365, 0, NULL, 0};

static int
setup(void **state)
{
	struct spec root = {"Test Root CA", NULL, NULL, -1, 3650, 0, NULL, 1};
	struct spec inter = {"Test Intermediate CA", NULL, NULL, -1, 3650, 0,
	    NULL, 1};

	(void)state;
	dir = test_tmpdir();
	ca_key = make_key(0);
	int_key = make_key(0);
	ca_cert = make_cert(&root, ca_key, NULL, NULL);
	int_cert = make_cert(&inter, int_key, ca_cert, ca_key);
	return dir == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_rmrf(dir);
	free(dir);
	X509_free(ca_cert);
	X509_free(int_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(int_key);
	return 0;
}

static void
expect(struct mtls_report *r, const char *key, enum mtls_severity sev)
{
	const struct mtls_finding *f = mtls_report_find(r, key, NULL);
	size_t i;

	if (f == NULL || f->sev != sev) {
		for (i = 0; i < mtls_report_count(r); i++) {
			print_message("  %s %s: %s\n",
			    mtls_severity_name(mtls_report_get(r, i)->sev),
			    mtls_report_get(r, i)->key,
			    mtls_report_get(r, i)->message);
		}
		fail_msg("expected finding %s (%s)", key, mtls_severity_name(sev));
	}
}

static void
absent(struct mtls_report *r, const char *key)
{
	if (mtls_report_find(r, key, NULL) != NULL) {
		fail_msg("unexpected finding %s: %s", key,
		    mtls_report_find(r, key, NULL)->message);
	}
}

static void
good_node_is_clean(void **state)
{
	struct mtls_report *r;

	(void)state;
	make_node("good", &good, 0, 0);
	r = run("good", MTLS_ROLE_NODE, "node1.example");
	expect(r, "key_matches", MTLS_SEV_OK);
	expect(r, "key_permissions", MTLS_SEV_OK);
	expect(r, "cert_valid", MTLS_SEV_OK);
	expect(r, "eku_role", MTLS_SEV_OK);
	expect(r, "san_host", MTLS_SEV_OK);
	expect(r, "chain_verified", MTLS_SEV_OK);
	assert_int_equal(mtls_report_worst(r), MTLS_SEV_OK);
	assert_int_equal(mtls_doctor_exit_status(r), 0);
	mtls_report_free(r);
}

static void
mismatched_key(void **state)
{
	struct mtls_report *r;
	EVP_PKEY *other = make_key(0);

	(void)state;
	make_node("mismatch", &good, 0, 0);
	write_key("mismatch", "node.key", other, 0600);
	r = run("mismatch", MTLS_ROLE_NODE, NULL);
	expect(r, "key_mismatch", MTLS_SEV_ERROR);
	absent(r, "key_matches");
	assert_int_equal(mtls_doctor_exit_status(r), 1);
	mtls_report_free(r);
	EVP_PKEY_free(other);
}

static void
world_readable_key(void **state)
{
	struct mtls_report *r;

	(void)state;
	make_node("perm", &good, 0, 0);
	chmod(path_in("perm", "node.key"), 0644);
	r = run("perm", MTLS_ROLE_NODE, NULL);
	expect(r, "key_permissions", MTLS_SEV_ERROR);
	mtls_report_free(r);
	chmod(path_in("perm", "node.key"), 0640);
	r = run("perm", MTLS_ROLE_NODE, NULL);
	expect(r, "key_permissions", MTLS_SEV_WARN);
	assert_int_equal(mtls_doctor_exit_status(r), 3);
	mtls_report_free(r);
}

static void
missing_issuer(void **state)
{
	struct mtls_report *r;
	EVP_PKEY *ok = make_key(0);
	struct spec other = {"Other Root", NULL, NULL, -1, 3650, 0, NULL, 1};
	X509 *o = make_cert(&other, ok, NULL, NULL);

	(void)state;
	make_node("noissuer", &good, 0, 1);
	write_cert("noissuer", "ca.crt", o, NULL); /* the wrong CA */
	r = run("noissuer", MTLS_ROLE_NODE, NULL);
	expect(r, "issuer_not_trusted", MTLS_SEV_ERROR);
	absent(r, "chain_verified");
	mtls_report_free(r);
	X509_free(o);
	EVP_PKEY_free(ok);
}

static void
no_truststore(void **state)
{
	struct mtls_report *r;

	(void)state;
	make_node("notrust", &good, 0, 1);
	r = run("notrust", MTLS_ROLE_NODE, NULL);
	expect(r, "no_truststore", MTLS_SEV_WARN);
	mtls_report_free(r);
}

static void
incomplete_chain(void **state)
{
	struct mtls_report *r;

	(void)state;
	make_node("incomplete", &good, 1, 0);
	/* The intermediate is in the directory, but not in the chain. */
	write_cert("incomplete", "intermediate.pem", int_cert, NULL);
	r = run("incomplete", MTLS_ROLE_NODE, NULL);
	expect(r, "chain_incomplete", MTLS_SEV_ERROR);
	mtls_report_free(r);
	unlink(path_in("incomplete", "intermediate.pem"));
	/* In the truststore it verifies, but peers would still fail. */
	write_cert("incomplete", "sub-ca.pem", int_cert, NULL);
	r = run("incomplete", MTLS_ROLE_NODE, NULL);
	expect(r, "chain_incomplete", MTLS_SEV_WARN);
	mtls_report_free(r);
	unlink(path_in("incomplete", "sub-ca.pem"));
	/* With NAME.chain.pem it is complete. */
	write_cert("incomplete", "node.chain.pem", int_cert, NULL);
	r = run("incomplete", MTLS_ROLE_NODE, NULL);
	expect(r, "chain_verified", MTLS_SEV_OK);
	absent(r, "chain_incomplete");
	mtls_report_free(r);
}

static void
expired_and_expiring(void **state)
{
	struct mtls_report *r;
	struct spec s = good;

	(void)state;
	s.from_days = -400;
	s.to_days = -35;
	make_node("expired", &s, 0, 0);
	r = run("expired", MTLS_ROLE_NODE, NULL);
	expect(r, "cert_expired", MTLS_SEV_ERROR);
	mtls_report_free(r);
	s.from_days = -300;
	s.to_days = 10;
	make_node("expiring", &s, 0, 0);
	r = run("expiring", MTLS_ROLE_NODE, NULL);
	expect(r, "cert_expiring", MTLS_SEV_WARN);
	assert_int_equal(mtls_doctor_exit_status(r), 3);
	mtls_report_free(r);
	s.from_days = 5;
	s.to_days = 300;
	make_node("future", &s, 0, 0);
	r = run("future", MTLS_ROLE_NODE, NULL);
	expect(r, "cert_not_yet_valid", MTLS_SEV_ERROR);
	mtls_report_free(r);
}

static void
wrong_eku(void **state)
{
	static const struct {
		const char *eku;
		enum mtls_role role;
		enum mtls_severity want;
	} rows[] = {
		{"serverAuth", MTLS_ROLE_CLIENT, MTLS_SEV_ERROR},
		{"serverAuth", MTLS_ROLE_SERVER, MTLS_SEV_OK},
		{"clientAuth", MTLS_ROLE_SERVER, MTLS_SEV_ERROR},
		{"clientAuth", MTLS_ROLE_NODE, MTLS_SEV_ERROR},
		{"clientAuth", MTLS_ROLE_CLIENT, MTLS_SEV_OK},
		{"serverAuth,clientAuth", MTLS_ROLE_NODE, MTLS_SEV_OK},
		{NULL, MTLS_ROLE_NODE, MTLS_SEV_OK}, /* no EKU: any use */
	};
	struct spec s = good;
	size_t i;
	char sub[32];

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mtls_report *r;

		s.eku = rows[i].eku;
		snprintf(sub, sizeof(sub), "eku%zu", i);
		make_node(sub, &s, 0, 0);
		r = run(sub, rows[i].role, NULL);
		expect(r, "eku_role", rows[i].want);
		mtls_report_free(r);
	}
}

static void
san_mismatch(void **state)
{
	static const struct {
		const char *host;
		const char *want;
		enum mtls_severity sev;
	} rows[] = {
		{"node1.example", "san_host", MTLS_SEV_OK},
		{"127.0.0.1", "san_host", MTLS_SEV_OK},
		{"node2.example", "san_mismatch", MTLS_SEV_ERROR},
		{"10.0.0.1", "san_mismatch", MTLS_SEV_ERROR},
	};
	size_t i;

	(void)state;
	make_node("san", &good, 0, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mtls_report *r = run("san", MTLS_ROLE_NODE, rows[i].host);

		expect(r, rows[i].want, rows[i].sev);
		mtls_report_free(r);
	}
}

static void
weak_algorithms(void **state)
{
	struct mtls_report *r;
	struct spec s = good;

	(void)state;
	s.md = EVP_sha1();
	make_node("sha1", &s, 0, 0);
	r = run("sha1", MTLS_ROLE_NODE, NULL);
	expect(r, "cert_weak_signature", MTLS_SEV_ERROR);
	mtls_report_free(r);
	s.md = NULL;
	s.rsa_bits = 1024;
	make_node("rsa1024", &s, 0, 0);
	r = run("rsa1024", MTLS_ROLE_NODE, NULL);
	expect(r, "cert_weak_key", MTLS_SEV_ERROR);
	absent(r, "cert_weak_signature");
	mtls_report_free(r);
	s.rsa_bits = 2048;
	make_node("rsa2048", &s, 0, 0);
	r = run("rsa2048", MTLS_ROLE_NODE, NULL);
	absent(r, "cert_weak_key");
	mtls_report_free(r);
}

static void
corrupted_and_orphans(void **state)
{
	struct mtls_report *r;
	EVP_PKEY *k = make_key(0);
	FILE *f;

	(void)state;
	make_node("junk", &good, 0, 0);
	f = fopen(path_in("junk", "broken.crt"), "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n", f);
	fclose(f);
	write_key("junk", "spare.key", k, 0600);
	r = run("junk", MTLS_ROLE_NODE, NULL);
	expect(r, "unreadable", MTLS_SEV_ERROR);
	expect(r, "orphan_key", MTLS_SEV_WARN);
	expect(r, "key_matches", MTLS_SEV_OK);
	mtls_report_free(r);
	EVP_PKEY_free(k);
}

static void
bad_inputs(void **state)
{
	struct mtls_doctor_opts o;
	struct mtls_err err;
	const char *missing[] = {"/nonexistent/mtls-doctor"};
	char empty[600];
	const char *paths[1];
	enum mtls_role role;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.paths = missing;
	o.npaths = 1;
	assert_null(mtls_doctor(&o, &err));
	assert_int_equal(err.code, MTLS_E_NOTFOUND);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	assert_int_equal(mkdir(empty, 0700), 0);
	paths[0] = empty;
	o.paths = paths;
	assert_null(mtls_doctor(&o, &err));
	assert_non_null(strstr(err.msg, "no certificate"));
	assert_int_equal(mtls_role_parse("node", &role, &err), 0);
	assert_int_equal(role, MTLS_ROLE_NODE);
	assert_int_equal(mtls_role_parse("peer", &role, &err), -1);
	assert_int_equal(err.code, MTLS_E_USAGE);
}

static void
json_has_findings(void **state)
{
	struct mtls_report *r;
	char *js;

	(void)state;
	make_node("json", &good, 0, 0);
	r = run("json", MTLS_ROLE_NODE, NULL);
	js = mtls_report_json(r);
	assert_non_null(js);
	assert_non_null(strstr(js, "\"findings\""));
	assert_non_null(strstr(js, "\"key_matches\""));
	assert_non_null(strstr(js, "\"worst\": \"ok\""));
	free(js);
	mtls_report_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_node_is_clean),
		cmocka_unit_test(mismatched_key),
		cmocka_unit_test(world_readable_key),
		cmocka_unit_test(missing_issuer),
		cmocka_unit_test(no_truststore),
		cmocka_unit_test(incomplete_chain),
		cmocka_unit_test(expired_and_expiring),
		cmocka_unit_test(wrong_eku),
		cmocka_unit_test(san_mismatch),
		cmocka_unit_test(weak_algorithms),
		cmocka_unit_test(corrupted_and_orphans),
		cmocka_unit_test(bad_inputs),
		cmocka_unit_test(json_has_findings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
