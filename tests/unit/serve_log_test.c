/* mtls__serve_log: the escaping that keeps one request one log line, and the
 * UTF-8 rule it relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/internal.h"
#include "link/server/serve_int.h"

static const struct {
	const char *in;
	int flags;
	const char *out;
} esc_cases[] = {
	{"plain", 0, "plain"},
	{NULL, 0, ""},
	{"CN=a\n2026-01-01T00:00:00.000Z 127.0.0.1:1 principal=root", 0,
	    "CN=a\\x0a2026-01-01T00:00:00.000Z 127.0.0.1:1 principal=root"},
	{"a b", 0, "a b"},
	{"a b", SERVE_ESC_FIELD, "a\\x20b"},
	{"x status=200", SERVE_ESC_FIELD, "x\\x20status=200"},
	{"q\"uote", 0, "q\"uote"},
	{"q\"uote", SERVE_ESC_FIELD, "q\\\"uote"},
	{"back\\slash", 0, "back\\\\slash"},
	{"\\x41", 0, "\\\\x41"}, /* a literal \x41 cannot pose as an escape */
	{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", 0,
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92"},
	{"bad\xff", 0, "bad\\xff"},
	{"cut\xe2\x82", 0, "cut\\xe2\\x82"},
	{"\xc0\xaf", 0, "\\xc0\\xaf"},
	{"nel\xc2\x85", 0, "nel\\xc2\\x85"},
	{"del\x7f", 0, "del\\x7f"},
	{"\r\t\x1b", 0, "\\x0d\\x09\\x1b"},
};

static void
escape_table(void **state)
{
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		mtls__serve_log_escape(esc_cases[i].in, esc_cases[i].flags, out,
		    sizeof(out));
		if (strcmp(out, esc_cases[i].out) != 0) {
			fail_msg("case %zu: got '%s', wanted '%s'", i, out,
			    esc_cases[i].out);
		}
		assert_true(mtls__utf8_valid(out, strlen(out)));
	}
}

static void
escape_truncates(void **state)
{
	char out[12], big[100];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mtls__serve_log_escape(big, 0, out, sizeof(out));
	assert_string_equal(out, "aaaaaaaa...");
	/* Never half a character or half an escape. */
	mtls__serve_log_escape("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 0, out,
	    sizeof(out));
	assert_string_equal(out, "\xe2\x82\xac\xe2\x82\xac...");
	mtls__serve_log_escape("\x01\x02\x03", 0, out, sizeof(out));
	assert_string_equal(out, "\\x01\\x02...");
	mtls__serve_log_escape("abc", 0, out, 1);
	assert_string_equal(out, "");
}

static void
utf8_rules(void **state)
{
	(void)state;
	assert_int_equal(mtls__utf8_len((const unsigned char *)"a", 1), 1);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xc3\xa9", 1), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xef\xbf\xbd", 3), 3);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xe0\x80\xaf", 3), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xf0\x80\x80\xaf", 4), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xed\xbf\xbf", 3), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\x80", 1), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"\xc3\x28", 2), 0);
	assert_int_equal(mtls__utf8_len((const unsigned char *)"", 0), 0);
	assert_true(mtls__utf8_valid("", 0));
	assert_true(mtls__utf8_valid("a\0b", 3));
	assert_false(mtls__utf8_valid("a\xfe", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_table),
		cmocka_unit_test(escape_truncates),
		cmocka_unit_test(utf8_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
