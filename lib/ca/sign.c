/* see mtls/ca.h: profiles and signing certificates */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "ca/inventory.h"
#include "base/internal.h"

static const struct {
	enum mtls_profile profile;
	const char *name;
} profiles[] = {
	{MTLS_PROFILE_SERVER, "server"},
	{MTLS_PROFILE_CLIENT, "client"},
	{MTLS_PROFILE_NODE, "node"},
	{MTLS_PROFILE_OCSP, "ocsp"},
};

int
mtls_profile_parse(const char *s, enum mtls_profile *out, struct mtls_err *err)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(profiles); i++) {
		if (strcmp(s, profiles[i].name) == 0) {
			*out = profiles[i].profile;
			return 0;
		}
	}
	return mtls_err_set(err, MTLS_E_USAGE,
	    "unknown profile '%s': use server, client, node or ocsp", s);
}

const char *
mtls_profile_name(enum mtls_profile p)
{
	size_t i;

	/* Not in the table: no command may issue a CA by --profile. */
	if (p == MTLS_PROFILE_SUBCA) {
		return "ca";
	}
	for (i = 0; i < MTLS_ARRAY_LEN(profiles); i++) {
		if (profiles[i].profile == p) {
			return profiles[i].name;
		}
	}
	return "unknown";
}

/* keyUsage by key type (RFC 5280 4.2.1.3, RFC 8446 4.4.2.4): every key
 * signs; RSA also gets keyEncipherment for TLS 1.2 RSA key exchange. */
static int
add_key_usage(X509 *x, EVP_PKEY *key, enum mtls_profile p,
    struct mtls_err *err)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int rc = -1, id = EVP_PKEY_get_base_id(key);

	if (ku == NULL || ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (id == EVP_PKEY_RSA && p != MTLS_PROFILE_OCSP &&
	    ASN1_BIT_STRING_set_bit(ku, 2, 1) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = mtls__add_ext(x, NID_key_usage, 1, ku, err);
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

static int
add_eku(X509 *x, enum mtls_profile p, struct mtls_err *err)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int rc = -1, ok = 1;

	if (eku == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (p == MTLS_PROFILE_SERVER || p == MTLS_PROFILE_NODE) {
		ok &= sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) > 0;
	}
	if (p == MTLS_PROFILE_CLIENT || p == MTLS_PROFILE_NODE) {
		ok &= sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) > 0;
	}
	if (p == MTLS_PROFILE_OCSP) {
		ok &= sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_OCSP_sign)) > 0;
	}
	if (!ok) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	} else {
		rc = mtls__add_ext(x, NID_ext_key_usage, 0, eku, err);
	}
	/* OBJ_nid2obj returns static objects: free only the stack. */
	sk_ASN1_OBJECT_free(eku);
	return rc;
}

/* What every certificate of this CA carries: AKI, CRL DP, AIA. */
static int
add_ca_exts(struct mtls_ca *ca, X509 *x, struct mtls_err *err)
{
	if (X509_add_ext(x, ca->aki, -1) != 1 ||
	    (ca->crl_dp != NULL && X509_add_ext(x, ca->crl_dp, -1) != 1) ||
	    (ca->aia != NULL && X509_add_ext(x, ca->aia, -1) != 1)) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot add the CA's extensions");
	}
	return 0;
}

static int
add_profile_exts(struct mtls_ca *ca, X509 *x,
    const struct mtls_cert_request *req, struct mtls_err *err)
{
	BASIC_CONSTRAINTS *bc;
	int rc;

	if (req->profile == MTLS_PROFILE_SUBCA) {
		if (req->subca == NULL || mtls__subca_exts(x, req->subca, err) != 0 ||
		    mtls__add_ski(x, err) != 0) {
			return req->subca == NULL ? mtls_err_set(err, MTLS_E_INTERNAL,
			    "an intermediate needs its constraints") : -1;
		}
		return mtls__add_policies(x, req->cert_policies, err) != 0 ? -1
		    : add_ca_exts(ca, x, err);
	}
	bc = BASIC_CONSTRAINTS_new();
	if (bc == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	bc->ca = 0;
	rc = mtls__add_ext(x, NID_basic_constraints, 1, bc, err);
	BASIC_CONSTRAINTS_free(bc);
	if (rc != 0 || add_key_usage(x, req->pubkey, req->profile, err) != 0 ||
	    add_eku(x, req->profile, err) != 0 || mtls__add_ski(x, err) != 0) {
		return -1;
	}
	/* A delegated OCSP signer's own status is not checked by OCSP
	 * (RFC 6960 4.2.2.2.1: id-pkix-ocsp-nocheck), else clients loop. */
	if (req->profile == MTLS_PROFILE_OCSP) {
		ASN1_NULL *null = ASN1_NULL_new();
		int r = null != NULL ? mtls__add_ext(x, NID_id_pkix_OCSP_noCheck, 0, null, err)
				     : mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");

		ASN1_NULL_free(null);
		if (r != 0) {
			return -1;
		}
	}
	if (mtls__add_policies(x, req->cert_policies, err) != 0 ||
	    add_ca_exts(ca, x, err) != 0) {
		return -1;
	}
	if (req->sans != NULL && sk_GENERAL_NAME_num(req->sans) > 0) {
		/* RFC 5280 4.2.1.6: critical only when the subject is empty. */
		int crit = X509_NAME_entry_count(req->subject) == 0;

		return mtls__add_ext(x, NID_subject_alt_name, crit,
		    (void *)req->sans, err);
	}
	return 0;
}

/* A fresh serial not yet in the inventory (a clash of 127 random bits is
 * not expected, but uniqueness is a promise, so it is checked). */
static int
assign_serial(struct mtls_ca *ca, X509 *x, char **hex, struct mtls_err *err)
{
	int tries, taken;

	for (tries = 0; tries < 8; tries++) {
		if (mtls__random_serial(X509_get_serialNumber(x), err) != 0) {
			return -1;
		}
		*hex = mtls_cert_serial_hex(x);
		if (*hex == NULL) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		}
		taken = mtls__inv_serial_taken(ca->inv, *hex, err);
		if (taken == 0) {
			return 0;
		}
		OPENSSL_free(*hex);
		*hex = NULL;
		if (taken < 0) {
			return -1;
		}
	}
	return mtls_err_set(err, MTLS_E_INTERNAL,
	    "cannot find a free serial number (is the random source broken?)");
}

static int
set_validity(X509 *x, const struct mtls_cert_request *req, X509 *cacert,
    struct mtls_err *err)
{
	time_t now = time(NULL);
	time_t nb = req->not_before ? req->not_before : now - 300;
	int days = req->days > 0 ? req->days : MTLS_DEFAULT_DAYS;
	int ok;

	if (req->lifetime > 0) {
		/* Counted from now, with at most a tenth of it back-dated for
		 * clock skew, so a two-minute certificate is not born old. */
		nb = now - (req->lifetime / 10 < 300 ? req->lifetime / 10 : 300);
		ok = X509_time_adj_ex(X509_getm_notAfter(x), 0, req->lifetime,
		    &now) != NULL;
	} else {
		ok = X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &nb) != NULL;
	}
	if (!ok || X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb) == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set validity");
	}
	/* A certificate must not outlive its issuer (RFC 5280 6.1.3). */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(cacert)) > 0) {
		if (req->lifetime > 0) {
			return mtls_err_set(err, MTLS_E_POLICY, "a lifetime of "
			    "%ld s would outlive the CA certificate; ask for less "
			    "or renew the CA", req->lifetime);
		}
		return mtls_err_set(err, MTLS_E_POLICY,
		    "--days %d would outlive the CA certificate; use fewer days "
		    "or renew the CA",
		    days);
	}
	return 0;
}

static time_t
asn1_to_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		return 0;
	}
	return timegm(&tm);
}

static int
record(struct mtls_ca *ca, X509 *x, const char *serial,
    const struct mtls_cert_request *req, struct mtls_err *err)
{
	char fp[EVP_MAX_MD_SIZE * 3 + 1];
	char *subj = mtls_name_format(X509_get_subject_name(x));
	char *sans = mtls_san_format(req->sans);
	char *pem = NULL;
	size_t pem_len = 0;
	int rc = -1;
	struct mtls_inv_entry e;

	if (subj == NULL || sans == NULL ||
	    mtls_cert_fingerprint(x, EVP_sha256(), fp, sizeof(fp)) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls_cert_append_pem(x, &pem, &pem_len, err) != 0) {
		goto out;
	}
	memset(&e, 0, sizeof(e));
	e.serial = serial;
	e.name = req->name;
	e.subject = subj;
	e.sans = sans;
	e.profile = mtls_profile_name(req->profile);
	e.not_before = asn1_to_time_t(X509_get0_notBefore(x));
	e.not_after = asn1_to_time_t(X509_get0_notAfter(x));
	e.sha256 = fp;
	e.pem = pem;
	e.origin = req->origin == MTLS_ORIGIN_PARTNER ? "partner" : "local";
	rc = mtls__inv_add(ca->inv, &e, err);
out:
	OPENSSL_free(subj);
	free(sans);
	OPENSSL_free(pem);
	return rc;
}

/* A name belongs to one origin, so that renew, rotate and revoke by name
 * always mean one identity, and never write our files from a partner's
 * request nor re-key a partner's identity here. */
static int
check_name_origin(struct mtls_ca *ca, const struct mtls_cert_request *req,
    struct mtls_err *err)
{
	int local, partner;

	if (mtls__inv_name_origins(ca->inv, req->name, &local, &partner, err) != 0) {
		return -1;
	}
	if (req->origin == MTLS_ORIGIN_PARTNER && local > 0) {
		return mtls_err_set(err, MTLS_E_EXISTS, "the name '%s' belongs to "
		    "an identity of ours; a partner's certificate cannot take it",
		    req->name);
	}
	if (req->origin == MTLS_ORIGIN_LOCAL && partner > 0) {
		return mtls_err_set(err, MTLS_E_EXISTS, "the name '%s' belongs to "
		    "a certificate signed from a partner's CSR (the partner holds "
		    "its key); choose another name", req->name);
	}
	return 0;
}

X509 *
mtls_ca_sign(struct mtls_ca *ca, const struct mtls_cert_request *req,
    struct mtls_err *err)
{
	X509 *x = NULL;
	char *serial = NULL;

	if (ca->key == NULL) {
		mtls_err_set(err, MTLS_E_USAGE, "the CA key is not loaded");
		return NULL;
	}
	if (mtls_name_check(req->subject, req->sans != NULL &&
		sk_GENERAL_NAME_num(req->sans) > 0, err) != 0 ||
	    check_name_origin(ca, req, err) != 0 ||
	    mtls__policies_check(req->cert_policies, err) != 0 ||
	    mtls__policies_issuable(ca->cert, req->cert_policies, err) != 0) {
		return NULL;
	}
	x = X509_new();
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, req->subject) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_set_pubkey(x, req->pubkey) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build a certificate");
		goto fail;
	}
	if (set_validity(x, req, ca->cert, err) != 0 ||
	    add_profile_exts(ca, x, req, err) != 0 ||
	    assign_serial(ca, x, &serial, err) != 0) {
		goto fail;
	}
	if (X509_sign(x, ca->key, mtls__sign_md(ca->key)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the certificate");
		goto fail;
	}
	/* Judged once signed (complete), and never recorded if refused. */
	if (mtls__subca_check_names(ca->cert, x, err) != 0) {
		goto fail;
	}
	if (record(ca, x, serial, req, err) != 0) {
		goto fail;
	}
	OPENSSL_free(serial);
	return x;
fail:
	OPENSSL_free(serial);
	X509_free(x);
	return NULL;
}
