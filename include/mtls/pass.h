/*
 * mtls/pass.h - passwords in OpenSSL's forms, never required on a command line.
 *
 *   pass:TEXT   the text itself (visible in `ps`; prefer the others)
 *   env:VAR     the value of environment variable VAR
 *   file:PATH   the first line of PATH
 *   fd:N        the first line read from file descriptor N
 *   stdin       the first line of standard input
 */
#ifndef MTLS_PASS_H
#define MTLS_PASS_H

#include <stddef.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* The application's way of asking a person for a password; the library
 * never reads a terminal itself. Writes at most LEN-1 bytes of the
 * password and a NUL into BUF and returns its length, or returns -1 when
 * no password can be asked for (no terminal, the person gave up). PROMPT
 * is a sentence such as "Password for ca.key: ". ARG is the pointer given
 * to mtls_pass_set_prompt. Called from the thread that needs the
 * password. */
typedef int mtls_pass_prompt_cb(const char *prompt, char *buf, size_t len,
    void *arg);

/* Registers CB (NULL: none, the default) for the whole process. Call it
 * once, before other threads use libmtls. The `mtls` command registers a
 * prompt on its controlling terminal. */
void mtls_pass_set_prompt(mtls_pass_prompt_cb *cb, void *arg);

/* Returns the password named by SPEC (caller frees with mtls_pass_free).
 * When SPEC is NULL: if PROMPT is non-NULL and a prompt callback is
 * registered, asks it (twice when CONFIRM, and the two must agree);
 * otherwise fails with MTLS_E_PASSWORD saying which option to give. */
char *mtls_pass_get(const char *spec, const char *prompt, int confirm,
    struct mtls_err *err);

/* Wipes and frees P. NULL-safe. */
void mtls_pass_free(char *p);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
