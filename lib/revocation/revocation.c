/* see mtls/revocation.h: CRL sets and the OCSP answers cache. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "revocation/revocation_int.h"
#include "base/clock.h"

struct mtls__crlset {
	STACK_OF(X509_CRL) *crls;
	size_t entries;
};

void
mtls__crlset_free(struct mtls__crlset *s)
{
	if (s == NULL) {
		return;
	}
	sk_X509_CRL_pop_free(s->crls, X509_CRL_free);
	free(s);
}

/* Appends every CRL of FILE to OUT (mtls_load_crls reads PEM or DER). */
static int
read_crls(const char *file, STACK_OF(X509_CRL) *out, struct mtls_err *err)
{
	STACK_OF(X509_CRL) *got = NULL;
	X509_CRL *crl;

	if (mtls_load_crls(file, &got, err) != 0) {
		return -1;
	}
	while ((crl = sk_X509_CRL_shift(got)) != NULL) {
		if (sk_X509_CRL_push(out, crl) <= 0) {
			X509_CRL_free(crl);
			sk_X509_CRL_pop_free(got, X509_CRL_free);
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
	}
	sk_X509_CRL_free(got);
	return 0;
}

/* The CA among CAS whose name is CRL's issuer and whose key signed it. */
static X509 *
crl_signer(X509_CRL *crl, STACK_OF(X509) *cas)
{
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);
		EVP_PKEY *pk = X509_get0_pubkey(ca);

		if (X509_NAME_cmp(X509_get_subject_name(ca),
			X509_CRL_get_issuer(crl)) == 0 && pk != NULL &&
		    X509_CRL_verify(crl, pk) == 1) {
			return ca;
		}
	}
	ERR_clear_error();
	return NULL;
}

struct mtls__crlset *
mtls__crlset_load(const char *const *files, size_t nfiles,
    STACK_OF(X509) *cas, struct mtls_err *err)
{
	struct mtls__crlset *s = calloc(1, sizeof(*s));
	size_t f;
	int i, before;

	if (s == NULL || (s->crls = sk_X509_CRL_new_null()) == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (f = 0; f < nfiles; f++) {
		before = sk_X509_CRL_num(s->crls);
		if (read_crls(files[f], s->crls, err) != 0) {
			goto fail;
		}
		for (i = before; i < sk_X509_CRL_num(s->crls); i++) {
			X509_CRL *crl = sk_X509_CRL_value(s->crls, i);
			STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);

			if (crl_signer(crl, cas) == NULL) {
				char *iss = mtls_name_format(
				    X509_CRL_get_issuer(crl));

				mtls_err_set(err, MTLS_E_VERIFY,
				    "CRL %s (issuer %s) is not signed by a CA "
				    "of --ca; give the CRL of the CA that issues "
				    "the client certificates", files[f],
				    iss != NULL ? iss : "?");
				OPENSSL_free(iss);
				goto fail;
			}
			/* An empty CRL has no list at all: num is -1 then. */
			if (sk_X509_REVOKED_num(rev) > 0) {
				s->entries += (size_t)sk_X509_REVOKED_num(rev);
			}
		}
	}
	return s;
fail:
	mtls__crlset_free(s);
	return NULL;
}

size_t
mtls__crlset_count(const struct mtls__crlset *s)
{
	return s != NULL ? (size_t)sk_X509_CRL_num(s->crls) : 0;
}

size_t
mtls__crlset_entries(const struct mtls__crlset *s)
{
	return s != NULL ? s->entries : 0;
}

enum mtls_crl_answer
mtls__crlset_lookup(const struct mtls__crlset *s, X509 *cert, time_t *when,
    int *reason)
{
	enum mtls_crl_answer ans = MTLS_CRL_NO_CRL;
	int i;

	for (i = 0; s != NULL && i < sk_X509_CRL_num(s->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(s->crls, i);
		X509_REVOKED *r = NULL;
		ASN1_ENUMERATED *code;

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
			X509_get_issuer_name(cert)) != 0) {
			continue;
		}
		ans = MTLS_CRL_GOOD;
		/* get0_by_serial: the issuer already matched, and unlike
		 * get0_by_cert it does not depend on a sorted copy. */
		if (X509_CRL_get0_by_serial(crl, &r,
			X509_get0_serialNumber(cert)) != 1 || r == NULL) {
			continue;
		}
		code = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		if (reason != NULL) {
			*reason = code != NULL ? (int)ASN1_ENUMERATED_get(code) : 0;
		}
		ASN1_ENUMERATED_free(code);
		if (when != NULL) {
			*when = (time_t)mtls__time_of_asn1(X509_REVOKED_get0_revocationDate(r));
		}
		/* RFC 5280 5.3.1: removeFromCRL only appears in delta CRLs,
		 * which we do not use; treat an entry as a revocation. */
		return MTLS_CRL_REVOKED;
	}
	return ans;
}

time_t
mtls__crlset_stale_since(const struct mtls__crlset *s, time_t now)
{
	time_t best = 0, t;
	int i;

	for (i = 0; s != NULL && i < sk_X509_CRL_num(s->crls); i++) {
		t = (time_t)mtls__time_of_asn1(X509_CRL_get0_nextUpdate(
		    sk_X509_CRL_value(s->crls, i)));
		if (t != 0 && t < now && (best == 0 || t < best)) {
			best = t;
		}
	}
	return best;
}

time_t
mtls__crlset_next_update(const struct mtls__crlset *s)
{
	time_t best = 0, t;
	int i;

	for (i = 0; s != NULL && i < sk_X509_CRL_num(s->crls); i++) {
		t = (time_t)mtls__time_of_asn1(X509_CRL_get0_nextUpdate(
		    sk_X509_CRL_value(s->crls, i)));
		if (t != 0 && (best == 0 || t < best)) {
			best = t;
		}
	}
	return best;
}

/* ---- OCSP cache: open hashing by SHA-256 of (issuer key, serial) ---- */

struct ocsp_entry {
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct mtls_ocsp_result res;
	time_t until;
	int used;
};

struct mtls__ocsp_cache {
	pthread_mutex_t lock;
	struct ocsp_entry *e;
	size_t slots, used;
	long max_age;
};

struct mtls__ocsp_cache *
mtls__ocsp_cache_new(size_t max, long max_age)
{
	struct mtls__ocsp_cache *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return NULL;
	}
	c->slots = max != 0 ? max : 10000;
	c->max_age = max_age > 0 ? max_age : 3600;
	c->e = calloc(c->slots, sizeof(*c->e));
	if (c->e == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void
mtls__ocsp_cache_free(struct mtls__ocsp_cache *c)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_destroy(&c->lock);
	free(c->e);
	free(c);
}

/* The key is what an OCSP CertID names (RFC 6960 4.1.1): the issuer's
 * public key and the serial; the issuer name is implied by the key. */
static int
cache_id(X509 *cert, X509 *issuer, unsigned char *id)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
	ASN1_BIT_STRING *ik = X509_get0_pubkey_bitstr(issuer);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = -1;

	if (sn == NULL || ik == NULL || md == NULL) {
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, ik->data, (size_t)ik->length) != 1 ||
	    EVP_DigestUpdate(md, sn->data, (size_t)sn->length) != 1 ||
	    EVP_DigestFinal_ex(md, id, NULL) != 1) {
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static size_t
slot_of(const struct mtls__ocsp_cache *c, const unsigned char *id)
{
	size_t h = 0;

	memcpy(&h, id, sizeof(h));
	return h % c->slots;
}

int
mtls__ocsp_cache_get(struct mtls__ocsp_cache *c, X509 *cert, X509 *issuer,
    time_t now, struct mtls_ocsp_result *res)
{
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct ocsp_entry *e;
	int hit;

	if (c == NULL || cache_id(cert, issuer, id) != 0) {
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	e = &c->e[slot_of(c, id)];
	hit = e->used && now < e->until && memcmp(e->id, id, sizeof(id)) == 0;
	if (hit) {
		*res = e->res;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

int
mtls__ocsp_cache_put(struct mtls__ocsp_cache *c, X509 *cert, X509 *issuer,
    time_t now, const struct mtls_ocsp_result *res)
{
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct ocsp_entry *e;
	time_t until = now + c->max_age;

	if (res->status == MTLS_OCSP_UNKNOWN) {
		return 0;
	}
	if (cache_id(cert, issuer, id) != 0) {
		return -1;
	}
	/* RFC 6960 4.2.2.1: the answer holds until nextUpdate; without one
	 * "newer information is always available", so only MAX_AGE. */
	if (res->next_update != 0 && res->next_update < until) {
		until = res->next_update;
	}
	if (until <= now) {
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	e = &c->e[slot_of(c, id)];
	if (!e->used) {
		c->used++;
	}
	memcpy(e->id, id, sizeof(id));
	e->res = *res;
	e->until = until;
	e->used = 1;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

size_t
mtls__ocsp_cache_size(struct mtls__ocsp_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->used;
	pthread_mutex_unlock(&c->lock);
	return n;
}
