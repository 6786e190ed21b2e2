/*
 * PKCS#12 keystores and truststores as Java reads and writes them
 * (RFC 7292; sun.security.pkcs12.PKCS12KeyStore). The bags are walked by
 * hand because PKCS12_parse drops the attributes Java relies on:
 * friendlyName (the alias), localKeyID (key <-> certificate, "Time <ms>"
 * in Java's files) and Oracle's trustedKeyUsage (a trusted entry).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/internal.h"
#include "base/clock.h"
#include "keystore/store_int.h"
#include "pki/p12_int.h"

#define P12_MAX_DEPTH 3

struct p12key {
	EVP_PKEY *key;
	char *fname;
	ASN1_OCTET_STRING *id;
};

struct p12cert {
	X509 *x;
	char *fname;
	ASN1_OCTET_STRING *id;
	int trusted;
	int used;
};

struct walk {
	struct p12key *keys;
	size_t nkeys;
	struct p12cert *certs;
	size_t ncerts;
	const char *pass;
	const char *name;
	ASN1_OBJECT *trust_oid;
	struct mtls_err *err;
};

int
mtls__p12_looks_like(const unsigned char *d, size_t n)
{
	const unsigned char *p = d;
	PKCS12 *p12;

	if (n < 4 || d[0] != 0x30 || n > LONG_MAX) {
		return 0;
	}
	p12 = d2i_PKCS12(NULL, &p, (long)n);
	ERR_clear_error();
	PKCS12_free(p12);
	return p12 != NULL;
}

/* RC2-40 (older keytool, openssl -legacy) lives in OpenSSL's legacy
 * provider; the shrouded keys and encrypted safes are decrypted in the
 * library's private context that holds it (base/init.c), never by loading
 * it into the process-wide default context. The MAC and the keys
 * themselves use the default context. */
static STACK_OF(PKCS12_SAFEBAG) *
unpack_encrypted(PKCS7 *p7, const char *pass, int passlen)
{
	/* What PKCS12_unpack_p7encdata does, with our library context. */
	if (p7->d.encrypted == NULL || p7->d.encrypted->enc_data == NULL) {
		return NULL;
	}
	return PKCS12_item_decrypt_d2i_ex(
	    p7->d.encrypted->enc_data->algorithm,
	    ASN1_ITEM_rptr(PKCS12_SAFEBAGS), pass, passlen,
	    p7->d.encrypted->enc_data->enc_data, 1, mtls__legacy_libctx(),
	    NULL);
}

static const char *
pw_or_null(const char *pass)
{
	return pass;
}

static int
pwlen(const char *pass)
{
	return pass != NULL ? (int)strlen(pass) : 0;
}

static int
attr_present(const PKCS12_SAFEBAG *bag, const ASN1_OBJECT *oid)
{
	const STACK_OF(X509_ATTRIBUTE) *attrs = PKCS12_SAFEBAG_get0_attrs(bag);
	int i;

	for (i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++) {
		X509_ATTRIBUTE *a = sk_X509_ATTRIBUTE_value(attrs, i);

		if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), oid) == 0) {
			return 1;
		}
	}
	return 0;
}

static ASN1_OCTET_STRING *
bag_id(const PKCS12_SAFEBAG *bag)
{
	const ASN1_TYPE *t = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);

	if (t == NULL || t->type != V_ASN1_OCTET_STRING) {
		return NULL;
	}
	return ASN1_OCTET_STRING_dup(t->value.octet_string);
}

static int
walk_key(struct walk *w, const PKCS12_SAFEBAG *bag, EVP_PKEY *k)
{
	struct p12key *nk;

	if (k == NULL) {
		return mtls_err_ssl(w->err, MTLS_E_FORMAT,
		    "%s holds a private key mtls cannot decode", w->name);
	}
	nk = OPENSSL_realloc(w->keys, (w->nkeys + 1) * sizeof(*nk));
	if (nk == NULL) {
		EVP_PKEY_free(k);
		return mtls_err_set(w->err, MTLS_E_INTERNAL, "out of memory");
	}
	w->keys = nk;
	nk[w->nkeys].key = k;
	nk[w->nkeys].fname = PKCS12_get_friendlyname((PKCS12_SAFEBAG *)bag);
	nk[w->nkeys].id = bag_id(bag);
	w->nkeys++;
	return 0;
}

static int
walk_cert(struct walk *w, const PKCS12_SAFEBAG *bag)
{
	struct p12cert *nc;
	X509 *x;

	if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate) {
		return 0; /* SDSI certificates: nobody uses them */
	}
	x = PKCS12_SAFEBAG_get1_cert(bag);
	if (x == NULL) {
		return mtls_err_ssl(w->err, MTLS_E_FORMAT,
		    "%s holds a certificate that is not valid X.509", w->name);
	}
	nc = OPENSSL_realloc(w->certs, (w->ncerts + 1) * sizeof(*nc));
	if (nc == NULL) {
		X509_free(x);
		return mtls_err_set(w->err, MTLS_E_INTERNAL, "out of memory");
	}
	w->certs = nc;
	memset(&nc[w->ncerts], 0, sizeof(*nc));
	nc[w->ncerts].x = x;
	nc[w->ncerts].fname = PKCS12_get_friendlyname((PKCS12_SAFEBAG *)bag);
	nc[w->ncerts].id = bag_id(bag);
	nc[w->ncerts].trusted = attr_present(bag, w->trust_oid);
	w->ncerts++;
	return 0;
}

static int
walk_bags(struct walk *w, const STACK_OF(PKCS12_SAFEBAG) *bags, int depth)
{
	int i;

	for (i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
		PKCS8_PRIV_KEY_INFO *p8 = NULL;
		int rc = 0;

		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_keyBag:
			rc = walk_key(w, bag,
			    EVP_PKCS82PKEY(PKCS12_SAFEBAG_get0_p8inf(bag)));
			break;
		case NID_pkcs8ShroudedKeyBag:
			p8 = PKCS12_decrypt_skey_ex(bag, pw_or_null(w->pass),
			    pwlen(w->pass), mtls__legacy_libctx(), NULL);
			if (p8 == NULL) {
				return mtls_err_ssl(w->err, MTLS_E_PASSWORD,
				    "cannot decrypt the private key in %s with "
				    "the store password (wrong password?)",
				    w->name);
			}
			rc = walk_key(w, bag, EVP_PKCS82PKEY(p8));
			PKCS8_PRIV_KEY_INFO_free(p8);
			break;
		case NID_certBag:
			rc = walk_cert(w, bag);
			break;
		case NID_safeContentsBag:
			if (depth >= P12_MAX_DEPTH) {
				return mtls_err_set(w->err, MTLS_E_FORMAT,
				    "%s nests safe contents too deeply", w->name);
			}
			rc = walk_bags(w, PKCS12_SAFEBAG_get0_safes(bag),
			    depth + 1);
			break;
		default:
			break; /* secret and CRL bags: not keystore entries */
		}
		if (rc != 0) {
			return -1;
		}
	}
	return 0;
}

static int
walk_safes(struct walk *w, PKCS12 *p12)
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	int i, rc = 0;

	if (safes == NULL) {
		return mtls_err_ssl(w->err, MTLS_E_FORMAT,
		    "%s is malformed: its contents cannot be decoded", w->name);
	}
	for (i = 0; i < sk_PKCS7_num(safes) && rc == 0; i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data(p7);
			break;
		case NID_pkcs7_encrypted:
			bags = unpack_encrypted(p7, pw_or_null(w->pass),
			    pwlen(w->pass));
			break;
		default:
			continue; /* enveloped (public-key) safes: unsupported */
		}
		if (bags == NULL) {
			rc = mtls_err_ssl(w->err, MTLS_E_PASSWORD,
			    "cannot decrypt the certificates in %s with the "
			    "store password (wrong password?)", w->name);
			break;
		}
		rc = walk_bags(w, bags, 0);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return rc;
}

static void
walk_free(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->nkeys; i++) {
		EVP_PKEY_free(w->keys[i].key);
		OPENSSL_free(w->keys[i].fname);
		ASN1_OCTET_STRING_free(w->keys[i].id);
	}
	for (i = 0; i < w->ncerts; i++) {
		X509_free(w->certs[i].x);
		OPENSSL_free(w->certs[i].fname);
		ASN1_OCTET_STRING_free(w->certs[i].id);
	}
	OPENSSL_free(w->keys);
	OPENSSL_free(w->certs);
	ASN1_OBJECT_free(w->trust_oid);
}

/* Java's localKeyID "Time 1712345678901" carries the creation date. */
static int64_t
id_time(const ASN1_OCTET_STRING *id)
{
	const unsigned char *d;
	int n, i;
	int64_t v = 0;

	if (id == NULL) {
		return 0;
	}
	d = ASN1_STRING_get0_data(id);
	n = ASN1_STRING_length(id);
	if (n < 6 || n > 24 || memcmp(d, "Time ", 5) != 0) {
		return 0;
	}
	for (i = 5; i < n; i++) {
		/* 19 digits overflow int64_t: not a date Java wrote. */
		if (d[i] < '0' || d[i] > '9' || v > (INT64_MAX - 9) / 10) {
			return 0;
		}
		v = v * 10 + (d[i] - '0');
	}
	return v;
}

static char *
alias_or_number(const char *fname, size_t number)
{
	char buf[32];

	if (fname != NULL && *fname != '\0') {
		return mtls__strdup(fname);
	}
	snprintf(buf, sizeof(buf), "%zu", number); /* what Java invents */
	return mtls__strdup(buf);
}

static int
push_cert(struct mtls_store_entry *e, X509 *x)
{
	if (X509_up_ref(x) != 1) {
		return -1;
	}
	if (sk_X509_push(e->certs, x) <= 0) {
		X509_free(x);
		return -1;
	}
	return 0;
}

static int
build_key_entry(struct mtls_store *s, struct walk *w, size_t k)
{
	struct p12key *pk = &w->keys[k];
	struct mtls_store_entry *e = mtls__store_entry_new(MTLS_ENTRY_KEY);
	struct p12cert *leaf = NULL;
	size_t i, depth;

	if (e == NULL) {
		return mtls_err_set(w->err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < w->ncerts && leaf == NULL; i++) {
		if (pk->id != NULL && w->certs[i].id != NULL &&
		    ASN1_OCTET_STRING_cmp(pk->id, w->certs[i].id) == 0) {
			leaf = &w->certs[i];
		}
	}
	for (i = 0; i < w->ncerts && leaf == NULL; i++) {
		if (mtls_key_matches_cert(pk->key, w->certs[i].x)) {
			leaf = &w->certs[i];
		}
	}
	e->alias = alias_or_number(pk->fname ? pk->fname
	    : leaf ? leaf->fname : NULL, s->n + 1);
	e->created = id_time(pk->id);
	e->key = pk->key;
	pk->key = NULL;
	if (e->alias == NULL) {
		mtls__store_entry_free(e);
		return mtls_err_set(w->err, MTLS_E_INTERNAL, "out of memory");
	}
	/* The rest of the chain by issuer, as Java builds it. */
	for (depth = 0; leaf != NULL && depth < 16; depth++) {
		X509 *x = leaf->x;

		leaf->used = 1;
		if (push_cert(e, x) != 0) {
			mtls__store_entry_free(e);
			return mtls_err_set(w->err, MTLS_E_INTERNAL,
			    "out of memory");
		}
		leaf = NULL;
		if (X509_check_issued(x, x) == X509_V_OK) {
			break;
		}
		for (i = 0; i < w->ncerts && leaf == NULL; i++) {
			if (w->certs[i].x != x &&
			    X509_check_issued(w->certs[i].x, x) == X509_V_OK) {
				leaf = &w->certs[i];
			}
		}
	}
	return mtls__store_push(s, e, w->err);
}

static int
build_entries(struct mtls_store *s, struct walk *w)
{
	size_t i;

	for (i = 0; i < w->nkeys; i++) {
		if (build_key_entry(s, w, i) != 0) {
			return -1;
		}
	}
	/* Trusted certificates; those without Java's attribute that belong
	 * to no key are listed too, flagged, since Java shows none of them. */
	for (i = 0; i < w->ncerts; i++) {
		struct p12cert *c = &w->certs[i];
		struct mtls_store_entry *e;

		if (!c->trusted && c->used) {
			continue;
		}
		e = mtls__store_entry_new(MTLS_ENTRY_TRUSTED);
		if (e == NULL || push_cert(e, c->x) != 0 ||
		    (e->alias = alias_or_number(c->fname, s->n + 1)) == NULL) {
			mtls__store_entry_free(e);
			return mtls_err_set(w->err, MTLS_E_INTERNAL,
			    "out of memory");
		}
		e->created = id_time(c->id);
		if (!c->trusted) {
			e->flags |= MTLS_ENTRY_NOTRUST;
		}
		if (mtls__store_push(s, e, w->err) != 0) {
			return -1;
		}
	}
	return 0;
}

/* The MAC failed: a right password still opens the encrypted parts, so
 * success there means the file was changed. */
static int
mac_failed(PKCS12 *p12, const char *name, const char *pass,
    struct mtls_err *err)
{
	struct walk w = {0};
	int opened;

	w.pass = pass;
	w.name = name;
	w.trust_oid = OBJ_txt2obj(MTLS__P12_TRUST_OID, 1);
	opened = walk_safes(&w, p12) == 0 && (w.nkeys > 0 || w.ncerts > 0);
	walk_free(&w);
	ERR_clear_error();
	if (opened) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s failed its integrity check: the password is right but "
		    "the file was modified after it was written (its MAC does "
		    "not match; restore it from a copy)", name);
	}
	return mtls_err_set(err, MTLS_E_PASSWORD, "wrong password for %s", name);
}

int
mtls__p12_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, struct mtls_err *err)
{
	const unsigned char *p = d;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)n);
	struct walk w = {0};
	int rc = -1;

	if (p12 == NULL) {
		return mtls_err_ssl(err, MTLS_E_FORMAT,
		    "%s is not a valid PKCS#12 file", name);
	}
	if (PKCS12_mac_present(p12)) {
		int ok;

		if (pass != NULL && *pass != '\0') {
			ok = PKCS12_verify_mac(p12, pass, -1) == 1;
		} else if (PKCS12_verify_mac(p12, "", 0) == 1) {
			/* An empty password is "" or nothing; OpenSSL keeps
			 * them apart and Java tries both. */
			ok = 1;
			pass = "";
		} else {
			ok = PKCS12_verify_mac(p12, NULL, 0) == 1;
			if (ok) {
				pass = NULL;
			} else if (pass == NULL) {
				ERR_clear_error();
				rc = mtls_err_set(err, MTLS_E_PASSWORD,
				    "%s is a password-protected PKCS#12 "
				    "keystore; give its password with --pass",
				    name);
				goto out;
			}
		}
		ERR_clear_error();
		if (!ok) {
			rc = mac_failed(p12, name, pass, err);
			goto out;
		}
		s->verified = 1;
	}
	w.pass = pass;
	w.name = name;
	w.err = err;
	w.trust_oid = OBJ_txt2obj(MTLS__P12_TRUST_OID, 1);
	if (w.trust_oid == NULL) {
		rc = mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (walk_safes(&w, p12) != 0 || build_entries(s, &w) != 0) {
		goto out;
	}
	rc = 0;
out:
	walk_free(&w);
	PKCS12_free(p12);
	ERR_clear_error();
	return rc;
}

/* ---- write ------------------------------------------------------------- */

int
mtls__p12store_write(struct mtls_store *s, const char *pass,
    const struct mtls_store_opts *opts, unsigned char **out, size_t *len,
    struct mtls_err *err)
{
	struct mtls__p12_entry *v = NULL;
	int nopass = pass == NULL || *pass == '\0';
	size_t i;
	int rc = -1;

	*out = NULL;
	v = OPENSSL_zalloc((s->n ? s->n : 1) * sizeof(*v));
	if (v == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < s->n; i++) {
		struct mtls_store_entry *e = s->e[i];
		char *norm = mtls_store_alias_norm(e->alias, err);

		if (norm == NULL) {
			goto out;
		}
		OPENSSL_free(e->alias);
		e->alias = norm;
		if (e->type != MTLS_ENTRY_TRUSTED && e->key == NULL) {
			rc = mtls_err_set(err, MTLS_E_PASSWORD,
			    "the key of '%s' is locked by its own password; "
			    "give it with --key-pass (or --in-pass)", e->alias);
			goto out;
		}
		v[i].alias = e->alias;
		v[i].key = e->type == MTLS_ENTRY_TRUSTED ? NULL : e->key;
		v[i].certs = e->certs;
		v[i].created_ms = e->created;
	}
	/* The one writer and its one iteration policy: pki/p12_int.h. */
	rc = mtls__p12_write(v, s->n, nopass ? NULL : pass, opts->legacy,
	    opts->iterations, out, len, err);
out:
	OPENSSL_free(v);
	return rc;
}
