/* see mtls/ca.h: mtls_ca_sign_partner (a partner's CSR under our policy) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "ca/inventory.h"
#include "base/internal.h"

static int
has_san(const GENERAL_NAMES *gens, const GENERAL_NAME *g)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i),
			(GENERAL_NAME *)g) == 0) {
			return 1;
		}
	}
	return 0;
}

/* SANs are closed (RFC 5280 4.2.1.6: the CA vouches for every name it
 * signs): POL->sans, plus what the CSR asks for within POL->san_allow.
 * Anything else the CSR asks for is refused, not silently dropped, so
 * the partner learns why its certificate lacks a name. */
static GENERAL_NAMES *
closed_sans(const struct mtls_sign_policy *pol, const GENERAL_NAMES *asked,
    struct mtls_err *err)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int i;

	if (gens == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (pol->sans != NULL && *pol->sans != '\0' &&
	    mtls_san_add(gens, pol->sans, err) != 0) {
		goto fail;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(asked); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(asked, i);
		GENERAL_NAME *dup;
		char *text;

		if (has_san(gens, g)) {
			continue;
		}
		text = mtls_san_text(g);
		if (!mtls_san_allowed(text, pol->san_allow)) {
			if (pol->san_allow != NULL) {
				mtls_err_set(err, MTLS_E_POLICY, "the CSR asks for "
				    "SAN %s, which --san-allow '%s' does not permit",
				    text ? text : "?", pol->san_allow);
			} else {
				mtls_err_set(err, MTLS_E_POLICY, "the CSR asks for "
				    "SAN %s, which nothing admits: SANs are closed by "
				    "default; give the names with --san or admit them "
				    "with --san-allow PATTERN", text ? text : "?");
			}
			free(text);
			goto fail;
		}
		free(text);
		dup = GENERAL_NAME_dup(g);
		if (dup == NULL || sk_GENERAL_NAME_push(gens, dup) <= 0) {
			GENERAL_NAME_free(dup);
			mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			goto fail;
		}
	}
	return gens;
fail:
	GENERAL_NAMES_free(gens);
	return NULL;
}

/* 1 when OID (dotted) is an item of the comma-separated LIST. */
static int
oid_listed(const char *oid, const char *list)
{
	size_t n = strlen(oid);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		while (*p == ' ') {
			p++;
		}
		if (strncmp(p, oid, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ')) {
			return 1;
		}
		p = strchr(p, ',');
		p = p != NULL ? p + 1 : NULL;
	}
	return 0;
}

/* Certificate policies are ours to give, like SANs: the certificate
 * carries POL->cert_policies, and a CSR asking for a policy outside them
 * is refused (not silently dropped), so the partner learns why its
 * certificate lacks it. A policy is a promise about how we vetted the
 * subject; a partner cannot assert it for itself. */
static int
requested_policies_ok(X509_REQ *csr, const struct mtls_sign_policy *pol,
    struct mtls_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	CERTIFICATEPOLICIES *asked;
	char oid[128];
	int i, crit = 0, rc = 0;

	/* crit: -1 absent, -2 present twice, 0/1 present (then NULL means
	 * it does not decode). */
	crit = -1;
	asked = exts != NULL ? X509V3_get_d2i(exts, NID_certificate_policies,
	    &crit, NULL) : NULL;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (asked == NULL) {
		ERR_clear_error();
		if (crit == -1) {
			return 0;
		}
		return mtls_err_set(err, MTLS_E_POLICY, "the CSR asks for a "
		    "certificatePolicies extension that does not decode");
	}
	for (i = 0; i < sk_POLICYINFO_num(asked) && rc == 0; i++) {
		if (OBJ_obj2txt(oid, sizeof(oid),
			sk_POLICYINFO_value(asked, i)->policyid, 1) <= 0) {
			snprintf(oid, sizeof(oid), "?");
		}
		if (!oid_listed(oid, pol->cert_policies)) {
			rc = mtls_err_set(err, MTLS_E_POLICY, "the CSR asks for "
			    "certificate policy %s, which our signing policy does "
			    "not give (it gives %s); a partner gets only the "
			    "policies we choose with --cert-policy", oid,
			    pol->cert_policies != NULL && *pol->cert_policies != '\0'
			    ? pol->cert_policies : "none");
		}
	}
	sk_POLICYINFO_pop_free(asked, POLICYINFO_free);
	return rc;
}

/* The CSR's own subject, when one line of ALLOW matches it per RDN. */
static X509_NAME *
allowed_subject(const X509_NAME *asked, const char *allow, struct mtls_err *err)
{
	char *copy, *line, *save = NULL, *shown;
	int r = 0;

	/* The rules first, so a control character is named as such rather
	 * than reported as a pattern that does not match. */
	if (mtls_name_check(asked, 1, err) != 0) {
		return NULL;
	}
	copy = strdup(allow);
	if (copy == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	for (line = strtok_r(copy, "\n", &save); line != NULL && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		r = mtls_name_match(asked, line, err);
	}
	free(copy);
	if (r == 1) {
		return X509_NAME_dup(asked);
	}
	if (r == 0) {
		shown = mtls_name_format(asked);
		mtls_err_set(err, MTLS_E_POLICY, "the CSR's subject '%s' matches no "
		    "--subject-allow pattern (matched per RDN: the same attributes "
		    "in the same order); set the subject with --subject DN",
		    shown ? shown : "?");
		OPENSSL_free(shown);
	}
	return NULL;
}

static X509_NAME *
choose_subject(const struct mtls_sign_policy *pol, X509_REQ *csr,
    const char *name, int *replaced, struct mtls_err *err)
{
	const X509_NAME *asked = X509_REQ_get_subject_name(csr);
	X509_NAME *subj = NULL;

	if (pol->subject != NULL && *pol->subject != '\0') {
		subj = mtls_name_parse(pol->subject, err);
	} else if (pol->subject_allow != NULL && *pol->subject_allow != '\0') {
		subj = allowed_subject(asked, pol->subject_allow, err);
	} else {
		subj = X509_NAME_new();
		if (subj != NULL && X509_NAME_add_entry_by_NID(subj, NID_commonName,
			MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) != 1) {
			X509_NAME_free(subj);
			mtls_err_ssl(err, MTLS_E_POLICY, "the name '%s' cannot be a "
			    "common name (64 characters at most, RFC 5280 "
			    "Appendix A): give --subject DN or a shorter --name", name);
			return NULL;
		}
	}
	if (subj == NULL) {
		if (err != NULL && err->code == MTLS_OK) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		}
		return NULL;
	}
	*replaced = X509_NAME_cmp(subj, asked) != 0;
	return subj;
}

/* The inventory name: the one given, else the CSR's CN. */
static int
pick_name(X509_REQ *csr, const char *name, struct mtls_sign_result *res,
    struct mtls_err *err)
{
	char *cn = NULL;

	if (name == NULL) {
		cn = mtls_name_cn(X509_REQ_get_subject_name(csr));
		if (cn == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE, "the CSR has no CN to "
			    "name it by in the inventory: give --name NAME");
		}
		name = cn;
	}
	if (mtls__ca_check_name(name, err) != 0) {
		OPENSSL_free(cn);
		return -1;
	}
	snprintf(res->name, sizeof(res->name), "%s", name);
	OPENSSL_free(cn);
	return 0;
}

/* Names are unique: NAME may be new, or (with RENEW) the name of a
 * partner's current certificate, which the new one then supersedes.
 * Never one of ours: 'mtls renew NAME' would otherwise write the
 * partner's subject over our files. */
static int
claim_name(struct mtls_ca *ca, const char *name, int renew,
    struct mtls_sign_result *res, struct mtls_err *err)
{
	int local, partner, rc;

	if (mtls__inv_name_origins(ca->inv, name, &local, &partner, err) != 0) {
		return -1;
	}
	if (local > 0) {
		return mtls_err_set(err, MTLS_E_EXISTS, "the name '%s' belongs to "
		    "an identity of ours (its key was made here); a partner's "
		    "certificate cannot take it: give another --name", name);
	}
	rc = partner > 0 ? mtls_ca_current(ca, name, res->supersedes,
	    sizeof(res->supersedes), err) : -1;
	if (rc == 0 && !renew) {
		return mtls_err_set(err, MTLS_E_EXISTS, "'%s' already has a valid "
		    "certificate signed from a partner's CSR (serial %s): give "
		    "--renew to sign its successor from this CSR, or another --name",
		    name, res->supersedes);
	}
	if (rc != 0) {
		res->supersedes[0] = '\0';
		mtls_err_clear(err);
	}
	if (renew && rc != 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "--renew: '%s' has no "
		    "valid partner certificate to renew (see 'mtls list')", name);
	}
	return 0;
}

static X509 *
sign_claimed(struct mtls_ca *ca, X509_REQ *csr,
    const struct mtls_sign_policy *pol, const X509_NAME *subj,
    const GENERAL_NAMES *sans, int renew, struct mtls_sign_result *res,
    struct mtls_err *err)
{
	struct mtls_cert_request r;
	char *serial = NULL;
	X509 *x;

	if (claim_name(ca, res->name, renew, res, err) != 0) {
		return NULL;
	}
	memset(&r, 0, sizeof(r));
	r.name = res->name;
	r.origin = MTLS_ORIGIN_PARTNER;
	r.subject = subj;
	r.pubkey = X509_REQ_get0_pubkey(csr);
	r.profile = pol->profile;
	r.sans = sans;
	r.days = pol->days;
	r.cert_policies = pol->cert_policies;
	x = mtls_ca_sign(ca, &r, err);
	if (x == NULL || res->supersedes[0] == '\0') {
		return x;
	}
	serial = mtls_cert_serial_hex(x);
	if (serial == NULL ||
	    mtls__ca_set_superseded(ca, res->supersedes, serial, err) != 0) {
		X509_free(x);
		x = NULL;
	}
	OPENSSL_free(serial);
	return x;
}

int
mtls_ca_sign_partner(struct mtls_ca *ca, X509_REQ *csr, const char *name,
    const struct mtls_sign_policy *pol, int renew,
    struct mtls_sign_result *res, struct mtls_err *err)
{
	GENERAL_NAMES *asked = NULL, *sans = NULL;
	X509_NAME *subj = NULL;
	int own_txn = !mtls__inv_in_txn(ca->inv), rc = -1;

	memset(res, 0, sizeof(*res));
	if (pol->profile == MTLS_PROFILE_OCSP) {
		return mtls_err_set(err, MTLS_E_POLICY, "a partner's CSR cannot "
		    "get the ocsp profile: a delegated responder speaks for our "
		    "CA (RFC 6960 4.2.2.2)");
	}
	if (mtls_csr_check(csr, NULL, &asked, err) != 0 ||
	    requested_policies_ok(csr, pol, err) != 0 ||
	    pick_name(csr, name, res, err) != 0) {
		goto out;
	}
	sans = closed_sans(pol, asked, err);
	if (sans == NULL) {
		goto out;
	}
	subj = choose_subject(pol, csr, res->name, &res->subject_replaced, err);
	if (subj == NULL) {
		goto out;
	}
	if (pol->profile != MTLS_PROFILE_CLIENT && sk_GENERAL_NAME_num(sans) == 0) {
		mtls_err_set(err, MTLS_E_POLICY, "a %s certificate needs subject "
		    "alternative names (clients match servers by SAN, RFC 6125): "
		    "give --san or a CSR with SANs and --san-allow",
		    mtls_profile_name(pol->profile));
		goto out;
	}
	if (own_txn && mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	res->cert = sign_claimed(ca, csr, pol, subj, sans, renew, res, err);
	if (res->cert == NULL || (own_txn && mtls_ca_commit(ca, err) != 0)) {
		if (own_txn) {
			mtls_ca_rollback(ca);
		}
		X509_free(res->cert);
		res->cert = NULL;
		goto out;
	}
	rc = 0;
out:
	X509_NAME_free(subj);
	GENERAL_NAMES_free(sans);
	GENERAL_NAMES_free(asked);
	return rc;
}
