/* see acme_int.h: JWS as RFC 8555 section 6.2 allows it, JWK keys and
 * thumbprints, and the server's nonces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "online/acme_int.h"

/* ---- base64url ---- */

char *
mtls__b64url_enc(const unsigned char *in, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(n / 3 * 4 + 5);
	size_t i, o = 0;
	unsigned v;

	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
	}
	out[o] = '\0';
	return out;
}

static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

unsigned char *
mtls__b64url_dec(const char *in, size_t n, size_t *out_len)
{
	unsigned char *out;
	size_t i, o = 0;
	unsigned v = 0;
	int bits = 0, d;

	/* One leftover character cannot carry a whole byte. */
	if (n % 4 == 1) {
		return NULL;
	}
	out = malloc(n / 4 * 3 + 3);
	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		d = b64url_val((unsigned char)in[i]);
		if (d < 0) {
			free(out);
			return NULL;
		}
		v = (v << 6 | (unsigned)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* The unused low bits must be zero: one encoding per value. */
	if (bits > 0 && (v & ((1u << bits) - 1)) != 0) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* ---- JWK ---- */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Member K of JWK, base64url-decoded; exactly WANT bytes unless 0. */
static unsigned char *
jwk_bytes(const json_t *jwk, const char *k, size_t want, size_t *len,
    struct mtls_err *err)
{
	const char *s = jstr(jwk, k);
	unsigned char *b;

	if (s == NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: no '%s'", k);
		return NULL;
	}
	b = mtls__b64url_dec(s, strlen(s), len);
	if (b == NULL || (want != 0 && *len != want) || *len == 0) {
		free(b);
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: '%s' is not base64url of "
		    "the right length", k);
		return NULL;
	}
	return b;
}

static EVP_PKEY *
from_params(const char *type, OSSL_PARAM_BLD *bld, struct mtls_err *err)
{
	OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *k = NULL;

	if (p == NULL || c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) != 1) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "jwk: not a usable %s public key",
		    type);
		k = NULL;
	}
	OSSL_PARAM_free(p);
	EVP_PKEY_CTX_free(c);
	return k;
}

static EVP_PKEY *
ec_key(const json_t *jwk, struct mtls_err *err)
{
	const char *crv = jstr(jwk, "crv");
	const char *group;
	unsigned char *x = NULL, *y = NULL, pt[1 + 2 * 48];
	size_t n, xl, yl;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *k = NULL;

	if (crv != NULL && strcmp(crv, "P-256") == 0) {
		group = "P-256";
		n = 32;
	} else if (crv != NULL && strcmp(crv, "P-384") == 0) {
		group = "P-384";
		n = 48;
	} else {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: EC curve '%s' is not "
		    "supported (P-256, P-384)", crv ? crv : "");
		return NULL;
	}
	x = jwk_bytes(jwk, "x", n, &xl, err);
	y = x != NULL ? jwk_bytes(jwk, "y", n, &yl, err) : NULL;
	if (y == NULL) {
		goto out;
	}
	pt[0] = 4;
	memcpy(pt + 1, x, n);
	memcpy(pt + 1 + n, y, n);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
		1 + 2 * n) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	k = from_params("EC", bld, err);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return k;
}

static EVP_PKEY *
rsa_key(const json_t *jwk, struct mtls_err *err)
{
	unsigned char *nb = NULL, *eb = NULL;
	size_t nl, el;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *k = NULL;

	nb = jwk_bytes(jwk, "n", 0, &nl, err);
	eb = nb != NULL ? jwk_bytes(jwk, "e", 0, &el, err) : NULL;
	if (eb == NULL) {
		goto out;
	}
	n = BN_bin2bn(nb, (int)nl, NULL);
	e = BN_bin2bn(eb, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (n == NULL || e == NULL || bld == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (BN_num_bits(n) < 2048 || BN_num_bits(n) > 8192 || !BN_is_odd(e) ||
	    BN_is_one(e)) {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: RSA keys need 2048 to 8192 "
		    "bits and an odd exponent (this one: %d bits)", BN_num_bits(n));
		goto out;
	}
	k = from_params("RSA", bld, err);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return k;
}

static EVP_PKEY *
okp_key(const json_t *jwk, struct mtls_err *err)
{
	const char *crv = jstr(jwk, "crv");
	unsigned char *x;
	size_t xl;
	EVP_PKEY *k;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: OKP curve '%s' is not "
		    "supported (Ed25519)", crv ? crv : "");
		return NULL;
	}
	x = jwk_bytes(jwk, "x", 32, &xl, err);
	if (x == NULL) {
		return NULL;
	}
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
	free(x);
	if (k == NULL) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "jwk: not an Ed25519 key");
	}
	return k;
}

int
mtls__jwk_thumbprint(const json_t *jwk, char thumb[48], struct mtls_err *err)
{
	const char *kty = jstr(jwk, "kty");
	char buf[4096];
	unsigned char md[32];
	unsigned int mdl = 0;
	char *t;
	int n;

	/* RFC 7638 3.2: the required members only, in lexical order, no
	 * whitespace. The values are base64url and curve names, so they
	 * need no JSON escaping; anything else is refused below. */
	if (kty == NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "jwk: no 'kty'");
	}
	if (strcmp(kty, "EC") == 0) {
		n = snprintf(buf, sizeof(buf), "{\"crv\":\"%s\",\"kty\":\"EC\","
		    "\"x\":\"%s\",\"y\":\"%s\"}", jstr(jwk, "crv") ? jstr(jwk, "crv")
		    : "", jstr(jwk, "x") ? jstr(jwk, "x") : "", jstr(jwk, "y") ?
		    jstr(jwk, "y") : "");
	} else if (strcmp(kty, "RSA") == 0) {
		n = snprintf(buf, sizeof(buf), "{\"e\":\"%s\",\"kty\":\"RSA\","
		    "\"n\":\"%s\"}", jstr(jwk, "e") ? jstr(jwk, "e") : "",
		    jstr(jwk, "n") ? jstr(jwk, "n") : "");
	} else if (strcmp(kty, "OKP") == 0) {
		n = snprintf(buf, sizeof(buf), "{\"crv\":\"%s\",\"kty\":\"OKP\","
		    "\"x\":\"%s\"}", jstr(jwk, "crv") ? jstr(jwk, "crv") : "",
		    jstr(jwk, "x") ? jstr(jwk, "x") : "");
	} else {
		return mtls_err_set(err, MTLS_E_FORMAT, "jwk: key type '%s' is not "
		    "supported (EC, RSA, OKP)", kty);
	}
	if (n < 0 || (size_t)n >= sizeof(buf) || strpbrk(buf + 1, "\\") != NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "jwk: members too long or "
		    "not base64url");
	}
	if (EVP_Digest(buf, (size_t)n, md, &mdl, EVP_sha256(), NULL) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "SHA-256");
	}
	t = mtls__b64url_enc(md, sizeof(md));
	if (t == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	snprintf(thumb, 48, "%s", t);
	free(t);
	return 0;
}

EVP_PKEY *
mtls__jwk_key(const json_t *jwk, char thumb[48], struct mtls_err *err)
{
	const char *kty = jstr(jwk, "kty");
	EVP_PKEY *k = NULL;

	if (!json_is_object(jwk) || kty == NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: not a JSON object with a "
		    "'kty'");
		return NULL;
	}
	if (json_object_get(jwk, "d") != NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: holds a private key; send "
		    "the public key only");
		return NULL;
	}
	if (strcmp(kty, "EC") == 0) {
		k = ec_key(jwk, err);
	} else if (strcmp(kty, "RSA") == 0) {
		k = rsa_key(jwk, err);
	} else if (strcmp(kty, "OKP") == 0) {
		k = okp_key(jwk, err);
	} else {
		mtls_err_set(err, MTLS_E_FORMAT, "jwk: key type '%s' is not "
		    "supported (EC, RSA, OKP)", kty);
	}
	ERR_clear_error();
	if (k != NULL && mtls__jwk_thumbprint(jwk, thumb, err) != 0) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* ---- JWS ---- */

void
mtls__jws_clear(struct mtls__jws *j)
{
	json_decref(j->hdr);
	free(j->payload);
	free(j->signing_input);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

static int
bad(struct mtls__jws *j, const char *problem, struct mtls_err *err,
    const char *msg)
{
	j->problem = problem;
	return mtls_err_set(err, MTLS_E_FORMAT, "%s", msg);
}

static int
alg_known(const char *alg, int mac)
{
	/* HMAC is for the external account binding only: an account key that
	 * is a shared secret would let the server forge its requests. */
	static const char *const sig[] = {"ES256", "ES384", "RS256", "EdDSA"};
	size_t i;

	if (mac) {
		return strcmp(alg, "HS256") == 0;
	}
	for (i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
		if (strcmp(alg, sig[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static int
check_header(struct mtls__jws *j, int kind, struct mtls_err *err)
{
	int mac = kind == MTLS__JWS_EAB;
	json_t *v;

	if (!json_is_object(j->hdr)) {
		return bad(j, "malformed", err, "the JWS protected header is not a "
		    "JSON object");
	}
	j->alg = jstr(j->hdr, "alg");
	j->nonce = jstr(j->hdr, "nonce");
	j->url = jstr(j->hdr, "url");
	j->kid = jstr(j->hdr, "kid");
	v = json_object_get(j->hdr, "jwk");
	j->jwk = json_is_object(v) ? v : NULL;
	if (j->alg == NULL) {
		return bad(j, "malformed", err, "the JWS protected header has no "
		    "'alg'");
	}
	if (!alg_known(j->alg, mac)) {
		j->problem = "badSignatureAlgorithm";
		return mtls_err_set(err, MTLS_E_FORMAT, "JWS algorithm '%.40s' is "
		    "not accepted here (%s)", j->alg, mac ? "HS256" :
		    "ES256, ES384, RS256, EdDSA");
	}
	if (json_object_get(j->hdr, "crit") != NULL) {
		return bad(j, "malformed", err, "the JWS protected header has "
		    "'crit', which ACME does not use");
	}
	if (j->url == NULL) {
		return bad(j, "malformed", err, "the JWS protected header has no "
		    "'url' (RFC 8555 6.4)");
	}
	if (mac) {
		/* RFC 8555 7.3.4: kid is the EAB key id, no nonce. */
		if (j->kid == NULL || j->nonce != NULL || v != NULL) {
			return bad(j, "malformed", err, "the external account "
			    "binding needs 'kid' and neither 'nonce' nor 'jwk'");
		}
		return 0;
	}
	if (kind == MTLS__JWS_INNER) {
		/* RFC 8555 7.3.5: the new key signs, by jwk, without a nonce. */
		if (j->jwk == NULL || j->kid != NULL || j->nonce != NULL) {
			return bad(j, "malformed", err, "the inner JWS of a key "
			    "change needs 'jwk' and neither 'kid' nor 'nonce'");
		}
		return 0;
	}
	if (j->nonce == NULL) {
		j->problem = "badNonce";
		return mtls_err_set(err, MTLS_E_FORMAT, "the JWS protected header "
		    "has no 'nonce' (RFC 8555 6.5)");
	}
	if ((j->kid != NULL) == (v != NULL) || (v != NULL && j->jwk == NULL)) {
		return bad(j, "malformed", err, "the JWS protected header needs "
		    "exactly one of 'jwk' and 'kid' (RFC 8555 6.2)");
	}
	return 0;
}

int
mtls__jws_parse_json(const json_t *obj, int kind, struct mtls__jws *j,
    struct mtls_err *err)
{
	const char *prot, *pay, *sig;
	unsigned char *h = NULL;
	size_t hl = 0, sl;
	json_error_t je;

	memset(j, 0, sizeof(*j));
	if (!json_is_object(obj)) {
		return bad(j, "malformed", err, "the request is not a JSON object "
		    "(a flattened JWS, RFC 8555 6.2)");
	}
	prot = jstr(obj, "protected");
	pay = jstr(obj, "payload");
	sig = jstr(obj, "signature");
	if (prot == NULL || pay == NULL || sig == NULL) {
		return bad(j, "malformed", err, "the JWS needs 'protected', "
		    "'payload' and 'signature' strings (flattened JSON "
		    "serialization)");
	}
	if (json_object_get(obj, "header") != NULL ||
	    json_object_get(obj, "signatures") != NULL) {
		return bad(j, "malformed", err, "the JWS must have exactly one "
		    "signature and no unprotected header (RFC 8555 6.2)");
	}
	h = mtls__b64url_dec(prot, strlen(prot), &hl);
	j->payload = mtls__b64url_dec(pay, strlen(pay), &j->payload_len);
	j->sig = mtls__b64url_dec(sig, strlen(sig), &j->sig_len);
	if (h == NULL || j->payload == NULL || j->sig == NULL) {
		free(h);
		return bad(j, "malformed", err, "the JWS has a part that is not "
		    "base64url");
	}
	j->hdr = json_loadb((const char *)h, hl, JSON_REJECT_DUPLICATES, &je);
	free(h);
	if (j->hdr == NULL) {
		return bad(j, "malformed", err, "the JWS protected header is not "
		    "JSON");
	}
	sl = strlen(prot) + 1 + strlen(pay);
	j->signing_input = malloc(sl + 1);
	if (j->signing_input == NULL) {
		return bad(j, "serverInternal", err, "out of memory");
	}
	snprintf(j->signing_input, sl + 1, "%s.%s", prot, pay);
	return check_header(j, kind, err);
}

int
mtls__jws_parse(const unsigned char *body, size_t len, struct mtls__jws *j,
    struct mtls_err *err)
{
	json_error_t je;
	json_t *obj;
	int rc;

	memset(j, 0, sizeof(*j));
	obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (obj == NULL) {
		j->problem = "malformed";
		return mtls_err_set(err, MTLS_E_FORMAT, "the request body is not "
		    "JSON: %.80s (line %d)", je.text, je.line);
	}
	rc = mtls__jws_parse_json(obj, MTLS__JWS_OUTER, j, err);
	json_decref(obj);
	return rc;
}

/* JWS ECDSA signatures are R || S (RFC 7518 3.4); OpenSSL wants DER. */
static unsigned char *
ecdsa_der(const unsigned char *sig, size_t len, size_t half, int *dlen)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
	BIGNUM *ss = BN_bin2bn(sig + half, (int)half, NULL);
	unsigned char *der = NULL;

	*dlen = 0;
	if (len != 2 * half || s == NULL || r == NULL || ss == NULL ||
	    ECDSA_SIG_set0(s, r, ss) != 1) {
		BN_free(r);
		BN_free(ss);
		ECDSA_SIG_free(s);
		return NULL;
	}
	*dlen = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	return *dlen > 0 ? der : NULL;
}

int
mtls__jws_verify(const struct mtls__jws *j, EVP_PKEY *key,
    struct mtls_err *err)
{
	const EVP_MD *md = NULL;
	EVP_MD_CTX *c = NULL;
	unsigned char *der = NULL;
	const unsigned char *sig = j->sig;
	size_t sl = j->sig_len;
	int dl = 0, ok = 0, want;

	if (strcmp(j->alg, "ES256") == 0 || strcmp(j->alg, "ES384") == 0) {
		want = j->alg[2] == '2' ? 256 : 384;
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
		    EVP_PKEY_get_bits(key) != want) {
			goto mismatch;
		}
		md = want == 256 ? EVP_sha256() : EVP_sha384();
		der = ecdsa_der(j->sig, j->sig_len, (size_t)want / 8, &dl);
		if (der == NULL) {
			return mtls_err_set(err, MTLS_E_VERIFY, "the JWS signature is "
			    "not an %s signature (R || S)", j->alg);
		}
		sig = der;
		sl = (size_t)dl;
	} else if (strcmp(j->alg, "RS256") == 0) {
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
			goto mismatch;
		}
		md = EVP_sha256();
	} else if (strcmp(j->alg, "EdDSA") == 0) {
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
			goto mismatch;
		}
	} else {
		goto mismatch;
	}
	c = EVP_MD_CTX_new();
	ok = c != NULL && EVP_DigestVerifyInit(c, NULL, md, NULL, key) == 1 &&
	    EVP_DigestVerify(c, sig, sl, (const unsigned char *)j->signing_input,
		strlen(j->signing_input)) == 1;
	EVP_MD_CTX_free(c);
	OPENSSL_free(der);
	ERR_clear_error();
	if (!ok) {
		return mtls_err_set(err, MTLS_E_VERIFY, "the JWS signature does "
		    "not verify with the account key");
	}
	return 0;
mismatch:
	return mtls_err_set(err, MTLS_E_VERIFY, "the JWS algorithm %s does not "
	    "suit the key (a %s key)", j->alg, OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
}

int
mtls__jws_verify_mac(const struct mtls__jws *j, const unsigned char *key,
    size_t klen, struct mtls_err *err)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;

	if (HMAC(EVP_sha256(), key, (int)klen,
		(const unsigned char *)j->signing_input, strlen(j->signing_input),
		mac, &ml) == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "HMAC-SHA256");
	}
	if (j->sig_len != ml || CRYPTO_memcmp(mac, j->sig, ml) != 0) {
		return mtls_err_set(err, MTLS_E_VERIFY, "the external account "
		    "binding's MAC is wrong (check the HMAC key given with the "
		    "key id)");
	}
	return 0;
}

/* ---- nonces ---- */

int
mtls__nonce_init(struct mtls__nonces *n, struct mtls_err *err)
{
	OSSL_PARAM p[2];
	EVP_MAC *hmac = NULL;

	memset(n, 0, sizeof(*n));
	if (RAND_bytes(n->key, sizeof(n->key)) != 1 ||
	    RAND_bytes((unsigned char *)&n->next, sizeof(n->next)) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot seed nonces");
	}
	n->next >>= 8; /* far from wrapping */
	/* Two MACs per request: keyed once here, not fetched and keyed on
	 * every call as the one-shot HMAC() does. */
	p[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_end();
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	n->mac = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	EVP_MAC_free(hmac);
	if (n->mac == NULL || EVP_MAC_init(n->mac, n->key, sizeof(n->key),
		p) != 1) {
		mtls__nonce_clear(n);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set up nonces");
	}
	return 0;
}

void
mtls__nonce_clear(struct mtls__nonces *n)
{
	EVP_MAC_CTX_free(n->mac);
	OPENSSL_cleanse(n, sizeof(*n));
}

/* 16 bytes of HMAC-SHA256(key, CTR) into OUT; -1 when OpenSSL fails. */
static int
nonce_mac(struct mtls__nonces *n, const unsigned char ctr[8],
    unsigned char out[16])
{
	unsigned char md[32];
	size_t ml = 0;

	/* A NULL key starts again with the key already set. */
	if (n->mac == NULL || EVP_MAC_init(n->mac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(n->mac, ctr, 8) != 1 ||
	    EVP_MAC_final(n->mac, md, &ml, sizeof(md)) != 1 || ml != 32) {
		ERR_clear_error();
		return -1;
	}
	memcpy(out, md, 16);
	return 0;
}

void
mtls__nonce_new(struct mtls__nonces *n, char out[40])
{
	unsigned char raw[24];
	unsigned long long c = n->next++;
	char *s;
	int i;

	for (i = 0; i < 8; i++) {
		raw[i] = (unsigned char)(c >> (56 - 8 * i));
	}
	if (nonce_mac(n, raw, raw + 8) != 0) {
		memset(raw + 8, 0, 16);         /* a nonce nobody can redeem */
	}
	/* Clear the slot this counter will use when it is redeemed. */
	n->used[(c % MTLS__NONCE_WINDOW) / 8] &= (unsigned char)~(1u << (c % 8));
	s = mtls__b64url_enc(raw, sizeof(raw));
	snprintf(out, 40, "%s", s != NULL ? s : "");
	free(s);
}

int
mtls__nonce_take(struct mtls__nonces *n, const char *s)
{
	unsigned char *raw, mac[16];
	unsigned long long c = 0;
	size_t len = 0, i;
	unsigned char bit;
	int ok;

	raw = mtls__b64url_dec(s, strlen(s), &len);
	if (raw == NULL || len != 24) {
		free(raw);
		return 0;
	}
	for (i = 0; i < 8; i++) {
		c = c << 8 | raw[i];
	}
	ok = nonce_mac(n, raw, mac) == 0 &&
	    CRYPTO_memcmp(mac, raw + 8, 16) == 0 && c < n->next &&
	    n->next - c <= MTLS__NONCE_WINDOW;
	free(raw);
	if (!ok) {
		return 0;
	}
	bit = (unsigned char)(1u << (c % 8));
	if (n->used[(c % MTLS__NONCE_WINDOW) / 8] & bit) {
		return 0;
	}
	n->used[(c % MTLS__NONCE_WINDOW) / 8] |= bit;
	return 1;
}
