/* Layer base: name overrides in curl's --resolve form ("HOST:PORT:ADDR"),
 * so a client can reach a named server at another address while still
 * checking the certificate against the name (tests, staged moves). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/internal.h"
#include "mtls/err.h"

/* Splits one entry into its three parts; ADDR loses IPv6 brackets. */
static int
split_entry(const char *e, size_t n, char *host, size_t hl, char *port,
    size_t pl, char *addr, size_t al)
{
	const char *c1 = memchr(e, ':', n), *c2;
	size_t rest;

	if (c1 == NULL || c1 == e) {
		return -1;
	}
	c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - e));
	if (c2 == NULL || c2 == c1 + 1 || c2 + 1 >= e + n) {
		return -1;
	}
	rest = n - (size_t)(c2 + 1 - e);
	if ((size_t)(c1 - e) >= hl || (size_t)(c2 - c1 - 1) >= pl || rest >= al) {
		return -1;
	}
	memcpy(host, e, (size_t)(c1 - e));
	host[c1 - e] = '\0';
	memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
	port[c2 - c1 - 1] = '\0';
	if (rest >= 2 && c2[1] == '[' && c2[rest] == ']') {
		memcpy(addr, c2 + 2, rest - 2);
		addr[rest - 2] = '\0';
	} else {
		memcpy(addr, c2 + 1, rest);
		addr[rest] = '\0';
	}
	return strspn(port, "0123456789") == strlen(port) ? 0 : -1;
}

int
mtls__resolve_find(const char *list, const char *host, const char *port,
    char *addr, size_t len, struct mtls_err *err)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ", \t\n");
		char h[256], po[8], a[64];

		if (n > 0) {
			if (split_entry(p, n, h, sizeof(h), po, sizeof(po), a,
				sizeof(a)) != 0) {
				return mtls_err_set(err, MTLS_E_USAGE,
				    "bad resolve entry '%.*s': use HOST:PORT:ADDR "
				    "(e.g. publish.example:8443:127.0.0.1)",
				    (int)n, p);
			}
			if (strcasecmp(h, host) == 0 && strcmp(po, port) == 0) {
				if (strlen(a) >= len) {
					return mtls_err_set(err, MTLS_E_USAGE,
					    "resolve address '%s' is too long", a);
				}
				memcpy(addr, a, strlen(a) + 1);
				return 1;
			}
		}
		p += n;
		p += strspn(p, ", \t\n");
	}
	return 0;
}

int
mtls__resolve_check(const char *list, struct mtls_err *err)
{
	char addr[64];

	return mtls__resolve_find(list, "", "", addr, sizeof(addr), err) < 0
	    ? -1
	    : 0;
}

int
mtls__is_ip_literal(const char *h)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

int
mtls__dns_server_check(const char *s, char *out, size_t len,
    struct mtls_err *err)
{
	char addr[64], canon[INET6_ADDRSTRLEN];
	unsigned char b[16];
	const char *port = NULL, *close;
	size_t n;
	long p = 53;
	char *end;
	int v6;

	if (s[0] == '[') {
		close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			goto bad;
		}
		n = (size_t)(close - s - 1);
		port = close[1] == ':' ? close + 2 : NULL;
		s++;
	} else if (strchr(s, ':') != NULL && strchr(s, ':') == strrchr(s, ':')) {
		n = (size_t)(strchr(s, ':') - s);       /* v4:port */
		port = s + n + 1;
	} else {
		n = strlen(s);                          /* v4, or a bare v6 */
	}
	if (n == 0 || n >= sizeof(addr)) {
		goto bad;
	}
	memcpy(addr, s, n);
	addr[n] = '\0';
	v6 = inet_pton(AF_INET6, addr, b) == 1;
	if (!v6 && inet_pton(AF_INET, addr, b) != 1) {
		goto bad;
	}
	if (port != NULL) {
		p = strtol(port, &end, 10);
		if (*port < '0' || *port > '9' || *end != '\0' || p < 1 || p > 65535) {
			goto bad;
		}
	}
	if (inet_ntop(v6 ? AF_INET6 : AF_INET, b, canon, sizeof(canon)) == NULL) {
		goto bad;
	}
	if (out != NULL) {
		snprintf(out, len, v6 ? "[%s]:%ld" : "%s:%ld", canon, p);
	}
	return 0;
bad:
	return mtls_err_set(err, MTLS_E_USAGE, "'%.100s' is not a DNS server: "
	    "write an IP address, ADDR:PORT or [IPv6]:PORT", s);
}
