/* serve_audit.c: the hash-chained audit log and mtls_audit_verify, table
 * of tamperings each caught at the record it touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtls/auditlog.h"
#include "link/server/serve_audit_int.h"

static char dir[] = "/tmp/audit-test-XXXXXX";
static char logp[128], outp[128];

/* Lines of FILE into LINES (at most 64), each with its newline. */
static int
read_lines(const char *file, char lines[][2048])
{
	FILE *f = fopen(file, "r");
	int n = 0;

	assert_non_null(f);
	while (n < 64 && fgets(lines[n], 2048, f) != NULL) {
		n++;
	}
	fclose(f);
	return n;
}

static void
write_lines(const char *file, char lines[][2048], const int *order, int n)
{
	FILE *f = fopen(file, "w");
	int i;

	assert_non_null(f);
	for (i = 0; i < n; i++) {
		fputs(lines[order[i]], f);
	}
	fclose(f);
}

static int
verify(const char *file, struct mtls_err *err)
{
	struct mtls_audit_summary s;
	const char *p[] = {file};

	return mtls_audit_verify(p, 1, &s, err);
}

/* A log of a start record and five writes, closed (stop): 7 records. */
static void
make_log(void)
{
	struct mtls__audit_rec r = {"write", "127.0.0.1:1", "ab", "/CN=a b",
	    "/content/x", 5, "applied"};
	struct mtls_err err;
	struct mtls__audit *a;
	int i;

	unlink(logp);
	a = mtls__audit_open(logp, 0, &err);
	assert_non_null(a);
	for (i = 0; i < 5; i++) {
		r.bytes = (unsigned long long)i;
		assert_int_equal(mtls__audit_write(a, &r, i == 4, &err), 0);
	}
	mtls__audit_close(a);
}

static void
test_chain_holds(void **state)
{
	struct mtls_audit_summary s;
	const char *p[] = {logp};
	struct mtls_err err;
	struct stat st;

	(void)state;
	make_log();
	assert_int_equal(stat(logp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(mtls_audit_verify(p, 1, &s, &err), 0);
	assert_int_equal(s.records, 7);
	assert_int_equal(s.first_seq, 1);
	assert_int_equal(s.last_seq, 7);
	assert_int_equal(s.continues, 0);
	assert_int_equal(strlen(s.last_hash), 64);
}

static const struct {
	const char *name;
	int order[8];
	int n;
	int edit;        /* line index to alter, -1 none */
	const char *why; /* in the error, with the line */
} cases[] = {
	{"edited", {0, 1, 2, 3, 4, 5, 6}, 7, 3, ":4: record altered"},
	{"removed", {0, 1, 2, 4, 5, 6}, 6, -1, ":4: seq 5 where 4 was expected"},
	{"reordered", {0, 1, 2, 4, 3, 5, 6}, 7, -1, ":4: seq 5 where 4 was expected"},
	{"repeated", {0, 1, 2, 3, 3, 4, 5}, 7, -1, ":5: seq 4 where 5 was expected"},
	{"first removed", {1, 2, 3, 4, 5, 6}, 6, -1, ":1: seq 2 starts the log but is not a rotate record"},
};

static void
test_tampering(void **state)
{
	static char lines[64][2048];
	struct mtls_err err;
	size_t i;
	char *p;

	(void)state;
	make_log();
	assert_int_equal(read_lines(logp, lines), 7);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char copy[8][2048];
		int j;

		for (j = 0; j < 7; j++) {
			memcpy(copy[j], lines[j], sizeof(copy[j]));
		}
		if (cases[i].edit >= 0) {
			p = strstr(copy[cases[i].edit], "bytes=");
			assert_non_null(p);
			p[6] = '9';
		}
		write_lines(outp, copy, cases[i].order, cases[i].n);
		assert_int_equal(verify(outp, &err), -1);
		assert_int_equal(err.code, MTLS_E_VERIFY);
		if (strstr(err.msg, cases[i].why) == NULL) {
			fail_msg("%s: '%s' has no '%s'", cases[i].name, err.msg,
			    cases[i].why);
		}
	}
}

static void
test_torn_and_restart(void **state)
{
	struct mtls__audit_rec r = {"accept", NULL, NULL, NULL, NULL, 0, "ok"};
	struct mtls_err err;
	struct mtls__audit *a;
	FILE *f;

	(void)state;
	make_log();
	f = fopen(logp, "a");
	fputs("mtls-audit-1 seq=8 ti", f);
	fclose(f);
	assert_int_equal(verify(logp, &err), -1);
	assert_non_null(strstr(err.msg, ":8: record cut short"));
	a = mtls__audit_open(logp, 0, &err);
	assert_non_null(a);
	assert_int_equal(mtls__audit_write(a, &r, 0, &err), 0);
	mtls__audit_close(a);
	assert_int_equal(verify(logp, &err), 0);
}

static void
test_rotation(void **state)
{
	struct mtls__audit_rec r = {"write", "127.0.0.1:1", "ab", "/CN=a",
	    "/content/x", 5, "applied"};
	struct mtls_audit_summary s;
	struct mtls_err err;
	struct mtls__audit *a;
	char rot[160];
	const char *p[2];
	int i;

	(void)state;
	unlink(logp);
	a = mtls__audit_open(logp, 4096, &err);
	assert_non_null(a);
	for (i = 0; i < 30; i++) {
		assert_int_equal(mtls__audit_write(a, &r, 0, &err), 0);
	}
	mtls__audit_close(a);
	/* The first rotated file ends at the record before the rotation. */
	for (i = 2; i < 40; i++) {
		snprintf(rot, sizeof(rot), "%s.%d", logp, i);
		if (access(rot, F_OK) == 0) {
			break;
		}
	}
	assert_true(i < 40);
	p[0] = logp;
	assert_int_equal(mtls_audit_verify(p, 1, &s, &err), 0);
	assert_int_equal(s.continues, 1);
	/* Reopened with the current file gone: the chain goes on from the
	 * newest rotated file. */
	unlink(logp);
	a = mtls__audit_open(logp, 0, &err);
	assert_non_null(a);
	mtls__audit_close(a);
	assert_int_equal(mtls_audit_verify(p, 1, &s, &err), 0);
	assert_int_equal(s.continues, 1);
	assert_true(s.first_seq > 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_holds),
	    cmocka_unit_test(test_tampering),
	    cmocka_unit_test(test_torn_and_restart),
	    cmocka_unit_test(test_rotation),
	};
	int rc;

	if (mkdtemp(dir) == NULL) {
		return 1;
	}
	snprintf(logp, sizeof(logp), "%s/audit.log", dir);
	snprintf(outp, sizeof(outp), "%s/out.log", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (system("rm -rf /tmp/audit-test-*") != 0) {
		rc = rc != 0 ? rc : 0;
	}
	return rc;
}
