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
#include "base/internal.h"
#include "base/clock.h"
#include "base/buf.h"
#include "keystore/store_int.h"

#define JKS_MAGIC 0xFEEDFEEDu
#define JCEKS_MAGIC 0xCECECECEu
#define SHA1_LEN 20

#define kp_oid mtls__jks_kp_oid

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
	*out = mtls__mutf8_decode(b, len);
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
	e = mtls__store_entry_new(tag == 1 ? MTLS_ENTRY_KEY : MTLS_ENTRY_TRUSTED);
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
		return mtls__store_push(s, e, r->err);
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
	return mtls__store_push(s, e, r->err);
bad:
	OPENSSL_free(alias);
	mtls__store_entry_free(e);
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
		switch (mtls__kp_unseal(e->sealed, e->sealed_len, pw, &k)) {
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

	pw = mtls__store_utf16be(pass, &pwlen);
	if (pw == NULL || mtls__sha1_two(pw, pwlen, (const unsigned char *)whitener,
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
mtls__jks_parse(struct mtls_store *s, const unsigned char *d, size_t n,
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

static void
wb_u32(struct mtls__buf *w, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	    (unsigned char)(v >> 8), (unsigned char)v};

	mtls__buf_put(w, b, 4);
}

static void
wb_utf(struct mtls__buf *w, const unsigned char *s, size_t len)
{
	unsigned char b[2] = {(unsigned char)(len >> 8), (unsigned char)len};

	mtls__buf_put(w, b, 2);
	mtls__buf_put(w, s, len);
}

static int
wb_cert(struct mtls__buf *w, X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);

	if (len <= 0) {
		return -1;
	}
	wb_utf(w, (const unsigned char *)"X.509", 5);
	wb_u32(w, (uint32_t)len);
	mtls__buf_put(w, der, (size_t)len);
	OPENSSL_free(der);
	return 0;
}

static int
wb_entry(struct mtls__buf *w, struct mtls_store_entry *e, const char *kpass,
    struct mtls_err *err)
{
	unsigned char *alias = NULL, *blob = NULL;
	size_t alen = 0, blen = 0;
	int i;
	char *norm = mtls_store_alias_norm(e->alias, err);
	int64_t ts = e->created != 0 ? e->created : mtls__now_ms();

	if (norm == NULL) {
		return -1;
	}
	alias = mtls__mutf8_encode(norm, &alen);
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
		if (mtls__kp_seal(e->key, kpass, &blob, &blen) != 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot protect the key of '%s'", e->alias);
		}
		wb_u32(w, (uint32_t)blen);
		mtls__buf_put(w, blob, blen);
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
		mtls__buf_put(w, e->sealed, e->sealed_len);
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
mtls__jks_write(struct mtls_store *s, const char *pass, const char *key_pass,
    unsigned char **out, size_t *len, struct mtls_err *err)
{
	static const char whitener[] = "Mighty Aphrodite";
	struct mtls__buf w = MTLS__BUF_INIT;
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
	pw = mtls__store_utf16be(pass, &pwlen);
	if (w.oom || pw == NULL ||
	    mtls__sha1_two(pw, pwlen, (const unsigned char *)whitener,
		sizeof(whitener) - 1, w.p, w.len, md) != 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto bad;
	}
	mtls__buf_put(&w, md, SHA1_LEN);
	if (w.oom) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto bad;
	}
	OPENSSL_clear_free(pw, pwlen);
	*out = mtls__buf_take(&w, len);
	return 0;
bad:
	OPENSSL_clear_free(pw, pwlen);
	mtls__buf_free(&w);
	return -1;
}
