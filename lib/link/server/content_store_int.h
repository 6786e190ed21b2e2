/*
 * Private to libmtls (lib/link/server/): where `mtls serve` puts replicated content.
 *
 * Content lives under a root directory. Every path from the network is
 * normalised and checked (mtls__content_store_path_check) and then walked one
 * component at a time with openat(O_NOFOLLOW), so neither "..", an absolute
 * escape nor a symbolic link planted inside the root can lead outside it.
 * Activate writes a temporary file beside the destination, fsyncs it,
 * renames it into place and fsyncs the directory; Deactivate unlinks.
 *
 * Item ids make delivery idempotent: the ids applied are kept in SQLite
 * (WAL, synchronous=FULL) in STATE/.mtls-receiver.db, recorded only after
 * the change is durable. A crash between the rename and the record makes
 * the sender retry, and the retry writes identical bytes again: harmless.
 * An id is scoped to its principal; reusing one for a different action,
 * path or content is refused (MTLS_E_EXISTS).
 */
#ifndef MTLS_CONTENT_STORE_INT_H
#define MTLS_CONTENT_STORE_INT_H

#include <stddef.h>
#include <sys/uio.h>

#include "mtls/err.h"
#include "mtls/serve.h"
#include "link/path_int.h"
#include "link/server/principal_map_int.h"

#define MTLS__CONTENT_DB MTLS_RECEIVER_DB
#define MTLS__CONTENT_ID_MAX 128

struct mtls__content_store;

/* Opens (creating when missing) ROOT and the id database in STATE_DIR
 * (NULL: ROOT). One store per thread. */
struct mtls__content_store *mtls__content_store_open(const char *root, const char *state_dir,
    struct mtls_err *err);

/* NULL-safe. */
void mtls__content_store_close(struct mtls__content_store *s);

/* 1 when ID is an acceptable item id: 1..MTLS__CONTENT_ID_MAX printable
 * ASCII characters without spaces. */
int mtls__content_store_id_ok(const char *id);

enum mtls__content_outcome {
	MTLS__CONTENT_APPLIED,  /* the change was made */
	MTLS__CONTENT_REPLAYED, /* ID was applied before; nothing done */
	MTLS__CONTENT_ABSENT,   /* Deactivate of a path that did not exist */
};

/*
 * Applies ACTION (Activate or Deactivate) to PATH (already checked) with
 * the content in IOV for Activate. ID (may be NULL: no idempotency) and
 * PRINCIPAL scope the replay check. Errors: MTLS_E_POLICY (a symbolic
 * link or non-directory on the way), MTLS_E_EXISTS (a directory in the
 * way, or ID reused for something else), MTLS_E_IO.
 */
int mtls__content_store_apply(struct mtls__content_store *s, enum mtls_action action,
    const char *path, const struct iovec *iov, int iovcnt, const char *id,
    const char *principal, enum mtls__content_outcome *outcome,
    struct mtls_err *err);

#endif
