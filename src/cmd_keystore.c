/* mtls keystore: the keytool subset people run, for JKS and PKCS#12. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "commands.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "store_cli.h"

static const char usage[] =
    "usage: mtls keystore list|add|trust|remove|export|passwd STORE [OPTIONS]\n"
    "\n"
    "Java keystores and truststores (JKS or PKCS#12) without keytool.\n"
    "Aliases are stored lower-case, keys use the store password unless\n"
    "--key-pass says otherwise, and PKCS#12 trusted certificates carry the\n"
    "attribute Java needs to see them.\n"
    "\n"
    "Verbs:\n"
    "  list      print entries: alias, type, date, each certificate\n"
    "            (keytool -list -v); --json for JSON\n"
    "  add       add a private key and its chain under --alias\n"
    "            (--key and --cert; the store is created when missing)\n"
    "  trust     add the certificate(s) in --cert as trusted entries\n"
    "            (keytool -importcert -trustcacerts)\n"
    "  remove    delete --alias (keytool -delete)\n"
    "  export    write the certificate of --alias, PEM or --der\n"
    "            (keytool -exportcert [-rfc]) to --out or stdout\n"
    "  passwd    change the store password to --new-pass (JKS keys\n"
    "            protected by the old store password follow it)\n"
    "\n"
    "Options:\n"
    "  --type jks|p12       format of a new store (default from the\n"
    "                       extension: .jks .ks .ts .truststore .keystore\n"
    "                       = jks, .p12 .pfx = p12); an existing store\n"
    "                       keeps its format\n"
    "  --alias NAME         entry name (default: the certificate's CN)\n"
    "  --cert FILE          certificate or chain, PEM or DER\n"
    "  --key FILE           private key, PEM or DER\n"
    "  --key-in-pass SPEC   password of an encrypted --key file\n"
    "  --pass SPEC          store password\n"
    "  --key-pass SPEC      JKS: a key password different from the store\n"
    "                       password (Java's default key manager then\n"
    "                       fails; avoid)\n"
    "  --new-pass SPEC      passwd: the new store password\n"
    "  --out FILE           export: write here instead of stdout\n"
    "  --der                export: DER instead of PEM\n"
    "  --legacy             PKCS#12: PBE-SHA1-3DES and a SHA-1 MAC, for\n"
    "                       Java before 8u301, macOS and old Windows\n"
    "  --force              add/trust: replace an existing alias\n"
    "  --json               list: JSON output\n"
    "\n"
    "SPEC is pass:TEXT, env:VAR, file:PATH, fd:N or stdin; without it the\n"
    "password is asked for on a terminal.\n"
    "\n"
    "Examples:\n"
    "  mtls keystore add server.jks --alias server --key server.key \\\n"
    "      --cert server-chain.pem --pass env:KS_PASS\n"
    "  mtls keystore trust truststore.p12 --alias rootca --cert ca.pem \\\n"
    "      --pass file:ts.pass\n"
    "  mtls keystore list truststore.p12 --pass env:TS_PASS\n"
    "  mtls keystore export server.jks --alias server --der --out s.cer\n"
    "  mtls keystore passwd server.jks --pass env:OLD --new-pass env:NEW\n";

struct ks_opts {
	const char *verb, *path, *type, *alias, *cert, *key, *key_in_pass;
	const char *pass, *key_pass, *new_pass, *out;
	int der, legacy, force, json;
};

enum {
	OPT_TYPE = 256, OPT_ALIAS, OPT_CERT, OPT_KEY, OPT_KEY_IN_PASS, OPT_PASS,
	OPT_KEY_PASS, OPT_NEW_PASS, OPT_OUT, OPT_DER, OPT_LEGACY, OPT_FORCE,
	OPT_JSON,
};

static const struct option longopts[] = {
    {"type", required_argument, NULL, OPT_TYPE},
    {"alias", required_argument, NULL, OPT_ALIAS},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"key-in-pass", required_argument, NULL, OPT_KEY_IN_PASS},
    {"pass", required_argument, NULL, OPT_PASS},
    {"key-pass", required_argument, NULL, OPT_KEY_PASS},
    {"new-pass", required_argument, NULL, OPT_NEW_PASS},
    {"out", required_argument, NULL, OPT_OUT},
    {"der", no_argument, NULL, OPT_DER},
    {"legacy", no_argument, NULL, OPT_LEGACY},
    {"force", no_argument, NULL, OPT_FORCE},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The format to write: the file's own when it exists, else --type, else
 * the extension. */
static enum sc_out
ks_kind(const struct ks_opts *o, const struct mtls_store *s, int exists)
{
	if (exists) {
		switch (mtls_store_format(s)) {
		case MTLS_STORE_JKS:
			return SC_JKS;
		case MTLS_STORE_P12:
			return SC_P12;
		default:
			return SC_NONE;
		}
	}
	if (o->type != NULL) {
		return sc_kind_parse(o->type);
	}
	return sc_kind_from_ext(o->path);
}

static int
ks_list(const struct ks_opts *o)
{
	struct mtls_err err;
	unsigned char *d = NULL;
	size_t n = 0;
	int rc;

	mtls_err_clear(&err);
	if (mtls_file_read(o->path, 256u * 1024 * 1024, &d, &n, &err) != 0) {
		return cli_fail(&err);
	}
	rc = mtls_store_describe(stdout, d, n, o->path, o->pass, o->json, &err);
	mtls_file_free(d, n);
	if (rc == 0) {
		mtls_err_set(&err, MTLS_E_FORMAT,
		    "%s is not a keystore (expected JKS, JCEKS or PKCS#12)",
		    o->path);
	}
	return rc == 1 ? 0 : cli_fail(&err);
}

static int
ks_export(const struct ks_opts *o, struct mtls_store *s,
    struct mtls_err *err)
{
	const struct mtls_store_entry *e;
	X509 *x;
	char *pem = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	long at;
	int rc = -1, dlen;

	if (o->alias == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "export needs --alias (see 'mtls keystore list %s')",
		    o->path);
	}
	at = mtls_store_find(s, o->alias);
	if (at < 0) {
		return mtls_store_remove(s, o->alias, err); /* names them */
	}
	e = mtls_store_get(s, (size_t)at);
	x = sk_X509_value(e->certs, 0);
	if (x == NULL) {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "entry '%s' has no certificate", o->alias);
	}
	if (o->der) {
		dlen = i2d_X509(x, &der);
		if (dlen <= 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "cannot encode the certificate");
		}
		len = (size_t)dlen;
	} else if (mtls_cert_append_pem(x, &pem, &len, err) != 0) {
		return -1;
	}
	if (o->out != NULL) {
		rc = mtls_file_write_atomic(o->out, o->der ? (void *)der
		    : (void *)pem, len, MTLS_MODE_PUBLIC, o->force, err);
	} else {
		rc = fwrite(o->der ? (void *)der : (void *)pem, 1, len,
			 stdout) == len ? 0
		    : mtls_err_sys(err, MTLS_E_IO, "cannot write to stdout");
	}
	OPENSSL_free(der);
	OPENSSL_free(pem);
	return rc;
}

/* What was done, printed only once the store is written: nothing says
 * "added" before it is true (a full disk fails the write). */
static char ks_done[4096];

static void ks_done_add(const char *fmt, ...) MTLS_PRINTF(1, 2);

static void
ks_done_add(const char *fmt, ...)
{
	size_t used = strlen(ks_done);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ks_done + used, sizeof(ks_done) - used, fmt, ap);
	va_end(ap);
}

static int
ks_add(const struct ks_opts *o, struct mtls_store *s, struct mtls_err *err)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	char *alias = NULL;
	int rc = -1;

	if (o->key == NULL || o->cert == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "add needs --key FILE and --cert FILE");
	}
	key = mtls_load_key(o->key, o->key_in_pass, err);
	if (key == NULL || mtls_load_certs(o->cert, &chain, err) != 0) {
		goto out;
	}
	alias = o->alias != NULL ? mtls_store_alias_norm(o->alias, NULL)
	    : mtls_store_alias_for(s, sk_X509_value(chain, 0), "mykey");
	if (alias == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = mtls_store_add_key(s, alias, key, chain, 0, o->force, err);
	if (rc == 0) {
		ks_done_add("mtls: added key entry '%s' (chain of %d)\n",
		    alias, sk_X509_num(chain));
	}
out:
	OPENSSL_free(alias);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static int
ks_trust(const struct ks_opts *o, struct mtls_store *s, struct mtls_err *err)
{
	STACK_OF(X509) *certs = NULL;
	int i, rc = 0;

	if (o->cert == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "trust needs --cert FILE");
	}
	if (mtls_load_certs(o->cert, &certs, err) != 0) {
		return -1;
	}
	for (i = 0; i < sk_X509_num(certs) && rc == 0; i++) {
		X509 *x = sk_X509_value(certs, i);
		char *alias = (i == 0 && o->alias != NULL)
		    ? mtls_store_alias_norm(o->alias, NULL)
		    : mtls_store_alias_for(s, x, o->alias ? o->alias : "cert");

		if (alias == NULL) {
			rc = mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
			break;
		}
		rc = mtls_store_add_trusted(s, alias, x, 0, o->force, err);
		if (rc == 0) {
			ks_done_add("mtls: added trusted entry '%s'\n", alias);
		}
		OPENSSL_free(alias);
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int
ks_parse_args(int argc, char **argv, struct ks_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TYPE: o->type = optarg; break;
		case OPT_ALIAS: o->alias = optarg; break;
		case OPT_CERT: o->cert = optarg; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_KEY_IN_PASS: o->key_in_pass = optarg; break;
		case OPT_PASS: o->pass = optarg; break;
		case OPT_KEY_PASS: o->key_pass = optarg; break;
		case OPT_NEW_PASS: o->new_pass = optarg; break;
		case OPT_OUT: o->out = optarg; break;
		case OPT_DER: o->der = 1; break;
		case OPT_LEGACY: o->legacy = 1; break;
		case OPT_FORCE: o->force = 1; break;
		case OPT_JSON: o->json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage) - 1;
		default: return cli_bad_option("keystore");
		}
	}
	if (argc - optind != 2) {
		return cli_usage("keystore", "expected a verb and a STORE");
	}
	o->verb = argv[optind];
	o->path = argv[optind + 1];
	if (o->type != NULL && sc_kind_parse(o->type) != SC_JKS &&
	    sc_kind_parse(o->type) != SC_P12) {
		return cli_usage("keystore", "--type must be jks or p12, not '%s'",
		    o->type);
	}
	return 0;
}

static int
ks_run(const struct ks_opts *o, struct mtls_err *err)
{
	struct mtls_store_opts so = {NULL, o->legacy, 0};
	struct mtls_store *s = NULL;
	char *pass = NULL, *kpass = NULL, *npass = NULL;
	int exists = 0, writes = strcmp(o->verb, "export") != 0;
	enum sc_out kind;
	int rc = -1, lockfd = -1;

	ks_done[0] = '\0';
	/* Writers of one store take turns: read, change and write are one
	 * step, so concurrent adds never lose each other's entries. */
	if (writes && sc_store_lock(o->path, &lockfd, err) != 0) {
		return -1;
	}
	if (writes) {
		sc_store_sweep(lockfd, o->path);
	}
	pass = sc_pass(o->pass, "--pass", o->path, 0, err);
	if (pass == NULL) {
		goto out;
	}
	if (o->key_pass != NULL &&
	    (kpass = mtls_pass_get(o->key_pass, NULL, 0, err)) == NULL) {
		goto out;
	}
	s = sc_store_load(o->path, pass, kpass, &exists, err);
	if (s == NULL) {
		goto out;
	}
	if (!exists && strcmp(o->verb, "add") != 0 &&
	    strcmp(o->verb, "trust") != 0) {
		rc = mtls_err_sys(err, MTLS_E_IO, "cannot open %s", o->path);
		goto out;
	}
	kind = ks_kind(o, s, exists);
	if (kind != SC_JKS && kind != SC_P12 && writes) {
		rc = mtls_err_set(err, MTLS_E_USAGE, exists
		    ? "%s is JCEKS, which mtls reads but does not write; "
		      "convert it first: mtls convert %s out.p12"
		    : "cannot tell the format of %s from its name; give "
		      "--type jks or --type p12", o->path, o->path);
		goto out;
	}
	if (kpass != NULL && kind == SC_P12) {
		fprintf(stderr, "mtls: warning: PKCS#12 keys use the store "
				"password (as with keytool); --key-pass ignored\n");
	} else if (kpass != NULL && strcmp(kpass, pass) != 0) {
		fprintf(stderr, "mtls: warning: the key password differs from "
				"the store password; Java's default key manager "
				"(SunX509) then fails with 'Cannot recover key'\n");
		so.key_pass = kpass;
	}
	if (strcmp(o->verb, "export") == 0) {
		rc = ks_export(o, s, err);
		goto out;
	} else if (strcmp(o->verb, "add") == 0) {
		rc = ks_add(o, s, err);
	} else if (strcmp(o->verb, "trust") == 0) {
		rc = ks_trust(o, s, err);
	} else if (strcmp(o->verb, "remove") == 0) {
		rc = o->alias == NULL ? mtls_err_set(err, MTLS_E_USAGE,
		    "remove needs --alias") : mtls_store_remove(s, o->alias, err);
	} else if (strcmp(o->verb, "passwd") == 0) {
		npass = sc_pass(o->new_pass, "--new-pass", "the new password",
		    1, err);
		rc = npass == NULL ? -1 : 0;
		so.key_pass = NULL; /* keys follow the new store password */
	} else {
		rc = mtls_err_set(err, MTLS_E_USAGE,
		    "unknown verb '%s' (list, add, trust, remove, export, "
		    "passwd)", o->verb);
	}
	if (rc == 0) {
		sc_pass_warn(npass != NULL ? npass : pass, kind);
		rc = sc_store_save(s, o->path, kind, npass != NULL ? npass : pass,
		    &so, 1, err);
	}
	if (rc == 0) {
		fputs(ks_done, stderr);
	}
out:
	sc_store_unlock(lockfd);
	mtls_store_free(s);
	mtls_pass_free(pass);
	mtls_pass_free(kpass);
	mtls_pass_free(npass);
	return rc;
}

int
cmd_keystore(int argc, char **argv)
{
	struct ks_opts o;
	struct mtls_err err;
	int rc = ks_parse_args(argc, argv, &o);

	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	if (strcmp(o.verb, "list") == 0) {
		return ks_list(&o);
	}
	mtls_err_clear(&err);
	if (ks_run(&o, &err) != 0) {
		return cli_fail(&err);
	}
	return 0;
}
