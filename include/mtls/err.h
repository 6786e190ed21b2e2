/*
 * mtls/err.h - error reporting shared by every libmtls function.
 *
 * Every fallible function takes a `struct mtls_err *` as its last argument,
 * returns 0 / -1 (or NULL) and, on failure, leaves one sentence in it that
 * names the file, value or rule at fault and, where it helps, what to do.
 * A caller may pass NULL when it does not want the message.
 */
#ifndef MTLS_ERR_H
#define MTLS_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#if defined(__GNUC__)
#define MTLS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTLS_PRINTF(f, a)
#endif

/* One table of categories: X(name, exit status, sentence). */
#define MTLS_ERR_CODES(X)                                                   \
	X(MTLS_OK, 0, "success")                                            \
	X(MTLS_E_USAGE, 2, "usage error")                                   \
	X(MTLS_E_IO, 1, "file or system error")                             \
	X(MTLS_E_FORMAT, 1, "unrecognised or malformed input")              \
	X(MTLS_E_PASSWORD, 1, "wrong or missing password")                  \
	X(MTLS_E_VERIFY, 1, "certificate verification failed")             \
	X(MTLS_E_POLICY, 1, "refused by policy")                            \
	X(MTLS_E_PEER, 1, "the peer failed or refused")                     \
	X(MTLS_E_EXISTS, 1, "already exists")                               \
	X(MTLS_E_NOTFOUND, 1, "not found")                                  \
	X(MTLS_E_BUSY, 1, "busy: another writer holds it; retry later")    \
	X(MTLS_E_INTERNAL, 1, "internal error")

enum mtls_errcode {
#define MTLS_X_ENUM(n, s, m) n,
	MTLS_ERR_CODES(MTLS_X_ENUM)
#undef MTLS_X_ENUM
};

#define MTLS_ERR_MSG_MAX 1024

struct mtls_err {
	enum mtls_errcode code;
	char msg[MTLS_ERR_MSG_MAX];
};

/* Clears ERR; safe on NULL. */
void mtls_err_clear(struct mtls_err *err);

/* Records CODE and a formatted message; always returns -1 so callers can
 * `return mtls_err_set(...)`. Safe on NULL. */
int mtls_err_set(struct mtls_err *err, enum mtls_errcode code,
    const char *fmt, ...) MTLS_PRINTF(3, 4);

/* Like mtls_err_set but appends ": <reason>" drained from the OpenSSL error
 * queue (all entries, most specific last), then clears the queue. */
int mtls_err_ssl(struct mtls_err *err, enum mtls_errcode code,
    const char *fmt, ...) MTLS_PRINTF(3, 4);

/* Like mtls_err_set but appends ": <strerror(errno)>". */
int mtls_err_sys(struct mtls_err *err, enum mtls_errcode code,
    const char *fmt, ...) MTLS_PRINTF(3, 4);

/* Copies S into OUT (LEN bytes, always terminated) so that it prints as
 * one line that cannot steer a terminal or forge a log line: valid UTF-8
 * and printable characters stay; control characters (C0 with newline
 * and ESC, DEL, C1) and bytes that are not UTF-8 become \xNN; a
 * backslash is doubled, except with MTLS_ESC_TEXT (a message that may
 * quote an already escaped one). With MTLS_ESC_FIELD (a key=value field)
 * a double quote gets a backslash and a space becomes \x20 too. What
 * does not fit is cut at a character and marked "...". Returns OUT.
 * Every error message is passed through it (MTLS_ESC_TEXT). */
#define MTLS_ESC_FIELD 1
#define MTLS_ESC_TEXT 2
const char *mtls_escape(const char *s, int flags, char *out, size_t len);

/* The one syntax check of a URL a user gives (a push target, an EST or
 * ACME CA, a CRL or OCSP address put into certificates): https:// (or
 * http:// with MTLS_URL_HTTP), a host name or IP literal, an optional
 * port 1-65535, a path; no spaces, controls or non-ASCII bytes, no user
 * name, no fragment, at most 2048 characters. 0, or MTLS_E_USAGE with one
 * line naming the URL and what is wrong. */
#define MTLS_URL_HTTP 1
int mtls_url_check(const char *url, int flags, struct mtls_err *err);

/* Name ("MTLS_E_IO") and process exit status for a code. */
const char *mtls_err_name(enum mtls_errcode code);
int mtls_err_exit_status(enum mtls_errcode code);

/* Library version string, e.g. "0.1.0". */
const char *mtls_version(void);

/* Process-wide set-up, for the application to call once from its main
 * thread before other threads exist: initialises libcurl (used by the
 * agent, EST and OCSP clients). Returns 0, or -1 with ERR set. Optional:
 * without it libcurl initialises itself lazily on first use, which is not
 * thread-safe. The library itself never installs signal handlers; an
 * application that serves or pushes must ignore SIGPIPE itself (a peer
 * closing a TLS connection mid-write raises it). */
int mtls_init(struct mtls_err *err);

/* Releases what mtls_init() and the library's lazy set-up hold (libcurl,
 * the private OpenSSL library context for legacy PKCS#12). Call at most
 * once, after every other call, when no other thread uses libmtls. */
void mtls_cleanup(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
