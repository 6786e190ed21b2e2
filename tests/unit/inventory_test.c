/* inventory.c (through the CA API): rows, batches, rollback, listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "test_pki.h"

static int
setup(void **state)
{
	return test_ca_fx_setup(state, "CN=Inventory CA");
}

static int
teardown(void **state)
{
	return test_ca_fx_teardown(state);
}

/* A second connection to the same inventory, as another process has. */
static int
rows_elsewhere(const char *dir, const char *name)
{
	struct mtls_err e;
	struct mtls_ca *other = mtls_ca_open(dir, &e);
	int n;

	assert_non_null(other);
	n = test_inventory_rows(other, name);
	mtls_ca_free(other);
	return n;
}

struct want {
	X509 *cert;
	const char *name;
	const char *profile;
	const char *sans;
	int seen;
};

static int
check_cb(const struct mtls_inv_entry *e, void *arg)
{
	struct want *w = arg;
	char fp[EVP_MAX_MD_SIZE * 3 + 1];
	char *serial = mtls_cert_serial_hex(w->cert);
	char *subj = mtls_name_format(X509_get_subject_name(w->cert));
	struct tm tm;
	BIO *b;
	X509 *x;

	w->seen++;
	assert_string_equal(e->serial, serial);
	assert_string_equal(e->name, w->name);
	assert_string_equal(e->subject, subj);
	assert_string_equal(e->profile, w->profile);
	assert_string_equal(e->sans, w->sans);
	assert_string_equal(e->status, "valid");
	assert_int_equal(e->revoked_at, 0);
	assert_null(e->reason);
	assert_int_equal(mtls_cert_fingerprint(w->cert, EVP_sha256(), fp,
	    sizeof(fp)), 0);
	assert_string_equal(e->sha256, fp);
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(w->cert), &tm), 1);
	assert_int_equal(e->not_before, timegm(&tm));
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(w->cert), &tm), 1);
	assert_int_equal(e->not_after, timegm(&tm));
	/* The PEM is the certificate itself. */
	b = BIO_new_mem_buf(e->pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, w->cert), 0);
	X509_free(x);
	BIO_free(b);
	OPENSSL_free(serial);
	OPENSSL_free(subj);
	return 0;
}

static void
row_fields(void **state)
{
	struct test_ca_fx *f = *state;
	struct mtls_err e;
	struct want w = {NULL, "web", "server", "dns:web.example,ip:10.9.8.7", 0};

	w.cert = test_sign(f->ca, "web", MTLS_PROFILE_SERVER, w.sans, f->key,
	    20, 0);
	assert_int_equal(mtls_ca_list(f->ca, "web", check_cb, &w, &e), 0);
	assert_int_equal(w.seen, 1);
	/* Outside a batch a signature is committed at once. */
	assert_int_equal(rows_elsewhere(f->dir, "web"), 1);
	X509_free(w.cert);

	w.cert = test_sign(f->ca, "laptop", MTLS_PROFILE_CLIENT, NULL, f->key,
	    20, 0);
	w.name = "laptop";
	w.profile = "client";
	w.sans = "";
	w.seen = 0;
	assert_int_equal(mtls_ca_list(f->ca, "laptop", check_cb, &w, &e), 0);
	assert_int_equal(w.seen, 1);
	X509_free(w.cert);
	assert_int_equal(test_inventory_rows(f->ca, "nobody"), 0);
}

static void
batch_commit(void **state)
{
	struct test_ca_fx *f = *state;
	struct mtls_err e;
	int i, before = test_inventory_rows(f->ca, NULL);

	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	for (i = 0; i < 50; i++) {
		X509_free(test_sign(f->ca, "batch", MTLS_PROFILE_CLIENT, NULL,
		    f->key, 5, 0));
	}
	/* Our own connection sees the open batch; nobody else yet. */
	assert_int_equal(test_inventory_rows(f->ca, "batch"), 50);
	assert_int_equal(rows_elsewhere(f->dir, "batch"), 0);
	assert_int_equal(mtls_ca_commit(f->ca, &e), 0);
	assert_int_equal(rows_elsewhere(f->dir, "batch"), 50);
	assert_int_equal(test_inventory_rows(f->ca, NULL), before + 50);
	/* Commit without begin is an error, not a silent success. */
	mtls_err_clear(&e);
	assert_int_equal(mtls_ca_commit(f->ca, &e), -1);
	assert_int_equal(e.code, MTLS_E_IO);
}

static void
batch_rollback(void **state)
{
	struct test_ca_fx *f = *state;
	struct mtls_err e;
	int i, before = test_inventory_rows(f->ca, NULL);

	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	for (i = 0; i < 20; i++) {
		X509_free(test_sign(f->ca, "gone", MTLS_PROFILE_SERVER,
		    "dns:gone.example", f->key, 5, 0));
	}
	assert_int_equal(test_inventory_rows(f->ca, "gone"), 20);
	mtls_ca_rollback(f->ca);
	assert_int_equal(test_inventory_rows(f->ca, "gone"), 0);
	assert_int_equal(test_inventory_rows(f->ca, NULL), before);
	assert_int_equal(rows_elsewhere(f->dir, "gone"), 0);
	mtls_ca_rollback(f->ca); /* harmless twice */
	/* A batch may follow a rolled-back one. */
	assert_int_equal(mtls_ca_begin(f->ca, &e), 0);
	X509_free(test_sign(f->ca, "after", MTLS_PROFILE_CLIENT, NULL, f->key,
	    5, 0));
	assert_int_equal(mtls_ca_commit(f->ca, &e), 0);
	assert_int_equal(rows_elsewhere(f->dir, "after"), 1);
}

static void
batch_closed_without_commit(void **state)
{
	struct test_ca_fx *f = *state;
	struct mtls_err e;
	struct mtls_ca *ca = mtls_ca_open(f->dir, &e);

	assert_non_null(ca);
	assert_int_equal(mtls_ca_unlock(ca, NULL, &e), 0);
	assert_int_equal(mtls_ca_begin(ca, &e), 0);
	X509_free(test_sign(ca, "abandoned", MTLS_PROFILE_CLIENT, NULL, f->key,
	    5, 0));
	/* Freed mid-batch (a crash or an error path): nothing is kept. */
	mtls_ca_free(ca);
	assert_int_equal(test_inventory_rows(f->ca, "abandoned"), 0);
}

struct walk {
	int seen;
	int stop_at;
	char names[8][32];
};

static int
walk_cb(const struct mtls_inv_entry *e, void *arg)
{
	struct walk *w = arg;

	snprintf(w->names[w->seen], sizeof(w->names[0]), "%s", e->name);
	w->seen++;
	return w->seen == w->stop_at ? 42 : 0;
}

static void
list_order_and_stop(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca *ca = test_ca_new(tmp, MTLS_KEY_EC_P256, 0, NULL);
	struct test_ca_fx *f = *state;
	static const char *names[] = {"a1", "b2", "c3", "d4", "e5"};
	struct mtls_err e;
	struct walk w;
	size_t i;

	for (i = 0; i < 5; i++) {
		X509_free(test_sign(ca, names[i], MTLS_PROFILE_CLIENT, NULL,
		    f->key, 5, 0));
	}
	/* Oldest first. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(mtls_ca_list(ca, NULL, walk_cb, &w, &e), 0);
	assert_int_equal(w.seen, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(w.names[i], names[i]);
	}
	/* A non-zero return stops the walk and is returned. */
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(mtls_ca_list(ca, NULL, walk_cb, &w, &e), 42);
	assert_int_equal(w.seen, 2);
	mtls_ca_free(ca);
	/* The rows survive closing and reopening. */
	ca = mtls_ca_open(tmp, &e);
	assert_non_null(ca);
	assert_int_equal(test_inventory_rows(ca, NULL), 5);
	mtls_ca_free(ca);
	test_rmrf(tmp);
	free(tmp);
}

static void
inventory_missing_or_corrupt(void **state)
{
	char *tmp = test_tmpdir();
	struct mtls_ca *ca = test_ca_new(tmp, MTLS_KEY_EC_P256, 0, NULL);
	struct mtls_err e;

	(void)state;
	mtls_ca_free(ca);
	/* A file that is not a database. */
	unlink(test_path(tmp, "inventory.db-wal"));
	unlink(test_path(tmp, "inventory.db-shm"));
	assert_int_equal(test_write(test_path(tmp, "inventory.db"),
	    "this is not sqlite, just text long enough to be a header....\n",
	    62), 0);
	mtls_err_clear(&e);
	assert_null(mtls_ca_open(tmp, &e));
	assert_int_equal(e.code, MTLS_E_FORMAT);
	assert_non_null(strstr(e.msg, "inventory"));
	assert_non_null(strstr(e.msg, "damaged"));
	/* Missing: open does not silently create an empty one. */
	unlink(test_path(tmp, "inventory.db"));
	mtls_err_clear(&e);
	assert_null(mtls_ca_open(tmp, &e));
	assert_int_equal(e.code, MTLS_E_IO);
	assert_non_null(strstr(e.msg, "inventory.db"));
	assert_false(test_exists(test_path(tmp, "inventory.db")));
	test_rmrf(tmp);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(row_fields),
	    cmocka_unit_test(batch_commit),
	    cmocka_unit_test(batch_rollback),
	    cmocka_unit_test(batch_closed_without_commit),
	    cmocka_unit_test(list_order_and_stop),
	    cmocka_unit_test(inventory_missing_or_corrupt),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
