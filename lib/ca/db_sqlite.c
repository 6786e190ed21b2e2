/* see db.h: the SQLite engine, a file in the CA directory. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/db.h"
#include "base/internal.h"

struct lite_stmt {
	struct mtls_db_stmt h; /* first: db.c sees only this */
	sqlite3_stmt *st;
	long long changes;
};

/* Finished statements are kept, reset, for the next use of the same SQL:
 * a server asks the same few queries over and over, and SQLite's parsing
 * and planning of each was a tenth of an ACME order's CPU time. */
#define LITE_CACHE 48

struct lite_conn {
	sqlite3 *h;
	struct lite_stmt *cache[LITE_CACHE];
	int ncache;
};

static sqlite3 *
conn(struct mtls_db *db)
{
	return ((struct lite_conn *)db->impl)->h;
}

/* SQLite's "disk I/O error" and "database disk image is malformed" say
 * nothing about what to do: name the cause and the remedy. */
static int
lite_fail(struct mtls_db *db, const char *what, const char *msg,
    struct mtls_err *err)
{
	int saved = errno; /* SQLite does not always keep it (fsync paths) */
	int code = sqlite3_extended_errcode(conn(db)) & 0xff;
	int sys = sqlite3_system_errno(conn(db));
	const char *path = db->where;

	if (code == SQLITE_IOERR && sys == 0) {
		sys = saved;
	}
	if (code == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT) {
		return mtls_err_set(err, MTLS_E_IO, "inventory %s: %s: no space "
		    "left on device (the file system is full: free space on it, "
		    "see df, and run the command again; nothing was recorded)",
		    path, what);
	}
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
		return mtls_err_set(err, MTLS_E_FORMAT, "inventory %s is damaged "
		    "(%s): restore it from a backup (sqlite3's .recover may save "
		    "its rows); nothing was changed", path, msg);
	}
	/* MTLS_E_BUSY: worth a retry, not a failure; the online CA answers
	 * "retry later" (RFC 7030 4.2.3). */
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		return mtls_err_set(err, MTLS_E_BUSY, "inventory %s: %s: another "
		    "process kept it locked too long (%s); try again", path,
		    what, msg);
	}
	if (code == SQLITE_CONSTRAINT) {
		return mtls_err_set(err, MTLS_E_EXISTS, "inventory: %s: %s", what,
		    msg);
	}
	return mtls_err_set(err, MTLS_E_IO, "inventory: %s: %s", what, msg);
}

static int
lite_open(struct mtls_db *db, const char *where, const char *pass, int flags,
    struct mtls_err *err)
{
	struct lite_conn *c;
	sqlite3 *h = NULL;
	int f = SQLITE_OPEN_FULLMUTEX;

	(void)pass;
	if (flags & MTLS_DB_READONLY) {
		f |= SQLITE_OPEN_READONLY;
	} else {
		f |= SQLITE_OPEN_READWRITE |
		    ((flags & MTLS_DB_CREATE) ? SQLITE_OPEN_CREATE : 0);
	}
	if (sqlite3_open_v2(where, &h, f, NULL) != SQLITE_OK) {
		mtls_err_set(err, MTLS_E_IO, "cannot open inventory %s: %s",
		    where, h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		sqlite3_close(h);
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	c->h = h;
	db->impl = c;
	sqlite3_busy_timeout(h, 10000);
	return 0;
}

static void
lite_close(struct mtls_db *db)
{
	struct lite_conn *c = db->impl;

	if (c == NULL) {         /* the open failed */
		return;
	}
	while (c->ncache > 0) {
		struct lite_stmt *s = c->cache[--c->ncache];

		sqlite3_finalize(s->st);
		free(s);
	}
	sqlite3_close(c->h);
	free(c);
	db->impl = NULL;
}

static int
lite_exec(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(conn(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
		lite_fail(db, what, msg ? msg : sqlite3_errmsg(conn(db)), err);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static struct mtls_db_stmt *
lite_prepare(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	struct lite_conn *c = db->impl;
	struct lite_stmt *s;
	int i;

	for (i = c->ncache - 1; i >= 0; i--) {
		s = c->cache[i];
		if (strcmp(sqlite3_sql(s->st), sql) == 0) {
			c->cache[i] = c->cache[--c->ncache];
			return &s->h;
		}
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(conn(db), sql, -1, &s->st, NULL) != SQLITE_OK) {
		lite_fail(db, what, sqlite3_errmsg(conn(db)), err);
		sqlite3_finalize(s->st);
		free(s);
		return NULL;
	}
	return &s->h;
}

static void
lite_bind(struct mtls_db_stmt *h, int i, int type, const void *v, size_t len,
    long long n)
{
	sqlite3_stmt *st = ((struct lite_stmt *)h)->st;

	switch (type) {
	case MTLS_DB_T_TEXT:
		sqlite3_bind_text(st, i, v, (int)len, SQLITE_TRANSIENT);
		break;
	case MTLS_DB_T_INT:
		sqlite3_bind_int64(st, i, (sqlite3_int64)n);
		break;
	case MTLS_DB_T_BLOB:
		sqlite3_bind_blob(st, i, v, (int)len, SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(st, i);
		break;
	}
}

static int
lite_step(struct mtls_db_stmt *h, struct mtls_err *err)
{
	struct lite_stmt *s = (struct lite_stmt *)h;
	int rc = sqlite3_step(s->st);

	if (rc == SQLITE_ROW) {
		return 1;
	}
	if (rc == SQLITE_DONE) {
		s->changes = sqlite3_changes(conn(h->db));
		return 0;
	}
	lite_fail(h->db, h->what, sqlite3_errmsg(conn(h->db)), err);
	sqlite3_reset(s->st);
	return -1;
}

static const char *
lite_col_text(struct mtls_db_stmt *h, int i)
{
	return (const char *)sqlite3_column_text(((struct lite_stmt *)h)->st, i);
}

static long long
lite_col_int64(struct mtls_db_stmt *h, int i)
{
	return sqlite3_column_int64(((struct lite_stmt *)h)->st, i);
}

static int
lite_col_is_null(struct mtls_db_stmt *h, int i)
{
	return sqlite3_column_type(((struct lite_stmt *)h)->st, i) == SQLITE_NULL;
}

static const void *
lite_col_blob(struct mtls_db_stmt *h, int i, size_t *len)
{
	sqlite3_stmt *st = ((struct lite_stmt *)h)->st;
	const void *p = sqlite3_column_blob(st, i);

	*len = (size_t)sqlite3_column_bytes(st, i);
	return p;
}

static long long
lite_changes(struct mtls_db_stmt *h)
{
	return ((struct lite_stmt *)h)->changes;
}

static void
lite_reset(struct mtls_db_stmt *h)
{
	struct lite_stmt *s = (struct lite_stmt *)h;

	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
	s->changes = 0;
}

static void
lite_finalize(struct mtls_db_stmt *h)
{
	struct lite_stmt *s = (struct lite_stmt *)h;
	struct lite_conn *c = h->db != NULL ? h->db->impl : NULL;

	if (c != NULL && c->ncache < LITE_CACHE) {
		sqlite3_reset(s->st);
		sqlite3_clear_bindings(s->st);
		s->changes = 0;
		memset(&s->h, 0, sizeof(s->h));
		c->cache[c->ncache++] = s;
		return;
	}
	sqlite3_finalize(s->st);
	free(s);
}

static void
lite_busy_wait(struct mtls_db *db, int ms)
{
	sqlite3_busy_timeout(conn(db), ms);
}

const struct mtls_db_ops mtls__db_sqlite_ops = {
    .engine = MTLS_DB_SQLITE,
    .open = lite_open,
    .close = lite_close,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .bind = lite_bind,
    .step = lite_step,
    .col_text = lite_col_text,
    .col_int64 = lite_col_int64,
    .col_is_null = lite_col_is_null,
    .col_blob = lite_col_blob,
    .changes = lite_changes,
    .reset = lite_reset,
    .finalize = lite_finalize,
    .busy_wait = lite_busy_wait,
};
