/* The OCSP responder core and the client-side checks, in process: a real
 * CA and inventory in a temporary directory, real signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>

#include "mtls/ca.h"
#include "mtls/ocsp.h"
#include "mtls/pki.h"
#include "test_util.h"

static char *dir;
static char ca_dir[600], other_dir[600];
static struct mtls_ca *ca, *other;
static X509 *alice, *bob, *carol, *signer, *notsigner, *foreign, *foreign_signer;
static EVP_PKEY *signer_key, *foreign_key;

static const unsigned char malformed[] = {0x30, 0x03, 0x0a, 0x01, 0x01};

static X509 *
issue(struct mtls_ca *c, const char *name, enum mtls_profile p, EVP_PKEY **keyp)
{
	struct mtls_err err;
	EVP_PKEY *key = mtls_key_generate(MTLS_KEY_EC_P256, &err);
	X509_NAME *subj;
	struct mtls_cert_request req;
	X509 *x;
	char dn[100];

	assert_non_null(key);
	snprintf(dn, sizeof(dn), "CN=%s", name);
	subj = mtls_name_parse(dn, &err);
	assert_non_null(subj);
	memset(&req, 0, sizeof(req));
	req.name = name;
	req.subject = subj;
	req.pubkey = key;
	req.profile = p;
	x = mtls_ca_sign(c, &req, &err);
	if (x == NULL) {
		fail_msg("%s", err.msg);
	}
	X509_NAME_free(subj);
	if (keyp != NULL) {
		*keyp = key;
	} else {
		EVP_PKEY_free(key);
	}
	return x;
}

static struct mtls_ca *
make_ca(const char *path)
{
	struct mtls_ca_init_opts o;
	struct mtls_err err;
	struct mtls_ca *c;

	memset(&o, 0, sizeof(o));
	o.dir = path;
	o.key_type = MTLS_KEY_EC_P256;
	if (mtls_ca_init(&o, &err) != 0) {
		fail_msg("%s", err.msg);
	}
	c = mtls_ca_open(path, &err);
	assert_non_null(c);
	assert_int_equal(mtls_ca_unlock(c, NULL, &err), 0);
	return c;
}

/* Revokes through a second connection, as `mtls revoke` would. */
static void
revoke_elsewhere(X509 *x, const char *reason)
{
	struct mtls_err err;
	struct mtls_ca *c = mtls_ca_open(ca_dir, &err);
	char *serial = mtls_cert_serial_hex(x);
	int code;

	assert_non_null(c);
	assert_int_equal(mtls_reason_parse(reason, &code, &err), 0);
	if (mtls_ca_revoke(c, serial, code, 0, &err) != 0) {
		fail_msg("%s", err.msg);
	}
	OPENSSL_free(serial);
	mtls_ca_free(c);
}

static int
setup(void **state)
{
	(void)state;
	dir = test_tmpdir();
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", dir);
	snprintf(other_dir, sizeof(other_dir), "%s/other", dir);
	/* Both CAs have the default name: only the key hash tells them apart. */
	ca = make_ca(ca_dir);
	other = make_ca(other_dir);
	alice = issue(ca, "alice", MTLS_PROFILE_CLIENT, NULL);
	bob = issue(ca, "bob", MTLS_PROFILE_CLIENT, NULL);
	carol = issue(ca, "carol", MTLS_PROFILE_SERVER, NULL);
	signer = issue(ca, "responder", MTLS_PROFILE_OCSP, &signer_key);
	notsigner = issue(ca, "plain", MTLS_PROFILE_CLIENT, NULL);
	foreign = issue(other, "alice", MTLS_PROFILE_CLIENT, NULL);
	foreign_signer = issue(other, "responder", MTLS_PROFILE_OCSP, &foreign_key);
	revoke_elsewhere(bob, "keyCompromise");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(alice);
	X509_free(bob);
	X509_free(carol);
	X509_free(signer);
	X509_free(notsigner);
	X509_free(foreign);
	X509_free(foreign_signer);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(foreign_key);
	mtls_ca_free(ca);
	mtls_ca_free(other);
	test_rmrf(dir);
	free(dir);
	return 0;
}

static struct mtls_ocsp_responder *
responder(X509 *scert, EVP_PKEY *skey, int refresh_ms)
{
	struct mtls_ocsp_responder_opts o;
	struct mtls_ocsp_responder *r;
	struct mtls_err err;

	memset(&o, 0, sizeof(o));
	o.signer_cert = scert;
	o.signer_key = skey;
	o.refresh_ms = refresh_ms;
	r = mtls_ocsp_responder_new(ca, &o, &err);
	if (r == NULL) {
		fail_msg("%s", err.msg);
	}
	return r;
}

/* Encodes REQ, answers it, copies the answer into *OUT. */
static size_t
ask(struct mtls_ocsp_responder *r, OCSP_REQUEST *req, unsigned char **out)
{
	unsigned char *der = NULL;
	const unsigned char *resp;
	size_t len = 0;
	int n = i2d_OCSP_REQUEST(req, &der);

	assert_true(n > 0);
	resp = mtls_ocsp_respond(r, der, (size_t)n, &len);
	assert_non_null(resp);
	*out = malloc(len);
	memcpy(*out, resp, len);
	OPENSSL_free(der);
	return len;
}

static OCSP_REQUEST *
request_for_id(OCSP_CERTID *id, int nonce_len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();

	assert_non_null(req);
	assert_non_null(OCSP_request_add0_id(req, id));
	if (nonce_len > 0) {
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, nonce_len), 1);
	}
	return req;
}

/* Status straight from the response, without the client's checks (for
 * answers about other issuers). */
static int
raw_status(const unsigned char *der, size_t len, OCSP_REQUEST *req)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs;
	int status = -1, reason;

	assert_non_null(resp);
	assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(resp);
	assert_non_null(bs);
	assert_int_equal(OCSP_resp_find_status(bs,
	    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)), &status,
	    &reason, NULL, NULL, NULL), 1);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return status;
}

struct status_case {
	const char *what;
	X509 **cert;
	const EVP_MD *(*md)(void);
	int nonce;
	enum mtls_ocsp_status want;
	const char *reason;
};

static void
statuses(void **state)
{
	static const struct status_case cases[] = {
	    {"good, SHA-1 CertID", &alice, EVP_sha1, 16, MTLS_OCSP_GOOD, NULL},
	    {"good, SHA-256 CertID", &alice, EVP_sha256, 0, MTLS_OCSP_GOOD, NULL},
	    {"good, no nonce", &carol, EVP_sha1, 0, MTLS_OCSP_GOOD, NULL},
	    {"revoked", &bob, EVP_sha1, 16, MTLS_OCSP_REVOKED, "keyCompromise"},
	    {"revoked, SHA-384", &bob, EVP_sha384, 32, MTLS_OCSP_REVOKED, "keyCompromise"},
	};
	struct mtls_ocsp_responder *r = responder(NULL, NULL, 0);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct status_case *c = &cases[i];
		OCSP_REQUEST *req = request_for_id(
		    OCSP_cert_to_id(c->md(), *c->cert, mtls_ca_cert(ca)), c->nonce);
		struct mtls_ocsp_result res;
		struct mtls_err err;
		unsigned char *resp;
		size_t len = ask(r, req, &resp);

		if (mtls_ocsp_response_check(resp, len, req, *c->cert,
			mtls_ca_cert(ca), 0, &res, &err) != 0) {
			fail_msg("%s: %s", c->what, err.msg);
		}
		assert_int_equal(res.status, c->want);
		assert_true(res.next_update - res.this_update == 3600);
		if (c->reason != NULL) {
			assert_string_equal(mtls_reason_name(res.reason), c->reason);
			assert_true(res.revoked_at > time(NULL) - 600);
			assert_true(res.revoked_at <= time(NULL));
		}
		free(resp);
		OCSP_REQUEST_free(req);
	}
	mtls_ocsp_responder_free(r);
}

static void
unknowns(void **state)
{
	struct mtls_ocsp_responder *r = responder(NULL, NULL, 0);
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	OCSP_REQUEST *reqs[3];
	unsigned char *resp;
	size_t len, i;

	(void)state;
	/* Another CA with the same name: the key hash differs. */
	reqs[0] = request_for_id(OCSP_cert_to_id(EVP_sha1(), foreign,
	    mtls_ca_cert(other)), 16);
	/* Our CA, a serial we never issued. */
	assert_int_equal(ASN1_INTEGER_set_int64(serial, 0x1234567890LL), 1);
	reqs[1] = request_for_id(OCSP_cert_id_new(EVP_sha1(),
	    X509_get_subject_name(mtls_ca_cert(ca)),
	    X509_get0_pubkey_bitstr(mtls_ca_cert(ca)), serial), 0);
	/* Our serial, claimed under the other CA's key. */
	reqs[2] = request_for_id(OCSP_cert_id_new(EVP_sha256(),
	    X509_get_subject_name(mtls_ca_cert(other)),
	    X509_get0_pubkey_bitstr(mtls_ca_cert(other)),
	    X509_get_serialNumber(alice)), 0);
	for (i = 0; i < 3; i++) {
		len = ask(r, reqs[i], &resp);
		assert_int_equal(raw_status(resp, len, reqs[i]), V_OCSP_CERTSTATUS_UNKNOWN);
		free(resp);
		OCSP_REQUEST_free(reqs[i]);
	}
	ASN1_INTEGER_free(serial);
	mtls_ocsp_responder_free(r);
}

static void
nonce_echo(void **state)
{
	struct mtls_ocsp_responder *r = responder(NULL, NULL, 0);
	OCSP_REQUEST *req = request_for_id(OCSP_cert_to_id(NULL, alice,
	    mtls_ca_cert(ca)), 16);
	OCSP_REQUEST *other_req = request_for_id(OCSP_cert_to_id(NULL, alice,
	    mtls_ca_cert(ca)), 16);
	OCSP_REQUEST *long_nonce = request_for_id(OCSP_cert_to_id(NULL, alice,
	    mtls_ca_cert(ca)), 33);
	const unsigned char *p;
	struct mtls_ocsp_result res;
	struct mtls_err err;
	OCSP_RESPONSE *o;
	OCSP_BASICRESP *bs;
	unsigned char *resp;
	size_t len = ask(r, req, &resp);

	(void)state;
	p = resp;
	o = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	bs = OCSP_response_get1_basic(o);
	assert_non_null(bs);
	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	/* Checked against a request with another nonce: a replay. */
	assert_int_equal(OCSP_check_nonce(other_req, bs), 0);
	assert_int_equal(mtls_ocsp_response_check(resp, len, other_req, alice,
	    mtls_ca_cert(ca), 0, &res, &err), -1);
	assert_int_equal(err.code, MTLS_E_PEER);
	assert_non_null(strstr(err.msg, "nonce"));
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(o);
	free(resp);
	/* RFC 8954: longer than 32 octets is refused. */
	len = ask(r, long_nonce, &resp);
	assert_int_equal(len, sizeof(malformed));
	assert_memory_equal(resp, malformed, len);
	free(resp);
	OCSP_REQUEST_free(req);
	OCSP_REQUEST_free(other_req);
	OCSP_REQUEST_free(long_nonce);
	mtls_ocsp_responder_free(r);
}

static void
malformed_requests(void **state)
{
	struct mtls_ocsp_responder *r = responder(NULL, NULL, 0);
	OCSP_REQUEST *empty = OCSP_REQUEST_new();
	OCSP_REQUEST *good = request_for_id(OCSP_cert_to_id(NULL, alice,
	    mtls_ca_cert(ca)), 16);
	unsigned char *e_der = NULL, *g_der = NULL, buf[4096];
	int e_len = i2d_OCSP_REQUEST(empty, &e_der);
	int g_len = i2d_OCSP_REQUEST(good, &g_der);
	struct {
		const char *what;
		const unsigned char *data;
		size_t len;
	} cases[] = {
	    {"empty", (const unsigned char *)"", 0},
	    {"HTTP text", (const unsigned char *)"GET / HTTP/1.1\r\n\r\n", 18},
	    {"no CertID", e_der, (size_t)e_len},
	    {"truncated", g_der, (size_t)g_len - 1},
	    {"one byte", g_der, 1},
	    {"trailing byte", buf, (size_t)g_len + 1},
	    {"huge length", (const unsigned char *)"\x30\x84\x7f\xff\xff\xff", 6},
	};
	struct mtls_ocsp_stats st;
	const unsigned char *resp;
	size_t i, len;
	int k;

	(void)state;
	memcpy(buf, g_der, (size_t)g_len);
	buf[g_len] = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp = mtls_ocsp_respond(r, cases[i].data, cases[i].len, &len);
		if (len != sizeof(malformed) || memcmp(resp, malformed, len) != 0) {
			fail_msg("%s: not answered malformedRequest", cases[i].what);
		}
	}
	mtls_ocsp_responder_stats(r, &st);
	assert_int_equal(st.malformed, sizeof(cases) / sizeof(cases[0]));
	/* Random corruptions of a valid request never crash and always get
	 * some response. */
	for (k = 0; k < 3000; k++) {
		unsigned char rnd[3];

		memcpy(buf, g_der, (size_t)g_len);
		assert_int_equal(RAND_bytes(rnd, sizeof(rnd)), 1);
		buf[rnd[0] % g_len] ^= (unsigned char)(rnd[1] | 1);
		resp = mtls_ocsp_respond(r, buf, (size_t)g_len - (rnd[2] % 4), &len);
		assert_non_null(resp);
		assert_true(len >= sizeof(malformed));
	}
	OPENSSL_free(e_der);
	OPENSSL_free(g_der);
	OCSP_REQUEST_free(empty);
	OCSP_REQUEST_free(good);
	mtls_ocsp_responder_free(r);
}

static void
cache_and_nonce(void **state)
{
	struct mtls_ocsp_responder *r = responder(NULL, NULL, 1);
	OCSP_REQUEST *plain = request_for_id(OCSP_cert_to_id(NULL, carol,
	    mtls_ca_cert(ca)), 0);
	OCSP_REQUEST *nonced = request_for_id(OCSP_cert_to_id(NULL, carol,
	    mtls_ca_cert(ca)), 16);
	unsigned char *a, *b, *c, *d;
	size_t la, lb, lc, ld;
	struct mtls_ocsp_stats st;
	struct mtls_ocsp_result res;
	struct mtls_err err;
	struct timespec ms = {0, 5 * 1000000};

	(void)state;
	la = ask(r, plain, &a);
	lb = ask(r, plain, &b);
	/* Same bytes, producedAt included: served from the cache. */
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	mtls_ocsp_responder_stats(r, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.signed_live, 1);
	/* Nonced requests are signed every time. */
	lc = ask(r, nonced, &c);
	ld = ask(r, nonced, &d);
	assert_true(lc != ld || memcmp(c, d, lc) != 0);
	mtls_ocsp_responder_stats(r, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.signed_live, 3);
	free(b);
	free(c);
	free(d);
	/* Revoked by another process: the cached "good" must go. */
	revoke_elsewhere(carol, "superseded");
	nanosleep(&ms, NULL);
	lb = ask(r, plain, &b);
	assert_int_equal(mtls_ocsp_response_check(b, lb, plain, carol,
	    mtls_ca_cert(ca), 0, &res, &err), 0);
	assert_int_equal(res.status, MTLS_OCSP_REVOKED);
	assert_string_equal(mtls_reason_name(res.reason), "superseded");
	mtls_ocsp_responder_stats(r, &st);
	assert_int_equal(st.reloads, 1);
	free(a);
	free(b);
	OCSP_REQUEST_free(plain);
	OCSP_REQUEST_free(nonced);
	mtls_ocsp_responder_free(r);
}

static void
delegated_signer(void **state)
{
	struct mtls_ocsp_responder *r = responder(signer, signer_key, 0);
	OCSP_REQUEST *req = request_for_id(OCSP_cert_to_id(NULL, alice,
	    mtls_ca_cert(ca)), 16);
	struct mtls_ocsp_result res;
	struct mtls_err err;
	const unsigned char *p;
	OCSP_RESPONSE *o;
	OCSP_BASICRESP *bs;
	unsigned char *resp;
	size_t len = ask(r, req, &resp);

	(void)state;
	assert_int_equal(mtls_ocsp_response_check(resp, len, req, alice,
	    mtls_ca_cert(ca), 0, &res, &err), 0);
	assert_int_equal(res.status, MTLS_OCSP_GOOD);
	p = resp;
	o = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	bs = OCSP_response_get1_basic(o);
	/* The signer's certificate travels with the response. */
	assert_int_equal(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0), signer), 0);
	/* The same answer does not verify against the other CA. */
	assert_int_equal(mtls_ocsp_response_check(resp, len, req, alice,
	    mtls_ca_cert(other), 0, &res, &err), -1);
	assert_int_equal(err.code, MTLS_E_VERIFY);
	/* Nor at a time past its nextUpdate. */
	assert_int_equal(mtls_ocsp_response_check(resp, len, req, alice,
	    mtls_ca_cert(ca), time(NULL) + 7200, &res, &err), -1);
	assert_non_null(strstr(err.msg, "stale"));
	/* Nor when it is not an OCSP response at all. */
	assert_int_equal(mtls_ocsp_response_check(malformed, 3, req, alice,
	    mtls_ca_cert(ca), 0, &res, &err), -1);
	assert_int_equal(mtls_ocsp_response_check(malformed, sizeof(malformed),
	    req, alice, mtls_ca_cert(ca), 0, &res, &err), -1);
	assert_non_null(strstr(err.msg, "malformedrequest"));
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(o);
	free(resp);
	OCSP_REQUEST_free(req);
	mtls_ocsp_responder_free(r);
}

static void
bad_signers(void **state)
{
	struct {
		const char *what;
		X509 **cert;
		EVP_PKEY **key;
		const char *msg;
	} cases[] = {
	    {"no OCSPSigning EKU", &notsigner, &signer_key, "OCSPSigning"},
	    {"another CA's signer", &foreign_signer, &foreign_key, "not issued by this CA"},
	    {"key of another cert", &signer, &foreign_key, "does not match"},
	    {"cert without key", &signer, NULL, "both"},
	};
	struct mtls_ocsp_responder_opts o;
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.signer_cert = *cases[i].cert;
		o.signer_key = cases[i].key ? *cases[i].key : NULL;
		assert_null(mtls_ocsp_responder_new(ca, &o, &err));
		if (strstr(err.msg, cases[i].msg) == NULL) {
			fail_msg("%s: message '%s' lacks '%s'", cases[i].what, err.msg, cases[i].msg);
		}
	}
}

static void
locked_ca_needs_signer(void **state)
{
	struct mtls_err err;
	struct mtls_ca *locked = mtls_ca_open(ca_dir, &err);
	struct mtls_ocsp_responder_opts o;
	struct mtls_ocsp_responder *r;

	(void)state;
	assert_non_null(locked);
	assert_null(mtls_ocsp_responder_new(locked, NULL, &err));
	assert_non_null(strstr(err.msg, "locked"));
	memset(&o, 0, sizeof(o));
	o.signer_cert = signer;
	o.signer_key = signer_key;
	r = mtls_ocsp_responder_new(locked, &o, &err);
	assert_non_null(r);
	mtls_ocsp_responder_free(r);
	mtls_ca_free(locked);
}

/* The freshness rule of every OCSP answer: one row per limit, each with
 * the words its refusal must carry. */
static void
freshness_table(void **state)
{
	const time_t now = 1800000000;
	const struct {
		const char *what;
		long this_ago, next_in; /* next_in 0: no nextUpdate */
		long max_age, skew;
		const char *refusal;    /* NULL: fresh */
	} rows[] = {
	    {"fresh with nextUpdate", 60, 3600, 0, -1, NULL},
	    {"old but before nextUpdate", 86400, 3600, 0, -1, NULL},
	    {"nextUpdate passed", 7200, -3600, 0, -1, "nextUpdate"},
	    {"nextUpdate passed within the skew", 7200, -200, 0, -1, NULL},
	    {"nextUpdate passed beyond a small skew", 7200, -200, 0, 100,
		"stale"},
	    {"thisUpdate in the future", -600, 3600, 0, -1, "in the future"},
	    {"thisUpdate ahead within the skew", -200, 3600, 0, -1, NULL},
	    {"no nextUpdate, young", 600, 0, 0, -1, NULL},
	    {"no nextUpdate, older than the default", 7200, 0, 0, -1,
		"without a nextUpdate, and the maximum age is 3600 s"},
	    {"no nextUpdate, within a larger max age", 7200, 0, 10000, -1, NULL},
	    {"max age bounds answers with nextUpdate", 7200, 3600, 600, -1,
		"--ocsp-max-age"},
	    {"max age with nextUpdate, young enough", 300, 3600, 600, -1, NULL},
	};
	struct mtls_ocsp_result res;
	struct mtls_err err;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&res, 0, sizeof(res));
		mtls_err_clear(&err);
		res.status = MTLS_OCSP_GOOD;
		res.this_update = now - rows[i].this_ago;
		res.next_update = rows[i].next_in != 0 ? now + rows[i].next_in : 0;
		rc = mtls_ocsp_result_fresh(&res, now, rows[i].max_age,
		    rows[i].skew, &err);
		if (rows[i].refusal == NULL) {
			if (rc != 0) {
				fail_msg("%s: refused: %s", rows[i].what, err.msg);
			}
			continue;
		}
		if (rc == 0) {
			fail_msg("%s: accepted", rows[i].what);
		}
		assert_int_equal(err.code, MTLS_E_VERIFY);
		if (strstr(err.msg, rows[i].refusal) == NULL) {
			fail_msg("%s: '%s' lacks '%s'", rows[i].what, err.msg,
			    rows[i].refusal);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(statuses),
	    cmocka_unit_test(unknowns),
	    cmocka_unit_test(nonce_echo),
	    cmocka_unit_test(malformed_requests),
	    cmocka_unit_test(cache_and_nonce),
	    cmocka_unit_test(delegated_signer),
	    cmocka_unit_test(bad_signers),
	    cmocka_unit_test(locked_ca_needs_signer),
	    cmocka_unit_test(freshness_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
