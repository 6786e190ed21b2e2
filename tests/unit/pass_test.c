#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtls/pass.h"
#include "mtls/pki.h"
#include "test_util.h"

static void
pass_env_file_fd(void **state)
{
	struct mtls_err e;
	char *p;
	char path[] = "/tmp/mtls-pass-XXXXXX";
	int fd, pipefd[2];

	(void)state;
	p = mtls_pass_get("pass:s3cret", NULL, 0, &e);
	assert_string_equal(p, "s3cret");
	mtls_pass_free(p);

	setenv("MTLS_TEST_PW", "from-env", 1);
	p = mtls_pass_get("env:MTLS_TEST_PW", NULL, 0, &e);
	assert_string_equal(p, "from-env");
	mtls_pass_free(p);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "first line\r\nsecond\n", 19), 19);
	close(fd);
	{
		char spec[64];

		snprintf(spec, sizeof(spec), "file:%s", path);
		p = mtls_pass_get(spec, NULL, 0, &e);
		assert_string_equal(p, "first line");
		mtls_pass_free(p);
	}
	unlink(path);

	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], "piped\nrest", 10), 10);
	close(pipefd[1]);
	{
		char spec[32];

		snprintf(spec, sizeof(spec), "fd:%d", pipefd[0]);
		p = mtls_pass_get(spec, NULL, 0, &e);
		assert_string_equal(p, "piped");
		mtls_pass_free(p);
	}
	close(pipefd[0]);
}

static void
pass_errors(void **state)
{
	struct mtls_err e;

	(void)state;
	unsetenv("MTLS_TEST_UNSET");
	assert_null(mtls_pass_get("env:MTLS_TEST_UNSET", NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_non_null(strstr(e.msg, "MTLS_TEST_UNSET"));
	assert_null(mtls_pass_get("secret", NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
	assert_null(mtls_pass_get("fd:abc", NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
	assert_null(mtls_pass_get("file:/nonexistent/pw", NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_IO);
	/* No spec and no prompt: tells which option to give. */
	assert_null(mtls_pass_get(NULL, NULL, 0, &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_non_null(strstr(e.msg, "--pass"));
}

/* End of input, a read error or an over-long line never become a
 * password (an empty one would "encrypt" a key with nothing); a source
 * given without its prefix is never repeated in the error. */
static void
pass_secrets_refused(void **state)
{
	struct mtls_err e;
	char spec[32], *long_pw;
	int fds[2];
	EVP_PKEY *k;
	char *pem = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[1]);
	snprintf(spec, sizeof(spec), "fd:%d", fds[0]);
	mtls_err_clear(&e);
	assert_null(mtls_pass_get(spec, NULL, 0, &e));
	assert_non_null(strstr(e.msg, "ended before a password"));
	assert_non_null(strstr(e.msg, spec));
	close(fds[0]);
	assert_null(mtls_pass_get("fd:999", NULL, 0, &e));
	assert_non_null(strstr(e.msg, "cannot read"));

	long_pw = malloc(5000);
	assert_non_null(long_pw);
	memcpy(long_pw, "pass:", 5);
	memset(long_pw + 5, 'x', 4990);
	long_pw[4995] = '\0';
	assert_null(mtls_pass_get(long_pw, NULL, 0, &e));
	assert_non_null(strstr(e.msg, "longer than"));
	assert_null(strstr(e.msg, "xxxx"));
	free(long_pw);

	assert_null(mtls_pass_get("Secret-Hunter2", NULL, 0, &e));
	assert_null(strstr(e.msg, "Hunter2"));
	assert_null(mtls_pass_get("fd:Hunter2", NULL, 0, &e));
	assert_null(strstr(e.msg, "Hunter2"));

	k = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	assert_non_null(k);
	assert_int_equal(mtls_key_to_pem(k, "", &pem, &len, &e), -1);
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	assert_null(pem);
	EVP_PKEY_free(k);
}

/* The library asks only through the application's callback: none
 * registered, no prompt (even on a terminal); registered, it is asked
 * once, or twice to confirm, and two different answers fail. */
static int prompt_calls;

static int
answer(const char *prompt, char *buf, size_t len, void *arg)
{
	const char *const *ans = arg;
	const char *a = ans[prompt_calls++ % 2];

	assert_non_null(prompt);
	if (a == NULL || strlen(a) >= len) {
		return -1;
	}
	memcpy(buf, a, strlen(a) + 1);
	return (int)strlen(a);
}

static void
pass_prompt_callback(void **state)
{
	const char *same[2] = {"s3cret", "s3cret"};
	const char *differ[2] = {"s3cret", "other"};
	const char *gaveup[2] = {NULL, NULL};
	struct mtls_err e;
	char *p;

	(void)state;
	mtls_pass_set_prompt(NULL, NULL);
	assert_null(mtls_pass_get(NULL, "Password: ", 0, &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);

	mtls_pass_set_prompt(answer, (void *)same);
	prompt_calls = 0;
	p = mtls_pass_get(NULL, "Password: ", 1, &e);
	assert_non_null(p);
	assert_string_equal(p, "s3cret");
	assert_int_equal(prompt_calls, 2);
	mtls_pass_free(p);
	/* no prompt text: the caller wants no question asked */
	assert_null(mtls_pass_get(NULL, NULL, 0, &e));

	mtls_pass_set_prompt(answer, (void *)differ);
	prompt_calls = 0;
	assert_null(mtls_pass_get(NULL, "Password: ", 1, &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);

	mtls_pass_set_prompt(answer, (void *)gaveup);
	assert_null(mtls_pass_get(NULL, "Password: ", 0, &e));
	assert_int_equal(e.code, MTLS_E_PASSWORD);
	mtls_pass_set_prompt(NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pass_env_file_fd),
	    cmocka_unit_test(pass_errors),
	    cmocka_unit_test(pass_secrets_refused),
	    cmocka_unit_test(pass_prompt_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
