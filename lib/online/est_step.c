/* Layer online: steps EST operations share: answers, txn, audit, CSR checks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "online/est_int.h"
#include "ca/ca_internal.h"
#include "ca/token_int.h"
#include "pki/csr_int.h"

/* ---- answers ---- */

/* Errors are one line of text/plain (RFC 7030 4.2.3 allows a
 * human-readable body): what was wrong and what to do. */
void
mtls__est_set_text(struct est_resp *r, int status, const char *reason, const char *fmt, ...)
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
void
mtls__est_set_p7(struct est_resp *r, struct mtls_ca *ca, X509 *cert)
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
		mtls__est_set_text(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	free(r->body);
	r->body = mtls__est_p7_certs_b64(one, &r->len, &e);
	sk_X509_free(one);
	if (r->body == NULL) {
		mtls__est_set_text(r, 500, "Internal Server Error", "%s", e.msg);
		return;
	}
	r->status = 200;
	r->reason = "OK";
	/* RFC 7030 4.2.3 */
	r->content_type = "application/pkcs7-mime; smime-type=certs-only";
	r->base64 = 1;
}

/* ---- shared steps ---- */


/* One request's writes: with group commit a savepoint in the transaction
 * the burst shares (the server commits it, then answers), else a
 * transaction of its own under the CA lock. */
int
mtls__est_txn_begin(struct est_job *j, struct mtls_err *e)
{
	int rc = j->c->group
	    ? mtls__ca_group_join(j->c->ca, MTLS__CA_WRITE_WAIT_MS, e)
	    : mtls__ca_begin_locked(j->c->ca, MTLS__CA_WRITE_WAIT_MS, e);

	j->in_txn = rc == 0;
	return rc;
}

void
mtls__est_txn_undo(struct est_job *j)
{
	struct mtls_err e;

	j->in_txn = 0;
	if (j->c->group) {
		(void)mtls__ca_group_leave(j->c->ca, 0, &e);
	} else {
		mtls_ca_rollback(j->c->ca);
	}
}

int
mtls__est_txn_end(struct est_job *j, struct mtls_err *e)
{
	j->in_txn = 0;
	return j->c->group ? mtls__ca_group_leave(j->c->ca, 1, e)
			   : mtls_ca_commit(j->c->ca, e);
}

void
mtls__est_audit(struct est_job *j, const char *serial, const char *outcome,
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

void
mtls__est_refuse(struct est_job *j, int status, const char *reason, const char *why)
{
	mtls__est_audit(j, NULL, "refused", why);
	mtls__est_set_text(j->resp, status, reason, "%s", why);
}

/* The CSR from a base64 application/pkcs10 body (RFC 7030 4.2.1). */
int
mtls__est_read_csr(struct est_job *j)
{
	const struct est_req *r = j->req;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t n = 0;
	int trailing;
	struct mtls_err e;

	if (!r->post) {
		mtls__est_set_text(j->resp, 405, "Method Not Allowed", "%s takes a POST of "
		    "a base64 PKCS#10 request", r->op);
		return -1;
	}
	if (r->content_type == NULL ||
	    strncasecmp(r->content_type, "application/pkcs10", 18) != 0 ||
	    (r->content_type[18] != '\0' && r->content_type[18] != ';' &&
		r->content_type[18] != ' ')) {
		mtls__est_refuse(j, 415, "Unsupported Media Type", "send the CSR as "
		    "Content-Type: application/pkcs10 (base64 DER, RFC 7030 4.2.1)");
		return -1;
	}
	if (r->len > EST_MAX_BODY) {
		mtls__est_refuse(j, 413, "Payload Too Large", "the request body is too large "
		    "for a CSR");
		return -1;
	}
	der = mtls__est_b64_decode(r->body, r->len, &n);
	if (der == NULL) {
		mtls__est_refuse(j, 400, "Bad Request", "the body is not base64 (RFC 7030 "
		    "4.2.1 wants the DER CSR base64-encoded)");
		return -1;
	}
	p = der;
	j->csr = d2i_X509_REQ(NULL, &p, (long)n);
	trailing = j->csr != NULL && p != der + n;
	free(der);
	ERR_clear_error();
	if (j->csr == NULL || trailing) {
		mtls__est_refuse(j, 400, "Bad Request", "the body is not a DER PKCS#10 "
		    "certificate request");
		return -1;
	}
	/* Proof of possession, key strength, no CA:TRUE, well-formed SANs. */
	if (mtls_csr_check(j->csr, NULL, &j->sans, &e) != 0) {
		mtls__est_refuse(j, 400, "Bad Request", e.msg);
		return -1;
	}
	return 0;
}

/* Each SAN the CSR asks for must be one of ALLOWED ("dns:a,ip:b"). */
int
mtls__est_sans_allowed(struct est_job *j, const char *allowed, char *why, size_t len)
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
int
mtls__est_subject_is_name(X509_REQ *csr, const char *name, char *why, size_t len)
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


int
mtls__est_take_entry(const struct mtls_inv_entry *e, void *arg)
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
int
mtls__est_same_key(struct est_job *j, const char *serial)
{
	struct found f;
	struct mtls_err e;
	int same;

	memset(&f, 0, sizeof(f));
	if (serial[0] == '\0' || mtls_ca_lookup(j->c->ca, serial, mtls__est_take_entry, &f,
		&e) != 0 || f.cert == NULL) {
		X509_free(f.cert);
		return 0;
	}
	same = strcmp(f.status, "valid") == 0 &&
	    EVP_PKEY_eq(X509_get0_pubkey(f.cert), X509_REQ_get0_pubkey(j->csr)) == 1;
	if (same) {
		mtls__est_set_p7(j->resp, j->c->ca, f.cert);
		j->resp->issued = 0;
	}
	X509_free(f.cert);
	return same;
}

/* Signs the CSR's key for NAME/PROFILE/SUBJ/SANS inside the open
 * transaction; *SERIAL gets the new serial (OPENSSL_free). */
X509 *
mtls__est_sign_for(struct est_job *j, const X509_NAME *subj, enum mtls_profile profile,
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
void
mtls__est_store_failed(struct est_job *j, const struct mtls_err *e)
{
	switch (e->code) {
	case MTLS_E_BUSY:
		/* No audit event: the inventory is what is busy, and the same
		 * request comes back. */
		mtls__est_set_text(j->resp, 202, "Accepted", "the CA's inventory is busy; "
		    "send the same request again after Retry-After seconds");
		j->resp->retry_after = EST_BUSY_RETRY;
		j->resp->busy = 1;
		return;
	case MTLS_E_POLICY:
		mtls__est_refuse(j, 403, "Forbidden", e->msg);
		return;
	default:
		mtls__est_refuse(j, 500, "Internal Server Error", e->msg);
		return;
	}
}

/* The lifetime a certificate will get, or -1 (refused) when the CA's
 * operator allows less (--max-lifetime). */
long
mtls__est_lifetime_allowed(struct est_job *j, long asked)
{
	long life = asked > 0 ? asked : j->c->cert_lifetime;
	char why[300];

	if (j->c->max_lifetime > 0 && life > j->c->max_lifetime) {
		snprintf(why, sizeof(why), "the token asks for certificates living "
		    "%ld s, more than this CA issues (--max-lifetime %ld s): make a "
		    "token with a shorter --cert-lifetime", life, j->c->max_lifetime);
		mtls__est_refuse(j, 403, "Forbidden", why);
		return -1;
	}
	return life;
}
