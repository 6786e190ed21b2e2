/* Helpers private to libmtls. */
#ifndef MTLS_INTERNAL_H
#define MTLS_INTERNAL_H

#include <stddef.h>

#define MTLS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* True when D holds a PEM block (possibly after human-readable text, as
 * `openssl x509 -text` writes). */
int mtls__looks_pem(const unsigned char *d, size_t n);

/* Length (1 to 4) of the valid UTF-8 sequence that starts P (N bytes
 * available), or 0 when P does not start one: a stray continuation byte,
 * an overlong form, a surrogate, a code point past U+10FFFF or a sequence
 * cut short (RFC 3629). */
size_t mtls__utf8_len(const unsigned char *p, size_t n);

/* 1 when the N bytes at S are all valid UTF-8 (NUL counts as a byte). */
int mtls__utf8_valid(const char *s, size_t n);

/* strdup that returns NULL only on allocation failure; NULL-safe input. */
char *mtls__strdup(const char *s);

/* "DIR/NAMEEXT" in a new buffer (free()), NULL when out of memory. */
char *mtls__path_of(const char *dir, const char *name, const char *ext);

struct mtls_err;

/* Looks HOST:PORT up in LIST, entries "HOST:PORT:ADDR" separated by commas
 * or spaces (curl's --resolve; ADDR may be a bracketed IPv6 literal). On
 * a match copies ADDR into ADDR (LEN bytes) and returns 1; returns 0 when
 * no entry matches (or LIST is NULL) and -1 (MTLS_E_USAGE) when an entry
 * is malformed, whether it matches or not. */
int mtls__resolve_find(const char *list, const char *host, const char *port,
    char *addr, size_t len, struct mtls_err *err);

/* True when H is an IPv4 or IPv6 address literal (no brackets). */
int mtls__is_ip_literal(const char *h);

/* Returns -1 (MTLS_E_USAGE) when any entry of LIST is malformed. */
int mtls__resolve_check(const char *list, struct mtls_err *err);

/* A DNS server "ADDR[:PORT]": an IPv4 address, an IPv6 address (bare, or
 * "[ADDR]:PORT" with a port), port 53 by default. 0 and, when OUT is not
 * NULL, its "ADDR:PORT" / "[ADDR]:PORT" form (c-ares' server list) in
 * OUT; -1 (MTLS_E_USAGE) with the reason. */
int mtls__dns_server_check(const char *s, char *out, size_t len,
    struct mtls_err *err);

/* Configuration setters (setting.c). The longest path, address or URL a
 * setter takes: longer is a mistake, not a file (PATH_MAX is 4096). */
#define MTLS__SETTING_STR_MAX 4096

/* Replaces *SLOT with a copy of V (NULL clears it); WHAT names the value
 * in a refusal (empty or too long: MTLS_E_USAGE). On failure *SLOT is
 * unchanged. SECRET: the old copy is wiped before it is freed. */
int mtls__setting_str(const char **slot, const char *v, int secret,
    const char *what, struct mtls_err *err);
/* Frees a copy made by mtls__setting_str (NULL-safe). */
void mtls__setting_free(const char *s, int secret);
/* 0 when S is more than 0 and at most MAX (NaN is refused); else -1,
 * MTLS_E_USAGE naming WHAT and the range. */
int mtls__setting_seconds(double s, double max, const char *what,
    struct mtls_err *err);
/* 0 when MIN <= V <= MAX; else -1, MTLS_E_USAGE naming WHAT and the
 * range. */
int mtls__setting_range(long long v, long long min, long long max,
    const char *what, struct mtls_err *err);

#include <sys/types.h>

struct mtls_fileset;

/* "a directory", "a named pipe", ... for messages about non-regular files. */
const char *mtls__file_kind(mode_t mode);

/* Called by mtls_fileset_add with each destination PATH before its
 * temporary file is created; a non-zero return fails the add. One hook
 * per process (NULL: none). */
typedef int mtls__stage_hook(const char *path, void *arg, struct mtls_err *err);
void mtls__fileset_set_hook(mtls__stage_hook *fn, void *arg);

/* The I-th staged file's destination and temporary path (NULL once
 * placed), and whether the set replaces existing files. */
const char *mtls__fileset_dest(const struct mtls_fileset *fs, size_t i);
const char *mtls__fileset_tmp(const struct mtls_fileset *fs, size_t i);
int mtls__fileset_force(const struct mtls_fileset *fs);

/* Makes the staged files and their names durable now; the commit then
 * only moves them. */
int mtls__fileset_sync(struct mtls_fileset *fs, struct mtls_err *err);

#include <openssl/types.h>

/* OpenSSL library context holding the default and legacy providers, for
 * decrypting old PKCS#12 files (RC2-40) without enabling legacy
 * algorithms in the process-wide default context. Created on first use,
 * freed by mtls_cleanup(); NULL when the legacy module cannot be loaded. */
OSSL_LIB_CTX *mtls__legacy_libctx(void);

/* True when the application registered a password prompt
 * (mtls_pass_set_prompt). */
int mtls__pass_can_prompt(void);

#endif
