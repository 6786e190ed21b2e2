/* Private to lib/queue*.c: the queue handle and its SQLite helpers. */
#ifndef MTLS_QUEUE_INT_H
#define MTLS_QUEUE_INT_H

#include <sqlite3.h>

#include "mtls/err.h"
#include "base/clock.h"

struct mtls_queue {
	sqlite3 *db;
	char *state;
	char *blobdir;
	int in_tx;
};

/* "queue STATE/queue.db: WHAT: sqlite's message" into ERR; returns -1. */
int mtls__queue_db_fail(struct mtls_queue *q, const char *what,
    struct mtls_err *err);

/* sqlite3_prepare_v2 with the error recorded. */
int mtls__queue_db_prepare(struct mtls_queue *q, const char *sql,
    sqlite3_stmt **st, struct mtls_err *err);

/* One queued item, as handed to the agent. Free with mtls__item_clear. */
struct mtls_item {
	char id[33];
	int64_t seq;
	char *target;
	enum mtls_action action;
	char *path;
	int attempts;
	unsigned char *data;  /* inline content, or NULL */
	char *blob;           /* path of the content file, or NULL */
	int64_t size;         /* content bytes */
};

void mtls__item_clear(struct mtls_item *it);

/* The oldest pending item for TARGET (items of one target are delivered in
 * order, so a Deactivate never overtakes the Activate before it).
 * Returns 1 and fills IT when it is due at NOW_MS; 2 when it waits for a
 * retry, with *DUE_MS set; 0 when nothing is pending; -1 on error. */
int mtls__queue_claim(struct mtls_queue *q, const char *target,
    int64_t now_ms, struct mtls_item *it, int64_t *due_ms,
    struct mtls_err *err);

/* Marks ID delivered and drops its content when no other item uses it. */
int mtls__queue_delivered(struct mtls_queue *q, const char *id,
    int64_t now_ms, struct mtls_err *err);

/* Counts a failed attempt of ID, keeps it pending until NOW_MS+DELAY_MS
 * and records WHY as its last error. */
int mtls__queue_retry(struct mtls_queue *q, const char *id, int64_t now_ms,
    int64_t delay_ms, const char *why, struct mtls_err *err);

/* Marks ID failed for good with WHY (e.g. "403 Forbidden: ..."). */
int mtls__queue_fail(struct mtls_queue *q, const char *id, int64_t now_ms,
    const char *why, struct mtls_err *err);

/* The delay before retry number ATTEMPTS (1 = after the first failure):
 * BASE_MS * 2^(ATTEMPTS-1), capped at CAP_MS, then scaled by a jitter
 * factor in [0.5, 1.0] taken from JITTER in [0, 1) so that agents that
 * failed together do not retry together. */
int64_t mtls__queue_backoff_ms(int attempts, int64_t base_ms, int64_t cap_ms,
    double jitter);

/* Number of targets whose next item is due at NOW_MS (and, when
 * FRESH_ONLY, was never attempted), or -1. */
long mtls__queue_due(struct mtls_queue *q, int64_t now_ms, int fresh_only,
    struct mtls_err *err);

/* The same targets, by name (free with mtls__queue_targets_free). */
int mtls__queue_due_targets(struct mtls_queue *q, int64_t now_ms,
    int fresh_only, char ***out, size_t *n, struct mtls_err *err);
void mtls__queue_targets_free(char **t, size_t n);

/* KEEP 1: makes sure STATE/queue.reserve holds space kept free for the
 * agent (an ENOSPC error when it cannot); KEEP 0: releases it. */
int mtls__queue_reserve(struct mtls_queue *q, int keep,
    struct mtls_err *err);

/* Gives the queue's free pages back to the file system (best effort). */
void mtls__queue_shrink(struct mtls_queue *q);

/* mtls__queue_shrink after converting an old queue to incremental vacuum,
 * then truncates the WAL (best effort; the end of an agent run). */
void mtls__queue_reclaim(struct mtls_queue *q);

/* Makes every pending item due now (a new run retries at once). */
int mtls__queue_wake(struct mtls_queue *q, struct mtls_err *err);

/* Removes content files under STATE/blobs that no item references (left
 * by a crash between writing the file and committing the enqueue). */
int mtls__queue_gc(struct mtls_queue *q, struct mtls_err *err);

#endif
