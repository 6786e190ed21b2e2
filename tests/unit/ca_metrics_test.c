/* The online CA's metrics page text (mtls__casrv_metrics_render): every
 * row appears, however long the page grows; a buffer that cannot grow
 * says so instead of serving a page cut short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "online/ca_serve_int.h"

#define ROWS 400

static char names[ROWS][48];

static void
fill(struct mtls__casrv_metric *m)
{
	size_t i;

	for (i = 0; i < ROWS; i++) {
		snprintf(names[i], sizeof(names[i]), "mtls_ca_test_metric_%zu_total",
		    i / 2);
		m[i].name = names[i];
		/* Two label values per name: HELP and TYPE once. */
		m[i].type = i % 2 == 0 ? "counter" : NULL;
		m[i].help = i % 2 == 0 ? "A counter with a help text long enough "
		    "that the page is far past eight kibibytes." : NULL;
		m[i].labels = i % 2 == 0 ? "{class=\"a\"}" : "{class=\"b\"}";
		m[i].value = 1000000ULL + i;
	}
}

static void
every_row_appears(void **state)
{
	static struct mtls__casrv_metric m[ROWS];
	struct mtls__buf b = MTLS__BUF_INIT;
	char want[160];
	size_t i, helps = 0;
	const char *p;

	(void)state;
	fill(m);
	assert_int_equal(mtls__casrv_metrics_render(m, ROWS, &b), 0);
	assert_true(b.len > 8192 * 4);
	for (i = 0; i < ROWS; i++) {
		snprintf(want, sizeof(want), "\n%s%s %llu\n", m[i].name,
		    m[i].labels, m[i].value);
		if (strstr(mtls__buf_str(&b), want) == NULL) {
			fail_msg("row %zu missing: %s", i, want + 1);
		}
	}
	for (p = mtls__buf_str(&b); (p = strstr(p, "# HELP ")) != NULL; p++) {
		helps++;
	}
	assert_int_equal(helps, ROWS / 2);
	/* The page ends with the last row, whole. */
	snprintf(want, sizeof(want), "%s%s %llu\n", m[ROWS - 1].name,
	    m[ROWS - 1].labels, m[ROWS - 1].value);
	assert_string_equal(mtls__buf_str(&b) + b.len - strlen(want), want);
	mtls__buf_free(&b);
}

static void
no_room_is_an_error(void **state)
{
	static struct mtls__casrv_metric m[ROWS];
	struct mtls__buf b;
	char small[8192];

	(void)state;
	fill(m);
	mtls__buf_init_fixed(&b, small, sizeof(small));
	assert_int_equal(mtls__casrv_metrics_render(m, ROWS, &b), -1);
	mtls__buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_row_appears),
		cmocka_unit_test(no_room_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
