/* see mtls/pki.h: distinguished names and subject alternative names */
#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "base/internal.h"

#define DN_MAX 4096

/* Splits off the next "TYPE=value" of DN at SEP, unescaping "\SEP". */
static const char *
dn_next(const char *p, char sep, char *out, size_t outlen)
{
	size_t n = 0;

	while (*p != '\0' && *p != sep) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
		}
		if (n + 1 < outlen) {
			out[n++] = *p;
		}
		p++;
	}
	out[n] = '\0';
	return *p == sep ? p + 1 : p;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s)) {
		s++;
	}
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1])) {
		*--e = '\0';
	}
	return s;
}

static int
dn_add_rdn(X509_NAME *name, char *rdn, const char *dn, struct mtls_err *err)
{
	char *eq = strchr(rdn, '='), *type, *value;

	if (eq == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "bad name '%s': '%s' is not TYPE=value (e.g. CN=app,O=Example)",
		    dn, rdn);
	}
	*eq = '\0';
	type = trim(rdn);
	value = trim(eq + 1);
	if (*value == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "bad name '%s': %s has an empty value", dn, type);
	}
	if (X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
		(const unsigned char *)value, -1, -1, 0) != 1) {
		ERR_clear_error();
		return mtls_err_set(err, MTLS_E_USAGE,
		    "bad name '%s': unknown attribute '%s' or bad value (use CN, "
		    "O, OU, L, ST, C, emailAddress...)",
		    dn, type);
	}
	return 0;
}

X509_NAME *
mtls_name_parse(const char *dn, struct mtls_err *err)
{
	X509_NAME *name = NULL;
	char rdn[DN_MAX];
	char sep = ',';
	const char *p = dn;

	if (dn == NULL || strlen(dn) >= DN_MAX) {
		mtls_err_set(err, MTLS_E_USAGE, "bad name: empty or too long");
		return NULL;
	}
	if (*p == '/') {
		sep = '/';
		p++;
	}
	name = X509_NAME_new();
	if (name == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	while (*p != '\0') {
		p = dn_next(p, sep, rdn, sizeof(rdn));
		if (*trim(rdn) == '\0') {
			continue;
		}
		if (dn_add_rdn(name, rdn, dn, err) != 0) {
			X509_NAME_free(name);
			return NULL;
		}
	}
	if (X509_NAME_entry_count(name) == 0) {
		X509_NAME_free(name);
		mtls_err_set(err, MTLS_E_USAGE,
		    "bad name '%s': expected e.g. \"CN=app,O=Example\"", dn);
		return NULL;
	}
	return name;
}

char *
mtls_name_format(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;
	long n;
	char *data;

	if (b == NULL) {
		return NULL;
	}
	/* RFC 2253-like order as written, UTF-8 kept readable. */
	if (X509_NAME_print_ex(b, name, 0,
		(XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) |
		    ASN1_STRFLGS_UTF8_CONVERT) >= 0) {
		n = BIO_get_mem_data(b, &data);
		out = OPENSSL_malloc(n > 0 ? (size_t)n + 1 : 1);
		/* An empty name leaves DATA NULL: memcpy from NULL is UB. */
		if (out != NULL && n > 0) {
			memcpy(out, data, (size_t)n);
		}
		if (out != NULL) {
			out[n > 0 ? n : 0] = '\0';
		}
	}
	BIO_free(b);
	return out;
}

char *
mtls_name_cn(const X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *out;
	int n;

	if (i < 0) {
		return NULL;
	}
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0) {
		return NULL;
	}
	out = OPENSSL_strndup((char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return out;
}

/* RFC 1035/1123 host name, optionally with one leading "*." label. */
static int
dns_name_ok(const char *s, size_t len)
{
	size_t label = 0, i = 0;

	if (len == 0 || len > 253) {
		return 0;
	}
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		i = 2;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				return 0;
			}
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-') || (c == '-' && label == 0)) {
			return 0;
		}
		if (++label > 63) {
			return 0;
		}
	}
	return label > 0 && s[len - 1] != '-';
}

static int
email_ok(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);

	return at != NULL && at != s && dns_name_ok(at + 1, len - (size_t)(at + 1 - s)) &&
	    memchr(at + 1, '@', len - (size_t)(at + 1 - s)) == NULL;
}

static int
uri_ok(const char *s, size_t len)
{
	size_t i;

	/* RFC 3986 scheme ":" then something; no spaces or controls. */
	if (len == 0 || !isalpha((unsigned char)s[0])) {
		return 0;
	}
	for (i = 0; i < len && s[i] != ':'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '+' || c == '-' || c == '.')) {
			return 0;
		}
	}
	if (i == len || i + 1 == len) {
		return 0;
	}
	for (; i < len; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) {
			return 0;
		}
	}
	return 1;
}

static int
ia5_ok(const ASN1_STRING *s, int (*check)(const char *, size_t))
{
	const char *d = (const char *)ASN1_STRING_get0_data(s);
	size_t n = (size_t)ASN1_STRING_length(s);

	return memchr(d, '\0', n) == NULL && check(d, n);
}

int
mtls_san_check(const GENERAL_NAME *gen, struct mtls_err *err)
{
	int len;

	switch (gen->type) {
	case GEN_DNS:
		if (!ia5_ok(gen->d.dNSName, dns_name_ok)) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "malformed DNS name in the subject alternative names");
		}
		return 0;
	case GEN_EMAIL:
		if (!ia5_ok(gen->d.rfc822Name, email_ok)) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "malformed email address in the subject alternative "
			    "names");
		}
		return 0;
	case GEN_URI:
		if (!ia5_ok(gen->d.uniformResourceIdentifier, uri_ok)) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "malformed URI in the subject alternative names");
		}
		return 0;
	case GEN_IPADD:
		len = ASN1_STRING_length(gen->d.iPAddress);
		if (len != 4 && len != 16) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "malformed IP address in the subject alternative "
			    "names");
		}
		return 0;
	default:
		return mtls_err_set(err, MTLS_E_POLICY,
		    "unsupported subject alternative name type %d (allowed: "
		    "dns, ip, uri, email)",
		    gen->type);
	}
}

static GENERAL_NAME *
san_make(const char *item, struct mtls_err *err)
{
	static const struct {
		const char *prefix;
		int type;
	} kinds[] = {{"dns:", GEN_DNS}, {"ip:", GEN_IPADD}, {"uri:", GEN_URI},
	    {"email:", GEN_EMAIL}};
	GENERAL_NAME *gen = NULL;
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(kinds); i++) {
		size_t pl = strlen(kinds[i].prefix);

		if (strncasecmp(item, kinds[i].prefix, pl) != 0) {
			continue;
		}
		gen = a2i_GENERAL_NAME(NULL, NULL, NULL, kinds[i].type,
		    item + pl, 0);
		if (gen == NULL) {
			ERR_clear_error();
			mtls_err_set(err, MTLS_E_USAGE,
			    "bad SAN '%s': not a valid %.*s value", item,
			    (int)pl - 1, kinds[i].prefix);
			return NULL;
		}
		if (mtls_san_check(gen, err) != 0) {
			GENERAL_NAME_free(gen);
			mtls_err_set(err, MTLS_E_USAGE,
			    "bad SAN '%s': not a valid %.*s value", item,
			    (int)pl - 1, kinds[i].prefix);
			return NULL;
		}
		return gen;
	}
	mtls_err_set(err, MTLS_E_USAGE,
	    "bad SAN '%s': start it with dns:, ip:, uri: or email:", item);
	return NULL;
}

int
mtls_san_add(GENERAL_NAMES *gens, const char *list, struct mtls_err *err)
{
	char *copy = strdup(list), *save = NULL, *item;
	int rc = 0;

	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		GENERAL_NAME *gen;

		item = trim(item);
		if (*item == '\0') {
			continue;
		}
		gen = san_make(item, err);
		if (gen == NULL || sk_GENERAL_NAME_push(gens, gen) <= 0) {
			GENERAL_NAME_free(gen);
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

static int
san_append(char **buf, size_t *len, size_t *cap, const char *kind,
    const char *val)
{
	size_t need = strlen(kind) + strlen(val) + 2;

	if (*len + need + 1 > *cap) {
		size_t ncap = (*cap + need) * 2;
		char *nb = realloc(*buf, ncap);

		if (nb == NULL) {
			return -1;
		}
		*buf = nb;
		*cap = ncap;
	}
	*len += (size_t)snprintf(*buf + *len, *cap - *len, "%s%s%s",
	    *len ? "," : "", kind, val);
	return 0;
}

static void
ip_to_text(const ASN1_OCTET_STRING *ip, char *out, size_t len)
{
	const unsigned char *d = ASN1_STRING_get0_data(ip);
	int n = ASN1_STRING_length(ip);

	if ((n != 4 && n != 16) ||
	    inet_ntop(n == 4 ? AF_INET : AF_INET6, d, out, (socklen_t)len) ==
		NULL) {
		snprintf(out, len, "?");
	}
}

char *
mtls_san_format(const GENERAL_NAMES *gens)
{
	char *buf = calloc(1, 64), ipbuf[64];
	size_t len = 0, cap = 64;
	int i;

	if (buf == NULL) {
		return NULL;
	}
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int rc = 0;

		switch (g->type) {
		case GEN_DNS:
			rc = san_append(&buf, &len, &cap, "dns:",
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			break;
		case GEN_EMAIL:
			rc = san_append(&buf, &len, &cap, "email:",
			    (const char *)ASN1_STRING_get0_data(g->d.rfc822Name));
			break;
		case GEN_URI:
			rc = san_append(&buf, &len, &cap, "uri:",
			    (const char *)ASN1_STRING_get0_data(
				g->d.uniformResourceIdentifier));
			break;
		case GEN_IPADD:
			ip_to_text(g->d.iPAddress, ipbuf, sizeof(ipbuf));
			rc = san_append(&buf, &len, &cap, "ip:", ipbuf);
			break;
		default:
			rc = san_append(&buf, &len, &cap, "other:", "?");
			break;
		}
		if (rc != 0) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}
