/* see mtls/ca.h: mtls_ca_crl
 *
 * A CRL of a million entries must take seconds, not minutes. Building one
 * X509_REVOKED object per entry and letting OpenSSL's generic encoder walk
 * them twice (once to sign, once to output) cost ~12 us per entry. Here
 * OpenSSL builds everything except the entry list (version, algorithm,
 * issuer, dates, extensions: X509_CRL and i2d_re_X509_CRL_tbs), the entries
 * are framed directly as DER into one buffer, and the TBS bytes are signed
 * with EVP_DigestSign. RFC 5280 5.1 for the structure. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "base/internal.h"
#include "base/clock.h"
#include "base/buf.h"

/* DER tag and definite length (X.690 8.1.3). */
static int
buf_header(struct mtls__buf *b, int tag, size_t len)
{
	unsigned char h[6];
	size_t n = 0;

	h[n++] = (unsigned char)tag;
	if (len < 0x80) {
		h[n++] = (unsigned char)len;
	} else if (len < 0x100) {
		h[n++] = 0x81;
		h[n++] = (unsigned char)len;
	} else if (len < 0x10000) {
		h[n++] = 0x82;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		h[n++] = 0x84;
		h[n++] = (unsigned char)(len >> 24);
		h[n++] = (unsigned char)(len >> 16);
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	}
	return mtls__buf_put(b, h, n);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Serial hex (as BN_bn2hex prints it) to INTEGER content octets: a
 * leading zero octet keeps a set high bit from reading as negative. */
static int
serial_octets(const char *hex, unsigned char *out, size_t *n)
{
	size_t len = strlen(hex), i = 0, o = 0;
	unsigned char tmp[64];
	size_t t = 0;

	if (len == 0 || len > 80) {
		return -1;
	}
	if (len % 2) {
		int v = hexval(hex[0]);

		if (v < 0) {
			return -1;
		}
		tmp[t++] = (unsigned char)v;
		i = 1;
	}
	for (; i < len; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0 || t >= sizeof(tmp)) {
			return -1;
		}
		tmp[t++] = (unsigned char)(hi << 4 | lo);
	}
	if (tmp[0] & 0x80) {
		out[o++] = 0;
	}
	memcpy(out + o, tmp, t);
	*n = o + t;
	return 0;
}

/* UTCTime through 2049, GeneralizedTime after (RFC 5280 5.1.2.4). */
static int
put_time(struct mtls__buf *b, time_t t)
{
	char s[20];
	size_t n = mtls__time_format(t, MTLS__TIME_ASN1, s, sizeof(s));

	if (n != 15) {
		return -1;
	}
	if (memcmp(s, "2050", 4) < 0) {
		/* UTCTime: the same digits without the century. */
		return buf_header(b, V_ASN1_UTCTIME, n - 2) || mtls__buf_put(b, s + 2, n - 2);
	}
	return buf_header(b, V_ASN1_GENERALIZEDTIME, n) || mtls__buf_put(b, s, n);
}

struct crl_build {
	struct mtls__buf entries;
	long count;
	struct mtls_err *err;
	/* During a rollover each issuer lists its own certificates: the
	 * retiring one (PREV 1) those it signed, the new one the rest. */
	const struct mtls_ca *ca;
	int filter, prev;
};

static int
add_entry(const struct mtls_inv_entry *e, void *arg)
{
	/* crlEntryExtensions { Extension { id-ce-cRLReasons, OCTET STRING {
	 * ENUMERATED code } } } with the code patched in at the end. */
	static const unsigned char reason_ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06,
	    0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x00};
	struct crl_build *b = arg;
	/* An entry is at most 43 (serial) + 17 (time) + 14 (reason) + 2
	 * bytes, so it is framed on the stack. */
	unsigned char onebuf[128];
	struct mtls__buf one;
	unsigned char serial[48], ext[sizeof(reason_ext)];
	size_t slen = 0;
	int code = 0, rc = -1;

	if (b->filter && mtls__ca_by_prev(b->ca, e->pem) != b->prev) {
		return 0;
	}
	mtls__buf_init_fixed(&one, onebuf, sizeof(onebuf));
	if (serial_octets(e->serial, serial, &slen) != 0) {
		return mtls_err_set(b->err, MTLS_E_FORMAT,
		    "inventory serial '%s' is not hexadecimal", e->serial);
	}
	if (e->reason != NULL && mtls_reason_parse(e->reason, &code, NULL) != 0) {
		code = 0;
	}
	if (buf_header(&one, V_ASN1_INTEGER, slen) != 0 || mtls__buf_put(&one, serial, slen) != 0 ||
	    put_time(&one, e->revoked_at) != 0) {
		goto out;
	}
	/* RFC 5280 5.3.1: omit the reason rather than say unspecified. */
	if (code != 0) {
		memcpy(ext, reason_ext, sizeof(ext));
		ext[sizeof(ext) - 1] = (unsigned char)code;
		if (mtls__buf_put(&one, ext, sizeof(ext)) != 0) {
			goto out;
		}
	}
	if (buf_header(&b->entries, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, one.len) != 0 ||
	    mtls__buf_put(&b->entries, one.p, one.len) != 0) {
		goto out;
	}
	b->count++;
	rc = 0;
out:
	if (rc != 0) {
		mtls_err_set(b->err, MTLS_E_INTERNAL, "out of memory building the CRL");
	}
	return rc;
}

/* The CRL without entries, from OpenSSL: version, signature algorithm,
 * issuer, dates, CRL number and AKI. */
static X509_CRL *
crl_skeleton(struct mtls_ca *ca, X509 *issuer, EVP_PKEY *key, int days,
    struct mtls_err *err)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	time_t now = time(NULL);
	long long n = 0;

	if (crl == NULL || t == NULL || num == NULL ||
	    mtls__ca_next_crl_number(ca, &n, err) != 0) {
		goto fail;
	}
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (aki == NULL || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    ASN1_TIME_set(t, now) == NULL || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    X509_time_adj_ex(t, days, 0, &now) == NULL || X509_CRL_set1_nextUpdate(crl, t) != 1 ||
	    ASN1_INTEGER_set_int64(num, n) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    X509_CRL_add_ext(crl, aki, -1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build the CRL");
		goto fail;
	}
	/* Signing the empty skeleton fills in the signature algorithm. */
	if (X509_CRL_sign(crl, key, mtls__sign_md(key)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the CRL");
		goto fail;
	}
	X509_EXTENSION_free(aki);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	return crl;
fail:
	X509_EXTENSION_free(aki);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return NULL;
}

/* Length of a DER header for content of LEN bytes (see buf_header). */
static size_t
header_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 6;
}

static void
write_header(unsigned char *at, int tag, size_t len)
{
	struct mtls__buf b;

	mtls__buf_init_fixed(&b, at, 6);
	buf_header(&b, tag, len);
}

/* The skeleton's TBS split around where the entry list goes: PREFIX is
 * version..nextUpdate, SUFFIX the [0] crlExtensions. */
static int
split_skeleton(X509_CRL *crl, unsigned char **der, const unsigned char **prefix,
    size_t *plen, const unsigned char **suffix, size_t *slen, struct mtls_err *err)
{
	const unsigned char *p, *end;
	long len = 0;
	int tag, cls, n = i2d_re_X509_CRL_tbs(crl, der);

	p = *der;
	if (n <= 0 || (ASN1_get_object(&p, &len, &tag, &cls, n) & 0x80) ||
	    tag != V_ASN1_SEQUENCE) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CRL");
	}
	*prefix = p;
	end = p + len;
	while (p < end) {
		const unsigned char *start = p;
		long l = 0;

		if (ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "cannot parse the CRL skeleton");
		}
		if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0) {
			*plen = (size_t)(start - *prefix);
			*suffix = start;
			*slen = (size_t)(end - start);
			return 0;
		}
		p += l;
	}
	return mtls_err_set(err, MTLS_E_INTERNAL, "the CRL skeleton has no extensions");
}

/*
 * Layout, built in one buffer so the (large) entry list is never copied
 * into fresh memory again - page faults, not arithmetic, dominated here:
 *
 *   [reserve][TBS hdr][prefix][entries hdr][entries...][suffix][alg][sig]
 *
 * The entries are written first after a reserve sized for the largest
 * headers; the headers and prefix are then placed right before them.
 */
struct layout {
	struct mtls__buf b;
	size_t entries_at;
};

static int
layout_start(struct layout *l, size_t plen, struct mtls_err *err)
{
	memset(l, 0, sizeof(*l));
	l->entries_at = 6 + 6 + plen + 6;
	if (mtls__buf_reserve(&l->b, l->entries_at + (1u << 20)) != 0) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory building the CRL");
	}
	l->b.len = l->entries_at;
	return 0;
}

/* Places headers and prefix before the entries and the suffix after;
 * returns the offset where the TBS starts and its length. */
static int
layout_tbs(struct layout *l, const unsigned char *prefix, size_t plen,
    const unsigned char *suffix, size_t slen, size_t *tbs_at, size_t *tbs_len)
{
	size_t elen = l->b.len - l->entries_at;
	size_t ehdr = elen > 0 ? header_len(elen) : 0;
	size_t content = plen + ehdr + elen + slen;
	size_t at = l->entries_at - ehdr - plen - header_len(content);

	if (mtls__buf_put(&l->b, suffix, slen) != 0) {
		return -1;
	}
	if (elen > 0) {
		write_header(l->b.p + l->entries_at - ehdr, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, elen);
	}
	memcpy(l->b.p + l->entries_at - ehdr - plen, prefix, plen);
	write_header(l->b.p + at, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, content);
	*tbs_at = at;
	*tbs_len = header_len(content) + content;
	return 0;
}

static int
sign_in_place(EVP_PKEY *key, X509_CRL *crl, struct layout *l, size_t tbs_at,
    size_t tbs_len, size_t *crl_at, size_t *crl_len, struct mtls_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const X509_ALGOR *alg = NULL;
	unsigned char *sig = NULL, *algder = NULL;
	size_t siglen = 0, content;
	int alglen, rc = -1;

	X509_CRL_get0_signature(crl, NULL, &alg);
	alglen = i2d_X509_ALGOR(alg, &algder);
	if (md == NULL || alglen <= 0 ||
	    EVP_DigestSignInit(md, NULL, mtls__sign_md(key), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, l->b.p + tbs_at, tbs_len) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, l->b.p + tbs_at, tbs_len) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the CRL");
		goto out;
	}
	/* CertificateList ::= SEQUENCE { tbs, algorithm, BIT STRING } */
	if (mtls__buf_put(&l->b, algder, (size_t)alglen) != 0 ||
	    buf_header(&l->b, V_ASN1_BIT_STRING, siglen + 1) != 0 ||
	    mtls__buf_put(&l->b, "\0", 1) != 0 || mtls__buf_put(&l->b, sig, siglen) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory building the CRL");
		goto out;
	}
	content = l->b.len - tbs_at;
	*crl_at = tbs_at - header_len(content);
	write_header(l->b.p + *crl_at, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, content);
	*crl_len = l->b.len - *crl_at;
	rc = 0;
out:
	OPENSSL_free(sig);
	OPENSSL_free(algder);
	EVP_MD_CTX_free(md);
	return rc;
}

/* The CRL of ISSUER (the CA's certificate, or the retiring one when
 * PREV), signed with KEY. */
static int
crl_make(struct mtls_ca *ca, int prev, X509 *issuer, EVP_PKEY *key, int days,
    int der, unsigned char **out, size_t *len, long *count, struct mtls_err *err)
{
	struct crl_build b;
	struct layout l;
	X509_CRL *skel = NULL;
	unsigned char *skel_der = NULL;
	const unsigned char *prefix = NULL, *suffix = NULL;
	size_t plen = 0, slen = 0, tbs_at = 0, tbs_len = 0, crl_at = 0, crl_len = 0;
	char *pem = NULL;
	size_t pem_len = 0;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	memset(&l, 0, sizeof(l));
	b.err = err;
	b.ca = ca;
	b.filter = ca->prev != NULL;
	b.prev = prev;
	*out = NULL;
	skel = crl_skeleton(ca, issuer, key, days > 0 ? days : 7, err);
	if (skel == NULL ||
	    split_skeleton(skel, &skel_der, &prefix, &plen, &suffix, &slen, err) != 0 ||
	    layout_start(&l, plen, err) != 0) {
		goto out;
	}
	b.entries = l.b;
	if (mtls__ca_list_revoked(ca, b.filter, add_entry, &b, err) != 0) {
		l.b = b.entries;
		goto out;
	}
	l.b = b.entries;
	if (layout_tbs(&l, prefix, plen, suffix, slen, &tbs_at, &tbs_len) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory building the CRL");
		goto out;
	}
	if (sign_in_place(key, skel, &l, tbs_at, tbs_len, &crl_at, &crl_len, err) != 0) {
		goto out;
	}
	if (der) {
		memmove(l.b.p, l.b.p + crl_at, crl_len);
		*out = l.b.p;
		*len = crl_len;
		l.b.p = NULL;
	} else {
		if (mtls_pem_append("X509 CRL", l.b.p + crl_at, crl_len, &pem, &pem_len, err) != 0) {
			goto out;
		}
		*out = (unsigned char *)pem;
		*len = pem_len;
	}
	*count = b.count;
	rc = 0;
out:
	OPENSSL_free(l.b.p);
	OPENSSL_free(skel_der);
	X509_CRL_free(skel);
	return rc;
}

int
mtls_ca_crl(struct mtls_ca *ca, int days, int der, unsigned char **out,
    size_t *len, long *count, struct mtls_err *err)
{
	*out = NULL;
	if (ca->key == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the CA key is not loaded");
	}
	return crl_make(ca, 0, ca->cert, ca->key, days, der, out, len, count, err);
}

int
mtls_ca_crl_previous(struct mtls_ca *ca, int days, int der, unsigned char **out,
    size_t *len, long *count, struct mtls_err *err)
{
	EVP_PKEY *key = mtls__ca_prev_key(ca, err);

	*out = NULL;
	if (key == NULL) {
		return -1;
	}
	return crl_make(ca, 1, ca->prev, key, days, der, out, len, count, err);
}

struct last_expiry {
	const struct mtls_ca *ca;
	time_t at;
};

/* The latest notAfter of what the retiring issuer signed. */
static int
prev_last_expiry(const struct mtls_inv_entry *e, void *arg)
{
	struct last_expiry *l = arg;

	if (e->not_after > l->at && mtls__ca_by_prev(l->ca, e->pem)) {
		l->at = e->not_after;
	}
	return 0;
}

int
mtls_ca_crl_final(struct mtls_ca *ca, int der, unsigned char **out,
    size_t *len, long *count, time_t *next_update, struct mtls_err *err)
{
	EVP_PKEY *key = mtls__ca_prev_key(ca, err);
	struct last_expiry last;
	time_t now = time(NULL);
	long days;

	*out = NULL;
	if (key == NULL) {
		return -1;
	}
	memset(&last, 0, sizeof(last));
	last.ca = ca;
	if (mtls_ca_list(ca, NULL, prev_last_expiry, &last, err) != 0) {
		return -1;
	}
	/* RFC 5280 5.1.2.5: no newer CRL will follow, so it stays current
	 * until the last certificate it speaks for has expired, and a day
	 * beyond (a verifier's clock may lag). */
	days = last.at > now ? (long)((last.at - now + 86399) / 86400) + 1 : 1;
	if (days > 36500) {
		days = 36500;
	}
	if (next_update != NULL) {
		*next_update = now + (time_t)days * 86400;
	}
	return crl_make(ca, 1, ca->prev, key, (int)days, der, out, len, count, err);
}
