/* The ACME unit tests' fixture and client: a CA with the ACME server on
 * it, without transport, and a client that signs JWS requests with
 * OpenSSL (ES256, EdDSA, RS256), optionally spoiled one way per table row.
 * Shared by acme_test.c (JWS, accounts, key change) and acme_order_test.c
 * (orders, challenges, finalize, download, revocation). */
#ifndef MTLS_ACME_CLIENT_H
#define MTLS_ACME_CLIENT_H

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

static inline void
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

static inline int
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

static inline int
setup(void **state)
{
	return setup_opts(state, 1);
}

static inline int
setup_eab(void **state)
{
	return setup_opts(state, 0);
}

static inline int
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

static inline char *
b64u(const unsigned char *d, size_t n)
{
	char *s = mtls__b64url_enc(d, n);

	assert_non_null(s);
	return s;
}

static inline json_t *
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

static inline void
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

static inline void
client_free(struct client *c)
{
	EVP_PKEY_free(c->key);
	json_decref(c->jwk);
}

/* SIG over INPUT with KEY for ALG (ECDSA as R || S). */
static inline char *
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
	char link[300];         /* the Link rel="next", or "" */
	int retry_after;
};

static inline void
out_clear(struct req_out *o)
{
	json_decref(o->body);
	memset(o, 0, sizeof(*o));
}

static inline void
run(struct fx *f, int post, const char *path, const char *ctype,
    const char *body, struct req_out *o)
{
	struct mtls__acme_req r;
	struct mtls__acme_resp resp;
	json_error_t je;
	const char *t;
	int i;

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
	o->retry_after = resp.retry_after;
	for (t = NULL, i = 0; i < MTLS__ACME_HDRS; i++) {
		t = resp.links[i] && strstr(resp.links[i], "rel=\"next\"") ?
		    resp.links[i] : t;
	}
	snprintf(o->link, sizeof(o->link), "%s", t ? t : "");
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

static inline void
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
static inline void
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

static inline void
post(struct fx *f, struct client *c, const char *path, json_t *payload,
    struct req_out *o)
{
	post_as(f, c, path, payload, 0, OK, o);
}

static inline void
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

static inline json_t *
order_for(const char *type, const char *value)
{
	return json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", type,
	    "value", value);
}

#endif
