/* see mtls/pki.h: the one certificate-chain profile of verify and serve */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "base/internal.h"

/* Replaces VP's user-initial-policy-set with the N OIDS (dotted, checked
 * by the caller), or with anyPolicy when N is 0. 0, or -1 when out of
 * memory. */
static int
set_policies(X509_VERIFY_PARAM *vp, const char *const *oids, size_t n)
{
	STACK_OF(ASN1_OBJECT) *set = sk_ASN1_OBJECT_new_null();
	ASN1_OBJECT *obj;
	size_t i;
	int rc = -1;

	if (set == NULL) {
		return -1;
	}
	for (i = 0; i < (n > 0 ? n : 1); i++) {
		obj = n > 0 ? OBJ_txt2obj(oids[i], 1)
			    : OBJ_dup(OBJ_nid2obj(NID_any_policy));
		if (obj == NULL || sk_ASN1_OBJECT_push(set, obj) <= 0) {
			ASN1_OBJECT_free(obj);
			goto out;
		}
	}
	/* set1 copies the objects and replaces the set (add0 would add to
	 * the anyPolicy the profile starts from, which admits every
	 * policy). */
	if (X509_VERIFY_PARAM_set1_policies(vp, set) == 1) {
		rc = 0;
	}
out:
	sk_ASN1_OBJECT_pop_free(set, ASN1_OBJECT_free);
	ERR_clear_error();
	return rc;
}

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
	/* RFC 5280 6.1.1 (c): the user-initial-policy-set is anyPolicy
	 * unless policies are required. OpenSSL reads an empty set as "no
	 * policy is acceptable", so a CA's requireExplicitPolicy would refuse
	 * every chain, even one asserting its policy. When this cannot be
	 * set (out of memory), the set stays empty: such chains are refused,
	 * never accepted. */
	(void)set_policies(vp, NULL, 0);
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
	size_t i;

	for (i = 0; i < n; i++) {
		if (mtls_policy_oid_check(oids[i], err) != 0) {
			return -1;
		}
	}
	/* RFC 5280 6.1.1: the user-initial-policy-set is the OIDs given, or
	 * anyPolicy (as mtls_chain_profile_apply leaves it). */
	if (set_policies(vp, oids, n) != 0) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory "
		    "setting the required certificate policies");
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

/* RFC 5280 4.2.1.6: a dNSName is in the preferred name syntax (RFC 1034
 * letters, digits and hyphens in labels of 1-63 characters, at most 253
 * in all; never empty or " "), here with one leading "*" label allowed
 * (RFC 6125 wildcards). OpenSSL's name checks compare bytes, so a name
 * outside the syntax could slip past a constraint or a map. */
static int
dns_syntax_ok(const unsigned char *p, int len)
{
	int i, label = 0;

	if (len < 1 || len > 253) {
		return 0;
	}
	if (len >= 2 && p[0] == '*' && p[1] == '.') {
		p += 2;
		len -= 2;
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (label == 0 || p[i - 1] == '-') {
				return 0;
			}
			label = 0;
			continue;
		}
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
			(p[i] >= '0' && p[i] <= '9') ||
			(p[i] == '-' && label > 0)) || ++label > 63) {
			return 0;
		}
	}
	return label > 0 && p[len - 1] != '-';
}

static const char *
san_rule(X509 *leaf)
{
	static _Thread_local char why[400];
	GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name,
	    NULL, NULL);
	const char *rule = NULL;
	int i;

	for (i = 0; rule == NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		ASN1_IA5STRING *d = g->type == GEN_DNS ? g->d.dNSName : NULL;

		if (d != NULL && !dns_syntax_ok(d->data, d->length)) {
			char *text = mtls_san_text(g);

			snprintf(why, sizeof(why), "its subjectAltName %.200s is not "
			    "a host name in preferred name syntax (RFC 5280 "
			    "4.2.1.6)", text ? text : "dns:?");
			free(text);
			rule = why;
		}
	}
	GENERAL_NAMES_free(gens);
	return rule;
}

const char *
mtls_cert_malformed_why(X509 *cert)
{
	static _Thread_local char why[200];
	int i;

	for (i = 0; cert != NULL && i < X509_get_ext_count(cert); i++) {
		X509_EXTENSION *ext = X509_get_ext(cert, i);
		const X509V3_EXT_METHOD *m = X509V3_EXT_get(ext);
		void *v;

		if (m == NULL) {
			continue;
		}
		v = X509V3_EXT_d2i(ext);
		ERR_clear_error();
		if (v != NULL) {
			if (m->it != NULL) {
				ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
			} else if (m->ext_free != NULL) {
				m->ext_free(v);
			}
			continue;
		}
		snprintf(why, sizeof(why), "its %s extension is malformed (not "
		    "valid DER for that extension; RFC 5280 4.2)",
		    OBJ_nid2sn(X509_EXTENSION_get_object(ext) != NULL
			? OBJ_obj2nid(X509_EXTENSION_get_object(ext)) : NID_undef));
		return why;
	}
	return NULL;
}

/* 1 when the wildcard dNSName "*.S" can stand for a name in the dNSName
 * subtree BASE: BASE is "L.S" for one label L (OpenSSL compares the
 * wildcard text as it is and misses this), or S lies inside BASE. */
static int
wildcard_meets(const char *s, const char *base)
{
	const char *dot = strchr(base, '.');
	size_t ls = strlen(s), lb = strlen(base);

	if (base[0] == '\0' || base[0] == '.') {
		/* ".x": subdomains of x only; the suffix test below sees them. */
		return ls > lb && strcasecmp(s + ls - lb, base) == 0;
	}
	if (dot != NULL && strcasecmp(dot + 1, s) == 0) {
		return 1;
	}
	return strcasecmp(s, base) == 0 ||
	    (ls > lb && s[ls - lb - 1] == '.' && strcasecmp(s + ls - lb, base) == 0);
}

const char *
mtls_chain_names_check(STACK_OF(X509) *chain)
{
	static _Thread_local char why[600];
	X509 *leaf = sk_X509_value(chain, 0);
	GENERAL_NAMES *gens = leaf != NULL ? X509_get_ext_d2i(leaf,
	    NID_subject_alt_name, NULL, NULL) : NULL;
	const char *rule = NULL;
	int i, j, k;

	for (i = 0; rule == NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *name;

		if (g->type != GEN_DNS || g->d.dNSName->length < 3 ||
		    (size_t)g->d.dNSName->length != strlen((char *)g->d.dNSName->data) ||
		    strncmp((char *)g->d.dNSName->data, "*.", 2) != 0) {
			continue;
		}
		name = (const char *)g->d.dNSName->data;
		for (j = 1; rule == NULL && j < sk_X509_num(chain); j++) {
			X509 *ca = sk_X509_value(chain, j);
			NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca,
			    NID_name_constraints, NULL, NULL);

			for (k = 0; nc != NULL && rule == NULL &&
			     k < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); k++) {
				GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(
				    nc->excludedSubtrees, k);
				ASN1_IA5STRING *b = st->base->type == GEN_DNS
				    ? st->base->d.dNSName : NULL;
				char *subj;

				if (b == NULL || (size_t)b->length !=
				    strlen((char *)b->data) ||
				    !wildcard_meets(name + 2, (char *)b->data)) {
					continue;
				}
				subj = mtls_name_format(X509_get_subject_name(ca));
				snprintf(why, sizeof(why), "its subjectAltName "
				    "dns:%.100s is a wildcard that covers names in "
				    "%.100s, a subtree CA %.200s excludes (RFC 5280 "
				    "4.2.1.10)", name, (char *)b->data,
				    subj ? subj : "?");
				OPENSSL_free(subj);
				rule = why;
			}
			NAME_CONSTRAINTS_free(nc);
		}
	}
	GENERAL_NAMES_free(gens);
	return rule;
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
	if (rule == NULL) {
		rule = san_rule(leaf);
	}
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
