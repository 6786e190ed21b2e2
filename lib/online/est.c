/* Layer online: EST (RFC 7030) operations on the CA. See est_int.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "mtls/pass.h"
#include "mtls/token.h"
#include "online/est_int.h"
#include "ca/ca_internal.h"
#include "ca/token_int.h"
#include "pki/csr_int.h"

/* CsrAttrs (RFC 7030 4.5.2): SEQUENCE { ecdsa-with-SHA256 }, the
 * signature we want on a CSR; the CA decides every other attribute. */
static const unsigned char csrattrs_der[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};

int
mtls__est_ctx_init(struct est_ctx *c, struct mtls_ca *ca, long cert_lifetime,
    struct mtls_err *err)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	STACK_OF(X509) *issuers = mtls_ca_issuers(ca);
	int i, ok;

	memset(c, 0, sizeof(*c));
	c->ca = ca;
	c->cert_lifetime = cert_lifetime;

	/* The CA and, under an intermediate, its issuers up to the root
	 * (RFC 7030 4.1.3): clients need the chain and the anchor. During a
	 * rollover, the root CA key update certificates too (RFC 7030 4.1.3,
	 * RFC 4210 4.4): NewWithOld first, so that a client pinned to the old
	 * root builds its chain through it rather than stopping at the new
	 * self-signed root it does not trust yet; then NewWithNew and
	 * OldWithOld, which a client pinned to either finds. */
	ok = certs != NULL;
	if (ok && mtls_ca_cross(ca) != NULL) {
		ok = sk_X509_push(certs, mtls_ca_cross(ca)) > 0;
	}
	ok = ok && sk_X509_push(certs, mtls_ca_cert(ca)) > 0;
	for (i = 0; ok && i < sk_X509_num(issuers); i++) {
		ok = sk_X509_push(certs, sk_X509_value(issuers, i)) > 0;
	}
	if (ok && mtls_ca_previous(ca) != NULL) {
		ok = sk_X509_push(certs, mtls_ca_previous(ca)) > 0;
	}
	if (!ok) {
		sk_X509_free(certs);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	c->cacerts = mtls__est_p7_certs_b64(certs, &c->cacerts_len, err);
	sk_X509_free(certs); /* borrowed certificate */
	return c->cacerts != NULL ? 0 : -1;
}

void
mtls__est_ctx_clear(struct est_ctx *c)
{
	free(c->cacerts);
	c->cacerts = NULL;
}

/* ---- answers ---- */

static void
set_text(struct est_resp *r, int status, const char *reason, const char *fmt, ...)
    MTLS_PRINTF(4, 5);

/* Errors are one line of text/plain (RFC 7030 4.2.3 allows a
 * human-readable body): what was wrong and what to do. */
static void
set_text(struct est_resp *r, int status, const char *reason, const char *fmt, ...)
{
	va_list ap;
	char buf[1200];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		n = 0;
	}
	if ((size_t)n > sizeof(buf) - 2) {
		n = (int)sizeof(buf) - 2;
	}
	buf[n++] = '\n';
	buf[n] = '\0';
	free(r->body);
	r->body = strdup(buf);
	r->len = r->body != NULL ? (size_t)n : 0;
	r->status = status;
	r->reason = reason;
	r->content_type = "text/plain; charset=utf-8";
	r->base64 = 0;
}

/* The issued certificate first (clients take the first), then the CA's
 * chain as its chain files carry it: during a rollover the new issuer
 * signed by the old one, so a first enrollment pinned to either root
 * builds a chain its peers verify. */
static void
set_p7(struct est_resp *r, struct mtls_ca *ca, X509 *cert)
{
	STACK_OF(X509) *one = sk_X509_new_null();
	STACK_OF(X509) *issuers = mtls_ca_issuers(ca);
	struct mtls_err e;
	int i, ok = one != NULL && sk_X509_push(one, cert) > 0 &&
	    sk_X509_push(one, mtls_ca_cross(ca) != NULL ? mtls_ca_cross(ca)
		: mtls_ca_cert(ca)) > 0;

	for (i = 0; ok && i < sk_X509_num(issuers); i++) {
		ok = sk_X509_push(one, sk_X509_value(issuers, i)) > 0;
	}
	if (!ok) {
		sk_X509_free(one);
		set_text(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	free(r->body);
	r->body = mtls__est_p7_certs_b64(one, &r->len, &e);
	sk_X509_free(one);
	if (r->body == NULL) {
		set_text(r, 500, "Internal Server Error", "%s", e.msg);
		return;
	}
	r->status = 200;
	r->reason = "OK";
	/* RFC 7030 4.2.3 */
	r->content_type = "application/pkcs7-mime; smime-type=certs-only";
	r->base64 = 1;
}

/* ---- shared steps ---- */

struct est_job {
	struct est_ctx *c;
	const struct est_req *req;
	struct est_resp *resp;
	const char *action;
	char actor[256];
	char name[256];
	X509_REQ *csr;
	GENERAL_NAMES *sans;  /* what the CSR asks for */
	int in_txn;           /* between txn_begin and txn_undo/txn_end */
};

/* One request's writes: with group commit a savepoint in the transaction
 * the burst shares (the server commits it, then answers), else a
 * transaction of its own under the CA lock. */
static int
txn_begin(struct est_job *j, struct mtls_err *e)
{
	int rc = j->c->group
	    ? mtls__ca_group_join(j->c->ca, MTLS__CA_WRITE_WAIT_MS, e)
	    : mtls__ca_begin_locked(j->c->ca, MTLS__CA_WRITE_WAIT_MS, e);

	j->in_txn = rc == 0;
	return rc;
}

static void
txn_undo(struct est_job *j)
{
	struct mtls_err e;

	j->in_txn = 0;
	if (j->c->group) {
		(void)mtls__ca_group_leave(j->c->ca, 0, &e);
	} else {
		mtls_ca_rollback(j->c->ca);
	}
}

static int
txn_end(struct est_job *j, struct mtls_err *e)
{
	j->in_txn = 0;
	return j->c->group ? mtls__ca_group_leave(j->c->ca, 1, e)
			   : mtls_ca_commit(j->c->ca, e);
}

static void
audit(struct est_job *j, const char *serial, const char *outcome,
    const char *why)
{
	struct mtls_audit_event ev;
	struct mtls_err e;

	memset(&ev, 0, sizeof(ev));
	ev.at = j->req->now;
	ev.actor = j->actor;
	ev.action = j->action;
	ev.name = j->name;
	ev.serial = serial ? serial : "";
	ev.outcome = outcome;
	ev.reason = why ? why : "";
	/* Refusals are recorded in their own small transaction (or the
	 * group's, which commits before the answer goes); issuances inside
	 * the one that issued. A failure to record is not silent. */
	if (j->c->group && !j->in_txn &&
	    mtls__ca_group_join(j->c->ca, MTLS__CA_WRITE_WAIT_MS, &e) == 0) {
		if (mtls__audit_add(j->c->ca, &ev, &e) != 0) {
			fprintf(stderr, "mtls ca serve: cannot record an audit "
			    "event: %s\n", e.msg);
			mtls__ca_group_leave(j->c->ca, 0, &e);
			return;
		}
		(void)mtls__ca_group_leave(j->c->ca, 1, &e);
		return;
	}
	if (mtls__audit_add(j->c->ca, &ev, &e) != 0) {
		fprintf(stderr, "mtls ca serve: cannot record an audit event: %s\n",
		    e.msg);
	}
}

static void
refuse(struct est_job *j, int status, const char *reason, const char *why)
{
	audit(j, NULL, "refused", why);
	set_text(j->resp, status, reason, "%s", why);
}

/* The CSR from a base64 application/pkcs10 body (RFC 7030 4.2.1). */
static int
read_csr(struct est_job *j)
{
	const struct est_req *r = j->req;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t n = 0;
	int trailing;
	struct mtls_err e;

	if (!r->post) {
		set_text(j->resp, 405, "Method Not Allowed", "%s takes a POST of "
		    "a base64 PKCS#10 request", r->op);
		return -1;
	}
	if (r->content_type == NULL ||
	    strncasecmp(r->content_type, "application/pkcs10", 18) != 0 ||
	    (r->content_type[18] != '\0' && r->content_type[18] != ';' &&
		r->content_type[18] != ' ')) {
		refuse(j, 415, "Unsupported Media Type", "send the CSR as "
		    "Content-Type: application/pkcs10 (base64 DER, RFC 7030 4.2.1)");
		return -1;
	}
	if (r->len > EST_MAX_BODY) {
		refuse(j, 413, "Payload Too Large", "the request body is too large "
		    "for a CSR");
		return -1;
	}
	der = mtls__est_b64_decode(r->body, r->len, &n);
	if (der == NULL) {
		refuse(j, 400, "Bad Request", "the body is not base64 (RFC 7030 "
		    "4.2.1 wants the DER CSR base64-encoded)");
		return -1;
	}
	p = der;
	j->csr = d2i_X509_REQ(NULL, &p, (long)n);
	trailing = j->csr != NULL && p != der + n;
	free(der);
	ERR_clear_error();
	if (j->csr == NULL || trailing) {
		refuse(j, 400, "Bad Request", "the body is not a DER PKCS#10 "
		    "certificate request");
		return -1;
	}
	/* Proof of possession, key strength, no CA:TRUE, well-formed SANs. */
	if (mtls_csr_check(j->csr, NULL, &j->sans, &e) != 0) {
		refuse(j, 400, "Bad Request", e.msg);
		return -1;
	}
	return 0;
}

/* Each SAN the CSR asks for must be one of ALLOWED ("dns:a,ip:b"). */
static int
sans_allowed(struct est_job *j, const char *allowed, char *why, size_t len)
{
	int i;
	GENERAL_NAMES *one;
	char *txt;
	const char *p;
	size_t tl;

	for (i = 0; i < sk_GENERAL_NAME_num(j->sans); i++) {
		one = sk_GENERAL_NAME_new_null();
		if (one == NULL || sk_GENERAL_NAME_push(one,
			GENERAL_NAME_dup(sk_GENERAL_NAME_value(j->sans, i))) <= 0) {
			sk_GENERAL_NAME_free(one);
			snprintf(why, len, "out of memory");
			return -1;
		}
		txt = mtls_san_format(one);
		GENERAL_NAMES_free(one);
		if (txt == NULL) {
			snprintf(why, len, "out of memory");
			return -1;
		}
		tl = strlen(txt);
		for (p = allowed; p != NULL && *p != '\0'; p = strchr(p, ',')) {
			p += *p == ',';
			if (strncmp(p, txt, tl) == 0 && (p[tl] == ',' || p[tl] == '\0')) {
				break;
			}
		}
		if (p == NULL || *p == '\0') {
			snprintf(why, len, "the CSR asks for SAN %.200s, which its "
			    "token does not allow (allowed: %.500s); ask for a token "
			    "with --san %.200s", txt, allowed[0] ? allowed : "none", txt);
			free(txt);
			return -1;
		}
		free(txt);
	}
	return 0;
}

/* The CSR's subject must be empty or exactly CN=NAME. */
static int
subject_is_name(X509_REQ *csr, const char *name, char *why, size_t len)
{
	X509_NAME *subj = X509_REQ_get_subject_name(csr);
	char *cn, *dn;
	int ok;

	if (X509_NAME_entry_count(subj) == 0) {
		return 0;
	}
	cn = mtls_name_cn(subj);
	ok = X509_NAME_entry_count(subj) == 1 && cn != NULL && strcmp(cn, name) == 0;
	if (!ok) {
		dn = mtls_name_format(subj);
		snprintf(why, len, "the CSR's subject '%s' is not CN=%s, the name "
		    "its token was made for", dn ? dn : "?", name);
		OPENSSL_free(dn);
	}
	OPENSSL_free(cn);
	return ok ? 0 : -1;
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return x;
}

struct found {
	char serial[80];
	char name[256];
	char profile[16];
	char status[16];
	char superseded_by[80];
	time_t revoked_at;
	X509 *cert;
};

static int
take_entry(const struct mtls_inv_entry *e, void *arg)
{
	struct found *f = arg;

	snprintf(f->serial, sizeof(f->serial), "%s", e->serial);
	snprintf(f->name, sizeof(f->name), "%s", e->name);
	snprintf(f->profile, sizeof(f->profile), "%s", e->profile);
	snprintf(f->status, sizeof(f->status), "%s", e->status);
	snprintf(f->superseded_by, sizeof(f->superseded_by), "%s",
	    e->superseded_by ? e->superseded_by : "");
	f->revoked_at = e->revoked_at;
	f->cert = pem_cert(e->pem);
	return 0;
}

/* A retry of a request that was answered but whose answer was lost (a
 * crash, a dropped connection): same key, same issued certificate. */
static int
same_key(struct est_job *j, const char *serial)
{
	struct found f;
	struct mtls_err e;
	int same;

	memset(&f, 0, sizeof(f));
	if (serial[0] == '\0' || mtls_ca_lookup(j->c->ca, serial, take_entry, &f,
		&e) != 0 || f.cert == NULL) {
		X509_free(f.cert);
		return 0;
	}
	same = strcmp(f.status, "valid") == 0 &&
	    EVP_PKEY_eq(X509_get0_pubkey(f.cert), X509_REQ_get0_pubkey(j->csr)) == 1;
	if (same) {
		set_p7(j->resp, j->c->ca, f.cert);
		j->resp->issued = 0;
	}
	X509_free(f.cert);
	return same;
}

/* Signs the CSR's key for NAME/PROFILE/SUBJ/SANS inside the open
 * transaction; *SERIAL gets the new serial (OPENSSL_free). */
static X509 *
sign_for(struct est_job *j, const X509_NAME *subj, enum mtls_profile profile,
    const GENERAL_NAMES *sans, long lifetime, char **serial,
    struct mtls_err *e)
{
	struct mtls_cert_request cr;
	X509 *x;

	memset(&cr, 0, sizeof(cr));
	cr.name = j->name;
	cr.subject = subj;
	cr.pubkey = mtls__csr_pubkey(j->csr);
	cr.profile = profile;
	cr.sans = sans;
	cr.lifetime = lifetime > 0 ? lifetime : j->c->cert_lifetime;
	if (cr.pubkey == NULL) {
		mtls_err_ssl(e, MTLS_E_INTERNAL, "cannot read the CSR's key");
		return NULL;
	}
	x = mtls_ca_sign(j->c->ca, &cr, e);
	EVP_PKEY_free(cr.pubkey);
	if (x != NULL && (*serial = mtls_cert_serial_hex(x)) == NULL) {
		mtls_err_set(e, MTLS_E_INTERNAL, "out of memory");
		X509_free(x);
		return NULL;
	}
	return x;
}

/* A failed write: another writer holding the inventory (a batch `mtls
 * issue`) is "come back later" - 202 + Retry-After, the answer RFC 7030
 * 4.2.3 gives a request that cannot be answered now; a rule of the CA (a
 * lifetime past the CA's own) is a refusal with its reason. */
static void
store_failed(struct est_job *j, const struct mtls_err *e)
{
	switch (e->code) {
	case MTLS_E_BUSY:
		/* No audit event: the inventory is what is busy, and the same
		 * request comes back. */
		set_text(j->resp, 202, "Accepted", "the CA's inventory is busy; "
		    "send the same request again after Retry-After seconds");
		j->resp->retry_after = EST_BUSY_RETRY;
		j->resp->busy = 1;
		return;
	case MTLS_E_POLICY:
		refuse(j, 403, "Forbidden", e->msg);
		return;
	default:
		refuse(j, 500, "Internal Server Error", e->msg);
		return;
	}
}

/* The lifetime a certificate will get, or -1 (refused) when the CA's
 * operator allows less (--max-lifetime). */
static long
lifetime_allowed(struct est_job *j, long asked)
{
	long life = asked > 0 ? asked : j->c->cert_lifetime;
	char why[300];

	if (j->c->max_lifetime > 0 && life > j->c->max_lifetime) {
		snprintf(why, sizeof(why), "the token asks for certificates living "
		    "%ld s, more than this CA issues (--max-lifetime %ld s): make a "
		    "token with a shorter --cert-lifetime", life, j->c->max_lifetime);
		refuse(j, 403, "Forbidden", why);
		return -1;
	}
	return life;
}

/* ---- operations ---- */

static void
op_simpleenroll(struct est_job *j)
{
	char user[256], why[1024], *secret = NULL, *serial = NULL;
	struct mtls_token t;
	struct mtls_err e;
	enum mtls_profile profile;
	GENERAL_NAMES *allowed = NULL;
	X509_NAME *subj = NULL;
	X509 *x = NULL;
	long life;

	j->action = "simpleenroll";
	if (mtls__est_basic_credentials(j->req->authorization, user, sizeof(user),
		&secret) != 0) {
		set_text(j->resp, 401, "Unauthorized", "enrollment needs a token: "
		    "HTTP Basic with the name (or token id) and the token's "
		    "secret (RFC 7030 3.2.3)");
		j->resp->www_authenticate = 1;
		return;
	}
	snprintf(j->actor + strlen(j->actor), sizeof(j->actor) - strlen(j->actor),
	    " user %s", user);
	snprintf(j->name, sizeof(j->name), "%s", user);
	if (read_csr(j) != 0) {
		goto out;
	}
	if (mtls__token_find(j->c->ca, user, secret, &t, &e) != 0) {
		if (e.code == MTLS_E_BUSY) {
			/* The database, not the client, failed (PostgreSQL
			 * restarting or unreachable): come back later. */
			set_text(j->resp, 503, "Service Unavailable", "the CA's "
			    "database is unavailable; send the same request again "
			    "after Retry-After seconds");
			j->resp->retry_after = EST_BUSY_RETRY;
			j->resp->busy = 1;
			goto out;
		}
		j->resp->auth_failed = 1;
		refuse(j, 401, "Unauthorized", e.msg);
		j->resp->www_authenticate = 1;
		goto out;
	}
	snprintf(j->name, sizeof(j->name), "%s", t.name);
	snprintf(j->actor + strlen(j->actor), sizeof(j->actor) - strlen(j->actor),
	    " token %s", t.id);
	if (mtls__token_usable(&t, j->req->now, &e) != 0) {
		if (t.used_at != 0 && same_key(j, t.used_serial)) {
			audit(j, t.used_serial, "reissued", "a retry with the key "
			    "the token already paid for: the same certificate");
			goto out;
		}
		j->resp->auth_failed = 1;
		refuse(j, 403, "Forbidden", e.msg);
		goto out;
	}
	if (subject_is_name(j->csr, t.name, why, sizeof(why)) != 0 ||
	    sans_allowed(j, t.sans, why, sizeof(why)) != 0) {
		refuse(j, 403, "Forbidden", why);
		goto out;
	}
	allowed = sk_GENERAL_NAME_new_null();
	subj = X509_NAME_new();
	if (allowed == NULL || subj == NULL ||
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)t.name, -1, -1, 0) != 1 ||
	    mtls_profile_parse(t.profile, &profile, &e) != 0 ||
	    (t.sans[0] != '\0' && mtls_san_add(allowed, t.sans, &e) != 0)) {
		ERR_clear_error();
		refuse(j, 500, "Internal Server Error", "the token's record is "
		    "unusable");
		goto out;
	}
	life = lifetime_allowed(j, t.cert_lifetime);
	if (life < 0) {
		goto out;
	}
	/* Token, certificate and audit event in one transaction: all or none. */
	if (txn_begin(j, &e) != 0) {
		store_failed(j, &e);
		goto out;
	}
	x = sign_for(j, subj, profile, sk_GENERAL_NAME_num(j->sans) > 0 ? j->sans
	    : allowed, life, &serial, &e);
	if (x == NULL || mtls__token_consume(j->c->ca, t.id, serial, j->req->now,
		&e) != 0) {
		txn_undo(j);
		store_failed(j, &e);
		goto out;
	}
	audit(j, serial, "issued", "");
	if (txn_end(j, &e) != 0) {
		store_failed(j, &e);
		goto out;
	}
	set_p7(j->resp, j->c->ca, x);
	j->resp->issued = 1;
out:
	mtls_pass_free(secret);
	OPENSSL_free(serial);
	X509_free(x);
	X509_NAME_free(subj);
	GENERAL_NAMES_free(allowed);
}

/* SANs of X in canonical text ("" when none); caller frees. */
static char *
cert_sans_text(X509 *x, GENERAL_NAMES **gens)
{
	*gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (*gens == NULL) {
		*gens = sk_GENERAL_NAME_new_null();
	}
	return *gens != NULL ? mtls_san_format(*gens) : NULL;
}

static int
check_current(struct est_job *j, struct found *f, char *why, size_t len)
{
	const struct est_req *r = j->req;
	char *serial = mtls_cert_serial_hex(r->peer);
	struct mtls_err e;
	int rc = -1;

	if (serial == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	if (r->peer_verify != X509_V_OK) {
		snprintf(why, len, "your certificate (serial %s) does not verify: "
		    "%s; enroll again with a new token", serial,
		    X509_verify_cert_error_string(r->peer_verify));
		goto out;
	}
	if (mtls_ca_lookup(j->c->ca, serial, take_entry, f, &e) != 0 ||
	    f->cert == NULL) {
		snprintf(why, len, "your certificate (serial %s) is not in this "
		    "CA's inventory", serial);
		goto out;
	}
	snprintf(j->name, sizeof(j->name), "%s", f->name);
	if (X509_cmp(f->cert, r->peer) != 0) {
		snprintf(why, len, "your certificate differs from the one this "
		    "CA issued with serial %s", serial);
		goto out;
	}
	if (strcmp(f->status, "valid") != 0) {
		snprintf(why, len, "your certificate (serial %s) is revoked; "
		    "enroll again with a new token", serial);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(serial);
	return rc;
}

/* The lifetime F was issued with: notAfter - notBefore, less the
 * back-dating for clock skew that signing added (a tenth, at most 5 min). */
static long
lifetime_of(X509 *x)
{
	int days = 0, secs = 0;
	long span;

	if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
		X509_get0_notAfter(x)) != 1) {
		return 0;
	}
	span = (long)days * 86400 + secs;
	return span - (span / 11 < 300 ? span / 11 : 300);
}

static void
op_simplereenroll(struct est_job *j)
{
	char why[1024], *serial = NULL, *old_sans = NULL, *new_sans = NULL;
	struct found f;
	struct mtls_err e;
	enum mtls_profile profile;
	GENERAL_NAMES *old_g = NULL;
	X509_NAME *csr_subj;
	X509 *x = NULL;
	long life;

	memset(&f, 0, sizeof(f));
	j->action = "simplereenroll";
	if (j->req->peer == NULL) {
		set_text(j->resp, 403, "Forbidden", "re-enrollment is authenticated "
		    "by your current certificate: connect with it (mutual TLS, "
		    "RFC 7030 3.3.2)");
		return;
	}
	serial = mtls_cert_serial_hex(j->req->peer);
	snprintf(j->actor + strlen(j->actor), sizeof(j->actor) - strlen(j->actor),
	    " cert %s", serial != NULL ? serial : "?");
	OPENSSL_free(serial);
	serial = NULL;
	if (check_current(j, &f, why, sizeof(why)) != 0) {
		j->resp->auth_failed = 1;
		refuse(j, 403, "Forbidden", why);
		goto out;
	}
	if (read_csr(j) != 0) {
		goto out;
	}
	if (f.superseded_by[0] != '\0') {
		if (same_key(j, f.superseded_by)) {
			audit(j, f.superseded_by, "reissued", "a retry with the key "
			    "of the renewal: the same certificate");
			goto out;
		}
		snprintf(why, sizeof(why), "your certificate (serial %s) was "
		    "already renewed (serial %s): re-enroll with the newer one",
		    f.serial, f.superseded_by);
		refuse(j, 403, "Forbidden", why);
		goto out;
	}
	/* RFC 7030 4.2.2: the same subject and SANs as the current one. */
	csr_subj = X509_REQ_get_subject_name(j->csr);
	old_sans = cert_sans_text(f.cert, &old_g);
	new_sans = mtls_san_format(j->sans);
	if (old_sans == NULL || new_sans == NULL) {
		refuse(j, 500, "Internal Server Error", "out of memory");
		goto out;
	}
	if ((X509_NAME_entry_count(csr_subj) != 0 &&
		X509_NAME_cmp(csr_subj, X509_get_subject_name(f.cert)) != 0) ||
	    (new_sans[0] != '\0' && strcmp(new_sans, old_sans) != 0)) {
		snprintf(why, sizeof(why), "re-enrollment keeps the subject and "
		    "SANs of the current certificate (SANs '%s'); the CSR asks "
		    "for SANs '%s': enroll with a new token to change them",
		    old_sans, new_sans);
		refuse(j, 403, "Forbidden", why);
		goto out;
	}
	if (mtls_profile_parse(f.profile, &profile, &e) != 0) {
		refuse(j, 500, "Internal Server Error", e.msg);
		goto out;
	}
	/* The same lifetime as the certificate it replaces. */
	life = lifetime_of(f.cert);
	if (j->c->max_lifetime > 0 && life > j->c->max_lifetime) {
		life = j->c->max_lifetime; /* the operator lowered the limit */
	}
	if (txn_begin(j, &e) != 0) {
		store_failed(j, &e);
		goto out;
	}
	x = sign_for(j, X509_get_subject_name(f.cert), profile, old_g, life,
	    &serial, &e);
	if (x == NULL || mtls__ca_set_superseded(j->c->ca, f.serial, serial,
		&e) != 0) {
		txn_undo(j);
		store_failed(j, &e);
		goto out;
	}
	snprintf(why, sizeof(why), "supersedes %s", f.serial);
	audit(j, serial, "issued", why);
	if (txn_end(j, &e) != 0) {
		store_failed(j, &e);
		goto out;
	}
	set_p7(j->resp, j->c->ca, x);
	j->resp->issued = 1;
out:
	OPENSSL_free(serial);
	free(old_sans);
	free(new_sans);
	GENERAL_NAMES_free(old_g);
	X509_free(f.cert);
	X509_free(x);
}

void
mtls__est_handle(struct est_ctx *c, const struct est_req *req, struct est_resp *resp)
{
	struct est_job j;
	struct est_req r = *req;

	memset(resp, 0, sizeof(*resp));
	memset(&j, 0, sizeof(j));
	if (r.now == 0) {
		r.now = time(NULL);
	}
	j.c = c;
	j.req = &r;
	j.resp = resp;
	snprintf(j.actor, sizeof(j.actor), "%s", r.peer_addr ? r.peer_addr : "-");
	if (strcmp(r.op, "cacerts") == 0 || strcmp(r.op, "csrattrs") == 0) {
		if (r.post) {
			set_text(resp, 405, "Method Not Allowed", "%s is a GET", r.op);
			return;
		}
		if (r.op[1] == 'a') {
			resp->body = malloc(c->cacerts_len + 1);
			if (resp->body == NULL) {
				set_text(resp, 500, "Internal Server Error", "out of memory");
				return;
			}
			memcpy(resp->body, c->cacerts, c->cacerts_len + 1);
			resp->len = c->cacerts_len;
			resp->content_type = "application/pkcs7-mime"; /* RFC 7030 4.1.3 */
		} else {
			resp->body = mtls__est_b64_encode(csrattrs_der, sizeof(csrattrs_der),
			    &resp->len);
			resp->content_type = "application/csrattrs"; /* 4.5.2 */
		}
		resp->status = 200;
		resp->reason = "OK";
		resp->base64 = 1;
		return;
	}
	if (!r.post && (strcmp(r.op, "simpleenroll") == 0 ||
		strcmp(r.op, "simplereenroll") == 0)) {
		set_text(resp, 405, "Method Not Allowed", "%s takes a POST of a "
		    "base64 PKCS#10 request", r.op);
		return;
	}
	if (strcmp(r.op, "simpleenroll") == 0) {
		op_simpleenroll(&j);
	} else if (strcmp(r.op, "simplereenroll") == 0) {
		op_simplereenroll(&j);
	} else {
		set_text(resp, 404, "Not Found", "no EST operation '%s' here: "
		    "cacerts, simpleenroll, simplereenroll, csrattrs", r.op);
	}
	X509_REQ_free(j.csr);
	GENERAL_NAMES_free(j.sans);
}
