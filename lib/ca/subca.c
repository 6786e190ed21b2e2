/* see ca/ca_internal.h: the sub-CA profile - basicConstraints with a path
 * length and name constraints (RFC 5280 4.2.1.9, 4.2.1.10) for an
 * intermediate, and the check that a certificate stays inside its issuer's
 * constraints. A leaf of ca/: sign.c and intermediate.c call it. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "base/internal.h"

/* A DNS constraint: a domain ("example.com": it and every name below)
 * or ".example.com" (only names below); letters, digits, '-' and '.'
 * between non-empty labels, no wildcard (RFC 5280 4.2.1.10). */
static int
dns_base_ok(const char *s)
{
	const char *p = *s == '.' ? s + 1 : s;
	size_t label = 0;

	if (*p == '\0' || strlen(s) > 253) {
		return 0;
	}
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0) {
				return 0;
			}
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-') {
			if (++label > 63) {
				return 0;
			}
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* "10.0.0.0/8" or "fd00::/8": address and mask, 8 or 32 bytes. */
static int
ip_subtree(const char *s, unsigned char *out, int *len)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	char *end;
	long bits;
	int n, i;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr)) {
		return -1;
	}
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, out) == 1) {
		n = 4;
	} else if (inet_pton(AF_INET6, addr, out) == 1) {
		n = 16;
	} else {
		return -1;
	}
	bits = strtol(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > n * 8) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		long b = bits - i * 8;
		unsigned char m = b >= 8 ? 0xff : b <= 0 ? 0 : (unsigned char)(0xff << (8 - b));

		out[n + i] = m;
		if ((out[i] & ~m) != 0) {
			return -1; /* host bits set: "10.0.0.1/8" is a typo */
		}
	}
	*len = 2 * n;
	return 0;
}

static GENERAL_NAME *
subtree_name(const char *item, struct mtls_err *err)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	unsigned char buf[32];
	int type = -1, len = 0;
	const char *v = strchr(item, ':');

	if (g == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	v = v != NULL ? v + 1 : "";
	if (strncmp(item, "dns:", 4) == 0 && dns_base_ok(v)) {
		type = GEN_DNS;
	} else if (strncmp(item, "email:", 6) == 0 &&
	    (dns_base_ok(v) || (strchr(v, '@') != NULL && dns_base_ok(strchr(v, '@') + 1)))) {
		type = GEN_EMAIL;
	} else if (strncmp(item, "uri:", 4) == 0 && dns_base_ok(v)) {
		type = GEN_URI;
	} else if (strncmp(item, "ip:", 3) == 0 && ip_subtree(v, buf, &len) == 0) {
		type = GEN_IPADD;
	}
	if (type < 0) {
		GENERAL_NAME_free(g);
		mtls_err_set(err, MTLS_E_USAGE, "bad name constraint '%s': use "
		    "dns:example.com, dns:.example.com, ip:10.0.0.0/8, "
		    "email:example.com or uri:.example.com", item);
		return NULL;
	}
	if (type == GEN_IPADD) {
		ip = ASN1_OCTET_STRING_new();
		if (ip == NULL || ASN1_OCTET_STRING_set(ip, buf, len) != 1) {
			goto oom;
		}
		GENERAL_NAME_set0_value(g, type, ip);
		return g;
	}
	ia5 = ASN1_IA5STRING_new();
	if (ia5 == NULL || ASN1_STRING_set(ia5, v, (int)strlen(v)) != 1) {
		goto oom;
	}
	GENERAL_NAME_set0_value(g, type, ia5);
	return g;
oom:
	ASN1_OCTET_STRING_free(ip);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	return NULL;
}

/* Appends each item of the comma-separated LIST to *TREES. */
static int
subtrees_add(STACK_OF(GENERAL_SUBTREE) **trees, const char *list,
    struct mtls_err *err)
{
	char *copy, *item, *save = NULL;
	int rc = 0;

	if (list == NULL || *list == '\0') {
		return 0;
	}
	copy = strdup(list);
	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (*trees == NULL && (*trees = sk_GENERAL_SUBTREE_new_null()) == NULL) {
		free(copy);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		GENERAL_SUBTREE *t = GENERAL_SUBTREE_new();

		if (t == NULL) {
			rc = mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			break;
		}
		GENERAL_NAME_free(t->base);
		t->base = subtree_name(item, err);
		if (t->base == NULL || sk_GENERAL_SUBTREE_push(*trees, t) <= 0) {
			GENERAL_SUBTREE_free(t);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

static int
add_name_constraints(X509 *x, const struct mtls_subca_opts *o,
    struct mtls_err *err)
{
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
	int rc = -1;

	if (nc == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (subtrees_add(&nc->permittedSubtrees, o->permit, err) != 0 ||
	    subtrees_add(&nc->excludedSubtrees, o->exclude, err) != 0) {
		goto out;
	}
	rc = 0;
	/* Critical, as RFC 5280 4.2.1.10 requires: a verifier that cannot
	 * enforce the constraints must refuse the chain, not ignore them. */
	if (nc->permittedSubtrees != NULL || nc->excludedSubtrees != NULL) {
		rc = mtls__add_ext(x, NID_name_constraints, 1, nc, err);
	}
out:
	NAME_CONSTRAINTS_free(nc);
	return rc;
}

int
mtls__subca_exts(X509 *x, const struct mtls_subca_opts *o, struct mtls_err *err)
{
	if (mtls__add_ca_exts(x, o->path_len, err) != 0) {
		return -1;
	}
	if (o->same_as != NULL) {
		int i = X509_get_ext_by_NID(o->same_as, NID_name_constraints, -1);

		if (i >= 0 && X509_add_ext(x, X509_get_ext(o->same_as, i), -1) != 1) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot copy the "
			    "name constraints");
		}
		return 0;
	}
	return add_name_constraints(x, o, err);
}

int
mtls__subca_check_names(X509 *cacert, X509 *x, struct mtls_err *err)
{
	NAME_CONSTRAINTS *nc;
	GENERAL_NAMES *gens;
	X509 *copy;
	int crit = 0, r;
	char *sans;

	nc = X509_get_ext_d2i(cacert, NID_name_constraints, &crit, NULL);
	if (nc == NULL) {
		ERR_clear_error();
		return 0;
	}
	/* OpenSSL caches a certificate's names when it first looks at its
	 * extensions, which may be before the SANs were added: judge a fresh
	 * decoding of the signed certificate. */
	copy = X509_dup(x);
	/* X509_check_purpose(-1) fills the cache NAME_CONSTRAINTS_check reads. */
	if (copy == NULL || X509_check_purpose(copy, -1, 0) != 1) {
		X509_free(copy);
		NAME_CONSTRAINTS_free(nc);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	r = NAME_CONSTRAINTS_check(copy, nc);
	if (r == X509_V_OK) {
		r = NAME_CONSTRAINTS_check_CN(copy, nc);
	}
	X509_free(copy);
	NAME_CONSTRAINTS_free(nc);
	if (r == X509_V_OK) {
		return 0;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	sans = mtls_san_format(gens);
	GENERAL_NAMES_free(gens);
	mtls_err_set(err, MTLS_E_POLICY,
	    "this CA may not certify %s: %s (its name constraints: 'mtls inspect "
	    "ca.crt'); ask for names inside them or use another CA",
	    sans != NULL && *sans != '\0' ? sans : "this subject",
	    X509_verify_cert_error_string(r));
	free(sans);
	return -1;
}
