/* see inventory.h */
#include "ca/inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "base/clock.h"

struct mtls_inv {
	struct mtls_db *db;
	struct mtls_db_stmt *ins;
	struct mtls_db_stmt *taken;
	/* Serials recorded since BEGIN, comma-separated: the intent journal
	 * names what to undo if the files cannot be placed. */
	char *txn_serials;
	size_t txn_len, txn_cap;
};

struct mtls_inv *
mtls__inv_open(const char *where, const char *pass_spec, int create,
    struct mtls_err *err)
{
	struct mtls_inv *inv = calloc(1, sizeof(*inv));

	if (inv == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	inv->db = mtls__db_open(where, pass_spec, create ? MTLS_DB_CREATE : 0,
	    err);
	if (inv->db == NULL) {
		goto fail;
	}
	/* WAL: readers never block the writer; FULL: a committed issuance
	 * survives power loss, and batches pay one sync per commit. The
	 * schema is written only when creating: INSERT OR IGNORE takes the
	 * write lock, so running it on every open made readers (mtls list,
	 * a second issuer) wait for, and then fail behind, a batch. */
	if (mtls__db_engine(inv->db) == MTLS_DB_SQLITE &&
	    mtls__db_exec(inv->db, "PRAGMA journal_mode=WAL; PRAGMA "
		"synchronous=FULL; PRAGMA foreign_keys=ON;", "PRAGMA journal_mode=WAL",
		err) != 0) {
		goto fail;
	}
	if (mtls__inv_migrate(inv->db, create, err) != 0) {
		goto fail;
	}
	inv->ins = mtls__db_prepare(inv->db,
	    "INSERT INTO certs(serial,name,subject,sans,profile,not_before,"
	    "not_after,sha256,status,issued_at,pem,origin) "
	    "VALUES(?,?,?,?,?,?,?,?,'valid',?,?,?)", "recording a certificate",
	    err);
	inv->taken = inv->ins == NULL ? NULL : mtls__db_prepare(inv->db,
	    "SELECT 1 FROM certs WHERE serial=?", "looking up a serial", err);
	if (inv->taken == NULL) {
		goto fail;
	}
	return inv;
fail:
	mtls__inv_close(inv);
	return NULL;
}

void
mtls__inv_close(struct mtls_inv *inv)
{
	if (inv == NULL) {
		return;
	}
	mtls__db_finalize(inv->ins);
	mtls__db_finalize(inv->taken);
	mtls__db_close(inv->db);
	free(inv->txn_serials);
	free(inv);
}

struct mtls_db *
mtls__inv_db(struct mtls_inv *inv)
{
	return inv->db;
}

void
mtls__inv_busy_wait(struct mtls_inv *inv, int ms)
{
	mtls__db_busy_wait(inv->db, ms);
}

int
mtls__inv_begin(struct mtls_inv *inv, struct mtls_err *err)
{
	if (mtls__db_begin(inv->db, err) != 0) {
		return -1;
	}
	inv->txn_len = 0;
	if (inv->txn_serials != NULL) {
		inv->txn_serials[0] = '\0';
	}
	return 0;
}

int
mtls__inv_commit(struct mtls_inv *inv, struct mtls_err *err)
{
	return mtls__db_commit(inv->db, err);
}

void
mtls__inv_rollback(struct mtls_inv *inv)
{
	mtls__db_rollback(inv->db);
}

int
mtls__inv_in_txn(const struct mtls_inv *inv)
{
	return inv->db->in_txn;
}

int
mtls__inv_serial_taken(struct mtls_inv *inv, const char *serial,
    struct mtls_err *err)
{
	int rc;

	mtls__db_reset(inv->taken);
	mtls__db_bind_text(inv->taken, 1, serial);
	rc = mtls__db_step(inv->taken, err);
	mtls__db_reset(inv->taken);
	return rc;
}

static int
inv_note_serial(struct mtls_inv *inv, const char *serial, struct mtls_err *err)
{
	size_t need = inv->txn_len + strlen(serial) + 2;

	if (!inv->db->in_txn) {
		return 0;
	}
	if (need > inv->txn_cap) {
		size_t ncap = need * 2;
		char *n = realloc(inv->txn_serials, ncap);

		if (n == NULL) {
			return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		inv->txn_serials = n;
		inv->txn_cap = ncap;
	}
	inv->txn_len += (size_t)snprintf(inv->txn_serials + inv->txn_len,
	    inv->txn_cap - inv->txn_len, "%s%s", inv->txn_len ? "," : "", serial);
	return 0;
}

const char *
mtls__inv_txn_serials(const struct mtls_inv *inv)
{
	return inv->txn_len ? inv->txn_serials : "";
}

int
mtls__inv_add(struct mtls_inv *inv, const struct mtls_inv_entry *e,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s = inv->ins;
	int rc;

	mtls__db_reset(s);
	mtls__db_bind_text(s, 1, e->serial);
	mtls__db_bind_text(s, 2, e->name);
	mtls__db_bind_text(s, 3, e->subject);
	mtls__db_bind_text(s, 4, e->sans ? e->sans : "");
	mtls__db_bind_text(s, 5, e->profile);
	mtls__db_bind_int64(s, 6, (long long)e->not_before);
	mtls__db_bind_int64(s, 7, (long long)e->not_after);
	mtls__db_bind_text(s, 8, e->sha256);
	mtls__db_bind_int64(s, 9, (long long)time(NULL));
	mtls__db_bind_text(s, 10, e->pem);
	mtls__db_bind_text(s, 11, e->origin ? e->origin : "local");
	rc = mtls__db_step(s, err);
	mtls__db_reset(s);
	if (rc != 0) {
		return -1;
	}
	return inv_note_serial(inv, e->serial, err);
}

#define ENTRY_COLUMNS                                                        \
	"serial,name,subject,sans,profile,not_before,not_after,sha256,status,"  \
	"revoked_at,reason,pem,superseded_by,origin"

/* Runs SQL (selecting ENTRY_COLUMNS, with ?1 bound to ARG1) and calls CB
 * per row; returns CB's non-zero value, -1 on error, else 0; *ROWS gets
 * the number of rows seen. */
static int
inv_query(struct mtls_inv *inv, const char *sql, const char *arg1,
    mtls_inv_cb *cb, void *arg, int *rows, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc, ret = 0;

	*rows = 0;
	s = mtls__db_prepare(inv->db, sql, "querying", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, arg1);
	while ((rc = mtls__db_step(s, err)) == 1) {
		struct mtls_inv_entry e = {
		    .serial = mtls__db_col_text(s, 0),
		    .name = mtls__db_col_text(s, 1),
		    .subject = mtls__db_col_text(s, 2),
		    .sans = mtls__db_col_text(s, 3),
		    .profile = mtls__db_col_text(s, 4),
		    .not_before = (time_t)mtls__db_col_int64(s, 5),
		    .not_after = (time_t)mtls__db_col_int64(s, 6),
		    .sha256 = mtls__db_col_text(s, 7),
		    .status = mtls__db_col_text(s, 8),
		    .revoked_at = (time_t)mtls__db_col_int64(s, 9),
		    .reason = mtls__db_col_text(s, 10),
		    .pem = mtls__db_col_text(s, 11),
		    .superseded_by = mtls__db_col_text(s, 12),
		    .origin = mtls__db_col_text(s, 13),
		};

		(*rows)++;
		ret = cb(&e, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc < 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	return ret;
}

int
mtls__inv_list(struct mtls_inv *inv, const char *name, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	int rows;

	return inv_query(inv, "SELECT " ENTRY_COLUMNS " FROM certs "
	    "WHERE name=?1 OR ?1 IS NULL ORDER BY issued_at, rowid", name, cb,
	    arg, &rows, err);
}

int
mtls__inv_lookup(struct mtls_inv *inv, const char *serial, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	int rows, rc = inv_query(inv, "SELECT " ENTRY_COLUMNS " FROM certs "
	    "WHERE serial=upper(CAST(?1 AS TEXT))", serial, cb, arg, &rows, err);

	if (rc == 0 && rows == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no certificate with serial %s in the inventory", serial);
	}
	return rc;
}

int
mtls__inv_list_revoked(struct mtls_inv *inv, int with_pem, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	/* Only what a CRL or a status check needs: the PEM and the other
	 * text columns would be copied for nothing, a million times. The
	 * PEM only when the caller must tell two issuers apart. */
	int rows;

	return inv_query(inv, with_pem
	    ? "SELECT serial,name,'','','',not_before,not_after,'',status,"
	      "revoked_at,reason,pem,superseded_by,origin FROM certs "
	      "WHERE status='revoked'"
	    : "SELECT serial,name,'','','',not_before,"
	      "not_after,'',status,revoked_at,reason,'',superseded_by,origin FROM certs "
	      "WHERE status='revoked'", NULL, cb, arg, &rows, err);
}

static int
note_revoked(const struct mtls_inv_entry *e, void *arg)
{
	time_t *when = arg;

	*when = strcmp(e->status, "revoked") == 0 ? e->revoked_at : 0;
	return 0;
}

/* Runs a statement that returns no row. */
static int
inv_run(struct mtls_inv *inv, const char *sql, const char *what,
    const char *a1, const char *a2, long long n, struct mtls_err *err)
{
	struct mtls_db_stmt *s = mtls__db_prepare(inv->db, sql, what, err);
	int rc;

	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, a1);
	mtls__db_bind_text(s, 2, a2);
	mtls__db_bind_int64(s, 3, n);
	rc = mtls__db_step(s, err);
	mtls__db_finalize(s);
	return rc < 0 ? -1 : 0;
}

int
mtls__inv_revoke(struct mtls_inv *inv, const char *serial, const char *reason,
    time_t when, struct mtls_err *err)
{
	time_t already = 0;
	char buf[64];

	if (mtls__inv_lookup(inv, serial, note_revoked, &already, err) != 0) {
		return -1;
	}
	if (already != 0) {
		mtls__time_format(already, MTLS__TIME_HUMAN, buf, sizeof(buf));
		return mtls_err_set(err, MTLS_E_EXISTS,
		    "certificate %s was already revoked on %s", serial, buf);
	}
	return inv_run(inv, "UPDATE certs SET status='revoked', revoked_at=?3, "
	    "reason=?2 WHERE serial=upper(CAST(?1 AS TEXT))", "revoking", serial,
	    reason, (long long)when, err);
}

int
mtls__inv_set_superseded(struct mtls_inv *inv, const char *old_serial,
    const char *new_serial, struct mtls_err *err)
{
	return inv_run(inv, "UPDATE certs SET superseded_by=?2 WHERE "
	    "serial=upper(CAST(?1 AS TEXT))", "recording renewal",
	    old_serial, new_serial, 0, err);
}

/* Reads one row of integers from SQL into OUT[0..N). */
static int
inv_ints(struct mtls_inv *inv, const char *sql, const char *what,
    long long *out, int n, struct mtls_err *err)
{
	struct mtls_db_stmt *s = mtls__db_prepare(inv->db, sql, what, err);
	int rc, i;

	if (s == NULL) {
		return -1;
	}
	rc = mtls__db_step(s, err);
	for (i = 0; rc == 1 && i < n; i++) {
		out[i] = mtls__db_col_int64(s, i);
	}
	mtls__db_finalize(s);
	if (rc == 0) {
		return mtls_err_set(err, MTLS_E_IO, "inventory: %s: no row", what);
	}
	return rc == 1 ? 0 : -1;
}

int
mtls__inv_next_crl_number(struct mtls_inv *inv, long long *out,
    struct mtls_err *err)
{
	/* One statement: the row lock (PostgreSQL) or the write lock
	 * (SQLite) orders concurrent CRL builders. */
	return inv_ints(inv, "INSERT INTO meta VALUES('crl_number','1') "
	    "ON CONFLICT(key) DO UPDATE SET value=CAST(CAST(meta.value AS "
	    "INTEGER)+1 AS TEXT) RETURNING CAST(value AS INTEGER)",
	    "taking the next CRL number", out, 1, err);
}

int
mtls__inv_revocation_state(struct mtls_inv *inv, long long *count,
    time_t *latest, struct mtls_err *err)
{
	long long v[2];

	/* certs_status index: no table scan of valid certificates. */
	if (inv_ints(inv, "SELECT count(*), coalesce(max(revoked_at),0) FROM "
		"certs WHERE status='revoked'", "reading revocations", v, 2,
		err) != 0) {
		return -1;
	}
	*count = v[0];
	*latest = (time_t)v[1];
	return 0;
}

int
mtls__inv_name_origins(struct mtls_inv *inv, const char *name, int *local,
    int *partner, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	*local = *partner = 0;
	s = mtls__db_prepare(inv->db, "SELECT CASE WHEN origin='partner' THEN 1 "
	    "ELSE 0 END AS p, count(*) FROM certs WHERE name=?1 GROUP BY p",
	    "looking up a name", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, name);
	while ((rc = mtls__db_step(s, err)) == 1) {
		*(mtls__db_col_int64(s, 0) ? partner : local) =
		    (int)mtls__db_col_int64(s, 1);
	}
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

int
mtls__inv_check_empty(struct mtls_inv *inv, struct mtls_err *err)
{
	long long n = 0;

	if (inv_ints(inv, "SELECT count(*) FROM certs", "counting certificates",
		&n, 1, err) != 0) {
		return -1;
	}
	if (n != 0) {
		return mtls_err_set(err, MTLS_E_EXISTS, "the database %s already "
		    "holds a CA's state (%lld certificates): give each CA a "
		    "database of its own", mtls__db_where(inv->db), n);
	}
	return 0;
}
