/* Private to lib/queue*.c: the queue handle and its SQLite helpers. */
#ifndef MTLS_QUEUE_INT_H
#define MTLS_QUEUE_INT_H

#include <sqlite3.h>

#include "mtls/err.h"

struct mtls_queue {
	sqlite3 *db;
	char *state;
	char *blobdir;
	int in_tx;
};

/* "queue STATE/queue.db: WHAT: sqlite's message" into ERR; returns -1. */
int mtls_queue_db_fail(struct mtls_queue *q, const char *what,
    struct mtls_err *err);

/* sqlite3_prepare_v2 with the error recorded. */
int mtls_queue_db_prepare(struct mtls_queue *q, const char *sql,
    sqlite3_stmt **st, struct mtls_err *err);

#endif
