/* UTF-8 validation (RFC 3629): one rule for every caller that must tell
 * text from bytes (the receiver's Path header, its log lines). */
#include <string.h>

#include "mtls/err.h"
#include "base/internal.h"

size_t
mtls__utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (n == 0) {
		return 0;
	}
	if (p[0] < 0x80) {
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3, cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, cp = p[0] & 0x07u;
	} else {
		return 0; /* continuation byte, overlong lead (C0, C1), F5..FF */
	}
	if (n < len) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF
	 * are not UTF-8 (RFC 3629 section 3). */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		return 0;
	}
	return len;
}

int
mtls__utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;

	while (i < n) {
		l = mtls__utf8_len(p + i, n - i);
		if (l == 0) {
			return 0;
		}
		i += l;
	}
	return 1;
}

/* see mtls/err.h */
const char *
mtls_escape(const char *s, int flags, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t o = 0, n = strlen((const char *)p), i = 0, l, need;
	enum { KEEP, BACKSLASH, HEX } how;

	if (len == 0) {
		return "";
	}
	while (i < n) {
		l = mtls__utf8_len(p + i, n - i);
		/* One character at a time, as is or as \xNN (4 bytes). */
		if (l == 1 && ((p[i] == '\\' && (flags & MTLS_ESC_TEXT) == 0) ||
				  (p[i] == '"' && (flags & MTLS_ESC_FIELD) != 0))) {
			how = BACKSLASH, need = 2;
		} else if (l == 1 && p[i] >= 0x20 && p[i] != 0x7f &&
		    !(p[i] == ' ' && (flags & MTLS_ESC_FIELD) != 0)) {
			how = KEEP, need = 1;
		} else if (l > 1 && !(p[i] == 0xc2 && p[i + 1] <= 0x9f)) {
			how = KEEP, need = l;
		} else {
			how = HEX, need = 4;
		}
		if (o + need + 4 > len) {
			/* Cut at a character boundary and say so. */
			if (o + 4 <= len) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (how == BACKSLASH) {
			out[o++] = '\\';
			out[o++] = (char)p[i++];
		} else if (how == HEX) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 15];
			i++;
		} else {
			memcpy(out + o, p + i, need);
			o += need;
			i += need;
		}
	}
	out[o] = '\0';
	return out;
}
