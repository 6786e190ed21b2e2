/*
 * mtls/store.h - Java keystores and truststores (JKS, JCEKS, PKCS#12) as one
 * in-memory model.
 *
 * A store is a list of entries. Each entry has an alias, a type (a private
 * key with its certificate chain, or a trusted certificate), a creation time
 * and OpenSSL objects. Every format loads into this model and the writable
 * ones (JKS, PKCS#12) save from it, so converting is load + save.
 *
 * Java's rules that are invisible until a handshake fails are enforced here
 * rather than left to callers:
 *  - aliases are stored lower-case (Java's JKS lookups lower-case the name
 *    asked for but not the names read from the file);
 *  - a JKS key is protected with the store password unless a key password
 *    is given (Java's default key manager uses one password for all);
 *  - PKCS#12 trusted certificates carry Oracle's trustedKeyUsage bag
 *    attribute (2.16.840.1.113894.746875.1.1), without which Java shows an
 *    empty truststore;
 *  - PKCS#12 is written modern (AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256
 *    MAC) or legacy (PBE-SHA1-3DES, HMAC-SHA1 MAC), never RC2-40.
 *
 * Passwords are UTF-8 strings. JKS hashes them as UTF-16BE like Java's char
 * arrays; PKCS#12 passwords should stay ASCII for Java 17.
 */
#ifndef MTLS_STORE_H
#define MTLS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

enum mtls_store_format {
	MTLS_STORE_NONE = 0, /* not a keystore */
	MTLS_STORE_JKS,
	MTLS_STORE_JCEKS,    /* read only */
	MTLS_STORE_P12,
};

enum mtls_entry_type {
	MTLS_ENTRY_KEY,     /* PrivateKeyEntry: key + chain (chain[0] = leaf) */
	MTLS_ENTRY_TRUSTED, /* trustedCertEntry: one certificate */
};

/* Entry flags. */
#define MTLS_ENTRY_LOCKED 0x1   /* key not decrypted (its own password) */
#define MTLS_ENTRY_NOTRUST 0x2  /* PKCS#12 cert without Java's trust attr */

struct mtls_store_entry {
	char *alias;         /* UTF-8, lower-case; U+0000 kept as C0 80 */
	enum mtls_entry_type type;
	int64_t created;     /* ms since 1970-01-01 UTC; 0 when unknown */
	unsigned flags;
	EVP_PKEY *key;       /* KEY entries, NULL while LOCKED */
	STACK_OF(X509) *certs; /* KEY: the chain; TRUSTED: exactly one */
	/* private: a JKS key still protected (kept so it survives a rewrite
	 * by someone who does not know its password) */
	unsigned char *sealed;
	size_t sealed_len;
};

struct mtls_store;

/* Saving options; NULL means the defaults below. */
struct mtls_store_opts {
	const char *key_pass; /* JKS: protect keys with this, not the store
	                         password (Java's default key manager then
	                         fails; callers should warn) */
	int legacy;           /* PKCS#12: PBE-SHA1-3DES + HMAC-SHA1 MAC */
	int iterations;       /* PKCS#12: >= 10000; 0 means 10000 */
};

/* What DATA is, by content: JKS and JCEKS by magic, PKCS#12 by parsing its
 * outer DER structure. */
enum mtls_store_format mtls_store_detect(const unsigned char *data,
    size_t len);

/* "JKS", "JCEKS", "PKCS12", "none". */
const char *mtls_store_format_name(enum mtls_store_format f);

/* An empty store (caller frees with mtls_store_free). */
struct mtls_store *mtls_store_new(void);
void mtls_store_free(struct mtls_store *s);

/* Parses a keystore of any format named NAME (used in messages).
 * PASS is the store password (NULL: JKS integrity is not checked and keys
 * stay locked; PKCS#12 is tried without a password). KEY_PASS decrypts JKS
 * keys whose password differs (NULL: the store password; keys that do not
 * open stay LOCKED rather than failing the load).
 * Errors: MTLS_E_PASSWORD "wrong password for NAME"; MTLS_E_FORMAT for
 * malformed, truncated or tampered files (the message says which). */
struct mtls_store *mtls_store_parse(const unsigned char *data, size_t len,
    const char *name, const char *pass, const char *key_pass,
    struct mtls_err *err);

/* Format the store was parsed from (MTLS_STORE_NONE for a new one) and
 * whether its integrity digest or MAC was checked. */
enum mtls_store_format mtls_store_format(const struct mtls_store *s);
int mtls_store_verified(const struct mtls_store *s);

/* Serialises S as FMT (JKS or PKCS#12) protected with PASS. *OUT is freed
 * with mtls_store_buf_free. A LOCKED key can be written to JKS only. */
int mtls_store_serialize(struct mtls_store *s, enum mtls_store_format fmt,
    const char *pass, const struct mtls_store_opts *opts,
    unsigned char **out, size_t *len, struct mtls_err *err);
void mtls_store_buf_free(unsigned char *buf, size_t len);

size_t mtls_store_count(const struct mtls_store *s);
const struct mtls_store_entry *mtls_store_get(const struct mtls_store *s,
    size_t i);

/* Index of ALIAS (compared lower-cased), or -1. */
long mtls_store_find(const struct mtls_store *s, const char *alias);

/* Adds a key entry (KEY and every certificate are up-referenced; CHAIN[0]
 * must match KEY; the rest is ordered leaf to root). An existing ALIAS is
 * an MTLS_E_EXISTS error unless REPLACE. CREATED 0 means now. */
int mtls_store_add_key(struct mtls_store *s, const char *alias,
    EVP_PKEY *key, STACK_OF(X509) *chain, int64_t created, int replace,
    struct mtls_err *err);

/* Adds a trusted-certificate entry (CERT is up-referenced). */
int mtls_store_add_trusted(struct mtls_store *s, const char *alias,
    X509 *cert, int64_t created, int replace, struct mtls_err *err);

/* Removes ALIAS (MTLS_E_NOTFOUND naming the aliases there are). */
int mtls_store_remove(struct mtls_store *s, const char *alias,
    struct mtls_err *err);

/* Lower-cases ALIAS the way Java does for ASCII and Latin-1 letters and
 * checks it is valid UTF-8 of at most 65535 bytes in modified UTF-8.
 * Returns a new string (free with OPENSSL_free) or NULL. */
char *mtls_store_alias_norm(const char *alias, struct mtls_err *err);

/* Unused alias derived from CERT's CN (lower-cased), else BASE. */
char *mtls_store_alias_for(const struct mtls_store *s, X509 *cert,
    const char *base);

/* Prints DATA when it is a keystore: format, integrity, and per entry the
 * alias, type, creation date and every certificate's subject, issuer,
 * serial, validity and SHA-256 fingerprint (JSON with JSON non-zero).
 * PASS_SPEC is a password spec (pass:, env:, file:, fd:, stdin); without
 * one, JKS is listed unverified and PKCS#12 is tried without a password,
 * then asked for on a terminal. Returns 1 when printed, 0 when DATA is not
 * a keystore, -1 on error. */
int mtls_store_describe(FILE *out, const unsigned char *data, size_t len,
    const char *name, const char *pass_spec, int json, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
