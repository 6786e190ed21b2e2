/* see doctor_int.h: which of a node's files still depend on an issuer a
 * CA rollover is retiring ('mtls ca rollover'), and whether its
 * truststore already holds the new one. Reads certificates only: the
 * CA directory's rollover/old.crt and ca.crt, or the old issuer's file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "diag/diag_int.h"
#include "diag/doctor_int.h"
#include "mtls/pki.h"
#include "base/internal.h"

/* Whether OLD signed X: names and key identifiers, then the signature. */
static int
signed_by(X509 *old, X509 *x)
{
	int r = X509_check_issued(old, x) == X509_V_OK &&
	    X509_verify(x, X509_get0_pubkey(old)) == 1;

	ERR_clear_error();
	return r;
}

/* OLD (and NEW, when a CA directory tells it) from --rollover. */
static int
load_issuers(struct doctor *d, X509 **old, X509 **new_)
{
	const char *p = d->o->rollover;
	struct mtls_err e;
	struct stat st;
	char *f;

	*old = NULL;
	*new_ = NULL;
	mtls_err_clear(&e);
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		f = mtls__path_of(p, "rollover/old.crt", "");
		if (f == NULL || access(f, F_OK) != 0) {
			free(f);
			mtls__report_add(d->r, MTLS_SEV_INFO, "rollover", p, NULL,
			    "no rollover is under way in %s: no issuer is being "
			    "retired", p);
			return -1;
		}
		*old = mtls_load_cert(f, &e);
		free(f);
		f = mtls__path_of(p, "ca.crt", "");
		*new_ = f != NULL ? mtls_load_cert(f, &e) : NULL;
		free(f);
	} else {
		*old = mtls_load_cert(p, &e);
	}
	if (*old == NULL) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "rollover", p,
		    "give the CA directory or its rollover/old.crt",
		    "cannot read the retiring issuer from %s: %s", p, e.msg);
		return -1;
	}
	return 0;
}

static int
in_trust(struct doctor *d, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(d->trust); i++) {
		if (X509_cmp(sk_X509_value(d->trust, i), x) == 0) {
			return 1;
		}
	}
	return 0;
}

void
mtls__doctor_check_rollover(struct doctor *d)
{
	X509 *old = NULL, *new_ = NULL;
	char *os = NULL, *ns = NULL;
	size_t i, deps = 0;

	if (d->o->rollover == NULL || load_issuers(d, &old, &new_) != 0) {
		return;
	}
	os = mtls__cert_subject(old);
	for (i = 0; i < d->n; i++) {
		struct dfile *c = &d->f[i];

		if (!(c->kind & DK_IDENTITY) || sk_X509_num(c->certs) == 0 ||
		    !signed_by(old, sk_X509_value(c->certs, 0))) {
			continue;
		}
		deps++;
		mtls__report_add(d->r, MTLS_SEV_WARN, "old_issuer", c->path,
		    "renew it before 'mtls ca rollover finish': 'mtls renew NAME' "
		    "where the CA is, or 'mtls renew-agent --once --force' on an "
		    "enrolled node",
		    "%s is issued by '%s', the issuer the CA rollover retires: "
		    "peers that load the new trust bundle will refuse it",
		    c->path, os);
	}
	if (new_ != NULL && sk_X509_num(d->trust) > 0 && !in_trust(d, new_)) {
		ns = mtls__cert_subject(new_);
		deps++;
		mtls__report_add(d->r, MTLS_SEV_WARN, "trust_lacks_new_issuer",
		    d->trust_name,
		    "replace it with the CA's trust.pem (both roots while the "
		    "rollover lasts)",
		    "the truststore %s does not hold the new issuer '%s': once "
		    "the old issuer is retired, this node refuses renewed peers",
		    d->trust_name, ns);
	}
	if (deps == 0) {
		mtls__report_add(d->r, MTLS_SEV_OK, "old_issuer", d->o->rollover,
		    NULL, "nothing checked depends on the retiring issuer '%s'", os);
	}
	OPENSSL_free(os);
	OPENSSL_free(ns);
	X509_free(old);
	X509_free(new_);
}
