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

struct mtls_store_entry *mtls__store_entry_new(enum mtls_entry_type type);
void mtls__store_entry_free(struct mtls_store_entry *e);
/* Appends E (taking it); on failure E is freed. */
int mtls__store_push(struct mtls_store *s, struct mtls_store_entry *e,
    struct mtls_err *err);

/* The password as Java hashes it: UTF-16BE code units of the UTF-8 input
 * (bytes that are not UTF-8 count as Latin-1). Free with OPENSSL_clear_free. */
unsigned char *mtls__store_utf16be(const char *pass, size_t *len);

int mtls__jks_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, const char *key_pass,
    struct mtls_err *err);
int mtls__jks_write(struct mtls_store *s, const char *pass, const char *key_pass,
    unsigned char **out, size_t *len, struct mtls_err *err);

int mtls__p12_parse(struct mtls_store *s, const unsigned char *d, size_t n,
    const char *name, const char *pass, struct mtls_err *err);
int mtls__p12store_write(struct mtls_store *s, const char *pass,
    const struct mtls_store_opts *opts, unsigned char **out, size_t *len,
    struct mtls_err *err);

/* Java strings (jstr.c): writeUTF bytes <-> UTF-8 (U+0000 kept as C0 80). */
char *mtls__mutf8_decode(const unsigned char *s, size_t n);
unsigned char *mtls__mutf8_encode(const char *str, size_t *len);

/* JKS/JCEKS key protection (jkskey.c). */
extern const unsigned char mtls__jks_kp_oid[10];
enum unseal { UNSEAL_OK, UNSEAL_WRONG, UNSEAL_BAD };
/* Recovers the key in BLOB (an EncryptedPrivateKeyInfo) with PASS; WRONG
 * when the check digest (KeyProtector) or padding (JCEKS) says so. */
enum unseal mtls__kp_unseal(const unsigned char *blob, size_t blen,
    const char *pass, EVP_PKEY **out);
/* KeyProtector EncryptedPrivateKeyInfo for KEY under PASS. */
int mtls__kp_seal(EVP_PKEY *key, const char *pass, unsigned char **out,
    size_t *olen);
/* SHA-1 of A || B || C into MD (20 bytes). */
int mtls__sha1_two(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, const unsigned char *c, size_t clen, unsigned char *md);

/* Shallow structural check used by mtls_store_detect. */
int mtls__p12_looks_like(const unsigned char *d, size_t n);

#endif
