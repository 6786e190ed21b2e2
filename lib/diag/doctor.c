/* see mtls/diag.h: `doctor` - find a node's files, read and pair them */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "diag/diag_int.h"
#include "diag/doctor_int.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/internal.h"

#define DOCTOR_MAX_FILES 1000
#define DOCTOR_FILE_MAX (16u * 1024 * 1024)

int
mtls_role_parse(const char *s, enum mtls_role *out, struct mtls_err *err)
{
	if (strcmp(s, "client") == 0) {
		*out = MTLS_ROLE_CLIENT;
	} else if (strcmp(s, "server") == 0) {
		*out = MTLS_ROLE_SERVER;
	} else if (strcmp(s, "node") == 0) {
		*out = MTLS_ROLE_NODE;
	} else {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "unknown role '%s': use client, server or node", s);
	}
	return 0;
}

static const char *
ext_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL ? dot + 1 : "";
}

static int
wanted_ext(const char *name)
{
	static const char *const exts[] = {"crt", "cer", "pem", "key", "p12",
	    "pfx", "jks", "der", "jceks", "ks", "ts", "keystore",
	    "truststore"};
	const char *e = ext_of(name);
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(exts); i++) {
		if (strcasecmp(e, exts[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* ca.crt, ca.pem, my-ca.pem, ca_bundle.crt, truststore.pem, cacert.pem:
 * a word "ca" (or "trust") in the name. "localhost.crt" is not one. */
static int
trust_name(const char *base)
{
	size_t n = strlen(base);
	const char *p;

	if (strcasestr(base, "trust") != NULL || strncasecmp(base, "cacert", 6) == 0) {
		return 1;
	}
	for (p = base; (p = strcasestr(p, "ca")) != NULL; p++) {
		int left = p == base || strchr("-_.", p[-1]) != NULL;
		int right = (size_t)(p - base) + 2 == n ||
			    strchr("-_.", p[2]) != NULL;

		if (left && right) {
			return 1;
		}
	}
	return 0;
}

static char *
base_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *b = mtls__strdup(slash != NULL ? slash + 1 : path), *dot;
	static const char *const sfx[] = {".chain", "-chain", "_chain"};
	size_t i, n;

	if (b == NULL) {
		return NULL;
	}
	dot = strrchr(b, '.');
	if (dot != NULL && dot != b) {
		*dot = '\0';
	}
	n = strlen(b);
	for (i = 0; i < MTLS_ARRAY_LEN(sfx); i++) {
		size_t l = strlen(sfx[i]);

		if (n > l && strcmp(b + n - l, sfx[i]) == 0) {
			b[n - l] = '\0';
			break;
		}
	}
	return b;
}

static int
add_file(struct doctor *d, const char *path)
{
	struct dfile *f;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct dfile *nf = realloc(d->f, cap * sizeof(*nf));

		if (nf == NULL) {
			return -1;
		}
		d->f = nf;
		d->cap = cap;
	}
	f = &d->f[d->n];
	memset(f, 0, sizeof(*f));
	f->path = mtls__strdup(path);
	f->base = base_of(path);
	if (f->path == NULL || f->base == NULL) {
		free(f->path);
		free(f->base);
		return -1;
	}
	d->n++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
scan_dir(struct doctor *d, const char *dir, struct mtls_err *err)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char *names[DOCTOR_MAX_FILES];
	size_t n = 0, i;
	int rc = 0;

	if (dp == NULL) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot read directory %s",
		    dir);
	}
	while ((de = readdir(dp)) != NULL && n < DOCTOR_MAX_FILES) {
		char p[4096];

		if (de->d_name[0] == '.' || !wanted_ext(de->d_name)) {
			continue;
		}
		/* "nodes/" and "nodes" name the same files: nodes/x, not nodes//x. */
		snprintf(p, sizeof(p), "%s%s%s", dir,
		    dir[0] != '\0' && dir[strlen(dir) - 1] == '/' ? "" : "/",
		    de->d_name);
		names[n] = mtls__strdup(p);
		if (names[n] != NULL) {
			n++;
		}
	}
	closedir(dp);
	/* Sorted, so the report reads the same on every run. */
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		if (rc == 0 && add_file(d, names[i]) != 0) {
			rc = mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		free(names[i]);
	}
	return rc;
}

/* Moves the certificates (and the first unlocked key) of a keystore into
 * F: the first key entry is the identity; a store without key entries is
 * a truststore whatever its name (seed layouts: truststore.ts, client.ts). */
static void
take_store(struct doctor *d, struct dfile *f, const struct mtls_store *st)
{
	size_t i, nkeys = 0;
	int j;

	f->certs = sk_X509_new_null();
	for (i = 0; f->certs != NULL && i < mtls_store_count(st); i++) {
		const struct mtls_store_entry *e = mtls_store_get(st, i);

		if (e->type == MTLS_ENTRY_KEY) {
			if (nkeys++ > 0) {
				continue;
			}
			if (e->key != NULL && EVP_PKEY_up_ref(e->key) == 1) {
				f->key = e->key;
				f->kind |= DK_KEY;
			} else if ((e->flags & MTLS_ENTRY_LOCKED) &&
				   d->o->pass_spec != NULL) {
				mtls__report_add(d->r, MTLS_SEV_WARN, "store_key_locked",
				    f->path,
				    "give the key's password; Java's default key "
				    "manager needs it to equal the store password",
				    "the key '%s' in %s does not open with the "
				    "store password",
				    e->alias, f->path);
			}
		}
		if (e->flags & MTLS_ENTRY_NOTRUST) {
			mtls__report_add(d->r, MTLS_SEV_WARN, "store_trust_attr", f->path,
			    "rebuild the truststore with 'mtls keystore' (it "
			    "adds Java's trusted-certificate attribute)",
			    "the certificate '%s' in %s lacks Java's trust "
			    "attribute: Java sees an empty truststore",
			    e->alias, f->path);
		}
		if (e->type == MTLS_ENTRY_TRUSTED && nkeys > 0) {
			continue; /* a keystore's trusted entries: not a chain */
		}
		for (j = 0; e->certs != NULL && j < sk_X509_num(e->certs); j++) {
			X509 *x = sk_X509_value(e->certs, j);

			if (X509_up_ref(x) == 1 && sk_X509_push(f->certs, x) <= 0) {
				X509_free(x);
			}
		}
	}
	if (nkeys > 1) {
		mtls__report_add(d->r, MTLS_SEV_INFO, "store_many_keys", f->path, NULL,
		    "%s holds %zu key entries; only the first is checked",
		    f->path, nkeys);
	}
	if (nkeys == 0) {
		f->kind |= DK_TRUST | DK_STORE;
	}
}

static void
read_store(struct doctor *d, struct dfile *f, const unsigned char *data,
    size_t len)
{
	struct mtls_err e;
	struct mtls_store *st;
	char *pass = NULL;
	enum mtls_store_format fmt = mtls_store_detect(data, len);

	f->kind |= DK_STORE;
	mtls_err_clear(&e);
	if (d->o->pass_spec != NULL) {
		pass = mtls_pass_get(d->o->pass_spec, NULL, 0, &e);
		if (pass == NULL) {
			mtls__report_add(d->r, MTLS_SEV_ERROR, "store_password", f->path,
			    "check the --pass SPEC", "%s", e.msg);
			return;
		}
	}
	st = mtls_store_parse(data, len, f->path, pass, NULL, &e);
	mtls_pass_free(pass);
	if (st == NULL && e.code == MTLS_E_PASSWORD && d->o->pass_spec == NULL) {
		mtls__report_add(d->r, MTLS_SEV_INFO, "store_not_opened", f->path,
		    "give its password with --pass SPEC",
		    "%s is a %s keystore protected by a password; its contents "
		    "were not checked",
		    f->path, mtls_store_format_name(fmt));
		return;
	}
	if (st == NULL && e.code == MTLS_E_PASSWORD) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "store_password", f->path,
		    "give the keystore's password (--pass); keytool stores "
		    "often use one password for the store and its key",
		    "the password given does not open %s (%s)", f->path,
		    e.msg);
		return;
	}
	if (st == NULL) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "unreadable", f->path,
		    "restore the file from where it was made, or re-export it",
		    "%s: %s: it may be corrupted", f->path, e.msg);
		return;
	}
	if (mtls_store_verified(st)) {
		mtls__report_add(d->r, MTLS_SEV_OK, "store_opened", f->path, NULL,
		    "%s (%s) opens with the password given and its integrity "
		    "checks",
		    f->path, mtls_store_format_name(mtls_store_format(st)));
	} else {
		mtls__report_add(d->r, MTLS_SEV_INFO, "store_not_verified", f->path,
		    "give its password with --pass SPEC",
		    "%s (%s) was read without its password: integrity not "
		    "checked, keys not opened",
		    f->path, mtls_store_format_name(mtls_store_format(st)));
	}
	take_store(d, f, st);
	mtls_store_free(st);
}

static void
read_pem_or_der(struct doctor *d, struct dfile *f, const unsigned char *data,
    size_t len)
{
	struct mtls_err e;
	int haskey = memmem(data, len, "PRIVATE KEY-----", 16) != NULL;

	mtls_err_clear(&e);
	if (haskey || strcasecmp(ext_of(f->path), "key") == 0) {
		f->key = mtls_parse_key(data, len, f->path, d->o->pass_spec, &e);
		if (f->key == NULL && e.code == MTLS_E_PASSWORD) {
			mtls__report_add(d->r, MTLS_SEV_ERROR, "key_password", f->path,
			    "give the key's password with --pass SPEC",
			    "%s", e.msg);
			return;
		}
		if (f->key != NULL) {
			f->kind |= DK_KEY;
		}
		ERR_clear_error();
	}
	mtls_err_clear(&e);
	if (mtls_load_certs(f->path, &f->certs, &e) != 0) {
		f->certs = NULL;
	}
	if (f->key == NULL && f->certs == NULL) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "unreadable", f->path,
		    "restore or re-issue it; 'mtls inspect FILE' shows what "
		    "it holds",
		    "%s holds no certificate or private key that can be read: "
		    "it may be corrupted or in another format",
		    f->path);
	}
}

static void
classify(struct doctor *d, struct dfile *f)
{
	X509 *first;
	int i, all_roots = 1;

	if (f->certs == NULL || sk_X509_num(f->certs) == 0) {
		return;
	}
	for (i = 0; i < sk_X509_num(f->certs); i++) {
		X509 *x = sk_X509_value(f->certs, i);

		if (X509_check_ca(x) == 0 || !mtls__cert_self_signed(x)) {
			all_roots = 0;
		}
		if (X509_check_ca(x) != 0 && X509_up_ref(x) == 1 &&
		    sk_X509_push(d->pool, x) <= 0) {
			X509_free(x);
		}
	}
	first = sk_X509_value(f->certs, 0);
	if ((f->kind & DK_STORE) && (f->kind & DK_TRUST)) {
		return; /* a truststore keystore: peers' certificates too */
	}
	if (X509_check_ca(first) == 0) {
		f->kind |= DK_IDENTITY;
	} else if (strstr(f->base, "chain") != NULL ||
		   strstr(f->path, ".chain.") != NULL ||
		   strstr(f->path, "-chain.") != NULL ||
		   strstr(f->path, "_chain.") != NULL) {
		f->kind |= DK_CHAIN;
	} else if ((d->o->ca_file == NULL &&
		       (trust_name(f->base) || all_roots)) &&
		   !(f->kind & DK_KEY)) {
		f->kind |= DK_TRUST;
	} else {
		f->kind |= DK_CHAIN; /* loose intermediates: the pool only */
	}
}

static void
read_file(struct doctor *d, struct dfile *f)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct mtls_err e;

	if (stat(f->path, &f->st) != 0) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "unreadable", f->path,
		    "check the path", "cannot read %s: %s", f->path,
		    strerror(errno));
		return;
	}
	if (mtls_file_read(f->path, DOCTOR_FILE_MAX, &data, &len, &e) != 0) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "unreadable", f->path,
		    "check the file's owner and permissions", "%s", e.msg);
		return;
	}
	if (mtls_store_detect(data, len) != MTLS_STORE_NONE) {
		read_store(d, f, data, len);
	} else {
		read_pem_or_der(d, f, data, len);
	}
	mtls_file_free(data, len);
	classify(d, f);
}

static int
add_trust(struct doctor *d, STACK_OF(X509) *sk)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++) {
		X509 *x = sk_X509_value(sk, i);

		if (X509_up_ref(x) != 1 || sk_X509_push(d->trust, x) <= 0) {
			X509_free(x);
			return -1;
		}
	}
	return 0;
}

static int
collect_trust(struct doctor *d, struct mtls_err *err)
{
	STACK_OF(X509) *sk = NULL;
	size_t i;

	if (d->o->ca_file != NULL) {
		if (mtls_load_certs(d->o->ca_file, &sk, err) != 0) {
			return -1;
		}
		d->trust_name = d->o->ca_file;
		i = add_trust(d, sk);
		sk_X509_pop_free(sk, X509_free);
		return (int)i;
	}
	for (i = 0; i < d->n; i++) {
		if (d->f[i].kind & DK_TRUST) {
			if (d->trust_name == NULL) {
				d->trust_name = d->f[i].path;
			}
			if (add_trust(d, d->f[i].certs) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

static void
doctor_free(struct doctor *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->f[i].path);
		free(d->f[i].base);
		sk_X509_pop_free(d->f[i].certs, X509_free);
		EVP_PKEY_free(d->f[i].key);
	}
	free(d->f);
	sk_X509_pop_free(d->trust, X509_free);
	sk_X509_pop_free(d->pool, X509_free);
	mtls__revcheck_free(d->rev);
}

static int
gather(struct doctor *d, struct mtls_err *err)
{
	size_t i;
	struct stat st;

	for (i = 0; i < d->o->npaths; i++) {
		const char *p = d->o->paths[i];

		if (stat(p, &st) != 0) {
			return mtls_err_sys(err, MTLS_E_NOTFOUND, "cannot check %s",
			    p);
		}
		if (S_ISDIR(st.st_mode)) {
			if (scan_dir(d, p, err) != 0) {
				return -1;
			}
		} else if (add_file(d, p) != 0) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
	}
	if (d->n == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no certificate, key or keystore files (*.crt, *.pem, "
		    "*.key, *.p12, *.jks) in %s",
		    d->o->npaths == 1 ? d->o->paths[0] : "the paths given");
	}
	return 0;
}

/* The revocation checker of every verified chain (diag/revcheck.h), its
 * CRLs checked against the truststore; a CRL that does not load is an
 * error finding, and the chains are then not checked against CRLs. */
static void
doctor_revcheck(struct doctor *d)
{
	struct mtls_revocation_opts ro = d->o->rev;
	struct mtls_err e = {MTLS_OK, ""};

	d->rev = mtls__revcheck_new(&ro, d->trust, &e);
	if (d->rev == NULL) {
		mtls__report_add(d->r, MTLS_SEV_ERROR, "crl_unreadable",
		    ro.ncrl > 0 ? ro.crl[0] : NULL, "give CRLs signed by a CA of "
		    "the truststore (mtls crl writes one)", "%s", e.msg);
		ro.crl = NULL;
		ro.ncrl = 0;
		d->rev = mtls__revcheck_new(&ro, d->trust, &e);
	} else if (!mtls__revcheck_active(d->rev)) {
		mtls__report_add(d->r, MTLS_SEV_WARN, "revocation_unchecked", NULL,
		    "drop --insecure-no-revocation", "INSECURE: no chain's "
		    "revocation is checked (--insecure-no-revocation)");
	}
}

struct mtls_report *
mtls_doctor(const struct mtls_doctor_opts *o, struct mtls_err *err)
{
	struct doctor d;
	size_t i;
	static const char *const here[] = {"."};
	struct mtls_doctor_opts dflt;

	memset(&d, 0, sizeof(d));
	if (o->npaths == 0) {
		dflt = *o;
		dflt.paths = here;
		dflt.npaths = 1;
		o = &dflt;
	}
	d.o = o;
	d.warn_days = o->warn_days > 0 ? o->warn_days : 30;
	d.r = mtls__report_new();
	d.trust = sk_X509_new_null();
	d.pool = sk_X509_new_null();
	if (d.r == NULL || d.trust == NULL || d.pool == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (gather(&d, err) != 0) {
		goto fail;
	}
	for (i = 0; i < d.n; i++) {
		read_file(&d, &d.f[i]);
	}
	if (collect_trust(&d, err) != 0) {
		goto fail;
	}
	/* What the command did about revocation without --crl is part of the
	 * answer: a check against a fetched CRL, or none because it could
	 * not be fetched. */
	if (o->crl_source != NULL) {
		mtls__report_add(d.r, MTLS_SEV_INFO, "crl_fetched", o->crl_source,
		    NULL, "no --crl given: the certificates were checked against "
		    "the CRL fetched from their distribution point %s",
		    o->crl_source);
	}
	if (o->crl_fetch_error != NULL) {
		mtls__report_add(d.r, MTLS_SEV_WARN, "crl_fetch_failed", NULL,
		    "give --crl FILE with a current CRL, or make the distribution "
		    "point reachable from here",
		    "revocation was not checked against the distribution point: "
		    "%s", o->crl_fetch_error);
	}
	doctor_revcheck(&d);
	for (i = 0; i < d.n; i++) {
		if (d.f[i].kind & DK_IDENTITY) {
			mtls__doctor_check_identity(&d, &d.f[i]);
		}
	}
	for (i = 0; i < d.n; i++) {
		if (d.f[i].kind & DK_KEY) {
			mtls__doctor_check_keyfile(&d, &d.f[i]);
		}
	}
	mtls__doctor_check_trust(&d);
	mtls__doctor_check_rollover(&d);
	doctor_free(&d);
	return d.r;
fail:
	mtls_report_free(d.r);
	doctor_free(&d);
	return NULL;
}
