/* ca/db.c and its engines: the same table of cases on SQLite and, when
 * $MTLS_TEST_PG_URL names a database (tests/unit/with_pg.sh starts one),
 * on PostgreSQL: placeholders, binding, NULLs, affected rows, UNIQUE
 * violations as MTLS_E_EXISTS, rollback, a guarded UPDATE that only one
 * of two connections wins, the schema migrated and the CRL number
 * shared, passwords refused in URLs, an unreachable server as
 * MTLS_E_BUSY; and migrate-db's copy list covering every table and column
 * of the latest SQLite schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca/db.h"
#include "ca/inventory.h"

struct fx {
	char where[300];
	char dir[64];
};

static int
setup_sqlite(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/mtls-db-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->where, sizeof(f->where), "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int
setup_pg(void **state)
{
	const char *url = getenv("MTLS_TEST_PG_URL");
	struct fx *f;

	if (url == NULL || *url == '\0') {
		*state = NULL;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	snprintf(f->where, sizeof(f->where), "%s", url);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (f != NULL && f->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

static struct mtls_db *
open_db(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	struct mtls_db *db;

	if (f == NULL) {
		skip(); /* no PostgreSQL for this run */
	}
	db = mtls__db_open(f->where, NULL, MTLS_DB_CREATE, &e);
	if (db == NULL) {
		fail_msg("open %s: %s", f->where, e.msg);
	}
	return db;
}

static void
exec_ok(struct mtls_db *db, const char *sql)
{
	struct mtls_err e;

	if (mtls__db_exec(db, sql, "test", &e) != 0) {
		fail_msg("%s: %s", sql, e.msg);
	}
}

static void
test_bind_step_columns(void **state)
{
	struct mtls_db *db = open_db(state);
	struct mtls_db_stmt *s;
	struct mtls_err e;

	exec_ok(db, "DROP TABLE IF EXISTS t; CREATE TABLE t(k TEXT PRIMARY KEY, "
	    "n BIGINT, x TEXT)");
	s = mtls__db_prepare(db, "INSERT INTO t(k,n,x) VALUES(?,?,?)", "insert", &e);
	assert_non_null(s);
	mtls__db_bind_text(s, 1, "a'?b");
	mtls__db_bind_int64(s, 2, 9007199254740993LL);
	mtls__db_bind_null(s, 3);
	assert_int_equal(mtls__db_step(s, &e), 0);
	assert_int_equal(mtls__db_changes(s), 1);
	mtls__db_reset(s);
	mtls__db_bind_text(s, 1, "a'?b");
	mtls__db_bind_int64(s, 2, 1);
	mtls__db_bind_text(s, 3, "y");
	assert_int_equal(mtls__db_step(s, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS); /* the PRIMARY KEY decides */
	mtls__db_finalize(s);

	/* '?N' numbered placeholders, one used twice; a '?' in a literal. */
	s = mtls__db_prepare(db, "SELECT k, n, x, '?' FROM t WHERE k=?1 OR "
	    "?1 IS NULL", "select", &e);
	assert_non_null(s);
	mtls__db_bind_text(s, 1, "a'?b");
	assert_int_equal(mtls__db_step(s, &e), 1);
	assert_string_equal(mtls__db_col_text(s, 0), "a'?b");
	assert_true(mtls__db_col_int64(s, 1) == 9007199254740993LL);
	assert_true(mtls__db_col_is_null(s, 2));
	assert_null(mtls__db_col_text(s, 2));
	assert_string_equal(mtls__db_col_text(s, 3), "?");
	assert_int_equal(mtls__db_step(s, &e), 0);
	mtls__db_finalize(s);
	mtls__db_close(db);
}

static void
test_rollback_and_guarded_update(void **state)
{
	struct mtls_db *db = open_db(state), *db2 = open_db(state);
	struct mtls_db_stmt *s;
	struct mtls_err e;
	const char *upd = "UPDATE t SET n=1 WHERE k='tok' AND n=0";

	exec_ok(db, "DROP TABLE IF EXISTS t; CREATE TABLE t(k TEXT PRIMARY KEY, "
	    "n BIGINT)");
	assert_int_equal(mtls__db_begin(db, &e), 0);
	exec_ok(db, "INSERT INTO t VALUES('gone', 0)");
	mtls__db_rollback(db);
	exec_ok(db, "INSERT INTO t VALUES('tok', 0)");
	s = mtls__db_prepare(db, "SELECT count(*) FROM t", "count", &e);
	assert_int_equal(mtls__db_step(s, &e), 1);
	assert_int_equal(mtls__db_col_int64(s, 0), 1); /* rolled back */
	mtls__db_finalize(s);

	/* The single-use guard: two connections, one change. */
	s = mtls__db_prepare(db, upd, "use", &e);
	assert_int_equal(mtls__db_step(s, &e), 0);
	assert_int_equal(mtls__db_changes(s), 1);
	mtls__db_finalize(s);
	s = mtls__db_prepare(db2, upd, "use", &e);
	assert_int_equal(mtls__db_step(s, &e), 0);
	assert_int_equal(mtls__db_changes(s), 0);
	mtls__db_finalize(s);
	mtls__db_close(db2);
	mtls__db_close(db);
}

static void
test_inventory_schema_and_crl_number(void **state)
{
	struct fx *f = *state;
	struct mtls_inv *a, *b;
	struct mtls_err e;
	long long n1 = 0, n2 = 0, n3 = 0;

	if (f == NULL) {
		skip();
	}
	a = mtls__inv_open(f->where, NULL, 1, &e);
	if (a == NULL) {
		fail_msg("inv_open: %s", e.msg);
	}
	b = mtls__inv_open(f->where, NULL, 0, &e); /* migrated already */
	assert_non_null(b);
	assert_int_equal(mtls__inv_next_crl_number(a, &n1, &e), 0);
	assert_int_equal(mtls__inv_next_crl_number(b, &n2, &e), 0);
	assert_int_equal(mtls__inv_next_crl_number(a, &n3, &e), 0);
	assert_true(n2 == n1 + 1 && n3 == n2 + 1);
	mtls__inv_close(b);
	mtls__inv_close(a);
}

/* The latest SQLite inventory passes migrate-db's coverage guard; a table
 * or a column a future migration adds without a copy-list entry fails it,
 * named. */
static void
test_migrate_copies_every_table(void **state)
{
	struct fx *f = *state;
	struct mtls_inv *inv;
	struct mtls_db *db;
	struct mtls_err e;

	inv = mtls__inv_open(f->where, NULL, 1, &e);
	if (inv == NULL) {
		fail_msg("inv_open: %s", e.msg);
	}
	db = mtls__inv_db(inv);
	if (mtls__migrate_check_tables(db, &e) != 0) {
		fail_msg("latest schema not covered: %s", e.msg);
	}
	exec_ok(db, "ALTER TABLE deployments ADD COLUMN owner TEXT");
	assert_int_equal(mtls__migrate_check_tables(db, &e), -1);
	assert_int_equal(e.code, MTLS_E_INTERNAL);
	assert_non_null(strstr(e.msg, "deployments.owner"));
	exec_ok(db, "ALTER TABLE deployments DROP COLUMN owner");
	assert_int_equal(mtls__migrate_check_tables(db, &e), 0);
	exec_ok(db, "CREATE TABLE crl_shards(id INTEGER)");
	assert_int_equal(mtls__migrate_check_tables(db, &e), -1);
	assert_non_null(strstr(e.msg, "table crl_shards"));
	mtls__inv_close(inv);
}

static void
test_url_password_refused(void **state)
{
	struct mtls_err e;

	(void)state;
	assert_null(mtls__db_open("postgresql://u:secret@127.0.0.1:1/x", NULL, 0,
	    &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
	assert_null(strstr(e.msg, "secret"));
	assert_null(mtls__db_open("postgresql://u@127.0.0.1/x?password=s3", NULL,
	    0, &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
}

static void
test_unreachable_is_busy(void **state)
{
	struct mtls_err e;

	(void)state;
	/* Port 1 on loopback: nothing listens, the refusal is immediate. */
	assert_null(mtls__db_open("postgresql://u@127.0.0.1:1/x", NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_BUSY);
	assert_non_null(strstr(e.msg, "is PostgreSQL running"));
	assert_null(strchr(e.msg, '\n'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bind_step_columns, setup_sqlite,
		teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_and_guarded_update,
		setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_inventory_schema_and_crl_number,
		setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_step_columns, setup_pg,
		teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_and_guarded_update,
		setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_inventory_schema_and_crl_number,
		setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_copies_every_table,
		setup_sqlite, teardown),
	    cmocka_unit_test(test_url_password_refused),
	    cmocka_unit_test(test_unreachable_is_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
