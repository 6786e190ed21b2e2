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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(set_formats_and_returns_minus_one),
	    cmocka_unit_test(ssl_drains_queue_into_message),
	    cmocka_unit_test(exit_statuses),
	    cmocka_unit_test(sys_appends_strerror),
	    cmocka_unit_test(messages_are_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
