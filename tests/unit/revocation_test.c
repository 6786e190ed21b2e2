/* Unit tests for mtls/revocation.h: CRL sets (signature against the CAs,
 * lookup, staleness) and the OCSP answers cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/explain.h"
#include "mtls/revocation.h"
#include "test_pki.h"
#include "ca/ca_internal.h"
#include "revocation/revocation_int.h"

struct fx {
	char *dir;
	struct mtls_ca *ca, *other;
	EVP_PKEY *key;
	X509 *good, *bad;
	STACK_OF(X509) *cas;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	f->ca = test_ca_new(test_path(f->dir, "ca"), MTLS_KEY_EC_P256, 30,
	    "CN=Rev CA");
	f->other = test_ca_new(test_path(f->dir, "other"), MTLS_KEY_EC_P256,
	    30, "CN=Other CA");
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	f->good = test_sign(f->ca, "good", MTLS_PROFILE_CLIENT, NULL, f->key,
	    10, 0);
	f->bad = test_sign(f->ca, "bad", MTLS_PROFILE_CLIENT, NULL, f->key, 10,
	    0);
	f->cas = sk_X509_new_null();
	sk_X509_push(f->cas, mtls_ca_cert(f->ca));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	sk_X509_free(f->cas);
	X509_free(f->good);
	X509_free(f->bad);
	EVP_PKEY_free(f->key);
	mtls_ca_free(f->ca);
	mtls_ca_free(f->other);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* A CRL of CA revoking REVOKED (may be NULL) with REASON, nextUpdate NEXT
 * seconds from now, written to DIR/NAME. */
static const char *
write_crl(struct fx *f, struct mtls_ca *ca, const char *name, X509 *revoked,
    int reason, long next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	time_t now = time(NULL);
	const char *path = test_path(f->dir, name);
	BIO *b;

	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(mtls_ca_cert(ca))), 1);
	ASN1_TIME_set(t, now - 3600);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_set(t, now + next);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	if (revoked != NULL) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_ENUMERATED *r = ASN1_ENUMERATED_new();

		ASN1_TIME_set(t, 1700000000);
		ASN1_ENUMERATED_set(r, reason);
		X509_REVOKED_set_serialNumber(rv,
		    (ASN1_INTEGER *)X509_get0_serialNumber(revoked));
		X509_REVOKED_set_revocationDate(rv, t);
		assert_int_equal(X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason,
		    r, 0, 0), 1);
		ASN1_ENUMERATED_free(r);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, mtls__ca_key(ca), EVP_sha256()) > 0);
	b = BIO_new_file(path, "wb");
	assert_int_equal(PEM_write_bio_X509_CRL(b, crl), 1);
	BIO_free(b);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return path;
}

static void
crlset_lookup(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	const char *files[1];
	struct mtls__crlset *s;
	time_t when = 0;
	int reason = -1;
	char buf[300];

	files[0] = write_crl(f, f->ca, "a.crl", f->bad, 1, 86400);
	s = mtls__crlset_load(files, 1, f->cas, &e);
	assert_non_null(s);
	assert_int_equal(mtls__crlset_count(s), 1);
	assert_int_equal(mtls__crlset_entries(s), 1);
	assert_int_equal(mtls__crlset_lookup(s, f->good, NULL, NULL),
	    MTLS_CRL_GOOD);
	assert_int_equal(mtls__crlset_lookup(s, f->bad, &when, &reason),
	    MTLS_CRL_REVOKED);
	assert_int_equal(when, 1700000000);
	assert_int_equal(reason, 1);
	mtls_explain_revoked(f->bad, when, reason, buf, sizeof(buf));
	assert_non_null(strstr(buf, "certificate CN=bad (serial "));
	assert_non_null(strstr(buf,
	    ") revoked on 2023-11-14 22:13:20 UTC (keyCompromise)"));
	/* A certificate of another issuer: no CRL for it. */
	assert_int_equal(mtls__crlset_lookup(s, mtls_ca_cert(f->other), NULL,
	    NULL), MTLS_CRL_NO_CRL);
	assert_int_equal(mtls__crlset_stale_since(s, time(NULL)), 0);
	mtls__crlset_free(s);
	/* A CRL without entries has no revokedCertificates at all (OpenSSL
	 * counts that stack as -1): zero entries, not SIZE_MAX. */
	files[0] = write_crl(f, f->ca, "empty.crl", NULL, 0, 86400);
	s = mtls__crlset_load(files, 1, f->cas, &e);
	assert_non_null(s);
	assert_int_equal(mtls__crlset_entries(s), 0);
	mtls__crlset_free(s);
}

static void
crlset_stale(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	const char *files[2];
	struct mtls__crlset *s;
	time_t now = time(NULL), since;

	files[0] = write_crl(f, f->ca, "fresh.crl", NULL, 0, 86400);
	files[1] = write_crl(f, f->ca, "old.crl", f->bad, 0, -60);
	s = mtls__crlset_load(files, 2, f->cas, &e);
	assert_non_null(s);
	since = mtls__crlset_stale_since(s, now);
	assert_true(since > now - 120 && since < now);
	/* The stale one still answers: keep-enforcing is possible. */
	assert_int_equal(mtls__crlset_lookup(s, f->bad, NULL, NULL),
	    MTLS_CRL_REVOKED);
	assert_int_equal(mtls__crlset_stale_since(s, now - 3000), 0);
	assert_true(mtls__crlset_next_update(s) == since);
	mtls__crlset_free(s);
}

static void
crlset_refused(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	const char *files[1];
	const char *junk = test_path(f->dir, "junk.crl");
	FILE *fp;

	/* Signed by another CA. */
	files[0] = write_crl(f, f->other, "foreign.crl", NULL, 0, 86400);
	assert_null(mtls__crlset_load(files, 1, f->cas, &e));
	assert_int_equal(e.code, MTLS_E_VERIFY);
	assert_non_null(strstr(e.msg, "foreign.crl (issuer CN=Other CA) is "
	    "not signed by a CA of --ca"));
	/* Not a CRL at all. */
	fp = fopen(junk, "w");
	assert_non_null(fp);
	fputs("hello\n", fp);
	fclose(fp);
	files[0] = junk;
	assert_null(mtls__crlset_load(files, 1, f->cas, &e));
	assert_int_equal(e.code, MTLS_E_FORMAT);
	assert_non_null(strstr(e.msg, "holds no CRL"));
	/* Missing. */
	files[0] = test_path(f->dir, "missing.crl");
	assert_null(mtls__crlset_load(files, 1, f->cas, &e));
	assert_int_equal(e.code, MTLS_E_IO);
}

static void
ocsp_cache(void **state)
{
	struct fx *f = *state;
	struct mtls__ocsp_cache *c = mtls__ocsp_cache_new(64, 600);
	struct mtls_ocsp_result r, got;
	time_t now = 1800000000;
	static const struct {
		const char *what;
		enum mtls_ocsp_status status;
		long next; /* nextUpdate - now; 0: none */
		long ask;  /* asked at now + ask */
		int hit;
	} cases[] = {
		{"good, before nextUpdate", MTLS_OCSP_GOOD, 300, 299, 1},
		{"good, at nextUpdate", MTLS_OCSP_GOOD, 300, 300, 0},
		{"no nextUpdate: max age", MTLS_OCSP_GOOD, 0, 599, 1},
		{"no nextUpdate: past max age", MTLS_OCSP_GOOD, 0, 600, 0},
		{"nextUpdate past max age", MTLS_OCSP_REVOKED, 5000, 700, 0},
		{"revoked kept", MTLS_OCSP_REVOKED, 300, 10, 1},
		{"unknown never kept", MTLS_OCSP_UNKNOWN, 300, 1, 0},
		{"already expired not kept", MTLS_OCSP_GOOD, -5, 0, 0},
	};
	size_t i;

	assert_non_null(c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mtls__ocsp_cache_free(c);
		c = mtls__ocsp_cache_new(64, 600);
		memset(&r, 0, sizeof(r));
		r.status = cases[i].status;
		r.reason = 1;
		r.next_update = cases[i].next != 0 ? now + cases[i].next : 0;
		assert_int_equal(mtls__ocsp_cache_put(c, f->bad,
		    mtls_ca_cert(f->ca), now, &r), 0);
		if (mtls__ocsp_cache_get(c, f->bad, mtls_ca_cert(f->ca),
			now + cases[i].ask, &got) != cases[i].hit) {
			fail_msg("%s: hit should be %d", cases[i].what,
			    cases[i].hit);
		}
		if (cases[i].hit) {
			assert_int_equal(got.status, cases[i].status);
		}
		/* Keyed by (issuer, serial): another serial or issuer misses. */
		assert_int_equal(mtls__ocsp_cache_get(c, f->good,
		    mtls_ca_cert(f->ca), now, &got), 0);
		assert_int_equal(mtls__ocsp_cache_get(c, f->bad,
		    mtls_ca_cert(f->other), now, &got), 0);
	}
	mtls__ocsp_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crlset_lookup),
		cmocka_unit_test(crlset_stale),
		cmocka_unit_test(crlset_refused),
		cmocka_unit_test(ocsp_cache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
