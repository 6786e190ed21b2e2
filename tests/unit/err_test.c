#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "mtls/err.h"

static void
set_formats_and_returns_minus_one(void **state)
{
	struct mtls_err e;

	(void)state;
	mtls_err_clear(&e);
	assert_int_equal(mtls_err_set(&e, MTLS_E_IO, "cannot open %s", "x.pem"), -1);
	assert_int_equal(e.code, MTLS_E_IO);
	assert_string_equal(e.msg, "cannot open x.pem");
	assert_int_equal(mtls_err_set(NULL, MTLS_E_IO, "ignored"), -1);
}

static void
ssl_drains_queue_into_message(void **state)
{
	struct mtls_err e;

	(void)state;
	/* Provoke a real OpenSSL error: an unknown digest fetch. */
	assert_null(EVP_MD_fetch(NULL, "NO-SUCH-DIGEST", NULL));
	assert_int_not_equal(ERR_peek_error(), 0);
	mtls_err_ssl(&e, MTLS_E_INTERNAL, "fetching digest");
	assert_non_null(strstr(e.msg, "fetching digest: "));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
exit_statuses(void **state)
{
	(void)state;
	assert_int_equal(mtls_err_exit_status(MTLS_OK), 0);
	assert_int_equal(mtls_err_exit_status(MTLS_E_USAGE), 2);
	assert_int_equal(mtls_err_exit_status(MTLS_E_PASSWORD), 1);
	assert_int_equal(mtls_err_exit_status((enum mtls_errcode)999), 1);
	assert_string_equal(mtls_err_name(MTLS_E_POLICY), "MTLS_E_POLICY");
}

static void
sys_appends_strerror(void **state)
{
	struct mtls_err e;

	(void)state;
	errno = ENOENT;
	mtls_err_sys(&e, MTLS_E_IO, "cannot open a");
	assert_string_equal(e.msg, "cannot open a: No such file or directory");
}

/* A value quoted in a message (a config line, a name, a URL) cannot add
 * a line or steer a terminal: controls become \xNN, a backslash already
 * in an escaped message stays as it is, UTF-8 text stays. */
static void
messages_are_escaped(void **state)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
	    {"a\nFAKE: ok", "value 'a\\x0aFAKE: ok'"},
	    {"\x1b[2J\r", "value '\\x1b[2J\\x0d'"},
	    {"tab\there", "value 'tab\\x09here'"},
	    {"\xc2\x9b" "31m", "value '\\xc2\\x9b31m'"},
	    {"\xff", "value '\\xff'"},
	    {"caf\xc3\xa9 \\x41", "value 'caf\xc3\xa9 \\x41'"},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mtls_err_set(&e, MTLS_E_FORMAT, "value '%s'", rows[i].in);
		assert_string_equal(e.msg, rows[i].want);
	}
	errno = ENOENT;
	mtls_err_sys(&e, MTLS_E_IO, "cannot open %s", "a\nb");
	assert_string_equal(e.msg, "cannot open a\\x0ab: No such file or directory");
}

/* One URL check for every URL a user gives: a row per rule. */
static void
url_check_table(void **state)
{
	static const struct {
		const char *url;
		int flags, ok;
		const char *why;
	} rows[] = {
	    {"https://ca.example/.well-known/est", 0, 1, NULL},
	    {"https://10.0.0.1:8443/x?y=1", 0, 1, NULL},
	    {"https://[::1]:443/", 0, 1, NULL},
	    {"http://crl.example/ca.crl", MTLS_URL_HTTP, 1, NULL},
	    {"HTTP://crl.example/ca.crl", MTLS_URL_HTTP, 1, NULL},
	    {"http://crl.example/ca.crl", 0, 0, "must start with https://"},
	    {"ftp://x.example/", MTLS_URL_HTTP, 0, "http:// or https://"},
	    {"http://crl.example/a\nb", MTLS_URL_HTTP, 0, "control"},
	    {"http://crl.example/a b", MTLS_URL_HTTP, 0, "spaces"},
	    {"http://crl.example/\xc3\xa9", MTLS_URL_HTTP, 0, "non-ASCII"},
	    {"https://user:pw@x.example/", 0, 0, "user names"},
	    {"https://x.example/#frag", 0, 0, "fragment"},
	    {"https:///path", 0, 0, "host"},
	    {"https://x_y!.example/", 0, 0, "host"},
	    {"https://[1.2.3.4]/", 0, 0, "IPv6"},
	    {"https://[::1/", 0, 0, "IPv6"},
	    {"https://x.example:0/", 0, 0, "port"},
	    {"https://x.example:65536/", 0, 0, "port"},
	    {"https://x.example:/", 0, 0, "port"},
	    {"https://x.example:+80/", 0, 0, "port"},
	    {"", 0, 0, "empty"},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mtls_err_clear(&e);
		assert_int_equal(mtls_url_check(rows[i].url, rows[i].flags, &e),
		    rows[i].ok ? 0 : -1);
		if (!rows[i].ok) {
			assert_int_equal(e.code, MTLS_E_USAGE);
			assert_non_null(strstr(e.msg, rows[i].why));
			assert_null(strchr(e.msg, '\n'));
		}
	}
	assert_int_equal(mtls_url_check(NULL, 0, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(set_formats_and_returns_minus_one),
	    cmocka_unit_test(ssl_drains_queue_into_message),
	    cmocka_unit_test(exit_statuses),
	    cmocka_unit_test(sys_appends_strerror),
	    cmocka_unit_test(messages_are_escaped),
	    cmocka_unit_test(url_check_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
