/* verify.c: chain validation with explained failures, including CRLs
 * built here with OpenSSL's X509_CRL API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "mtls/explain.h"
#include "mtls/inspect.h"
#include "mtls/revocation.h"
#include "test_pki.h"

struct fx {
	char *dir;
	struct mtls_ca *ca;
	struct mtls_ca *foreign;
	EVP_PKEY *key;
	EVP_PKEY *cakey;
	X509 *server;   /* dns:srv.example, ip:10.0.0.9 */
	X509 *client;
	X509 *node;     /* dns:*.nodes.example */
	X509 *stranger; /* issued by the foreign CA */
	X509 *future;   /* valid from tomorrow */
	char ca_file[600];
	char foreign_file[600];
	char both_file[600];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	f->ca = test_ca_new(test_path(f->dir, "ca"), MTLS_KEY_EC_P256, 0,
	    "CN=Verify CA");
	f->foreign = test_ca_new(test_path(f->dir, "foreign"), MTLS_KEY_EC_P256,
	    0, "CN=Foreign CA");
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	f->server = test_sign(f->ca, "srv", MTLS_PROFILE_SERVER,
	    "dns:srv.example,ip:10.0.0.9", f->key, 30, 0);
	f->client = test_sign(f->ca, "cli", MTLS_PROFILE_CLIENT, NULL, f->key,
	    30, 0);
	f->node = test_sign(f->ca, "node", MTLS_PROFILE_NODE,
	    "dns:*.nodes.example", f->key, 30, 0);
	f->future = test_sign(f->ca, "future", MTLS_PROFILE_SERVER,
	    "dns:future.example", f->key, 30, time(NULL) + 86400);
	f->stranger = test_sign(f->foreign, "stranger", MTLS_PROFILE_SERVER,
	    "dns:srv.example", f->key, 30, 0);
	snprintf(f->ca_file, sizeof(f->ca_file), "%s/ca/ca.crt", f->dir);
	snprintf(f->foreign_file, sizeof(f->foreign_file), "%s/foreign/ca.crt",
	    f->dir);
	snprintf(f->both_file, sizeof(f->both_file), "%s/both.pem", f->dir);
	test_write_certs(f->both_file, mtls_ca_cert(f->foreign),
	    mtls_ca_cert(f->ca));
	{
		char kp[700];

		snprintf(kp, sizeof(kp), "%s/ca/ca.key", f->dir);
		f->cakey = mtls_load_key(kp, NULL, &e);
		assert_non_null(f->cakey);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	X509_free(f->server);
	X509_free(f->client);
	X509_free(f->node);
	X509_free(f->stranger);
	X509_free(f->future);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->cakey);
	mtls_ca_free(f->ca);
	mtls_ca_free(f->foreign);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static time_t
tt(const ASN1_TIME *t, long delta)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm) + delta;
}

enum which { SERVER, CLIENT, NODE, STRANGER, FOREIGN_ROOT, FUTURE };

static X509 *
pick(struct fx *f, enum which w)
{
	switch (w) {
	case SERVER: return f->server;
	case CLIENT: return f->client;
	case NODE: return f->node;
	case STRANGER: return f->stranger;
	case FOREIGN_ROOT: return mtls_ca_cert(f->foreign);
	case FUTURE: return f->future;
	default: fail(); return NULL;
	}
}

static void
verify_table(void **state)
{
	struct fx *f = *state;
	enum { CA, FOREIGN, BOTH };
	const struct {
		const char *what;
		enum which cert;
		int anchors;
		enum mtls_purpose purpose;
		const char *host;
		long at_nb; /* seconds after notBefore; 0: now */
		long at_na; /* seconds after notAfter; 0: unused */
		long code;
		const char *in; /* in the message */
	} cases[] = {
		{"server ok", SERVER, CA, MTLS_PURPOSE_SERVER, "srv.example", 0, 0,
		    X509_V_OK, NULL},
		{"server by IP", SERVER, CA, MTLS_PURPOSE_SERVER, "10.0.0.9", 0, 0,
		    X509_V_OK, NULL},
		{"client ok", CLIENT, CA, MTLS_PURPOSE_CLIENT, NULL, 0, 0,
		    X509_V_OK, NULL},
		{"any purpose", CLIENT, CA, MTLS_PURPOSE_ANY, NULL, 0, 0,
		    X509_V_OK, NULL},
		{"node as server", NODE, CA, MTLS_PURPOSE_SERVER,
		    "a.nodes.example", 0, 0, X509_V_OK, NULL},
		{"node as client", NODE, CA, MTLS_PURPOSE_CLIENT, NULL, 0, 0,
		    X509_V_OK, NULL},
		{"two anchors", SERVER, BOTH, MTLS_PURPOSE_SERVER, NULL, 0, 0,
		    X509_V_OK, NULL},
		{"at start of validity", SERVER, CA, MTLS_PURPOSE_ANY, NULL, 1, 0,
		    X509_V_OK, NULL},
		{"expired", SERVER, CA, MTLS_PURPOSE_ANY, NULL, 0, 86400,
		    X509_V_ERR_CERT_HAS_EXPIRED, "expired on"},
		{"not yet valid", FUTURE, CA, MTLS_PURPOSE_ANY, NULL, 0, 0,
		    X509_V_ERR_CERT_NOT_YET_VALID, "is not valid before"},
		{"valid tomorrow", FUTURE, CA, MTLS_PURPOSE_SERVER,
		    "future.example", 60, 0, X509_V_OK, NULL},
		{"client as server", CLIENT, CA, MTLS_PURPOSE_SERVER, NULL, 0, 0,
		    X509_V_ERR_INVALID_PURPOSE, "it is not a server certificate: "
		    "its extended key usage does not include serverAuth"},
		{"server as client", SERVER, CA, MTLS_PURPOSE_CLIENT, NULL, 0, 0,
		    X509_V_ERR_INVALID_PURPOSE, "it is not a client certificate: "
		    "its extended key usage does not include clientAuth"},
		{"host mismatch", SERVER, CA, MTLS_PURPOSE_SERVER, "other.example",
		    0, 0, X509_V_ERR_HOSTNAME_MISMATCH, "name mismatch"},
		{"IP mismatch", SERVER, CA, MTLS_PURPOSE_SERVER, "10.0.0.10", 0, 0,
		    X509_V_ERR_IP_ADDRESS_MISMATCH, "IP address"},
		{"wildcard one label only", NODE, CA, MTLS_PURPOSE_SERVER,
		    "a.b.nodes.example", 0, 0, X509_V_ERR_HOSTNAME_MISMATCH,
		    "name mismatch"},
		{"SAN present: CN not used", SERVER, CA, MTLS_PURPOSE_ANY, "srv",
		    0, 0, X509_V_ERR_HOSTNAME_MISMATCH, "name mismatch"},
		{"unknown issuer", STRANGER, CA, MTLS_PURPOSE_SERVER, NULL, 0, 0,
		    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown issuer"},
		{"ours under a foreign anchor", SERVER, FOREIGN,
		    MTLS_PURPOSE_SERVER, NULL, 0, 0,
		    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown issuer"},
		{"self-signed", FOREIGN_ROOT, CA, MTLS_PURPOSE_ANY, NULL, 0, 0,
		    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x = pick(f, cases[i].cert);
		struct mtls_verify_opts o;
		struct mtls_err e;
		long code = -1;
		int rc;

		memset(&o, 0, sizeof(o));
		o.ca_file = cases[i].anchors == CA ? f->ca_file
		    : cases[i].anchors == FOREIGN ? f->foreign_file
						  : f->both_file;
		o.purpose = cases[i].purpose;
		o.host = cases[i].host;
		if (cases[i].at_nb != 0) {
			o.at = tt(X509_get0_notBefore(x), cases[i].at_nb);
		} else if (cases[i].at_na != 0) {
			o.at = tt(X509_get0_notAfter(x), cases[i].at_na);
		}
		mtls_err_clear(&e);
		rc = mtls_verify_cert(x, NULL, &o, &code, &e);
		if (cases[i].code == X509_V_OK) {
			if (rc != 0) {
				fail_msg("%s: %s", cases[i].what, e.msg);
			}
			assert_int_equal(code, X509_V_OK);
			continue;
		}
		if (rc == 0) {
			fail_msg("%s: verified", cases[i].what);
		}
		assert_int_equal(e.code, MTLS_E_VERIFY);
		if (code != cases[i].code) {
			fail_msg("%s: code %ld (%s), want %ld", cases[i].what, code,
			    e.msg, cases[i].code);
		}
		if (strstr(e.msg, cases[i].in) == NULL) {
			fail_msg("%s: '%s' lacks '%s'", cases[i].what, e.msg,
			    cases[i].in);
		}
		/* The message names the certificate. */
		{
			char *s = mtls_name_format(X509_get_subject_name(x));

			if (strstr(e.msg, s) == NULL) {
				fail_msg("%s: '%s' does not name %s", cases[i].what,
				    e.msg, s);
			}
			OPENSSL_free(s);
		}
		assert_int_equal(ERR_peek_error(), 0);
	}
}

static void
verify_expired_sentence(void **state)
{
	struct fx *f = *state;
	struct mtls_verify_opts o;
	struct mtls_err e;
	char when[64], want[200];

	memset(&o, 0, sizeof(o));
	o.ca_file = f->ca_file;
	o.at = tt(X509_get0_notAfter(f->server), 3600);
	assert_int_equal(mtls_verify_cert(f->server, NULL, &o, NULL, &e), -1);
	mtls_time_format(X509_get0_notAfter(f->server), when, sizeof(when));
	snprintf(want, sizeof(want), "expired on %s", when);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "CN=srv"));
	/* The fix follows the reason. */
	assert_non_null(strstr(e.msg, "; renew"));
}

static void
verify_trust_file_errors(void **state)
{
	struct fx *f = *state;
	struct mtls_verify_opts o;
	struct mtls_err e;
	const char *junk = test_path(f->dir, "junk.pem");
	static const struct {
		const char *file;
		enum mtls_errcode code;
	} cases[] = {
		{"missing.pem", MTLS_E_IO},
		{"junk.pem", MTLS_E_FORMAT},
	};
	size_t i;

	assert_int_equal(test_write(junk, "not a cert\n", 11), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long code = 99;

		memset(&o, 0, sizeof(o));
		o.ca_file = test_path(f->dir, cases[i].file);
		mtls_err_clear(&e);
		assert_int_equal(mtls_verify_cert(f->server, NULL, &o, &code, &e),
		    -1);
		assert_int_equal(e.code, cases[i].code);
		assert_non_null(strstr(e.msg, cases[i].file));
		assert_int_equal(code, X509_V_OK); /* no verification ran */
	}
}

/* A CRL by KEY for ISSUER revoking the given serials (NULL-terminated),
 * valid from LAST to NEXT (seconds relative to now). */
static X509_CRL *
make_crl(X509 *issuer, EVP_PKEY *key, X509 **revoked, long last, long next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	time_t now = time(NULL);
	size_t i;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(issuer)), 1);
	assert_non_null(ASN1_TIME_set(t, now + last));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_non_null(ASN1_TIME_set(t, now + next));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	for (i = 0; revoked != NULL && revoked[i] != NULL; i++) {
		X509_REVOKED *rv = X509_REVOKED_new();

		assert_non_null(ASN1_TIME_set(t, now - 60));
		assert_int_equal(X509_REVOKED_set_serialNumber(rv,
		    (ASN1_INTEGER *)X509_get0_serialNumber(revoked[i])), 1);
		assert_int_equal(X509_REVOKED_set_revocationDate(rv, t), 1);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	ASN1_TIME_free(t);
	return crl;
}

static void
write_crl(const char *path, X509_CRL *crl, int der)
{
	BIO *b = BIO_new_file(path, "wb");

	assert_non_null(b);
	if (der) {
		assert_int_equal(i2d_X509_CRL_bio(b, crl), 1);
	} else {
		assert_int_equal(PEM_write_bio_X509_CRL(b, crl), 1);
	}
	BIO_free(b);
}

static void
verify_crl(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	EVP_PKEY *wrong = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	X509 *rev[] = {f->server, NULL};
	const struct {
		const char *what;
		X509 *cert;
		EVP_PKEY *signer;
		long last, next;
		int der;
		long code;
		const char *in;
	} cases[] = {
		{"revoked (PEM CRL)", f->server, f->cakey, -3600, 86400, 0,
		    X509_V_ERR_CERT_REVOKED, "revoked"},
		{"revoked (DER CRL)", f->server, f->cakey, -3600, 86400, 1,
		    X509_V_ERR_CERT_REVOKED, "revoked"},
		{"not on the CRL", f->client, f->cakey, -3600, 86400, 0,
		    X509_V_OK, NULL},
		{"CRL expired", f->client, f->cakey, -7200, -3600, 0,
		    X509_V_ERR_CRL_HAS_EXPIRED, "CRL"},
		{"CRL not yet valid", f->client, f->cakey, 3600, 7200, 0,
		    X509_V_ERR_CRL_NOT_YET_VALID, "CRL"},
		{"CRL forged", f->client, wrong, -3600, 86400, 0,
		    X509_V_ERR_CRL_SIGNATURE_FAILURE, "CRL"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_CRL *crl = make_crl(mtls_ca_cert(f->ca), cases[i].signer,
		    rev, cases[i].last, cases[i].next);
		const char *path = test_path(f->dir, "ca.crl");
		struct mtls_verify_opts o;
		long code = -1;
		int rc;

		write_crl(path, crl, cases[i].der);
		X509_CRL_free(crl);
		memset(&o, 0, sizeof(o));
		o.ca_file = f->ca_file;
		o.crl_file = path;
		mtls_err_clear(&e);
		rc = mtls_verify_cert(cases[i].cert, NULL, &o, &code, &e);
		if (cases[i].code == X509_V_OK) {
			if (rc != 0) {
				fail_msg("%s: %s", cases[i].what, e.msg);
			}
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(e.code, MTLS_E_VERIFY);
		if (code != cases[i].code) {
			fail_msg("%s: code %ld (%s), want %ld", cases[i].what, code,
			    e.msg, cases[i].code);
		}
		assert_non_null(strstr(e.msg, cases[i].in));
	}
	/* The same certificate verifies without the CRL. */
	{
		struct mtls_verify_opts o;

		memset(&o, 0, sizeof(o));
		o.ca_file = f->ca_file;
		assert_int_equal(mtls_verify_cert(f->server, NULL, &o, NULL, &e),
		    0);
	}
	/* A CRL file that holds no CRL. */
	{
		struct mtls_verify_opts o;

		memset(&o, 0, sizeof(o));
		o.ca_file = f->ca_file;
		o.crl_file = f->ca_file; /* a certificate */
		mtls_err_clear(&e);
		assert_int_equal(mtls_verify_cert(f->server, NULL, &o, NULL, &e),
		    -1);
		assert_int_equal(e.code, MTLS_E_FORMAT);
		assert_non_null(strstr(e.msg, "no CRL"));
		o.crl_file = test_path(f->dir, "no-such.crl");
		mtls_err_clear(&e);
		assert_int_equal(mtls_verify_cert(f->server, NULL, &o, NULL, &e),
		    -1);
		assert_int_equal(e.code, MTLS_E_IO);
	}
	EVP_PKEY_free(wrong);
}

/* opts->revocation runs the shared walk on the chain verify built: with
 * --ocsp semantics and a responder that cannot answer (port 1), the
 * verdict is a refusal naming the certificate, fail-closed; without it
 * the same chain passes and nothing is asked. */
static void
verify_ocsp_walk(void **state)
{
	struct fx *f = *state;
	struct mtls_revocation_opts r;
	struct mtls_verify_opts o;
	struct mtls_err e;
	long code = 0;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	o.ca_file = f->ca_file;
	o.purpose = MTLS_PURPOSE_CLIENT;
	assert_int_equal(mtls_verify_cert(f->client, NULL, &o, &code, &e), 0);
	r.ocsp = 1;
	r.ocsp_url = "http://127.0.0.1:1/";
	r.ocsp_timeout_ms = 2000;
	o.revocation = &r;
	assert_int_equal(mtls_verify_cert(f->client, NULL, &o, &code, &e), -1);
	assert_int_equal(e.code, MTLS_E_VERIFY);
	assert_int_equal(code, X509_V_ERR_CERT_REVOKED);
	assert_non_null(strstr(e.msg, "certificate CN=cli"));
	assert_non_null(strstr(e.msg, "no OCSP answer (fail-closed)"));
	/* A chain that fails before revocation keeps its own reason. */
	assert_int_equal(mtls_verify_cert(f->stranger, NULL, &o, &code, &e), -1);
	assert_null(strstr(e.msg, "OCSP"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(verify_table),
	    cmocka_unit_test(verify_expired_sentence),
	    cmocka_unit_test(verify_trust_file_errors),
	    cmocka_unit_test(verify_crl),
	    cmocka_unit_test(verify_ocsp_walk),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
