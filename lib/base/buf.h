/* One growable byte buffer for the whole library (DER being built, keystore
 * files, snippets and READMEs). Private to libmtls. */
#ifndef MTLS_BASE_BUF_H
#define MTLS_BASE_BUF_H

#include <stddef.h>

#include "mtls/err.h"

/*
 * Start from MTLS__BUF_INIT (or MTLS__BUF_SECRET for bytes that may hold a
 * key or a password). A failed growth sets oom; from then on every write
 * does nothing and returns -1, so a writer may append many pieces and check
 * once at the end. A growable buffer's bytes are always followed by a NUL
 * that len does not count (text can be used as a C string). Fixed storage
 * gets bytes only, never a NUL past len: it may be a window into a larger
 * buffer (a DER header written in place).
 */
struct mtls__buf {
	unsigned char *p;
	size_t len, cap;
	unsigned fixed : 1;  /* p is caller storage: never reallocated */
	unsigned secret : 1; /* wiped on every move and when freed */
	unsigned oom : 1;    /* a write failed: later writes do nothing */
};

#define MTLS__BUF_INIT {NULL, 0, 0, 0, 0, 0}
#define MTLS__BUF_SECRET {NULL, 0, 0, 0, 1, 0}

/* Writes into STORAGE (CAP bytes) and never grows: a write that does not
 * fit fails (oom). */
void mtls__buf_init_fixed(struct mtls__buf *b, void *storage, size_t cap);

/* Makes room for MORE bytes after len (plus the NUL). 0 or -1 (oom). */
int mtls__buf_reserve(struct mtls__buf *b, size_t more);
/* Appends N bytes of D. 0 or -1 (oom). */
int mtls__buf_put(struct mtls__buf *b, const void *d, size_t n);
/* Appends the NUL-terminated S (without its NUL). */
int mtls__buf_puts(struct mtls__buf *b, const char *s);
int mtls__buf_printf(struct mtls__buf *b, const char *fmt, ...)
    MTLS_PRINTF(2, 3);

/* The text so far ("" when nothing was written, and for fixed storage,
 * which holds no NUL). */
const char *mtls__buf_str(const struct mtls__buf *b);

/* Hands the bytes to the caller (OPENSSL_malloc'd; free with OPENSSL_free,
 * or OPENSSL_clear_free for a secret buffer) and empties B. NULL on oom or
 * for fixed storage (B then keeps its bytes: free it); an empty buffer gives
 * an allocated "". */
unsigned char *mtls__buf_take(struct mtls__buf *b, size_t *len);

/* Frees the bytes (wiping a secret buffer) and resets B to empty; NULL-safe.
 * Fixed storage is wiped when secret, never freed. */
void mtls__buf_free(struct mtls__buf *b);

#endif
