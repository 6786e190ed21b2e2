/*
 * Test PKI built with the library itself (mtls_ca_init, mtls_ca_sign) in a
 * temporary directory. Include after <cmocka.h>: failures are cmocka
 * assertions in the calling test.
 */
#ifndef MTLS_TEST_PKI_H
#define MTLS_TEST_PKI_H

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/pki.h"
#include "test_util.h"

/* A CA in DIR (created by mtls_ca_init), opened and unlocked. */
static inline struct mtls_ca *
test_ca_new(const char *dir, enum mtls_keytype kt, int days, const char *dn)
{
	struct mtls_ca_init_opts o;
	struct mtls_err e;
	struct mtls_ca *ca;

	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.name = dn;
	o.key_type = kt;
	o.days = days;
	if (mtls_ca_init(&o, &e) != 0) {
		fail_msg("mtls_ca_init %s: %s", dir, e.msg);
	}
	ca = mtls_ca_open(dir, &e);
	if (ca == NULL) {
		fail_msg("mtls_ca_open %s: %s", dir, e.msg);
	}
	if (mtls_ca_unlock(ca, NULL, &e) != 0) {
		fail_msg("mtls_ca_unlock %s: %s", dir, e.msg);
	}
	return ca;
}

/* "dns:a,ip:b" into a fresh GENERAL_NAMES (NULL list: empty). */
static inline GENERAL_NAMES *
test_sans(const char *list)
{
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	struct mtls_err e;

	assert_non_null(g);
	if (list != NULL && mtls_san_add(g, list, &e) != 0) {
		fail_msg("mtls_san_add %s: %s", list, e.msg);
	}
	return g;
}

/* A certificate for KEY signed by CA under PROFILE; NB 0 means now. */
static inline X509 *
test_sign(struct mtls_ca *ca, const char *cn, enum mtls_profile p,
    const char *sans, EVP_PKEY *key, int days, time_t nb)
{
	struct mtls_cert_request r;
	struct mtls_err e;
	char dn[300];
	X509_NAME *subj;
	GENERAL_NAMES *g = test_sans(sans);
	X509 *x;

	snprintf(dn, sizeof(dn), "CN=%s", cn);
	subj = mtls_name_parse(dn, &e);
	assert_non_null(subj);
	memset(&r, 0, sizeof(r));
	r.name = cn;
	r.subject = subj;
	r.pubkey = key;
	r.profile = p;
	r.sans = g;
	r.days = days;
	r.not_before = nb;
	x = mtls_ca_sign(ca, &r, &e);
	if (x == NULL) {
		fail_msg("mtls_ca_sign %s: %s", cn, e.msg);
	}
	X509_NAME_free(subj);
	GENERAL_NAMES_free(g);
	return x;
}

/* PEM of one or two certificates to PATH. */
static inline void
test_write_certs(const char *path, X509 *a, X509 *b)
{
	BIO *bio = BIO_new_file(path, "wb");

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, a), 1);
	if (b != NULL) {
		assert_int_equal(PEM_write_bio_X509(bio, b), 1);
	}
	BIO_free(bio);
}

/* A CSR for KEY with SUBJECT, optional SANs (OpenSSL config syntax, e.g.
 * "DNS:a,IP:1.2.3.4") and optional basicConstraints CA:TRUE; signed with
 * KEY so the signature verifies. */
static inline X509_REQ *
test_csr(EVP_PKEY *key, const char *subject, const char *san_conf, int ca)
{
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	struct mtls_err e;
	X509_NAME *n = mtls_name_parse(subject, &e);
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int is_ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;

	assert_non_null(r);
	assert_non_null(n);
	assert_int_equal(X509_REQ_set_version(r, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(r, n), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, key), 1);
	X509V3_set_ctx(&ctx, NULL, NULL, r, NULL, 0);
	if (san_conf != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
		    san_conf);
		assert_non_null(ext);
		sk_X509_EXTENSION_push(exts, ext);
	}
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE");
		assert_non_null(ext);
		sk_X509_EXTENSION_push(exts, ext);
	}
	if (sk_X509_EXTENSION_num(exts) > 0) {
		assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
	}
	assert_true(X509_REQ_sign(r, key, is_ed ? NULL : EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	return r;
}

/* The usual fixture: a CA (EC P-256, subject CN) in a fresh temporary
 * directory and one spare key. */
struct test_ca_fx {
	char *dir;
	struct mtls_ca *ca;
	EVP_PKEY *key;
};

static inline int
test_ca_fx_setup(void **state, const char *cn)
{
	struct test_ca_fx *f = calloc(1, sizeof(*f));
	struct mtls_err e;

	if (f == NULL || (f->dir = test_tmpdir()) == NULL) {
		free(f);
		return -1;
	}
	f->ca = test_ca_new(f->dir, MTLS_KEY_EC_P256, 0, cn);
	f->key = mtls_key_generate(MTLS_KEY_EC_P256, &e);
	*state = f;
	return f->ca != NULL && f->key != NULL ? 0 : -1;
}

static inline int
test_ca_fx_teardown(void **state)
{
	struct test_ca_fx *f = *state;

	EVP_PKEY_free(f->key);
	mtls_ca_free(f->ca);
	test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static inline int
test_count_cb(const struct mtls_inv_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Inventory rows named NAME (all with NULL). */
static inline int
test_inventory_rows(struct mtls_ca *ca, const char *name)
{
	struct mtls_err e;
	int n = 0;

	assert_int_equal(mtls_ca_list(ca, name, test_count_cb, &n, &e), 0);
	return n;
}

#endif
