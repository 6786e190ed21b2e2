/* receiver_store: path sanitiser, atomic apply, replay, escapes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "link/server/content_store_int.h"
#include "test_util.h"

static char *dir;
static char root[600];

static int
setup(void **state)
{
	(void)state;
	dir = test_tmpdir();
	if (dir == NULL) {
		return -1;
	}
	snprintf(root, sizeof(root), "%s/root", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_rmrf(dir);
	free(dir);
	return 0;
}

static const struct {
	const char *in, *out; /* out NULL: refused */
} path_cases[] = {
	{"/a", "/a"},
	{"/content/site/page.html", "/content/site/page.html"},
	{"//a///b/", "/a/b"},
	{"/a/.hidden", "/a/.hidden"},
	{"/a/..b", "/a/..b"},
	{"/a b/c", "/a b/c"},
	{"a", NULL},
	{"", NULL},
	{"/", NULL},
	{"///", NULL},
	{"/..", NULL},
	{"/a/../../etc/passwd", NULL},
	{"/a/..", NULL},
	{"/./a", NULL},
	{"/a/.", NULL},
	{"/a\\..\\b", NULL},
	{"/a\nb", NULL},
	{"/caf\xc3\xa9/\xe2\x82\xac.html", "/caf\xc3\xa9/\xe2\x82\xac.html"},
	{"/a\xff", NULL},             /* not UTF-8 */
	{"/a\xc3", NULL},             /* sequence cut short */
	{"/\xc0\xaf" "etc", NULL},       /* overlong '/' */
	{"/\xed\xa0\x80", NULL},      /* surrogate */
	{"/a\xc2\x85" "b", NULL},        /* C1 control (NEL) */
	{"/a\x1b[31m", NULL},         /* terminal escape */
	{"/a\tb", NULL},
	{"/.mtls-receiver.db", NULL},
	{"/x/.mtls-tmp-1", NULL},
	{"../etc", NULL},
};

static void
path_table(void **state)
{
	char out[MTLS__CONTENT_PATH_MAX + 1], big[MTLS__CONTENT_PATH_MAX + 10];
	struct mtls_err err;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		mtls_err_clear(&err);
		rc = mtls__content_store_path_check(path_cases[i].in, out, sizeof(out),
		    &err);
		if (path_cases[i].out == NULL) {
			if (rc == 0) {
				fail_msg("'%s' accepted as '%s'", path_cases[i].in,
				    out);
			}
			assert_int_equal(err.code, MTLS_E_POLICY);
		} else {
			if (rc != 0) {
				fail_msg("'%s': %s", path_cases[i].in, err.msg);
			}
			assert_string_equal(out, path_cases[i].out);
		}
	}
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(mtls__content_store_path_check(big, out, sizeof(out), &err), -1);
}

static void
ids(void **state)
{
	char big[MTLS__CONTENT_ID_MAX + 2];

	(void)state;
	assert_true(mtls__content_store_id_ok("a"));
	assert_true(mtls__content_store_id_ok("0190-abc:7/x"));
	assert_false(mtls__content_store_id_ok(""));
	assert_false(mtls__content_store_id_ok("a b"));
	assert_false(mtls__content_store_id_ok("a\x01"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(mtls__content_store_id_ok(big));
	big[MTLS__CONTENT_ID_MAX] = '\0';
	assert_true(mtls__content_store_id_ok(big));
}

static char *
slurp(const char *rel)
{
	static char buf[256];
	char p[800];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "r");
	if (f == NULL) {
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
apply(struct mtls__content_store *s, enum mtls_action a, const char *path,
    const char *data, const char *id, enum mtls__content_outcome *out,
    struct mtls_err *err)
{
	struct iovec iov[2];
	size_t half = data != NULL ? strlen(data) / 2 : 0;

	/* Two pieces, as evbuffer hands them over. */
	iov[0].iov_base = (void *)data;
	iov[0].iov_len = half;
	iov[1].iov_base = (void *)(data != NULL ? data + half : NULL);
	iov[1].iov_len = data != NULL ? strlen(data) - half : 0;
	mtls_err_clear(err);
	return mtls__content_store_apply(s, a, path, iov, data != NULL ? 2 : 0, id,
	    "author", out, err);
}

static void
activate_deactivate_replay(void **state)
{
	struct mtls_err err;
	enum mtls__content_outcome out;
	struct mtls__content_store *s = mtls__content_store_open(root, NULL, &err);
	char p[800];

	(void)state;
	assert_non_null(s);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c/d/page.html",
	    "hello world", "id-1", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_APPLIED);
	assert_string_equal(slurp("c/d/page.html"), "hello world");
	/* Replace, then replay the first id: acknowledged, not re-applied. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c/d/page.html",
	    "second", "id-2", &out, &err), 0);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c/d/page.html",
	    "hello world", "id-1", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_REPLAYED);
	assert_string_equal(slurp("c/d/page.html"), "second");
	/* The same id for other content is a conflict. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c/d/page.html",
	    "other", "id-1", &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_EXISTS);
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/c/d/page.html",
	    NULL, "id-1", &out, &err), -1);
	/* Deactivate, then again (absent), then an absent directory. */
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/c/d/page.html",
	    NULL, "id-3", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_APPLIED);
	assert_null(slurp("c/d/page.html"));
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/c/d/page.html",
	    NULL, NULL, &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_ABSENT);
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/no/such/file",
	    NULL, NULL, &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_ABSENT);
	/* Empty content is a valid (empty) file. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/empty", "", NULL,
	    &out, &err), 0);
	assert_string_equal(slurp("empty"), "");
	/* Ids survive a reopen (they live in SQLite). */
	mtls__content_store_close(s);
	s = mtls__content_store_open(root, NULL, &err);
	assert_non_null(s);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c/d/page.html",
	    "hello world", "id-1", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_REPLAYED);
	assert_null(slurp("c/d/page.html"));
	/* Ids are per principal. */
	{
		struct iovec v = {(void *)"x", 1};

		assert_int_equal(mtls__content_store_apply(s, MTLS_ACTION_ACTIVATE,
		    "/p2", &v, 1, "id-1", "someone-else", &out, &err), 0);
		assert_int_equal(out, MTLS__CONTENT_APPLIED);
	}
	/* No temporary files are left behind. */
	snprintf(p, sizeof(p), "ls -A '%s/c/d' | grep -q mtls-tmp", root);
	assert_int_not_equal(system(p), 0);
	mtls__content_store_close(s);
}

static void
escapes(void **state)
{
	struct mtls_err err;
	enum mtls__content_outcome out;
	struct mtls__content_store *s = mtls__content_store_open(root, NULL, &err);
	char link[800], target[700], file[800];
	struct stat st;

	(void)state;
	assert_non_null(s);
	snprintf(target, sizeof(target), "%s/outside", dir);
	assert_int_equal(mkdir(target, 0755), 0);
	snprintf(link, sizeof(link), "%s/link", root);
	assert_int_equal(symlink(target, link), 0);
	/* A directory symlink on the way is never followed. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/link/evil", "x",
	    NULL, &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_POLICY);
	assert_non_null(strstr(err.msg, "symbolic link"));
	snprintf(file, sizeof(file), "%s/evil", target);
	assert_int_equal(stat(file, &st), -1);
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/link/evil", NULL,
	    NULL, &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_POLICY);
	/* A symlink as the leaf is replaced, not written through. */
	snprintf(file, sizeof(file), "%s/victim", target);
	assert_int_equal(system("true"), 0);
	{
		FILE *f = fopen(file, "w");

		assert_non_null(f);
		fputs("keep", f);
		fclose(f);
	}
	snprintf(link, sizeof(link), "%s/leaf", root);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/leaf", "new", NULL,
	    &out, &err), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	{
		FILE *f = fopen(file, "r");
		char b[16] = "";

		assert_non_null(f);
		assert_non_null(fgets(b, sizeof(b), f));
		fclose(f);
		assert_string_equal(b, "keep");
	}
	/* Names longer than NAME_MAX are refused, not an I/O error. */
	{
		char longp[400];

		longp[0] = '/';
		memset(longp + 1, 'n', 300);
		longp[301] = '\0';
		assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, longp, "x", NULL,
		    &out, &err), -1);
		assert_int_equal(err.code, MTLS_E_POLICY);
		memcpy(longp + 301, "/f", 3);
		assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, longp, "x", NULL,
		    &out, &err), -1);
		assert_int_equal(err.code, MTLS_E_POLICY);
		assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, longp, NULL,
		    NULL, &out, &err), 0);
		assert_int_equal(out, MTLS__CONTENT_ABSENT);
	}
	/* A file where a directory is needed, a directory where a file is. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/leaf/x", "y", NULL,
	    &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_EXISTS);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/d/f", "y", NULL,
	    &out, &err), 0);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/d", "y", NULL, &out,
	    &err), -1);
	assert_int_equal(err.code, MTLS_E_EXISTS);
	assert_int_equal(apply(s, MTLS_ACTION_DEACTIVATE, "/d", NULL, NULL,
	    &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_EXISTS);
	mtls__content_store_close(s);
}

/* What a receiver killed between placing a file and recording its item
 * id leaves: the id "placing" in the database and (perhaps) the file in
 * place. */
static void
leave_placing(const char *id, const char *path, const char *sha)
{
	char db[800], sql[600];
	sqlite3 *h = NULL;

	snprintf(db, sizeof(db), "%s/%s", root, MTLS__CONTENT_DB);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO placing VALUES ('author', "
	    "'%s', 'Activate', '%s', '%s')", id, path, sha);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void
put(const char *rel, const char *data)
{
	char p[800];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static void
crash_window(void **state)
{
	struct mtls_err err;
	enum mtls__content_outcome out;
	struct mtls__content_store *s;
	char sha[65];

	(void)state;
	s = mtls__content_store_open(root, NULL, &err);
	assert_non_null(s);
	/* The real digest of the content, taken from a first item. */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/probe", "placed\n",
	    "probe", &out, &err), 0);
	mtls__content_store_close(s);
	{
		char db[800];
		sqlite3 *h = NULL;
		sqlite3_stmt *st = NULL;

		snprintf(db, sizeof(db), "%s/%s", root, MTLS__CONTENT_DB);
		assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(h, "SELECT sha256 FROM "
		    "items WHERE id = 'probe'", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		snprintf(sha, sizeof(sha), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(h);
	}
	/* Killed after the rename: the file is there, the id "placing".
	 * The next start resolves it; the resent item is a replay. */
	put("a", "placed\n");
	leave_placing("it-a", "/a", sha);
	/* Killed before the rename: the id "placing", no file. */
	leave_placing("it-b", "/b", sha);
	s = mtls__content_store_open(root, NULL, &err);
	assert_non_null(s);
	/* Removed now: a replay must not bring it back. */
	{
		char p[800];

		snprintf(p, sizeof(p), "%s/a", root);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/a", "placed\n",
	    "it-a", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_REPLAYED);
	assert_null(slurp("a")); /* not applied again */
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/b", "placed\n",
	    "it-b", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_APPLIED);
	assert_string_equal(slurp("b"), "placed\n");
	/* The same found while running (a failure between the two steps):
	 * the retry resolves its own row. */
	put("c", "placed\n");
	leave_placing("it-c", "/c", sha);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/c", "placed\n",
	    "it-c", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_REPLAYED);
	/* A "placing" id whose change never happened is new again: it may
	 * carry other content. */
	leave_placing("it-d", "/d", sha);
	assert_int_equal(apply(s, MTLS_ACTION_ACTIVATE, "/d", "other\n",
	    "it-d", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_APPLIED);
	assert_string_equal(slurp("d"), "other\n");
	mtls__content_store_close(s);
}

static int
placing_rows(const char *id)
{
	char db[800];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int n;

	snprintf(db, sizeof(db), "%s/%s", root, MTLS__CONTENT_DB);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM placing "
	    "WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

/* A "placing" row whose writer is alive (another worker between its
 * record and its rename) is not a crash's leftover: the same item sent
 * again meanwhile is answered busy, the row is left alone and nothing is
 * applied; once the writer is done the item applies exactly once. */
static void
inflight_guard(void **state)
{
	struct mtls_err err;
	enum mtls__content_outcome out;
	struct mtls__content_store *s;
	char key[MTLS__CONTENT_INFLIGHT_KEY];

	(void)state;
	s = mtls__content_store_open(root, NULL, &err);
	assert_non_null(s);
	assert_int_equal(mtls__content_inflight_claim("k"), 1);
	assert_int_equal(mtls__content_inflight_claim("k"), 0);
	mtls__content_inflight_release("k");
	assert_int_equal(mtls__content_inflight_claim("k"), 1);
	mtls__content_inflight_release("k");
	/* The live writer: its row recorded, its key held, no file yet. */
	leave_placing("it-e", "/e", "0");
	mtls__content_store_inflight_key(s, "author", "it-e", key,
	    sizeof(key));
	assert_int_equal(mtls__content_inflight_claim(key), 1);
	mtls_err_clear(&err);
	assert_int_equal(mtls__content_store_apply(s, MTLS_ACTION_ACTIVATE,
	    "/e", NULL, 0, "it-e", "author", &out, &err), -1);
	assert_int_equal(err.code, MTLS_E_BUSY);
	assert_int_equal(placing_rows("it-e"), 1); /* not resolved */
	assert_null(slurp("e"));
	/* Another sender's item of the same id is its own. */
	mtls_err_clear(&err);
	assert_int_equal(mtls__content_store_apply(s, MTLS_ACTION_DEACTIVATE,
	    "/e", NULL, 0, "it-e", "other", &out, &err), 0);
	mtls__content_inflight_release(key);
	/* The writer is gone (killed): the retry resolves and applies. */
	assert_int_equal(mtls__content_store_apply(s, MTLS_ACTION_DEACTIVATE,
	    "/e", NULL, 0, "it-e", "author", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_ABSENT);
	assert_int_equal(placing_rows("it-e"), 0);
	assert_int_equal(mtls__content_store_apply(s, MTLS_ACTION_DEACTIVATE,
	    "/e", NULL, 0, "it-e", "author", &out, &err), 0);
	assert_int_equal(out, MTLS__CONTENT_REPLAYED);
	mtls__content_store_close(s);
}

/* Temporary files of killed receivers anywhere under the root are swept;
 * a live receiver's, other names and what a link leads to are kept. */
static void
sweep_tmp(void **state)
{
	struct mtls_err err;
	struct mtls__content_store *s;
	char p[900], out[700];

	(void)state;
	snprintf(out, sizeof(out), "%s/outside", dir);
	assert_int_equal(mkdir(out, 0755), 0);
	s = mtls__content_store_open(root, NULL, &err);
	assert_non_null(s);
	snprintf(p, sizeof(p), "%s/a", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b", root);
	assert_int_equal(mkdir(p, 0755), 0);
	put("a/b/.mtls-tmp-999999999-1", "key");
	put(".mtls-tmp-999999999-2", "key");
	put("a/.mtls-tmp-1-3", "live"); /* pid 1 exists */
	put("a/.mtls-tmp-x", "not ours");
	put("a/b/page.html", "content");
	snprintf(p, sizeof(p), "%s/.mtls-tmp-999999999-4", out);
	assert_non_null(fopen(p, "w"));
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(symlink(out, p), 0);
	assert_int_equal(mtls__content_store_sweep(s), 2);
	assert_null(slurp("a/b/.mtls-tmp-999999999-1"));
	assert_null(slurp(".mtls-tmp-999999999-2"));
	assert_string_equal(slurp("a/.mtls-tmp-1-3"), "live");
	assert_string_equal(slurp("a/.mtls-tmp-x"), "not ours");
	assert_string_equal(slurp("a/b/page.html"), "content");
	snprintf(p, sizeof(p), "%s/.mtls-tmp-999999999-4", out);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(mtls__content_store_sweep(s), 0);
	mtls__content_store_close(s);
}

static void
state_dir_separate(void **state)
{
	struct mtls_err err;
	char sd[700], db[800];
	struct stat st;
	struct mtls__content_store *s;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/state", dir);
	s = mtls__content_store_open(root, sd, &err);
	assert_non_null(s);
	snprintf(db, sizeof(db), "%s/%s", sd, MTLS__CONTENT_DB);
	assert_int_equal(stat(db, &st), 0);
	mtls__content_store_close(s);
	/* A root that cannot be created is named. */
	mtls_err_clear(&err);
	assert_null(mtls__content_store_open("/proc/nope/root", NULL, &err));
	assert_non_null(strstr(err.msg, "/proc/nope"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(path_table),
		cmocka_unit_test(ids),
		cmocka_unit_test_setup_teardown(activate_deactivate_replay,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_window, setup, teardown),
		cmocka_unit_test_setup_teardown(inflight_guard, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(sweep_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(state_dir_separate, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
