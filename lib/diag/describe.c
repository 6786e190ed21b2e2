/* see mtls/inspect.h: mtls_cert_to_json and mtls_inspect_print */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/explain.h"
#include "mtls/inspect.h"
#include "mtls/pki.h"
#include "base/internal.h"
#include "base/clock.h"

static json_t *
json_take_str(char *s)
{
	json_t *j = json_string(s ? s : "");

	OPENSSL_free(s);
	return j;
}

static json_t *
key_usage_json(X509 *x)
{
	static const char *names[] = {"digitalSignature", "nonRepudiation",
	    "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign",
	    "cRLSign", "encipherOnly", "decipherOnly"};
	json_t *a = json_array();
	uint32_t ku = X509_get_key_usage(x);
	size_t i;

	if (ku == UINT32_MAX) {
		return a;
	}
	for (i = 0; i < MTLS_ARRAY_LEN(names); i++) {
		static const uint32_t bits[] = {KU_DIGITAL_SIGNATURE,
		    KU_NON_REPUDIATION, KU_KEY_ENCIPHERMENT, KU_DATA_ENCIPHERMENT,
		    KU_KEY_AGREEMENT, KU_KEY_CERT_SIGN, KU_CRL_SIGN,
		    KU_ENCIPHER_ONLY, KU_DECIPHER_ONLY};

		if (ku & bits[i]) {
			json_array_append_new(a, json_string(names[i]));
		}
	}
	return a;
}

static json_t *
eku_json(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	json_t *a = json_array();
	char buf[128];
	int i;

	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(o);

		if (nid != NID_undef) {
			json_array_append_new(a, json_string(OBJ_nid2sn(nid)));
		} else {
			OBJ_obj2txt(buf, sizeof(buf), o, 1);
			json_array_append_new(a, json_string(buf));
		}
	}
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return a;
}

static json_t *
sans_json(X509 *x)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char *s = mtls_san_format(g);
	json_t *a = json_array();
	char *item, *save = NULL;

	for (item = s ? strtok_r(s, ",", &save) : NULL; item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		json_array_append_new(a, json_string(item));
	}
	free(s);
	GENERAL_NAMES_free(g);
	return a;
}

static json_t *
time_json(const ASN1_TIME *t)
{
	char buf[64];

	/* JSON dates are RFC 3339 UTC (docs/json.md); print_cert turns them
	 * back into the human form for the text output. */
	if (mtls__time_format_asn1(t, MTLS__TIME_RFC3339, buf,
	    sizeof(buf)) == 0) {
		return json_null();
	}
	return json_string(buf);
}

/* "2026-11-22T11:54:46Z" as "2026-11-22 11:54:46 UTC" (the text output's
 * form); anything else is copied as it is. */
static const char *
human_time(json_t *v, char *buf, size_t len)
{
	const char *s = json_string_value(v);
	size_t n = s != NULL ? strlen(s) : 0;

	if (n != 20 || s[10] != 'T' || s[19] != 'Z') {
		return s != NULL ? s : "?";
	}
	snprintf(buf, len, "%.10s %.8s UTC", s, s + 11);
	return buf;
}

/* The fingerprint of X by MD in the JSON form (lower-case hex). */
static json_t *
fingerprint_json(X509 *x, const EVP_MD *md)
{
	char colon[3 * EVP_MAX_MD_SIZE + 1], hex[2 * EVP_MAX_MD_SIZE + 1];

	if (mtls_cert_fingerprint(x, md, colon, sizeof(colon)) != 0 ||
	    mtls_fingerprint_hex(colon, hex, sizeof(hex)) != 0) {
		return json_null();
	}
	return json_string(hex);
}

static long
days_left(const ASN1_TIME *na)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1) {
		return 0;
	}
	return days;
}

/* The URIs of GENERAL_NAMES into array A. */
static void
uris_json(json_t *a, const GENERAL_NAMES *names)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_URI) {
			json_array_append_new(a, json_stringn(
			    (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
			    (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier)));
		}
	}
}

/* Where a relying party fetches the issuer, OCSP answers (RFC 5280
 * 4.2.2.1) and CRLs (4.2.1.13) for X: each an array of URLs. */
static void
urls_json(json_t *j, X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	json_t *ocsp = json_array(), *issuers = json_array(), *crl = json_array();
	int i;

	for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		int m = OBJ_obj2nid(ad->method);
		GENERAL_NAMES *one = sk_GENERAL_NAME_new_null();

		if (one != NULL && (m == NID_ad_OCSP || m == NID_ad_ca_issuers) &&
		    sk_GENERAL_NAME_push(one, ad->location) > 0) {
			uris_json(m == NID_ad_OCSP ? ocsp : issuers, one);
		}
		sk_GENERAL_NAME_free(one);
	}
	for (i = 0; i < sk_DIST_POINT_num(cdp); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(cdp, i);

		if (dp->distpoint != NULL && dp->distpoint->type == 0) {
			uris_json(crl, dp->distpoint->name.fullname);
		}
	}
	json_object_set_new(j, "ocsp_urls", ocsp);
	json_object_set_new(j, "ca_issuers_urls", issuers);
	json_object_set_new(j, "crl_urls", crl);
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
}

json_t *
mtls_cert_to_json(X509 *x)
{
	json_t *j = json_object();
	char buf[200];
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int sig_nid = X509_get_signature_nid(x);

	json_object_set_new(j, "type", json_string("certificate"));
	json_object_set_new(j, "subject", json_take_str(mtls_name_format(X509_get_subject_name(x))));
	json_object_set_new(j, "issuer", json_take_str(mtls_name_format(X509_get_issuer_name(x))));
	json_object_set_new(j, "serial", json_take_str(mtls_cert_serial_hex(x)));
	json_object_set_new(j, "not_before", time_json(X509_get0_notBefore(x)));
	json_object_set_new(j, "not_after", time_json(X509_get0_notAfter(x)));
	json_object_set_new(j, "days_left", json_integer(days_left(X509_get0_notAfter(x))));
	json_object_set_new(j, "sans", sans_json(x));
	json_object_set_new(j, "key_usage", key_usage_json(x));
	json_object_set_new(j, "ext_key_usage", eku_json(x));
	json_object_set_new(j, "ca", json_boolean(X509_check_ca(x) > 0 &&
	    (X509_get_extension_flags(x) & EXFLAG_CA)));
	json_object_set_new(j, "self_signed",
	    json_boolean((X509_get_extension_flags(x) & EXFLAG_SS) != 0));
	if (pk != NULL) {
		mtls_key_describe(pk, buf, sizeof(buf));
		json_object_set_new(j, "key", json_string(buf));
	}
	json_object_set_new(j, "signature", json_string(OBJ_nid2ln(sig_nid)));
	json_object_set_new(j, "sha256", fingerprint_json(x, EVP_sha256()));
	json_object_set_new(j, "sha1", fingerprint_json(x, EVP_sha1()));
	urls_json(j, x);
	ERR_clear_error();
	return j;
}

static void
print_list(FILE *out, const char *label, json_t *a)
{
	size_t i;
	json_t *v;

	if (json_array_size(a) == 0) {
		return;
	}
	fprintf(out, "  %-13s", label);
	json_array_foreach(a, i, v) {
		fprintf(out, "%s%s", i ? ", " : "", json_string_value(v));
	}
	fputc('\n', out);
}

static void
print_field(FILE *out, const char *label, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v)) {
		fprintf(out, "  %-13s%s\n", label, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(out, "  %-13s%lld\n", label, (long long)json_integer_value(v));
	} else if (json_is_boolean(v)) {
		fprintf(out, "  %-13s%s\n", label, json_is_true(v) ? "yes" : "no");
	}
}

/* A JSON fingerprint (lower-case hex) printed as people compare it with
 * keytool and `openssl x509 -fingerprint`: "AB:CD:...". */
static void
print_fp(FILE *out, const char *label, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	size_t i;

	if (s == NULL) {
		return;
	}
	fprintf(out, "  %-13s", label);
	for (i = 0; s[i] != '\0'; i++) {
		if (i > 0 && i % 2 == 0) {
			fputc(':', out);
		}
		fputc(toupper((unsigned char)s[i]), out);
	}
	fputc('\n', out);
}

static void
print_cert(FILE *out, json_t *o)
{
	long left = (long)json_integer_value(json_object_get(o, "days_left"));
	char nb[64], na[64];

	print_field(out, "Subject:", o, "subject");
	print_field(out, "Issuer:", o, "issuer");
	print_field(out, "Serial:", o, "serial");
	fprintf(out, "  %-13s%s to %s (%s%ld days %s)\n", "Validity:",
	    human_time(json_object_get(o, "not_before"), nb, sizeof(nb)),
	    human_time(json_object_get(o, "not_after"), na, sizeof(na)),
	    left < 0 ? "EXPIRED " : "", left < 0 ? -left : left,
	    left < 0 ? "ago" : "left");
	print_list(out, "SANs:", json_object_get(o, "sans"));
	print_list(out, "Key usage:", json_object_get(o, "key_usage"));
	print_list(out, "Ext. usage:", json_object_get(o, "ext_key_usage"));
	print_field(out, "CA:", o, "ca");
	print_field(out, "Key:", o, "key");
	print_field(out, "Signature:", o, "signature");
	print_fp(out, "SHA-256:", o, "sha256");
	print_fp(out, "SHA-1:", o, "sha1");
	print_list(out, "OCSP:", json_object_get(o, "ocsp_urls"));
	print_list(out, "CA issuers:", json_object_get(o, "ca_issuers_urls"));
	print_list(out, "CRL:", json_object_get(o, "crl_urls"));
}

void
mtls_inspect_print(FILE *out, json_t *desc)
{
	json_t *objs = json_object_get(desc, "objects"), *o;
	size_t i;

	fprintf(out, "%s: %s\n", json_string_value(json_object_get(desc, "file")),
	    json_string_value(json_object_get(desc, "format")));
	json_array_foreach(objs, i, o) {
		const char *type = json_string_value(json_object_get(o, "type"));
		const char *role = json_string_value(json_object_get(o, "role"));

		fprintf(out, "[%zu] %s%s%s%s\n", i + 1, type, role ? " (" : "",
		    role ? role : "", role ? ")" : "");
		if (strcmp(type, "certificate") == 0) {
			print_cert(out, o);
			continue;
		}
		print_field(out, "Subject:", o, "subject");
		print_field(out, "Key:", o, "key");
		print_field(out, "Encrypted:", o, "encrypted");
		print_field(out, "Format:", o, "encoding");
		print_list(out, "SANs:", json_object_get(o, "sans"));
		print_field(out, "Signature:", o, "signature_valid");
		print_fp(out, "SHA-256:", o, "sha256");
		print_field(out, "Friendly:", o, "friendly_name");
		print_field(out, "Matches:", o, "matches_certificate");
	}
}
