/* see diag/revcheck.h: the revocation of a peer's verified chain */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "diag/revcheck.h"
#include "revocation/revocation_int.h"
#include "base/internal.h"

int
mtls__rev_walk(STACK_OF(X509) *chain, int leaf_only, mtls__rev_one_fn *one,
    void *arg)
{
	int i, n = sk_X509_num(chain), r;

	for (i = 0; i < n; i++) {
		X509 *c = sk_X509_value(chain, i);

		/* The anchor is trusted by configuration, not by a CRL or an
		 * OCSP answer its own key would sign. */
		if (i > 0 && ((X509_get_extension_flags(c) & EXFLAG_SS) != 0 ||
			leaf_only)) {
			break;
		}
		r = one(c, i + 1 < n ? sk_X509_value(chain, i + 1) : NULL, i, arg);
		if (r != 0) {
			return r;
		}
	}
	return 0;
}

struct mtls__revcheck {
	struct mtls_revocation_opts o;
	char *ocsp_url;
	struct mtls__crlset *crls; /* NULL without CRL files */
};

struct mtls__revcheck *
mtls__revcheck_new(const struct mtls_revocation_opts *o, STACK_OF(X509) *cas,
    struct mtls_err *err)
{
	struct mtls__revcheck *rc = calloc(1, sizeof(*rc));

	if (rc == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (o != NULL) {
		rc->o = *o;
	}
	rc->o.crl = NULL;
	if (rc->o.ocsp_url != NULL &&
	    (rc->ocsp_url = strdup(rc->o.ocsp_url)) == NULL) {
		mtls__revcheck_free(rc);
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	rc->o.ocsp_url = rc->ocsp_url;
	if (o != NULL && o->ncrl > 0 && !o->insecure_no_revocation) {
		rc->crls = mtls__crlset_load(o->crl, o->ncrl, cas, err);
		if (rc->crls == NULL) {
			mtls__revcheck_free(rc);
			return NULL;
		}
	}
	return rc;
}

void
mtls__revcheck_free(struct mtls__revcheck *rc)
{
	if (rc == NULL) {
		return;
	}
	mtls__crlset_free(rc->crls);
	free(rc->ocsp_url);
	free(rc);
}

int
mtls__revcheck_active(const struct mtls__revcheck *rc)
{
	return rc != NULL && !rc->o.insecure_no_revocation;
}

struct walk {
	const struct mtls__revcheck *rc;
	struct mtls_err *err;
	char *note;
	size_t note_len;
	int checked; /* certificates checked by CRL or OCSP */
	int depth;   /* of the certificate being checked */
};

static void
note_add(struct walk *w, const char *fmt, ...) MTLS_PRINTF(2, 3);

static void
note_add(struct walk *w, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (w->note == NULL || w->note_len == 0) {
		return;
	}
	used = strlen(w->note);
	if (used + 3 >= w->note_len) {
		return;
	}
	if (used > 0) {
		memcpy(w->note + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(w->note + used, w->note_len - used, fmt, ap);
	va_end(ap);
}

static int
one_crl(struct walk *w, X509 *cert)
{
	char why[512], *iss;
	time_t when = 0;
	int reason = 0;

	switch (mtls__crlset_lookup(w->rc->crls, cert, &when, &reason)) {
	case MTLS_CRL_GOOD:
		return 0;
	case MTLS_CRL_REVOKED:
		mtls_explain_revoked(cert, when, reason, why, sizeof(why));
		return mtls_err_set(w->err, MTLS_E_VERIFY, "%s (in the CRL)", why);
	case MTLS_CRL_NO_CRL:
	default:
		iss = mtls_name_format(X509_get_issuer_name(cert));
		mtls_err_set(w->err, MTLS_E_VERIFY, "no CRL of the issuer %s in "
		    "--crl: its certificates cannot be checked, so they are "
		    "refused; add that CA's CRL", iss != NULL ? iss : "?");
		OPENSSL_free(iss);
		return -1;
	}
}

static int
one_ocsp(struct walk *w, X509 *cert, X509 *issuer, int depth)
{
	const struct mtls_revocation_opts *o = &w->rc->o;
	const char *url = depth == 0 ? o->ocsp_url : NULL;
	struct mtls_err e = {MTLS_OK, ""};
	struct mtls_ocsp_result res;
	char why[512], *subj, *serial, *aia = NULL;
	int rc = 0;

	/* By default (nothing configured) a certificate that names a
	 * responder is asked; given CRLs replace that default; --ocsp asks
	 * about every certificate (and fails closed). */
	if (!o->ocsp && w->rc->crls != NULL) {
		return 0;
	}
	if (url == NULL) {
		aia = mtls_ocsp_url(cert);
		if (aia == NULL && !o->ocsp) {
			return 0;
		}
	}
	subj = mtls_name_format(X509_get_subject_name(cert));
	serial = mtls_cert_serial_hex(cert);
	if (issuer == NULL) {
		rc = mtls_err_set(w->err, MTLS_E_VERIFY, "certificate %s (serial "
		    "%s): cannot ask OCSP, its issuer is not in the chain",
		    subj ? subj : "?", serial ? serial : "?");
		goto out;
	}
	/* No nonce, as serve: RFC 5019 responders pre-sign their answers;
	 * the signature and the dates are checked. */
	if (mtls__ocsp_query_lim(cert, issuer, url, 0, o->ocsp_timeout_ms > 0
		? o->ocsp_timeout_ms : 5000, 0, -1, &res, &e) != 0) {
		/* An answer that came but is stale, forged or about another
		 * certificate is refused even soft-fail: only an absent
		 * answer is what soft-fail forgives. */
		if (e.code != MTLS_E_VERIFY && o->insecure_soft_fail) {
			note_add(w, "INSECURE: certificate %s (serial %s) accepted "
			    "unchecked, no OCSP answer (--insecure-revocation-"
			    "soft-fail): %s", subj ? subj : "?",
			    serial ? serial : "?", e.msg);
			goto out;
		}
		rc = mtls_err_set(w->err, MTLS_E_VERIFY, "certificate %s (serial "
		    "%s): %s: %s", subj ? subj : "?", serial ? serial : "?",
		    e.code == MTLS_E_VERIFY ? "OCSP answer refused"
		    : "no OCSP answer (fail-closed)", e.msg);
		goto out;
	}
	w->checked++;
	if (res.status == MTLS_OCSP_REVOKED) {
		mtls_explain_revoked(cert, res.revoked_at,
		    res.reason >= 0 ? res.reason : 0, why, sizeof(why));
		rc = mtls_err_set(w->err, MTLS_E_VERIFY, "%s (OCSP)", why);
	} else if (res.status != MTLS_OCSP_GOOD) {
		rc = mtls_err_set(w->err, MTLS_E_VERIFY, "certificate %s (serial "
		    "%s) is unknown to the OCSP responder (not issued by the CA "
		    "it serves?)", subj ? subj : "?", serial ? serial : "?");
	}
out:
	OPENSSL_free(aia);
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	return rc;
}

static int
one_cert(X509 *cert, X509 *issuer, int depth, void *arg)
{
	struct walk *w = arg;

	w->depth = depth;
	if (w->rc->crls != NULL) {
		if (one_crl(w, cert) != 0) {
			return -1;
		}
		w->checked++;
	}
	return one_ocsp(w, cert, issuer, depth);
}

int
mtls__revcheck_chain(const struct mtls__revcheck *rc, STACK_OF(X509) *chain,
    char *note, size_t note_len, struct mtls_err *err)
{
	int depth;

	return mtls__revcheck_chain_at(rc, chain, note, note_len, &depth, err);
}

int
mtls__revcheck_chain_at(const struct mtls__revcheck *rc, STACK_OF(X509) *chain,
    char *note, size_t note_len, int *refused_depth, struct mtls_err *err)
{
	struct walk w;

	if (note != NULL && note_len > 0) {
		note[0] = '\0';
	}
	if (!mtls__revcheck_active(rc)) {
		return 0;
	}
	*refused_depth = 0;
	if (sk_X509_num(chain) < 1) {
		/* Never accept what could not be checked. */
		return mtls_err_set(err, MTLS_E_VERIFY, "the verified chain is "
		    "missing, so revocation cannot be checked");
	}
	memset(&w, 0, sizeof(w));
	w.rc = rc;
	w.err = err;
	w.note = note;
	w.note_len = note_len;
	if (mtls__rev_walk(chain, 0, one_cert, &w) != 0) {
		*refused_depth = w.depth;
		return -1;
	}
	if (w.checked == 0 && (note == NULL || note[0] == '\0')) {
		note_add(&w, "revocation not checked: the chain names no OCSP "
		    "responder and no --crl or --ocsp was given");
	} else if (w.checked > 0) {
		note_add(&w, "revocation: %d check%s, nothing revoked", w.checked,
		    w.checked == 1 ? "" : "s");
	}
	return 0;
}
