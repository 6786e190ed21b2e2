/* see mtls/diag.h: what the CA's inventory and a CRL say of a certificate */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "mtls/ca.h"
#include "mtls/diag.h"
#include "mtls/pki.h"

struct seen {
	const char *sha256;  /* the certificate's own fingerprint */
	struct mtls_standing *out;
	time_t now;
};

static void
utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
from_inventory(const struct mtls_inv_entry *e, void *arg)
{
	struct seen *s = arg;
	struct mtls_standing *o = s->out;
	char when[32];

	/* The serial alone could be another CA's: only the same certificate
	 * (same fingerprint) is ours to judge. */
	if (e->sha256 == NULL || strcmp(e->sha256, s->sha256) != 0) {
		return 0;
	}
	o->state = mtls_inv_state(e, s->now);
	snprintf(o->name, sizeof(o->name), "%s", e->name);
	if (strcmp(o->state, "revoked") == 0) {
		utc(e->revoked_at, when, sizeof(when));
		snprintf(o->detail, sizeof(o->detail), "revoked on %s (%s) in the "
		    "CA's inventory", when, e->reason ? e->reason : "unspecified");
		snprintf(o->fix, sizeof(o->fix), "stop using it: 'mtls issue %s "
		    "--profile %s --force' makes a new key and certificate; deploy "
		    "those files (and publish a fresh CRL with 'mtls crl')",
		    e->name, e->profile);
	} else if (strcmp(o->state, "superseded") == 0) {
		snprintf(o->detail, sizeof(o->detail), "superseded in the CA's "
		    "inventory by serial %s (a renewal)", e->superseded_by);
		snprintf(o->fix, sizeof(o->fix), "this copy is out of date: deploy "
		    "%s's current certificate (serial %s, see 'mtls list %s')",
		    e->name, e->superseded_by, e->name);
	}
	return 0;
}

/* A CRL counts only when its issuer's key, found among ANCHORS, signed it. */
static int
crl_trusted(X509_CRL *crl, X509 *cert, STACK_OF(X509) *anchors)
{
	int i;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) {
		return 0;
	}
	for (i = 0; i < sk_X509_num(anchors); i++) {
		X509 *a = sk_X509_value(anchors, i);
		EVP_PKEY *pk = X509_get0_pubkey(a);

		if (X509_NAME_cmp(X509_get_subject_name(a), X509_CRL_get_issuer(crl)) == 0 &&
		    pk != NULL && X509_CRL_verify(crl, pk) == 1) {
			return 1;
		}
	}
	return 0;
}

static int
from_crl(X509 *cert, const char *crl_file, STACK_OF(X509) *anchors,
    struct mtls_standing *o, struct mtls_err *err)
{
	STACK_OF(X509_CRL) *crls = NULL;
	X509_REVOKED *rev = NULL;
	int i;

	if (mtls_load_crls(crl_file, &crls, err) != 0) {
		return -1;
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);

		if (!crl_trusted(crl, cert, anchors) ||
		    X509_CRL_get0_by_cert(crl, &rev, cert) != 1) {
			continue;
		}
		o->state = "revoked";
		snprintf(o->detail, sizeof(o->detail), "revoked: listed in the "
		    "CRL %s", crl_file);
		snprintf(o->fix, sizeof(o->fix), "stop using it: get a new "
		    "certificate from its CA");
		break;
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return 0;
}

int
mtls_cert_standing(X509 *cert, const char *ca_dir, const char *crl_file,
    STACK_OF(X509) *anchors, struct mtls_standing *out, struct mtls_err *err)
{
	struct mtls_err quiet;
	struct mtls_ca *ca = NULL;
	char sha[3 * 32 + 1], *serial = NULL;
	struct seen s;

	memset(out, 0, sizeof(*out));
	if (mtls_cert_fingerprint(cert, EVP_sha256(), sha, sizeof(sha)) != 0) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot fingerprint the certificate");
	}
	s.sha256 = sha;
	s.out = out;
	s.now = time(NULL);
	/* No CA at hand is the common case on a node, not an error. */
	mtls_err_clear(&quiet);
	serial = ca_dir != NULL ? mtls_cert_serial_hex(cert) : NULL;
	ca = serial != NULL ? mtls_ca_open(ca_dir, &quiet) : NULL;
	if (ca != NULL) {
		(void)mtls_ca_lookup(ca, serial, from_inventory, &s, &quiet);
	}
	mtls_ca_free(ca);
	OPENSSL_free(serial);
	if (out->state != NULL && strcmp(out->state, "revoked") == 0) {
		return 0;
	}
	if (crl_file != NULL && from_crl(cert, crl_file, anchors, out, err) != 0) {
		return -1;
	}
	return 0;
}
