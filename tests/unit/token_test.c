/* token.c and the inventory migration: tokens made, found, judged,
 * consumed once, revoked; audit events; a version 1 inventory upgraded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "mtls/pass.h"
#include "mtls/token.h"
#include "test_pki.h"
#include "ca/token_int.h"

static int
setup(void **state)
{
	return test_ca_fx_setup(state, "CN=Token CA");
}

static int
teardown(void **state)
{
	return test_ca_fx_teardown(state);
}

static char *
make(struct mtls_ca *ca, const char *name, const char *sans, long ttl,
    char id[MTLS_TOKEN_ID_LEN])
{
	struct mtls_token_spec sp;
	struct mtls_err e;
	char *secret = NULL;

	memset(&sp, 0, sizeof(sp));
	sp.name = name;
	sp.profile = MTLS_PROFILE_NODE;
	sp.sans = sans;
	sp.ttl = ttl;
	sp.created_by = "unit test";
	if (mtls_token_create(ca, &sp, id, &secret, &e) != 0) {
		fail_msg("mtls_token_create %s: %s", name, e.msg);
	}
	return secret;
}

static void
test_secret_shape_and_hash_only(void **state)
{
	struct test_ca_fx *f = *state;
	char id[MTLS_TOKEN_ID_LEN], sql[200];
	char *secret = make(f->ca, "node1", NULL, 600, id);
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	size_t i;

	assert_int_equal(strlen(secret), 43);
	assert_int_equal(strlen(id), 16);
	for (i = 0; i < 43; i++) {
		assert_true(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_", secret[i]) != NULL);
	}
	/* The secret itself is nowhere in the database. */
	assert_int_equal(sqlite3_open(test_path(f->dir, "inventory.db"), &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE hash=?1 OR "
	    "id=?1 OR sans LIKE '%%'||?1||'%%'");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, secret, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	mtls_pass_free(secret);
}

static void
test_find_by_name_and_id(void **state)
{
	struct test_ca_fx *f = *state;
	char id[MTLS_TOKEN_ID_LEN], id2[MTLS_TOKEN_ID_LEN];
	char *a = make(f->ca, "node1", "dns:node1,ip:10.0.0.1", 600, id);
	char *b = make(f->ca, "node1", NULL, 600, id2);
	struct mtls_token t;
	struct mtls_err e;

	assert_int_equal(mtls__token_find(f->ca, "node1", a, &t, &e), 0);
	assert_string_equal(t.id, id);
	assert_string_equal(t.sans, "dns:node1,ip:10.0.0.1");
	assert_int_equal(mtls__token_find(f->ca, id2, b, &t, &e), 0);
	assert_string_equal(t.id, id2);
	assert_string_equal(t.sans, "dns:node1");
	assert_string_equal(t.profile, "node");
	/* A's secret under B's id, another name, a wrong secret. */
	assert_int_equal(mtls__token_find(f->ca, id2, a, &t, &e), -1);
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_int_equal(mtls__token_find(f->ca, "node2", a, &t, &e), -1);
	assert_int_equal(mtls__token_find(f->ca, "node1", "x", &t, &e), -1);
	mtls_pass_free(a);
	mtls_pass_free(b);
}

static void
test_usable_states(void **state)
{
	struct mtls_token t;
	struct mtls_err e;
	time_t now = 1000000;
	static const struct {
		time_t used, revoked, expires;
		const char *want; /* NULL: usable */
	} rows[] = {
	    {0, 0, 1000001, NULL},
	    {0, 0, 1000000, "expired"},
	    {5, 0, 2000000, "already used"},
	    {0, 5, 2000000, "revoked"},
	    {5, 5, 1, "already used"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&t, 0, sizeof(t));
		strcpy(t.id, "abc");
		t.used_at = rows[i].used;
		t.revoked_at = rows[i].revoked;
		t.expires_at = rows[i].expires;
		mtls_err_clear(&e);
		if (rows[i].want == NULL) {
			assert_int_equal(mtls__token_usable(&t, now, &e), 0);
		} else {
			assert_int_equal(mtls__token_usable(&t, now, &e), -1);
			assert_int_equal(e.code, MTLS_E_POLICY);
			assert_non_null(strstr(e.msg, rows[i].want));
		}
	}
}

/* Consumed once, only with its certificate, inside one transaction. */
static void
test_consume_once_with_certificate(void **state)
{
	struct test_ca_fx *f = *state;
	char id[MTLS_TOKEN_ID_LEN], *serial;
	char *secret = make(f->ca, "n", NULL, 600, id);
	struct mtls_token t;
	struct mtls_err e;
	X509 *x;

	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	x = test_sign(f->ca, "n", MTLS_PROFILE_NODE, "dns:n", f->key, 1, 0);
	serial = mtls_cert_serial_hex(x);
	assert_int_equal(mtls__token_consume(f->ca, id, serial, time(NULL), &e), 0);
	/* A second redemption in the same transaction changes nothing. */
	assert_int_equal(mtls__token_consume(f->ca, id, serial, time(NULL), &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_int_equal(mtls_ca_commit(f->ca, &e), 0);
	assert_int_equal(mtls__token_find(f->ca, "n", secret, &t, &e), 0);
	assert_string_equal(t.used_serial, serial);
	assert_int_equal(mtls__token_usable(&t, time(NULL), &e), -1);
	assert_non_null(strstr(e.msg, serial));
	X509_free(x);
	OPENSSL_free(serial);
	mtls_pass_free(secret);
}

/* A rolled-back issuance leaves the token unused and no certificate. */
static void
test_rollback_keeps_token(void **state)
{
	struct test_ca_fx *f = *state;
	char id[MTLS_TOKEN_ID_LEN], *serial;
	char *secret = make(f->ca, "r", NULL, 600, id);
	struct mtls_token t;
	struct mtls_err e;
	X509 *x;

	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	x = test_sign(f->ca, "r", MTLS_PROFILE_NODE, "dns:r", f->key, 1, 0);
	serial = mtls_cert_serial_hex(x);
	assert_int_equal(mtls__token_consume(f->ca, id, serial, time(NULL), &e), 0);
	mtls_ca_rollback(f->ca);
	assert_int_equal(test_inventory_rows(f->ca, "r"), 0);
	assert_int_equal(mtls__token_find(f->ca, "r", secret, &t, &e), 0);
	assert_int_equal(t.used_at, 0);
	/* A serial that is not in the inventory cannot pay for a token. */
	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	assert_int_equal(mtls__token_consume(f->ca, id, "00DEAD", time(NULL), &e), -1);
	mtls_ca_rollback(f->ca);
	X509_free(x);
	OPENSSL_free(serial);
	mtls_pass_free(secret);
}

static int
count_tokens(const struct mtls_token *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static int
collect_events(const struct mtls_audit_event *ev, void *arg)
{
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 2048 - n, "%s/%s/%s;", ev->action, ev->outcome, ev->name);
	return 0;
}

static void
test_revoke_list_audit(void **state)
{
	struct test_ca_fx *f = *state;
	char id[MTLS_TOKEN_ID_LEN], id2[MTLS_TOKEN_ID_LEN], trail[2048] = "";
	char *a = make(f->ca, "x", NULL, 600, id);
	char *b = make(f->ca, "y", NULL, 600, id2);
	struct mtls_err e;
	int n = 0, count = 0;
	struct mtls_audit_event ev;

	assert_int_equal(mtls_token_list(f->ca, 0, time(NULL), count_tokens, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mtls_token_revoke(f->ca, "x", "op", &count, &e), 0);
	assert_int_equal(count, 1);
	assert_int_equal(mtls_token_revoke(f->ca, "x", "op", &count, &e), -1);
	assert_int_equal(e.code, MTLS_E_NOTFOUND);
	assert_int_equal(mtls_token_revoke(f->ca, id2, "op", &count, &e), 0);
	n = 0;
	assert_int_equal(mtls_token_list(f->ca, 0, time(NULL), count_tokens, &n, &e), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(mtls_token_list(f->ca, 1, time(NULL), count_tokens, &n, &e), 0);
	assert_int_equal(n, 2);
	/* Expired ones are not listed as usable either. */
	n = 0;
	assert_int_equal(mtls_token_list(f->ca, 0, time(NULL) + 601, count_tokens, &n, &e), 0);
	assert_int_equal(n, 0);
	memset(&ev, 0, sizeof(ev));
	ev.actor = "peer";
	ev.action = "simpleenroll";
	ev.name = "z";
	ev.outcome = "refused";
	ev.reason = "why";
	assert_int_equal(mtls__audit_add(f->ca, &ev, &e), 0);
	assert_int_equal(mtls_audit_list(f->ca, 0, collect_events, trail, &e), 0);
	assert_non_null(strstr(trail, "token-revoke/revoked/x;"));
	assert_non_null(strstr(trail, "simpleenroll/refused/z;"));
	trail[0] = '\0';
	assert_int_equal(mtls_audit_list(f->ca, 1, collect_events, trail, &e), 0);
	assert_string_equal(trail, "simpleenroll/refused/z;");
	mtls_pass_free(a);
	mtls_pass_free(b);
}

static void
test_bad_specs(void **state)
{
	struct test_ca_fx *f = *state;
	struct mtls_token_spec sp;
	struct mtls_err e;
	char id[MTLS_TOKEN_ID_LEN], *secret = NULL;
	static const struct {
		const char *name, *sans;
		long ttl;
	} rows[] = {
	    {"", NULL, 60},
	    {"a/b", NULL, 60},
	    {"ok", NULL, 0},
	    {"ok", "dns:bad name", 60},
	    {"under_score", NULL, 60}, /* not a DNS name: no default SAN */
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&sp, 0, sizeof(sp));
		sp.name = rows[i].name;
		sp.sans = rows[i].sans;
		sp.ttl = rows[i].ttl;
		sp.profile = MTLS_PROFILE_NODE;
		assert_int_equal(mtls_token_create(f->ca, &sp, id, &secret, &e), -1);
		assert_null(secret);
	}
}

/* An inventory made before tokens existed is upgraded on open, once. */
static void
test_migrates_version_1(void **state)
{
	struct test_ca_fx *f = *state;
	sqlite3 *db = NULL;
	struct mtls_err e;
	struct mtls_ca *ca;
	char id[MTLS_TOKEN_ID_LEN], *s;

	mtls_ca_free(f->ca);
	assert_int_equal(sqlite3_open(test_path(f->dir, "inventory.db"), &db), SQLITE_OK);
	/* Back to version 1: drop what every later migration made. */
	assert_int_equal(sqlite3_exec(db, "DROP TABLE tokens; DROP TABLE audit; "
	    "DROP TABLE journal; "
	    "DROP TABLE policies; ALTER TABLE certs DROP COLUMN origin; "
	    "DROP TABLE acme_eab; DROP TABLE acme_objects; DROP TABLE acme_keys; "
	    "DROP TABLE acme_certs; DROP TABLE deployments; "
	    "UPDATE meta SET value='1' WHERE key='schema'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ca = mtls_ca_open(f->dir, &e);
	assert_non_null(ca);
	f->ca = ca;
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), 0);
	s = make(ca, "m", NULL, 60, id);
	mtls_pass_free(s);
	/* Version 3: certificates know their origin; policies are stored. */
	assert_int_equal(sqlite3_open(test_path(f->dir, "inventory.db"), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT origin FROM certs; SELECT name "
	    "FROM policies; SELECT path, format, args FROM deployments; "
	    "SELECT 1 FROM meta WHERE key='schema' AND value='3'",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* A newer schema than we know is refused, not misread. */
	mtls_ca_free(f->ca);
	f->ca = NULL;
	assert_int_equal(sqlite3_open(test_path(f->dir, "inventory.db"), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema'",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(mtls_ca_open(f->dir, &e));
	assert_non_null(strstr(e.msg, "newer"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_secret_shape_and_hash_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_find_by_name_and_id, setup, teardown),
	    cmocka_unit_test(test_usable_states),
	    cmocka_unit_test_setup_teardown(test_consume_once_with_certificate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_keeps_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revoke_list_audit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrates_version_1, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
