/* see ca/ca_internal.h: the certificatePolicies extension we issue (RFC
 * 5280 4.2.1.4) - policy identifiers only, no qualifiers - and the rules
 * around it: OIDs in dotted numbers, none twice, and a leaf only gets a
 * policy its issuing CA asserts. A leaf of ca/ beside caexts.c. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

/* Calls CB for each item of the comma-separated LIST (spaces around an
 * item ignored); stops at the first non-zero return. */
static int
each_oid(const char *list, int (*cb)(const char *oid, void *arg), void *arg,
    struct mtls_err *err)
{
	char *copy, *item, *save = NULL, *end;
	int rc = 0;

	copy = strdup(list);
	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ') {
			item++;
		}
		end = item + strlen(item);
		while (end > item && end[-1] == ' ') {
			*--end = '\0';
		}
		rc = cb(item, arg);
	}
	free(copy);
	return rc;
}

struct build {
	CERTIFICATEPOLICIES *pols;
	struct mtls_err *err;
};

static int
build_one(const char *oid, void *arg)
{
	struct build *b = arg;
	POLICYINFO *pi;
	int i;

	if (mtls_policy_oid_check(oid, b->err) != 0) {
		return -1;
	}
	pi = POLICYINFO_new();
	if (pi == NULL) {
		return mtls_err_ssl(b->err, MTLS_E_INTERNAL, "out of memory");
	}
	ASN1_OBJECT_free(pi->policyid);
	pi->policyid = OBJ_txt2obj(oid, 1);
	if (pi->policyid == NULL) {
		POLICYINFO_free(pi);
		return mtls_err_ssl(b->err, MTLS_E_INTERNAL, "out of memory");
	}
	/* RFC 5280 4.2.1.4: "A certificate policy OID MUST NOT appear more
	 * than once in a certificate policies extension." */
	for (i = 0; i < sk_POLICYINFO_num(b->pols); i++) {
		if (OBJ_cmp(sk_POLICYINFO_value(b->pols, i)->policyid,
			pi->policyid) == 0) {
			POLICYINFO_free(pi);
			return mtls_err_set(b->err, MTLS_E_USAGE, "certificate "
			    "policy %s is given twice (RFC 5280 4.2.1.4: an OID "
			    "appears once)", oid);
		}
	}
	if (sk_POLICYINFO_push(b->pols, pi) <= 0) {
		POLICYINFO_free(pi);
		return mtls_err_ssl(b->err, MTLS_E_INTERNAL, "out of memory");
	}
	return 0;
}

static CERTIFICATEPOLICIES *
build_policies(const char *list, struct mtls_err *err)
{
	struct build b;

	b.pols = sk_POLICYINFO_new_null();
	b.err = err;
	if (b.pols == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (each_oid(list, build_one, &b, err) != 0) {
		sk_POLICYINFO_pop_free(b.pols, POLICYINFO_free);
		return NULL;
	}
	return b.pols;
}

int
mtls__policies_check(const char *list, struct mtls_err *err)
{
	CERTIFICATEPOLICIES *pols;

	if (list == NULL || *list == '\0') {
		return 0;
	}
	pols = build_policies(list, err);
	if (pols == NULL) {
		return -1;
	}
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	return 0;
}

int
mtls__add_policies(X509 *x, const char *list, struct mtls_err *err)
{
	CERTIFICATEPOLICIES *pols;
	int rc;

	if (list == NULL || *list == '\0') {
		return 0;
	}
	pols = build_policies(list, err);
	if (pols == NULL) {
		return -1;
	}
	/* Not critical (RFC 5280 4.2.1.4 leaves it to the CA; the CA/Browser
	 * Forum profile and every public CA mark it so): a relying party that
	 * does not process policies still uses the certificate. */
	rc = mtls__add_ext(x, NID_certificate_policies, 0, pols, err);
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	return rc;
}

char *
mtls__policies_text(X509 *x, struct mtls_err *err)
{
	CERTIFICATEPOLICIES *pols;
	char oid[128], *out = NULL;
	size_t len = 0, n;
	int i, crit = 0;

	pols = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
	if (pols == NULL) {
		ERR_clear_error();
		if (crit == -1) {
			return strdup("");
		}
		mtls_err_set(err, MTLS_E_FORMAT, "the certificate's "
		    "certificatePolicies extension does not decode");
		return NULL;
	}
	out = calloc(1, 1);
	for (i = 0; out != NULL && i < sk_POLICYINFO_num(pols); i++) {
		char *grown;

		if (OBJ_obj2txt(oid, sizeof(oid),
			sk_POLICYINFO_value(pols, i)->policyid, 1) <= 0) {
			continue;
		}
		n = strlen(oid);
		grown = realloc(out, len + n + 2);
		if (grown == NULL) {
			free(out);
			out = NULL;
			break;
		}
		out = grown;
		if (len > 0) {
			out[len++] = ',';
		}
		memcpy(out + len, oid, n + 1);
		len += n;
	}
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	if (out == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	return out;
}

struct asserted {
	CERTIFICATEPOLICIES *ca_pols;
	struct mtls_err *err;
};

static int
asserted_one(const char *oid, void *arg)
{
	struct asserted *a = arg;
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int i, found = 0;

	if (obj == NULL) {
		ERR_clear_error();
		return mtls_policy_oid_check(oid, a->err) != 0 ? -1
		    : mtls_err_ssl(a->err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < sk_POLICYINFO_num(a->ca_pols); i++) {
		const ASN1_OBJECT *p = sk_POLICYINFO_value(a->ca_pols, i)->policyid;

		if (OBJ_cmp(p, obj) == 0 || OBJ_obj2nid(p) == NID_any_policy) {
			found = 1;
			break;
		}
	}
	ASN1_OBJECT_free(obj);
	if (!found) {
		return mtls_err_set(a->err, MTLS_E_POLICY, "this CA's certificate "
		    "does not assert certificate policy %s (nor anyPolicy), so a "
		    "chain through it is never valid for %s (RFC 5280 6.1.3): "
		    "re-issue the CA with --cert-policy %s", oid, oid, oid);
	}
	return 0;
}

int
mtls__policies_issuable(X509 *cacert, const char *list, struct mtls_err *err)
{
	struct asserted a;
	int crit = 0, rc;

	if (list == NULL || *list == '\0') {
		return 0;
	}
	/* A self-issued trust anchor is outside the path RFC 5280 6.1
	 * processes (OpenSSL skips it too): a root may issue any policy. */
	if (X509_check_issued(cacert, cacert) == X509_V_OK) {
		return 0;
	}
	a.ca_pols = X509_get_ext_d2i(cacert, NID_certificate_policies, &crit, NULL);
	a.err = err;
	if (a.ca_pols == NULL) {
		ERR_clear_error();
		a.ca_pols = sk_POLICYINFO_new_null();
		if (a.ca_pols == NULL) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		}
	}
	rc = each_oid(list, asserted_one, &a, err);
	sk_POLICYINFO_pop_free(a.ca_pols, POLICYINFO_free);
	return rc;
}
