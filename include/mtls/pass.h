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

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Returns the password named by SPEC (caller frees with mtls_pass_free).
 * When SPEC is NULL: if PROMPT is non-NULL and standard input is a
 * terminal, asks for it (twice when CONFIRM); otherwise fails with
 * MTLS_E_PASSWORD saying which option to give. */
char *mtls_pass_get(const char *spec, const char *prompt, int confirm,
    struct mtls_err *err);

/* Wipes and frees P. NULL-safe. */
void mtls_pass_free(char *p);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
