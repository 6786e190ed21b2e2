/* see inventory.h */
#include "ca/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "base/clock.h"

/* The schema a new inventory starts from; later versions are reached
 * through the migrations below, so old and new CAs converge. */
#define SCHEMA_VERSION "1"

struct mtls_inv {
	sqlite3 *db;
	sqlite3_stmt *ins;
	sqlite3_stmt *taken;
	int in_txn;
	char *path;
	/* Serials recorded since BEGIN, comma-separated: the intent journal
	 * names what to undo if the files cannot be placed. */
	char *txn_serials;
	size_t txn_len, txn_cap;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS certs("
    " serial TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " sans TEXT NOT NULL DEFAULT '',"
    " profile TEXT NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'valid',"
    " revoked_at INTEGER,"
    " reason TEXT,"
    " superseded_by TEXT,"
    " issued_at INTEGER NOT NULL,"
    " pem TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS certs_name ON certs(name);"
    "CREATE INDEX IF NOT EXISTS certs_not_after ON certs(not_after);"
    "CREATE INDEX IF NOT EXISTS certs_status ON certs(status);"
    "INSERT OR IGNORE INTO meta VALUES('schema', '" SCHEMA_VERSION "');";

/* migrations[i] upgrades schema version i+1 to i+2, once, inside one
 * BEGIN IMMEDIATE transaction with the version bump, so a crash leaves
 * either the old schema or the new one. Append only; never edit. */
static const char *const migrations[] = {
    /* 1 -> 2: one-time enrollment tokens and the audit trail of the
     * online CA. A token is stored as the SHA-256 of its secret only. */
    "CREATE TABLE tokens("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " sans TEXT NOT NULL DEFAULT '',"
    " cert_lifetime INTEGER NOT NULL DEFAULT 0,"
    " hash TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " expires_at INTEGER NOT NULL,"
    " used_at INTEGER,"
    " used_serial TEXT UNIQUE REFERENCES certs(serial),"
    " revoked_at INTEGER);"
    "CREATE INDEX tokens_name ON tokens(name);"
    "CREATE TABLE audit("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '',"
    " serial TEXT NOT NULL DEFAULT '',"
    " outcome TEXT NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '');",
    /* 2 -> 3: who holds each certificate's key ('local': we made it;
     * 'partner': signed from a partner's CSR, so never re-keyed here),
     * and the named signing policies partner CSRs are signed under. */
    "ALTER TABLE certs ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';"
    "CREATE TABLE policies("
    " name TEXT PRIMARY KEY,"
    " profile TEXT NOT NULL,"
    " subject TEXT NOT NULL DEFAULT '',"
    " subject_allow TEXT NOT NULL DEFAULT '',"
    " sans TEXT NOT NULL DEFAULT '',"
    " san_allow TEXT NOT NULL DEFAULT '',"
    " days INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL);",
    /* 3 -> 4: the intent journal. A row is committed with the
     * certificates it names, before their files are moved into place,
     * and deleted once they are; a row still here after a crash tells
     * the next command which files to place (or which serials to undo).
     * FILES holds "DEST<TAB>TEMP" lines. */
    "CREATE TABLE journal("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER NOT NULL,"
    " what TEXT NOT NULL,"
    " serials TEXT NOT NULL DEFAULT '',"
    " force INTEGER NOT NULL DEFAULT 0,"
    " files TEXT NOT NULL);",
    /* 4 -> 5: the ACME server (RFC 8555). External account binding keys
     * (the HMAC key is kept: the server recomputes the MAC), account keys
     * by JWK thumbprint, accounts/orders/authorizations as JSON documents
     * with the columns queries need, and which account got which
     * certificate. */
    "CREATE TABLE acme_eab("
    " kid TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " hmac TEXT NOT NULL,"
    " allow TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL,"
    " account TEXT UNIQUE,"
    " revoked_at INTEGER);"
    "CREATE TABLE acme_objects("
    " kind TEXT NOT NULL,"
    " id TEXT NOT NULL,"
    " account TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " doc TEXT NOT NULL,"
    " PRIMARY KEY(kind, id));"
    "CREATE INDEX acme_objects_account ON acme_objects(account, kind, created_at);"
    "CREATE TABLE acme_keys("
    " thumbprint TEXT PRIMARY KEY,"
    " account TEXT NOT NULL);"
    "CREATE TABLE acme_certs("
    " serial TEXT PRIMARY KEY REFERENCES certs(serial),"
    " account TEXT NOT NULL,"
    " order_id TEXT NOT NULL);",
};

#define SCHEMA_LATEST ((long)MTLS_ARRAY_LEN(migrations) + 1)

/* SQLite's "disk I/O error" and "database disk image is malformed" say
 * nothing about what to do: name the cause and the remedy. */
static int
inv_fail(struct mtls_inv *inv, const char *what, const char *msg,
    struct mtls_err *err)
{
	int saved = errno; /* SQLite does not always keep it (fsync paths) */
	int code = sqlite3_extended_errcode(inv->db) & 0xff;
	int sys = sqlite3_system_errno(inv->db);

	if (code == SQLITE_IOERR && sys == 0) {
		sys = saved;
	}
	const char *path = inv->path ? inv->path : "";

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
	return mtls_err_set(err, MTLS_E_IO, "inventory: %s: %s", what, msg);
}

static int
db_fail(struct mtls_inv *inv, const char *what, struct mtls_err *err)
{
	return inv_fail(inv, what, sqlite3_errmsg(inv->db), err);
}

int
mtls__inv_fail(struct mtls_inv *inv, const char *what, struct mtls_err *err)
{
	return db_fail(inv, what, err);
}

static int
inv_exec(struct mtls_inv *inv, const char *sql, struct mtls_err *err)
{
	char *msg = NULL;
	char what[40];

	if (sqlite3_exec(inv->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(what, sizeof(what), "%.24s", sql);
		inv_fail(inv, what, msg ? msg : sqlite3_errmsg(inv->db), err);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static long
schema_version(struct mtls_inv *inv)
{
	sqlite3_stmt *s = NULL;
	long v = -1;

	if (sqlite3_prepare_v2(inv->db, "SELECT CAST(value AS INTEGER) FROM "
		"meta WHERE key='schema'", -1, &s, NULL) != SQLITE_OK) {
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		v = (long)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return v;
}

/* Brings the schema to SCHEMA_LATEST. The version is read again under the
 * write lock: two processes opening an old inventory at once migrate it
 * once. A schema newer than ours is refused rather than misread. */
static int
inv_migrate(struct mtls_inv *inv, const char *path, struct mtls_err *err)
{
	char sql[64];
	long v = schema_version(inv);

	if (v == SCHEMA_LATEST) {
		return 0;
	}
	if (v > SCHEMA_LATEST) {
		return mtls_err_set(err, MTLS_E_FORMAT, "inventory %s has schema "
		    "version %ld, newer than this mtls knows (%ld): upgrade mtls",
		    path, v, SCHEMA_LATEST);
	}
	if (mtls__inv_begin(inv, err) != 0) {
		return -1;
	}
	v = schema_version(inv);
	if (v < 1) {
		mtls__inv_rollback(inv);
		return mtls_err_set(err, MTLS_E_FORMAT, "%s is not an mtls "
		    "inventory (no schema version)", path);
	}
	for (; v < SCHEMA_LATEST; v++) {
		snprintf(sql, sizeof(sql), "UPDATE meta SET value='%ld' WHERE "
		    "key='schema'", v + 1);
		if (inv_exec(inv, migrations[v - 1], err) != 0 ||
		    inv_exec(inv, sql, err) != 0) {
			mtls__inv_rollback(inv);
			return -1;
		}
	}
	return mtls__inv_commit(inv, err);
}

struct mtls_inv *
mtls__inv_open(const char *path, int create, struct mtls_err *err)
{
	struct mtls_inv *inv = calloc(1, sizeof(*inv));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
	    (create ? SQLITE_OPEN_CREATE : 0);

	if (inv == NULL || (inv->path = strdup(path)) == NULL) {
		free(inv);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &inv->db, flags, NULL) != SQLITE_OK) {
		mtls_err_set(err, MTLS_E_IO, "cannot open inventory %s: %s",
		    path, inv->db ? sqlite3_errmsg(inv->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(inv->db, 10000);
	/* WAL: readers never block the writer; FULL: a committed issuance
	 * survives power loss, and batches pay one sync per commit. */
	/* The schema is written only when creating: INSERT OR IGNORE takes
	 * the write lock, so running it on every open made readers (mtls
	 * list, a second issuer) wait for, and then fail behind, a batch in
	 * progress. */
	if (inv_exec(inv, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
		"PRAGMA foreign_keys=ON;",
		err) != 0 ||
	    (create && inv_exec(inv, schema, err) != 0) ||
	    inv_migrate(inv, path, err) != 0) {
		goto fail;
	}
	if (sqlite3_prepare_v2(inv->db,
		"INSERT INTO certs(serial,name,subject,sans,profile,not_before,"
		"not_after,sha256,status,issued_at,pem,origin) "
		"VALUES(?,?,?,?,?,?,?,?,'valid',strftime('%s','now'),?,?)",
		-1, &inv->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(inv->db, "SELECT 1 FROM certs WHERE serial=?",
		-1, &inv->taken, NULL) != SQLITE_OK) {
		db_fail(inv, "preparing statements", err);
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
	if (inv->in_txn) {
		sqlite3_exec(inv->db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_finalize(inv->ins);
	sqlite3_finalize(inv->taken);
	sqlite3_close(inv->db);
	free(inv->txn_serials);
	free(inv->path);
	free(inv);
}

sqlite3 *
mtls__inv_db(struct mtls_inv *inv)
{
	return inv->db;
}

void
mtls__inv_busy_wait(struct mtls_inv *inv, int ms)
{
	sqlite3_busy_timeout(inv->db, ms);
}

int
mtls__inv_begin(struct mtls_inv *inv, struct mtls_err *err)
{
	if (inv_exec(inv, "BEGIN IMMEDIATE", err) != 0) {
		return -1;
	}
	inv->in_txn = 1;
	inv->txn_len = 0;
	if (inv->txn_serials != NULL) {
		inv->txn_serials[0] = '\0';
	}
	return 0;
}

int
mtls__inv_commit(struct mtls_inv *inv, struct mtls_err *err)
{
	if (inv_exec(inv, "COMMIT", err) != 0) {
		mtls__inv_rollback(inv);
		return -1;
	}
	inv->in_txn = 0;
	return 0;
}

void
mtls__inv_rollback(struct mtls_inv *inv)
{
	if (inv->in_txn) {
		sqlite3_exec(inv->db, "ROLLBACK", NULL, NULL, NULL);
		inv->in_txn = 0;
	}
}

int
mtls__inv_in_txn(const struct mtls_inv *inv)
{
	return inv->in_txn;
}

int
mtls__inv_serial_taken(struct mtls_inv *inv, const char *serial,
    struct mtls_err *err)
{
	int rc;

	sqlite3_reset(inv->taken);
	sqlite3_bind_text(inv->taken, 1, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(inv->taken);
	sqlite3_reset(inv->taken);
	if (rc == SQLITE_ROW) {
		return 1;
	}
	if (rc == SQLITE_DONE) {
		return 0;
	}
	return db_fail(inv, "looking up a serial", err);
}

static int
inv_note_serial(struct mtls_inv *inv, const char *serial, struct mtls_err *err)
{
	size_t need = inv->txn_len + strlen(serial) + 2;

	if (!inv->in_txn) {
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
	sqlite3_stmt *s = inv->ins;
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, e->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, e->sans ? e->sans : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, e->profile, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)e->not_before);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)e->not_after);
	sqlite3_bind_text(s, 8, e->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, e->pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, e->origin ? e->origin : "local", -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		return db_fail(inv, "recording a certificate", err);
	}
	return inv_note_serial(inv, e->serial, err);
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
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
	sqlite3_stmt *s = NULL;
	int rc, ret = 0;

	*rows = 0;
	if (sqlite3_prepare_v2(inv->db, sql, -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "querying", err);
	}
	sqlite3_bind_text(s, 1, arg1, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct mtls_inv_entry e = {
		    .serial = col_text(s, 0),
		    .name = col_text(s, 1),
		    .subject = col_text(s, 2),
		    .sans = col_text(s, 3),
		    .profile = col_text(s, 4),
		    .not_before = (time_t)sqlite3_column_int64(s, 5),
		    .not_after = (time_t)sqlite3_column_int64(s, 6),
		    .sha256 = col_text(s, 7),
		    .status = col_text(s, 8),
		    .revoked_at = (time_t)sqlite3_column_int64(s, 9),
		    .reason = col_text(s, 10),
		    .pem = col_text(s, 11),
		    .superseded_by = col_text(s, 12),
		    .origin = col_text(s, 13),
		};

		(*rows)++;
		ret = cb(&e, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		ret = db_fail(inv, "querying", err);
	}
	sqlite3_finalize(s);
	return ret;
}

int
mtls__inv_list(struct mtls_inv *inv, const char *name, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	int rows;

	return inv_query(inv, "SELECT " ENTRY_COLUMNS " FROM certs "
	    "WHERE ?1 IS NULL OR name=?1 ORDER BY issued_at, rowid", name, cb, arg,
	    &rows, err);
}

int
mtls__inv_lookup(struct mtls_inv *inv, const char *serial, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	int rows, rc = inv_query(inv, "SELECT " ENTRY_COLUMNS " FROM certs "
	    "WHERE serial=upper(?1)", serial, cb, arg, &rows, err);

	if (rc == 0 && rows == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no certificate with serial %s in the inventory", serial);
	}
	return rc;
}

int
mtls__inv_list_revoked(struct mtls_inv *inv, mtls_inv_cb *cb, void *arg,
    struct mtls_err *err)
{
	/* Only what a CRL or a status check needs: the PEM and the other
	 * text columns would be copied for nothing, a million times. */
	int rows;

	return inv_query(inv, "SELECT serial,name,'','','',not_before,"
	    "not_after,'',status,revoked_at,reason,'',superseded_by,origin FROM certs "
	    "WHERE status='revoked' AND ?1 IS NULL", NULL, cb, arg, &rows, err);
}

static int
note_revoked(const struct mtls_inv_entry *e, void *arg)
{
	time_t *when = arg;

	*when = strcmp(e->status, "revoked") == 0 ? e->revoked_at : 0;
	return 0;
}

int
mtls__inv_revoke(struct mtls_inv *inv, const char *serial, const char *reason,
    time_t when, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
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
	if (sqlite3_prepare_v2(inv->db, "UPDATE certs SET status='revoked', "
		"revoked_at=?2, reason=?3 WHERE serial=upper(?1)", -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "revoking", err);
	}
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)when);
	sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sqlite3_finalize(s);
		return db_fail(inv, "revoking", err);
	}
	sqlite3_finalize(s);
	return 0;
}

int
mtls__inv_set_superseded(struct mtls_inv *inv, const char *old_serial,
    const char *new_serial, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(inv->db, "UPDATE certs SET superseded_by=?2 "
		"WHERE serial=upper(?1)", -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "recording renewal", err);
	}
	sqlite3_bind_text(s, 1, old_serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, new_serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(inv, "recording renewal", err);
}

int
mtls__inv_next_crl_number(struct mtls_inv *inv, long long *out,
    struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (inv_exec(inv, "INSERT INTO meta VALUES('crl_number','1') "
		"ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1", err) != 0) {
		return -1;
	}
	if (sqlite3_prepare_v2(inv->db, "SELECT CAST(value AS INTEGER) FROM meta "
		"WHERE key='crl_number'", -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "reading the CRL number", err);
	}
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_fail(inv, "reading the CRL number", err);
}

int
mtls__inv_revocation_state(struct mtls_inv *inv, long long *count,
    time_t *latest, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	/* certs_status index: no table scan of valid certificates. */
	if (sqlite3_prepare_v2(inv->db, "SELECT count(*), coalesce(max(revoked_at),"
		"0) FROM certs WHERE status='revoked'", -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "reading revocations", err);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(s, 0);
		*latest = (time_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_fail(inv, "reading revocations", err);
}

int
mtls__inv_name_origins(struct mtls_inv *inv, const char *name, int *local,
    int *partner, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*local = *partner = 0;
	if (sqlite3_prepare_v2(inv->db, "SELECT origin='partner', count(*) FROM "
		"certs WHERE name=?1 GROUP BY origin='partner'", -1, &s, NULL) != SQLITE_OK) {
		return db_fail(inv, "looking up a name", err);
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*(sqlite3_column_int(s, 0) ? partner : local) = sqlite3_column_int(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(inv, "looking up a name", err);
}
