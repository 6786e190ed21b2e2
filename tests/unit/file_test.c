#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtls/file.h"
#include "test_util.h"

static char *dir;

static int
setup(void **state)
{
	(void)state;
	dir = test_tmpdir();
	return dir == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_rmrf(dir);
	free(dir);
	return 0;
}

static char *
path_in(const char *name)
{
	static char buf[4][600];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int
count_entries(void)
{
	char cmd[700];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	f = popen(cmd, "r");
	if (f != NULL && fscanf(f, "%d", &n) != 1) {
		n = -1;
	}
	pclose(f);
	return n;
}

static void
write_read_roundtrip_with_mode(void **state)
{
	struct mtls_err e;
	unsigned char *d = NULL;
	size_t n = 0;
	struct stat st;

	(void)state;
	assert_int_equal(mtls_file_write_atomic(path_in("k.key"), "secret", 6,
			     MTLS_MODE_SECRET, 0, &e), 0);
	assert_int_equal(stat(path_in("k.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(mtls_file_read(path_in("k.key"), 100, &d, &n, &e), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(d, "secret", 6);
	mtls_file_free(d, n);
	assert_int_equal(count_entries(), 1); /* no temp file left behind */
}

static void
refuses_overwrite_without_force(void **state)
{
	struct mtls_err e;
	unsigned char *d = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(mtls_file_write_atomic(path_in("a"), "one", 3, 0644, 0, &e), 0);
	assert_int_equal(mtls_file_write_atomic(path_in("a"), "two", 3, 0644, 0, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_non_null(strstr(e.msg, "--force"));
	assert_int_equal(mtls_file_read(path_in("a"), 100, &d, &n, &e), 0);
	assert_memory_equal(d, "one", 3);
	mtls_file_free(d, n);
	assert_int_equal(mtls_file_write_atomic(path_in("a"), "two", 3, 0644, 1, &e), 0);
	assert_int_equal(mtls_file_read(path_in("a"), 100, &d, &n, &e), 0);
	assert_memory_equal(d, "two", 3);
	mtls_file_free(d, n);
}

static void
fileset_all_or_nothing(void **state)
{
	struct mtls_err e;
	struct mtls_fileset *fs;

	(void)state;
	assert_int_equal(mtls_file_write_atomic(path_in("exists"), "x", 1, 0644, 0, &e), 0);
	fs = mtls_fileset_new(0, &e);
	assert_non_null(fs);
	assert_int_equal(mtls_fileset_add(fs, path_in("new1"), "1", 1, 0644, &e), 0);
	/* The second file conflicts: the set is abandoned, nothing appears. */
	assert_int_equal(mtls_fileset_add(fs, path_in("exists"), "2", 1, 0644, &e), -1);
	mtls_fileset_free(fs);
	assert_int_equal(access(path_in("new1"), F_OK), -1);
	assert_int_equal(count_entries(), 1);
}

static void
fileset_many_files_commit(void **state)
{
	struct mtls_err e;
	struct mtls_fileset *fs = mtls_fileset_new(0, &e);
	char name[32];
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(mtls_fileset_add(fs, path_in(name), name, strlen(name), 0644, &e), 0);
	}
	assert_int_equal(mtls_fileset_count(fs), 20);
	assert_int_equal(mtls_fileset_commit(fs, &e), 0);
	mtls_fileset_free(fs);
	assert_int_equal(count_entries(), 20);
}

static void
read_errors_are_clear(void **state)
{
	struct mtls_err e;
	unsigned char *d = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(mtls_file_read(path_in("missing"), 100, &d, &n, &e), -1);
	assert_int_equal(e.code, MTLS_E_IO);
	assert_non_null(strstr(e.msg, "missing"));
	assert_int_equal(mtls_file_read(dir, 100, &d, &n, &e), -1);
	assert_non_null(strstr(e.msg, "is a directory"));
	assert_int_equal(mtls_file_write_atomic(path_in("big"), "0123456789", 10, 0644, 0, &e), 0);
	assert_int_equal(mtls_file_read(path_in("big"), 5, &d, &n, &e), -1);
	assert_int_equal(e.code, MTLS_E_FORMAT);
}

/* Another writer creates the destination between stage and commit: without
 * force it is neither replaced (RENAME_NOREPLACE, or link(2)) nor left
 * half: the first file of the set, already placed, is taken back. */
static void
commit_never_replaces_a_file_created_meanwhile(void **state)
{
	struct mtls_err e;
	struct mtls_fileset *fs = mtls_fileset_new(0, &e);
	size_t n = 0;
	unsigned char *d = NULL;

	(void)state;
	assert_non_null(fs);
	assert_int_equal(mtls_fileset_add(fs, path_in("first"), "1", 1, 0644, &e), 0);
	assert_int_equal(mtls_fileset_add(fs, path_in("racy"), "ours", 4, 0644, &e), 0);
	assert_int_equal(test_write(path_in("racy"), "theirs", 6), 0);
	mtls_err_clear(&e);
	assert_int_equal(mtls_fileset_commit(fs, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	mtls_fileset_free(fs);
	assert_int_equal(mtls_file_read(path_in("racy"), 100, &d, &n, &e), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(d, "theirs", 6);
	mtls_file_free(d, n);
	assert_int_equal(access(path_in("first"), F_OK), -1);
	assert_int_equal(count_entries(), 1);
}

/* A named pipe would block open(2) and read(2) forever: refused at once. */
static void
read_refuses_fifo(void **state)
{
	struct mtls_err e;
	unsigned char *d = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(mkfifo(path_in("pipe"), 0600), 0);
	mtls_err_clear(&e);
	assert_int_equal(mtls_file_read(path_in("pipe"), 100, &d, &n, &e), -1);
	assert_non_null(strstr(e.msg, "named pipe"));
	assert_int_equal(mtls_file_read("/dev/null", 100, &d, &n, &e), -1);
	assert_non_null(strstr(e.msg, "device"));
}

static void
mkdir_p_nested(void **state)
{
	struct mtls_err e;
	struct stat st;

	(void)state;
	assert_int_equal(mtls_mkdir_p(path_in("a/b/c"), 0700, &e), 0);
	assert_int_equal(stat(path_in("a/b/c"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mtls_mkdir_p(path_in("a/b/c"), 0700, &e), 0);
	assert_int_equal(mtls_file_write_atomic(path_in("plain"), "x", 1, 0644, 0, &e), 0);
	assert_int_equal(mtls_mkdir_p(path_in("plain"), 0700, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(write_read_roundtrip_with_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(refuses_overwrite_without_force, setup, teardown),
	    cmocka_unit_test_setup_teardown(fileset_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(fileset_many_files_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(read_errors_are_clear, setup, teardown),
	    cmocka_unit_test_setup_teardown(mkdir_p_nested, setup, teardown),
	    cmocka_unit_test_setup_teardown(commit_never_replaces_a_file_created_meanwhile, setup, teardown),
	    cmocka_unit_test_setup_teardown(read_refuses_fifo, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
