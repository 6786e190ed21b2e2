/* see db.h: the PostgreSQL engine, through libpq. Statements run with
 * PQexecParams (no server-side prepared statements), so a connection that
 * was lost and re-established needs nothing re-prepared. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/db.h"
#include "base/internal.h"
#include "mtls/pass.h"

#define PG_MAX_PARAMS 16

struct pg_conn {
	PGconn *c;
	int lock_ms;
};

struct pg_stmt {
	struct mtls_db_stmt h; /* first: db.c sees only this */
	char *sql;             /* with $N placeholders */
	int nparams;
	char *val[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	PGresult *res;
	int row, nrows;
	long long changes;
	unsigned char *blob;
};

static PGconn *
conn(struct mtls_db *db)
{
	return ((struct pg_conn *)db->impl)->c;
}

static void
quiet(void *arg, const char *msg)
{
	/* "relation already exists, skipping" and the like: not ours to
	 * print on the command's stderr. */
	(void)arg;
	(void)msg;
}

/* The first line of libpq's message, without its trailing newline. */
static void
first_line(const char *m, char *out, size_t len)
{
	snprintf(out, len, "%.*s", (int)strcspn(m ? m : "", "\n"), m ? m : "");
}

/* The SQLSTATEs a retry may cure: serialization failures, deadlocks, a
 * lock wait timed out, the server shutting down or starting, too many
 * connections, no connection at all. */
static int
busy_state(const char *st)
{
	static const char *const busy[] = {"40001", "40P01", "55P03", "57014",
	    "57P01", "57P02", "57P03", "53300", "53400"};
	size_t i;

	if (st == NULL) {
		return 0;
	}
	if (strncmp(st, "08", 2) == 0) {
		return 1;
	}
	for (i = 0; i < MTLS_ARRAY_LEN(busy); i++) {
		if (strcmp(st, busy[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static int
pg_fail(struct mtls_db *db, const PGresult *res, const char *what,
    struct mtls_err *err)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	char line[512];

	if (m == NULL || *m == '\0') {
		m = PQerrorMessage(conn(db));
	}
	first_line(m, line, sizeof(line));
	if (PQstatus(conn(db)) != CONNECTION_OK || busy_state(st)) {
		return mtls_err_set(err, MTLS_E_BUSY, "inventory %s: %s: "
		    "PostgreSQL is unavailable or busy (%s); try again", db->where,
		    what, line);
	}
	if (st != NULL && strncmp(st, "23", 2) == 0) {
		return mtls_err_set(err, MTLS_E_EXISTS, "inventory: %s: %s", what,
		    line);
	}
	return mtls_err_set(err, MTLS_E_IO, "inventory: %s: %s", what, line);
}

static int
set_lock_timeout(struct mtls_db *db)
{
	char sql[64];
	PGresult *r;
	int ok;

	snprintf(sql, sizeof(sql), "SET lock_timeout = %d",
	    ((struct pg_conn *)db->impl)->lock_ms);
	r = PQexec(conn(db), sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

/* A lost connection is re-established here, between transactions: within
 * one, the server already rolled it back, and the caller must hear so. */
static int
pg_ready(struct mtls_db *db, const char *what, struct mtls_err *err)
{
	char line[512];

	if (PQstatus(conn(db)) == CONNECTION_OK) {
		return 0;
	}
	if (!db->in_txn) {
		PQreset(conn(db));
		if (PQstatus(conn(db)) == CONNECTION_OK && set_lock_timeout(db) == 0) {
			return 0;
		}
	}
	first_line(PQerrorMessage(conn(db)), line, sizeof(line));
	return mtls_err_set(err, MTLS_E_BUSY, "inventory %s: %s: PostgreSQL is "
	    "unavailable (%s); try again", db->where, what,
	    *line ? line : "connection lost");
}

/* A password in the URL would show in ps(1), in shell history and in our
 * own messages: refuse it and say where it belongs. */
static int
url_has_password(const char *where)
{
	PQconninfoOption *o = PQconninfoParse(where, NULL), *p;
	int has = 0;

	if (o == NULL) {
		return -1;
	}
	for (p = o; p->keyword != NULL; p++) {
		if (strcmp(p->keyword, "password") == 0 && p->val != NULL &&
		    *p->val != '\0') {
			has = 1;
		}
	}
	PQconninfoFree(o);
	return has;
}

static int
pg_open(struct mtls_db *db, const char *where, const char *pass_spec,
    int flags, struct mtls_err *err)
{
	struct pg_conn *pc = calloc(1, sizeof(*pc));
	const char *kw[5] = {"dbname", "connect_timeout", "application_name",
	    NULL, NULL};
	const char *val[5] = {where, "3", "mtls", NULL, NULL};
	char *pass = NULL, line[512];
	int has;

	(void)flags;
	if (pc == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	pc->lock_ms = 10000;
	db->impl = pc;
	has = url_has_password(where);
	if (has != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, has < 0
		    ? "'%s' is not a valid PostgreSQL URL"
		    : "the database URL carries a password: give it with "
		      "--db-pass SPEC (env:, file:, fd:) or in PGPASSFILE instead "
		      "(the URL is recorded and shown)", has < 0 ? where : "");
	}
	if (pass_spec != NULL) {
		pass = mtls_pass_get(pass_spec, NULL, 0, err);
		if (pass == NULL) {
			return -1;
		}
		kw[3] = "password";
		val[3] = pass;
	}
	pc->c = PQconnectdbParams(kw, val, 1);
	mtls_pass_free(pass);
	if (pc->c == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	PQsetNoticeProcessor(pc->c, quiet, NULL);
	if (PQstatus(pc->c) != CONNECTION_OK) {
		first_line(PQerrorMessage(pc->c), line, sizeof(line));
		return mtls_err_set(err, MTLS_E_BUSY, "cannot reach the CA's "
		    "database %s: %s (is PostgreSQL running?)", where, line);
	}
	if (set_lock_timeout(db) != 0) {
		return pg_fail(db, NULL, "setting the lock timeout", err);
	}
	return 0;
}

static void
pg_close(struct mtls_db *db)
{
	struct pg_conn *pc = db->impl;

	if (pc != NULL) {
		PQfinish(pc->c);
		free(pc);
	}
	db->impl = NULL;
}

static int
pg_exec(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	PGresult *r;
	int rc = 0;

	if (strcmp(sql, "ROLLBACK") == 0 && PQstatus(conn(db)) != CONNECTION_OK) {
		return 0; /* the server dropped the transaction with the link */
	}
	if (pg_ready(db, what, err) != 0) {
		return -1;
	}
	r = PQexec(conn(db), sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = pg_fail(db, r, what, err);
	}
	PQclear(r);
	return rc;
}

/* '?' and '?N' become $N; quoted literals are copied as they are. */
static char *
translate(const char *sql, int *nparams)
{
	size_t n = strlen(sql) * 4 + 1;
	char *out = malloc(n), *o = out;
	int next = 0, quote = 0, max = 0;
	const char *p;

	if (out == NULL) {
		return NULL;
	}
	for (p = sql; *p != '\0'; p++) {
		if (*p == '\'') {
			quote = !quote;
		}
		if (*p != '?' || quote) {
			*o++ = *p;
			continue;
		}
		if (p[1] >= '0' && p[1] <= '9') {
			int k = 0;

			while (p[1] >= '0' && p[1] <= '9') {
				k = k * 10 + (*++p - '0');
			}
			next = k;
		} else {
			next++;
		}
		max = next > max ? next : max;
		o += snprintf(o, n - (size_t)(o - out), "$%d", next);
	}
	*o = '\0';
	*nparams = max;
	return out;
}

static struct mtls_db_stmt *
pg_prepare(struct mtls_db *db, const char *sql, const char *what,
    struct mtls_err *err)
{
	struct pg_stmt *s = calloc(1, sizeof(*s));

	(void)db;
	(void)what;
	if (s == NULL || (s->sql = translate(sql, &s->nparams)) == NULL) {
		free(s);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (s->nparams > PG_MAX_PARAMS) {
		free(s->sql);
		free(s);
		mtls_err_set(err, MTLS_E_INTERNAL, "too many SQL parameters");
		return NULL;
	}
	return &s->h;
}

static void
pg_bind(struct mtls_db_stmt *h, int i, int type, const void *v, size_t len,
    long long n)
{
	struct pg_stmt *s = (struct pg_stmt *)h;
	char num[32];

	if (i < 1 || i > PG_MAX_PARAMS) {
		return;
	}
	free(s->val[i - 1]);
	s->val[i - 1] = NULL;
	s->len[i - 1] = 0;
	s->fmt[i - 1] = 0;
	switch (type) {
	case MTLS_DB_T_TEXT:
	case MTLS_DB_T_BLOB:
		s->val[i - 1] = malloc(len + 1);
		if (s->val[i - 1] != NULL) {
			memcpy(s->val[i - 1], v, len);
			s->val[i - 1][len] = '\0';
		}
		s->len[i - 1] = (int)len;
		s->fmt[i - 1] = type == MTLS_DB_T_BLOB;
		break;
	case MTLS_DB_T_INT:
		snprintf(num, sizeof(num), "%lld", n);
		s->val[i - 1] = strdup(num);
		break;
	default:
		break;
	}
}

static int
pg_step(struct mtls_db_stmt *h, struct mtls_err *err)
{
	struct pg_stmt *s = (struct pg_stmt *)h;
	ExecStatusType st;

	if (s->res != NULL) {
		return ++s->row < s->nrows ? 1 : 0;
	}
	if (pg_ready(h->db, h->what, err) != 0) {
		return -1;
	}
	s->res = PQexecParams(conn(h->db), s->sql, s->nparams, NULL,
	    (const char *const *)s->val, s->len, s->fmt, 0);
	st = PQresultStatus(s->res);
	if (st == PGRES_TUPLES_OK) {
		s->row = 0;
		s->nrows = PQntuples(s->res);
		s->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
		return s->nrows > 0 ? 1 : 0;
	}
	if (st == PGRES_COMMAND_OK) {
		s->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
		s->nrows = 0;
		return 0;
	}
	pg_fail(h->db, s->res, h->what, err);
	PQclear(s->res);
	s->res = NULL;
	return -1;
}

static const char *
pg_col_text(struct mtls_db_stmt *h, int i)
{
	struct pg_stmt *s = (struct pg_stmt *)h;

	if (s->res == NULL || s->row >= s->nrows || i >= PQnfields(s->res) ||
	    PQgetisnull(s->res, s->row, i)) {
		return NULL;
	}
	return PQgetvalue(s->res, s->row, i);
}

static long long
pg_col_int64(struct mtls_db_stmt *h, int i)
{
	const char *t = pg_col_text(h, i);

	if (t == NULL) {
		return 0;
	}
	if (strcmp(t, "t") == 0 || strcmp(t, "f") == 0) {
		return *t == 't'; /* a boolean column */
	}
	return strtoll(t, NULL, 10);
}

static int
pg_col_is_null(struct mtls_db_stmt *h, int i)
{
	return pg_col_text(h, i) == NULL;
}

static const void *
pg_col_blob(struct mtls_db_stmt *h, int i, size_t *len)
{
	struct pg_stmt *s = (struct pg_stmt *)h;
	const char *t = pg_col_text(h, i);

	*len = 0;
	PQfreemem(s->blob);
	s->blob = NULL;
	if (t == NULL) {
		return NULL;
	}
	s->blob = PQunescapeBytea((const unsigned char *)t, len);
	return s->blob;
}

static long long
pg_changes(struct mtls_db_stmt *h)
{
	return ((struct pg_stmt *)h)->changes;
}

static void
pg_reset(struct mtls_db_stmt *h)
{
	struct pg_stmt *s = (struct pg_stmt *)h;
	int i;

	PQclear(s->res);
	s->res = NULL;
	s->row = s->nrows = 0;
	s->changes = 0;
	for (i = 0; i < PG_MAX_PARAMS; i++) {
		free(s->val[i]);
		s->val[i] = NULL;
		s->len[i] = s->fmt[i] = 0;
	}
}

static void
pg_finalize(struct mtls_db_stmt *h)
{
	struct pg_stmt *s = (struct pg_stmt *)h;

	pg_reset(h);
	PQfreemem(s->blob);
	free(s->sql);
	free(s);
}

static void
pg_busy_wait(struct mtls_db *db, int ms)
{
	((struct pg_conn *)db->impl)->lock_ms = ms;
	if (PQstatus(conn(db)) == CONNECTION_OK) {
		set_lock_timeout(db);
	}
}

const struct mtls_db_ops mtls__db_pg_ops = {
    .engine = MTLS_DB_PG,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind = pg_bind,
    .step = pg_step,
    .col_text = pg_col_text,
    .col_int64 = pg_col_int64,
    .col_is_null = pg_col_is_null,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .busy_wait = pg_busy_wait,
};
