/* see diag_int.h: certificate checks shared by probe and doctor */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "diag/diag_int.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "base/internal.h"
#include "base/clock.h"

long
mtls__cert_days_until(const ASN1_TIME *t, int *ok)
{
	int days = 0, secs = 0;

	*ok = t != NULL && ASN1_TIME_diff(&days, &secs, NULL, t) == 1;
	if (!*ok) {
		ERR_clear_error();
		return 0;
	}
	/* A certificate that ends in 3 hours has 0 days left, not 1. */
	if (days == 0 && secs < 0) {
		return -1;
	}
	return days;
}

char *
mtls__cert_subject(X509 *x)
{
	char *s = mtls_name_format(X509_get_subject_name(x));

	return s != NULL ? s : OPENSSL_strdup("?");
}

char *
mtls__cert_issuer(X509 *x)
{
	char *s = mtls_name_format(X509_get_issuer_name(x));

	return s != NULL ? s : OPENSSL_strdup("?");
}

char *
mtls__cert_sans(X509 *x)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char *s = mtls_san_format(g);

	GENERAL_NAMES_free(g);
	return s != NULL ? s : mtls__strdup("");
}

int
mtls__cert_self_signed(X509 *x)
{
	int rc = X509_self_signed(x, 1) == 1;

	ERR_clear_error();
	return rc;
}

int
mtls__cert_eku_roles(X509 *x)
{
	uint32_t xku;
	int roles = 0;

	if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) == 0) {
		return 3; /* RFC 5280 4.2.1.12: no EKU means any purpose */
	}
	xku = X509_get_extended_key_usage(x);
	if (xku & XKU_SSL_SERVER) {
		roles |= 1;
	}
	if (xku & XKU_SSL_CLIENT) {
		roles |= 2;
	}
	return roles;
}

void
mtls__cert_eku_describe(X509 *x, char *buf, size_t len)
{
	EXTENDED_KEY_USAGE *eku;
	size_t o = 0;
	int i;

	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	if (eku == NULL) {
		snprintf(buf, len, "(any: no EKU extension)");
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < sk_ASN1_OBJECT_num(eku) && o < len; i++) {
		ASN1_OBJECT *o1 = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(o1);
		char txt[80];

		if (nid != NID_undef) {
			snprintf(txt, sizeof(txt), "%s", OBJ_nid2sn(nid));
		} else {
			OBJ_obj2txt(txt, sizeof(txt), o1, 1);
		}
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
		    txt);
	}
	EXTENDED_KEY_USAGE_free(eku);
	if (buf[0] == '\0') {
		snprintf(buf, len, "(empty)");
	}
}

static int
sig_digest_nid(X509 *x)
{
	int md = NID_undef, pk = NID_undef;

	if (OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk) != 1) {
		return NID_undef;
	}
	return md;
}

int
mtls__cert_name_matches(X509 *x, const char *host, int *cn_only)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
	int rc;

	*cn_only = 0;
	if (ip != NULL) {
		ASN1_OCTET_STRING_free(ip);
		rc = X509_check_ip_asc(x, host, 0) == 1;
		ERR_clear_error();
		return rc;
	}
	ERR_clear_error();
	if (X509_check_host(x, host, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
		NULL) == 1) {
		return 1;
	}
	/* Only the legacy subject CN matches (no DNS SAN at all): OpenSSL
	 * accepts that, but browsers, Go and Java's newer checks do not. */
	if (X509_check_host(x, host, 0, 0, NULL) == 1) {
		*cn_only = 1;
		return 1;
	}
	ERR_clear_error();
	return 0;
}

void
mtls__cert_lines(struct mtls_report *r, X509 *x, const char *prefix)
{
	char *subj = mtls__cert_subject(x), *iss = mtls__cert_issuer(x), *sans = mtls__cert_sans(x);
	char na[64], key[80] = "?", eku[256];
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int ok, md = sig_digest_nid(x);
	long days = mtls__cert_days_until(X509_get0_notAfter(x), &ok);

	mtls__time_format_asn1(X509_get0_notAfter(x), MTLS__TIME_HUMAN, na,
	    sizeof(na));
	if (pk != NULL) {
		mtls_key_describe(pk, key, sizeof(key));
	}
	mtls__cert_eku_describe(x, eku, sizeof(eku));
	mtls__report_line(r, "%ssubject %s", prefix, subj);
	mtls__report_line(r, "%s  issuer %s", prefix, iss);
	mtls__report_line(r, "%s  valid until %s (%ld days), key %s, signed %s",
	    prefix, na, days, key,
	    md != NID_undef ? OBJ_nid2sn(md) : "?");
	mtls__report_line(r, "%s  SANs %s; EKU %s", prefix,
	    sans[0] ? sans : "(none)", eku);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	free(sans);
}

void
mtls__check_validity(struct mtls_report *r, X509 *x, const char *subject,
    const char *what, const char *keypfx, int warn_days)
{
	char when[64], key[96];
	int ok;
	long left = mtls__cert_days_until(X509_get0_notAfter(x), &ok);
	long since = mtls__cert_days_until(X509_get0_notBefore(x), &ok);

	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		mtls__time_format_asn1(X509_get0_notAfter(x), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		snprintf(key, sizeof(key), "%s_expired", keypfx);
		mtls__report_add(r, MTLS_SEV_ERROR, key, subject,
		    mtls_explain_verify_fix(X509_V_ERR_CERT_HAS_EXPIRED),
		    "%s expired on %s (%ld days ago)", what, when, -left);
		return;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		mtls__time_format_asn1(X509_get0_notBefore(x), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		snprintf(key, sizeof(key), "%s_not_yet_valid", keypfx);
		mtls__report_add(r, MTLS_SEV_ERROR, key, subject,
		    mtls_explain_verify_fix(X509_V_ERR_CERT_NOT_YET_VALID),
		    "%s is not valid before %s (in %ld days)", what, when,
		    since);
		return;
	}
	mtls__time_format_asn1(X509_get0_notAfter(x), MTLS__TIME_HUMAN, when,
	    sizeof(when));
	if (left < warn_days) {
		snprintf(key, sizeof(key), "%s_expiring", keypfx);
		mtls__report_add(r, MTLS_SEV_WARN, key, subject,
		    "renew it now ('mtls renew NAME'), before peers start "
		    "refusing it",
		    "%s expires on %s: %ld days left (threshold %d)", what,
		    when, left, warn_days);
		return;
	}
	snprintf(key, sizeof(key), "%s_valid", keypfx);
	mtls__report_add(r, MTLS_SEV_OK, key, subject, NULL,
	    "%s is valid until %s (%ld days left)", what, when, left);
}

void
mtls__check_weak(struct mtls_report *r, X509 *x, const char *subject,
    const char *what, const char *keypfx)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char key[96], desc[80];
	int md = sig_digest_nid(x), id;

	if (pk != NULL) {
		id = EVP_PKEY_get_base_id(pk);
		if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS ||
			id == EVP_PKEY_DSA) &&
		    EVP_PKEY_get_bits(pk) < 2048) {
			mtls_key_describe(pk, desc, sizeof(desc));
			snprintf(key, sizeof(key), "%s_weak_key", keypfx);
			mtls__report_add(r, MTLS_SEV_ERROR, key, subject,
			    mtls_explain_verify_fix(X509_V_ERR_EE_KEY_TOO_SMALL),
			    "%s has a %s key: below 2048 bits, OpenSSL 3 and "
			    "Java refuse it at their default security level",
			    what, desc);
		}
	}
	/* A root's own signature is never checked (it is trusted as a key),
	 * so SHA-1 on a self-signed root is harmless. */
	if ((md == NID_sha1 || md == NID_md5) && !mtls__cert_self_signed(x)) {
		snprintf(key, sizeof(key), "%s_weak_signature", keypfx);
		mtls__report_add(r, MTLS_SEV_ERROR, key, subject,
		    mtls_explain_verify_fix(X509_V_ERR_CA_MD_TOO_WEAK),
		    "%s is signed with %s: %s", what, OBJ_nid2sn(md),
		    mtls_explain_verify_code(X509_V_ERR_CA_MD_TOO_WEAK));
	}
}

int
mtls__verify_ignore_time_cb(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);

	if (!ok && (e == X509_V_ERR_CERT_HAS_EXPIRED ||
		       e == X509_V_ERR_CERT_NOT_YET_VALID)) {
		return 1;
	}
	return ok;
}
