/* see mtls/ca.h: CA rollover (RFC 4210 4.4, root CA key update).
 *
 * begin: a new key and self-signed certificate become DIR/ca.crt and
 * DIR/ca.key; the old ones, and the two cross certificates, go to
 * DIR/rollover; DIR/trust.pem holds both roots. Everything issued from
 * then on is signed by the new key, and its chain carries the new
 * certificate signed by the old key, so a peer that still trusts only the
 * old root verifies it. Renewals move each identity over.
 * finish: DIR/trust.pem holds only the new root and DIR/rollover becomes
 * DIR/retired/NAME, with the old issuer's final CRL (mtls_ca_crl_final,
 * written there by the caller first); the old key signs nothing after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

/* The old common name with its generation raised: "X" -> "X G2",
 * "X G2" -> "X G3". A different name keeps the two issuers apart in
 * every log, store and CRL, not only by key identifier. */
static X509_NAME *
next_name(const X509_NAME *old, struct mtls_err *err)
{
	X509_NAME *n = X509_NAME_dup(old);
	unsigned char *cn = NULL;
	char buf[300];
	int loc = -1, i, gen = 2, len;
	const char *sp;
	char *end;

	if (n == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	while ((i = X509_NAME_get_index_by_NID(n, NID_commonName, loc)) >= 0) {
		loc = i;
	}
	if (loc < 0) {
		snprintf(buf, sizeof(buf), "mtls Root CA G2");
	} else {
		len = ASN1_STRING_to_UTF8(&cn,
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, loc)));
		if (len < 0) {
			X509_NAME_free(n);
			mtls_err_ssl(err, MTLS_E_FORMAT, "cannot read the CA's name");
			return NULL;
		}
		sp = strrchr((char *)cn, ' ');
		if (sp != NULL && sp[1] == 'G' && sp[2] >= '0' && sp[2] <= '9') {
			long g = strtol(sp + 2, &end, 10);

			if (*end == '\0' && g > 0 && g < 9999) {
				gen = (int)g + 1;
				len = (int)(sp - (char *)cn);
			}
		}
		snprintf(buf, sizeof(buf), "%.*s G%d", len > 60 ? 60 : len,
		    (char *)cn, gen);
		OPENSSL_free(cn);
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, loc));
	}
	if (X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
		(unsigned char *)buf, -1, loc, 0) != 1) {
		X509_NAME_free(n);
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot name the new CA");
		return NULL;
	}
	return n;
}

static int
copy_ext(X509 *to, X509 *from, int nid, struct mtls_err *err)
{
	int i = X509_get_ext_by_NID(from, nid, -1);

	if (i < 0) {
		return 0;
	}
	if (X509_add_ext(to, X509_get_ext(from, i), -1) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot copy %s",
		    OBJ_nid2sn(nid));
	}
	return 0;
}

/* SUBJ's name, key and CA extensions, signed by ISSUER's KEY: one of the
 * cross certificates. It ends with the earlier of the two roots: no path
 * through it outlives either. */
static X509 *
cross_make(X509 *subj, X509 *issuer, EVP_PKEY *key, struct mtls_err *err)
{
	X509 *x = X509_new();
	const ASN1_TIME *end = X509_get0_notAfter(subj);
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;

	if (ASN1_TIME_compare(X509_get0_notAfter(issuer), end) < 0) {
		end = X509_get0_notAfter(issuer);
	}
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    mtls__random_serial(X509_get_serialNumber(x), err) != 0 ||
	    X509_set_subject_name(x, X509_get_subject_name(subj)) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_set1_notAfter(x, end) != 1 ||
	    X509_set_pubkey(x, X509_get0_pubkey(subj)) != 1) {
		goto fail;
	}
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	/* The subject's own SKI: a verifier matching the leaf's AKI finds
	 * the cross certificate exactly as it finds the self-signed one. */
	if (aki == NULL || copy_ext(x, subj, NID_basic_constraints, err) != 0 ||
	    copy_ext(x, subj, NID_key_usage, err) != 0 ||
	    copy_ext(x, subj, NID_subject_key_identifier, err) != 0 ||
	    X509_add_ext(x, aki, -1) != 1) {
		goto fail;
	}
	X509_EXTENSION_free(aki);
	if (X509_sign(x, key, mtls__sign_md(key)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign a cross certificate");
		X509_free(x);
		return NULL;
	}
	return x;
fail:
	if (err != NULL && err->code == MTLS_OK) {
		mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot build a cross certificate");
	}
	X509_EXTENSION_free(aki);
	X509_free(x);
	return NULL;
}

/* Stages the PEM of CERTS (NULL-terminated) as DIR/FILE. */
static int
stage_certs(struct mtls_fileset *fs, const char *dir, const char *file,
    X509 *const *certs, struct mtls_err *err)
{
	char *p = mtls__path_of(dir, file, ""), *pem = NULL;
	size_t len = 0;
	int rc = -1;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (; *certs != NULL; certs++) {
		if (mtls_cert_append_pem(*certs, &pem, &len, err) != 0) {
			goto out;
		}
	}
	rc = mtls_fileset_add(fs, p, pem, len, MTLS_MODE_PUBLIC, err);
out:
	OPENSSL_free(pem);
	free(p);
	return rc;
}

/* ca.json for the new issuer: the old settings (URLs, defaults), its
 * subject, and where its key is. */
static char *
new_conf(const char *dir, X509 *cert, const char *key_uri, const char *kt,
    const char *crl_url, struct mtls_err *err)
{
	char *p = mtls__path_of(dir, MTLS_CA_CONF, ""), *subj = NULL, *out = NULL;
	json_error_t je;
	json_t *j = p != NULL ? json_load_file(p, 0, &je) : NULL;

	if (j == NULL || !json_is_object(j)) {
		mtls_err_set(err, MTLS_E_FORMAT, "cannot read %s", p ? p : dir);
		goto out;
	}
	subj = mtls_name_format(X509_get_subject_name(cert));
	json_object_set_new(j, "subject", json_string(subj ? subj : ""));
	json_object_set_new(j, "key_type", json_string(kt));
	json_object_set_new(j, "created", json_integer((json_int_t)time(NULL)));
	if (key_uri != NULL) {
		json_object_set_new(j, "key_uri", json_string(key_uri));
	} else {
		json_object_del(j, "key_uri");
	}
	/* Each issuer's certificates name their own CRL: the old URL keeps
	 * answering for the old issuer (mtls ca serve routes both). */
	if (crl_url != NULL) {
		json_t *old = json_object_get(j, "crl_url");

		if (json_is_string(old)) {
			json_object_set_new(j, "previous_crl_url",
			    json_string(json_string_value(old)));
		} else {
			json_object_del(j, "previous_crl_url");
		}
		json_object_set_new(j, "crl_url", json_string(crl_url));
	} else {
		/* One URL for both issuers again: what it names is the
		 * current one's CRL. */
		json_object_del(j, "previous_crl_url");
	}
	out = json_dumps(j, JSON_INDENT(2));
	if (out == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
out:
	json_decref(j);
	OPENSSL_free(subj);
	free(p);
	return out;
}

/* DIR/rollover/state.json: when, and where the old key is (a token URI
 * is all there is of a key held in a token). */
static char *
state_json(const struct mtls_ca *ca, X509 *newc)
{
	json_t *j = json_object();
	char *o = mtls_name_format(X509_get_subject_name(ca->cert));
	char *n = mtls_name_format(X509_get_subject_name(newc)), *out;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "started", json_integer((json_int_t)time(NULL)));
	json_object_set_new(j, "old_subject", json_string(o ? o : ""));
	json_object_set_new(j, "new_subject", json_string(n ? n : ""));
	if (ca->key_uri != NULL) {
		json_object_set_new(j, "old_key_uri", json_string(ca->key_uri));
	}
	out = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	OPENSSL_free(o);
	OPENSSL_free(n);
	return out;
}

/* A rename is durable once its directory is synced. */
static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int
path_exists(const char *dir, const char *file)
{
	char *p = mtls__path_of(dir, file, "");
	int r = p != NULL && access(p, F_OK) == 0;

	free(p);
	return r;
}

/* Stages the old key's file: encrypted with PASS, the new key's
 * password, when there is one (one --ca-pass then unlocks both, and the
 * retiring key still signs its CRL and OCSP answers); else exactly as it
 * is. */
static int
stage_old_key(struct mtls_fileset *fs, const struct mtls_ca *ca,
    const char *pass, struct mtls_err *err)
{
	char *from = mtls__path_of(ca->dir, MTLS_CA_KEY, "");
	char *to = mtls__path_of(ca->dir, MTLS_CA_ROLL_OLDKEY, "");
	unsigned char *data = NULL;
	char *pem = NULL;
	size_t len = 0;
	int rc = -1;

	if (from == NULL || to == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	} else if (pass != NULL) {
		if (mtls_key_to_pem(ca->key, pass, &pem, &len, err) == 0) {
			rc = mtls_fileset_add(fs, to, pem, len, MTLS_MODE_SECRET, err);
		}
		mtls_secret_free(pem, len);
		len = 0;
	} else if (mtls_file_read(from, 1 << 20, &data, &len, err) == 0) {
		rc = mtls_fileset_add(fs, to, data, len, MTLS_MODE_SECRET, err);
	}
	mtls_file_free(data, len);
	free(from);
	free(to);
	return rc;
}

/* 1 when the CA's key file is encrypted PKCS#8 (0 in a token or plain). */
static int
old_key_encrypted(const struct mtls_ca *ca)
{
	char *p = ca->key_uri == NULL ? mtls__path_of(ca->dir, MTLS_CA_KEY, "") : NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	int r = 0;

	if (p != NULL && mtls_file_read(p, 1 << 20, &data, &len, NULL) == 0) {
		r = strstr((const char *)data, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL;
	}
	mtls_file_free(data, len);
	free(p);
	return r;
}

static int
begin_check(struct mtls_ca *ca, const struct mtls_rollover_opts *o,
    struct mtls_err *err)
{
	if (ca->key == NULL || ca->lock == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "rollover begin needs the CA unlocked and locked");
	}
	if (sk_X509_num(ca->issuers) > 0) {
		return mtls_err_set(err, MTLS_E_POLICY, "%s is an intermediate CA: "
		    "replace it with a new intermediate signed by the root ('mtls "
		    "ca init --intermediate' in a new directory, then 'mtls ca "
		    "sign-intermediate' and 'mtls ca install')", ca->dir);
	}
	/* On disk, not ca->prev: the lock's recovery may just have finished
	 * an interrupted begin. */
	if (path_exists(ca->dir, MTLS_CA_ROLL_OLD) || ca->prev != NULL) {
		return mtls_err_set(err, MTLS_E_EXISTS, "a rollover of %s is "
		    "already under way: see 'mtls ca rollover status', and end "
		    "it with 'mtls ca rollover finish'", ca->dir);
	}
	if (o->crl_url != NULL && (mtls_url_check(o->crl_url, MTLS_URL_HTTP,
		err) != 0)) {
		return -1;
	}
	if (o->crl_url != NULL && ca->crl_url != NULL &&
	    strcmp(o->crl_url, ca->crl_url) == 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "--crl-url %s is the old "
		    "issuer's: give the new issuer a URL of its own", o->crl_url);
	}
	/* A rollover must not leave the CA weaker than it was: the new key
	 * of a CA whose key is encrypted is encrypted too. */
	if (o->key_uri == NULL && o->pass_spec == NULL && old_key_encrypted(ca)) {
		return mtls_err_set(err, MTLS_E_USAGE, "the key of %s is encrypted, "
		    "so the new one must be too: give --pass (pass:, env:, file:, "
		    "fd: or stdin), or --key pkcs11:URI", ca->dir);
	}
	return 0;
}

int
mtls_ca_rollover_begin(struct mtls_ca *ca, const struct mtls_rollover_opts *o,
    struct mtls_err *err)
{
	struct mtls_ca_init_opts io;
	struct mtls_p11 *p11 = NULL;
	struct mtls_fileset *fs = NULL;
	X509_NAME *name = NULL;
	X509 *newc = NULL, *nwo = NULL, *own = NULL;
	EVP_PKEY *key = NULL;
	char *pass = NULL, *key_pem = NULL, *conf = NULL, *state = NULL;
	char *roll = NULL, *p = NULL, *pols = NULL;
	size_t key_len = 0;
	int rc = -1;

	if (begin_check(ca, o, err) != 0) {
		return -1;
	}
	name = o->name != NULL ? mtls_name_parse(o->name, err)
			       : next_name(X509_get_subject_name(ca->cert), err);
	if (name == NULL) {
		goto out;
	}
	memset(&io, 0, sizeof(io));
	io.key_type = o->key_type;
	io.pass_spec = o->pass_spec;
	io.key_uri = o->key_uri;
	key = mtls__ca_new_key(&io, &pass, &p11, err);
	if (key == NULL) {
		goto out;
	}
	if (EVP_PKEY_eq(key, X509_get0_pubkey(ca->cert)) == 1) {
		mtls_err_set(err, MTLS_E_POLICY, "%s is the key of the current "
		    "CA: a rollover needs a new key", o->key_uri);
		goto out;
	}
	/* The new root asserts what the old one did: certificates it issues
	 * from now on keep meeting the same policy requirements. */
	pols = mtls__policies_text(ca->cert, err);
	newc = pols != NULL ? mtls__ca_make_root(key, name,
	    o->days > 0 ? o->days : MTLS_DEFAULT_CA_DAYS, pols, err) : NULL;
	nwo = newc != NULL ? cross_make(newc, ca->cert, ca->key, err) : NULL;
	own = nwo != NULL ? cross_make(ca->cert, newc, key, err) : NULL;
	if (own == NULL ||
	    (o->key_uri == NULL &&
		mtls_key_to_pem(key, pass, &key_pem, &key_len, err) != 0) ||
	    (conf = new_conf(ca->dir, newc, o->key_uri, o->key_uri != NULL
		? "pkcs11" : mtls_keytype_name(o->key_type), o->crl_url, err)) == NULL ||
	    (state = state_json(ca, newc)) == NULL) {
		goto out;
	}
	roll = mtls__path_of(ca->dir, MTLS_CA_ROLL, "");
	if (roll == NULL || mtls_mkdir_p(roll, 0700, err) != 0) {
		goto out;
	}
	/* One set, placed by the journal: a kill leaves the old CA intact
	 * or the rollover begun, never a mix. The trust bundle lists the
	 * new root first (the issuer of everything from now on). */
	{
		X509 *trust[] = {newc, ca->cert, NULL}, *one[] = {newc, NULL};
		X509 *old[] = {ca->cert, NULL}, *c1[] = {nwo, NULL}, *c2[] = {own, NULL};

		fs = mtls_fileset_new(1, err);
		if (fs == NULL ||
		    stage_certs(fs, ca->dir, MTLS_CA_ROLL_OLD, old, err) != 0 ||
		    stage_certs(fs, ca->dir, MTLS_CA_ROLL_NEWOLD, c1, err) != 0 ||
		    stage_certs(fs, ca->dir, MTLS_CA_ROLL_OLDNEW, c2, err) != 0 ||
		    (ca->key_uri == NULL && stage_old_key(fs, ca,
			o->key_uri == NULL ? pass : NULL, err) != 0) ||
		    stage_certs(fs, ca->dir, MTLS_CA_TRUST, trust, err) != 0 ||
		    stage_certs(fs, ca->dir, MTLS_CA_CERT, one, err) != 0) {
			goto out;
		}
	}
	p = mtls__path_of(ca->dir, MTLS_CA_ROLL_STATE, "");
	if (p == NULL || mtls_fileset_add(fs, p, state, strlen(state),
		MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	free(p);
	p = mtls__path_of(ca->dir, MTLS_CA_CONF, "");
	if (p == NULL || mtls_fileset_add(fs, p, conf, strlen(conf),
		MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	free(p);
	p = mtls__path_of(ca->dir, MTLS_CA_KEY, "");
	if (p == NULL || (key_pem != NULL && mtls_fileset_add(fs, p, key_pem,
		key_len, MTLS_MODE_SECRET, err) != 0)) {
		goto out;
	}
	if (mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	if (mtls_ca_commit_files(ca, fs, "rollover begin", err) != 0) {
		goto out;
	}
	/* A new key in a token: the old key's file is in rollover/ now,
	 * and a stale ca.key beside a token CA would only mislead. */
	if (key_pem == NULL && ca->key_uri == NULL) {
		unlink(p);
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_secret_free(key_pem, key_len);
	mtls_pass_free(pass);
	EVP_PKEY_free(key);
	mtls__p11_close(p11);
	X509_NAME_free(name);
	X509_free(newc);
	X509_free(nwo);
	X509_free(own);
	free(conf);
	free(state);
	free(roll);
	free(pols);
	free(p);
	return rc;
}

struct deps {
	X509 *prev;
	mtls_inv_cb *cb;
	void *arg;
	size_t n;
	time_t now;
};

static int
dep_one(const struct mtls_inv_entry *e, void *arg)
{
	struct deps *d = arg;
	BIO *b;
	X509 *x;
	int on_old;

	if (strcmp(e->status, "valid") != 0 || e->superseded_by != NULL ||
	    e->not_after <= d->now || e->pem == NULL) {
		return 0;
	}
	b = BIO_new_mem_buf(e->pem, -1);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	/* Issued by the old key: its signature verifies with it. */
	on_old = x != NULL && X509_check_issued(d->prev, x) == X509_V_OK &&
	    X509_verify(x, X509_get0_pubkey(d->prev)) == 1;
	X509_free(x);
	ERR_clear_error();
	if (!on_old) {
		return 0;
	}
	d->n++;
	return d->cb != NULL ? d->cb(e, d->arg) : 0;
}

int
mtls_ca_rollover_dependants(struct mtls_ca *ca, mtls_inv_cb *cb, void *arg,
    size_t *count, struct mtls_err *err)
{
	struct deps d;

	*count = 0;
	if (ca->prev == NULL) {
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.prev = ca->prev;
	d.cb = cb;
	d.arg = arg;
	d.now = time(NULL);
	if (mtls_ca_list(ca, NULL, dep_one, &d, err) != 0) {
		return -1;
	}
	*count = d.n;
	return 0;
}

static int
first_dep(const struct mtls_inv_entry *e, void *arg)
{
	char *names = arg;
	size_t have = strlen(names);

	if (have < 200) {
		snprintf(names + have, 256 - have, "%s%s", have ? ", " : "", e->name);
	}
	return 0;
}

int
mtls_ca_rollover_finish(struct mtls_ca *ca, int force, char *retired,
    size_t len, struct mtls_err *err)
{
	char names[256] = "", stamp[64], *from = NULL, *dir = NULL, *to = NULL;
	X509 *one[] = {ca->cert, NULL};
	struct mtls_fileset *fs = NULL;
	struct tm tm;
	time_t now = time(NULL);
	size_t n = 0;
	int rc = -1;

	if (ca->lock == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "rollover finish needs the CA locked");
	}
	if (ca->prev == NULL || !path_exists(ca->dir, MTLS_CA_ROLL_OLD)) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no rollover of %s is "
		    "under way (start one with 'mtls ca rollover begin')", ca->dir);
	}
	if (mtls_ca_rollover_dependants(ca, first_dep, names, &n, err) != 0) {
		return -1;
	}
	if (n > 0 && !force) {
		return mtls_err_set(err, MTLS_E_POLICY, "%zu certificate(s) still "
		    "depend on the old issuer (%s%s): renew them ('mtls renew "
		    "NAME', or let 'mtls renew-agent' do it), or give --force to "
		    "retire it anyway (their holders are then refused by peers "
		    "that load the new trust bundle)", n, names,
		    n > 4 ? ", ..." : "");
	}
	/* The bundle first: run again after a kill, finish redoes it and
	 * then moves the directory; the reverse order could lose the
	 * bundle's change. */
	fs = mtls_fileset_new(1, err);
	if (fs == NULL || stage_certs(fs, ca->dir, MTLS_CA_TRUST, one, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	from = mtls__path_of(ca->dir, MTLS_CA_ROLL, "");
	dir = mtls__path_of(ca->dir, MTLS_CA_RETIRED, "");
	to = dir != NULL ? mtls__path_of(dir, stamp, "") : NULL;
	if (from == NULL || to == NULL || mtls_mkdir_p(dir, 0700, err) != 0) {
		if (to == NULL) {
			mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		goto out;
	}
	if (rename(from, to) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot move %s to %s", from, to);
		goto out;
	}
	sync_dir(dir);
	sync_dir(ca->dir);
	if (retired != NULL && len > 0) {
		snprintf(retired, len, "%s", to);
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	free(from);
	free(dir);
	free(to);
	return rc;
}
