/*
 * mtls/file.h - reading inputs and writing outputs safely.
 *
 * Outputs are never written in place: each file is staged as a temporary
 * file beside its destination, synced, and only then moved into place, so a
 * failure at any point leaves either the old state or the complete new one.
 * Several files that belong together (a key, its certificate and chain) are
 * staged in one mtls_fileset and appear together on commit.
 */
#ifndef MTLS_FILE_H
#define MTLS_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Mode for private keys and anything holding a secret. */
#define MTLS_MODE_SECRET 0600
#define MTLS_MODE_PUBLIC 0644

/* Reads all of PATH ("-" is stdin) into *DATA (NUL-terminated, caller frees
 * with mtls_file_free) and *LEN. Fails for files larger than MAX bytes. */
int mtls_file_read(const char *path, size_t max, unsigned char **data,
    size_t *len, struct mtls_err *err);

/* Frees DATA after wiping LEN bytes (inputs may hold keys). NULL-safe. */
void mtls_file_free(unsigned char *data, size_t len);

struct mtls_fileset;

/* FORCE: replace existing destinations; otherwise an existing destination
 * is an MTLS_E_EXISTS error naming it and telling to use --force. */
struct mtls_fileset *mtls_fileset_new(int force, struct mtls_err *err);

/* Stages DATA for PATH with MODE (the temp file is created with MODE, so a
 * key is never readable by others, even briefly). Fails early when PATH
 * exists and the set is not forcing. */
int mtls_fileset_add(struct mtls_fileset *fs, const char *path,
    const void *data, size_t len, mode_t mode, struct mtls_err *err);

/* Makes every staged file durable, then moves each into place and syncs
 * the directories. Without force, a destination created meanwhile by
 * someone else is not replaced (link(2) semantics). */
int mtls_fileset_commit(struct mtls_fileset *fs, struct mtls_err *err);

/* Number of staged files. */
size_t mtls_fileset_count(const struct mtls_fileset *fs);

/* Removes any temporary file not committed and frees FS. NULL-safe. */
void mtls_fileset_free(struct mtls_fileset *fs);

/* One file, atomically: a fileset of one. */
int mtls_file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, int force, struct mtls_err *err);

/* Creates directory PATH (and parents) with MODE when missing. */
int mtls_mkdir_p(const char *path, mode_t mode, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
