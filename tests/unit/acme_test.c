/* ACME server (RFC 8555) without transport: a table of JWS requests that
 * must be refused with the RFC's problem type (6.2, 6.4, 6.5, 6.7), then
 * the account, order, challenge, finalize, download, revoke and key change
 * flows with their refusals; nothing issued on any refusal. Clients sign
 * here with OpenSSL: ES256, EdDSA and RS256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/acme_store.h"
#include "mtls/acme.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "online/acme_int.h"
#include "test_pki.h"
#include "test_util.h"

#define BASE "https://ca.test:8443"

struct fx {
	struct test_ca_fx ca;
	struct mtls__acme a;
	struct mtls__acme_check last;   /* the last validation asked for */
	char authz[64], type[16], value[300], token[128], keyauth[200];
	int checks;
};

struct client {
	EVP_PKEY *key;
	const char *alg;
	json_t *jwk;
	char kid[320];
};

static void
record_check(void *arg, const struct mtls__acme_check *c)
{
	struct fx *f = arg;

	snprintf(f->authz, sizeof(f->authz), "%s", c->authz);
	snprintf(f->type, sizeof(f->type), "%s", c->type);
	snprintf(f->value, sizeof(f->value), "%s", c->id_value);
	snprintf(f->token, sizeof(f->token), "%s", c->token);
	snprintf(f->keyauth, sizeof(f->keyauth), "%s", c->keyauth);
	f->last = *c;
	f->last.authz = f->authz;
	f->last.type = f->type;
	f->last.id_value = f->value;
	f->last.token = f->token;
	f->last.keyauth = f->keyauth;
	f->last.id_type = NULL;
	f->checks++;
}

static int
setup_opts(void **state, int no_eab)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls__acme_opts o;
	struct mtls_err e;
	void *inner = NULL;

	assert_non_null(f);
	assert_int_equal(test_ca_fx_setup(&inner, "CN=ACME Unit CA"), 0);
	f->ca = *(struct test_ca_fx *)inner;
	free(inner);
	memset(&o, 0, sizeof(o));
	o.cert_lifetime = 3600;
	o.no_eab = no_eab;
	o.allow = "dns:*.ok.test,ip:10.0.0.0/8";
	assert_int_equal(mtls__acme_init(&f->a, f->ca.ca, &o, &e), 0);
	f->a.validate = record_check;
	f->a.validate_arg = f;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_opts(state, 1);
}

static int
setup_eab(void **state)
{
	return setup_opts(state, 0);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct test_ca_fx *c = malloc(sizeof(*c));

	mtls__acme_clear(&f->a);
	*c = f->ca;
	free(f);
	return test_ca_fx_teardown((void **)&c);
}

/* ---- a client ---- */

static char *
b64u(const unsigned char *d, size_t n)
{
	char *s = mtls__b64url_enc(d, n);

	assert_non_null(s);
	return s;
}

static json_t *
jwk_of(EVP_PKEY *k)
{
	unsigned char pub[200];
	size_t n = 0;
	char *x, *y;
	json_t *j;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(k);

		n = EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
		    POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL);
		assert_int_equal(n, 65);
		x = b64u(pub + 1, 32);
		y = b64u(pub + 33, 32);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
		    "x", x, "y", y);
		free(y);
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		n = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &n), 1);
		x = b64u(pub, n);
		j = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
	} else {
		BIGNUM *bn = NULL, *be = NULL;
		unsigned char nb[600], eb[8];
		int nl, el;
		char *e;

		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &be), 1);
		nl = BN_bn2bin(bn, nb);
		el = BN_bn2bin(be, eb);
		x = b64u(nb, (size_t)nl);
		e = b64u(eb, (size_t)el);
		j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", x, "e", e);
		free(e);
		BN_free(bn);
		BN_free(be);
	}
	free(x);
	return j;
}

static void
client_init(struct client *c, enum mtls_keytype kt)
{
	struct mtls_err e;

	memset(c, 0, sizeof(*c));
	c->key = mtls_key_generate(kt, &e);
	assert_non_null(c->key);
	c->alg = kt == MTLS_KEY_ED25519 ? "EdDSA" : kt == MTLS_KEY_EC_P256 ?
	    "ES256" : "RS256";
	c->jwk = jwk_of(c->key);
}

static void
client_free(struct client *c)
{
	EVP_PKEY_free(c->key);
	json_decref(c->jwk);
}

/* SIG over INPUT with KEY for ALG (ECDSA as R || S). */
static char *
sign_b64(EVP_PKEY *key, const char *alg, const char *input)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned char sig[1024], raw[64];
	size_t sl = sizeof(sig);
	const unsigned char *p = sig;
	ECDSA_SIG *es;
	const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : EVP_sha256();

	assert_int_equal(EVP_DigestSignInit(m, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &sl, (const unsigned char *)input,
	    strlen(input)), 1);
	EVP_MD_CTX_free(m);
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		return b64u(sig, sl);
	}
	es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
	assert_non_null(es);
	BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
	ECDSA_SIG_free(es);
	return b64u(raw, 64);
}

/* Ways to spoil a request, one per table row. */
enum spoil {
	OK, BAD_SIG, ALG_NONE, ALG_HS256, ALG_RS256, NO_NONCE, REPLAY, FORGED_NONCE,
	WRONG_URL, NO_URL, JWK_AND_KID, JWK_NOT_KID, UNKNOWN_KID, FOREIGN_KID,
	WRONG_TYPE, NOT_JSON, UNPROTECTED, PAYLOAD_NOT_B64, DUP_MEMBER,
};

struct req_out {
	int status;
	char type[96];
	json_t *body;
	char location[300];
	char nonce[40];
};

static void
out_clear(struct req_out *o)
{
	json_decref(o->body);
	memset(o, 0, sizeof(*o));
}

static void
run(struct fx *f, int post, const char *path, const char *ctype,
    const char *body, struct req_out *o)
{
	struct mtls__acme_req r;
	struct mtls__acme_resp resp;
	json_error_t je;
	const char *t;

	memset(&r, 0, sizeof(r));
	r.post = post;
	r.path = path;
	r.base = BASE;
	r.content_type = ctype;
	r.body = (const unsigned char *)(body ? body : "");
	r.len = body ? strlen(body) : 0;
	r.peer_addr = "192.0.2.1";
	mtls__acme_handle(&f->a, &r, &resp);
	memset(o, 0, sizeof(*o));
	o->status = resp.status;
	snprintf(o->nonce, sizeof(o->nonce), "%s", resp.nonce);
	snprintf(o->location, sizeof(o->location), "%s", resp.location ?
	    resp.location : "");
	o->body = resp.body && resp.content_type && strstr(resp.content_type,
	    "json") ? json_loadb(resp.body, resp.len, 0, &je) : NULL;
	if (o->body == NULL && resp.body != NULL) {
		o->body = json_stringn(resp.body, resp.len);
	}
	t = json_string_value(json_object_get(o->body, "type"));
	snprintf(o->type, sizeof(o->type), "%s", t && strlen(t) > 27 ? t + 27 : "");
	mtls__acme_resp_free(&resp);
}

static void
fresh_nonce(struct fx *f, char out[40])
{
	struct req_out o;

	run(f, 0, "new-nonce", NULL, NULL, &o);
	assert_int_equal(o.status, 204);
	snprintf(out, 40, "%s", o.nonce);
	out_clear(&o);
}

/* Signs PAYLOAD (NULL: POST-as-GET) for PATH as C (by jwk when BY_JWK or
 * C has no kid yet), spoiled as SP, and sends it. */
static void
post_as(struct fx *f, struct client *c, const char *path, json_t *payload,
    int by_jwk, enum spoil sp, struct req_out *o)
{
	char nonce[40], url[300], *ps, *pl, *hs, *input, *sig, *body;
	json_t *h = json_object(), *jws;
	static char used[40];
	size_t n;

	fresh_nonce(f, nonce);
	if (sp == REPLAY) {
		snprintf(nonce, sizeof(nonce), "%s", used);
	} else if (sp == FORGED_NONCE) {
		nonce[5] = nonce[5] == 'A' ? 'B' : 'A';
	}
	snprintf(used, sizeof(used), "%s", nonce);
	snprintf(url, sizeof(url), BASE "/acme/%s%s", path, sp == WRONG_URL ?
	    "x" : "");
	json_object_set_new(h, "alg", json_string(sp == ALG_NONE ? "none" :
	    sp == ALG_HS256 ? "HS256" : sp == ALG_RS256 ? "RS256" : c->alg));
	if (sp != NO_NONCE) {
		json_object_set_new(h, "nonce", json_string(nonce));
	}
	if (sp != NO_URL) {
		json_object_set_new(h, "url", json_string(url));
	}
	if (by_jwk || c->kid[0] == '\0' || sp == JWK_AND_KID || sp == JWK_NOT_KID) {
		json_object_set(h, "jwk", c->jwk);
	}
	if ((!by_jwk && c->kid[0] != '\0' && sp != JWK_NOT_KID) ||
	    sp == JWK_AND_KID || sp == UNKNOWN_KID || sp == FOREIGN_KID) {
		json_object_set_new(h, "kid", json_string(sp == UNKNOWN_KID ?
		    BASE "/acme/acct/00000000000000ff" : sp == FOREIGN_KID ?
		    "https://elsewhere.test/acme/acct/1" : c->kid));
	}
	hs = json_dumps(h, JSON_COMPACT);
	ps = b64u((const unsigned char *)hs, strlen(hs));
	pl = payload ? json_dumps(payload, JSON_COMPACT) : strdup("");
	free(hs);
	hs = b64u((const unsigned char *)pl, strlen(pl));
	if (sp == PAYLOAD_NOT_B64) {
		free(hs);
		hs = strdup("not+base64url=");
	}
	n = strlen(ps) + strlen(hs) + 2;
	input = malloc(n);
	snprintf(input, n, "%s.%s", ps, hs);
	sig = sign_b64(c->key, c->alg, input);
	if (sp == BAD_SIG) {
		sig[10] = sig[10] == 'A' ? 'B' : 'A';
	}
	jws = json_pack("{s:s, s:s, s:s}", "protected", ps, "payload", hs,
	    "signature", sig);
	if (sp == UNPROTECTED) {
		json_object_set_new(jws, "header", json_pack("{s:s}", "x", "y"));
	}
	body = json_dumps(jws, JSON_COMPACT);
	if (sp == NOT_JSON) {
		body[0] = '[';
	} else if (sp == DUP_MEMBER) {
		char *d = malloc(strlen(body) + 40);

		snprintf(d, strlen(body) + 40, "{\"payload\":\"\",%s", body + 1);
		free(body);
		body = d;
	}
	run(f, 1, path, sp == WRONG_TYPE ? "application/json" :
	    "application/jose+json", body, o);
	free(body);
	json_decref(jws);
	json_decref(h);
	free(sig);
	free(input);
	free(ps);
	free(pl);
	free(hs);
}

static void
post(struct fx *f, struct client *c, const char *path, json_t *payload,
    struct req_out *o)
{
	post_as(f, c, path, payload, 0, OK, o);
}

static void
new_account(struct fx *f, struct client *c)
{
	struct req_out o;
	json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);

	post(f, c, "new-account", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 201);
	snprintf(c->kid, sizeof(c->kid), "%s", o.location);
	out_clear(&o);
}

/* "order/ID" etc. from a URL of ours. */
static const char *
path_of(const char *url)
{
	const char *p = strstr(url, "/acme/");

	assert_non_null(p);
	return p + 6;
}

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

/* ---- orders, challenges, finalize, certificates ---- */

static json_t *
order_for(const char *type, const char *value)
{
	return json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", type,
	    "value", value);
}

/* Makes an order for dns:NAME; *ORDER gets its path, *CHALL the path of
 * its http-01 challenge. */
static void
make_order(struct fx *f, struct client *c, const char *name, char *order,
    char *chall)
{
	struct req_out o, a;
	json_t *p = order_for("dns", name), *az;

	post(f, c, "new-order", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 201);
	snprintf(order, 300, "%s", path_of(o.location));
	az = json_array_get(json_object_get(o.body, "authorizations"), 0);
	post(f, c, path_of(json_string_value(az)), NULL, &a);
	assert_int_equal(a.status, 200);
	snprintf(chall, 300, "%s", path_of(json_string_value(json_object_get(
	    json_array_get(json_object_get(a.body, "challenges"), 0), "url"))));
	out_clear(&a);
	out_clear(&o);
}

static const char *
status_of(struct fx *f, struct client *c, const char *path)
{
	static char st[32];
	struct req_out o;

	post(f, c, path, NULL, &o);
	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(o.body,
	    "status")) ? json_string_value(json_object_get(o.body, "status")) : "?");
	out_clear(&o);
	return st;
}

static void
finalize(struct fx *f, struct client *c, const char *order, EVP_PKEY *k,
    const char *subject, const char *sans, struct req_out *o)
{
	X509_REQ *r = test_csr(k, subject, sans, 0);
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(r, &der);
	char *b = b64u(der, (size_t)n), path[320];
	json_t *p = json_pack("{s:s}", "csr", b);

	snprintf(path, sizeof(path), "%s/finalize", order);
	post(f, c, path, p, o);
	json_decref(p);
	free(b);
	OPENSSL_free(der);
	X509_REQ_free(r);
}

static void
test_order_policy(void **state)
{
	struct fx *f = *state;
	struct client c;
	struct req_out o;
	json_t *p;
	size_t i;
	static const struct {
		const char *type, *value;
		int status;
		const char *problem;
	} rows[] = {
	    {"dns", "www.ok.test", 201, ""},
	    {"dns", "WWW.OK.TEST", 201, ""},
	    {"ip", "10.1.2.3", 201, ""},
	    {"dns", "www.other.test", 403, "rejectedIdentifier"},
	    {"ip", "192.0.2.1", 403, "rejectedIdentifier"},
	    {"dns", "*.ok.test", 400, "rejectedIdentifier"},
	    {"dns", "bad..ok.test", 400, "rejectedIdentifier"},
	    {"dns", "-a.ok.test", 400, "rejectedIdentifier"},
	    {"ip", "10.1.2", 400, "rejectedIdentifier"},
	    {"email", "a@ok.test", 400, "unsupportedIdentifier"},
	};

	client_init(&c, MTLS_KEY_EC_P256);
	new_account(f, &c);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		p = order_for(rows[i].type, rows[i].value);
		post(f, &c, "new-order", p, &o);
		json_decref(p);
		if (o.status != rows[i].status || strcmp(o.type, rows[i].problem) != 0) {
			fail_msg("%s:%s: got %d %s", rows[i].type, rows[i].value,
			    o.status, o.type);
		}
		out_clear(&o);
	}
	p = json_pack("{s:[], s:s}", "identifiers", "notAfter", "2030-01-01T00:00:00Z");
	post(f, &c, "new-order", p, &o);
	assert_int_equal(o.status, 400);
	json_decref(p);
	out_clear(&o);
	client_free(&c);
}

static void
test_order_flow(void **state)
{
	struct fx *f = *state;
	struct client c, other;
	struct req_out o;
	char order[300], chall[300], cert[300];
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	int rows = test_inventory_rows(f->ca.ca, NULL);
	json_t *p;
	X509 *x;
	char *b;
	unsigned char *der = NULL;
	int n;

	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&other, MTLS_KEY_EC_P256);
	new_account(f, &c);
	new_account(f, &other);

	/* A failed challenge makes the authorization and order invalid. */
	make_order(f, &c, "a.ok.test", order, chall);
	finalize(f, &c, order, k, "CN=a.ok.test", "DNS:a.ok.test", &o);
	assert_int_equal(o.status, 403);
	assert_string_equal(o.type, "orderNotReady");
	out_clear(&o);
	p = json_object();
	post(f, &c, chall, p, &o);
	assert_int_equal(o.status, 200);
	assert_int_equal(f->checks, 1);
	assert_string_equal(f->last.type, "http-01");
	assert_string_equal(f->last.id_value, "a.ok.test");
	assert_non_null(strstr(f->last.keyauth, f->last.token));
	out_clear(&o);
	mtls__acme_check_done(&f->a, f->authz, f->last.index, 0, "connection",
	    "refused");
	assert_string_equal(status_of(f, &c, order), "invalid");

	/* Another account sees none of it. */
	post(f, &other, order, NULL, &o);
	assert_int_equal(o.status, 403);
	out_clear(&o);

	/* A passed challenge makes it ready; finalize with other names is a
	 * badCSR and issues nothing. */
	make_order(f, &c, "b.ok.test", order, chall);
	post(f, &c, chall, p, &o);
	out_clear(&o);
	mtls__acme_check_done(&f->a, f->authz, f->last.index, 1, NULL, "ok");
	assert_string_equal(status_of(f, &c, order), "ready");
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test,DNS:c.ok.test", &o);
	assert_string_equal(o.type, "badCSR");
	out_clear(&o);
	finalize(f, &c, order, k, "CN=evil.test", "DNS:b.ok.test", &o);
	assert_string_equal(o.type, "badCSR");
	out_clear(&o);
	assert_int_equal(test_inventory_rows(f->ca.ca, NULL), rows);
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test", &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(json_string_value(json_object_get(o.body, "status")),
	    "valid");
	snprintf(cert, sizeof(cert), "%s", path_of(json_string_value(
	    json_object_get(o.body, "certificate"))));
	out_clear(&o);
	assert_int_equal(test_inventory_rows(f->ca.ca, NULL), rows + 1);
	/* Finalizing twice issues nothing more. */
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test", &o);
	assert_string_equal(o.type, "orderNotReady");
	out_clear(&o);

	/* Download: the leaf then the CA; the other account cannot. */
	post(f, &other, cert, NULL, &o);
	assert_int_equal(o.status, 404);
	out_clear(&o);
	post(f, &c, cert, NULL, &o);
	assert_int_equal(o.status, 200);
	assert_non_null(strstr(json_string_value(o.body), "BEGIN CERTIFICATE"));
	{
		BIO *bio = BIO_new_mem_buf(json_string_value(o.body), -1);

		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	out_clear(&o);
	assert_non_null(x);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);

	/* Revocation: not by another account; by the certificate's key; not
	 * twice; not with a reason subscribers may not give. */
	n = i2d_X509(x, &der);
	b = b64u(der, (size_t)n);
	json_decref(p); /* the empty challenge answer */
	p = json_pack("{s:s, s:i}", "certificate", b, "reason", 6);
	post(f, &c, "revoke-cert", p, &o);
	assert_string_equal(o.type, "badRevocationReason");
	out_clear(&o);
	json_object_set_new(p, "reason", json_integer(1));
	post(f, &other, "revoke-cert", p, &o);
	assert_int_equal(o.status, 403);
	out_clear(&o);
	{
		struct client ck;

		memset(&ck, 0, sizeof(ck));
		ck.key = k;
		ck.alg = "ES256";
		ck.jwk = jwk_of(k);
		post_as(f, &ck, "revoke-cert", p, 1, OK, &o);
		assert_int_equal(o.status, 200);
		out_clear(&o);
		post_as(f, &ck, "revoke-cert", p, 1, OK, &o);
		assert_string_equal(o.type, "alreadyRevoked");
		out_clear(&o);
		json_decref(ck.jwk);
	}
	json_decref(p);
	free(b);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
	client_free(&c);
	client_free(&other);
}

/* ---- key change (7.3.5) and deactivation (7.3.6) ---- */

static void
test_key_change_and_deactivate(void **state)
{
	struct fx *f = *state;
	struct client c, n;
	struct req_out o;
	json_t *inner, *h, *pl, *st;
	char *hs, *ps, *pls, *input, *sig, url[] = BASE "/acme/key-change";
	size_t len;

	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&n, MTLS_KEY_ED25519);
	new_account(f, &c);
	h = json_pack("{s:s, s:O, s:s}", "alg", n.alg, "jwk", n.jwk, "url", url);
	pl = json_pack("{s:s, s:O}", "account", c.kid, "oldKey", c.jwk);
	hs = json_dumps(h, JSON_COMPACT);
	ps = b64u((const unsigned char *)hs, strlen(hs));
	free(hs);
	hs = json_dumps(pl, JSON_COMPACT);
	pls = b64u((const unsigned char *)hs, strlen(hs));
	len = strlen(ps) + strlen(pls) + 2;
	input = malloc(len);
	snprintf(input, len, "%s.%s", ps, pls);
	sig = sign_b64(n.key, n.alg, input);
	inner = json_pack("{s:s, s:s, s:s}", "protected", ps, "payload", pls,
	    "signature", sig);
	post(f, &c, "key-change", inner, &o);
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
	json_decref(pl);
	pl = order_for("dns", "x.ok.test");
	post(f, &n, "new-order", pl, &o);
	assert_int_equal(o.status, 401);
	out_clear(&o);
	json_decref(pl);
	json_decref(inner);
	json_decref(h);
	free(hs);
	free(ps);
	free(pls);
	free(input);
	free(sig);
	client_free(&c);
	client_free(&n);
}

/* ---- pieces ---- */

static void
test_nonces_and_b64url(void **state)
{
	struct mtls__nonces *n = malloc(sizeof(*n));
	struct mtls_err e;
	char a[40], b[40];
	size_t len;
	unsigned char *d;

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
	    cmocka_unit_test_setup_teardown(test_order_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_flow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_change_and_deactivate, setup,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
