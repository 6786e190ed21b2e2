/* see mtls/bundle.h: identities, checks and the files of each target */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/bundle.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/buf.h"
#include "base/internal.h"
#include "bundle/bundle_int.h"

/* --- identities ------------------------------------------------------ */

static int
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
mtls_bundle_id_load(struct mtls_bundle_id *id, const char *dir,
    const char *name, const char *key_pass_spec, struct mtls_err *err)
{
	char kp[PATH_MAX], cp[PATH_MAX];

	memset(id, 0, sizeof(*id));
	snprintf(kp, sizeof(kp), "%s/%s.key", dir, name);
	if (!file_exists(kp)) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no identity '%s': %s does not exist; issue it with 'mtls "
		    "issue %s --profile server|client|node --out %s', or give "
		    "--issue PROFILE, or --from DIR where it lives",
		    name, kp, name, dir);
	}
	snprintf(cp, sizeof(cp), "%s/%s.chain.pem", dir, name);
	if (!file_exists(cp)) {
		snprintf(cp, sizeof(cp), "%s/%s.crt", dir, name);
		if (!file_exists(cp)) {
			return mtls_err_set(err, MTLS_E_NOTFOUND,
			    "identity '%s' has a key but no certificate: "
			    "neither %s/%s.chain.pem nor %s exists", name, dir,
			    name, cp);
		}
	}
	id->name = mtls__strdup(name);
	if (id->name == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	id->key = mtls_load_key(kp, key_pass_spec, err);
	if (id->key == NULL || mtls_load_certs(cp, &id->chain, err) != 0) {
		goto fail;
	}
	if (sk_X509_num(id->chain) < 1) {
		mtls_err_set(err, MTLS_E_FORMAT, "%s holds no certificate", cp);
		goto fail;
	}
	if (!mtls_key_matches_cert(id->key, sk_X509_value(id->chain, 0))) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s does not belong to the certificate in %s (the first "
		    "one): they are from different issuances", kp, cp);
		goto fail;
	}
	return 0;
fail:
	mtls_bundle_id_clear(id);
	return -1;
}

void
mtls_bundle_id_clear(struct mtls_bundle_id *id)
{
	if (id == NULL) {
		return;
	}
	free(id->name);
	EVP_PKEY_free(id->key);
	sk_X509_pop_free(id->chain, X509_free);
	memset(id, 0, sizeof(*id));
}

/* The leaf must chain to CA, or no peer configured with this bundle's
 * ca.crt would accept it. */
static int
check_chain(const struct mtls_bundle_id *id, X509 *ca, struct mtls_err *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	char *subj = NULL;
	int i, rc = -1;
	long code;

	if (st == NULL || ctx == NULL || untrusted == NULL ||
	    X509_STORE_add_cert(st, ca) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "setting up verification");
		goto out;
	}
	for (i = 1; i < sk_X509_num(id->chain); i++) {
		if (sk_X509_push(untrusted, sk_X509_value(id->chain, i)) <= 0) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, st, sk_X509_value(id->chain, 0),
		untrusted) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "setting up verification");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		subj = mtls_name_format(X509_get_subject_name(ca));
		mtls_err_set(err, MTLS_E_VERIFY,
		    "the certificate of '%s' does not verify against the CA "
		    "(%s): %s; issue it from this CA or give the right "
		    "--ca-dir", id->name, subj ? subj : "?",
		    X509_verify_cert_error_string(code));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(subj);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

/* The role the certificate plays must be in its EKU (RFC 5280 4.2.1.12),
 * or the peer's handshake fails with "unsupported certificate purpose". */
static int
check_role(const struct mtls_bundle_id *id, int server, const char *what,
    struct mtls_err *err)
{
	X509 *leaf = sk_X509_value(id->chain, 0);
	int purpose = server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;

	if (X509_check_purpose(leaf, purpose, 0) == 1) {
		return 0;
	}
	ERR_clear_error();
	return mtls_err_set(err, MTLS_E_POLICY,
	    "the certificate of '%s' is not valid for %s (extended key usage "
	    "lacks %s): issue it with --profile %s or node", id->name, what,
	    server ? "serverAuth" : "clientAuth", server ? "server" : "client");
}

/* --- stores and PEM files -------------------------------------------- */

static int
put_pem(struct bctx *c, const char *file, STACK_OF(X509) *certs, int n,
    EVP_PKEY *key, struct mtls_err *err)
{
	char *buf = NULL, *kpem = NULL;
	size_t len = 0, klen = 0;
	int i, rc = -1;

	for (i = 0; i < n; i++) {
		if (mtls_cert_append_pem(sk_X509_value(certs, i), &buf, &len,
			err) != 0) {
			goto out;
		}
	}
	if (key != NULL) {
		if (mtls_key_to_pem(key, NULL, &kpem, &klen, err) != 0) {
			goto out;
		}
		if (n == 0) {
			rc = mtls__bundle_put(c, file, kpem, klen, MTLS_MODE_SECRET, err);
			goto out;
		}
		/* HAProxy's crt: the chain, then the key, in one 0600 file. */
		{
			struct mtls__buf b = MTLS__BUF_SECRET;

			mtls__buf_printf(&b, "%s%s", buf, kpem);
			rc = mtls__bundle_put_buf(c, file, &b, MTLS_MODE_SECRET, err);
			mtls__buf_free(&b);
		}
		goto out;
	}
	rc = mtls__bundle_put(c, file, buf, len, MTLS_MODE_PUBLIC, err);
out:
	OPENSSL_free(buf);
	mtls_secret_free(kpem, klen);
	return rc;
}

static int
put_ca(struct bctx *c, struct mtls_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (mtls_cert_append_pem(c->ca, &buf, &len, err) != 0) {
		return -1;
	}
	rc = mtls__bundle_put(c, "ca.crt", buf, len, MTLS_MODE_PUBLIC, err);
	OPENSSL_free(buf);
	return rc;
}

/* A store of one key entry (ALIAS) or of the CA as a trusted entry
 * (KEYID NULL), saved as FMT into FILE. */
static int
put_store(struct bctx *c, const char *file, enum mtls_store_format fmt,
    const struct mtls_bundle_id *keyid, const char *alias,
    struct mtls_err *err)
{
	struct mtls_store *s = mtls_store_new();
	struct mtls_store_opts so = {0};
	unsigned char *out = NULL;
	size_t len = 0;
	char *a = NULL;
	int rc = -1;

	if (s == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	so.legacy = c->o->legacy;
	if (keyid != NULL) {
		if (mtls_store_add_key(s, alias, keyid->key, keyid->chain, 0, 0,
			err) != 0) {
			goto out;
		}
	} else {
		a = mtls_store_alias_for(s, c->ca, "ca");
		if (a == NULL) {
			mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
		if (mtls_store_add_trusted(s, a, c->ca, 0, 0, err) != 0) {
			goto out;
		}
	}
	if (mtls_store_serialize(s, fmt, c->o->pass, &so, &out, &len, err) != 0) {
		goto out;
	}
	/* A truststore holds no secret, but its password is the bundle's:
	 * keep every store private. */
	rc = mtls__bundle_put(c, file, out, len, MTLS_MODE_SECRET, err);
out:
	OPENSSL_free(a);
	mtls_store_buf_free(out, len);
	mtls_store_free(s);
	return rc;
}

static int
stage_files(struct bctx *c, struct mtls_err *err)
{
	const struct mtls_bundle_id *id = c->id;
	char f[PATH_MAX], g[PATH_MAX];
	int n = sk_X509_num(id->chain);

	snprintf(f, sizeof(f), "%s.key", c->name);
	snprintf(g, sizeof(g), "%s.chain.pem", c->name);
	switch (c->o->target) {
	case MTLS_BUNDLE_NGINX:
	case MTLS_BUNDLE_APACHE:
	case MTLS_BUNDLE_STUNNEL:
		return put_pem(c, g, id->chain, n, NULL, err) != 0 ||
			       put_pem(c, f, NULL, 0, id->key, err) != 0 ||
			       put_ca(c, err) != 0
			   ? -1
			   : 0;
	case MTLS_BUNDLE_CURL:
		snprintf(g, sizeof(g), "%s.crt", c->name);
		return put_pem(c, g, id->chain, n, NULL, err) != 0 ||
			       put_pem(c, f, NULL, 0, id->key, err) != 0 ||
			       put_ca(c, err) != 0
			   ? -1
			   : 0;
	case MTLS_BUNDLE_HAPROXY:
		snprintf(g, sizeof(g), "%s.pem", c->name);
		return put_pem(c, g, id->chain, n, id->key, err) != 0 ||
			       put_ca(c, err) != 0
			   ? -1
			   : 0;
	case MTLS_BUNDLE_TOMCAT:
	case MTLS_BUNDLE_JAVA:
		snprintf(g, sizeof(g), "%s.p12", c->name);
		return put_store(c, g, MTLS_STORE_P12, id, c->alias, err) != 0 ||
			       put_store(c, "truststore.p12", MTLS_STORE_P12,
				   NULL, NULL, err) != 0 ||
			       put_ca(c, err) != 0
			   ? -1
			   : 0;
	case MTLS_BUNDLE_ACTIVEMQ:
		/* As the ActiveMQ manual lays them out; both sides trust the
		 * CA rather than each other's certificate, so renewing one
		 * side needs no change on the other. */
		return put_store(c, "broker.ks", MTLS_STORE_JKS, id, "broker",
			   err) != 0 ||
			       put_store(c, "broker.ts", MTLS_STORE_JKS, NULL,
				   NULL, err) != 0 ||
			       put_store(c, "client.ks", MTLS_STORE_JKS,
				   c->client, "client", err) != 0 ||
			       put_store(c, "client.ts", MTLS_STORE_JKS, NULL,
				   NULL, err) != 0 ||
			       put_ca(c, err) != 0
			   ? -1
			   : 0;
	default:
		return mtls_err_set(err, MTLS_E_INTERNAL, "unknown target");
	}
}

/* --- options --------------------------------------------------------- */

/* Paths and addresses go into configuration languages with different
 * quoting rules; keep them to characters every one of them takes bare. */
static int
check_plain(const char *what, const char *s, struct mtls_err *err)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("/._-+@,=~%[]:", *p) == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "%s '%s' contains '%c', which the configuration "
			    "files cannot hold unquoted: choose another",
			    what, s, *p);
		}
	}
	return 0;
}

static int
parse_listen(struct bctx *c, struct mtls_err *err)
{
	const char *l = c->o->listen, *colon;
	char *end;
	long port;

	if (l == NULL) {
		l = mtls_bundle_default_port(c->o->target);
		snprintf(c->port, sizeof(c->port), "%s", l ? l : "443");
		return 0;
	}
	colon = strrchr(l, ':');
	errno = 0;
	port = strtol(colon ? colon + 1 : l, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535 ||
	    (colon && (size_t)(colon - l) >= sizeof(c->addr)) ||
	    check_plain("--listen", l, err) != 0) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "bad --listen '%s': give PORT or ADDRESS:PORT, e.g. "
		    "127.0.0.1:8443", l);
	}
	snprintf(c->port, sizeof(c->port), "%ld", port);
	if (colon != NULL) {
		snprintf(c->addr, sizeof(c->addr), "%.*s", (int)(colon - l), l);
	}
	return 0;
}

/* Where the snippet says the files are, the listening socket, the backend
 * and curl's default URL. */
static int
setup(struct bctx *c, struct mtls_err *err)
{
	const struct mtls_bundle_opts *o = c->o;
	char *abs;

	if (o->install_dir != NULL) {
		if (o->install_dir[0] != '/') {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "--install-dir '%s' must be an absolute path",
			    o->install_dir);
		}
		snprintf(c->dir, sizeof(c->dir), "%s", o->install_dir);
	} else {
		if (mtls_mkdir_p(o->out_dir, 0755, err) != 0) {
			return -1;
		}
		abs = realpath(o->out_dir, NULL);
		if (abs == NULL) {
			return mtls_err_sys(err, MTLS_E_IO, "resolving %s",
			    o->out_dir);
		}
		snprintf(c->dir, sizeof(c->dir), "%s", abs);
		free(abs);
	}
	if (check_plain("directory", c->dir, err) != 0 ||
	    parse_listen(c, err) != 0) {
		return -1;
	}
	snprintf(c->backend, sizeof(c->backend), "%s",
	    o->backend ? o->backend : "127.0.0.1:8080");
	if (check_plain("--backend", c->backend, err) != 0) {
		return -1;
	}
	c->url = mtls__strdup(o->url ? o->url : "");
	if (c->url == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	return 0;
}

static int
check_pass(const struct mtls_bundle_opts *o, struct mtls_err *err)
{
	if (!mtls_bundle_target_needs_pass(o->target)) {
		return 0;
	}
	if (o->pass == NULL || *o->pass == '\0') {
		return mtls_err_set(err, MTLS_E_PASSWORD,
		    "%s's keystores need a password: give --pass env:VAR, "
		    "file:PATH, fd:N or stdin", mtls_bundle_target_name(o->target));
	}
	/* Tomcat and ActiveMQ's Spring expand ${...} in their XML. */
	if (strstr(o->pass, "${") != NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "the store password contains '${', which %s would expand "
		    "as a property: choose another",
		    mtls_bundle_target_name(o->target));
	}
	return 0;
}

int
mtls_bundle_stage(const struct mtls_bundle_opts *o,
    const struct mtls_bundle_id *id, const struct mtls_bundle_id *client,
    X509 *ca, struct mtls_fileset *fs, struct mtls_err *err)
{
	struct bctx c;
	char *alias = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.id = id;
	c.client = client;
	c.ca = ca;
	c.fs = fs;
	c.name = id->name;
	if (o->out_dir == NULL || check_pass(o, err) != 0) {
		if (o->out_dir == NULL) {
			mtls_err_set(err, MTLS_E_USAGE, "no output directory");
		}
		return -1;
	}
	if (check_plain("name", id->name, err) != 0 ||
	    check_chain(id, ca, err) != 0 ||
	    (o->target != MTLS_BUNDLE_JAVA &&
		check_role(id, mtls_bundle_target_is_server(o->target),
		    mtls_bundle_target_name(o->target), err) != 0)) {
		return -1;
	}
	if (o->target == MTLS_BUNDLE_ACTIVEMQ) {
		if (client == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "activemq needs a client identity for client.ks");
		}
		if (check_chain(client, ca, err) != 0 ||
		    check_role(client, 0, "an ActiveMQ client", err) != 0) {
			return -1;
		}
	}
	alias = mtls_store_alias_norm(id->name, err);
	if (alias == NULL) {
		return -1;
	}
	snprintf(c.alias, sizeof(c.alias), "%s", alias);
	OPENSSL_free(alias);
	if (setup(&c, err) != 0 || stage_files(&c, err) != 0 ||
	    mtls__bundle_write_text(&c, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	free(c.url);
	return rc;
}
