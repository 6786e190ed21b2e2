/* mtls__serve_log and serve_frame: the escaping that keeps one request one log
 * line, the UTF-8 rule it relies on, and the request-head judge. */
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

#define H(s) s, sizeof(s) - 1
static const struct {
	const char *in;
	size_t len;
	int want;
} head_cases[] = {
	{H("POST /bin/receive HTTP/1.1\r\nPath: /a\r\nContent-Length: 5\r\n\r\nhello"), 0},
	{H("\r\nGET /healthz HTTP/1.0\n\n"), 0},
	{H("POST /bin/receive HTTP/1.1\r\nPath: /a\r\n"), 1},
	{H("POST /bin/receive HTTP/1.1\r"), 1},
	{H("POST /bin/receive HTTP/1.1\r\nPath: /a\0b\r\n\r\n"), 400},
	{H("POST /bin/receive HTTP/1.1\rPath: /a\r\n\r\n"), 400},
	{H("POST /bin/receive HTTP/1.1\r\nPath: /a\r\nPath: /b\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 9\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"), 413},
	{H("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 411},
	{H("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n"), 0},
	{H("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"), 413},
	{H("POST / HTTP/1.1\r\nExpect: something\r\n\r\n"), 417},
	{H("POST / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nBad Name: a\r\n\r\n"), 400},
	{H("POST / HTTP/1.1\r\nNoColon\r\n\r\n"), 400},
	{H("BREW / HTTP/1.1\r\n\r\n"), 501},
	{H("POST /\r\n\r\n"), 400},
	{H("POST / HTTP/2.0\r\n\r\n"), 400},
	{H("POST  HTTP/1.1\r\n\r\n"), 400},
};

static void
head_table(void **state)
{
	struct serve_head h;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
		rc = mtls__serve_head_check(head_cases[i].in, head_cases[i].len,
		    SERVE_HEAD_MAX, 1000, &h, &why);
		if (rc != head_cases[i].want) {
			fail_msg("case %zu: got %d, wanted %d (%s)", i, rc,
			    head_cases[i].want, why != NULL ? why : "-");
		}
	}
	rc = mtls__serve_head_check(head_cases[0].in, head_cases[0].len,
	    SERVE_HEAD_MAX, 1000, &h, &why);
	assert_int_equal(h.content_length, 5);
	assert_int_equal(h.len, head_cases[0].len - 5);
	assert_string_equal(h.method, "POST");
	assert_string_equal(h.target, "/bin/receive");
}

static void
head_too_large(void **state)
{
	static char big[SERVE_HEAD_MAX + 10];
	struct serve_head h;
	const char *why;

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(mtls__serve_head_check(big, 100, SERVE_HEAD_MAX, 1000, &h,
	    &why), 1);
	assert_int_equal(mtls__serve_head_check(big, SERVE_HEAD_MAX, SERVE_HEAD_MAX,
	    1000, &h, &why), 431);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_table),
		cmocka_unit_test(escape_truncates),
		cmocka_unit_test(utf8_rules),
		cmocka_unit_test(head_table),
		cmocka_unit_test(head_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
