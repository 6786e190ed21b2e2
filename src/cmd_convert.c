/* mtls convert: PEM, DER, PKCS#12 and JKS in any direction the content
 * allows, through the keystore model. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "store_cli.h"

#define CONVERT_READ_MAX (256u * 1024 * 1024)

static const char usage[] =
    "usage: mtls convert IN OUT [OPTIONS]\n"
    "\n"
    "Converts keys and certificates between PEM (key, certificate, chain,\n"
    "bundle), DER, PKCS#12 and JKS. IN is recognised by its content; OUT's\n"
    "format comes from --to or its extension (.pem .crt .key = PEM,\n"
    ".der .cer = DER, .p12 .pfx = PKCS#12, .jks .ks .ts .truststore\n"
    ".keystore = JKS). A key with its certificates becomes one key entry;\n"
    "certificates alone become trusted entries (a truststore).\n"
    "\n"
    "Options:\n"
    "  --to pem|der|p12|jks  output format (overrides the extension)\n"
    "  --in-pass SPEC        password of IN (store or encrypted key)\n"
    "  --in-key-pass SPEC    JKS input: a key password that differs from\n"
    "                        the store password\n"
    "  --out-pass SPEC       password of OUT (stores; for PEM it encrypts\n"
    "                        the key with AES-256); 'pass:' (empty) makes a\n"
    "                        passwordless PKCS#12 truststore\n"
    "  --alias NAME          alias of the entry written (store output), or\n"
    "                        the entry to take from a store input\n"
    "  --key FILE            the private key, when IN holds the certificate\n"
    "                        (and its chain) without it (PEM or DER;\n"
    "                        --in-pass opens an encrypted one)\n"
    "  --legacy              PKCS#12 output with PBE-SHA1-3DES and a SHA-1\n"
    "                        MAC (old Java, macOS, old Windows)\n"
    "  --force               replace OUT if it exists\n"
    "\n"
    "SPEC is pass:TEXT, env:VAR, file:PATH, fd:N or stdin; without it the\n"
    "password is asked for on a terminal. Outputs holding a key are 0600.\n"
    "\n"
    "Examples:\n"
    "  mtls convert server.p12 server.jks --in-pass env:P --out-pass env:P\n"
    "  mtls convert ca.pem truststore.p12 --out-pass file:ts.pass\n"
    "  mtls convert keystore.jks server.pem --in-pass env:P\n"
    "  mtls convert server.key server.p12 --to p12 (key + cert in one PEM)\n"
    "  mtls convert author.chain.pem author.p12 --key author.key --legacy \\\n"
    "      --out-pass env:P12_PASS\n";


enum {
	OPT_TO = 256, OPT_IN_PASS, OPT_IN_KEY_PASS, OPT_OUT_PASS, OPT_ALIAS,
	OPT_LEGACY, OPT_FORCE, OPT_KEY,
};

static const struct option longopts[] = {
    {"to", required_argument, NULL, OPT_TO},
    {"in-pass", required_argument, NULL, OPT_IN_PASS},
    {"in-key-pass", required_argument, NULL, OPT_IN_KEY_PASS},
    {"out-pass", required_argument, NULL, OPT_OUT_PASS},
    {"alias", required_argument, NULL, OPT_ALIAS},
    {"legacy", no_argument, NULL, OPT_LEGACY},
    {"key", required_argument, NULL, OPT_KEY},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int
has_locked(const struct mtls_store *s)
{
	size_t i;

	for (i = 0; i < mtls_store_count(s); i++) {
		if (mtls_store_get(s, i)->flags & MTLS_ENTRY_LOCKED) {
			return 1;
		}
	}
	return 0;
}

static struct mtls_store *
load_store(const struct cv_opts *o, const unsigned char *d, size_t n,
    struct mtls_err *err)
{
	struct mtls_store *s = NULL;
	char *pass = NULL, *kpass = NULL;

	if (o->in_key_pass != NULL &&
	    (kpass = mtls_pass_get(o->in_key_pass, NULL, 0, err)) == NULL) {
		return NULL;
	}
	if (o->in_pass != NULL &&
	    (pass = mtls_pass_get(o->in_pass, NULL, 0, err)) == NULL) {
		goto out;
	}
	s = mtls_store_parse(d, n, o->in, pass, kpass, err);
	/* Without --in-pass: fine for a passwordless file; otherwise ask. */
	if (pass == NULL && (s == NULL ? err->code == MTLS_E_PASSWORD
					: has_locked(s))) {
		mtls_store_free(s);
		s = NULL;
		pass = sc_pass(NULL, "--in-pass", o->in, 0, err);
		if (pass != NULL) {
			s = mtls_store_parse(d, n, o->in, pass, kpass, err);
		}
	}
out:
	mtls_pass_free(pass);
	mtls_pass_free(kpass);
	return s;
}

/* PEM or DER keys and certificates into a store. */
static struct mtls_store *
load_plain(const struct cv_opts *o, const unsigned char *d, size_t n,
    const unsigned char *kd, size_t kn, struct mtls_err *err)
{
	struct mtls_store *s = mtls_store_new();
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	struct mtls_err cerr;
	char *alias = NULL;
	int i, rc = -1;

	if (s == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	mtls_err_clear(&cerr);
	(void)mtls_load_certs(o->in, &certs, &cerr);
	if (kd != NULL) {
		/* --key: IN holds the certificate (and chain), KEY the key;
		 * no need to cat a key into a world-readable file first. */
		if (certs == NULL) {
			mtls_err_set(err, MTLS_E_FORMAT, "%s holds no "
			    "certificate to go with --key %s", o->in, o->key);
			goto out;
		}
		key = mtls_parse_key(kd, kn, o->key, o->in_pass, err);
		if (key == NULL) {
			goto out;
		}
	} else if (memmem(d, n, "PRIVATE KEY-----", 16) != NULL ||
	    certs == NULL) {
		key = mtls_parse_key(d, n, o->in, o->in_pass, err);
		if (key == NULL && (err->code != MTLS_E_FORMAT || certs == NULL)) {
			if (certs == NULL && err->code == MTLS_E_FORMAT) {
				mtls_err_set(err, MTLS_E_FORMAT,
				    "%s holds no keystore, certificate or key "
				    "(expected PEM, DER, PKCS#12 or JKS)", o->in);
			}
			goto out;
		}
	}
	if (key != NULL) {
		X509 *leaf = NULL;

		for (i = 0; i < sk_X509_num(certs) && leaf == NULL; i++) {
			if (mtls_key_matches_cert(key, sk_X509_value(certs, i))) {
				leaf = sk_X509_value(certs, i);
			}
		}
		if (leaf == NULL && kd != NULL) {
			mtls_err_set(err, MTLS_E_FORMAT, "the key in %s does "
			    "not belong to any certificate in %s", o->key, o->in);
			goto out;
		}
		if (leaf == NULL) {
			mtls_err_set(err, MTLS_E_FORMAT,
			    "%s holds a private key but not its certificate; "
			    "give the certificate as IN and the key with --key "
			    "FILE", o->in);
			goto out;
		}
		alias = o->alias != NULL ? OPENSSL_strdup(o->alias)
		    : mtls_store_alias_for(s, leaf, "mykey");
		if (alias == NULL ||
		    mtls_store_add_key(s, alias, key, certs, 0, 0, err) != 0) {
			goto out;
		}
	} else {
		for (i = 0; i < sk_X509_num(certs); i++) {
			X509 *x = sk_X509_value(certs, i);

			OPENSSL_free(alias);
			alias = (o->alias != NULL && i == 0)
			    ? OPENSSL_strdup(o->alias)
			    : mtls_store_alias_for(s, x,
				  o->alias != NULL ? o->alias : "cert");
			if (alias == NULL ||
			    mtls_store_add_trusted(s, alias, x, 0, 0, err) != 0) {
				goto out;
			}
		}
	}
	rc = 0;
out:
	OPENSSL_free(alias);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	if (rc != 0) {
		mtls_store_free(s);
		return NULL;
	}
	return s;
}

/* With --alias and a store input, keeps only that entry. */
static int
select_alias(struct mtls_store *s, const char *alias, struct mtls_err *err)
{
	long at = mtls_store_find(s, alias);
	size_t i;

	if (at < 0) {
		return mtls_store_remove(s, alias, err); /* lists aliases */
	}
	for (i = mtls_store_count(s); i-- > 0;) {
		const struct mtls_store_entry *e = mtls_store_get(s, i);

		if (i != (size_t)at && mtls_store_remove(s, e->alias, err) != 0) {
			return -1;
		}
	}
	return 0;
}

static int
append(char **buf, size_t *len, const void *d, size_t n)
{
	char *nb = OPENSSL_realloc(*buf, *len + n + 1);

	if (nb == NULL) {
		return -1;
	}
	memcpy(nb + *len, d, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

static int
write_pem(const struct cv_opts *o, struct mtls_store *s, const char *pass,
    char **buf, size_t *len, int *secret, struct mtls_err *err)
{
	int keys = !sc_has_ext(o->out, ".crt") && !sc_has_ext(o->out, ".cer");
	int certs = !sc_has_ext(o->out, ".key");
	size_t i;
	int j;

	for (i = 0; i < mtls_store_count(s); i++) {
		const struct mtls_store_entry *e = mtls_store_get(s, i);

		if (e->type == MTLS_ENTRY_KEY && keys) {
			char *pem = NULL;
			size_t plen = 0;

			if (e->key == NULL) {
				return mtls_err_set(err, MTLS_E_PASSWORD,
				    "the key of '%s' has its own password; "
				    "give it with --in-key-pass", e->alias);
			}
			if (mtls_key_to_pem(e->key, pass, &pem, &plen, err) != 0) {
				return -1;
			}
			j = append(buf, len, pem, plen);
			mtls_secret_free(pem, plen);
			if (j != 0) {
				return mtls_err_set(err, MTLS_E_INTERNAL,
				    "out of memory");
			}
			*secret = 1;
		}
		for (j = 0; certs && j < sk_X509_num(e->certs); j++) {
			if (mtls_cert_append_pem(sk_X509_value(e->certs, j), buf,
			    len, err) != 0) {
				return -1;
			}
		}
	}
	if (*len == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "%s holds nothing to write as %s", o->in,
		    keys && !certs ? "a key" : "PEM");
	}
	return 0;
}

static int
write_der(const struct cv_opts *o, struct mtls_store *s, char **buf,
    size_t *len, int *secret, struct mtls_err *err)
{
	const struct mtls_store_entry *e;
	unsigned char *der = NULL;
	int dlen;

	if (mtls_store_count(s) != 1) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "DER holds one object but %s has %zu entries; pick one with "
		    "--alias or write PEM", o->in, mtls_store_count(s));
	}
	e = mtls_store_get(s, 0);
	if (sc_has_ext(o->out, ".key") && e->key != NULL) {
		dlen = i2d_PrivateKey(e->key, &der);
		*secret = 1;
	} else {
		dlen = i2d_X509(sk_X509_value(e->certs, 0), &der);
		if (e->type == MTLS_ENTRY_KEY) {
			fprintf(stderr, "mtls: note: DER output holds the "
					"certificate only (name OUT *.key for "
					"the key)\n");
		}
	}
	if (dlen <= 0) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode DER");
	}
	*buf = (char *)der;
	*len = (size_t)dlen;
	return 0;
}

int
convert_run(const struct cv_opts *o, struct mtls_err *err)
{
	unsigned char *d = NULL, *kd = NULL;
	size_t n = 0, kn = 0, len = 0;
	struct mtls_store *s = NULL;
	struct mtls_store_opts so = {NULL, o->legacy, 0};
	enum sc_out kind = o->to != NULL ? sc_kind_parse(o->to)
					 : sc_kind_from_ext(o->out);
	char *pass = NULL, *buf = NULL;
	int secret = 0, rc = -1, lockfd = -1;
	struct mtls_fileset *fs = NULL;

	if (kind == SC_NONE) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    o->to != NULL ? "--to must be pem, der, p12 or jks"
				  : "cannot tell the output format from '%s'; "
				    "give --to pem|der|p12|jks", o->out);
	}
	if (mtls_file_read(o->in, CONVERT_READ_MAX, &d, &n, err) != 0) {
		return -1;
	}
	if (o->key != NULL && mtls_store_detect(d, n) != MTLS_STORE_NONE) {
		mtls_err_set(err, MTLS_E_USAGE, "--key goes with a certificate "
		    "file; %s is a keystore, which holds its own key", o->in);
		goto out;
	}
	if (o->key != NULL &&
	    mtls_file_read(o->key, CONVERT_READ_MAX, &kd, &kn, err) != 0) {
		goto out;
	}
	s = mtls_store_detect(d, n) != MTLS_STORE_NONE
	    ? load_store(o, d, n, err) : load_plain(o, d, n, kd, kn, err);
	if (s == NULL) {
		goto out;
	}
	if (o->alias != NULL && mtls_store_detect(d, n) != MTLS_STORE_NONE &&
	    select_alias(s, o->alias, err) != 0) {
		goto out;
	}
	if (kind == SC_JKS || kind == SC_P12) {
		pass = sc_pass(o->out_pass, "--out-pass", o->out, 1, err);
		if (pass == NULL) {
			goto out;
		}
		sc_pass_warn(pass, kind);
		/* The store lock every keystore write takes: a keystore
		 * command beside us neither loses our write nor sweeps our
		 * temporary file as a killed writer's. */
		if (sc_store_lock(o->out, &lockfd, err) != 0) {
			goto out;
		}
		sc_store_sweep(lockfd, o->out);
		rc = sc_store_save(s, o->out, kind, pass, &so, o->force, err);
		goto out;
	}
	if (o->out_pass != NULL &&
	    (pass = mtls_pass_get(o->out_pass, NULL, 0, err)) == NULL) {
		goto out;
	}
	if ((kind == SC_PEM ? write_pem(o, s, pass, &buf, &len, &secret, err)
			    : write_der(o, s, &buf, &len, &secret, err)) != 0) {
		goto out;
	}
	fs = mtls_fileset_new(o->force, err);
	if (fs != NULL &&
	    mtls_fileset_add(fs, o->out, buf, len,
		secret ? MTLS_MODE_SECRET : MTLS_MODE_PUBLIC, err) == 0 &&
	    mtls_fileset_commit(fs, err) == 0) {
		rc = 0;
	}
out:
	sc_store_unlock(lockfd);
	mtls_fileset_free(fs);
	if (buf != NULL) {
		OPENSSL_clear_free(buf, len);
	}
	mtls_pass_free(pass);
	mtls_store_free(s);
	mtls_file_free(d, n);
	if (kd != NULL) {
		mtls_file_free(kd, kn);
	}
	return rc;
}

int
cmd_convert(int argc, char **argv)
{
	struct cv_opts o;
	struct mtls_err err;
	int c;

	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TO: o.to = optarg; break;
		case OPT_IN_PASS: o.in_pass = optarg; break;
		case OPT_IN_KEY_PASS: o.in_key_pass = optarg; break;
		case OPT_OUT_PASS: o.out_pass = optarg; break;
		case OPT_ALIAS: o.alias = optarg; break;
		case OPT_LEGACY: o.legacy = 1; break;
		case OPT_KEY: o.key = optarg; break;
		case OPT_FORCE: o.force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("convert");
		}
	}
	if (argc - optind != 2) {
		return cli_usage("convert", "expected IN and OUT");
	}
	o.in = argv[optind];
	o.out = argv[optind + 1];
	mtls_err_clear(&err);
	if (convert_run(&o, &err) != 0) {
		return cli_fail(&err);
	}
	return 0;
}
