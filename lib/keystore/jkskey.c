/* JKS and JCEKS private-key protection: Sun's KeyProtector
 * (1.3.6.1.4.1.42.2.17.1.1) read and write, and Sun's
 * PBEWithMD5AndTripleDES (1.3.6.1.4.1.42.2.19.1) read. See store_int.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "mtls/store.h"
#include "base/internal.h"
#include "keystore/store_int.h"

#define SHA1_LEN 20
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define JCEKS_MAX_ITER 1000L /* keep fuzzing fast; real stores use 200000 */
#else
#define JCEKS_MAX_ITER 5000000L /* Java's own cap on read */
#endif

const unsigned char mtls__jks_kp_oid[10] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A,
    0x02, 0x11, 0x01, 0x01};
static const unsigned char jce_oid[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A,
    0x02, 0x13, 0x01};
#define kp_oid mtls__jks_kp_oid

/* ---- Sun KeyProtector -------------------------------------------------- */

/* E = salt(20) || P xor K || SHA1(pw || P), K = SHA1(pw || d_{i-1}), d0 =
 * salt (KeyProtector.protect/recover). */
static int
kp_stream(const unsigned char *pw, size_t pwlen, const unsigned char *salt,
    const unsigned char *in, unsigned char *out, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[SHA1_LEN];
	size_t off, i;
	int rc = -1;

	if (ctx == NULL) {
		return -1;
	}
	memcpy(d, salt, SHA1_LEN);
	for (off = 0; off < len; off += SHA1_LEN) {
		if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
		    EVP_DigestUpdate(ctx, pw, pwlen) != 1 ||
		    EVP_DigestUpdate(ctx, d, SHA1_LEN) != 1 ||
		    EVP_DigestFinal_ex(ctx, d, NULL) != 1) {
			goto out;
		}
		for (i = 0; i < SHA1_LEN && off + i < len; i++) {
			out[off + i] = in[off + i] ^ d[i];
		}
	}
	rc = 0;
out:
	OPENSSL_cleanse(d, sizeof(d));
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
mtls__sha1_two(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, const unsigned char *c, size_t clen, unsigned char *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, alen) == 1 &&
	    EVP_DigestUpdate(ctx, b, blen) == 1 &&
	    EVP_DigestUpdate(ctx, c, clen) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, NULL) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static EVP_PKEY *
pkcs8_to_key(const unsigned char *p8, size_t len)
{
	const unsigned char *p = p8;
	PKCS8_PRIV_KEY_INFO *inf = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	EVP_PKEY *k = NULL;

	if (inf != NULL && p == p8 + len) {
		k = EVP_PKCS82PKEY(inf);
	}
	PKCS8_PRIV_KEY_INFO_free(inf);
	return k;
}

/* Sun's PBEWithMD5AndTripleDES (com.sun.crypto.provider.PBES1Core). */
static int
jce_decrypt(const unsigned char *salt_in, long iter, const char *pass,
    const unsigned char *in, size_t len, unsigned char **out, size_t *olen)
{
	unsigned char salt[8], res[32], h[EVP_MAX_MD_SIZE];
	EVP_CIPHER_CTX *c = NULL;
	EVP_MD_CTX *md = NULL;
	size_t plen = strlen(pass), i;
	unsigned char *pw = OPENSSL_malloc(plen + 1), *buf = NULL;
	int n1 = 0, n2 = 0, half, rc = -1;
	long j;

	if (pw == NULL) {
		return -1;
	}
	for (i = 0; i < plen; i++) {
		pw[i] = (unsigned char)(pass[i] & 0x7F);
	}
	memcpy(salt, salt_in, 8);
	if (memcmp(salt, salt + 4, 4) == 0) {
		unsigned char t = salt[0];

		salt[0] = salt[3];
		salt[3] = t;
		t = salt[1];
		salt[1] = salt[2];
		salt[2] = t;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		goto out;
	}
	for (half = 0; half < 2; half++) {
		unsigned int hl = 4;

		memcpy(h, salt + 4 * half, 4);
		for (j = 0; j < iter; j++) {
			if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1 ||
			    EVP_DigestUpdate(md, h, hl) != 1 ||
			    EVP_DigestUpdate(md, pw, plen) != 1 ||
			    EVP_DigestFinal_ex(md, h, &hl) != 1) {
				goto out;
			}
		}
		memcpy(res + 16 * half, h, 16);
	}
	c = EVP_CIPHER_CTX_new();
	buf = OPENSSL_malloc(len + 16);
	if (c == NULL || buf == NULL ||
	    EVP_DecryptInit_ex(c, EVP_des_ede3_cbc(), NULL, res, res + 24) != 1 ||
	    EVP_DecryptUpdate(c, buf, &n1, in, (int)len) != 1 ||
	    EVP_DecryptFinal_ex(c, buf + n1, &n2) != 1) {
		OPENSSL_clear_free(buf, len + 16);
		buf = NULL;
		goto out;
	}
	*out = buf;
	*olen = (size_t)(n1 + n2);
	rc = 0;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(c);
	EVP_MD_CTX_free(md);
	OPENSSL_cleanse(res, sizeof(res));
	OPENSSL_clear_free(pw, plen + 1);
	return rc;
}

static int
oid_is(const ASN1_OBJECT *o, const unsigned char *der, size_t len)
{
	const unsigned char *d = OBJ_get0_data(o);

	return d != NULL && (size_t)OBJ_length(o) == len &&
	    memcmp(d, der, len) == 0;
}

/* Recovers the key in BLOB (an EncryptedPrivateKeyInfo) with PASS. */
enum unseal
mtls__kp_unseal(const unsigned char *blob, size_t blen, const char *pass,
    EVP_PKEY **out)
{
	const unsigned char *p = blob;
	X509_SIG *sig = d2i_X509_SIG(NULL, &p, (long)blen);
	const X509_ALGOR *alg = NULL;
	const ASN1_OCTET_STRING *oct = NULL;
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = 0;
	unsigned char *pw = NULL, *plain = NULL, md[SHA1_LEN];
	size_t pwlen = 0, plen = 0;
	enum unseal rc = UNSEAL_BAD;

	*out = NULL;
	if (sig == NULL || p != blob + blen) {
		goto out;
	}
	X509_SIG_get0(sig, &alg, &oct);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (oid_is(obj, kp_oid, sizeof(kp_oid))) {
		const unsigned char *e = ASN1_STRING_get0_data(oct);
		size_t elen = (size_t)ASN1_STRING_length(oct);

		if (elen < 2 * SHA1_LEN) {
			goto out;
		}
		plen = elen - 2 * SHA1_LEN;
		pw = mtls__store_utf16be(pass, &pwlen);
		plain = OPENSSL_malloc(plen + 1);
		if (pw == NULL || plain == NULL ||
		    kp_stream(pw, pwlen, e, e + SHA1_LEN, plain, plen) != 0 ||
		    mtls__sha1_two(pw, pwlen, plain, plen, NULL, 0, md) != 0) {
			goto out;
		}
		if (CRYPTO_memcmp(md, e + SHA1_LEN + plen, SHA1_LEN) != 0) {
			rc = UNSEAL_WRONG; /* KeyProtector: "Cannot recover key" */
			goto out;
		}
	} else if (oid_is(obj, jce_oid, sizeof(jce_oid))) {
		const ASN1_STRING *ps = pval;
		const unsigned char *q;
		PBEPARAM *pbe = NULL;
		long iter;

		if (ptype != V_ASN1_SEQUENCE || ps == NULL) {
			goto out;
		}
		q = ASN1_STRING_get0_data(ps);
		pbe = d2i_PBEPARAM(NULL, &q, ASN1_STRING_length(ps));
		if (pbe == NULL || ASN1_STRING_length(pbe->salt) != 8 ||
		    (iter = ASN1_INTEGER_get(pbe->iter)) < 1 ||
		    iter > JCEKS_MAX_ITER) {
			PBEPARAM_free(pbe);
			goto out;
		}
		if (jce_decrypt(ASN1_STRING_get0_data(pbe->salt), iter, pass,
		    ASN1_STRING_get0_data(oct),
		    (size_t)ASN1_STRING_length(oct), &plain, &plen) != 0) {
			PBEPARAM_free(pbe);
			rc = UNSEAL_WRONG;
			goto out;
		}
		PBEPARAM_free(pbe);
	} else {
		goto out;
	}
	*out = pkcs8_to_key(plain, plen);
	/* A JCEKS key that decrypts to garbage with a right-padded wrong
	 * password is still a wrong password. */
	rc = *out != NULL ? UNSEAL_OK
	    : oid_is(obj, jce_oid, sizeof(jce_oid)) ? UNSEAL_WRONG : UNSEAL_BAD;
out:
	ERR_clear_error();
	X509_SIG_free(sig);
	OPENSSL_clear_free(pw, pwlen);
	OPENSSL_clear_free(plain, plen + 1);
	return rc;
}

/* EncryptedPrivateKeyInfo { KeyProtector OID, NULL } for KEY under PASS. */
int
mtls__kp_seal(EVP_PKEY *key, const char *pass, unsigned char **out, size_t *olen)
{
	PKCS8_PRIV_KEY_INFO *inf = EVP_PKEY2PKCS8(key);
	unsigned char *p8 = NULL, *e = NULL, *pw = NULL, *q;
	int p8len = inf != NULL ? i2d_PKCS8_PRIV_KEY_INFO(inf, &p8) : -1;
	size_t elen = 0, pwlen = 0;
	X509_SIG *sig = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_OCTET_STRING *oct = NULL;
	int rc = -1, dlen;

	*out = NULL;
	if (p8len <= 0) {
		goto out;
	}
	elen = (size_t)p8len + 2 * SHA1_LEN;
	e = OPENSSL_malloc(elen);
	pw = mtls__store_utf16be(pass, &pwlen);
	if (e == NULL || pw == NULL || RAND_bytes(e, SHA1_LEN) != 1 ||
	    kp_stream(pw, pwlen, e, p8, e + SHA1_LEN, (size_t)p8len) != 0 ||
	    mtls__sha1_two(pw, pwlen, p8, (size_t)p8len, NULL, 0,
		e + SHA1_LEN + p8len) != 0) {
		goto out;
	}
	sig = X509_SIG_new();
	if (sig == NULL) {
		goto out;
	}
	X509_SIG_getm(sig, &alg, &oct);
	/* JDK 17 writes the NULL parameter; every JDK reads it. */
	if (X509_ALGOR_set0(alg, OBJ_txt2obj("1.3.6.1.4.1.42.2.17.1.1", 1),
	    V_ASN1_NULL, NULL) != 1 ||
	    ASN1_OCTET_STRING_set(oct, e, (int)elen) != 1) {
		goto out;
	}
	dlen = i2d_X509_SIG(sig, NULL);
	if (dlen <= 0 || (*out = OPENSSL_malloc((size_t)dlen)) == NULL) {
		goto out;
	}
	q = *out;
	i2d_X509_SIG(sig, &q);
	*olen = (size_t)dlen;
	rc = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(inf);
	OPENSSL_clear_free(p8, p8len > 0 ? (size_t)p8len : 0);
	OPENSSL_clear_free(e, elen);
	OPENSSL_clear_free(pw, pwlen);
	X509_SIG_free(sig);
	return rc;
}

