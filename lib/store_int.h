/* Private to the keystore modules (store.c, jks.c, p12store.c). */
#ifndef MTLS_STORE_INT_H
#define MTLS_STORE_INT_H

#include "mtls/store.h"

struct mtls_store {
	struct mtls_store_entry **e;
	size_t n, cap;
	enum mtls_store_format format;
	int verified;
};

/* Upper bound for counts read from a file before allocating anything. */
#define STORE_MAX_ENTRIES 1000000

struct mtls_store_entry *store_entry_new(enum mtls_entry_type type);
void store_entry_free(struct mtls_store_entry *e);
/* Appends E (taking it); on failure E is freed. */
int store_push(struct mtls_store *s, struct mtls_store_entry *e,
    struct mtls_err *err);

/* The password as Java hashes it: UTF-16BE code units of the UTF-8 input
 * (bytes that are not UTF-8 count as Latin-1). Free with OPENSSL_clear_free. */
unsigned char *store_utf16be(const char *pass, size_t *len);

/* Current time in ms since the epoch. */
int64_t store_now_ms(void);

int jks_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, const char *key_pass,
    struct mtls_err *err);
int jks_write(struct mtls_store *s, const char *pass, const char *key_pass,
    unsigned char **out, size_t *len, struct mtls_err *err);

int p12_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, struct mtls_err *err);
int p12_write(struct mtls_store *s, const char *pass,
    const struct mtls_store_opts *opts, unsigned char **out, size_t *len,
    struct mtls_err *err);

/* Shallow structural check used by mtls_store_detect. */
int p12_looks_like(const unsigned char *d, size_t n);

#endif
