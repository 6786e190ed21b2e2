/* The storage interface under every piece of CA state: one API, two
 * engines. SQLite (a file in the CA directory, the default) and
 * PostgreSQL through libpq (a postgresql:// URL, shared by several
 * `mtls ca serve` instances). Private to libmtls.
 *
 * SQL is written once, in the dialect both engines accept; placeholders
 * are '?' or '?N' and become $N for PostgreSQL. Where the engines differ
 * (schema, SQLite's PRAGMAs), callers ask mtls__db_engine().
 *
 * Errors: a busy database (a lock held too long, a serialization
 * conflict, PostgreSQL restarting or unreachable) is MTLS_E_BUSY, worth a
 * retry; a UNIQUE or foreign-key violation is MTLS_E_EXISTS; the rest is
 * MTLS_E_IO (MTLS_E_FORMAT for a damaged file). A lost PostgreSQL
 * connection is re-established by the next statement. */
#ifndef MTLS_DB_H
#define MTLS_DB_H

#include <stddef.h>

#include "mtls/err.h"

enum mtls_db_engine { MTLS_DB_SQLITE, MTLS_DB_PG };

#define MTLS_DB_CREATE 1   /* create the SQLite file when absent */
#define MTLS_DB_READONLY 2 /* SQLite: open read-only */

struct mtls_db;
struct mtls_db_stmt;

/* 1 when WHERE names a PostgreSQL database (postgresql:// or
 * postgres://), 0 for a file path. */
int mtls__db_is_url(const char *where);

/* Opens WHERE (a file path or a URL). PASS_SPEC, when non-NULL, is a
 * password spec (env:, file:, fd:) for PostgreSQL; without one libpq's
 * own PGPASSFILE/.pgpass applies. A URL carrying a password is refused:
 * it would end up in ps(1) output and in logs. */
struct mtls_db *mtls__db_open(const char *where, const char *pass_spec,
    int flags, struct mtls_err *err);
void mtls__db_close(struct mtls_db *db);

enum mtls_db_engine mtls__db_engine(const struct mtls_db *db);
/* The file path, or the URL (never with a password), for messages. */
const char *mtls__db_where(const struct mtls_db *db);

/* Runs one or more statements without parameters or results. */
int mtls__db_exec(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err);

/* A statement; WHAT ("recording a certificate") names it in errors.
 * Statements are cached per connection, keyed by their SQL text: a
 * server answers the same few queries all day, and compiling them again
 * for every request cost more than running them. A statement in use is
 * never handed out twice (a nested query with the same text gets a fresh
 * one). mtls__db_finalize gives a cached statement back, reset. */
struct mtls_db_stmt *mtls__db_prepare(struct mtls_db *db, const char *sql,
    const char *what, struct mtls_err *err);
/* Binds parameter I (from 1); the value is copied. A NULL text binds
 * SQL NULL. */
void mtls__db_bind_text(struct mtls_db_stmt *s, int i, const char *v);
void mtls__db_bind_int64(struct mtls_db_stmt *s, int i, long long v);
void mtls__db_bind_null(struct mtls_db_stmt *s, int i);
void mtls__db_bind_blob(struct mtls_db_stmt *s, int i, const void *v,
    size_t len);
/* 1: a row is ready; 0: done; -1: error (in ERR). */
int mtls__db_step(struct mtls_db_stmt *s, struct mtls_err *err);
/* Columns of the current row, from 0. Text is borrowed until the next
 * step, reset or finalize; NULL for SQL NULL. */
const char *mtls__db_col_text(struct mtls_db_stmt *s, int i);
long long mtls__db_col_int64(struct mtls_db_stmt *s, int i);
int mtls__db_col_is_null(struct mtls_db_stmt *s, int i);
const void *mtls__db_col_blob(struct mtls_db_stmt *s, int i, size_t *len);
/* Rows the last INSERT/UPDATE/DELETE of S changed. */
long long mtls__db_changes(struct mtls_db_stmt *s);
/* Makes S ready to run again; bindings are cleared. */
void mtls__db_reset(struct mtls_db_stmt *s);
/* Done with S: a cached statement is reset and kept for the next
 * mtls__db_prepare of the same SQL, any other one freed. */
void mtls__db_finalize(struct mtls_db_stmt *s);

/* A write transaction: SQLite's BEGIN IMMEDIATE (the writer lock taken at
 * once), PostgreSQL's BEGIN (row locks; UNIQUE constraints and guarded
 * UPDATEs decide races between instances). */
int mtls__db_begin(struct mtls_db *db, struct mtls_err *err);
int mtls__db_commit(struct mtls_db *db, struct mtls_err *err);
void mtls__db_rollback(struct mtls_db *db);

/* How long a statement waits for a lock before MTLS_E_BUSY. */
void mtls__db_busy_wait(struct mtls_db *db, int ms);

/* ---- for the engines (db_sqlite.c, db_pg.c) ---- */
struct mtls_db_ops {
	enum mtls_db_engine engine;
	int (*open)(struct mtls_db *db, const char *where, const char *pass,
	    int flags, struct mtls_err *err);
	void (*close)(struct mtls_db *db);
	int (*exec)(struct mtls_db *db, const char *sql, const char *what,
	    struct mtls_err *err);
	struct mtls_db_stmt *(*prepare)(struct mtls_db *db, const char *sql,
	    const char *what, struct mtls_err *err);
	void (*bind)(struct mtls_db_stmt *s, int i, int type, const void *v,
	    size_t len, long long n);
	int (*step)(struct mtls_db_stmt *s, struct mtls_err *err);
	const char *(*col_text)(struct mtls_db_stmt *s, int i);
	long long (*col_int64)(struct mtls_db_stmt *s, int i);
	int (*col_is_null)(struct mtls_db_stmt *s, int i);
	const void *(*col_blob)(struct mtls_db_stmt *s, int i, size_t *len);
	long long (*changes)(struct mtls_db_stmt *s);
	void (*reset)(struct mtls_db_stmt *s);
	void (*finalize)(struct mtls_db_stmt *s);
	void (*busy_wait)(struct mtls_db *db, int ms);
};

enum { MTLS_DB_T_NULL, MTLS_DB_T_TEXT, MTLS_DB_T_INT, MTLS_DB_T_BLOB };

#define MTLS_DB_STMT_CACHE 64 /* statements kept per connection */

struct mtls_db {
	const struct mtls_db_ops *ops;
	char *where;
	int in_txn;
	void *impl;
	struct mtls_db_stmt *cache[MTLS_DB_STMT_CACHE];
	size_t ncache;
};

/* Every statement starts with this header. */
struct mtls_db_stmt {
	struct mtls_db *db;
	char *what;
	char *sql;  /* the cache's key; NULL: not cached */
	int busy;   /* a cached statement handed out and not finalized */
};

extern const struct mtls_db_ops mtls__db_sqlite_ops;
extern const struct mtls_db_ops mtls__db_pg_ops;

#endif
