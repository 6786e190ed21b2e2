/* see base/buf.h */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/buf.h"

void
mtls__buf_init_fixed(struct mtls__buf *b, void *storage, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->p = storage;
	b->cap = cap;
	b->fixed = 1;
}

/* Growth by copy, not realloc, for a secret buffer: realloc may leave the
 * old bytes behind in freed memory. */
static unsigned char *
grow(struct mtls__buf *b, size_t cap)
{
	unsigned char *n;

	if (!b->secret) {
		return OPENSSL_realloc(b->p, cap);
	}
	n = OPENSSL_malloc(cap);
	if (n == NULL) {
		return NULL;
	}
	if (b->p != NULL) {
		memcpy(n, b->p, b->len + 1);
		OPENSSL_clear_free(b->p, b->cap);
	}
	return n;
}

int
mtls__buf_reserve(struct mtls__buf *b, size_t more)
{
	/* Growable buffers keep a NUL after the bytes; fixed storage may be a
	 * window into a larger buffer, so nothing is written past len. */
	size_t nul = b->fixed ? 0 : 1;
	unsigned char *n;
	size_t cap;

	if (b->oom) {
		return -1;
	}
	if (more <= b->cap && b->len + nul <= b->cap - more) {
		return 0;
	}
	if (b->fixed || more > ((size_t)-1) / 4 - b->len) {
		b->oom = 1;
		return -1;
	}
	cap = b->cap != 0 ? b->cap : 256;
	while (cap < b->len + more + 1) {
		cap *= 2;
	}
	n = grow(b, cap);
	if (n == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = n;
	b->cap = cap;
	b->p[b->len] = '\0';
	return 0;
}

int
mtls__buf_put(struct mtls__buf *b, const void *d, size_t n)
{
	if (mtls__buf_reserve(b, n) != 0) {
		return -1;
	}
	if (n > 0) {
		memcpy(b->p + b->len, d, n);
	}
	b->len += n;
	if (!b->fixed) {
		b->p[b->len] = '\0';
	}
	return 0;
}

int
mtls__buf_puts(struct mtls__buf *b, const char *s)
{
	return mtls__buf_put(b, s, strlen(s));
}

int
mtls__buf_printf(struct mtls__buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256], *tmp = small;
	int n, rc;

	if (b->oom) {
		return -1;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return -1;
	}
	if (!b->fixed) {
		if (mtls__buf_reserve(b, (size_t)n) != 0) {
			return -1;
		}
		va_start(ap, fmt);
		vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
		b->len += (size_t)n;
		return 0;
	}
	/* Fixed storage: format aside, so vsnprintf's NUL cannot land
	 * past len. */
	if ((size_t)n >= sizeof(small) &&
	    (tmp = OPENSSL_malloc((size_t)n + 1)) == NULL) {
		b->oom = 1;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = mtls__buf_put(b, tmp, (size_t)n);
	if (tmp != small) {
		OPENSSL_clear_free(tmp, (size_t)n + 1);
	} else {
		OPENSSL_cleanse(small, sizeof(small));
	}
	return rc;
}

const char *
mtls__buf_str(const struct mtls__buf *b)
{
	return b->p != NULL && !b->fixed ? (const char *)b->p : "";
}

unsigned char *
mtls__buf_take(struct mtls__buf *b, size_t *len)
{
	unsigned char *p;
	unsigned secret = b->secret;

	if (b->oom || b->fixed || mtls__buf_reserve(b, 0) != 0) {
		return NULL;
	}
	p = b->p;
	if (len != NULL) {
		*len = b->len;
	}
	memset(b, 0, sizeof(*b));
	b->secret = secret;
	return p;
}

void
mtls__buf_free(struct mtls__buf *b)
{
	unsigned secret;

	if (b == NULL) {
		return;
	}
	secret = b->secret;
	if (b->fixed) {
		if (secret && b->p != NULL) {
			OPENSSL_cleanse(b->p, b->cap);
		}
	} else if (secret) {
		OPENSSL_clear_free(b->p, b->cap);
	} else {
		OPENSSL_free(b->p);
	}
	memset(b, 0, sizeof(*b));
	b->secret = secret;
}
