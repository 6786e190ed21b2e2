/*
 * Private to the content store (lib/link/server/): what receiver_store.c,
 * content_items.c, content_sweep.c and content_walk.c share. The others
 * use content_store_int.h.
 *
 * Files: content_walk.c (walking a path inside the root) and
 * content_sweep.c (removing what killed receivers left) are leaves;
 * content_items.c (item ids, in-flight set) calls content_walk.c;
 * receiver_store.c (open, spools, apply) calls all three.
 */
#ifndef MTLS_CONTENT_STORE_PRIV_H
#define MTLS_CONTENT_STORE_PRIV_H

#include <sqlite3.h>

#include "link/server/content_store_int.h"

#define SPOOL_PREFIX MTLS__CONTENT_RESERVED "-spool-"
#define TMP_PREFIX MTLS__CONTENT_RESERVED "-tmp-"

struct mtls__content_store {
	int rootfd;
	char *content; /* the content root, for messages */
	char *root;
	sqlite3 *db;
	sqlite3_stmt *sel, *ins, *psel, *pins, *pdel;
};

/* content_items.c */
int mtls__content_db_fail(struct mtls__content_store *s, const char *what,
    struct mtls_err *err);
/* 1: applied before with the same action/path/digest; 0: unknown id. */
int mtls__content_lookup(struct mtls__content_store *s, const char *principal,
    const char *id, const char *action, const char *path, const char *sha,
    struct mtls_err *err);
/* Before the change: the item is recorded as on its way, durably. */
int mtls__content_begin_item(struct mtls__content_store *s,
    const char *principal, const char *id, const char *action,
    const char *path, const char *sha, struct mtls_err *err);
/* After the change is durable: the item is applied (one transaction). */
int mtls__content_commit_item(struct mtls__content_store *s,
    const char *principal, const char *id, const char *action,
    const char *path, const char *sha, struct mtls_err *err);
/* Resolves the "placing" row of (PRINCIPAL, ID), if any. 0 or -1. */
int mtls__content_resolve(struct mtls__content_store *s, const char *principal,
    const char *id, struct mtls_err *err);
/* At start: resolves every row a killed receiver left "placing". */
int mtls__content_resolve_all(struct mtls__content_store *s,
    struct mtls_err *err);

/* content_sweep.c: removes the spools of killed receivers from the root. */
void mtls__content_sweep_spools(int rootfd);

/* content_walk.c: walks the directories of PATH from the root with
 * O_NOFOLLOW (creating them when CREATE); *DIRFD is the leaf's parent,
 * *LEAF points into BUF. 0, 1 when a directory is missing, or -1. */
int mtls__content_walk(struct mtls__content_store *s, const char *path,
    int create, char *buf, size_t buflen, int *dirfd, const char **leaf,
    struct mtls_err *err);

#endif
