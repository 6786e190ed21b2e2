/* see mtls/ocsp.h: the responder */
#include "mtls/ocsp.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "base/internal.h"
#include "base/clock.h"

/* Pre-encoded OCSPResponse with only a responseStatus (RFC 6960 4.2.1):
 * SEQUENCE { ENUMERATED n }. */
static const unsigned char resp_malformed[] = {0x30, 0x03, 0x0a, 0x01, 0x01};
static const unsigned char resp_internal[] = {0x30, 0x03, 0x0a, 0x01, 0x02};

/* Requests larger than this are answered but never cached; a single
 * CertID request is about 80-120 bytes. */
#define CACHE_REQ_MAX 512
/* More CertIDs than this in one request: malformedRequest (bounds the
 * signing work one request can cause). */
#define MAX_CERTIDS 32
/* RFC 8954 section 2.1: nonces of 1 to 32 octets. */
#define NONCE_MAX 32

/* The CA's name and key hashed with each digest a CertID may use. */
struct issuer_id {
	int nid;
	unsigned int len;
	unsigned char name[EVP_MAX_MD_SIZE];
	unsigned char key[EVP_MAX_MD_SIZE];
};

struct cache_entry {
	struct cache_entry *next;
	uint64_t hash;
	time_t made;
	int status; /* V_OCSP_CERTSTATUS_* for the stats */
	size_t req_len, resp_len;
	unsigned char *resp;
	unsigned char req[]; /* request bytes, the key */
};

struct mtls_ocsp_responder {
	struct mtls_ca *ca;
	X509 *signer;
	EVP_PKEY *key;
	STACK_OF(X509) *certs; /* sent with responses (delegated signer) */
	unsigned long flags;
	const EVP_MD *md;
	time_t validity; /* seconds */
	long refresh_ms;
	struct issuer_id ids[4];
	/* During a rollover the retiring issuer answers for what it issued,
	 * signing with its own key (RFC 6960 4.2.2.2: the CA that issued the
	 * certificate). NULL when there is none, or its key is not loaded. */
	X509 *prev;
	EVP_PKEY *prev_key;
	struct issuer_id prev_ids[4];
	/* A request naming both issuers gets one response (one signature),
	 * signed by the current key; for the retiring issuer's CertIDs that
	 * key is its designated responder (RFC 6960 4.2.2.2), certified by
	 * this certificate, which the response carries. NULL when the
	 * responder signs with a delegated signer of the current issuer. */
	X509 *prev_deleg;
	/* Cache: open hashing keyed by the request bytes. */
	struct cache_entry **buckets;
	size_t nbuckets, count, cache_max;
	/* Our own read-only connection to the inventory. Lookups share one
	 * read transaction (snapshot) per refresh interval: opening one per
	 * request costs several system calls (locks, stat) in WAL mode. */
	struct mtls_db *db;
	struct mtls_db_stmt *data_version;
	struct mtls_db_stmt *lookup;
	int in_read;
	int pg;
	long long last_version;
	long long last_check_ms;
	unsigned char *scratch; /* the last live response not cached */
	struct mtls_ocsp_stats stats;
};

/* FNV-1a: cheap, and the key is attacker-chosen only within the cache's
 * size bound. */
static uint64_t
hash_bytes(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
cache_flush(struct mtls_ocsp_responder *r)
{
	size_t i;
	struct cache_entry *e, *next;

	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e != NULL; e = next) {
			next = e->next;
			OPENSSL_free(e->resp);
			free(e);
		}
		r->buckets[i] = NULL;
	}
	r->count = 0;
}

static struct cache_entry *
cache_find(struct mtls_ocsp_responder *r, const unsigned char *req,
    size_t len, uint64_t h)
{
	struct cache_entry *e;

	for (e = r->buckets[h & (r->nbuckets - 1)]; e != NULL; e = e->next) {
		if (e->hash == h && e->req_len == len &&
		    memcmp(e->req, req, len) == 0) {
			return e;
		}
	}
	return NULL;
}

static void
cache_remove(struct mtls_ocsp_responder *r, struct cache_entry *victim)
{
	struct cache_entry **pp = &r->buckets[victim->hash & (r->nbuckets - 1)];

	while (*pp != NULL && *pp != victim) {
		pp = &(*pp)->next;
	}
	if (*pp != NULL) {
		*pp = victim->next;
		OPENSSL_free(victim->resp);
		free(victim);
		r->count--;
	}
}

/* Takes ownership of RESP; returns the entry, or NULL when out of memory
 * (RESP then stays the caller's). A full cache is emptied: simple, and
 * refilling costs one signature per distinct request. */
static struct cache_entry *
cache_add(struct mtls_ocsp_responder *r, const unsigned char *req, size_t len,
    uint64_t h, unsigned char *resp, size_t resp_len, int status, time_t made)
{
	struct cache_entry *e;

	if (r->count >= r->cache_max) {
		cache_flush(r);
	}
	e = malloc(sizeof(*e) + len);
	if (e == NULL) {
		return NULL;
	}
	memcpy(e->req, req, len);
	e->req_len = len;
	e->hash = h;
	e->made = made;
	e->status = status;
	e->resp = resp;
	e->resp_len = resp_len;
	e->next = r->buckets[h & (r->nbuckets - 1)];
	r->buckets[h & (r->nbuckets - 1)] = e;
	r->count++;
	return e;
}

/* Flushes the cache when another connection (mtls revoke, issue) has
 * committed to the inventory since we last looked; looks at most once per
 * refresh interval. PRAGMA data_version changes exactly then. */
static void
check_inventory(struct mtls_ocsp_responder *r)
{
	long long t = mtls__mono_ms(), v;

	if (t - r->last_check_ms < r->refresh_ms) {
		return;
	}
	r->last_check_ms = t;
	if (r->in_read) {
		mtls__db_exec(r->db, "COMMIT", "ending a read", NULL);
		r->in_read = 0;
	}
	mtls__db_reset(r->data_version);
	if (mtls__db_step(r->data_version, NULL) != 1) {
		mtls__db_reset(r->data_version);
		cache_flush(r); /* cannot tell: be safe */
		return;
	}
	/* PostgreSQL: three numbers that move with every issuance and
	 * revocation, by any instance; SQLite: one. */
	v = (long long)((unsigned long long)mtls__db_col_int64(r->data_version, 0) *
	    1000003ULL + (unsigned long long)mtls__db_col_int64(r->data_version, 1) *
	    31ULL + (unsigned long long)mtls__db_col_int64(r->data_version, 2));
	mtls__db_reset(r->data_version);
	if (v != r->last_version) {
		r->last_version = v;
		if (r->count > 0) {
			r->stats.reloads++;
		}
		cache_flush(r);
	}
}

static int
hash_issuer(struct issuer_id *id, int nid, X509 *ca, struct mtls_err *err)
{
	const EVP_MD *md = EVP_get_digestbynid(nid);
	unsigned int n1 = 0, n2 = 0;

	/* RFC 6960 4.1.1: issuerNameHash over the DER of the issuer's
	 * subject, issuerKeyHash over its subjectPublicKey bits. */
	if (md == NULL ||
	    X509_NAME_digest(X509_get_subject_name(ca), md, id->name, &n1) != 1 ||
	    X509_pubkey_digest(ca, md, id->key, &n2) != 1 || n1 != n2) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot hash the CA certificate for OCSP");
	}
	id->nid = nid;
	id->len = n1;
	return 0;
}

static int
check_signer(X509 *ca, X509 *signer, EVP_PKEY *key, struct mtls_err *err)
{
	char *subj = mtls_name_format(X509_get_subject_name(signer));
	int rc = -1;

	if (X509_check_issued(ca, signer) != X509_V_OK ||
	    X509_verify(signer, X509_get0_pubkey(ca)) != 1) {
		mtls_err_set(err, MTLS_E_POLICY,
		    "OCSP signer %s was not issued by this CA; issue one with "
		    "'mtls issue NAME --profile ocsp'", subj ? subj : "?");
	} else if ((X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) == 0 ||
	    (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) == 0) {
		mtls_err_set(err, MTLS_E_POLICY,
		    "OCSP signer %s lacks extended key usage OCSPSigning "
		    "(RFC 6960 4.2.2.2); issue it with --profile ocsp",
		    subj ? subj : "?");
	} else if (X509_check_private_key(signer, key) != 1) {
		mtls_err_set(err, MTLS_E_POLICY,
		    "the OCSP signer key does not match certificate %s",
		    subj ? subj : "?");
	} else {
		rc = 0;
	}
	ERR_clear_error();
	OPENSSL_free(subj);
	return rc;
}

static int
setup_signer(struct mtls_ocsp_responder *r,
    const struct mtls_ocsp_responder_opts *o, struct mtls_err *err)
{
	X509 *ca = mtls_ca_cert(r->ca);

	/* Responder ID by key hash (RFC 6960 4.2.2.3). */
	r->flags = OCSP_RESPID_KEY;
	if (o->signer_cert != NULL || o->signer_key != NULL) {
		if (o->signer_cert == NULL || o->signer_key == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "a delegated OCSP signer needs both its certificate "
			    "and its key");
		}
		if (check_signer(ca, o->signer_cert, o->signer_key, err) != 0) {
			return -1;
		}
		r->signer = o->signer_cert;
		r->key = o->signer_key;
		/* The signer's certificate travels with each response so a
		 * client holding only the CA can verify it. */
		r->certs = sk_X509_new_null();
		if (r->certs == NULL) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		}
	} else {
		r->signer = ca;
		r->key = mtls__ca_key(r->ca);
		if (r->key == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "the CA key is locked: unlock it (--ca-pass) or give "
			    "a delegated signer");
		}
		r->flags |= OCSP_NOCERTS;
	}
	r->md = mtls__sign_md(r->key);
	return 0;
}

/* The current CA key certified by the retiring issuer for OCSP signing
 * only (RFC 6960 4.2.2.2: issued by the CA of the certificates in
 * question, id-kp-OCSPSigning; id-pkix-ocsp-nocheck as 4.2.2.2.1 allows,
 * since it is the CA's own key). It ends with the earlier of the two
 * issuers. */
static X509 *
make_prev_delegate(X509 *prev, EVP_PKEY *prev_key, X509 *cur,
    struct mtls_err *err)
{
	X509 *x = X509_new();
	const ASN1_TIME *end = X509_get0_notAfter(cur);
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	static const struct {
		int nid, crit;
		const char *value;
	} exts[] = {
		{NID_basic_constraints, 1, "CA:FALSE"},
		{NID_key_usage, 1, "digitalSignature"},
		{NID_ext_key_usage, 0, "OCSPSigning"},
		{NID_id_pkix_OCSP_noCheck, 0, "ignored"},
		{NID_authority_key_identifier, 0, "keyid:always"},
	};
	size_t i;

	if (ASN1_TIME_compare(X509_get0_notAfter(prev), end) < 0) {
		end = X509_get0_notAfter(prev);
	}
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    mtls__random_serial(X509_get_serialNumber(x), err) != 0 ||
	    X509_set_subject_name(x, X509_get_subject_name(cur)) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(prev)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_set1_notAfter(x, end) != 1 ||
	    X509_set_pubkey(x, X509_get0_pubkey(cur)) != 1) {
		goto fail;
	}
	X509V3_set_ctx(&ctx, prev, x, NULL, NULL, 0);
	for (i = 0; i < MTLS_ARRAY_LEN(exts); i++) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
		if (ext == NULL || X509_EXTENSION_set_critical(ext, exts[i].crit) != 1 ||
		    X509_add_ext(x, ext, -1) != 1) {
			goto fail;
		}
		X509_EXTENSION_free(ext);
		ext = NULL;
	}
	if (X509_sign(x, prev_key, mtls__sign_md(prev_key)) <= 0) {
		goto fail;
	}
	return x;
fail:
	if (err != NULL && err->code == MTLS_OK) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot certify the CA key as "
		    "the retiring issuer's OCSP responder");
	}
	X509_EXTENSION_free(ext);
	X509_free(x);
	return NULL;
}

struct inv_state {
	int found;
	int revoked;
	time_t revoked_at;
	int reason;
};

static int
open_inventory(struct mtls_ocsp_responder *r, struct mtls_err *err)
{
	const char *where = mtls__ca_db_where(r->ca);

	r->db = mtls__db_open(where, mtls__ca_db_pass(r->ca), MTLS_DB_READONLY,
	    err);
	if (r->db == NULL) {
		return -1;
	}
	r->pg = mtls__db_engine(r->db) == MTLS_DB_PG;
	mtls__db_busy_wait(r->db, 5000);
	/* Columns as in the inventory's schema (ca/schema.c). */
	r->data_version = mtls__db_prepare(r->db, r->pg
	    ? "SELECT (SELECT coalesce(max(rowid),0) FROM certs), count(*), "
	      "coalesce(max(revoked_at),0) FROM certs WHERE status='revoked'"
	    : "PRAGMA data_version", "watching the inventory", err);
	if (r->data_version == NULL) {
		return -1;
	}
	r->lookup = mtls__db_prepare(r->db, "SELECT status, revoked_at, reason "
	    "FROM certs WHERE serial=?1", "looking up a serial", err);
	return r->lookup != NULL ? 0 : -1;
}

/* Looks SERIAL (upper-case hex) up: 1 found, 0 not found, -1 error. */
static int
inventory_lookup(struct mtls_ocsp_responder *r, const char *serial,
    struct inv_state *st)
{
	const char *status, *reason;
	int rc;

	/* SQLite: one read snapshot per refresh interval. PostgreSQL: each
	 * lookup on its own, so no transaction stays open on the server. */
	if (!r->in_read && !r->pg) {
		if (mtls__db_exec(r->db, "BEGIN", "starting a read", NULL) != 0) {
			return -1;
		}
		r->in_read = 1;
	}
	mtls__db_reset(r->lookup);
	mtls__db_bind_text(r->lookup, 1, serial);
	rc = mtls__db_step(r->lookup, NULL);
	if (rc != 1) {
		mtls__db_reset(r->lookup);
		return rc;
	}
	status = mtls__db_col_text(r->lookup, 0);
	reason = mtls__db_col_text(r->lookup, 2);
	st->found = 1;
	st->revoked = status != NULL && strcmp(status, "revoked") == 0;
	st->revoked_at = (time_t)mtls__db_col_int64(r->lookup, 1);
	st->reason = -1;
	/* RFC 5280 5.3.1: the reason is omitted rather than "unspecified". */
	if (st->revoked && reason != NULL &&
	    (mtls_reason_parse(reason, &st->reason, NULL) != 0 ||
		st->reason == OCSP_REVOKED_STATUS_UNSPECIFIED)) {
		st->reason = -1;
	}
	mtls__db_reset(r->lookup);
	return 1;
}

struct mtls_ocsp_responder *
mtls_ocsp_responder_new(struct mtls_ca *ca,
    const struct mtls_ocsp_responder_opts *opts, struct mtls_err *err)
{
	static const struct mtls_ocsp_responder_opts defaults;
	static const int nids[] = {NID_sha1, NID_sha256, NID_sha384, NID_sha512};
	const struct mtls_ocsp_responder_opts *o = opts ? opts : &defaults;
	struct mtls_ocsp_responder *r = calloc(1, sizeof(*r));
	size_t i;

	if (r == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	r->ca = ca;
	r->validity = (time_t)(o->validity_minutes > 0 ? o->validity_minutes
	    : MTLS_OCSP_DEFAULT_VALIDITY) * 60;
	r->refresh_ms = o->refresh_ms > 0 ? o->refresh_ms : 1000;
	r->cache_max = o->cache_max > 0 ? o->cache_max : 100000;
	for (r->nbuckets = 64; r->nbuckets < r->cache_max && r->nbuckets < (1u << 20);) {
		r->nbuckets <<= 1;
	}
	r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
	if (r->buckets == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (setup_signer(r, o, err) != 0) {
		goto fail;
	}
	if (mtls_ca_previous(ca) != NULL) {
		r->prev_key = mtls__ca_prev_key(ca, NULL);
		r->prev = r->prev_key != NULL ? mtls_ca_previous(ca) : NULL;
	}
	if (r->prev != NULL && r->signer == mtls_ca_cert(ca)) {
		r->prev_deleg = make_prev_delegate(r->prev, r->prev_key,
		    mtls_ca_cert(ca), err);
		if (r->prev_deleg == NULL) {
			goto fail;
		}
	}
	for (i = 0; i < MTLS_ARRAY_LEN(nids); i++) {
		if (hash_issuer(&r->ids[i], nids[i], mtls_ca_cert(ca), err) != 0 ||
		    (r->prev != NULL &&
			hash_issuer(&r->prev_ids[i], nids[i], r->prev, err) != 0)) {
			goto fail;
		}
	}
	if (open_inventory(r, err) != 0) {
		goto fail;
	}
	r->last_check_ms = mtls__mono_ms() - r->refresh_ms;
	check_inventory(r);
	return r;
fail:
	mtls_ocsp_responder_free(r);
	return NULL;
}

void
mtls_ocsp_responder_free(struct mtls_ocsp_responder *r)
{
	if (r == NULL) {
		return;
	}
	if (r->buckets != NULL) {
		cache_flush(r);
	}
	free(r->buckets);
	if (r->in_read) {
		mtls__db_exec(r->db, "COMMIT", "ending a read", NULL);
	}
	mtls__db_finalize(r->data_version);
	mtls__db_finalize(r->lookup);
	mtls__db_close(r->db);
	sk_X509_free(r->certs);
	X509_free(r->prev_deleg);
	OPENSSL_free(r->scratch);
	free(r);
}

void
mtls_ocsp_responder_flush(struct mtls_ocsp_responder *r)
{
	cache_flush(r);
}

void
mtls_ocsp_responder_stats(const struct mtls_ocsp_responder *r,
    struct mtls_ocsp_stats *out)
{
	*out = r->stats;
}

static int
id_matches(const struct issuer_id *id, const ASN1_OCTET_STRING *name_hash,
    const ASN1_OCTET_STRING *key_hash)
{
	return id != NULL && name_hash->length == (int)id->len &&
	    key_hash->length == (int)id->len &&
	    memcmp(name_hash->data, id->name, id->len) == 0 &&
	    memcmp(key_hash->data, id->key, id->len) == 0;
}

/* The status of CID: V_OCSP_CERTSTATUS_* or -1 on an inventory error.
 * *PREV: 1 when CID names the retiring issuer, 0 the current one, -1
 * neither. */
static int
certid_status(struct mtls_ocsp_responder *r, OCSP_CERTID *cid,
    struct inv_state *st, int *prev)
{
	ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
	ASN1_OBJECT *md_obj = NULL;
	ASN1_INTEGER *serial = NULL;
	const struct issuer_id *id = NULL, *pid = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int nid, rc = V_OCSP_CERTSTATUS_UNKNOWN, found;
	size_t i;

	memset(st, 0, sizeof(*st));
	*prev = -1;
	if (OCSP_id_get0_info(&name_hash, &md_obj, &key_hash, &serial, cid) != 1) {
		return V_OCSP_CERTSTATUS_UNKNOWN;
	}
	nid = OBJ_obj2nid(md_obj);
	for (i = 0; i < MTLS_ARRAY_LEN(r->ids); i++) {
		if (r->ids[i].nid == nid) {
			id = &r->ids[i];
			pid = r->prev != NULL ? &r->prev_ids[i] : NULL;
		}
	}
	/* RFC 6960 2.2: "unknown" for an issuer this responder does not
	 * serve (or a hash it does not know). */
	if (id_matches(id, name_hash, key_hash)) {
		*prev = 0;
	} else if (id_matches(pid, name_hash, key_hash)) {
		*prev = 1;
	} else {
		return V_OCSP_CERTSTATUS_UNKNOWN;
	}
	bn = ASN1_INTEGER_to_BN(serial, NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	if (hex == NULL) {
		ERR_clear_error();
		rc = V_OCSP_CERTSTATUS_UNKNOWN;
	} else if ((found = inventory_lookup(r, hex, st)) <= 0) {
		rc = found == 0 ? V_OCSP_CERTSTATUS_UNKNOWN : -1;
	} else {
		rc = st->revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
	}
	BN_free(bn);
	OPENSSL_free(hex);
	return rc;
}

/* 0: no nonce, 1: a nonce to echo, -1: one longer than RFC 8954 allows. */
static int
nonce_state(OCSP_REQUEST *req)
{
	int idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *v;
	const unsigned char *p;
	long len;
	int tag, cls;

	if (idx < 0) {
		return 0;
	}
	ext = OCSP_REQUEST_get_ext(req, idx);
	v = X509_EXTENSION_get_data(ext);
	if (v == NULL || v->length < 1) {
		return -1;
	}
	/* The value is normally an OCTET STRING wrapping the nonce; measure
	 * the inner one when it parses as such. */
	p = v->data;
	len = v->length;
	if ((ASN1_get_object(&p, &len, &tag, &cls, v->length) & 0x80) == 0 &&
	    tag == V_ASN1_OCTET_STRING && cls == V_ASN1_UNIVERSAL &&
	    p + len == v->data + v->length) {
		return len >= 1 && len <= NONCE_MAX ? 1 : -1;
	}
	ERR_clear_error();
	return v->length <= NONCE_MAX ? 1 : -1;
}

static void
count_status(struct mtls_ocsp_responder *r, int status)
{
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD: r->stats.good++; break;
	case V_OCSP_CERTSTATUS_REVOKED: r->stats.revoked++; break;
	default: r->stats.unknown++; break;
	}
}

/* Builds and signs the BasicOCSPResponse for REQ. Returns the DER of the
 * whole OCSPResponse (OPENSSL_malloc'ed), NULL on failure; *STATUS gets
 * the status of the last CertID. */
static unsigned char *
answer(struct mtls_ocsp_responder *r, OCSP_REQUEST *req, int nonce,
    time_t now, size_t *out_len, int *status)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *resp = NULL;
	ASN1_GENERALIZEDTIME *thisupd, *nextupd, *revtime = NULL;
	unsigned char *der = NULL;
	struct inv_state st;
	int i, n = OCSP_request_onereq_count(req), len, prev, signer = -1;

	thisupd = ASN1_GENERALIZEDTIME_set(NULL, now);
	nextupd = ASN1_GENERALIZEDTIME_set(NULL, now + r->validity);
	if (bs == NULL || thisupd == NULL || nextupd == NULL) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));

		*status = certid_status(r, cid, &st, &prev);
		if (*status < 0) {
			goto out;
		}
		/* One signature per response. A request naming one issuer is
		 * signed by that issuer's key (what every verifier accepts); one
		 * naming both by the current key, a designated responder of the
		 * retiring issuer (prev_deleg), so each CertID gets its own
		 * status. Without that certificate (a delegated signer of the
		 * current issuer signs), the second issuer's CertIDs are
		 * "unknown": nothing here may sign for them. */
		if (prev >= 0 && signer < 0) {
			signer = prev;
		} else if (prev >= 0 && prev != signer && r->prev_deleg != NULL) {
			signer = 2;
		} else if (prev >= 0 && prev != signer && signer != 2) {
			*status = V_OCSP_CERTSTATUS_UNKNOWN;
			memset(&st, 0, sizeof(st));
		}
		count_status(r, *status);
		ASN1_GENERALIZEDTIME_free(revtime);
		revtime = NULL;
		if (*status == V_OCSP_CERTSTATUS_REVOKED) {
			revtime = ASN1_GENERALIZEDTIME_set(NULL, st.revoked_at);
			if (revtime == NULL) {
				goto out;
			}
		}
		if (OCSP_basic_add1_status(bs, cid, *status, st.reason, revtime,
			thisupd, nextupd) == NULL) {
			goto out;
		}
	}
	/* RFC 8954: echo the client's nonce. */
	if (nonce && OCSP_copy_nonce(bs, req) != 1) {
		goto out;
	}
	if (signer == 1 ? OCSP_basic_sign(bs, r->prev, r->prev_key,
		mtls__sign_md(r->prev_key), NULL, OCSP_RESPID_KEY | OCSP_NOCERTS) != 1
	    : signer == 2 ? (OCSP_basic_add1_cert(bs, r->prev_deleg) != 1 ||
		OCSP_basic_sign(bs, r->signer, r->key, r->md, NULL,
		    OCSP_RESPID_KEY | OCSP_NOCERTS) != 1)
			  : OCSP_basic_sign(bs, r->signer, r->key, r->md, r->certs,
			      r->flags) != 1) {
		goto out;
	}
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	if (resp == NULL || (len = i2d_OCSP_RESPONSE(resp, &der)) <= 0) {
		der = NULL;
		goto out;
	}
	*out_len = (size_t)len;
out:
	ERR_clear_error();
	ASN1_GENERALIZEDTIME_free(thisupd);
	ASN1_GENERALIZEDTIME_free(nextupd);
	ASN1_GENERALIZEDTIME_free(revtime);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	return der;
}

static const unsigned char *
fixed(struct mtls_ocsp_responder *r, const unsigned char *resp, size_t len,
    size_t *out_len)
{
	if (resp == resp_malformed) {
		r->stats.malformed++;
	}
	*out_len = len;
	return resp;
}

const unsigned char *
mtls_ocsp_respond(struct mtls_ocsp_responder *r, const unsigned char *req,
    size_t len, size_t *out_len)
{
	OCSP_REQUEST *oreq = NULL;
	const unsigned char *p = req;
	struct cache_entry *e = NULL;
	unsigned char *der;
	uint64_t h = 0;
	time_t now = time(NULL);
	int nonce, n, status = V_OCSP_CERTSTATUS_UNKNOWN;
	size_t der_len = 0;

	r->stats.requests++;
	check_inventory(r);
	if (len > 0 && len <= CACHE_REQ_MAX) {
		h = hash_bytes(req, len);
		e = cache_find(r, req, len, h);
		/* Served again while at least 3/4 of its validity is left. */
		if (e != NULL && now - e->made < r->validity / 4 && now >= e->made) {
			r->stats.cache_hits++;
			count_status(r, e->status);
			*out_len = e->resp_len;
			return e->resp;
		}
		if (e != NULL) {
			cache_remove(r, e);
		}
	}
	if (len == 0 || len > (size_t)LONG_MAX ||
	    (oreq = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL ||
	    p != req + len) {
		ERR_clear_error();
		OCSP_REQUEST_free(oreq);
		return fixed(r, resp_malformed, sizeof(resp_malformed), out_len);
	}
	n = OCSP_request_onereq_count(oreq);
	nonce = nonce_state(oreq);
	if (n < 1 || n > MAX_CERTIDS || nonce < 0) {
		OCSP_REQUEST_free(oreq);
		return fixed(r, resp_malformed, sizeof(resp_malformed), out_len);
	}
	der = answer(r, oreq, nonce, now, &der_len, &status);
	OCSP_REQUEST_free(oreq);
	if (der == NULL) {
		return fixed(r, resp_internal, sizeof(resp_internal), out_len);
	}
	r->stats.signed_live++;
	if (!nonce && n == 1 && len <= CACHE_REQ_MAX &&
	    (e = cache_add(r, req, len, h, der, der_len, status, now)) != NULL) {
		*out_len = der_len;
		return e->resp;
	}
	OPENSSL_free(r->scratch);
	r->scratch = der;
	*out_len = der_len;
	return der;
}
