/* see mtls/replicate.h: URLs, actions and the client identity check */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "mtls/replicate.h"
#include "base/internal.h"
#include "base/clock.h"

static int
url_bad(const char *s, const char *why, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_USAGE,
	    "invalid URL '%s': %s (expected https://HOST[:PORT][/PATH])", s,
	    why);
}

static int
host_is_ip(const char *h)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static int
host_ok(const char *h)
{
	size_t i;

	if (*h == '\0') {
		return 0;
	}
	for (i = 0; h[i] != '\0'; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_') {
			return 0;
		}
	}
	return 1;
}

int
mtls_url_parse(const char *s, struct mtls_url *u, struct mtls_err *err)
{
	const char *p, *hend, *pstart;
	size_t i, hl;

	memset(u, 0, sizeof(*u));
	if (mtls_url_check(s, 0, err) != 0) {
		return -1;
	}
	if (strncasecmp(s, "https://", 8) != 0) {
		return url_bad(s, "only https:// is supported", err);
	}
	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) {
			return url_bad(s, "it contains spaces or control characters",
			    err);
		}
	}
	p = s + 8;
	pstart = strchr(p, '/');
	if (pstart == NULL) {
		pstart = p + strlen(p);
	}
	if (memchr(p, '@', (size_t)(pstart - p)) != NULL) {
		return url_bad(s, "user names in URLs are not supported", err);
	}
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(pstart - p));
		if (hend == NULL) {
			return url_bad(s, "unclosed '[' in the host", err);
		}
		hl = (size_t)(hend - p - 1);
		if (hl >= sizeof(u->host)) {
			return url_bad(s, "host too long", err);
		}
		memcpy(u->host, p + 1, hl);
		hend++;
		if (!host_is_ip(u->host) || strchr(u->host, ':') == NULL) {
			return url_bad(s, "'[...]' must hold an IPv6 address", err);
		}
	} else {
		hend = memchr(p, ':', (size_t)(pstart - p));
		if (hend == NULL) {
			hend = pstart;
		}
		hl = (size_t)(hend - p);
		if (hl >= sizeof(u->host)) {
			return url_bad(s, "host too long", err);
		}
		memcpy(u->host, p, hl);
		if (!host_ok(u->host)) {
			return url_bad(s, "missing or invalid host name", err);
		}
	}
	u->host_is_ip = host_is_ip(u->host);
	if (*hend == ':') {
		char *end = NULL;
		long port = strtol(hend + 1, &end, 10);

		if (end == hend + 1 || end != pstart || port < 1 || port > 65535) {
			return url_bad(s, "the port must be a number from 1 to 65535",
			    err);
		}
		snprintf(u->port, sizeof(u->port), "%ld", port);
	} else if (hend != pstart) {
		return url_bad(s, "unexpected text after the host", err);
	} else {
		snprintf(u->port, sizeof(u->port), "443");
	}
	if (strpbrk(pstart, "?#") != NULL) {
		return url_bad(s, "queries and fragments are not supported", err);
	}
	if (*pstart == '\0' || strcmp(pstart, "/") == 0) {
		pstart = MTLS_RECEIVE_PATH;
	}
	if (strlen(pstart) >= sizeof(u->path)) {
		return url_bad(s, "path too long", err);
	}
	snprintf(u->path, sizeof(u->path), "%s", pstart);
	return 0;
}

void
mtls_url_format(const struct mtls_url *u, char *buf, size_t len)
{
	int v6 = strchr(u->host, ':') != NULL;

	snprintf(buf, len, "https://%s%s%s:%s%s", v6 ? "[" : "", u->host,
	    v6 ? "]" : "", u->port, u->path);
}

int
mtls__cert_check_dates(X509 *cert, const char *path, struct mtls_err *err)
{
	char when[64];

	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		mtls__time_format_asn1(X509_get0_notAfter(cert), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		return mtls_err_set(err, MTLS_E_VERIFY,
		    "%s: our certificate expired on %s; renew it before "
		    "connecting", path, when);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		mtls__time_format_asn1(X509_get0_notBefore(cert), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		return mtls_err_set(err, MTLS_E_VERIFY,
		    "%s: our certificate is not valid before %s; check the "
		    "clock", path, when);
	}
	return 0;
}

int
mtls__credentials_check(const struct mtls_credentials *id, struct mtls_err *err)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *cas = NULL;
	int rc = -1;

	if (id->cert == NULL || id->key == NULL || id->ca == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "--cert, --key and --ca are all required");
	}
	cert = mtls_load_cert(id->cert, err);
	if (cert == NULL) {
		goto out;
	}
	key = mtls_load_key(id->key, id->key_pass, err);
	if (key == NULL) {
		goto out;
	}
	if (!mtls_key_matches_cert(key, cert)) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "the key %s does not belong to the certificate %s; give "
		    "the key the certificate was issued for", id->key, id->cert);
		goto out;
	}
	if (mtls__cert_check_dates(cert, id->cert, err) != 0) {
		goto out;
	}
	if (mtls_load_certs(id->ca, &cas, err) != 0) {
		goto out;
	}
	if (sk_X509_num(cas) == 0) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s holds no certificate; give the CA certificate (PEM)",
		    id->ca);
		goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(cas, X509_free);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}
