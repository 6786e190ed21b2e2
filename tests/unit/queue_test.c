#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mtls/replicate.h"
#include "test_util.h"
#include "link/client/queue_int.h"

struct fx {
	char *dir;
	char state[600];
	char small[600];
	char large[600];
	struct mtls_queue *q;
};

static const char *const one[] = {"https://a:1/bin/receive"};
static const char *const two[] = {"https://a:1/bin/receive",
    "https://b:2/bin/receive"};

static void
write_file(const char *path, size_t len, char fill)
{
	FILE *f = fopen(path, "wb");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < len; i++) {
		fputc(fill + (char)(i % 7), f);
	}
	fclose(f);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	f->dir = test_tmpdir();
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->small, sizeof(f->small), "%s/small.txt", f->dir);
	snprintf(f->large, sizeof(f->large), "%s/large.bin", f->dir);
	write_file(f->small, 1024, 'a');
	write_file(f->large, MTLS_QUEUE_INLINE_MAX + 4096, 'A');
	f->q = mtls_queue_open(f->state, 1, &e);
	assert_non_null(f->q);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	mtls_queue_close(f->q);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static size_t
count_blobs(const char *state)
{
	char p[700];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(p, sizeof(p), "%s/blobs", state);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		n += strstr(de->d_name, ".blob") != NULL;
	}
	closedir(d);
	return n;
}

static void
enqueue_claim_deliver(void **state)
{
	struct fx *f = *state;
	struct mtls_item it;
	struct mtls_err e;
	char id[33];
	int64_t due = 0, now = mtls__now_ms();

	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/content/a.html", f->small, id, &e), 0);
	assert_int_equal(strlen(id), 32);
	/* The content is a snapshot: changing the file changes nothing. */
	write_file(f->small, 10, 'z');
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_string_equal(it.id, id);
	assert_string_equal(it.path, "/content/a.html");
	assert_int_equal(it.action, MTLS_ACTION_ACTIVATE);
	assert_int_equal(it.size, 1024);
	assert_non_null(it.data);
	assert_null(it.blob);
	assert_int_equal(it.data[0], 'a');
	assert_int_equal(mtls__queue_delivered(f->q, it.id, now, &e), 0);
	mtls__item_clear(&it);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 0);
	/* Another target has nothing. */
	assert_int_equal(mtls__queue_claim(f->q, "https://x:1/", now, &it, &due,
	    &e), 0);
}

static void
order_is_kept_and_retry_waits(void **state)
{
	struct fx *f = *state;
	struct mtls_item it;
	struct mtls_err e;
	char first[33], second[33];
	int64_t due = 0, now = mtls__now_ms();

	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/p", f->small, first, &e), 0);
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1,
	    MTLS_ACTION_DEACTIVATE, "/p", NULL, second, &e), 0);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_string_equal(it.id, first);
	assert_int_equal(mtls__queue_retry(f->q, it.id, now, 5000,
	    "connection refused", &e), 0);
	mtls__item_clear(&it);
	/* The head waits for its retry; the Deactivate must not overtake. */
	assert_int_equal(mtls__queue_claim(f->q, one[0], now + 100, &it, &due,
	    &e), 2);
	assert_int_equal(due, now + 5000);
	/* Due heads: none while it waits (the Deactivate behind it does not
	 * count); one at its retry time, but not among never-tried ones. */
	assert_int_equal(mtls__queue_due(f->q, now + 100, 0, &e), 0);
	assert_int_equal(mtls__queue_due(f->q, now + 100, 1, &e), 0);
	assert_int_equal(mtls__queue_due(f->q, now + 5000, 0, &e), 1);
	assert_int_equal(mtls__queue_due(f->q, now + 5000, 1, &e), 0);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now + 5000, &it, &due,
	    &e), 1);
	assert_string_equal(it.id, first);
	assert_int_equal(it.attempts, 1);
	mtls__item_clear(&it);
	/* Another target's fresh item is due at once. */
	assert_int_equal(mtls_queue_enqueue(f->q, &two[1], 1,
	    MTLS_ACTION_DEACTIVATE, "/q", NULL, NULL, &e), 0);
	assert_int_equal(mtls__queue_due(f->q, now + 100, 1, &e), 1);
}

static void
fail_is_permanent_and_reported(void **state)
{
	struct fx *f = *state;
	struct mtls_item it;
	struct mtls_err e;
	struct mtls_queue_stat *s = NULL;
	size_t n = 0;
	int64_t due = 0, now = mtls__now_ms();

	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/x", f->small, NULL, &e), 0);
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/y", f->small, NULL, &e), 0);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_int_equal(mtls__queue_fail(f->q, it.id, now, "403 Forbidden", &e),
	    0);
	/* Marking twice changes nothing (state must be pending). */
	assert_int_equal(mtls__queue_delivered(f->q, it.id, now, &e), 0);
	mtls__item_clear(&it);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_string_equal(it.path, "/y");
	assert_int_equal(mtls__queue_retry(f->q, it.id, now, 1000, "503", &e), 0);
	mtls__item_clear(&it);
	assert_int_equal(mtls_queue_stats(f->q, &s, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].target, one[0]);
	assert_int_equal(s[0].pending, 1);
	assert_int_equal(s[0].failing, 1);
	assert_int_equal(s[0].delivered, 0);
	assert_int_equal(s[0].failed, 1);
	assert_string_equal(s[0].last_error, "503");
	assert_int_equal(s[0].next_at_ms, now + 1000);
	mtls_queue_stats_free(s, n);
}

static void
fan_out_shares_large_content(void **state)
{
	struct fx *f = *state;
	struct mtls_item a, b;
	struct mtls_err e;
	struct stat sb;
	int64_t due = 0, now = mtls__now_ms();

	assert_int_equal(mtls_queue_enqueue(f->q, two, 2, MTLS_ACTION_ACTIVATE,
	    "/big", f->large, NULL, &e), 0);
	assert_int_equal(count_blobs(f->state), 1);
	assert_int_equal(mtls__queue_claim(f->q, two[0], now, &a, &due, &e), 1);
	assert_int_equal(mtls__queue_claim(f->q, two[1], now, &b, &due, &e), 1);
	assert_string_not_equal(a.id, b.id);
	assert_non_null(a.blob);
	assert_string_equal(a.blob, b.blob);
	assert_int_equal(stat(a.blob, &sb), 0);
	assert_int_equal(sb.st_size, MTLS_QUEUE_INLINE_MAX + 4096);
	assert_int_equal(a.size, sb.st_size);
	assert_int_equal(mtls__queue_delivered(f->q, a.id, now, &e), 0);
	assert_int_equal(count_blobs(f->state), 1); /* b still needs it */
	assert_int_equal(mtls__queue_delivered(f->q, b.id, now, &e), 0);
	assert_int_equal(count_blobs(f->state), 0);
	mtls__item_clear(&a);
	mtls__item_clear(&b);
}

static void
resume_after_reopen(void **state)
{
	struct fx *f = *state;
	struct mtls_item it;
	struct mtls_err e;
	char id[33];
	int64_t due = 0, now = mtls__now_ms();

	assert_int_equal(mtls_queue_begin(f->q, &e), 0);
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/r1", f->small, id, &e), 0);
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/r2", f->large, NULL, &e), 0);
	assert_int_equal(mtls_queue_commit(f->q, &e), 0);
	mtls_queue_close(f->q);
	f->q = mtls_queue_open(f->state, 0, &e);
	assert_non_null(f->q);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_string_equal(it.id, id);
	assert_int_equal(mtls__queue_delivered(f->q, it.id, now, &e), 0);
	mtls__item_clear(&it);
	assert_int_equal(mtls__queue_claim(f->q, one[0], now, &it, &due, &e), 1);
	assert_string_equal(it.path, "/r2");
	assert_non_null(it.blob);
	mtls__item_clear(&it);
}

static void
rollback_leaves_nothing_and_gc_removes_orphans(void **state)
{
	struct fx *f = *state;
	struct mtls_item it;
	struct mtls_err e;
	int64_t due = 0;

	assert_int_equal(mtls_queue_begin(f->q, &e), 0);
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_ACTIVATE,
	    "/gone", f->large, NULL, &e), 0);
	mtls_queue_rollback(f->q);
	assert_int_equal(mtls__queue_claim(f->q, one[0], mtls__now_ms(), &it, &due,
	    &e), 0);
	assert_int_equal(count_blobs(f->state), 1); /* like a crash */
	assert_int_equal(mtls__queue_gc(f->q, &e), 0);
	assert_int_equal(count_blobs(f->state), 0);
}

static void
bad_enqueues_are_refused(void **state)
{
	struct fx *f = *state;
	struct mtls_err e;
	static const struct {
		const char *path;
		const char *file;
		enum mtls_action action;
		const char *msg;
	} cases[] = {
		{"relative/x", "small", MTLS_ACTION_ACTIVATE, "not absolute"},
		{"/.mtls-receiver.db", "small", MTLS_ACTION_ACTIVATE, "reserved"},
		{"/a/./b", "small", MTLS_ACTION_ACTIVATE, "'.'"},
		{"/a/../etc", "small", MTLS_ACTION_ACTIVATE, "'..'"},
		{"/..", "small", MTLS_ACTION_ACTIVATE, "'..'"},
		{"/a\nInjected: 1", "small", MTLS_ACTION_ACTIVATE, "control"},
		/* The receiver's rule, applied at enqueue (one validator). */
		{"/a/./b", "small", MTLS_ACTION_ACTIVATE, "'.' component"},
		{"/a/.", NULL, MTLS_ACTION_DEACTIVATE, "'.' component"},
		{"/a\\b", "small", MTLS_ACTION_ACTIVATE, "backslash"},
		{"/.mtls-receiver.db", NULL, MTLS_ACTION_DEACTIVATE, "reserved"},
		{"//", NULL, MTLS_ACTION_DEACTIVATE, "root itself"},
		{"/a", NULL, MTLS_ACTION_ACTIVATE, "needs a file"},
		{"/a", "missing", MTLS_ACTION_ACTIVATE, "cannot read"},
		{"/a", "dir", MTLS_ACTION_ACTIVATE, "not a regular file"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char file[700];
		const char *fp = NULL;

		if (cases[i].file != NULL && strcmp(cases[i].file, "small") == 0) {
			fp = f->small;
		} else if (cases[i].file != NULL &&
		    strcmp(cases[i].file, "dir") == 0) {
			fp = f->dir;
		} else if (cases[i].file != NULL) {
			snprintf(file, sizeof(file), "%s/nope", f->dir);
			fp = file;
		}
		mtls_err_clear(&e);
		assert_int_equal(mtls_queue_enqueue(f->q, one, 1,
		    cases[i].action, cases[i].path, fp, NULL, &e), -1);
		if (strstr(e.msg, cases[i].msg) == NULL) {
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			    cases[i].msg);
		}
	}
	/* ".." inside a name is fine. */
	assert_int_equal(mtls_queue_enqueue(f->q, one, 1, MTLS_ACTION_DEACTIVATE,
	    "/a/..b/c..", NULL, NULL, &e), 0);
}

static void
backoff_schedule(void **state)
{
	static const struct {
		int attempts;
		double jitter;
		int64_t want;
	} cases[] = {
		{1, 0.0, 250}, {1, 0.999999, 499}, {2, 0.0, 500}, {3, 0.0, 1000},
		{4, 0.5, 3000}, {10, 0.0, 30000}, {10, 0.999999, 59999},
		{1000, 0.0, 30000}, {0, 0.0, 250}, {1, -1.0, 250}, {1, 7.0, 499},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = mtls__queue_backoff_ms(cases[i].attempts, 500, 60000,
		    cases[i].jitter);

		if (got != cases[i].want) {
			fail_msg("case %zu: %lld, wanted %lld", i, (long long)got,
			    (long long)cases[i].want);
		}
	}
}

static void
open_fails_on_unwritable_state(void **state)
{
	struct mtls_err e;

	(void)state;
	assert_null(mtls_queue_open("/proc/mtls-no-such/state", 1, &e));
	assert_non_null(strstr(e.msg, "/proc/mtls-no-such"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(enqueue_claim_deliver, setup, teardown),
	    cmocka_unit_test_setup_teardown(order_is_kept_and_retry_waits, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(fail_is_permanent_and_reported, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(fan_out_shares_large_content, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(resume_after_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		rollback_leaves_nothing_and_gc_removes_orphans, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_enqueues_are_refused, setup,
		teardown),
	    cmocka_unit_test(backoff_schedule),
	    cmocka_unit_test(open_fails_on_unwritable_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
