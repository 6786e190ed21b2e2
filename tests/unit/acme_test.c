/* ACME server (RFC 8555) without transport: a table of JWS requests that
 * must be refused with the RFC's problem type (6.2, 6.4, 6.5, 6.7), the
 * directory and algorithms, External Account Binding, key change and
 * account deactivation; nothing issued on any refusal. The order flows
 * are in acme_order_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme_client.h"

/* ---- the JWS table ---- */

static const struct {
	const char *name;
	enum spoil sp;
	int status;
	const char *type;
} jws_rows[] = {
    {"a well-formed request", OK, 200, ""},
    {"its nonce again", REPLAY, 400, "badNonce"},
    {"a signature that does not verify", BAD_SIG, 401, "unauthorized"},
    {"alg none", ALG_NONE, 400, "badSignatureAlgorithm"},
    {"a MAC algorithm (HS256)", ALG_HS256, 400, "badSignatureAlgorithm"},
    {"an algorithm that does not suit the key", ALG_RS256, 401, "unauthorized"},
    {"no nonce", NO_NONCE, 400, "badNonce"},
    {"a nonce we never issued", FORGED_NONCE, 400, "badNonce"},
    {"a url other than the request's", WRONG_URL, 401, "unauthorized"},
    {"no url", NO_URL, 400, "malformed"},
    {"both jwk and kid", JWK_AND_KID, 400, "malformed"},
    {"jwk where kid is required", JWK_NOT_KID, 400, "malformed"},
    {"a kid of no account", UNKNOWN_KID, 400, "accountDoesNotExist"},
    {"a kid that is not our URL", FOREIGN_KID, 400, "accountDoesNotExist"},
    {"Content-Type application/json", WRONG_TYPE, 415, "malformed"},
    {"a body that is not a JWS object", NOT_JSON, 400, "malformed"},
    {"an unprotected header", UNPROTECTED, 400, "malformed"},
    {"a payload that is not base64url", PAYLOAD_NOT_B64, 400, "malformed"},
    {"a duplicated JSON member", DUP_MEMBER, 400, "malformed"},
};

static void
test_jws_table(void **state)
{
	struct fx *f = *state;
	struct client c;
	struct req_out o;
	char path[300];
	size_t i;

	client_init(&c, MTLS_KEY_EC_P256);
	new_account(f, &c);
	snprintf(path, sizeof(path), "%s", path_of(c.kid));
	for (i = 0; i < sizeof(jws_rows) / sizeof(jws_rows[0]); i++) {
		post_as(f, &c, path, NULL, 0, jws_rows[i].sp, &o);
		if (o.status != jws_rows[i].status ||
		    strcmp(o.type, jws_rows[i].type) != 0) {
			fail_msg("%s: got %d %s, want %d %s", jws_rows[i].name,
			    o.status, o.type, jws_rows[i].status, jws_rows[i].type);
		}
		/* 6.5: every answer, refusals too, carries a fresh nonce. */
		assert_true(strlen(o.nonce) > 20);
		out_clear(&o);
	}
	client_free(&c);
}

static void
test_algorithms_and_directory(void **state)
{
	struct fx *f = *state;
	enum mtls_keytype kts[] = {MTLS_KEY_EC_P256, MTLS_KEY_ED25519,
	    MTLS_KEY_RSA_2048};
	struct client c;
	struct req_out o;
	json_t *empty;
	size_t i;

	run(f, 0, "directory", NULL, NULL, &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(json_string_value(json_object_get(o.body, "newOrder")),
	    BASE "/acme/new-order");
	out_clear(&o);
	run(f, 1, "directory", "application/jose+json", "{}", &o);
	assert_int_equal(o.status, 405);
	out_clear(&o);
	for (i = 0; i < sizeof(kts) / sizeof(kts[0]); i++) {
		client_init(&c, kts[i]);
		new_account(f, &c);
		post(f, &c, path_of(c.kid), NULL, &o);
		assert_int_equal(o.status, 200);
		assert_string_equal(json_string_value(json_object_get(o.body,
		    "status")), "valid");
		out_clear(&o);
		/* The same key again: the same account, 200 (7.3.1). */
		empty = json_object();
		post_as(f, &c, "new-account", empty, 1, OK, &o);
		json_decref(empty);
		assert_int_equal(o.status, 200);
		assert_string_equal(o.location, c.kid);
		out_clear(&o);
		client_free(&c);
	}
}

/* ---- external account binding (7.3.4) ---- */

static json_t *
eab(struct client *c, const char *kid, const char *hmac_b64, const char *url)
{
	unsigned char key[64];
	size_t kl = 0;
	unsigned char *k = mtls__b64url_dec(hmac_b64, strlen(hmac_b64), &kl);
	char *hs, *ps, *pl, *input, *sig;
	unsigned char mac[32];
	unsigned int ml = 0;
	json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url",
	    url), *out;
	size_t n;

	assert_non_null(k);
	memcpy(key, k, kl);
	free(k);
	hs = json_dumps(h, JSON_COMPACT);
	ps = b64u((const unsigned char *)hs, strlen(hs));
	free(hs);
	hs = json_dumps(c->jwk, JSON_COMPACT);
	pl = b64u((const unsigned char *)hs, strlen(hs));
	n = strlen(ps) + strlen(pl) + 2;
	input = malloc(n);
	snprintf(input, n, "%s.%s", ps, pl);
	HMAC(EVP_sha256(), key, (int)kl, (unsigned char *)input, strlen(input),
	    mac, &ml);
	sig = b64u(mac, ml);
	out = json_pack("{s:s, s:s, s:s}", "protected", ps, "payload", pl,
	    "signature", sig);
	free(hs);
	free(ps);
	free(pl);
	free(input);
	free(sig);
	json_decref(h);
	return out;
}

static void
try_eab(struct fx *f, struct client *c, json_t *binding, int status,
    const char *type)
{
	struct req_out o;
	json_t *p = json_object();

	if (binding != NULL) {
		json_object_set_new(p, "externalAccountBinding", binding);
	}
	post_as(f, c, "new-account", p, 1, OK, &o);
	if (o.status != status || strcmp(o.type, type) != 0) {
		fail_msg("new-account: got %d %s, want %d %s", o.status, o.type,
		    status, type);
	}
	if (status == 201) {
		snprintf(c->kid, sizeof(c->kid), "%s", o.location);
	}
	json_decref(p);
	out_clear(&o);
}

static void
test_eab(void **state)
{
	struct fx *f = *state;
	struct client c, d;
	struct mtls_err e;
	char kid[MTLS_ACME_KID_LEN], *key = NULL, bad[64];
	const char *url = BASE "/acme/new-account";

	assert_int_equal(mtls_acme_eab_create(f->ca.ca, "web", "dns:*.ok.test",
	    kid, &key, &e), 0);
	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&d, MTLS_KEY_ED25519);
	try_eab(f, &c, NULL, 400, "externalAccountRequired");
	snprintf(bad, sizeof(bad), "%s", key);
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	try_eab(f, &c, eab(&c, kid, bad, url), 401, "unauthorized");
	try_eab(f, &c, eab(&c, "eab-00000000000000000000", key, url), 401,
	    "unauthorized");
	try_eab(f, &c, eab(&c, kid, key, BASE "/acme/new-order"), 400, "malformed");
	/* The binding must carry this account's key, not another. */
	try_eab(f, &c, eab(&d, kid, key, url), 400, "malformed");
	try_eab(f, &c, eab(&c, kid, key, url), 201, "");
	/* One account per key. */
	try_eab(f, &d, eab(&d, kid, key, url), 401, "unauthorized");
	/* Revoking the key deactivates nothing yet refuses new accounts. */
	assert_int_equal(mtls_acme_eab_revoke(f->ca.ca, kid, &e), 0);
	assert_int_equal(mtls_acme_eab_revoke(f->ca.ca, kid, &e), -1);
	mtls_pass_free(key);
	client_free(&c);
	client_free(&d);
}

/* ---- key change (7.3.5) and deactivation (7.3.6) ---- */

/* Posts C's key change to N's key (RFC 8555 7.3.5) into O. */
static void
change_key(struct fx *f, struct client *c, struct client *n,
    struct req_out *o)
{
	json_t *inner, *h, *pl;
	char *hs, *ps, *pls, *input, *sig, url[] = BASE "/acme/key-change";
	size_t len;

	h = json_pack("{s:s, s:O, s:s}", "alg", n->alg, "jwk", n->jwk, "url", url);
	pl = json_pack("{s:s, s:O}", "account", c->kid, "oldKey", c->jwk);
	hs = json_dumps(h, JSON_COMPACT);
	ps = b64u((const unsigned char *)hs, strlen(hs));
	free(hs);
	hs = json_dumps(pl, JSON_COMPACT);
	pls = b64u((const unsigned char *)hs, strlen(hs));
	len = strlen(ps) + strlen(pls) + 2;
	input = malloc(len);
	snprintf(input, len, "%s.%s", ps, pls);
	sig = sign_b64(n->key, n->alg, input);
	inner = json_pack("{s:s, s:s, s:s}", "protected", ps, "payload", pls,
	    "signature", sig);
	post(f, c, "key-change", inner, o);
	json_decref(inner);
	json_decref(h);
	json_decref(pl);
	free(hs);
	free(ps);
	free(pls);
	free(input);
	free(sig);
}

static void
test_key_change_and_deactivate(void **state)
{
	struct fx *f = *state;
	struct client c, n;
	struct req_out o;
	json_t *pl, *st;

	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&n, MTLS_KEY_ED25519);
	new_account(f, &c);
	post(f, &c, path_of(c.kid), NULL, &o);      /* its key now decoded */
	assert_int_equal(o.status, 200);
	out_clear(&o);
	change_key(f, &c, &n, &o);
	assert_int_equal(o.status, 200);
	out_clear(&o);
	/* The old key no longer signs for the account; the new one does. */
	post(f, &c, path_of(c.kid), NULL, &o);
	assert_int_equal(o.status, 401);
	out_clear(&o);
	snprintf(n.kid, sizeof(n.kid), "%s", c.kid);
	post(f, &n, path_of(n.kid), NULL, &o);
	assert_int_equal(o.status, 200);
	out_clear(&o);
	/* Deactivated, it can do nothing more. */
	st = json_pack("{s:s}", "status", "deactivated");
	post(f, &n, path_of(n.kid), st, &o);
	json_decref(st);
	assert_int_equal(o.status, 200);
	out_clear(&o);
	pl = order_for("dns", "x.ok.test");
	post(f, &n, "new-order", pl, &o);
	assert_int_equal(o.status, 401);
	out_clear(&o);
	json_decref(pl);
	client_free(&c);
	client_free(&n);
}

/* A server keeps accounts' keys decoded; when another server sharing the
 * inventory changes an account's key, this one must stop trusting the
 * old key it kept (the stored account names another thumbprint). */
static void
test_key_changed_elsewhere(void **state)
{
	struct fx *f = *state;
	struct mtls__acme here;
	struct client c, n;
	struct req_out o;
	struct mtls_err e;

	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&n, MTLS_KEY_EC_P256);
	new_account(f, &c);
	post(f, &c, path_of(c.kid), NULL, &o);      /* kept decoded here */
	assert_int_equal(o.status, 200);
	out_clear(&o);
	here = f->a;
	assert_int_equal(mtls__acme_init(&f->a, f->ca.ca, &here.o, &e), 0);
	change_key(f, &c, &n, &o);                  /* by the other server */
	assert_int_equal(o.status, 200);
	out_clear(&o);
	mtls__acme_clear(&f->a);
	f->a = here;
	post(f, &c, path_of(c.kid), NULL, &o);
	assert_int_equal(o.status, 401);
	out_clear(&o);
	snprintf(n.kid, sizeof(n.kid), "%s", c.kid);
	post(f, &n, path_of(n.kid), NULL, &o);
	assert_int_equal(o.status, 200);
	out_clear(&o);
	client_free(&c);
	client_free(&n);
}

/* ---- pieces ---- */

static void
test_nonces_and_b64url(void **state)
{
	struct mtls__nonces *n = malloc(sizeof(*n));
	struct mtls_err e;
	char a[40], b[40], *forged;
	size_t len;
	unsigned char *d, *da;

	(void)state;
	assert_int_equal(mtls__nonce_init(n, &e), 0);
	mtls__nonce_new(n, a);
	mtls__nonce_new(n, b);
	assert_string_not_equal(a, b);
	assert_int_equal(mtls__nonce_take(n, b), 1);
	assert_int_equal(mtls__nonce_take(n, b), 0);
	assert_int_equal(mtls__nonce_take(n, a), 1);
	assert_int_equal(mtls__nonce_take(n, ""), 0);
	assert_int_equal(mtls__nonce_take(n, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0);
	/* A counter we issued, unused and in the window, with another MAC;
	 * and a MAC of ours on another counter: only the MAC refuses them. */
	mtls__nonce_new(n, a);
	mtls__nonce_new(n, b);
	d = mtls__b64url_dec(b, strlen(b), &len);
	assert_non_null(d);
	assert_int_equal(len, 24);
	d[23] ^= 1;
	forged = mtls__b64url_enc(d, len);
	assert_int_equal(mtls__nonce_take(n, forged), 0);
	free(forged);
	d[23] ^= 1;
	da = mtls__b64url_dec(a, strlen(a), &len);
	assert_non_null(da);
	memcpy(d, da, 8);                           /* a's counter, b's MAC */
	free(da);
	forged = mtls__b64url_enc(d, 24);
	assert_int_equal(mtls__nonce_take(n, forged), 0);
	free(forged);
	free(d);
	assert_int_equal(mtls__nonce_take(n, a), 1);
	assert_int_equal(mtls__nonce_take(n, b), 1);
	mtls__nonce_clear(n);
	free(n);
	d = mtls__b64url_dec("aGk", 3, &len);
	assert_non_null(d);
	assert_memory_equal(d, "hi", 2);
	free(d);
	assert_null(mtls__b64url_dec("aGk=", 4, &len));
	assert_null(mtls__b64url_dec("aG+", 3, &len));
	assert_null(mtls__b64url_dec("aGl", 3, &len)); /* non-zero spare bits */
	assert_null(mtls__b64url_dec("a", 1, &len));
	assert_int_equal(mtls_acme_allow_match("dns:*.ok.test", "dns", "a.ok.test"), 1);
	assert_int_equal(mtls_acme_allow_match("dns:*.ok.test", "dns", "ok.test"), 0);
	assert_int_equal(mtls_acme_allow_match("ip:10.0.0.0/8", "ip", "10.9.9.9"), 1);
	assert_int_equal(mtls_acme_allow_match("ip:10.0.0.0/8", "ip", "11.0.0.1"), 0);
	assert_int_equal(mtls_acme_allow_match("ip:10.0.0.0/8", "dns", "10.0.0.1"), 0);
	assert_int_equal(mtls_acme_allow_check("dns:ok,ip:10.0.0.0/33", &e), -1);
	assert_int_equal(mtls_acme_allow_check("host:x", &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nonces_and_b64url),
	    cmocka_unit_test_setup_teardown(test_jws_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_algorithms_and_directory, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_eab, setup_eab, teardown),
	    cmocka_unit_test_setup_teardown(test_key_change_and_deactivate, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_key_changed_elsewhere, setup,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
