/* The receiver's configuration (mtls/serve.h): defaults, setters that
 * copy, range checks that refuse and leave the config as it was. */
#include "config_test.h"

#include "mtls/serve.h"
#include "link/server/serve_config_int.h"

CONFIG_TEST_FIXTURE(mtls_serve_config, mtls__serve_opts,
    mtls_serve_config_new, mtls__serve_config_opts,
    mtls_serve_config_free)

static void
defaults(void **state)
{
	(void)state;
	assert_int_equal(o->workers, 1);
	assert_int_equal(o->max_conns, 1024);
	assert_true(o->max_body == 64u * 1024 * 1024);
	assert_true(o->handshake_timeout == 10);
	assert_true(o->idle_timeout == 60);
	assert_true(o->header_timeout == 10);
	assert_true(o->body_timeout == 120);
	assert_true(o->drain_timeout == 10);
	assert_true(o->watch_interval == 0); /* 0: every second */
	assert_null(o->listen);
	assert_null(o->map);
	assert_null(o->key_pass);
	assert_int_equal(o->ncrl, 0);
	assert_int_equal(o->npolicies, 0);
	/* Nothing weakened until asked by name. */
	assert_int_equal(o->insecure_no_map, 0);
	assert_int_equal(o->insecure_ocsp_fail_open, 0);
	assert_int_equal(o->insecure_revocation_leaf_only, 0);
	assert_int_equal(o->ocsp, 0);
	assert_int_equal(o->log_json, 0);
	assert_int_equal(o->crl_stale_reject, 0);
	assert_int_equal(o->require_explicit_policy, 0);
	mtls_serve_config_free(NULL); /* NULL-safe */
}

/* Every string setter: the config keeps its own copy. */
static void
strings_are_copied(void **state)
{
	struct {
		const char *name;
		int (*set)(struct mtls_serve_config *, const char *,
		    struct mtls_err *);
		const char *const *view;
	} rows[] = {
		{"listen", mtls_serve_config_set_listen, &o->listen},
		{"cert", mtls_serve_config_set_cert_file, &o->cert},
		{"ca", mtls_serve_config_set_ca_file, &o->ca},
		{"root", mtls_serve_config_set_root, &o->root},
		{"state", mtls_serve_config_set_state_dir, &o->state_dir},
		{"map", mtls_serve_config_set_map_file, &o->map},
	};
	struct mtls_err err;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(buf, sizeof(buf), "/first/%s", rows[i].name);
		assert_int_equal(rows[i].set(cfg, buf, &err), 0);
		assert_ptr_not_equal(*rows[i].view, buf);
		/* The caller reuses its buffer: the config does not see it. */
		snprintf(buf, sizeof(buf), "/other/%s", rows[i].name);
		assert_int_equal(strncmp(*rows[i].view, "/first/", 7), 0);
		assert_string_equal(*rows[i].view + 7, rows[i].name);
		/* Set again: replaced (the old copy freed, ASan would say). */
		assert_int_equal(rows[i].set(cfg, "/second", &err), 0);
		assert_string_equal(*rows[i].view, "/second");
	}
	/* NULL clears the optional ones. */
	assert_int_equal(mtls_serve_config_set_map_file(cfg, NULL, &err), 0);
	assert_null(o->map);
	assert_int_equal(mtls_serve_config_set_state_dir(cfg, NULL, &err), 0);
	assert_null(o->state_dir);
}

static void
string_lengths(void **state)
{
	struct mtls_err err;
	char *huge = malloc(5000);

	(void)state;
	assert_non_null(huge);
	memset(huge, 'a', 4999);
	huge[4999] = '\0';
	assert_int_equal(mtls_serve_config_set_root(cfg, "/keep", &err), 0);
	refused(mtls_serve_config_set_root(cfg, "", &err), &err,
	    "root directory must be 1 to 4096 characters, not 0");
	refused(mtls_serve_config_set_root(cfg, huge, &err), &err,
	    "4096 characters, not 4097 or more");
	assert_string_equal(o->root, "/keep");
	huge[4096] = '\0';
	assert_int_equal(mtls_serve_config_set_root(cfg, huge, &err), 0);
	assert_int_equal(strlen(o->root), 4096);
	refused(mtls_serve_config_set_listen(cfg, NULL, &err), &err,
	    "listen address is required");
	free(huge);
}

static void
key_and_password(void **state)
{
	struct mtls_err err;
	char pass[] = "pass:secret";

	(void)state;
	assert_int_equal(mtls_serve_config_set_key_file(cfg, "/k1", pass,
	    &err), 0);
	memset(pass, 0, sizeof(pass));
	assert_string_equal(o->key, "/k1");
	assert_string_equal(o->key_pass, "pass:secret");
	/* A refused password spec leaves both as they were. */
	refused(mtls_serve_config_set_key_file(cfg, "/k2", "", &err), &err,
	    "key password spec");
	assert_string_equal(o->key, "/k1");
	assert_string_equal(o->key_pass, "pass:secret");
	/* A refused path too. */
	refused(mtls_serve_config_set_key_file(cfg, "", "pass:x", &err), &err,
	    "key file");
	assert_string_equal(o->key, "/k1");
	assert_string_equal(o->key_pass, "pass:secret");
	/* No password: cleared. */
	assert_int_equal(mtls_serve_config_set_key_file(cfg, "/k3", NULL,
	    &err), 0);
	assert_string_equal(o->key, "/k3");
	assert_null(o->key_pass);
}

/* Integer setters: the bounds taken, one past each refused, the old
 * value kept. */
static void
int_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_serve_config *, int, struct mtls_err *);
		const int *view;
		int min, max;
		const char *says;
	} rows[] = {
		{mtls_serve_config_set_workers, &o->workers, 1, 64,
		    "workers must be from 1 to 64"},
		{mtls_serve_config_set_max_conns, &o->max_conns, 1, 1000000,
		    "max connections must be from 1 to 1000000"},
	};
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rows[i].set(cfg, rows[i].min, &err), 0);
		assert_int_equal(*rows[i].view, rows[i].min);
		assert_int_equal(rows[i].set(cfg, rows[i].max, &err), 0);
		assert_int_equal(*rows[i].view, rows[i].max);
		refused(rows[i].set(cfg, rows[i].min - 1, &err), &err,
		    rows[i].says);
		refused(rows[i].set(cfg, rows[i].max + 1, &err), &err,
		    rows[i].says);
		refused(rows[i].set(cfg, -1, &err), &err, rows[i].says);
		assert_int_equal(*rows[i].view, rows[i].max);
	}
}

static void
long_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_serve_config *, long, struct mtls_err *);
		const long *view;
		const char *says;
	} rows[] = {
		{mtls_serve_config_set_ocsp_max_age, &o->ocsp_max_age,
		    "OCSP max age (seconds) must be from 1 to 86400"},
		{mtls_serve_config_set_ocsp_clock_skew, &o->ocsp_clock_skew,
		    "OCSP clock skew (seconds) must be from 1 to 86400"},
	};
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rows[i].set(cfg, 1, &err), 0);
		assert_int_equal(*rows[i].view, 1);
		assert_int_equal(rows[i].set(cfg, 86400, &err), 0);
		refused(rows[i].set(cfg, 0, &err), &err, rows[i].says);
		refused(rows[i].set(cfg, 86401, &err), &err, rows[i].says);
		assert_int_equal(*rows[i].view, 86400);
	}
}

static void
max_body(void **state)
{
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_serve_config_set_max_body(cfg, 0, &err), 0);
	assert_true(o->max_body == 0);
	assert_int_equal(mtls_serve_config_set_max_body(cfg,
	    (size_t)1 << 40, &err), 0);
	refused(mtls_serve_config_set_max_body(cfg, ((size_t)1 << 40) + 1,
	    &err), &err, "max body must be from 0 to 1099511627776 bytes");
	assert_true(o->max_body == (size_t)1 << 40);
}

/* Every seconds setter: (0, 86400], NaN refused. */
static void
seconds_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_serve_config *, double, struct mtls_err *);
		const double *view;
		const char *says;
	} rows[] = {
		{mtls_serve_config_set_handshake_timeout, &o->handshake_timeout,
		    "handshake timeout must be seconds more than 0"},
		{mtls_serve_config_set_idle_timeout, &o->idle_timeout,
		    "idle timeout must be"},
		{mtls_serve_config_set_header_timeout, &o->header_timeout,
		    "header timeout must be"},
		{mtls_serve_config_set_body_timeout, &o->body_timeout,
		    "body timeout must be"},
		{mtls_serve_config_set_drain_timeout, &o->drain_timeout,
		    "drain timeout must be"},
		{mtls_serve_config_set_ocsp_timeout, &o->ocsp_timeout,
		    "OCSP timeout must be"},
		{mtls_serve_config_set_watch_interval, &o->watch_interval,
		    "watch interval must be"},
	};
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rows[i].set(cfg, 0.25, &err), 0);
		assert_true(*rows[i].view == 0.25);
		assert_int_equal(rows[i].set(cfg, 86400, &err), 0);
		refused(rows[i].set(cfg, 86400.5, &err), &err, rows[i].says);
		refused(rows[i].set(cfg, NAN, &err), &err, rows[i].says);
		refused(rows[i].set(cfg, 0, &err), &err, "at most 86400");
		assert_true(*rows[i].view == 86400);
	}
	/* Except that a negative watch interval turns watching off. */
	assert_int_equal(mtls_serve_config_set_watch_interval(cfg, -3, &err), 0);
	assert_true(o->watch_interval < 0);
	refused(mtls_serve_config_set_idle_timeout(cfg, -3, &err), &err,
	    "idle timeout");
}

static void
flags(void **state)
{
	(void)state;
	mtls_serve_config_insecure_no_map(cfg);
	assert_int_equal(o->insecure_no_map, 1);
	mtls_serve_config_insecure_ocsp_fail_open(cfg);
	assert_int_equal(o->insecure_ocsp_fail_open, 1);
	mtls_serve_config_insecure_revocation_leaf_only(cfg);
	assert_int_equal(o->insecure_revocation_leaf_only, 1);
	mtls_serve_config_set_log_json(cfg, 7);
	assert_int_equal(o->log_json, 1);
	mtls_serve_config_set_log_json(cfg, 0);
	assert_int_equal(o->log_json, 0);
	mtls_serve_config_set_crl_stale_reject(cfg, 1);
	assert_int_equal(o->crl_stale_reject, 1);
	mtls_serve_config_set_crl_stale_reject(cfg, 0);
	assert_int_equal(o->crl_stale_reject, 0);
	mtls_serve_config_set_require_explicit_policy(cfg, 2);
	assert_int_equal(o->require_explicit_policy, 1);
	mtls_serve_config_set_require_explicit_policy(cfg, 0);
	assert_int_equal(o->require_explicit_policy, 0);
}

static void
crl_files(void **state)
{
	struct mtls_err err;
	char path[32];
	int i;

	(void)state;
	refused(mtls_serve_config_add_crl_file(cfg, NULL, &err), &err,
	    "needs a path");
	for (i = 0; i < MTLS__SERVE_CRL_MAX; i++) {
		snprintf(path, sizeof(path), "/crl/%d.pem", i);
		assert_int_equal(mtls_serve_config_add_crl_file(cfg, path,
		    &err), 0);
	}
	strcpy(path, "/changed");
	refused(mtls_serve_config_add_crl_file(cfg, path, &err), &err,
	    "at most 32 CRL files");
	assert_int_equal(o->ncrl, MTLS__SERVE_CRL_MAX);
	assert_string_equal(o->crl[0], "/crl/0.pem");
	assert_string_equal(o->crl[31], "/crl/31.pem");
}

static void
ocsp(void **state)
{
	struct mtls_err err;
	char url[] = "http://127.0.0.1:8888/ocsp";

	(void)state;
	refused(mtls_serve_config_set_ocsp(cfg, "ftp://x/", &err), &err,
	    "must start with http:// or https://, not 'ftp://x/'");
	assert_int_equal(o->ocsp, 0);
	assert_int_equal(mtls_serve_config_set_ocsp(cfg, url, &err), 0);
	url[7] = 'X';
	assert_int_equal(o->ocsp, 1);
	assert_string_equal(o->ocsp_url, "http://127.0.0.1:8888/ocsp");
	/* NULL: each certificate's own AIA address. */
	assert_int_equal(mtls_serve_config_set_ocsp(cfg, NULL, &err), 0);
	assert_int_equal(o->ocsp, 1);
	assert_null(o->ocsp_url);
}

static void
policies(void **state)
{
	struct mtls_err err;
	char oid[32];
	int i;

	(void)state;
	refused(mtls_serve_config_add_required_policy(cfg, "1.2.x", &err),
	    &err, "1.2.x");
	refused(mtls_serve_config_add_required_policy(cfg, NULL, &err), &err,
	    "needs an OID");
	assert_int_equal(o->npolicies, 0);
	for (i = 0; i < MTLS__SERVE_POLICY_MAX; i++) {
		snprintf(oid, sizeof(oid), "1.3.6.1.4.1.99999.%d", i);
		assert_int_equal(mtls_serve_config_add_required_policy(cfg, oid,
		    &err), 0);
	}
	strcpy(oid, "9.9");
	assert_string_equal(o->policies[0], "1.3.6.1.4.1.99999.0");
	assert_string_equal(o->policies[15], "1.3.6.1.4.1.99999.15");
	refused(mtls_serve_config_add_required_policy(cfg, "1.2.3", &err),
	    &err, "at most 16 required policies");
	assert_int_equal(o->npolicies, MTLS__SERVE_POLICY_MAX);
}

static void
audit_log(void **state)
{
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_serve_config_set_audit_log(cfg, "/a.log", 0,
	    &err), 0);
	assert_string_equal(o->audit_log, "/a.log");
	assert_int_equal(mtls_serve_config_set_audit_log(cfg, "/b.log", 4096,
	    &err), 0);
	assert_true(o->audit_max_bytes == 4096);
	refused(mtls_serve_config_set_audit_log(cfg, "/c.log", 4095, &err),
	    &err, "audit log max bytes must be from 4096");
	refused(mtls_serve_config_set_audit_log(cfg, "/c.log",
	    (1LL << 50) + 1, &err), &err, "audit log max bytes");
	assert_string_equal(o->audit_log, "/b.log");
	assert_true(o->audit_max_bytes == 4096);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(strings_are_copied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(string_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(key_and_password, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(int_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(long_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(max_body, setup, teardown),
		cmocka_unit_test_setup_teardown(seconds_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(flags, setup, teardown),
		cmocka_unit_test_setup_teardown(crl_files, setup, teardown),
		cmocka_unit_test_setup_teardown(ocsp, setup, teardown),
		cmocka_unit_test_setup_teardown(policies, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
