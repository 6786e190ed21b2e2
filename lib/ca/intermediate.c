/* see mtls/ca.h: intermediate CAs - the request, the parent's signature
 * and the installation. The sub-CA profile (path length, name
 * constraints) is subca.c, which sign.c uses too. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

/* Five years, the usual life of an online issuing CA under a root of
 * ten; never beyond the parent (mtls_ca_sign caps and refuses). */
#define SUBCA_DEFAULT_DAYS 1826

X509 *
mtls_ca_sign_intermediate(struct mtls_ca *parent, X509_REQ *csr,
    const struct mtls_subca_opts *o, struct mtls_err *err)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	struct mtls_cert_request req;
	long parent_len = X509_get_pathlen(parent->cert);

	if (pub == NULL || X509_REQ_verify(csr, pub) != 1) {
		ERR_clear_error();
		mtls_err_set(err, MTLS_E_POLICY, "the intermediate's CSR does "
		    "not verify: it was altered or its sender does not hold the "
		    "key; ask for a new one");
		return NULL;
	}
	if (mtls_key_check_strength(pub, "the intermediate's key", err) != 0 ||
	    mtls__ca_check_name(o->name, err) != 0) {
		return NULL;
	}
	if (X509_NAME_entry_count(X509_REQ_get_subject_name(csr)) == 0) {
		mtls_err_set(err, MTLS_E_POLICY, "the intermediate's CSR has an "
		    "empty subject; a CA needs a name");
		return NULL;
	}
	/* RFC 5280 4.2.1.9: a CA with pathLenConstraint N may have at most
	 * N CAs below it; refuse rather than sign a chain nobody accepts. */
	if (parent_len == 0) {
		mtls_err_set(err, MTLS_E_POLICY, "this CA's path length is 0: "
		    "it may not sign another CA");
		return NULL;
	}
	if (parent_len > 0 && (o->path_len < 0 || o->path_len >= parent_len)) {
		mtls_err_set(err, MTLS_E_POLICY, "this CA allows %ld CA(s) below "
		    "it: use --path-len %ld or less", parent_len, parent_len - 1);
		return NULL;
	}
	memset(&req, 0, sizeof(req));
	req.name = o->name;
	req.subject = X509_REQ_get_subject_name(csr);
	req.pubkey = pub;
	req.profile = MTLS_PROFILE_SUBCA;
	req.days = o->days > 0 ? o->days : SUBCA_DEFAULT_DAYS;
	req.subca = o;
	req.cert_policies = o->cert_policies;
	return mtls_ca_sign(parent, &req, err);
}

static X509_REQ *
subca_csr(EVP_PKEY *key, const char *dn, struct mtls_err *err)
{
	X509_NAME *name = mtls_name_parse(dn, err);
	X509_REQ *req = X509_REQ_new();

	if (name == NULL || req == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, mtls__sign_md(key)) <= 0) {
		if (err != NULL && err->code == MTLS_OK) {
			mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot build the intermediate's CSR");
		}
		X509_REQ_free(req);
		req = NULL;
	}
	X509_NAME_free(name);
	return req;
}

/* A pending intermediate whose key is in a token remembers where. */
static char *
pending_conf(const char *key_uri)
{
	json_t *j = json_object();
	char *out;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "key_uri", json_string(key_uri));
	out = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	return out;
}

static char *
pending_key_uri(const char *conf_p)
{
	json_t *j = json_load_file(conf_p, 0, NULL);
	char *uri = mtls__strdup(json_string_value(json_object_get(j, "key_uri")));

	json_decref(j);
	return uri;
}

int
mtls_ca_request(const struct mtls_ca_init_opts *o, struct mtls_err *err)
{
	char *key_p = mtls__path_of(o->dir, MTLS_CA_KEY, "");
	char *csr_p = mtls__path_of(o->dir, MTLS_CA_CSR, "");
	char *crt_p = mtls__path_of(o->dir, MTLS_CA_CERT, "");
	char *conf_p = mtls__path_of(o->dir, MTLS_CA_CONF, ""), *conf = NULL;
	char *key_pem = NULL, *pass = NULL, *csr_pem = NULL;
	struct mtls_p11 *p11 = NULL;
	size_t key_len = 0;
	long csr_len;
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	BIO *b = NULL;
	struct mtls_fileset *fs = NULL;
	int rc = -1;

	if (key_p == NULL || csr_p == NULL || crt_p == NULL || conf_p == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls_mkdir_p(o->dir, 0700, err) != 0) {
		goto out;
	}
	if (!o->force && (access(crt_p, F_OK) == 0 || access(key_p, F_OK) == 0)) {
		mtls_err_set(err, MTLS_E_EXISTS, "a CA already exists in %s; use "
		    "--force to replace it", o->dir);
		goto out;
	}
	key = mtls__ca_new_key(o, &pass, &p11, err);
	if (key == NULL || (csr = subca_csr(key, o->name ? o->name
	    : "CN=mtls Intermediate CA", err)) == NULL ||
	    (o->key_uri == NULL &&
		mtls_key_to_pem(key, pass, &key_pem, &key_len, err) != 0) ||
	    (o->key_uri != NULL && (conf = pending_conf(o->key_uri)) == NULL)) {
		goto out;
	}
	b = BIO_new(BIO_s_mem());
	if (b == NULL || PEM_write_bio_X509_REQ(b, csr) != 1 ||
	    (csr_len = BIO_get_mem_data(b, &csr_pem)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CSR");
		goto out;
	}
	fs = mtls_fileset_new(o->force, err);
	if (fs == NULL ||
	    (key_pem != NULL &&
		mtls_fileset_add(fs, key_p, key_pem, key_len, MTLS_MODE_SECRET, err) != 0) ||
	    (conf != NULL &&
		mtls_fileset_add(fs, conf_p, conf, strlen(conf), MTLS_MODE_PUBLIC, err) != 0) ||
	    mtls_fileset_add(fs, csr_p, csr_pem, (size_t)csr_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	BIO_free(b);
	X509_REQ_free(csr);
	mtls_secret_free(key_pem, key_len);
	mtls_pass_free(pass);
	EVP_PKEY_free(key);
	mtls__p11_close(p11);
	free(conf);
	free(key_p);
	free(csr_p);
	free(crt_p);
	free(conf_p);
	return rc;
}

/* The chain must lead from the new CA's certificate to a self-signed
 * root through CA certificates, under OpenSSL's strict checks. */
static int
install_verify(STACK_OF(X509) *chain, struct mtls_err *err)
{
	int n = sk_X509_num(chain), i, rc = -1;
	X509 *root = sk_X509_value(chain, n - 1);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	if (store == NULL || ctx == NULL || untrusted == NULL ||
	    X509_STORE_add_cert(store, root) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 1; i < n - 1; i++) {
		if (sk_X509_push(untrusted, sk_X509_value(chain, i)) <= 0) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	if (X509_check_issued(root, root) != X509_V_OK) {
		mtls_err_set(err, MTLS_E_VERIFY, "the chain must end with the "
		    "self-signed root; append the root's ca.crt to it");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot verify the chain");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		mtls_err_set(err, MTLS_E_VERIFY, "the intermediate's chain does "
		    "not verify: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (X509_check_ca(sk_X509_value(chain, 0)) != 1) {
		mtls_err_set(err, MTLS_E_VERIFY, "the certificate to install is "
		    "not a CA certificate; sign it with 'mtls ca sign-intermediate'");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

static char *
install_conf(X509 *cert, const char *crl_url, const char *ocsp_url,
    const char *key_uri)
{
	json_t *j = json_object();
	char *subj = mtls_name_format(X509_get_subject_name(cert)), *out;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "subject", json_string(subj ? subj : ""));
	json_object_set_new(j, "intermediate", json_true());
	json_object_set_new(j, "default_days", json_integer(MTLS_DEFAULT_DAYS));
	json_object_set_new(j, "created", json_integer((json_int_t)time(NULL)));
	if (crl_url != NULL) {
		json_object_set_new(j, "crl_url", json_string(crl_url));
	}
	if (ocsp_url != NULL) {
		json_object_set_new(j, "ocsp_url", json_string(ocsp_url));
	}
	if (key_uri != NULL) {
		json_object_set_new(j, "key_uri", json_string(key_uri));
	}
	out = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	OPENSSL_free(subj);
	return out;
}

static int
stage_pem(struct mtls_fileset *fs, const char *dir, const char *file,
    STACK_OF(X509) *certs, int from, int to, struct mtls_err *err)
{
	char *p = mtls__path_of(dir, file, ""), *pem = NULL;
	size_t len = 0;
	int i, rc = -1;

	for (i = from; p != NULL && i < to; i++) {
		if (mtls_cert_append_pem(sk_X509_value(certs, i), &pem, &len, err) != 0) {
			goto out;
		}
	}
	if (p == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = mtls_fileset_add(fs, p, pem, len, MTLS_MODE_PUBLIC, err);
out:
	OPENSSL_free(pem);
	free(p);
	return rc;
}

int
mtls_ca_install(const char *dir, STACK_OF(X509) *chain, const char *crl_url,
    const char *ocsp_url, struct mtls_err *err)
{
	char *key_p = mtls__path_of(dir, MTLS_CA_KEY, ""), *csr_p = mtls__path_of(dir, MTLS_CA_CSR, "");
	char *conf_p = mtls__path_of(dir, MTLS_CA_CONF, ""), *inv_p = mtls__path_of(dir, MTLS_CA_INV, "");
	char *crt_p = mtls__path_of(dir, MTLS_CA_CERT, "");
	char *conf = NULL, *key_uri = NULL;
	X509_REQ *csr = NULL;
	struct mtls_fileset *fs = NULL;
	struct mtls_inv *inv = NULL;
	int n = sk_X509_num(chain), rc = -1;

	/* They go into every certificate the intermediate signs. */
	if ((crl_url != NULL && mtls_url_check(crl_url, MTLS_URL_HTTP, err) != 0) ||
	    (ocsp_url != NULL && mtls_url_check(ocsp_url, MTLS_URL_HTTP, err) != 0)) {
		goto out;
	}
	if (key_p == NULL || csr_p == NULL || conf_p == NULL || inv_p == NULL ||
	    crt_p == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (access(csr_p, F_OK) != 0) {
		mtls_err_set(err, MTLS_E_NOTFOUND, "no pending intermediate in %s: "
		    "start one with 'mtls ca init --dir %s --intermediate'", dir, dir);
		goto out;
	}
	if (n < 2) {
		mtls_err_set(err, MTLS_E_FORMAT, "the chain must hold the "
		    "intermediate's certificate followed by its issuers up to the "
		    "root (the parent prints it with 'mtls ca sign-intermediate')");
		goto out;
	}
	/* The key never left DIR: the certificate must be for it, which the
	 * CSR (signed by that key) proves without unlocking it. */
	csr = mtls_load_csr(csr_p, err);
	if (csr == NULL) {
		goto out;
	}
	if (EVP_PKEY_eq(X509_REQ_get0_pubkey(csr),
	    X509_get0_pubkey(sk_X509_value(chain, 0))) != 1) {
		mtls_err_set(err, MTLS_E_VERIFY, "the certificate is not for the "
		    "key in %s (was %s/" MTLS_CA_CSR " signed, or another CSR?)",
		    dir, dir);
		goto out;
	}
	if (access(crt_p, F_OK) == 0) {
		mtls_err_set(err, MTLS_E_EXISTS, "%s is already installed", crt_p);
		goto out;
	}
	/* A token-held key was named in the pending ca.json: keep it. */
	key_uri = pending_key_uri(conf_p);
	if (install_verify(chain, err) != 0 ||
	    (conf = install_conf(sk_X509_value(chain, 0), crl_url, ocsp_url,
		key_uri)) == NULL ||
	    (fs = mtls_fileset_new(1, err)) == NULL ||
	    stage_pem(fs, dir, MTLS_CA_CERT, chain, 0, 1, err) != 0 ||
	    stage_pem(fs, dir, MTLS_CA_CHAIN, chain, 0, n, err) != 0 ||
	    stage_pem(fs, dir, MTLS_CA_ROOT, chain, n - 1, n, err) != 0 ||
	    mtls_fileset_add(fs, conf_p, conf, strlen(conf), MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	inv = mtls__inv_open(inv_p, NULL, 1, err);
	if (inv == NULL || mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	/* Installed: the request is done with. */
	if (unlink(csr_p) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot remove %s", csr_p);
		goto out;
	}
	rc = 0;
out:
	mtls__inv_close(inv);
	mtls_fileset_free(fs);
	X509_REQ_free(csr);
	free(conf);
	free(key_uri);
	free(key_p);
	free(csr_p);
	free(conf_p);
	free(crt_p);
	free(inv_p);
	return rc;
}

/* OLD's certificate policies as "OID,OID", or NULL when it has none. */
static char *
policies_of(X509 *old, struct mtls_err *err)
{
	CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(old, NID_certificate_policies,
	    NULL, NULL);
	char *out = NULL, oid[128];
	size_t len = 0;
	int i;

	if (cp == NULL) {
		ERR_clear_error();
		return NULL;
	}
	for (i = 0; i < sk_POLICYINFO_num(cp); i++) {
		POLICYINFO *pi = sk_POLICYINFO_value(cp, i);
		int n = OBJ_obj2txt(oid, sizeof(oid), pi->policyid, 1);
		char *grown;

		if (n <= 0 || n >= (int)sizeof(oid) ||
		    (grown = realloc(out, len + (size_t)n + 2)) == NULL) {
			free(out);
			CERTIFICATEPOLICIES_free(cp);
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot read the "
			    "intermediate's certificate policies");
			return NULL;
		}
		out = grown;
		len += (size_t)snprintf(out + len, (size_t)n + 2, "%s%s",
		    len ? "," : "", oid);
	}
	CERTIFICATEPOLICIES_free(cp);
	return out;
}

struct renew_find {
	char name[256];
	int found, revoked;
};

static int
renew_find_cb(const struct mtls_inv_entry *e, void *arg)
{
	struct renew_find *f = arg;

	snprintf(f->name, sizeof(f->name), "%s", e->name);
	f->found = 1;
	f->revoked = e->revoked_at != 0;
	return 0;
}

X509 *
mtls_ca_renew_intermediate(struct mtls_ca *parent, X509 *old, int days,
    struct mtls_err *err)
{
	struct mtls_subca_opts o;
	struct mtls_cert_request req;
	struct renew_find f;
	char *serial = NULL, *nserial = NULL;
	char *pol = NULL;
	X509 *x = NULL;
	EVP_PKEY *pub = X509_get0_pubkey(old);

	memset(&f, 0, sizeof(f));
	if (pub == NULL || X509_check_ca(old) != 1) {
		mtls_err_set(err, MTLS_E_POLICY, "not a CA certificate: renew "
		    "an intermediate made by 'mtls ca sign-intermediate'");
		return NULL;
	}
	/* Issued by this parent, with its key: the renewal is its to make. */
	if (X509_check_issued(parent->cert, old) != X509_V_OK ||
	    X509_verify(old, X509_get0_pubkey(parent->cert)) != 1) {
		ERR_clear_error();
		mtls_err_set(err, MTLS_E_VERIFY, "the intermediate was not "
		    "signed by the CA in %s; renew it where its parent is",
		    parent->dir);
		return NULL;
	}
	if ((serial = mtls_cert_serial_hex(old)) == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (mtls__inv_lookup(parent->inv, serial, renew_find_cb, &f, err) != 0) {
		goto out;
	}
	if (!f.found) {
		mtls_err_set(err, MTLS_E_NOTFOUND, "the intermediate (serial %s) "
		    "is not in the inventory of %s", serial, parent->dir);
		goto out;
	}
	if (f.revoked) {
		mtls_err_set(err, MTLS_E_POLICY, "the intermediate '%s' is "
		    "revoked: sign a new one from a new key instead", f.name);
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.name = f.name;
	o.path_len = (int)X509_get_pathlen(old);
	o.days = days;
	o.same_as = old; /* its name constraints, as they are */
	if ((pol = policies_of(old, err)) == NULL && err->code != 0) {
		goto out;
	}
	o.cert_policies = pol;
	memset(&req, 0, sizeof(req));
	req.name = f.name;
	req.subject = X509_get_subject_name(old);
	req.pubkey = pub;
	req.profile = MTLS_PROFILE_SUBCA;
	req.days = days > 0 ? days : SUBCA_DEFAULT_DAYS;
	req.subca = &o;
	req.cert_policies = pol;
	x = mtls_ca_sign(parent, &req, err);
	/* Superseded, not revoked: what it issued stays valid. */
	if (x != NULL && ((nserial = mtls_cert_serial_hex(x)) == NULL ||
	    mtls__inv_set_superseded(parent->inv, serial, nserial, err) != 0)) {
		if (nserial == NULL) {
			mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		X509_free(x);
		x = NULL;
	}
out:
	OPENSSL_free(serial);
	OPENSSL_free(nserial);
	free(pol);
	return x;
}

int
mtls_ca_install_renewal(const char *dir, STACK_OF(X509) *chain,
    struct mtls_err *err)
{
	struct mtls_ca *ca = NULL;
	struct mtls_fileset *fs = NULL;
	X509 *x;
	int n = sk_X509_num(chain), rc = -1;

	if (n < 2) {
		return mtls_err_set(err, MTLS_E_FORMAT, "the chain must hold the "
		    "renewed intermediate's certificate followed by its issuers "
		    "up to the root ('mtls ca renew-intermediate' writes it)");
	}
	x = sk_X509_value(chain, 0);
	if ((ca = mtls_ca_open(dir, err)) == NULL || mtls_ca_lock(ca, err) != 0) {
		goto out;
	}
	if (X509_check_issued(ca->cert, ca->cert) == X509_V_OK) {
		mtls_err_set(err, MTLS_E_POLICY, "%s is a root CA: only an "
		    "intermediate's certificate is renewed this way", dir);
		goto out;
	}
	/* The same CA: its key (which never left DIR) and its name, so what
	 * it issued verifies under either certificate. */
	if (EVP_PKEY_eq(X509_get0_pubkey(ca->cert), X509_get0_pubkey(x)) != 1 ||
	    X509_NAME_cmp(X509_get_subject_name(ca->cert),
		X509_get_subject_name(x)) != 0) {
		mtls_err_set(err, MTLS_E_VERIFY, "the certificate is not a renewal "
		    "of the intermediate in %s (another key or another name)", dir);
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notAfter(x),
		X509_get0_notAfter(ca->cert)) <= 0) {
		mtls_err_set(err, MTLS_E_POLICY, "the renewed certificate does not "
		    "last longer than the installed one");
		goto out;
	}
	/* Every file on its own is renamed into place; any mix of the old
	 * and new ones is a working CA (same key, same name). */
	if (install_verify(chain, err) != 0 ||
	    (fs = mtls_fileset_new(1, err)) == NULL ||
	    stage_pem(fs, dir, MTLS_CA_CHAIN, chain, 0, n, err) != 0 ||
	    stage_pem(fs, dir, MTLS_CA_ROOT, chain, n - 1, n, err) != 0 ||
	    stage_pem(fs, dir, MTLS_CA_CERT, chain, 0, 1, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_ca_free(ca);
	return rc;
}
