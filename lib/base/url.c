/* see mtls/err.h: mtls_url_check, the one syntax check of every URL a
 * user gives (push targets, the EST/ACME CA, CRL and OCSP addresses that
 * go into certificates). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtls/err.h"
#include "base/internal.h"

#define URL_MAX 2048

static int
bad(const char *s, const char *why, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_USAGE, "invalid URL '%s': %s", s, why);
}

/* A DNS name (letters, digits, '-', '.', '_') or an IPv4 literal; a
 * bracketed IPv6 literal is checked by the caller. */
static int
host_ok(const char *h, size_t n)
{
	size_t i;

	if (n == 0 || n > 253) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_') {
			return 0;
		}
	}
	return 1;
}

static int
v6_ok(const char *h, size_t n)
{
	char buf[64];
	unsigned char a[16];

	if (n == 0 || n >= sizeof(buf)) {
		return 0;
	}
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

int
mtls_url_check(const char *s, int flags, struct mtls_err *err)
{
	const char *p, *end, *hend;
	size_t i, n;

	if (s == NULL || *s == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "invalid URL: it is empty");
	}
	n = strlen(s);
	if (n > URL_MAX) {
		return bad(s, "longer than 2048 characters", err);
	}
	/* Certificates carry URIs as IA5String (RFC 5280 4.2.1.6): ASCII,
	 * no spaces or controls - a newline would end up in every one. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f) {
			return bad(s, "it contains spaces, control or non-ASCII "
			    "characters", err);
		}
	}
	if (strncasecmp(s, "https://", 8) == 0) {
		p = s + 8;
	} else if ((flags & MTLS_URL_HTTP) != 0 && strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		return bad(s, (flags & MTLS_URL_HTTP) != 0 ? "it must start with "
		    "http:// or https://" : "it must start with https://", err);
	}
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL) {
		return bad(s, "user names and passwords do not belong in a URL", err);
	}
	if (strchr(s, '#') != NULL) {
		return bad(s, "a fragment (#...) is never sent", err);
	}
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (hend == NULL || !v6_ok(p + 1, (size_t)(hend - p - 1))) {
			return bad(s, "'[...]' must hold an IPv6 address", err);
		}
		hend++;
	} else {
		hend = memchr(p, ':', (size_t)(end - p));
		if (hend == NULL) {
			hend = end;
		}
		if (!host_ok(p, (size_t)(hend - p))) {
			return bad(s, "missing or invalid host name", err);
		}
	}
	if (hend != end) {
		char *pe = NULL;
		long port;

		if (*hend != ':' || !isdigit((unsigned char)hend[1])) {
			return bad(s, "the port must be a number from 1 to 65535", err);
		}
		port = strtol(hend + 1, &pe, 10);
		if (pe != end || port < 1 || port > 65535) {
			return bad(s, "the port must be a number from 1 to 65535", err);
		}
	}
	return 0;
}
