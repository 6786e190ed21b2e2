/* see inventory.h: the inventory's schema on each engine and the
 * versioned migrations that bring an existing database up to date. */
#include <stdio.h>
#include <string.h>

#include "ca/inventory.h"
#include "base/internal.h"

/* The schema a new SQLite inventory starts from; later versions are
 * reached through the migrations below, so old and new CAs converge. */
#define SCHEMA_VERSION "1"

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
    /* 5 -> 6: where each identity was deployed and in which format, so
     * renew and rotate rewrite every copy (keystores, bundles), not only
     * NAME.key/.crt/.chain.pem. ARGS holds the options that rewrite it,
     * tab-separated; never a literal password. */
    "CREATE TABLE deployments("
    " name TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " args TEXT NOT NULL DEFAULT '',"
    " recorded_at INTEGER NOT NULL,"
    " PRIMARY KEY(name, path));",
    /* 6 -> 7: the certificate policy OIDs (comma-separated) a signing
     * policy gives a partner's certificate. */
    "ALTER TABLE policies ADD COLUMN cert_policies TEXT NOT NULL DEFAULT '';",
};

#define SCHEMA_LATEST ((long)MTLS_ARRAY_LEN(migrations) + 1)

/* PostgreSQL starts at the SQLite schema's version PG_BASE, in one piece
 * (times as BIGINT, AUTOINCREMENT as BIGSERIAL). Tables listed in a
 * stable order (certificates, tokens, EAB keys) carry a ROWID column, so
 * one ORDER BY ... rowid serves both engines. The journal names the host
 * and CA directory that wrote each row: several instances share one
 * database, and each finishes only its own interrupted commands. */
#define PG_BASE 5
static const char pg_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE certs("
    " rowid BIGSERIAL UNIQUE,"
    " serial TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " sans TEXT NOT NULL DEFAULT '',"
    " profile TEXT NOT NULL,"
    " not_before BIGINT NOT NULL,"
    " not_after BIGINT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'valid',"
    " revoked_at BIGINT,"
    " reason TEXT,"
    " superseded_by TEXT,"
    " issued_at BIGINT NOT NULL,"
    " pem TEXT NOT NULL,"
    " origin TEXT NOT NULL DEFAULT 'local');"
    "CREATE INDEX certs_name ON certs(name);"
    "CREATE INDEX certs_not_after ON certs(not_after);"
    "CREATE INDEX certs_status ON certs(status);"
    "CREATE TABLE tokens("
    " rowid BIGSERIAL UNIQUE,"
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " sans TEXT NOT NULL DEFAULT '',"
    " cert_lifetime BIGINT NOT NULL DEFAULT 0,"
    " hash TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " expires_at BIGINT NOT NULL,"
    " used_at BIGINT,"
    " used_serial TEXT UNIQUE REFERENCES certs(serial),"
    " revoked_at BIGINT);"
    "CREATE INDEX tokens_name ON tokens(name);"
    "CREATE TABLE audit("
    " id BIGSERIAL PRIMARY KEY,"
    " at BIGINT NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '',"
    " serial TEXT NOT NULL DEFAULT '',"
    " outcome TEXT NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE policies("
    " name TEXT PRIMARY KEY,"
    " profile TEXT NOT NULL,"
    " subject TEXT NOT NULL DEFAULT '',"
    " subject_allow TEXT NOT NULL DEFAULT '',"
    " sans TEXT NOT NULL DEFAULT '',"
    " san_allow TEXT NOT NULL DEFAULT '',"
    " days BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL);"
    "CREATE TABLE journal("
    " id BIGSERIAL PRIMARY KEY,"
    " at BIGINT NOT NULL,"
    " what TEXT NOT NULL,"
    " serials TEXT NOT NULL DEFAULT '',"
    " force INTEGER NOT NULL DEFAULT 0,"
    " files TEXT NOT NULL,"
    " host TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE acme_eab("
    " rowid BIGSERIAL UNIQUE,"
    " kid TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " hmac TEXT NOT NULL,"
    " allow TEXT NOT NULL DEFAULT '',"
    " created_at BIGINT NOT NULL,"
    " account TEXT UNIQUE,"
    " revoked_at BIGINT);"
    "CREATE TABLE acme_objects("
    " kind TEXT NOT NULL,"
    " id TEXT NOT NULL,"
    " account TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL DEFAULT 0,"
    " doc TEXT NOT NULL,"
    " PRIMARY KEY(kind, id));"
    "CREATE INDEX acme_objects_account ON acme_objects(account, kind, created_at);"
    "CREATE TABLE acme_keys("
    " thumbprint TEXT PRIMARY KEY,"
    " account TEXT NOT NULL);"
    "CREATE TABLE acme_certs("
    " serial TEXT PRIMARY KEY REFERENCES certs(serial),"
    " account TEXT NOT NULL,"
    " order_id TEXT NOT NULL);";

/* pg_migrations[i] upgrades PostgreSQL from PG_BASE+i to PG_BASE+i+1; the
 * PostgreSQL twin of each SQLite migration after PG_BASE. Append only. */
static const char *const pg_migrations[] = {
    /* 5 -> 6: the deployment record (see migrations[4]). */
    "CREATE TABLE deployments("
    " rowid BIGSERIAL UNIQUE,"
    " name TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " args TEXT NOT NULL DEFAULT '',"
    " recorded_at BIGINT NOT NULL,"
    " PRIMARY KEY(name, path));",
    /* 6 -> 7: signing policies' certificate policies (migrations[5]). */
    "ALTER TABLE policies ADD COLUMN cert_policies TEXT NOT NULL DEFAULT '';",
};
#define PG_LATEST ((long)PG_BASE + (long)MTLS_ARRAY_LEN(pg_migrations))

/* The schema version recorded in META; 0 when there is none yet (a new
 * PostgreSQL database), -1 when it cannot be read. */
static long
schema_version(struct mtls_db *db)
{
	struct mtls_db_stmt *s = NULL;
	struct mtls_err e;
	long v = -1;
	int rc;

	mtls_err_clear(&e);
	s = mtls__db_prepare(db, "SELECT CAST(value AS INTEGER) FROM meta "
	    "WHERE key='schema'", "reading the schema version", &e);
	if (s == NULL) {
		return -1;
	}
	rc = mtls__db_step(s, &e);
	if (rc == 1) {
		v = (long)mtls__db_col_int64(s, 0);
	} else if (rc == 0) {
		v = 0;
	}
	mtls__db_finalize(s);
	return v;
}

static int
set_version(struct mtls_db *db, long v, struct mtls_err *err)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "UPDATE meta SET value='%ld' WHERE "
	    "key='schema'", v);
	return mtls__db_exec(db, sql, "recording the schema version", err);
}

static int
newer(const char *where, long v, long latest, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_FORMAT, "inventory %s has schema "
	    "version %ld, newer than this mtls knows (%ld): upgrade mtls",
	    where, v, latest);
}

/* SQLite: the version is read again under the write lock, so two
 * processes opening an old inventory at once migrate it once. Each step
 * commits with its version bump: a crash leaves old or new, never half. */
static int
migrate_sqlite(struct mtls_db *db, int create, struct mtls_err *err)
{
	const char *where = mtls__db_where(db);
	long v;

	if (create && mtls__db_exec(db, schema, "creating the schema", err) != 0) {
		return -1;
	}
	v = schema_version(db);
	if (v == SCHEMA_LATEST) {
		return 0;
	}
	if (v > SCHEMA_LATEST) {
		return newer(where, v, SCHEMA_LATEST, err);
	}
	if (mtls__db_begin(db, err) != 0) {
		return -1;
	}
	v = schema_version(db);
	if (v < 1) {
		mtls__db_rollback(db);
		return mtls_err_set(err, MTLS_E_FORMAT, "%s is not an mtls "
		    "inventory (no schema version)", where);
	}
	for (; v < SCHEMA_LATEST; v++) {
		if (mtls__db_exec(db, migrations[v - 1], "migrating", err) != 0 ||
		    set_version(db, v + 1, err) != 0) {
			mtls__db_rollback(db);
			return -1;
		}
	}
	return mtls__db_commit(db, err);
}

/* PostgreSQL: DDL is transactional, and an advisory lock makes
 * instances starting together on a new database create it once. */
static int
migrate_pg(struct mtls_db *db, struct mtls_err *err)
{
	long v = schema_version(db);

	if (v == PG_LATEST) {
		return 0;
	}
	if (v > PG_LATEST) {
		return newer(mtls__db_where(db), v, PG_LATEST, err);
	}
	if (mtls__db_begin(db, err) != 0 ||
	    mtls__db_exec(db, "SELECT pg_advisory_xact_lock(7271001);"
		"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)",
		"locking the schema", err) != 0) {
		mtls__db_rollback(db);
		return -1;
	}
	v = schema_version(db);
	if (v <= 0) {
		if (mtls__db_exec(db, pg_schema, "creating the schema", err) != 0 ||
		    mtls__db_exec(db, "INSERT INTO meta VALUES('schema','5')",
			"recording the schema version", err) != 0) {
			mtls__db_rollback(db);
			return -1;
		}
		v = PG_BASE;
	}
	for (; v < PG_LATEST; v++) {
		if (mtls__db_exec(db, pg_migrations[v - PG_BASE], "migrating",
			err) != 0 || set_version(db, v + 1, err) != 0) {
			mtls__db_rollback(db);
			return -1;
		}
	}
	return mtls__db_commit(db, err);
}

int
mtls__inv_migrate(struct mtls_db *db, int create, struct mtls_err *err)
{
	if (mtls__db_engine(db) == MTLS_DB_PG) {
		return migrate_pg(db, err);
	}
	return migrate_sqlite(db, create, err);
}
