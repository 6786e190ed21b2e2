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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(set_formats_and_returns_minus_one),
	    cmocka_unit_test(ssl_drains_queue_into_message),
	    cmocka_unit_test(exit_statuses),
	    cmocka_unit_test(sys_appends_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
