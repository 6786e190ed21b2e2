/* see mtls/ca.h: creating a CA directory (mtls_ca_init: its root key and
 * certificate, ca.json, a fresh inventory) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

#define CA_CERT MTLS_CA_CERT
#define CA_KEY MTLS_CA_KEY
#define CA_CONF MTLS_CA_CONF
#define CA_INV MTLS_CA_INV

/* basicConstraints and keyUsage of a root: the same as an intermediate's
 * without a path length (caexts.c), plus its own key identifier. */
static int
ca_add_root_exts(X509 *x, struct mtls_err *err)
{
	return mtls__add_ca_exts(x, -1, err) != 0 || mtls__add_ski(x, err) != 0
	    ? -1 : 0;
}

X509 *
mtls__ca_make_root(EVP_PKEY *key, X509_NAME *name, int days,
    const char *policies, struct mtls_err *err)
{
	X509 *x = X509_new();

	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    mtls__random_serial(X509_get_serialNumber(x), err) != 0 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1) {
		if (err != NULL && err->code == MTLS_OK) {
			mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot build the CA certificate");
		}
		X509_free(x);
		return NULL;
	}
	if (ca_add_root_exts(x, err) != 0 ||
	    mtls__add_policies(x, policies, err) != 0) {
		X509_free(x);
		return NULL;
	}
	if (X509_sign(x, key, mtls__sign_md(key)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot sign the CA certificate");
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *
ca_conf_json(const struct mtls_ca_init_opts *o, X509 *cert)
{
	json_t *j = json_object();
	char *subj = mtls_name_format(X509_get_subject_name(cert)), *out;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "subject", json_string(subj ? subj : ""));
	json_object_set_new(j, "key_type", json_string(o->key_uri != NULL
	    ? "pkcs11" : mtls_keytype_name(o->key_type)));
	json_object_set_new(j, "default_days", json_integer(MTLS_DEFAULT_DAYS));
	json_object_set_new(j, "created", json_integer((json_int_t)time(NULL)));
	if (o->crl_url != NULL) {
		json_object_set_new(j, "crl_url", json_string(o->crl_url));
	}
	if (o->ocsp_url != NULL) {
		json_object_set_new(j, "ocsp_url", json_string(o->ocsp_url));
	}
	if (o->key_uri != NULL) {
		json_object_set_new(j, "key_uri", json_string(o->key_uri));
	}
	if (o->db != NULL) {
		json_object_set_new(j, "db", json_string(o->db));
	}
	if (o->db_pass != NULL) {
		json_object_set_new(j, "db_pass", json_string(o->db_pass));
	}
	out = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	OPENSSL_free(subj);
	return out;
}

/* True when PATH records no certificate (or is not a database at all):
 * what an interrupted 'ca init' leaves. */
static int
inv_is_empty(const char *path)
{
	struct mtls_db *db = mtls__db_open(path, NULL, MTLS_DB_READONLY, NULL);
	struct mtls_db_stmt *s = NULL;
	struct mtls_err e;
	int empty = 0;

	if (db == NULL) {
		return 0;
	}
	mtls_err_clear(&e);
	s = mtls__db_prepare(db, "SELECT count(*) FROM certs", "counting", &e);
	if (s != NULL && mtls__db_step(s, &e) == 1) {
		empty = mtls__db_col_int64(s, 0) == 0;
	} else if (e.code == MTLS_E_IO) {
		empty = 1; /* created, schema not yet written */
	}
	mtls__db_finalize(s);
	mtls__db_close(db);
	return empty;
}

/* With --force, the old inventory belongs to the old CA: keep it aside
 * rather than mixing two CAs' serials. */
static int
ca_retire_inventory(const char *inv_path, struct mtls_err *err)
{
	char aside[4096];

	if (access(inv_path, F_OK) != 0) {
		return 0;
	}
	if (inv_is_empty(inv_path)) {
		unlink(inv_path);
		snprintf(aside, sizeof(aside), "%s-wal", inv_path);
		unlink(aside);
		snprintf(aside, sizeof(aside), "%s-shm", inv_path);
		unlink(aside);
		return 0;
	}
	snprintf(aside, sizeof(aside), "%s.replaced-%ld", inv_path,
	    (long)time(NULL));
	if (rename(inv_path, aside) != 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot move %s aside",
		    inv_path);
	}
	snprintf(aside, sizeof(aside), "%s-wal", inv_path);
	unlink(aside);
	snprintf(aside, sizeof(aside), "%s-shm", inv_path);
	unlink(aside);
	return 0;
}

static void
ca_init_note(const struct mtls_ca_init_opts *o, const char *msg)
{
	if (o->note != NULL && o->note_len > 0) {
		snprintf(o->note, o->note_len, "%s", msg);
	}
}

static int
ca_check_url(const char *what, const char *url, struct mtls_err *err)
{
	struct mtls_err e;

	/* It goes into every certificate the CA signs. */
	if (url != NULL && mtls_url_check(url, MTLS_URL_HTTP, &e) != 0) {
		return mtls_err_set(err, e.code, "%s: %s", what, e.msg);
	}
	return 0;
}

EVP_PKEY *
mtls__ca_new_key(const struct mtls_ca_init_opts *o, char **pass,
    struct mtls_p11 **p11, struct mtls_err *err)
{
	*pass = NULL;
	*p11 = NULL;
	if (o->key_uri != NULL) {
		if (!mtls__p11_is_uri(o->key_uri)) {
			mtls_err_set(err, MTLS_E_USAGE, "--key takes a PKCS#11 URI "
			    "(pkcs11:token=...;object=...), not '%s'", o->key_uri);
			return NULL;
		}
		return mtls__p11_load_key(o->key_uri, o->pass_spec, p11, err);
	}
	/* pass_spec is a spec (pass:, env:, file:, fd:, stdin), like every
	 * other *_spec in the API and like mtls_ca_unlock's argument. */
	if (o->pass_spec != NULL &&
	    (*pass = mtls_pass_get(o->pass_spec, NULL, 0, err)) == NULL) {
		return NULL;
	}
	return mtls_key_generate(o->key_type, err);
}

int
mtls_ca_init(const struct mtls_ca_init_opts *o, struct mtls_err *err)
{
	char *crt_p = NULL, *key_p = NULL, *conf_p = NULL, *inv_p = NULL;
	char *key_pem = NULL, *cert_pem = NULL, *conf = NULL, *pass = NULL;
	size_t key_len = 0, cert_len = 0;
	X509_NAME *name = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct mtls_fileset *fs = NULL;
	struct mtls_inv *inv = NULL;
	struct mtls_p11 *p11 = NULL;
	struct mtls__lock *lock = NULL;
	char *prev = NULL;
	int rc = -1, half = 0;

	if (ca_check_url("--crl-url", o->crl_url, err) != 0 ||
	    ca_check_url("--ocsp-url", o->ocsp_url, err) != 0 ||
	    mtls__policies_check(o->cert_policies, err) != 0) {
		return -1;
	}
	if (o->db != NULL && !mtls__db_is_url(o->db)) {
		return mtls_err_set(err, MTLS_E_USAGE, "--db takes a "
		    "postgresql:// URL, not '%s'", o->db);
	}
	name = mtls_name_parse(o->name ? o->name : "CN=mtls Root CA", err);
	if (name == NULL || mtls_mkdir_p(o->dir, 0700, err) != 0) {
		goto out;
	}
	crt_p = mtls__path_of(o->dir, CA_CERT, "");
	key_p = mtls__path_of(o->dir, CA_KEY, "");
	conf_p = mtls__path_of(o->dir, CA_CONF, "");
	inv_p = mtls__path_of(o->dir, CA_INV, "");
	lock = mtls__lock_take(o->dir, -1, &prev, err);
	if (lock == NULL) {
		goto out;
	}
	mtls__fileset_set_hook(mtls__lock_note, lock);
	if (prev != NULL && mtls__lock_sweep(o->dir, prev) > 0) {
		ca_init_note(o, "removed the temporary files of an interrupted "
		    "command");
	}
	/* ca.crt is placed last: without it, the directory holds an
	 * interrupted 'ca init', which this one replaces. */
	if (!o->force && access(crt_p, F_OK) == 0) {
		mtls_err_set(err, MTLS_E_EXISTS,
		    "a CA already exists in %s; use --force to replace it "
		    "(its inventory is kept aside)",
		    o->dir);
		goto out;
	}
	if (!o->force && access(crt_p, F_OK) != 0 && mtls__ca_pending(o->dir)) {
		mtls_err_set(err, MTLS_E_EXISTS,
		    "the intermediate CA in %s waits for its certificate; use "
		    "--force to replace it with a root", o->dir);
		goto out;
	}
	/* An interrupted init has recorded nothing; a key beside an
	 * inventory with certificates is a CA whose ca.crt went missing:
	 * never overwritten without --force. */
	half = access(crt_p, F_OK) != 0 &&
	    (access(key_p, F_OK) == 0 || access(conf_p, F_OK) == 0 ||
		access(inv_p, F_OK) == 0);
	if (half && !o->force && access(inv_p, F_OK) == 0 && !inv_is_empty(inv_p)) {
		mtls_err_set(err, MTLS_E_EXISTS,
		    "%s holds a CA key and an inventory with certificates, but no "
		    "ca.crt: restore ca.crt, or use --force to replace the CA "
		    "(its inventory is kept aside)", o->dir);
		goto out;
	}
	if (half) {
		ca_init_note(o, "finished an interrupted 'ca init': its partial "
		    "files were replaced");
	}
	key = mtls__ca_new_key(o, &pass, &p11, err);
	if (key == NULL) {
		goto out;
	}
	cert = mtls__ca_make_root(key, name, o->days > 0 ? o->days : MTLS_DEFAULT_CA_DAYS,
	    o->cert_policies, err);
	if (cert == NULL ||
	    (o->key_uri == NULL &&
		mtls_key_to_pem(key, pass, &key_pem, &key_len, err) != 0) ||
	    mtls_cert_append_pem(cert, &cert_pem, &cert_len, err) != 0) {
		goto out;
	}
	conf = ca_conf_json(o, cert);
	fs = mtls_fileset_new(o->force || half, err);
	if (conf == NULL || fs == NULL) {
		goto out;
	}
	if ((key_pem != NULL &&
		mtls_fileset_add(fs, key_p, key_pem, key_len, MTLS_MODE_SECRET, err) != 0) ||
	    mtls_fileset_add(fs, conf_p, conf, strlen(conf), MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_add(fs, crt_p, cert_pem, cert_len, MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	if (o->db == NULL && (o->force || half) &&
	    ca_retire_inventory(inv_p, err) != 0) {
		goto out;
	}
	inv = mtls__inv_open(o->db != NULL ? o->db : inv_p, o->db_pass, 1, err);
	if (inv == NULL || (o->db != NULL && mtls__inv_check_empty(inv, err) != 0) ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls__inv_close(inv);
	mtls_fileset_free(fs);
	if (lock != NULL) {
		mtls__fileset_set_hook(NULL, NULL);
		mtls__lock_drop(lock);
	}
	free(prev);
	mtls_secret_free(key_pem, key_len);
	mtls_pass_free(pass);
	OPENSSL_free(cert_pem);
	free(conf);
	X509_free(cert);
	EVP_PKEY_free(key);
	mtls__p11_close(p11);
	X509_NAME_free(name);
	free(crt_p);
	free(key_p);
	free(conf_p);
	free(inv_p);
	return rc;
}

