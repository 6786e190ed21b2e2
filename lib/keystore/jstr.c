/* Java strings: modified UTF-8 (DataOutputStream.writeUTF) and the
 * UTF-16BE form passwords are hashed in. See store_int.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "mtls/store.h"
#include "base/internal.h"
#include "keystore/store_int.h"

/* ---- strings ----------------------------------------------------------- */

static size_t
put_utf8(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* One 3-byte modified-UTF-8 unit at S (N bytes left), or -1. */
static long
mutf8_unit3(const unsigned char *s, size_t n)
{
	if (n < 3 || (s[0] & 0xF0) != 0xE0 || (s[1] & 0xC0) != 0x80 ||
	    (s[2] & 0xC0) != 0x80) {
		return -1;
	}
	return (long)((s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F));
}

/* Java's writeUTF bytes to UTF-8: surrogate pairs (CESU-8) become one
 * 4-byte sequence; U+0000 stays C0 80 so the result is a C string. */
char *
mtls__mutf8_decode(const unsigned char *s, size_t n)
{
	unsigned char *o = OPENSSL_malloc(n + 1);
	size_t i = 0, k = 0;

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		unsigned char b = s[i];

		if (b < 0x80) {
			if (b == 0) {
				goto bad; /* writeUTF never writes a raw NUL */
			}
			o[k++] = b;
			i++;
		} else if ((b & 0xE0) == 0xC0) {
			uint32_t cp;

			if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80) {
				goto bad;
			}
			cp = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
			if (cp == 0) {
				o[k++] = 0xC0;
				o[k++] = 0x80;
			} else {
				k += put_utf8(o + k, cp);
			}
			i += 2;
		} else {
			long u = mutf8_unit3(s + i, n - i);
			long l;

			if (u < 0) {
				goto bad;
			}
			if (u >= 0xD800 && u <= 0xDBFF &&
			    (l = mutf8_unit3(s + i + 3, n - i - 3)) >= 0xDC00 &&
			    l <= 0xDFFF) {
				uint32_t cp = 0x10000 +
				    ((uint32_t)(u - 0xD800) << 10) +
				    (uint32_t)(l - 0xDC00);

				k += put_utf8(o + k, cp);
				i += 6;
			} else {
				k += put_utf8(o + k, (uint32_t)u);
				i += 3;
			}
		}
	}
	o[k] = '\0';
	return (char *)o;
bad:
	OPENSSL_free(o);
	return NULL;
}

/* UTF-8 (as held in an entry) to modified UTF-8; *LEN set. The alias was
 * validated when added, so every sequence is well formed. */
unsigned char *
mtls__mutf8_encode(const char *str, size_t *len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, k = 0;
	unsigned char *o = OPENSSL_malloc(2 * n + 1);

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		if (s[i] >= 0xF0 && n - i >= 4) {
			uint32_t cp = (uint32_t)(s[i] & 0x07) << 18 |
			    (uint32_t)(s[i + 1] & 0x3F) << 12 |
			    (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);

			cp -= 0x10000;
			k += put_utf8(o + k, 0xD800 + (cp >> 10));
			k += put_utf8(o + k, 0xDC00 + (cp & 0x3FF));
			i += 4;
		} else {
			o[k++] = s[i++];
		}
	}
	*len = k;
	return o;
}

unsigned char *
mtls__store_utf16be(const char *pass, size_t *len)
{
	const unsigned char *s = (const unsigned char *)pass;
	size_t n = strlen(pass), i = 0, k = 0;
	unsigned char *o = OPENSSL_malloc(4 * n + 1);

	if (o == NULL) {
		return NULL;
	}
	while (i < n) {
		uint32_t cp = s[i];
		size_t take = 1, j;

		if (cp >= 0xC2 && cp < 0xE0) {
			take = 2;
			cp &= 0x1F;
		} else if (cp >= 0xE0 && cp < 0xF0) {
			take = 3;
			cp &= 0x0F;
		} else if (cp >= 0xF0 && cp < 0xF5) {
			take = 4;
			cp &= 0x07;
		}
		if (take > 1) {
			if (n - i < take) {
				take = 1;
			}
			for (j = 1; j < take; j++) {
				if ((s[i + j] & 0xC0) != 0x80) {
					take = 1;
					break;
				}
				cp = cp << 6 | (s[i + j] & 0x3F);
			}
			if (take == 1) {
				cp = s[i]; /* not UTF-8: Latin-1 */
			}
		}
		i += take;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000, hi = 0xD800 + (v >> 10),
			    lo = 0xDC00 + (v & 0x3FF);

			o[k++] = (unsigned char)(hi >> 8);
			o[k++] = (unsigned char)hi;
			o[k++] = (unsigned char)(lo >> 8);
			o[k++] = (unsigned char)lo;
		} else {
			o[k++] = (unsigned char)(cp >> 8);
			o[k++] = (unsigned char)cp;
		}
	}
	*len = k;
	return o;
}

