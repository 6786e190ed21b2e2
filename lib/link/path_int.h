/* Private to lib/link: the one Path validator (path.c), shared by the
 * receiver (link/server, every request) and the push agent (link/client,
 * every item at enqueue). */
#ifndef MTLS_LINK_PATH_INT_H
#define MTLS_LINK_PATH_INT_H

#include <stddef.h>

#include "mtls/err.h"

/* Names under the root starting with this are ours (database, temp files)
 * and refused as replication paths. */
#define MTLS__CONTENT_RESERVED ".mtls"
#define MTLS__CONTENT_PATH_MAX 1024

/* Normalises PATH ("/a//b/" -> "/a/b") into OUT. Fails (MTLS_E_POLICY)
 * when PATH is not absolute, has a "." or ".." component, a control
 * character or backslash, a component starting with ".mtls", or is
 * longer than MTLS__CONTENT_PATH_MAX. "/" itself is refused (no file). */
int mtls__content_store_path_check(const char *path, char *out, size_t outlen,
    struct mtls_err *err);

/* 1 when a component of PATH starts with MTLS__CONTENT_RESERVED (the
 * receiver's database and temporary files): push skips such files. */
int mtls__content_store_path_reserved(const char *path);

#endif
