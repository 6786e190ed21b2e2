/* Layer online: EST (RFC 7030) operations on the CA. See est_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
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
		mtls__est_set_text(j->resp, 401, "Unauthorized", "enrollment needs a token: "
		    "HTTP Basic with the name (or token id) and the token's "
		    "secret (RFC 7030 3.2.3)");
		j->resp->www_authenticate = 1;
		return;
	}
	snprintf(j->actor + strlen(j->actor), sizeof(j->actor) - strlen(j->actor),
	    " user %s", user);
	snprintf(j->name, sizeof(j->name), "%s", user);
	if (mtls__est_read_csr(j) != 0) {
		goto out;
	}
	if (mtls__token_find(j->c->ca, user, secret, &t, &e) != 0) {
		if (e.code == MTLS_E_BUSY) {
			/* The database, not the client, failed (PostgreSQL
			 * restarting or unreachable): come back later. */
			mtls__est_set_text(j->resp, 503, "Service Unavailable", "the CA's "
			    "database is unavailable; send the same request again "
			    "after Retry-After seconds");
			j->resp->retry_after = EST_BUSY_RETRY;
			j->resp->busy = 1;
			goto out;
		}
		j->resp->auth_failed = 1;
		mtls__est_refuse(j, 401, "Unauthorized", e.msg);
		j->resp->www_authenticate = 1;
		goto out;
	}
	snprintf(j->name, sizeof(j->name), "%s", t.name);
	snprintf(j->actor + strlen(j->actor), sizeof(j->actor) - strlen(j->actor),
	    " token %s", t.id);
	if (mtls__token_usable(&t, j->req->now, &e) != 0) {
		if (t.used_at != 0 && mtls__est_same_key(j, t.used_serial)) {
			mtls__est_audit(j, t.used_serial, "reissued", "a retry with the key "
			    "the token already paid for: the same certificate");
			goto out;
		}
		j->resp->auth_failed = 1;
		mtls__est_refuse(j, 403, "Forbidden", e.msg);
		goto out;
	}
	if (mtls__est_subject_is_name(j->csr, t.name, why, sizeof(why)) != 0 ||
	    mtls__est_sans_allowed(j, t.sans, why, sizeof(why)) != 0) {
		mtls__est_refuse(j, 403, "Forbidden", why);
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
		mtls__est_refuse(j, 500, "Internal Server Error", "the token's record is "
		    "unusable");
		goto out;
	}
	life = mtls__est_lifetime_allowed(j, t.cert_lifetime);
	if (life < 0) {
		goto out;
	}
	/* Token, certificate and audit event in one transaction: all or none. */
	if (mtls__est_txn_begin(j, &e) != 0) {
		mtls__est_store_failed(j, &e);
		goto out;
	}
	x = mtls__est_sign_for(j, subj, profile, sk_GENERAL_NAME_num(j->sans) > 0 ? j->sans
	    : allowed, life, &serial, &e);
	if (x == NULL || mtls__token_consume(j->c->ca, t.id, serial, j->req->now,
		&e) != 0) {
		mtls__est_txn_undo(j);
		mtls__est_store_failed(j, &e);
		goto out;
	}
	mtls__est_audit(j, serial, "issued", "");
	if (mtls__est_txn_end(j, &e) != 0) {
		mtls__est_store_failed(j, &e);
		goto out;
	}
	mtls__est_set_p7(j->resp, j->c->ca, x);
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
	if (mtls_ca_lookup(j->c->ca, serial, mtls__est_take_entry, f, &e) != 0 ||
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
		mtls__est_set_text(j->resp, 403, "Forbidden", "re-enrollment is authenticated "
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
		mtls__est_refuse(j, 403, "Forbidden", why);
		goto out;
	}
	if (mtls__est_read_csr(j) != 0) {
		goto out;
	}
	if (f.superseded_by[0] != '\0') {
		if (mtls__est_same_key(j, f.superseded_by)) {
			mtls__est_audit(j, f.superseded_by, "reissued", "a retry with the key "
			    "of the renewal: the same certificate");
			goto out;
		}
		snprintf(why, sizeof(why), "your certificate (serial %s) was "
		    "already renewed (serial %s): re-enroll with the newer one",
		    f.serial, f.superseded_by);
		mtls__est_refuse(j, 403, "Forbidden", why);
		goto out;
	}
	/* RFC 7030 4.2.2: the same subject and SANs as the current one. */
	csr_subj = X509_REQ_get_subject_name(j->csr);
	old_sans = cert_sans_text(f.cert, &old_g);
	new_sans = mtls_san_format(j->sans);
	if (old_sans == NULL || new_sans == NULL) {
		mtls__est_refuse(j, 500, "Internal Server Error", "out of memory");
		goto out;
	}
	if ((X509_NAME_entry_count(csr_subj) != 0 &&
		X509_NAME_cmp(csr_subj, X509_get_subject_name(f.cert)) != 0) ||
	    (new_sans[0] != '\0' && strcmp(new_sans, old_sans) != 0)) {
		snprintf(why, sizeof(why), "re-enrollment keeps the subject and "
		    "SANs of the current certificate (SANs '%s'); the CSR asks "
		    "for SANs '%s': enroll with a new token to change them",
		    old_sans, new_sans);
		mtls__est_refuse(j, 403, "Forbidden", why);
		goto out;
	}
	if (mtls_profile_parse(f.profile, &profile, &e) != 0) {
		mtls__est_refuse(j, 500, "Internal Server Error", e.msg);
		goto out;
	}
	/* The same lifetime as the certificate it replaces. */
	life = lifetime_of(f.cert);
	if (j->c->max_lifetime > 0 && life > j->c->max_lifetime) {
		life = j->c->max_lifetime; /* the operator lowered the limit */
	}
	if (mtls__est_txn_begin(j, &e) != 0) {
		mtls__est_store_failed(j, &e);
		goto out;
	}
	x = mtls__est_sign_for(j, X509_get_subject_name(f.cert), profile, old_g, life,
	    &serial, &e);
	if (x == NULL || mtls__ca_set_superseded(j->c->ca, f.serial, serial,
		&e) != 0) {
		mtls__est_txn_undo(j);
		mtls__est_store_failed(j, &e);
		goto out;
	}
	snprintf(why, sizeof(why), "supersedes %s", f.serial);
	mtls__est_audit(j, serial, "issued", why);
	if (mtls__est_txn_end(j, &e) != 0) {
		mtls__est_store_failed(j, &e);
		goto out;
	}
	mtls__est_set_p7(j->resp, j->c->ca, x);
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
			mtls__est_set_text(resp, 405, "Method Not Allowed", "%s is a GET", r.op);
			return;
		}
		if (r.op[1] == 'a') {
			resp->body = malloc(c->cacerts_len + 1);
			if (resp->body == NULL) {
				mtls__est_set_text(resp, 500, "Internal Server Error", "out of memory");
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
		mtls__est_set_text(resp, 405, "Method Not Allowed", "%s takes a POST of a "
		    "base64 PKCS#10 request", r.op);
		return;
	}
	if (strcmp(r.op, "simpleenroll") == 0) {
		op_simpleenroll(&j);
	} else if (strcmp(r.op, "simplereenroll") == 0) {
		op_simplereenroll(&j);
	} else {
		mtls__est_set_text(resp, 404, "Not Found", "no EST operation '%s' here: "
		    "cacerts, simpleenroll, simplereenroll, csrattrs", r.op);
	}
	X509_REQ_free(j.csr);
	GENERAL_NAMES_free(j.sans);
}
