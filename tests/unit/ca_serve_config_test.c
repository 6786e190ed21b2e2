/* The online CA's configuration (mtls/online.h): defaults, setters that
 * copy, refusals that leave the config as it was. */
#include "config_test.h"

#include "mtls/online.h"
#include "online/ca_serve_config_int.h"

CONFIG_TEST_FIXTURE(mtls_ca_serve_config, mtls__ca_serve_opts,
    mtls_ca_serve_config_new, mtls__ca_serve_config_opts,
    mtls_ca_serve_config_free)

/* CHECK_RANGES(ROWS): for each row of ROWS ({set, view, min, max, says};
 * the int and the long setters alike), MIN and MAX are taken, MIN - 1 and
 * MAX + 1 refused with SAYS, and the refusals leave MAX in place. */
#define CHECK_RANGES(ROWS) \
	do { \
		struct mtls_err err_; \
		size_t i_; \
		for (i_ = 0; i_ < sizeof(ROWS) / sizeof((ROWS)[0]); i_++) { \
			assert_int_equal( \
			    (ROWS)[i_].set(cfg, (ROWS)[i_].min, &err_), 0); \
			assert_int_equal(*(ROWS)[i_].view, (ROWS)[i_].min); \
			assert_int_equal( \
			    (ROWS)[i_].set(cfg, (ROWS)[i_].max, &err_), 0); \
			refused((ROWS)[i_].set(cfg, (ROWS)[i_].min - 1, &err_), \
			    &err_, (ROWS)[i_].says); \
			refused((ROWS)[i_].set(cfg, (ROWS)[i_].max + 1, &err_), \
			    &err_, (ROWS)[i_].says); \
			assert_int_equal(*(ROWS)[i_].view, (ROWS)[i_].max); \
		} \
	} while (0)

static void
defaults(void **state)
{
	(void)state;
	assert_int_equal(o->cert_lifetime, MTLS_ENROLL_DEFAULT_LIFETIME);
	assert_int_equal(o->max_lifetime, MTLS_ENROLL_MAX_LIFETIME);
	assert_int_equal(o->crl_days, 1);
	assert_true(o->idle_timeout == 15);
	assert_true(o->request_timeout == 30);
	assert_int_equal(o->max_conns, 512);
	assert_int_equal(o->fail_limit, 5);
	assert_int_equal(o->insecure_acme_no_eab, 0);
	assert_int_equal(o->log_quiet, 0);
	assert_null(o->cert);
	assert_null(o->acme_allow);
	mtls_ca_serve_config_free(NULL);
}

static void
strings_are_copied(void **state)
{
	struct {
		int (*set)(struct mtls_ca_serve_config *, const char *,
		    struct mtls_err *);
		const char *const *view;
	} rows[] = {
		{mtls_ca_serve_config_set_ca_dir, &o->ca_dir},
		{mtls_ca_serve_config_set_ca_pass, &o->ca_pass},
		{mtls_ca_serve_config_set_listen, &o->listen},
		{mtls_ca_serve_config_set_sans, &o->sans},
		{mtls_ca_serve_config_set_acme_allow, &o->acme_allow},
		{mtls_ca_serve_config_set_acme_resolve, &o->acme_resolve},
		{mtls_ca_serve_config_set_acme_validate_allow,
		    &o->acme_validate_allow},
	};
	struct mtls_err err;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(buf, sizeof(buf), "h%zu:443:127.0.0.1", i);
		assert_int_equal(rows[i].set(cfg, buf, &err), 0);
		assert_ptr_not_equal(*rows[i].view, buf);
		buf[0] = 'Z';
		assert_int_equal((*rows[i].view)[0], 'h');
		refused(rows[i].set(cfg, "", &err), &err, "1 to 4096 characters");
		assert_int_equal((*rows[i].view)[0], 'h');
	}
	refused(mtls_ca_serve_config_set_ca_dir(cfg, NULL, &err), &err,
	    "CA directory is required");
	refused(mtls_ca_serve_config_set_listen(cfg, NULL, &err), &err,
	    "listen address is required");
	refused(mtls_ca_serve_config_set_acme_resolve(cfg, "bad", &err), &err,
	    "bad");
	assert_string_equal(o->acme_resolve, "h5:443:127.0.0.1");
}

static void
identity(void **state)
{
	struct mtls_err err;
	char cert[] = "/c1", key[] = "/k1";

	(void)state;
	assert_int_equal(mtls_ca_serve_config_set_identity(cfg, cert, key,
	    "pass:x", &err), 0);
	cert[1] = key[1] = 'Z';
	assert_string_equal(o->cert, "/c1");
	assert_string_equal(o->key, "/k1");
	assert_string_equal(o->key_pass, "pass:x");
	refused(mtls_ca_serve_config_set_identity(cfg, "/c2", NULL, NULL,
	    &err), &err, "together, or neither");
	refused(mtls_ca_serve_config_set_identity(cfg, NULL, "/k2", NULL,
	    &err), &err, "together, or neither");
	refused(mtls_ca_serve_config_set_identity(cfg, NULL, NULL, "pass:y",
	    &err), &err, "together, or neither");
	refused(mtls_ca_serve_config_set_identity(cfg, "/c2", "/k2", "", &err),
	    &err, "TLS key password spec");
	assert_string_equal(o->cert, "/c1");
	assert_string_equal(o->key, "/k1");
	assert_string_equal(o->key_pass, "pass:x");
	assert_int_equal(mtls_ca_serve_config_set_identity(cfg, NULL, NULL,
	    NULL, &err), 0);
	assert_null(o->cert);
	assert_null(o->key);
	assert_null(o->key_pass);
}

/* Integer setters: each bound taken, one past refused, the old kept. */
static void
int_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_ca_serve_config *, int, struct mtls_err *);
		const int *view;
		int min, max;
		const char *says;
	} rows[] = {
		{mtls_ca_serve_config_set_crl_days, &o->crl_days, 1, 365,
		    "CRL days must be from 1 to 365"},
		{mtls_ca_serve_config_set_max_conns, &o->max_conns, 1, 100000,
		    "max connections must be from 1 to 100000"},
		{mtls_ca_serve_config_set_fail_limit, &o->fail_limit, 1, 1000,
		    "fail limit must be from 1 to 1000"},
		{mtls_ca_serve_config_set_acme_http_port, &o->acme_http_port, 1,
		    65535, "http-01 port must be from 1 to 65535"},
		{mtls_ca_serve_config_set_acme_tls_port, &o->acme_tls_port, 1,
		    65535, "tls-alpn-01 port must be from 1 to 65535"},
	};

	(void)state;
	CHECK_RANGES(rows);
}

static void
long_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_ca_serve_config *, long,
		    struct mtls_err *);
		const long *view;
		long min, max;
		const char *says;
	} rows[] = {
		{mtls_ca_serve_config_set_cert_lifetime, &o->cert_lifetime, 60,
		    3153600000L, "certificate lifetime (seconds) must be from 60"},
		{mtls_ca_serve_config_set_max_lifetime, &o->max_lifetime, 60,
		    3153600000L, "longest lifetime a token may ask for"},
		{mtls_ca_serve_config_set_acme_cert_lifetime,
		    &o->acme_cert_lifetime, 60, 3153600000L,
		    "ACME certificate lifetime"},
		{mtls_ca_serve_config_set_acme_orders_per_hour,
		    &o->acme_orders_per_hour, 1, 1000000,
		    "ACME orders per hour must be from 1 to 1000000"},
		{mtls_ca_serve_config_set_acme_accounts_per_ip,
		    &o->acme_accounts_per_ip, 1, 1000000,
		    "ACME accounts per address and hour"},
	};

	(void)state;
	CHECK_RANGES(rows);
}

static void
seconds_ranges(void **state)
{
	struct {
		int (*set)(struct mtls_ca_serve_config *, double,
		    struct mtls_err *);
		const double *view;
		double max;
		const char *says;
	} rows[] = {
		{mtls_ca_serve_config_set_idle_timeout, &o->idle_timeout, 3600,
		    "idle timeout must be seconds more than 0 and at most 3600"},
		{mtls_ca_serve_config_set_request_timeout, &o->request_timeout,
		    3600, "request timeout must be"},
		{mtls_ca_serve_config_set_acme_validate_timeout,
		    &o->acme_validate_timeout, 300,
		    "ACME validation timeout must be seconds more than 0 and at "
		    "most 300"},
	};
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rows[i].set(cfg, 0.5, &err), 0);
		assert_true(*rows[i].view == 0.5);
		assert_int_equal(rows[i].set(cfg, rows[i].max, &err), 0);
		refused(rows[i].set(cfg, 0, &err), &err, rows[i].says);
		refused(rows[i].set(cfg, rows[i].max + 1, &err), &err,
		    rows[i].says);
		refused(rows[i].set(cfg, NAN, &err), &err, rows[i].says);
		assert_true(*rows[i].view == rows[i].max);
	}
}

static void
flags(void **state)
{
	(void)state;
	mtls_ca_serve_config_insecure_acme_no_eab(cfg);
	assert_int_equal(o->insecure_acme_no_eab, 1);
	mtls_ca_serve_config_set_log_quiet(cfg, 9);
	assert_int_equal(o->log_quiet, 1);
	mtls_ca_serve_config_set_log_quiet(cfg, 0);
	assert_int_equal(o->log_quiet, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(strings_are_copied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(identity, setup, teardown),
		cmocka_unit_test_setup_teardown(int_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(long_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(seconds_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(flags, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
