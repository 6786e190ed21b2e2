/* see mtls/pki.h: the one certificate-chain profile of verify and serve */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "base/internal.h"

void
mtls_chain_profile_apply(X509_VERIFY_PARAM *vp)
{
	/* RFC 5280 structure checks (OpenSSL's strict mode: AKI/SKI, critical
	 * CA basicConstraints, well-formed SANs and serials...) and the key
	 * and signature strength of TLS security level 2 (RSA/DSA >= 2048,
	 * ECC >= 224 bits, no SHA-1 or MD5 signatures) for every certificate. */
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT);
	/* RFC 5280 6.1 policy processing: a malformed certificatePolicies
	 * or policyConstraints, or a CA's requireExplicitPolicy, is obeyed
	 * rather than ignored. */
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_POLICY_CHECK);
	X509_VERIFY_PARAM_set_auth_level(vp, MTLS_SECURITY_LEVEL);
}

int
mtls_policy_oid_check(const char *text, struct mtls_err *err)
{
	ASN1_OBJECT *obj;
	size_t i;
	int dots = 0;

	/* Dotted numbers only: OpenSSL's short names ("anyPolicy") are not
	 * what a partner's policy document gives. */
	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] == '.') {
			dots++;
		} else if (text[i] < '0' || text[i] > '9') {
			break;
		}
	}
	obj = text[i] == '\0' && dots > 0 ? OBJ_txt2obj(text, 1) : NULL;
	ERR_clear_error();
	if (obj == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "'%s' is not a certificate "
		    "policy OID: give dotted numbers such as 1.3.6.1.4.1.99999.1",
		    text);
	}
	ASN1_OBJECT_free(obj);
	return 0;
}

int
mtls_chain_profile_policies(X509_VERIFY_PARAM *vp, const char *const *oids,
    size_t n, int require_explicit, struct mtls_err *err)
{
	ASN1_OBJECT *obj;
	size_t i;

	for (i = 0; i < n; i++) {
		if (mtls_policy_oid_check(oids[i], err) != 0) {
			return -1;
		}
		obj = OBJ_txt2obj(oids[i], 1);
		if (obj == NULL || X509_VERIFY_PARAM_add0_policy(vp, obj) != 1) {
			ASN1_OBJECT_free(obj);
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot require policy %s", oids[i]);
		}
	}
	/* RFC 5280 6.1.1: the user-initial-policy-set is anyPolicy unless
	 * OIDs are given; OpenSSL reads an empty set as "no policy", so say
	 * anyPolicy. */
	if (n == 0 && require_explicit) {
		obj = OBJ_dup(OBJ_nid2obj(NID_any_policy));
		if (obj == NULL || X509_VERIFY_PARAM_add0_policy(vp, obj) != 1) {
			ASN1_OBJECT_free(obj);
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot require explicit policy");
		}
	}
	/* OpenSSL (as RFC 5280 6.1.6) compares the user-initial-policy-set
	 * with the chain's policies only when explicit policy is required:
	 * a required OID implies it. */
	if (n > 0 || require_explicit) {
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_POLICY_CHECK |
		    X509_V_FLAG_EXPLICIT_POLICY);
	}
	return 0;
}

/* The rule our CA signs by (mtls_name_check: no control character or NUL,
 * no empty or over-long value, someone named) holds for every peer too:
 * the principal map compares subjects as text and logs show them. The
 * sentence names the attribute, so it lives in a per-thread buffer. */
static const char *
subject_rule(X509 *leaf)
{
	static _Thread_local char why[sizeof(((struct mtls_err *)0)->msg) + 8];
	struct mtls_err err;
	int sans = X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1) >= 0;

	memset(&err, 0, sizeof(err));
	if (mtls_name_check(X509_get_subject_name(leaf), sans, &err) == 0) {
		return NULL;
	}
	snprintf(why, sizeof(why), "its %s", err.msg);
	return why;
}

const char *
mtls_leaf_profile_check(X509 *leaf, enum mtls_leaf_role role)
{
	const char *rule;
	uint32_t ku = X509_get_key_usage(leaf);
	uint32_t xku = X509_get_extended_key_usage(leaf);
	int has_eku = (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0;

	if (X509_check_ca(leaf) != 0) {
		return "it is a CA certificate, not an end-entity one (RFC 5280 "
		       "4.2.1.9: basicConstraints CA:TRUE or certificate-signing "
		       "key usage)";
	}
	if (ku != UINT32_MAX && (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
		return "its key usage allows signing certificates or CRLs "
		       "(keyCertSign/cRLSign), which an end-entity certificate "
		       "must not (RFC 5280 4.2.1.3)";
	}
	if (X509_get_ext_by_NID(leaf, NID_name_constraints, -1) >= 0) {
		return "it carries name constraints, which only a CA certificate "
		       "may (RFC 5280 4.2.1.10)";
	}
	rule = subject_rule(leaf);
	if (rule != NULL) {
		return rule;
	}
	/* RFC 5280 4.2.1.3 with RFC 8446 4.4.3 / RFC 5246 7.4.8: a TLS peer
	 * proves its key with a signature, so a key usage that is present
	 * must allow digitalSignature (keyAgreement only for static ECDH,
	 * which we never negotiate). OpenSSL reports this as a purpose
	 * failure, which reads like an EKU problem: name the real cause. */
	if (ku != UINT32_MAX && (ku & KU_DIGITAL_SIGNATURE) == 0) {
		return "its key usage lacks digitalSignature, which a TLS peer "
		       "needs to sign the handshake (RFC 5280 4.2.1.3); the "
		       "extended key usage is not the problem: re-issue it "
		       "with keyUsage digitalSignature";
	}
	if (!has_eku) {
		return role == MTLS_LEAF_SERVER
		    ? "it has no extended key usage: a server certificate must "
		      "name serverAuth (RFC 5280 4.2.1.12)"
		    : "it has no extended key usage: a client certificate must "
		      "name clientAuth (RFC 5280 4.2.1.12)";
	}
	if ((role == MTLS_LEAF_CLIENT || role == MTLS_LEAF_NODE) &&
	    (xku & XKU_SSL_CLIENT) == 0) {
		return "it is not a client certificate: its extended key usage "
		       "does not include clientAuth "
		       "(RFC 5280 4.2.1.12; its key usage is fine); issue it "
		       "with the client or node profile";
	}
	if ((role == MTLS_LEAF_SERVER || role == MTLS_LEAF_NODE) &&
	    (xku & XKU_SSL_SERVER) == 0) {
		return "it is not a server certificate: its extended key usage "
		       "does not include serverAuth "
		       "(RFC 5280 4.2.1.12; its key usage is fine); issue it "
		       "with the server or node profile";
	}
	return NULL;
}

void
mtls_leaf_profile_sentence(X509 *leaf, const char *rule, char *buf, size_t len)
{
	char *subj = mtls_name_format(X509_get_subject_name(leaf));
	char *serial = mtls_cert_serial_hex(leaf);

	snprintf(buf, len, "certificate %s (serial %s): %s", subj ? subj : "?",
	    serial ? serial : "?", rule);
	OPENSSL_free(subj);
	OPENSSL_free(serial);
}

const char *
mtls_chain_purpose_why(X509 *cert, int depth, enum mtls_leaf_role role)
{
	uint32_t ku = X509_get_key_usage(cert);
	uint32_t xku = X509_get_extended_key_usage(cert);
	uint32_t want = role == MTLS_LEAF_SERVER ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
	const char *rule;

	if (depth == 0) {
		rule = mtls_leaf_profile_check(cert, role);
		if (rule != NULL) {
			return rule;
		}
		if ((X509_get_extension_flags(cert) & EXFLAG_NSCERT) != 0) {
			return "its Netscape certificate type does not allow this "
			       "role; re-issue it without nsCertType";
		}
		return NULL;
	}
	/* A CA: OpenSSL applies its key usage and (when present) its
	 * extended key usage to the whole chain below it. */
	if (ku != UINT32_MAX && (ku & KU_KEY_CERT_SIGN) == 0) {
		return "this CA certificate's key usage lacks keyCertSign, so it "
		       "may not sign certificates (RFC 5280 4.2.1.3); re-issue "
		       "the CA with keyUsage keyCertSign";
	}
	if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0 &&
	    (xku & want) == 0) {
		return role == MTLS_LEAF_SERVER
		    ? "this CA certificate's extended key usage leaves out "
		      "serverAuth, which restricts every certificate below it; "
		      "re-issue the CA without EKU or with serverAuth"
		    : "this CA certificate's extended key usage leaves out "
		      "clientAuth, which restricts every certificate below it; "
		      "re-issue the CA without EKU or with clientAuth";
	}
	return NULL;
}
