/* Helpers private to libmtls. */
#ifndef MTLS_INTERNAL_H
#define MTLS_INTERNAL_H

#include <stddef.h>

#ifndef MTLS_VERSION
#define MTLS_VERSION "0.1.0"
#endif

#define MTLS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* True when D holds a PEM block (possibly after human-readable text, as
 * `openssl x509 -text` writes). */
int mtls_looks_pem(const unsigned char *d, size_t n);

/* strdup that returns NULL only on allocation failure; NULL-safe input. */
char *mtls_strdup(const char *s);

#endif
