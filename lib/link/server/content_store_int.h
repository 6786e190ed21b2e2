/*
 * Private to libmtls (lib/link/server/): where `mtls serve` puts replicated content.
 *
 * Content lives under a root directory. Every path from the network is
 * normalised and checked (mtls__content_store_path_check) and then walked one
 * component at a time with openat(O_NOFOLLOW), so neither "..", an absolute
 * escape nor a symbolic link planted inside the root can lead outside it.
 * Activate streams the body into a spool file in the root as it arrives
 * (ROOT/.mtls-spool-PID-N: no Path can name it), fsyncs it, renames it
 * into place and fsyncs the destination's directory; Deactivate unlinks.
 * A spool left behind by a killed receiver is removed when the next one
 * opens the root; its temporary files elsewhere in the tree, by
 * mtls__content_store_sweep() at start.
 *
 * Item ids make delivery idempotent: the ids are kept in SQLite (WAL,
 * synchronous=FULL) in STATE/.mtls-receiver.db. An id is recorded as
 * "placing" (with its action, path and SHA-256) before its change and
 * moved to the applied ids once the change is durable. A "placing" row
 * left by a crash is resolved when the store opens, or when its item is
 * resent: applied when the file holds the item's SHA-256 (Deactivate: the
 * file is gone), else forgotten, so the resend applies it. Each item is
 * applied once.
 * An id is scoped to its principal; reusing one for a different action,
 * path or content is refused (MTLS_E_EXISTS).
 */
#ifndef MTLS_CONTENT_STORE_INT_H
#define MTLS_CONTENT_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
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

/* Removes the temporary files (.mtls-tmp-PID-N, beside a destination on
 * another file system than the root) that killed receivers left anywhere
 * under S's root; links are not followed. Walks the whole tree: called
 * once at start. Returns how many were removed. */
unsigned mtls__content_store_sweep(struct mtls__content_store *s);

/* NULL-safe. */
void mtls__content_store_close(struct mtls__content_store *s);

/* 1 when ID is an acceptable item id: 1..MTLS__CONTENT_ID_MAX printable
 * ASCII characters without spaces. */
int mtls__content_store_id_ok(const char *id);

/* A request body on its way to disk: a spool file in the root, its
 * SHA-256 kept as it grows, so memory does not grow with the body. */
struct mtls__content_spool;

/* Creates an empty spool in S's root (mode 0644, like the files it
 * becomes). NULL with ERR set (MTLS_E_IO) when it cannot be created. */
struct mtls__content_spool *mtls__content_spool_new(
    struct mtls__content_store *s, struct mtls_err *err);

/* Appends LEN bytes at BUF. -1 with ERR set (MTLS_E_IO: disk full, ...). */
int mtls__content_spool_write(struct mtls__content_spool *sp, const void *buf,
    size_t len, struct mtls_err *err);

/* Bytes written so far. */
uint64_t mtls__content_spool_size(const struct mtls__content_spool *sp);

/* Removes the file unless it was placed. NULL-safe. */
void mtls__content_spool_free(struct mtls__content_spool *sp);

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

/* The same with the content of Activate in the spool SP (complete; NULL
 * for Deactivate). On success SP's file is the destination now. */
int mtls__content_store_apply_spool(struct mtls__content_store *s,
    enum mtls_action action, const char *path,
    struct mtls__content_spool *sp, const char *id, const char *principal,
    enum mtls__content_outcome *outcome, struct mtls_err *err);

/*
 * The items being placed right now by this process (all its workers are
 * threads of it). KEY names one item of one sender; 1 when it was free
 * and is now ours, 0 when a live request holds it (answer "busy, retry"),
 * -1 out of memory. Every claim of 1 is released exactly once.
 */
int mtls__content_inflight_claim(const char *key);
void mtls__content_inflight_release(const char *key);
/* The key the store claims while it applies (PRINCIPAL, ID): it answers
 * MTLS_E_BUSY, neither resolving a "placing" row nor applying, while the
 * key is held. Per store (tests open several). */
#define MTLS__CONTENT_INFLIGHT_KEY 8192
void mtls__content_store_inflight_key(const struct mtls__content_store *s,
    const char *principal, const char *id, char *buf, size_t len);

#endif
