/* base/buf.c: the one growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "base/buf.h"

static void
empty_buffer_reads_as_empty_text(void **state)
{
	struct mtls__buf b = MTLS__BUF_INIT;
	unsigned char *p;
	size_t len = 99;

	(void)state;
	assert_string_equal(mtls__buf_str(&b), "");
	p = mtls__buf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_int_equal(p[0], '\0');
	OPENSSL_free(p);
	mtls__buf_free(&b);
	mtls__buf_free(NULL);
}

static void
printf_and_put_append_in_order(void **state)
{
	struct mtls__buf b = MTLS__BUF_INIT;

	(void)state;
	assert_int_equal(mtls__buf_printf(&b, "%s=%d", "port", 8443), 0);
	assert_int_equal(mtls__buf_put(&b, ";", 1), 0);
	assert_int_equal(mtls__buf_puts(&b, " end"), 0);
	assert_int_equal(mtls__buf_put(&b, NULL, 0), 0);
	assert_string_equal(mtls__buf_str(&b), "port=8443; end");
	assert_int_equal(b.len, strlen("port=8443; end"));
	mtls__buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

/* Growth across many doublings keeps every byte, binary ones included. */
static void
grows_and_keeps_binary_bytes(void **state)
{
	struct mtls__buf b = MTLS__BUF_INIT, s = MTLS__BUF_SECRET;
	unsigned char chunk[251];
	unsigned char *out;
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < sizeof(chunk); i++) {
		chunk[i] = (unsigned char)i;
	}
	for (i = 0; i < 1000; i++) {
		assert_int_equal(mtls__buf_put(&b, chunk, sizeof(chunk)), 0);
		assert_int_equal(mtls__buf_put(&s, chunk, sizeof(chunk)), 0);
	}
	assert_int_equal(b.len, 1000 * sizeof(chunk));
	assert_true(b.cap > b.len);
	for (i = 0; i < 1000; i++) {
		assert_memory_equal(b.p + i * sizeof(chunk), chunk, sizeof(chunk));
		assert_memory_equal(s.p + i * sizeof(chunk), chunk, sizeof(chunk));
	}
	out = mtls__buf_take(&s, &len);
	assert_int_equal(len, 1000 * sizeof(chunk));
	assert_null(s.p);
	assert_true(s.secret); /* the next bytes are secret too */
	OPENSSL_clear_free(out, len);
	mtls__buf_free(&b);
}

static void
fixed_storage_fills_exactly_then_refuses(void **state)
{
	unsigned char store[6];
	struct mtls__buf b;

	(void)state;
	memcpy(store, "------", 6);
	mtls__buf_init_fixed(&b, store, sizeof(store));
	assert_int_equal(mtls__buf_put(&b, "abc", 3), 0);
	/* nothing is written past len: the storage may be a window into
	 * bytes that follow (a DER header written in place) */
	assert_memory_equal(store, "abc---", 6);
	assert_string_equal(mtls__buf_str(&b), "");
	assert_int_equal(mtls__buf_printf(&b, "%c", 'd'), 0);
	assert_memory_equal(store, "abcd--", 6);
	/* exactly full: allowed */
	assert_int_equal(mtls__buf_put(&b, "ef", 2), 0);
	assert_memory_equal(store, "abcdef", 6);
	assert_int_equal(mtls__buf_put(&b, "g", 1), -1);
	assert_true(b.oom);
	assert_null(mtls__buf_take(&b, NULL));
	mtls__buf_free(&b); /* never frees caller storage */
	assert_memory_equal(store, "abcdef", 6);
}

/* After one failure every later write fails too, so a writer can check
 * once at the end. */
static void
failure_is_sticky(void **state)
{
	unsigned char store[4];
	struct mtls__buf b;
	size_t len = 7;

	(void)state;
	mtls__buf_init_fixed(&b, store, sizeof(store));
	assert_int_equal(mtls__buf_printf(&b, "%s", "too long"), -1);
	assert_int_equal(mtls__buf_put(&b, "a", 1), -1);
	assert_int_equal(mtls__buf_printf(&b, "b"), -1);
	assert_int_equal(mtls__buf_reserve(&b, 0), -1);
	assert_int_equal(b.len, 0);
	assert_null(mtls__buf_take(&b, &len));
	assert_int_equal(len, 7);
}

static void
huge_request_fails_without_allocating(void **state)
{
	struct mtls__buf b = MTLS__BUF_INIT;

	(void)state;
	assert_int_equal(mtls__buf_put(&b, "x", 1), 0);
	assert_int_equal(mtls__buf_reserve(&b, SIZE_MAX - 2), -1);
	assert_true(b.oom);
	assert_string_equal(mtls__buf_str(&b), "x");
	mtls__buf_free(&b);
}

static void
free_wipes_fixed_secret_storage(void **state)
{
	unsigned char store[8] = "secret!";
	static const unsigned char zero[8];
	struct mtls__buf b;

	(void)state;
	mtls__buf_init_fixed(&b, store, sizeof(store));
	b.secret = 1;
	mtls__buf_free(&b);
	assert_memory_equal(store, zero, sizeof(store));
	assert_true(b.secret);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(empty_buffer_reads_as_empty_text),
	    cmocka_unit_test(printf_and_put_append_in_order),
	    cmocka_unit_test(grows_and_keeps_binary_bytes),
	    cmocka_unit_test(fixed_storage_fills_exactly_then_refuses),
	    cmocka_unit_test(failure_is_sticky),
	    cmocka_unit_test(huge_request_fails_without_allocating),
	    cmocka_unit_test(free_wipes_fixed_secret_storage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
