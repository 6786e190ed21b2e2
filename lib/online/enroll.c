/* Layer online, node side: first enrollment with a token and a pinned
 * CA (mtls enroll). See mtls/online.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/online.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "ca/ca_internal.h"
#include "base/internal.h"
#include "online/enroll_int.h"

static int
write_state(const struct mtls_enroll_opts *o, struct mtls_fileset *fs,
    const char *fp, struct mtls_err *err)
{
	json_t *j = json_object(), *f = json_array();
	char *txt;
	int rc;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "url", json_string(o->url));
	json_object_set_new(j, "name", json_string(o->name));
	json_object_set_new(j, "ca_fingerprint", json_string(fp));
	if (o->formats & MTLS_ENROLL_P12) {
		json_array_append_new(f, json_string("p12"));
	}
	if (o->formats & MTLS_ENROLL_JKS) {
		json_array_append_new(f, json_string("jks"));
	}
	json_object_set_new(j, "formats", f);
	if (o->bundle != NULL) {
		json_object_set_new(j, "for", json_string(o->bundle));
	}
	if (o->store_pass != NULL) {
		json_object_set_new(j, "store_pass", json_string(o->store_pass));
	}
	if (o->exec != NULL) {
		json_object_set_new(j, "exec", json_string(o->exec));
	}
	json_object_set_new(j, "key_type", json_string(mtls_keytype_name(
	    (enum mtls_keytype)o->key_type)));
	txt = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (txt == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* 0600: it may name a password file or hold a pass: spec. */
	rc = mtls__enroll_stage(fs, o->dir, o->name, ".enroll.json", txt, strlen(txt),
	    MTLS_MODE_SECRET, err);
	free(txt);
	return rc;
}

static int
in_the_way(const struct mtls_enroll_opts *o, struct mtls_err *err)
{
	static const char *const exts[] = {".key", ".crt", ".chain.pem",
	    ".enroll.json", ".p12", ".jks"};
	size_t i;
	char *p;
	int there;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		p = mtls__path_of(o->dir, o->name, exts[i]);
		there = p != NULL && access(p, F_OK) == 0;
		if (there) {
			mtls_err_set(err, MTLS_E_EXISTS, "%s exists: this node is "
			    "enrolled already (renew with 'mtls renew-agent'), or "
			    "use --force to enroll again", p);
		}
		free(p);
		if (there) {
			return -1;
		}
	}
	return 0;
}

int
mtls_enroll(const struct mtls_enroll_opts *o, struct mtls_err *err)
{
	X509 *ca = NULL, *cert = NULL;
	STACK_OF(X509) *others = NULL;
	EVP_PKEY *key = NULL;
	X509_NAME *subj = NULL;
	char *ca_pem = NULL, *csr = NULL, *pass = NULL, *crl = NULL;
	char fp[65];
	size_t crl_len = 0;
	struct mtls_fileset *fs = NULL;
	struct est_call call;
	struct enroll_install in;
	int rc = -1;

	if (mtls_url_check(o->url, 0, err) != 0) {
		return -1;
	}
	if (o->token == NULL || o->ca_fingerprint == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "first enrollment needs "
		    "--token and --ca-fingerprint (there is no trust on first use)");
	}
	if (mtls__ca_check_name(o->name, err) != 0 ||
	    mtls_mkdir_p(o->dir, 0755, err) != 0) {
		return -1;
	}
	/* Refuse before the token is spent if the files are in the way. */
	if (!o->force && in_the_way(o, err) != 0) {
		return -1;
	}
	/* The spec is kept for renewals; a spec that is the secret itself
	 * (pass:), or that cannot be read twice (fd:, stdin), is not. */
	if (o->store_pass != NULL && strncmp(o->store_pass, "env:", 4) != 0 &&
	    strncmp(o->store_pass, "file:", 5) != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "--store-pass is kept in "
		    "%s.enroll.json so that renewals can rewrite the stores: give "
		    "env:VAR or file:PATH (never the password itself)", o->name);
	}
	if (o->store_pass != NULL && (pass = mtls_pass_get(o->store_pass, NULL, 0,
		err)) == NULL) {
		goto out;
	}
	if ((o->formats & (MTLS_ENROLL_P12 | MTLS_ENROLL_JKS)) != 0 && pass == NULL) {
		mtls_err_set(err, MTLS_E_USAGE, "--format p12/jks needs --store-pass "
		    "SPEC");
		goto out;
	}
	ca = mtls__est_client_pinned_ca(o->url, o->ca_fingerprint, NULL, o->timeout_ms, &others, err);
	if (ca == NULL || (ca_pem = mtls__est_client_pem(ca)) == NULL) {
		goto out;
	}
	key = mtls_key_generate((enum mtls_keytype)o->key_type, err);
	subj = X509_NAME_new();
	if (key == NULL || subj == NULL ||
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)o->name, -1, -1, 0) != 1) {
		if (err->code == MTLS_OK) {
			mtls_err_ssl(err, MTLS_E_USAGE, "'%s' cannot be a common name",
			    o->name);
		}
		goto out;
	}
	csr = mtls__est_client_csr(key, subj, NULL, err);
	if (csr == NULL) {
		goto out;
	}
	memset(&call, 0, sizeof(call));
	call.url = o->url;
	call.op = "simpleenroll";
	call.ca_pem = ca_pem;
	call.user = o->name;
	call.pass = o->token;
	call.body = csr;
	call.timeout_ms = o->timeout_ms;
	cert = mtls__est_client_post_csr(&call, key, ca, others, err);
	if (cert == NULL) {
		goto out;
	}
	crl = mtls__enroll_fetch_crl(o->url, ca_pem, o->timeout_ms, &crl_len);
	mtls__est_client_ca_fp(ca, fp);
	memset(&in, 0, sizeof(in));
	in.dir = o->dir;
	in.name = o->name;
	in.key = key;
	in.cert = cert;
	in.ca = ca;
	in.untrusted = others;
	in.formats = o->formats;
	in.bundle = o->bundle;
	in.store_pass = pass;
	in.crl_pem = crl;
	in.crl_len = crl_len;
	fs = mtls_fileset_new(o->force, err);
	if (fs == NULL || mtls__enroll_stage_all(&in, fs, err) != 0 ||
	    write_state(o, fs, fp, err) != 0 || mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_pass_free(pass);
	free(crl);
	free(csr);
	OPENSSL_free(ca_pem);
	X509_NAME_free(subj);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	sk_X509_pop_free(others, X509_free);
	return rc;
}