/* The delivery agent's configuration (mtls/replicate.h): defaults,
 * setters that copy, refusals that leave the config as it was. */
#include "config_test.h"

#include "mtls/replicate.h"
#include "link/client/agent_config_int.h"

CONFIG_TEST_FIXTURE(mtls_agent_config, mtls__agent_opts,
    mtls_agent_config_new, mtls__agent_config_opts,
    mtls_agent_config_free)

static void
defaults(void **state)
{
	(void)state;
	assert_null(o->state);
	assert_null(o->id.cert);
	assert_null(o->resolve);
	assert_null(o->log);
	assert_int_equal(o->wait, 0);
	assert_int_equal(o->verbose, 0);
	assert_true(o->deadline_s == 0);
	assert_true(o->retry_max_s == 0); /* 0: 60 s */
	mtls_agent_config_free(NULL);
}

static void
strings_are_copied(void **state)
{
	struct {
		int (*set)(struct mtls_agent_config *, const char *,
		    struct mtls_err *);
		const char *const *view;
	} rows[] = {
		{mtls_agent_config_set_state_dir, &o->state},
		{mtls_agent_config_set_cert_file, &o->id.cert},
		{mtls_agent_config_set_ca_file, &o->id.ca},
		{mtls_agent_config_set_resolve, &o->resolve},
	};
	struct mtls_err err;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(buf, sizeof(buf), "h%zu:443:127.0.0.1", i);
		assert_int_equal(rows[i].set(cfg, buf, &err), 0);
		assert_ptr_not_equal(*rows[i].view, buf);
		memset(buf, 'X', sizeof(buf) - 1);
		snprintf(buf, sizeof(buf), "h%zu:443:127.0.0.1", i);
		assert_string_equal(*rows[i].view, buf);
		buf[0] = 'Z';
		assert_int_equal((*rows[i].view)[0], 'h');
		refused(rows[i].set(cfg, "", &err), &err, "1 to 4096 characters");
		assert_int_equal((*rows[i].view)[0], 'h');
	}
	refused(mtls_agent_config_set_state_dir(cfg, NULL, &err), &err,
	    "state directory is required");
	assert_non_null(o->state);
}

static void
key_and_password(void **state)
{
	struct mtls_err err;
	char pass[] = "pass:secret";

	(void)state;
	assert_int_equal(mtls_agent_config_set_key_file(cfg, "/k1", pass,
	    &err), 0);
	memset(pass, 0, sizeof(pass));
	assert_string_equal(o->id.key, "/k1");
	assert_string_equal(o->id.key_pass, "pass:secret");
	refused(mtls_agent_config_set_key_file(cfg, "/k2", "", &err), &err,
	    "key password spec");
	assert_string_equal(o->id.key, "/k1");
	assert_string_equal(o->id.key_pass, "pass:secret");
	assert_int_equal(mtls_agent_config_set_key_file(cfg, "/k3", NULL,
	    &err), 0);
	assert_string_equal(o->id.key, "/k3");
	assert_null(o->id.key_pass);
}

static void
seconds(void **state)
{
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_agent_config_set_deadline(cfg, 0.5, &err), 0);
	assert_int_equal(mtls_agent_config_set_deadline(cfg, 1e7, &err), 0);
	refused(mtls_agent_config_set_deadline(cfg, 0, &err), &err,
	    "deadline must be seconds more than 0 and at most 10000000");
	refused(mtls_agent_config_set_deadline(cfg, 1e7 + 1, &err), &err,
	    "deadline");
	refused(mtls_agent_config_set_deadline(cfg, NAN, &err), &err,
	    "deadline");
	assert_true(o->deadline_s == 1e7);
	assert_int_equal(mtls_agent_config_set_retry_max(cfg, 0.2, &err), 0);
	refused(mtls_agent_config_set_retry_max(cfg, -1, &err), &err,
	    "longest retry delay");
	assert_true(o->retry_max_s == 0.2);
}

static void
flags_and_log(void **state)
{
	(void)state;
	mtls_agent_config_set_wait(cfg, 5);
	assert_int_equal(o->wait, 1);
	mtls_agent_config_set_log(cfg, stderr, 3);
	assert_ptr_equal(o->log, stderr); /* borrowed */
	assert_int_equal(o->verbose, 1);
	mtls_agent_config_set_log(cfg, NULL, 0);
	assert_null(o->log);
	assert_int_equal(o->verbose, 0);
}

static void
resolve(void **state)
{
	struct mtls_err err;

	(void)state;
	assert_int_equal(mtls_agent_config_set_resolve(cfg,
	    "a.example:443:127.0.0.1,b.example:8443:[::1]", &err), 0);
	refused(mtls_agent_config_set_resolve(cfg, "no-port", &err), &err,
	    "no-port");
	assert_string_equal(o->resolve,
	    "a.example:443:127.0.0.1,b.example:8443:[::1]");
	assert_int_equal(mtls_agent_config_set_resolve(cfg, NULL, &err), 0);
	assert_null(o->resolve);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(strings_are_copied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(key_and_password, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(seconds, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_and_log, setup, teardown),
		cmocka_unit_test_setup_teardown(resolve, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
