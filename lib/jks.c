/*
 * JKS (read, write) and JCEKS (read) keystores, following the JDK's
 * sun.security.provider.JavaKeyStore and KeyProtector, on libcrypto hashing.
 * See mtls/store.h and docs/keystores.md for the layout.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "mtls/store.h"
#include "internal.h"
#include "store_int.h"

#define JKS_MAGIC 0xFEEDFEEDu
#define JCEKS_MAGIC 0xCECECECEu
#define SHA1_LEN 20
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define JCEKS_MAX_ITER 1000L /* keep fuzzing fast; real stores use 200000 */
#else
#define JCEKS_MAX_ITER 5000000L /* Java's own cap on read */
#endif

/* 1.3.6.1.4.1.42.2.17.1.1: Sun's KeyProtector. */
static const unsigned char kp_oid[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A,
    0x02, 0x11, 0x01, 0x01};
/* 1.3.6.1.4.1.42.2.19.1: PBEWithMD5AndTripleDES (JCEKS). */
static const unsigned char jce_oid[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A,
    0x02, 0x13, 0x01};

/* ---- bounded reader ---------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t n, off;
	const char *name;
	struct mtls_err *err;
};

static int
rd_fail(struct rd *r, const char *what)
{
	return mtls_err_set(r->err, MTLS_E_FORMAT,
	    "%s is truncated or malformed: %s at byte %zu does not fit "
	    "(the file is cut short or is not a keystore)",
	    r->name, what, r->off);
}

static int
rd_bytes(struct rd *r, size_t k, const unsigned char **out, const char *what)
{
	if (r->n - r->off < k) {
		return rd_fail(r, what);
	}
	*out = r->p + r->off;
	r->off += k;
	return 0;
}

static int
rd_u32(struct rd *r, uint32_t *v, const char *what)
{
	const unsigned char *b = NULL;

	if (rd_bytes(r, 4, &b, what) != 0) {
		return -1;
	}
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
rd_u16(struct rd *r, uint32_t *v, const char *what)
{
	const unsigned char *b = NULL;

	if (rd_bytes(r, 2, &b, what) != 0) {
		return -1;
	}
	*v = (uint32_t)b[0] << 8 | b[1];
	return 0;
}

static int
rd_i64(struct rd *r, int64_t *v, const char *what)
{
	uint32_t hi, lo;

	if (rd_u32(r, &hi, what) != 0 || rd_u32(r, &lo, what) != 0) {
		return -1;
	}
	*v = (int64_t)((uint64_t)hi << 32 | lo);
	return 0;
}

/* ---- strings ----------------------------------------------------------- */

static size_t
put_utf8(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* One 3-byte modified-UTF-8 unit at S (N bytes left), or -1. */
static long
mutf8_unit3(const unsigned char *s, size_t n)
{
	if (n < 3 || (s[0] & 0xF0) != 0xE0 || (s[1] & 0xC0) != 0x80 ||
	    (s[2] & 0xC0) != 0x80) {
		return -1;
	}
	return (long)((s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F));
}

/* Java's writeUTF bytes to UTF-8: surrogate pairs (CESU-8) become one
 * 4-byte sequence; U+0000 stays C0 80 so the result is a C string. */
static char *
mutf8_decode(const unsigned char *s, size_t n)
{
	unsigned char *o = OPENSSL_malloc(n + 1);
	size_t i = 0, k = 0;

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		unsigned char b = s[i];

		if (b < 0x80) {
			if (b == 0) {
				goto bad; /* writeUTF never writes a raw NUL */
			}
			o[k++] = b;
			i++;
		} else if ((b & 0xE0) == 0xC0) {
			uint32_t cp;

			if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80) {
				goto bad;
			}
			cp = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
			if (cp == 0) {
				o[k++] = 0xC0;
				o[k++] = 0x80;
			} else {
				k += put_utf8(o + k, cp);
			}
			i += 2;
		} else {
			long u = mutf8_unit3(s + i, n - i);
			long l;

			if (u < 0) {
				goto bad;
			}
			if (u >= 0xD800 && u <= 0xDBFF &&
			    (l = mutf8_unit3(s + i + 3, n - i - 3)) >= 0xDC00 &&
			    l <= 0xDFFF) {
				uint32_t cp = 0x10000 +
				    ((uint32_t)(u - 0xD800) << 10) +
				    (uint32_t)(l - 0xDC00);

				k += put_utf8(o + k, cp);
				i += 6;
			} else {
				k += put_utf8(o + k, (uint32_t)u);
				i += 3;
			}
		}
	}
	o[k] = '\0';
	return (char *)o;
bad:
	OPENSSL_free(o);
	return NULL;
}

/* UTF-8 (as held in an entry) to modified UTF-8; *LEN set. The alias was
 * validated when added, so every sequence is well formed. */
static unsigned char *
mutf8_encode(const char *str, size_t *len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, k = 0;
	unsigned char *o = OPENSSL_malloc(2 * n + 1);

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		if (s[i] >= 0xF0 && n - i >= 4) {
			uint32_t cp = (uint32_t)(s[i] & 0x07) << 18 |
			    (uint32_t)(s[i + 1] & 0x3F) << 12 |
			    (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);

			cp -= 0x10000;
			k += put_utf8(o + k, 0xD800 + (cp >> 10));
			k += put_utf8(o + k, 0xDC00 + (cp & 0x3FF));
			i += 4;
		} else {
			o[k++] = s[i++];
		}
	}
	*len = k;
	return o;
}

unsigned char *
store_utf16be(const char *pass, size_t *len)
{
	const unsigned char *s = (const unsigned char *)pass;
	size_t n = strlen(pass), i = 0, k = 0;
	unsigned char *o = OPENSSL_malloc(4 * n + 1);

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		uint32_t cp = s[i];
		size_t take = 1, j;

		if (cp >= 0xC2 && cp < 0xE0) {
			take = 2;
			cp &= 0x1F;
		} else if (cp >= 0xE0 && cp < 0xF0) {
			take = 3;
			cp &= 0x0F;
		} else if (cp >= 0xF0 && cp < 0xF5) {
			take = 4;
			cp &= 0x07;
		}
		if (take > 1) {
			if (n - i < take) {
				take = 1;
			}
			for (j = 1; j < take; j++) {
				if ((s[i + j] & 0xC0) != 0x80) {
					take = 1;
					break;
				}
				cp = cp << 6 | (s[i + j] & 0x3F);
			}
			if (take == 1) {
				cp = s[i]; /* not UTF-8: Latin-1 */
			}
		}
		i += take;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000, hi = 0xD800 + (v >> 10),
			    lo = 0xDC00 + (v & 0x3FF);

			o[k++] = (unsigned char)(hi >> 8);
			o[k++] = (unsigned char)hi;
			o[k++] = (unsigned char)(lo >> 8);
			o[k++] = (unsigned char)lo;
		} else {
			o[k++] = (unsigned char)(cp >> 8);
			o[k++] = (unsigned char)cp;
		}
	}
	*len = k;
	return o;
}

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

static int
sha1_two(const unsigned char *a, size_t alen, const unsigned char *b,
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

enum unseal { UNSEAL_OK, UNSEAL_WRONG, UNSEAL_BAD };

/* Recovers the key in BLOB (an EncryptedPrivateKeyInfo) with PASS. */
static enum unseal
kp_unseal(const unsigned char *blob, size_t blen, const char *pass,
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
		pw = store_utf16be(pass, &pwlen);
		plain = OPENSSL_malloc(plen + 1);
		if (pw == NULL || plain == NULL ||
		    kp_stream(pw, pwlen, e, e + SHA1_LEN, plain, plen) != 0 ||
		    sha1_two(pw, pwlen, plain, plen, NULL, 0, md) != 0) {
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
static int
kp_seal(EVP_PKEY *key, const char *pass, unsigned char **out, size_t *olen)
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
	pw = store_utf16be(pass, &pwlen);
	if (e == NULL || pw == NULL || RAND_bytes(e, SHA1_LEN) != 1 ||
	    kp_stream(pw, pwlen, e, p8, e + SHA1_LEN, (size_t)p8len) != 0 ||
	    sha1_two(pw, pwlen, p8, (size_t)p8len, NULL, 0,
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

/* ---- parse ------------------------------------------------------------- */

static int
rd_utf(struct rd *r, char **out, const char *what)
{
	uint32_t len;
	const unsigned char *b = NULL;

	*out = NULL;
	if (rd_u16(r, &len, what) != 0 || rd_bytes(r, len, &b, what) != 0) {
		return -1;
	}
	*out = mutf8_decode(b, len);
	if (*out == NULL) {
		return mtls_err_set(r->err, MTLS_E_FORMAT,
		    "%s is malformed: %s at byte %zu is not modified UTF-8",
		    r->name, what, r->off - len);
	}
	return 0;
}

static int
rd_cert(struct rd *r, int version, STACK_OF(X509) *sk)
{
	uint32_t len;
	const unsigned char *b = NULL, *p;
	X509 *x;

	if (version == 2) {
		char *type = NULL;

		if (rd_utf(r, &type, "certificate type") != 0) {
			return -1;
		}
		if (strcmp(type, "X.509") != 0) {
			mtls_err_set(r->err, MTLS_E_FORMAT,
			    "%s holds a certificate of type '%.40s'; only X.509 "
			    "is supported", r->name, type);
			OPENSSL_free(type);
			return -1;
		}
		OPENSSL_free(type);
	}
	if (rd_u32(r, &len, "certificate length") != 0 ||
	    rd_bytes(r, len, &b, "certificate") != 0) {
		return -1;
	}
	p = b;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != b + len) {
		X509_free(x);
		ERR_clear_error();
		return mtls_err_set(r->err, MTLS_E_FORMAT,
		    "%s is malformed: the certificate ending at byte %zu is not "
		    "valid DER X.509", r->name, r->off);
	}
	if (sk_X509_push(sk, x) <= 0) {
		X509_free(x);
		return mtls_err_set(r->err, MTLS_E_INTERNAL, "out of memory");
	}
	return 0;
}

static int
rd_entry(struct rd *r, struct mtls_store *s, int version, int jceks)
{
	uint32_t tag, len, count, i;
	const unsigned char *b = NULL;
	struct mtls_store_entry *e = NULL;
	char *alias = NULL;
	int64_t ts;

	if (rd_u32(r, &tag, "entry tag") != 0 ||
	    rd_utf(r, &alias, "alias") != 0) {
		goto bad;
	}
	if (tag == 3 && jceks) {
		mtls_err_set(r->err, MTLS_E_FORMAT,
		    "%s holds a secret-key entry ('%s'), which mtls cannot "
		    "read; convert the store with 'keytool -importkeystore "
		    "-srckeystore %s -srcstoretype JCEKS -destkeystore out.p12 "
		    "-deststoretype PKCS12'", r->name, alias, r->name);
		goto bad;
	}
	if (tag != 1 && tag != 2) {
		mtls_err_set(r->err, MTLS_E_FORMAT,
		    "%s is malformed: unrecognised entry tag %u at byte %zu",
		    r->name, tag, r->off);
		goto bad;
	}
	if (rd_i64(r, &ts, "creation date") != 0) {
		goto bad;
	}
	e = store_entry_new(tag == 1 ? MTLS_ENTRY_KEY : MTLS_ENTRY_TRUSTED);
	if (e == NULL) {
		mtls_err_set(r->err, MTLS_E_INTERNAL, "out of memory");
		goto bad;
	}
	e->alias = alias;
	alias = NULL;
	e->created = ts;
	if (tag == 2) {
		if (rd_cert(r, version, e->certs) != 0) {
			goto bad;
		}
		return store_push(s, e, r->err);
	}
	if (rd_u32(r, &len, "protected key length") != 0 ||
	    rd_bytes(r, len, &b, "protected key") != 0 ||
	    rd_u32(r, &count, "chain length") != 0) {
		goto bad;
	}
	e->sealed = OPENSSL_memdup(b, len > 0 ? len : 1);
	e->sealed_len = len;
	e->flags |= MTLS_ENTRY_LOCKED;
	if (e->sealed == NULL) {
		goto bad;
	}
	/* Each certificate takes at least 4 bytes: refuse absurd counts before
	 * looping on them. */
	if (count > (r->n - r->off) / 4) {
		rd_fail(r, "certificate chain");
		goto bad;
	}
	for (i = 0; i < count; i++) {
		if (rd_cert(r, version, e->certs) != 0) {
			goto bad;
		}
	}
	return store_push(s, e, r->err);
bad:
	OPENSSL_free(alias);
	store_entry_free(e);
	return -1;
}

/* Opens LOCKED keys with PW; returns how many opened, sets *WRONG to the
 * number whose check digest said the password is wrong. */
static int
unlock_keys(struct mtls_store *s, const char *pw, const char *name,
    int *wrong, struct mtls_err *err)
{
	size_t i;
	int opened = 0;

	*wrong = 0;
	for (i = 0; i < s->n; i++) {
		struct mtls_store_entry *e = s->e[i];
		EVP_PKEY *k = NULL;

		if (!(e->flags & MTLS_ENTRY_LOCKED)) {
			continue;
		}
		switch (kp_unseal(e->sealed, e->sealed_len, pw, &k)) {
		case UNSEAL_OK:
			e->key = k;
			e->flags &= ~(unsigned)MTLS_ENTRY_LOCKED;
			OPENSSL_clear_free(e->sealed, e->sealed_len);
			e->sealed = NULL;
			e->sealed_len = 0;
			opened++;
			break;
		case UNSEAL_WRONG:
			(*wrong)++;
			break;
		default:
			return mtls_err_set(err, MTLS_E_FORMAT,
			    "%s is malformed: the key of entry '%s' is not a "
			    "protected PKCS#8 key mtls knows", name, e->alias);
		}
	}
	return opened;
}

static int
check_digest(struct mtls_store *s, const unsigned char *d, size_t body,
    const char *name, const char *pass, struct mtls_err *err)
{
	static const char whitener[] = "Mighty Aphrodite";
	unsigned char md[SHA1_LEN], *pw;
	size_t pwlen = 0;
	int wrong = 0, opened;

	pw = store_utf16be(pass, &pwlen);
	if (pw == NULL || sha1_two(pw, pwlen, (const unsigned char *)whitener,
	    sizeof(whitener) - 1, d, body, md) != 0) {
		OPENSSL_clear_free(pw, pwlen);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot hash %s", name);
	}
	OPENSSL_clear_free(pw, pwlen);
	if (CRYPTO_memcmp(md, d + body, SHA1_LEN) == 0) {
		s->verified = 1;
		return 0;
	}
	/* The digest cannot tell a wrong password from a changed file; a key
	 * protected with the same password can. */
	opened = unlock_keys(s, pass, name, &wrong, err);
	if (opened > 0) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s failed its integrity check: the password is right but "
		    "the file was modified after it was written (restore it "
		    "from a copy)", name);
	}
	if (opened < 0) {
		return -1;
	}
	if (wrong > 0) {
		return mtls_err_set(err, MTLS_E_PASSWORD,
		    "wrong password for %s", name);
	}
	return mtls_err_set(err, MTLS_E_PASSWORD,
	    "wrong password for %s (or the file was modified: its integrity "
	    "digest does not match)", name);
}

int
jks_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, const char *key_pass,
    struct mtls_err *err)
{
	struct rd r = {d, n, 0, name, err};
	uint32_t magic, version, count, i;
	size_t body;
	int wrong = 0, jceks;

	if (rd_u32(&r, &magic, "magic") != 0 ||
	    rd_u32(&r, &version, "version") != 0 ||
	    rd_u32(&r, &count, "entry count") != 0) {
		return -1;
	}
	if (magic != JKS_MAGIC && magic != JCEKS_MAGIC) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s is not a JKS or JCEKS keystore", name);
	}
	jceks = magic == JCEKS_MAGIC;
	s->format = jceks ? MTLS_STORE_JCEKS : MTLS_STORE_JKS;
	if (version != 1 && version != 2) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s has %s version %u; only versions 1 and 2 exist", name,
		    jceks ? "JCEKS" : "JKS", version);
	}
	/* An entry needs at least 18 bytes. */
	if (count > STORE_MAX_ENTRIES || count > (n - r.off) / 18) {
		return rd_fail(&r, "entry count");
	}
	for (i = 0; i < count; i++) {
		if (rd_entry(&r, s, (int)version, jceks) != 0) {
			return -1;
		}
	}
	body = r.off;
	if (n - body < SHA1_LEN) {
		return rd_fail(&r, "integrity digest");
	}
	if (pass == NULL) {
		return 0; /* like Java's load(in, null): listed, not verified */
	}
	if (check_digest(s, d, body, name, pass, err) != 0) {
		return -1;
	}
	if (unlock_keys(s, pass, name, &wrong, err) < 0) {
		return -1;
	}
	if (key_pass != NULL && unlock_keys(s, key_pass, name, &wrong, err) < 0) {
		return -1;
	}
	return 0;
}

/* ---- write ------------------------------------------------------------- */

struct wb {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void
wb_put(struct wb *w, const void *data, size_t len)
{
	if (w->oom) {
		return;
	}
	if (w->cap - w->len < len) {
		size_t cap = w->cap ? w->cap : 4096;
		unsigned char *np;

		while (cap - w->len < len) {
			cap *= 2;
		}
		np = OPENSSL_realloc(w->p, cap);
		if (np == NULL) {
			w->oom = 1;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, data, len);
	w->len += len;
}

static void
wb_u32(struct wb *w, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	    (unsigned char)(v >> 8), (unsigned char)v};

	wb_put(w, b, 4);
}

static void
wb_utf(struct wb *w, const unsigned char *s, size_t len)
{
	unsigned char b[2] = {(unsigned char)(len >> 8), (unsigned char)len};

	wb_put(w, b, 2);
	wb_put(w, s, len);
}

static int
wb_cert(struct wb *w, X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);

	if (len <= 0) {
		return -1;
	}
	wb_utf(w, (const unsigned char *)"X.509", 5);
	wb_u32(w, (uint32_t)len);
	wb_put(w, der, (size_t)len);
	OPENSSL_free(der);
	return 0;
}

static int
wb_entry(struct wb *w, struct mtls_store_entry *e, const char *kpass,
    struct mtls_err *err)
{
	unsigned char *alias = NULL, *blob = NULL;
	size_t alen = 0, blen = 0;
	int i;
	char *norm = mtls_store_alias_norm(e->alias, err);
	int64_t ts = e->created != 0 ? e->created : store_now_ms();

	if (norm == NULL) {
		return -1;
	}
	alias = mutf8_encode(norm, &alen);
	OPENSSL_free(norm);
	if (alias == NULL || alen > 0xFFFF) {
		OPENSSL_free(alias);
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "alias '%.40s...' is longer than JKS allows (65535 bytes)",
		    e->alias);
	}
	wb_u32(w, e->type == MTLS_ENTRY_KEY ? 1 : 2);
	wb_utf(w, alias, alen);
	OPENSSL_free(alias);
	wb_u32(w, (uint32_t)((uint64_t)ts >> 32));
	wb_u32(w, (uint32_t)ts);
	if (e->type == MTLS_ENTRY_TRUSTED) {
		if (wb_cert(w, sk_X509_value(e->certs, 0)) != 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot encode the certificate of '%s'", e->alias);
		}
		return 0;
	}
	if (e->key != NULL) {
		if (kp_seal(e->key, kpass, &blob, &blen) != 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot protect the key of '%s'", e->alias);
		}
		wb_u32(w, (uint32_t)blen);
		wb_put(w, blob, blen);
		OPENSSL_clear_free(blob, blen);
	} else {
		/* A key we could not open is kept as it was, if JKS can. */
		if (e->sealed == NULL || e->sealed_len < 20 ||
		    memmem(e->sealed, 20, kp_oid, sizeof(kp_oid)) == NULL) {
			return mtls_err_set(err, MTLS_E_PASSWORD,
			    "the key of '%s' is locked by a password other than "
			    "the store password; give it with --key-pass",
			    e->alias);
		}
		wb_u32(w, (uint32_t)e->sealed_len);
		wb_put(w, e->sealed, e->sealed_len);
	}
	wb_u32(w, (uint32_t)sk_X509_num(e->certs));
	for (i = 0; i < sk_X509_num(e->certs); i++) {
		if (wb_cert(w, sk_X509_value(e->certs, i)) != 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot encode the chain of '%s'", e->alias);
		}
	}
	return 0;
}

int
jks_write(struct mtls_store *s, const char *pass, const char *key_pass,
    unsigned char **out, size_t *len, struct mtls_err *err)
{
	static const char whitener[] = "Mighty Aphrodite";
	struct wb w = {NULL, 0, 0, 0};
	unsigned char md[SHA1_LEN], *pw = NULL;
	size_t i, pwlen = 0;

	*out = NULL;
	wb_u32(&w, JKS_MAGIC);
	wb_u32(&w, 2);
	wb_u32(&w, (uint32_t)s->n);
	for (i = 0; i < s->n; i++) {
		if (wb_entry(&w, s->e[i], key_pass ? key_pass : pass, err) != 0) {
			goto bad;
		}
	}
	pw = store_utf16be(pass, &pwlen);
	if (w.oom || pw == NULL ||
	    sha1_two(pw, pwlen, (const unsigned char *)whitener,
		sizeof(whitener) - 1, w.p, w.len, md) != 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto bad;
	}
	wb_put(&w, md, SHA1_LEN);
	if (w.oom) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto bad;
	}
	OPENSSL_clear_free(pw, pwlen);
	*out = w.p;
	*len = w.len;
	return 0;
bad:
	OPENSSL_clear_free(pw, pwlen);
	OPENSSL_clear_free(w.p, w.cap);
	return -1;
}
