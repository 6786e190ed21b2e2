#define _GNU_SOURCE
/* see mtls/pki.h: subject rules and per-RDN subject patterns */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "base/internal.h"

/* Upper bounds of RFC 5280 Appendix A.1 (ub-*), in characters. */
static const struct {
	int nid;
	int max;
} upper_bounds[] = {
    {NID_commonName, 64},
    {NID_organizationName, 64},
    {NID_organizationalUnitName, 64},
    {NID_localityName, 128},
    {NID_stateOrProvinceName, 128},
    {NID_countryName, 2},
    {NID_serialNumber, 64},
    {NID_title, 64},
    {NID_pkcs9_emailAddress, 255},
    {NID_domainComponent, 63},
    {NID_givenName, 32768},
    {NID_surname, 32768},
};

/* Attributes without a bound of their own get this one: no legitimate
 * subject needs more, and long values are how log lines get forged. */
#define DEFAULT_UB 128

static int
upper_bound(int nid)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(upper_bounds); i++) {
		if (upper_bounds[i].nid == nid) {
			return upper_bounds[i].max;
		}
	}
	return DEFAULT_UB;
}

/* Code points in UTF-8 S of N bytes; -1 when S holds a C0 or C1 control
 * character, DEL or NUL (none of which any DN string type should carry). */
static long
utf8_chars(const unsigned char *s, int n)
{
	long chars = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			return -1;
		}
		/* U+0080..U+009F are 0xC2 0x80..0x9F in UTF-8. */
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			return -1;
		}
		if ((s[i] & 0xc0) != 0x80) {
			chars++;
		}
	}
	return chars;
}

static const char *
attr_name(int nid)
{
	const char *sn = OBJ_nid2sn(nid);

	return sn != NULL ? sn : "attribute";
}

/* One entry: UTF-8 (any string type), no controls, not empty, bounded. */
static int
check_entry(const X509_NAME_ENTRY *e, struct mtls_err *err)
{
	int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	long chars;
	int rc = -1;

	if (n < 0) {
		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_POLICY, "subject %s is not a valid "
		    "string (RFC 5280 4.1.2.6: DirectoryString)", attr_name(nid));
	}
	chars = utf8_chars(utf8, n);
	if (chars < 0) {
		mtls_err_set(err, MTLS_E_POLICY, "subject %s contains a control "
		    "character or NUL (RFC 5280 4.1.2.6 and 7.1: names are "
		    "compared and shown as text)", attr_name(nid));
	} else if (chars == 0) {
		mtls_err_set(err, MTLS_E_POLICY, "subject %s is empty (RFC 5280 "
		    "4.1.2.4: attribute values are not empty)", attr_name(nid));
	} else if (chars > upper_bound(nid)) {
		mtls_err_set(err, MTLS_E_POLICY, "subject %s has %ld characters, "
		    "more than the %d RFC 5280 Appendix A allows", attr_name(nid),
		    chars, upper_bound(nid));
	} else {
		rc = 0;
	}
	OPENSSL_free(utf8);
	return rc;
}

int
mtls_name_check(const X509_NAME *name, int have_sans, struct mtls_err *err)
{
	int i, n = X509_NAME_entry_count(name);

	if (n == 0 && !have_sans) {
		return mtls_err_set(err, MTLS_E_POLICY, "the subject is empty and "
		    "there are no subject alternative names: the certificate "
		    "would name no one (RFC 5280 4.1.2.6 and 4.2.1.6)");
	}
	for (i = 0; i < n; i++) {
		if (check_entry(X509_NAME_get_entry(name, i), err) != 0) {
			return -1;
		}
	}
	return 0;
}

/* Splits off the next "TYPE=glob" of PAT at ',' ("\," is a comma in the
 * value); returns the rest, or NULL at the end. */
static const char *
pattern_next(const char *p, char *out, size_t outlen)
{
	size_t n = 0;

	while (*p == ' ') {
		p++;
	}
	if (*p == '\0') {
		return NULL;
	}
	while (*p != '\0' && *p != ',') {
		if (*p == '\\' && p[1] == ',') {
			p++;
		}
		if (n + 1 < outlen) {
			out[n++] = *p;
		}
		p++;
	}
	while (n > 0 && out[n - 1] == ' ') {
		n--;
	}
	out[n] = '\0';
	return *p == ',' ? p + 1 : p;
}

static int
attr_nid(const char *type)
{
	int nid = OBJ_txt2nid(type);
	char up[64];
	size_t i;

	if (nid != NID_undef || strlen(type) >= sizeof(up)) {
		return nid;
	}
	/* "cn", "o", "ou": short names are upper case in OpenSSL's table. */
	for (i = 0; type[i] != '\0'; i++) {
		up[i] = (char)toupper((unsigned char)type[i]);
	}
	up[i] = '\0';
	nid = OBJ_txt2nid(up);
	return nid != NID_undef ? nid : OBJ_ln2nid(type);
}

/* Does entry E (its type and its whole value) match "TYPE=glob" in RDN? */
static int
rdn_matches(const X509_NAME_ENTRY *e, const char *rdn, const char *pat,
    struct mtls_err *err)
{
	const char *eq = strchr(rdn, '=');
	char type[64];
	unsigned char *utf8 = NULL;
	size_t tlen;
	int nid, n, ok;

	if (eq == NULL || eq == rdn || (size_t)(eq - rdn) >= sizeof(type)) {
		return mtls_err_set(err, MTLS_E_USAGE, "bad subject pattern '%s': "
		    "'%s' is not TYPE=pattern (e.g. 'CN=*.partner.example,O=Partner')",
		    pat, rdn);
	}
	tlen = (size_t)(eq - rdn);
	while (tlen > 0 && rdn[tlen - 1] == ' ') {
		tlen--;
	}
	memcpy(type, rdn, tlen);
	type[tlen] = '\0';
	nid = attr_nid(type);
	if (nid == NID_undef) {
		return mtls_err_set(err, MTLS_E_USAGE, "bad subject pattern '%s': "
		    "unknown attribute '%s' (use CN, O, OU, L, ST, C, emailAddress...)",
		    pat, type);
	}
	if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != nid) {
		return 0;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (n < 0) {
		ERR_clear_error();
		return 0;
	}
	/* A NUL inside the value would end it early for fnmatch: no match. */
	eq++;
	while (*eq == ' ') {
		eq++;
	}
	ok = (int)strlen((char *)utf8) == n && utf8_chars(utf8, n) >= 0 &&
	    fnmatch(eq, (char *)utf8, 0) == 0;
	OPENSSL_free(utf8);
	return ok;
}

int
mtls_name_pattern_check(const char *pattern, struct mtls_err *err)
{
	char rdn[1024], type[64];
	const char *p = pattern, *eq;
	size_t tlen;
	int n = 0;

	while (p != NULL && (p = pattern_next(p, rdn, sizeof(rdn))) != NULL) {
		eq = strchr(rdn, '=');
		tlen = eq != NULL ? (size_t)(eq - rdn) : 0;
		while (tlen > 0 && rdn[tlen - 1] == ' ') {
			tlen--;
		}
		if (tlen == 0 || tlen >= sizeof(type)) {
			return mtls_err_set(err, MTLS_E_USAGE, "bad subject pattern "
			    "'%s': '%s' is not TYPE=pattern", pattern, rdn);
		}
		memcpy(type, rdn, tlen);
		type[tlen] = '\0';
		if (attr_nid(type) == NID_undef) {
			return mtls_err_set(err, MTLS_E_USAGE, "bad subject pattern "
			    "'%s': unknown attribute '%s' (use CN, O, OU, L, ST, C, "
			    "emailAddress...)", pattern, type);
		}
		n++;
	}
	if (n == 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "empty subject pattern");
	}
	return 0;
}

int
mtls_name_match(const X509_NAME *name, const char *pattern,
    struct mtls_err *err)
{
	char rdn[1024];
	const char *p = pattern;
	int i = 0, n = X509_NAME_entry_count(name), r;

	if (pattern == NULL || *pattern == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "empty subject pattern");
	}
	/* One pattern RDN per name RDN, in order; a multi-valued RDN (a SET
	 * of several attributes) never matches, so nothing hides in one. */
	while ((p = pattern_next(p, rdn, sizeof(rdn))) != NULL) {
		const X509_NAME_ENTRY *e;

		if (i >= n) {
			return 0;
		}
		e = X509_NAME_get_entry(name, i);
		if (X509_NAME_ENTRY_set(e) != i) {
			return 0;
		}
		r = rdn_matches(e, rdn, pattern, err);
		if (r <= 0) {
			return r;
		}
		i++;
	}
	if (i == 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "empty subject pattern");
	}
	return i == n;
}

char *
mtls_san_text(const GENERAL_NAME *g)
{
	GENERAL_NAMES *one = sk_GENERAL_NAME_new_null();
	char *s;

	if (one == NULL) {
		return NULL;
	}
	if (sk_GENERAL_NAME_push(one, (GENERAL_NAME *)g) <= 0) {
		sk_GENERAL_NAME_free(one);
		return NULL;
	}
	s = mtls_san_format(one);
	sk_GENERAL_NAME_free(one);
	return s;
}

int
mtls_san_allowed(const char *text, const char *allow)
{
	char *copy, *save = NULL, *pat;
	int ok = 0;

	if (text == NULL || allow == NULL) {
		return 0;
	}
	copy = strdup(allow);
	if (copy == NULL) {
		return 0;
	}
	for (pat = strtok_r(copy, ",", &save); pat != NULL && !ok;
	     pat = strtok_r(NULL, ",", &save)) {
		while (*pat == ' ') {
			pat++;
		}
		/* A wildcard certificate speaks for every host under it: only a
		 * pattern naming that very wildcard admits it, never a glob's
		 * '*' that happens to match the '*' character. */
		if (strncasecmp(text, "dns:*", 5) == 0) {
			ok = strcasecmp(pat, text) == 0;
		} else {
			ok = fnmatch(pat, text, FNM_CASEFOLD) == 0;
		}
	}
	free(copy);
	return ok;
}

int
mtls_name_attr_match(const X509_NAME *name, int nid, const char *glob)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1), n, ok;
	unsigned char *utf8 = NULL;

	/* Exactly one: with two CNs, which one a rule meant is a guess. */
	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0) {
		return 0;
	}
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0) {
		ERR_clear_error();
		return 0;
	}
	ok = (int)strlen((char *)utf8) == n && utf8_chars(utf8, n) >= 0 &&
	    fnmatch(glob, (char *)utf8, 0) == 0;
	OPENSSL_free(utf8);
	return ok;
}

int
mtls_dns_match(const char *pattern, const char *host)
{
	char pl[64], hl[64];
	size_t pn, hn;

	/* Label by label: '*' never matches a dot, and case is ignored
	 * (RFC 4343), so "*.example.org" is one level, as in RFC 6125. */
	for (;;) {
		pn = strcspn(pattern, ".");
		hn = strcspn(host, ".");
		if (pn >= sizeof(pl) || hn >= sizeof(hl) || hn == 0) {
			return 0;
		}
		memcpy(pl, pattern, pn);
		pl[pn] = '\0';
		memcpy(hl, host, hn);
		hl[hn] = '\0';
		if (fnmatch(pl, hl, FNM_CASEFOLD) != 0) {
			return 0;
		}
		pattern += pn;
		host += hn;
		if (*pattern == '\0' || *host == '\0') {
			return *pattern == '\0' && *host == '\0';
		}
		pattern++;
		host++;
	}
}
