/* base/clock.c: the one clock and the one UTC formatter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/asn1.h>

#include "base/clock.h"

/* 2026-11-22T11:54:46Z, a Sunday. */
#define T0 1795348486LL

static const struct {
	int64_t ms;
	enum mtls__time_style style;
	const char *want;
} rows[] = {
    {T0 * 1000, MTLS__TIME_HUMAN, "2026-11-22 11:54:46 UTC"},
    {T0 * 1000, MTLS__TIME_RFC3339, "2026-11-22T11:54:46Z"},
    {T0 * 1000 + 7, MTLS__TIME_RFC3339_MS, "2026-11-22T11:54:46.007Z"},
    {T0 * 1000 + 999, MTLS__TIME_RFC3339, "2026-11-22T11:54:46Z"},
    {T0 * 1000, MTLS__TIME_DATE, "2026-11-22"},
    {T0 * 1000, MTLS__TIME_ASN1, "20261122115446Z"},
    {T0 * 1000, MTLS__TIME_HTTP, "Sun, 22 Nov 2026 11:54:46 GMT"},
    {0, MTLS__TIME_RFC3339_MS, "1970-01-01T00:00:00.000Z"},
    {-1, MTLS__TIME_RFC3339_MS, "1969-12-31T23:59:59.999Z"},
    {951782400000LL, MTLS__TIME_HTTP, "Tue, 29 Feb 2000 00:00:00 GMT"},
    {2524608000000LL, MTLS__TIME_ASN1, "20500101000000Z"},
};

static void
every_style_formats_utc(void **state)
{
	char buf[64];
	size_t i;

	(void)state;
	/* The zone and the locale must not matter: everything is UTC. */
	setenv("TZ", "Pacific/Kiritimati", 1);
	tzset();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = mtls__time_format_ms(rows[i].ms, rows[i].style, buf,
		    sizeof(buf));

		assert_string_equal(buf, rows[i].want);
		assert_int_equal(n, strlen(rows[i].want));
	}
	unsetenv("TZ");
	tzset();
}

static void
seconds_and_milliseconds_agree(void **state)
{
	char a[64], b[64];

	(void)state;
	mtls__time_format(T0, MTLS__TIME_HUMAN, a, sizeof(a));
	mtls__time_format_ms(T0 * 1000 + 500, MTLS__TIME_HUMAN, b, sizeof(b));
	assert_string_equal(a, b);
}

static void
too_small_buffer_gives_empty_text(void **state)
{
	char buf[10] = "untouched", mid[20];

	(void)state;
	assert_int_equal(mtls__time_format(T0, MTLS__TIME_HUMAN, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "");
	strcpy(buf, "untouched");
	assert_int_equal(mtls__time_format(T0, MTLS__TIME_HTTP, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* room for the seconds but not the milliseconds */
	assert_int_equal(mtls__time_format(T0, MTLS__TIME_RFC3339_MS, mid,
	    sizeof(mid)), 0);
	assert_string_equal(mid, "");
	assert_int_equal(mtls__time_format(T0, MTLS__TIME_DATE, buf, 0), 0);
	assert_int_equal(mtls__time_format(INT64_MAX, MTLS__TIME_DATE, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void
asn1_times_convert_both_ways(void **state)
{
	ASN1_TIME *utc = ASN1_TIME_new(), *gen = ASN1_TIME_new();
	char buf[64];

	(void)state;
	assert_int_equal(ASN1_TIME_set_string(utc, "261122115446Z"), 1);
	assert_int_equal(ASN1_TIME_set_string(gen, "20261122115446Z"), 1);
	assert_true(mtls__time_of_asn1(utc) == T0);
	assert_true(mtls__time_of_asn1(gen) == T0);
	mtls__time_format_asn1(utc, MTLS__TIME_HTTP, buf, sizeof(buf));
	assert_string_equal(buf, "Sun, 22 Nov 2026 11:54:46 GMT");
	mtls__time_format_asn1(gen, MTLS__TIME_HUMAN, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-22 11:54:46 UTC");
	assert_true(mtls__time_of_asn1(NULL) == 0);
	mtls__time_format_asn1(NULL, MTLS__TIME_HUMAN, buf, sizeof(buf));
	assert_string_equal(buf, "(invalid date)");
	ASN1_TIME_free(utc);
	ASN1_TIME_free(gen);
}

static void
clocks_move_forward(void **state)
{
	int64_t wall = mtls__now_ms(), mono = mtls__mono_ms();
	struct timespec nap = {0, 20 * 1000 * 1000};
	time_t now = time(NULL);

	(void)state;
	/* The wall clock is the one time(3) reads, in milliseconds. */
	assert_true(wall / 1000 >= (int64_t)now - 1);
	assert_true(wall / 1000 <= (int64_t)now + 1);
	nanosleep(&nap, NULL);
	assert_true(mtls__mono_ms() - mono >= 15);
	assert_true(mtls__now_ms() >= wall);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_style_formats_utc),
	    cmocka_unit_test(seconds_and_milliseconds_agree),
	    cmocka_unit_test(too_small_buffer_gives_empty_text),
	    cmocka_unit_test(asn1_times_convert_both_ways),
	    cmocka_unit_test(clocks_move_forward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
