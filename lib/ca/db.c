/* see db.h: what both engines share; each call goes to the engine. */
#include "ca/db.h"

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

int
mtls__db_is_url(const char *where)
{
	return where != NULL && (strncmp(where, "postgresql://", 13) == 0 ||
	    strncmp(where, "postgres://", 11) == 0);
}

struct mtls_db *
mtls__db_open(const char *where, const char *pass_spec, int flags,
    struct mtls_err *err)
{
	struct mtls_db *db = calloc(1, sizeof(*db));

	if (db == NULL || (db->where = strdup(where)) == NULL) {
		free(db);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	db->ops = mtls__db_is_url(where) ? &mtls__db_pg_ops : &mtls__db_sqlite_ops;
	if (db->ops->open(db, where, pass_spec, flags, err) != 0) {
		mtls__db_close(db);
		return NULL;
	}
	return db;
}

void
mtls__db_close(struct mtls_db *db)
{
	if (db == NULL) {
		return;
	}
	if (db->in_txn) {
		mtls__db_rollback(db);
	}
	while (db->ncache > 0) {
		struct mtls_db_stmt *s = db->cache[--db->ncache];

		free(s->what);
		free(s->sql);
		db->ops->finalize(s);
	}
	db->ops->close(db);
	free(db->where);
	free(db);
}

enum mtls_db_engine
mtls__db_engine(const struct mtls_db *db)
{
	return db->ops->engine;
}

const char *
mtls__db_where(const struct mtls_db *db)
{
	return db->where;
}

int
mtls__db_exec(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	return db->ops->exec(db, sql, what, err);
}

/* An idle cached statement for SQL, renamed WHAT, or NULL. */
static struct mtls_db_stmt *
cached(struct mtls_db *db, const char *sql, const char *what)
{
	struct mtls_db_stmt *s;
	char *w;
	size_t i;

	for (i = 0; i < db->ncache; i++) {
		s = db->cache[i];
		if (s->busy || strcmp(s->sql, sql) != 0) {
			continue;
		}
		if (strcmp(s->what, what) != 0) {
			if ((w = strdup(what)) == NULL) {
				return NULL; /* a fresh statement reports it */
			}
			free(s->what);
			s->what = w;
		}
		s->busy = 1;
		return s;
	}
	return NULL;
}

struct mtls_db_stmt *
mtls__db_prepare(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s = cached(db, sql, what);

	if (s != NULL) {
		return s;
	}
	s = db->ops->prepare(db, sql, what, err);
	if (s == NULL) {
		return NULL;
	}
	s->db = db;
	s->sql = NULL;
	s->busy = 0;
	s->what = strdup(what);
	if (s->what == NULL) {
		db->ops->finalize(s);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	/* A full cache (SQL built at run time) just stops caching. */
	if (db->ncache < MTLS_DB_STMT_CACHE && (s->sql = strdup(sql)) != NULL) {
		s->busy = 1;
		db->cache[db->ncache++] = s;
	}
	return s;
}

void
mtls__db_bind_text(struct mtls_db_stmt *s, int i, const char *v)
{
	if (v == NULL) {
		s->db->ops->bind(s, i, MTLS_DB_T_NULL, NULL, 0, 0);
	} else {
		s->db->ops->bind(s, i, MTLS_DB_T_TEXT, v, strlen(v), 0);
	}
}

void
mtls__db_bind_int64(struct mtls_db_stmt *s, int i, long long v)
{
	s->db->ops->bind(s, i, MTLS_DB_T_INT, NULL, 0, v);
}

void
mtls__db_bind_null(struct mtls_db_stmt *s, int i)
{
	s->db->ops->bind(s, i, MTLS_DB_T_NULL, NULL, 0, 0);
}

void
mtls__db_bind_blob(struct mtls_db_stmt *s, int i, const void *v, size_t len)
{
	s->db->ops->bind(s, i, MTLS_DB_T_BLOB, v, len, 0);
}

int
mtls__db_step(struct mtls_db_stmt *s, struct mtls_err *err)
{
	return s->db->ops->step(s, err);
}

const char *
mtls__db_col_text(struct mtls_db_stmt *s, int i)
{
	return s->db->ops->col_text(s, i);
}

long long
mtls__db_col_int64(struct mtls_db_stmt *s, int i)
{
	return s->db->ops->col_int64(s, i);
}

int
mtls__db_col_is_null(struct mtls_db_stmt *s, int i)
{
	return s->db->ops->col_is_null(s, i);
}

const void *
mtls__db_col_blob(struct mtls_db_stmt *s, int i, size_t *len)
{
	return s->db->ops->col_blob(s, i, len);
}

long long
mtls__db_changes(struct mtls_db_stmt *s)
{
	return s->db->ops->changes(s);
}

void
mtls__db_reset(struct mtls_db_stmt *s)
{
	s->db->ops->reset(s);
}

void
mtls__db_finalize(struct mtls_db_stmt *s)
{
	if (s == NULL) {
		return;
	}
	if (s->sql != NULL) {
		s->db->ops->reset(s);
		s->busy = 0;
		return;
	}
	free(s->what);
	s->db->ops->finalize(s);
}

int
mtls__db_begin(struct mtls_db *db, struct mtls_err *err)
{
	const char *sql = db->ops->engine == MTLS_DB_SQLITE ? "BEGIN IMMEDIATE"
							    : "BEGIN";

	if (db->ops->exec(db, sql, "starting a transaction", err) != 0) {
		return -1;
	}
	db->in_txn = 1;
	return 0;
}

int
mtls__db_commit(struct mtls_db *db, struct mtls_err *err)
{
	if (db->ops->exec(db, "COMMIT", "committing", err) != 0) {
		mtls__db_rollback(db);
		return -1;
	}
	db->in_txn = 0;
	return 0;
}

void
mtls__db_rollback(struct mtls_db *db)
{
	struct mtls_err e;

	if (db->in_txn) {
		mtls_err_clear(&e);
		db->ops->exec(db, "ROLLBACK", "rolling back", &e);
		db->in_txn = 0;
	}
}

void
mtls__db_busy_wait(struct mtls_db *db, int ms)
{
	db->ops->busy_wait(db, ms);
}
