/* est.c: the EST operations without transport - answers, media types,
 * refusals, and what is recorded (table-driven where the shape allows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/pkcs7.h>

#include "mtls/pass.h"
#include "mtls/token.h"
#include "online/est_int.h"
#include "ca/ca_internal.h"
#include "ca/token_int.h"
#include "test_pki.h"

struct fx {
	struct test_ca_fx base;
	struct est_ctx est;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	void *inner = NULL;
	struct mtls_err e;

	if (f == NULL || test_ca_fx_setup(&inner, "CN=EST Unit CA") != 0) {
		return -1;
	}
	f->base = *(struct test_ca_fx *)inner;
	free(inner);
	if (mtls__est_ctx_init(&f->est, f->base.ca, 3600, &e) != 0) {
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct test_ca_fx *b = malloc(sizeof(*b));
	void *p = b;

	mtls__est_ctx_clear(&f->est);
	*b = f->base;
	free(f);
	return test_ca_fx_teardown(&p);
}

static char *
token(struct fx *f, const char *name, const char *sans)
{
	struct mtls_token_spec sp;
	struct mtls_err e;
	char id[MTLS_TOKEN_ID_LEN], *secret = NULL;

	memset(&sp, 0, sizeof(sp));
	sp.name = name;
	sp.profile = MTLS_PROFILE_NODE;
	sp.sans = sans;
	sp.ttl = 600;
	assert_int_equal(mtls_token_create(f->base.ca, &sp, id, &secret, &e), 0);
	return secret;
}

/* "Basic base64(user:pass)" */
static char *
basic(const char *user, const char *pass)
{
	char raw[300], *b64, *out;
	size_t n = 0;

	snprintf(raw, sizeof(raw), "%s:%s", user, pass);
	b64 = mtls__est_b64_encode((unsigned char *)raw, strlen(raw), &n);
	assert_non_null(b64);
	while (n > 0 && b64[n - 1] == '\n') {
		b64[--n] = '\0';
	}
	out = malloc(n + 8);
	snprintf(out, n + 8, "Basic %s", b64);
	free(b64);
	return out;
}

static char *
csr_b64(EVP_PKEY *key, const char *subj, const char *sans)
{
	X509_REQ *r = test_csr(key, subj, sans, 0);
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(r, &der);
	size_t len = 0;
	char *b64;

	assert_true(n > 0);
	b64 = mtls__est_b64_encode(der, (size_t)n, &len);
	OPENSSL_free(der);
	X509_REQ_free(r);
	return b64;
}

static void
post(struct fx *f, const char *op, const char *auth, const char *ctype,
    const char *body, X509 *peer, long verify, struct est_resp *resp)
{
	struct est_req r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.post = 1;
	r.content_type = ctype;
	r.authorization = auth;
	r.body = (const unsigned char *)body;
	r.len = strlen(body);
	r.peer = peer;
	r.peer_verify = verify;
	r.peer_addr = "unit";
	mtls__est_handle(&f->est, &r, resp);
}

/* The certificate of a certs-only answer. */
static X509 *
answer_cert(const struct est_resp *resp)
{
	size_t n = 0;
	unsigned char *der = mtls__est_b64_decode((unsigned char *)resp->body, resp->len, &n);
	const unsigned char *p = der;
	PKCS7 *p7;
	X509 *x;

	assert_non_null(der);
	p7 = d2i_PKCS7(NULL, &p, (long)n);
	free(der);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	x = sk_X509_value(p7->d.sign->cert, 0);
	X509_up_ref(x);
	PKCS7_free(p7);
	return x;
}

static void
test_gets(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *op;
		int post, status;
		const char *type;
	} rows[] = {
	    {"cacerts", 0, 200, "application/pkcs7-mime"},
	    {"csrattrs", 0, 200, "application/csrattrs"},
	    {"cacerts", 1, 405, NULL},
	    {"simpleenroll", 0, 405, NULL},
	    {"serverkeygen", 1, 404, NULL},
	    {"", 0, 404, NULL},
	};
	struct est_req r;
	struct est_resp resp;
	size_t i;
	X509 *x;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.op = rows[i].op;
		r.post = rows[i].post;
		r.body = (const unsigned char *)"";
		mtls__est_handle(&f->est, &r, &resp);
		assert_int_equal(resp.status, rows[i].status);
		if (rows[i].type != NULL) {
			assert_string_equal(resp.content_type, rows[i].type);
			assert_int_equal(resp.base64, 1);
		}
		if (i == 0) {
			x = answer_cert(&resp);
			assert_int_equal(X509_cmp(x, mtls_ca_cert(f->base.ca)), 0);
			X509_free(x);
		}
		free(resp.body);
	}
}

/* Refusals of simpleenroll: status, a word of the reason, and nothing
 * issued. */
static void
test_enroll_refusals(void **state)
{
	struct fx *f = *state;
	char *secret = token(f, "n1", "dns:n1,ip:10.0.0.1");
	char *auth = basic("n1", secret), *wrong = basic("n1", "nope");
	char *other = basic("n9", secret);
	char *good = csr_b64(f->base.key, "CN=n1", NULL);
	char *cn = csr_b64(f->base.key, "CN=n2", NULL);
	char *dn = csr_b64(f->base.key, "CN=n1,O=Evil", NULL);
	char *san = csr_b64(f->base.key, "CN=n1", "DNS:n1,DNS:evil");
	char *ca = csr_b64(f->base.key, "CN=n1", NULL);
	char big[EST_MAX_BODY + 10];
	const struct {
		const char *auth, *ctype, *body;
		int status;
		const char *why;
		int www, failed;
	} rows[] = {
	    {NULL, "application/pkcs10", good, 401, "token", 1, 0},
	    {"Bearer x", "application/pkcs10", good, 401, "token", 1, 0},
	    {"Basic !!!", "application/pkcs10", good, 401, "token", 1, 0},
	    {wrong, "application/pkcs10", good, 401, "no token", 1, 1},
	    {other, "application/pkcs10", good, 401, "no token", 1, 1},
	    {auth, "text/plain", good, 415, "pkcs10", 0, 0},
	    {auth, "application/pkcs10x", good, 415, "pkcs10", 0, 0},
	    {auth, NULL, good, 415, "pkcs10", 0, 0},
	    {auth, "application/pkcs10", "@@@@", 400, "base64", 0, 0},
	    {auth, "application/pkcs10", "aGVsbG8gd29ybGQ=", 400, "PKCS#10", 0, 0},
	    {auth, "application/pkcs10", big, 413, "large", 0, 0},
	    {auth, "application/pkcs10", cn, 403, "not CN=n1", 0, 0},
	    {auth, "application/pkcs10", dn, 403, "not CN=n1", 0, 0},
	    {auth, "application/pkcs10", san, 403, "dns:evil", 0, 0},
	};
	struct est_resp resp;
	size_t i;

	(void)ca;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		post(f, "simpleenroll", rows[i].auth, rows[i].ctype, rows[i].body,
		    NULL, 0, &resp);
		if (resp.status != rows[i].status ||
		    strstr(resp.body, rows[i].why) == NULL) {
			fail_msg("row %zu: %d %s", i, resp.status, resp.body);
		}
		assert_int_equal(resp.www_authenticate, rows[i].www);
		assert_int_equal(resp.auth_failed, rows[i].failed);
		assert_int_equal(resp.issued, 0);
		assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
		free(resp.body);
	}
	assert_int_equal(test_inventory_rows(f->base.ca, "n1"), 0);
	/* After all that the token still pays for one certificate. */
	post(f, "simpleenroll", auth, "application/pkcs10; charset=x", good, NULL, 0,
	    &resp);
	assert_int_equal(resp.status, 200);
	free(resp.body);
	free(auth);
	free(wrong);
	free(other);
	free(good);
	free(cn);
	free(dn);
	free(san);
	free(ca);
	mtls_pass_free(secret);
}

static void
test_enroll_once_then_reenroll(void **state)
{
	struct fx *f = *state;
	char *secret = token(f, "n1", "dns:n1,ip:10.0.0.1");
	char *auth = basic("n1", secret);
	char *body = csr_b64(f->base.key, "CN=n1", "DNS:n1");
	EVP_PKEY *k2 = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	EVP_PKEY *k3 = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	char *body2 = csr_b64(k2, "CN=n1", NULL);
	char *body3 = csr_b64(k3, "CN=n1", NULL);
	char *body_san = csr_b64(k3, "CN=n1", "DNS:other");
	struct est_resp resp;
	X509 *x, *again, *renewed;
	char *s1, *s2;
	GENERAL_NAMES *g;

	post(f, "simpleenroll", auth, "application/pkcs10", body, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.issued, 1);
	assert_string_equal(resp.content_type,
	    "application/pkcs7-mime; smime-type=certs-only");
	x = answer_cert(&resp);
	free(resp.body);
	/* The CSR asked for a subset of the token's SANs: it gets that. */
	g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(g), 1);
	GENERAL_NAMES_free(g);
	assert_true(mtls_key_matches_cert(f->base.key, x));
	/* Same key again: the same certificate, nothing new recorded. */
	post(f, "simpleenroll", auth, "application/pkcs10", body, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.issued, 0);
	again = answer_cert(&resp);
	free(resp.body);
	assert_int_equal(X509_cmp(x, again), 0);
	/* Another key: refused, the first stays the only one. */
	post(f, "simpleenroll", auth, "application/pkcs10", body2, NULL, 0, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, "already used"));
	free(resp.body);
	assert_int_equal(test_inventory_rows(f->base.ca, "n1"), 1);

	/* Re-enrollment: no certificate, a bad one, other SANs. */
	post(f, "simplereenroll", NULL, "application/pkcs10", body2, NULL, 0, &resp);
	assert_int_equal(resp.status, 403);
	free(resp.body);
	post(f, "simplereenroll", NULL, "application/pkcs10", body2, x,
	    X509_V_ERR_CERT_HAS_EXPIRED, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, "expired"));
	free(resp.body);
	post(f, "simplereenroll", NULL, "application/pkcs10", body_san, x, 0, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, "SANs"));
	free(resp.body);
	/* A good one: new key, same identity, the old one superseded. */
	post(f, "simplereenroll", NULL, "application/pkcs10", body2, x, 0, &resp);
	assert_int_equal(resp.status, 200);
	renewed = answer_cert(&resp);
	free(resp.body);
	assert_true(mtls_key_matches_cert(k2, renewed));
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_subject_name(renewed)), 0);
	s1 = mtls_cert_serial_hex(x);
	s2 = mtls_cert_serial_hex(renewed);
	assert_string_not_equal(s1, s2);
	/* The superseded one cannot fork a second identity ... */
	post(f, "simplereenroll", NULL, "application/pkcs10", body3, x, 0, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, s2));
	free(resp.body);
	/* ... but a retry of the lost answer gets it again. */
	post(f, "simplereenroll", NULL, "application/pkcs10", body2, x, 0, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.issued, 0);
	free(resp.body);
	/* Revoked: refused. */
	assert_int_equal(mtls_ca_revoke(f->base.ca, s2, 1, 0, NULL), 0);
	post(f, "simplereenroll", NULL, "application/pkcs10", body3, renewed, 0, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, "revoked"));
	free(resp.body);
	assert_int_equal(test_inventory_rows(f->base.ca, "n1"), 2);
	OPENSSL_free(s1);
	OPENSSL_free(s2);
	X509_free(x);
	X509_free(again);
	X509_free(renewed);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	free(auth);
	free(body);
	free(body2);
	free(body3);
	free(body_san);
	mtls_pass_free(secret);
}

/* A certificate from another CA with the same serial format is not ours. */
static void
test_reenroll_foreign_cert(void **state)
{
	struct fx *f = *state;
	char *dir = test_tmpdir();
	struct mtls_ca *other = test_ca_new(dir, MTLS_KEY_EC_P256, 0, "CN=Other");
	X509 *x = test_sign(other, "n1", MTLS_PROFILE_NODE, "dns:n1", f->base.key, 1, 0);
	char *body = csr_b64(f->base.key, "CN=n1", NULL);
	struct est_resp resp;

	post(f, "simplereenroll", NULL, "application/pkcs10", body, x, 0, &resp);
	assert_int_equal(resp.status, 403);
	assert_non_null(strstr(resp.body, "not in this CA's inventory"));
	free(resp.body);
	free(body);
	X509_free(x);
	mtls_ca_free(other);
	test_rmrf(dir);
	free(dir);
}

static int
count_cb(const struct mtls_inv_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Certificates named NAME as another process sees them (committed only). */
static int
committed(struct fx *f, const char *name)
{
	struct mtls_err e;
	struct mtls_ca *other = mtls_ca_open(f->base.dir, &e);
	int n = 0;

	assert_non_null(other);
	assert_int_equal(mtls_ca_list(other, name, count_cb, &n, &e), 0);
	mtls_ca_free(other);
	return n;
}

static int
audit_has(const struct mtls_audit_event *e, void *arg)
{
	const char **want = arg;

	/* ARG points to the reason looked for; found, it becomes "". */
	if (e->reason != NULL && **want != '\0' &&
	    strcmp(e->reason, *want) == 0) {
		*want = "";
	}
	return 0;
}

static void
flush_cb(void *arg)
{
	struct fx *f = arg;
	struct mtls_err e;

	assert_int_equal(mtls__ca_group_commit(f->base.ca, 0, &e), 0);
}

/* Group commit: enrollments share one transaction; none is durable (so
 * none may be answered) before the commit, a refusal among them undoes
 * only its own part, and another writer commits the group first. */
static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	char *s1 = token(f, "g1", "dns:g1"), *s2 = token(f, "g2", "dns:g2");
	char *s3 = token(f, "g3", "dns:g3");
	char *a1 = basic("g1", s1), *a2 = basic("g2", s2), *a3 = basic("g3", s3);
	EVP_PKEY *k2 = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	EVP_PKEY *k3 = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	char *b1 = csr_b64(f->base.key, "CN=g1", "DNS:g1");
	char *b2 = csr_b64(k2, "CN=g2", "DNS:other");
	char *b3 = csr_b64(k3, "CN=g3", NULL);
	struct mtls_audit_event ev;
	struct est_resp resp;
	struct mtls_err e;
	char marker[] = "undone by its savepoint";
	const char *want = marker;

	f->est.group = 1;
	mtls__ca_group_init(f->base.ca, flush_cb, f);
	post(f, "simpleenroll", a1, "application/pkcs10", b1, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.issued, 1);
	free(resp.body);
	/* Signed and recorded, but not durable: it must not be answered. */
	assert_int_equal(mtls__ca_group_open(f->base.ca), 1);
	assert_int_equal(committed(f, "g1"), 0);
	post(f, "simpleenroll", a2, "application/pkcs10", b2, NULL, 0, &resp);
	assert_int_equal(resp.status, 403);
	free(resp.body);
	post(f, "simpleenroll", a3, "application/pkcs10", b3, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	free(resp.body);
	/* A request's writes undone leave the others' in the group. */
	memset(&ev, 0, sizeof(ev));
	ev.action = "unit";
	ev.outcome = "refused";
	ev.reason = marker;
	assert_int_equal(mtls__ca_group_join(f->base.ca, 100, &e), 0);
	assert_int_equal(mtls__audit_add(f->base.ca, &ev, &e), 0);
	assert_int_equal(mtls__ca_group_leave(f->base.ca, 0, &e), 0);
	/* Another writer: the group is committed (by the server's flush)
	 * before its transaction starts. */
	assert_int_equal(mtls_ca_begin(f->base.ca, &e), 0);
	mtls_ca_rollback(f->base.ca);
	assert_int_equal(mtls__ca_group_open(f->base.ca), 0);
	assert_int_equal(committed(f, "g1"), 1);
	assert_int_equal(committed(f, "g2"), 0);
	assert_int_equal(committed(f, "g3"), 1);
	assert_int_equal(mtls_audit_list(f->base.ca, 0, audit_has, &want, &e), 0);
	assert_ptr_equal(want, marker);
	mtls__ca_group_init(f->base.ca, NULL, NULL);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	free(b1);
	free(b2);
	free(b3);
	free(a1);
	free(a2);
	free(a3);
	mtls_pass_free(s1);
	mtls_pass_free(s2);
	mtls_pass_free(s3);
}

/* A server killed before its group commit recorded nothing: the token is
 * unused and the client's retry enrolls. */
static void
test_group_lost(void **state)
{
	struct fx *f = *state;
	char *s1 = token(f, "h1", "dns:h1");
	char *a1 = basic("h1", s1);
	char *b1 = csr_b64(f->base.key, "CN=h1", NULL);
	struct est_resp resp;
	struct mtls_err e;

	f->est.group = 1;
	post(f, "simpleenroll", a1, "application/pkcs10", b1, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	free(resp.body);
	mtls_ca_rollback(f->base.ca); /* what a kill leaves: no commit */
	assert_int_equal(committed(f, "h1"), 0);
	f->base.ca->group_open = 0;
	post(f, "simpleenroll", a1, "application/pkcs10", b1, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.issued, 1);
	free(resp.body);
	assert_int_equal(mtls__ca_group_commit(f->base.ca, 0, &e), 0);
	assert_int_equal(committed(f, "h1"), 1);
	free(b1);
	free(a1);
	mtls_pass_free(s1);
}

static void
test_b64_decode_table(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
	} rows[] = {
	    {"aGVsbG8=", "hello"},
	    {"aGVs\nbG8=\n", "hello"},
	    {"aGVs\r\nbG8=", "hello"},
	    {"", NULL},
	    {"!!!!", NULL},
	    {"aGVsbG8", NULL}, /* truncated */
	};
	size_t i, n;
	unsigned char *d;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = 0;
		d = mtls__est_b64_decode((const unsigned char *)rows[i].in,
		    strlen(rows[i].in), &n);
		if (rows[i].out == NULL) {
			assert_null(d);
			continue;
		}
		assert_non_null(d);
		assert_int_equal(n, strlen(rows[i].out));
		assert_memory_equal(d, rows[i].out, n);
		free(d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_gets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_once_then_reenroll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reenroll_foreign_cert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_lost, setup, teardown),
	    cmocka_unit_test(test_b64_decode_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
