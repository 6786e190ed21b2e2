/* mtls ca init | show */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/ca.h"
#include "mtls/explain.h"
#include "mtls/inspect.h"
#include "mtls/pass.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls ca init [--dir DIR] [--name DN] [--key-type T] [--days N]\n"
    "                    [--pass SPEC] [--crl-url URL] [--ocsp-url URL] [--force]\n"
    "                    [--db postgresql://... [--db-pass SPEC]] [--cert-policy OID]...\n"
    "       mtls ca init --intermediate [--dir DIR] [--name DN] ...\n"
    "       mtls ca sign-intermediate | renew-intermediate | install\n"
    "                    (see 'mtls ca install --help')\n"
    "       mtls ca show [--ca-dir DIR] [--json]\n"
    "       mtls ca migrate-db --to postgresql://... [--db-pass SPEC] [--force]\n"
    "                    [--ca-dir DIR]\n"
    "       mtls ca rollover begin | status | finish  (see 'mtls ca rollover --help')\n"
    "       mtls ca serve --listen ADDR:PORT [OPTIONS]  (see 'mtls ca serve --help')\n"
    "\n"
    "init creates a private CA: a self-signed root (basicConstraints CA:TRUE,\n"
    "keyUsage keyCertSign+cRLSign, SKI), its key (0600), ca.json and an SQLite\n"
    "inventory of everything it issues (or, with --db, a PostgreSQL database\n"
    "that several 'mtls ca serve' instances can share).\n"
    "\n"
    "  --dir DIR        where to create it (default $MTLS_CA_DIR or ./pki)\n"
    "  --name DN        subject, e.g. \"CN=Example Root CA,O=Example\"\n"
    "                   (default \"CN=mtls Root CA\")\n"
    "  --key-type T     ec-p256 (default), ec-p384, rsa-2048, rsa-3072,\n"
    "                   rsa-4096, ed25519\n"
    "  --days N         validity of the root (default 3650)\n"
    "  --pass SPEC      encrypt the CA key; SPEC is pass:TEXT, env:VAR,\n"
    "                   file:PATH, fd:N or stdin\n"
    "  --crl-url URL    CRL distribution point put in issued certificates\n"
    "  --ocsp-url URL   OCSP responder URL put in issued certificates\n"
    "  --cert-policy OID  certificate policy the root asserts (repeatable;\n"
    "                   a root's own policies bind no one, RFC 5280 6.1:\n"
    "                   give them to intermediates and leaves)\n"
    "  --force          replace an existing CA (its inventory is kept aside)\n"
    "  --key URI        use a key that lives in a PKCS#11 token (an HSM,\n"
    "                   SoftHSM2) instead of making ca.key: an RFC 7512 URI,\n"
    "                   pkcs11:token=CA;object=root-key; --pass (and later\n"
    "                   --ca-pass) then gives the token's PIN. Needs OpenSSL's\n"
    "                   pkcs11 engine (libengine-pkcs11-openssl); the module\n"
    "                   is p11-kit's unless $MTLS_PKCS11_MODULE names one\n"
    "  --db URL         keep the CA's state (inventory, revocations, CRL\n"
    "                   numbers, tokens, audit, ACME) in PostgreSQL:\n"
    "                   postgresql://USER@HOST:PORT/DB, an empty database;\n"
    "                   recorded in ca.json, so every command uses it. No\n"
    "                   password in the URL: use --db-pass or PGPASSFILE\n"
    "  --db-pass SPEC   the database password as env:VAR or file:PATH\n"
    "                   (recorded as given, never the password itself)\n"
    "\n"
    "migrate-db copies the state of a CA kept in SQLite into an empty\n"
    "PostgreSQL database, in one transaction (all or nothing), then records\n"
    "the database in ca.json; inventory.db stays as it was, unused. Stop\n"
    "'mtls ca serve' first. --force empties a database that holds state.\n"
    "\n"
    "show prints the CA certificate's subject, validity and fingerprint;\n"
    "with --json, {ca_dir, certificate, crl_url, ocsp_url}, the certificate\n"
    "as inspect --json shows it (docs/json.md).\n"
    "\n"
    "serve puts the CA online over HTTPS: EST enrollment (RFC 7030) with\n"
    "one-time tokens, re-enrollment by mutual TLS, the CRL, OCSP, /healthz and\n"
    "/metrics. Its options: 'mtls ca serve --help'.\n"
    "\n"
    "examples:\n"
    "  mtls ca init --name \"CN=Replication CA,O=Example\"\n"
    "  MTLS_CA_PASS=secret mtls ca init --dir /etc/mtls/ca --pass env:MTLS_CA_PASS\n"
    "  mtls ca init --db postgresql://mtls@db.internal/ca --db-pass file:/etc/mtls/dbpass\n"
    "  mtls ca migrate-db --ca-dir /etc/mtls/ca --to postgresql://mtls@db.internal/ca\n"
    "\n"
    "exit status: 0 done (serve: stopped by SIGTERM/SIGINT), 1 error, 2 usage\n";

static int
ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"days", required_argument, NULL, 'D'},
	    {"pass", required_argument, NULL, 'p'},
	    {"crl-url", required_argument, NULL, 'c'},
	    {"ocsp-url", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"intermediate", no_argument, NULL, 'I'},
	    {"key", required_argument, NULL, 'K'},
	    {"db", required_argument, NULL, 'B'},
	    {"db-pass", required_argument, NULL, 'P'},
	    {"cert-policy", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static char *cert_policies; /* lives until exit */
	struct mtls_ca_init_opts o;
	struct mtls_err err;
	const char *dir = NULL, *pass_spec = NULL;
	char note[256] = "";
	long days = 0;
	int c, rc, intermediate = 0;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	o.key_type = MTLS_KEY_EC_P256;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': o.name = optarg; break;
		case 'k':
			if (mtls_keytype_parse(optarg, &o.key_type, &err) != 0) {
				return cli_fail(&err);
			}
			break;
		case 'D':
			if (cli_parse_int("ca init", "--days", optarg, 1, 36500, &days) != 0) {
				return 2;
			}
			break;
		case 'p': pass_spec = optarg; break;
		case 'c': o.crl_url = optarg; break;
		case 'o': o.ocsp_url = optarg; break;
		case 'f': o.force = 1; break;
		case 'I': intermediate = 1; break;
		case 'K': o.key_uri = optarg; break;
		case 'B': o.db = optarg; break;
		case 'P': o.db_pass = optarg; break;
		case 'C':
			if (cli_cert_policy_add("ca init", &cert_policies, optarg) != 0) {
				return 2;
			}
			o.cert_policies = cert_policies;
			break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca init");
		}
	}
	if (optind != argc) {
		return cli_usage("ca init", "unexpected argument '%s'", argv[optind]);
	}
	o.dir = cli_ca_dir(dir);
	o.days = (int)days;
	o.pass_spec = pass_spec; /* resolved by mtls_ca_init */
	if (o.db_pass != NULL && o.db == NULL) {
		return cli_usage("ca init", "--db-pass goes with --db");
	}
	if (intermediate) {
		if (days != 0 || o.crl_url != NULL || o.ocsp_url != NULL ||
		    o.cert_policies != NULL) {
			return cli_usage("ca init", "--days, --crl-url, --ocsp-url and "
			    "--cert-policy of an intermediate are given to 'ca "
			    "sign-intermediate' and 'ca install'");
		}
		return cmd_ca_request(&o);
	}
	o.note = note;
	o.note_len = sizeof(note);
	rc = mtls_ca_init(&o, &err);
	if (note[0] != '\0') {
		fprintf(stderr, "mtls: %s\n", note);
	}
	if (rc != 0) {
		return cli_fail(&err);
	}
	if (o.key_uri != NULL) {
		printf("CA created in %s (key in a PKCS#11 token: %s)\n", o.dir, o.key_uri);
		printf("  certificate: %s/ca.crt  (give this to every peer as the trust anchor)\n", o.dir);
		return 0;
	}
	printf("CA created in %s (%s key%s)\n", o.dir, mtls_keytype_name(o.key_type),
	    pass_spec != NULL ? ", encrypted" : "");
	printf("  certificate: %s/ca.crt  (give this to every peer as the trust anchor)\n", o.dir);
	printf("  key:         %s/ca.key  (mode 0600; keep it secret)\n", o.dir);
	return 0;
}

static int
ca_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	char fp[200], nb[64], na[64], *subj;
	X509 *x;
	int c, json = 0;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca show");
		}
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	x = mtls_ca_cert(ca);
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "ca_dir", json_string(mtls_ca_dir(ca)));
		json_object_set_new(o, "certificate", mtls_cert_to_json(x));
		json_object_set_new(o, "crl_url", mtls_ca_crl_url(ca) != NULL ?
		    json_string(mtls_ca_crl_url(ca)) : json_null());
		json_object_set_new(o, "ocsp_url", mtls_ca_ocsp_url(ca) != NULL ?
		    json_string(mtls_ca_ocsp_url(ca)) : json_null());
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
		mtls_ca_free(ca);
		return 0;
	}
	subj = mtls_name_format(X509_get_subject_name(x));
	mtls_cert_fingerprint(x, EVP_sha256(), fp, sizeof(fp));
	mtls_time_format(X509_get0_notBefore(x), nb, sizeof(nb));
	mtls_time_format(X509_get0_notAfter(x), na, sizeof(na));
	printf("CA directory: %s\nSubject:      %s\nValid:        %s to %s\n"
	       "SHA-256:      %s\n",
	    mtls_ca_dir(ca), subj ? subj : "?", nb, na, fp);
	if (mtls_ca_crl_url(ca) != NULL) {
		printf("CRL URL:      %s\n", mtls_ca_crl_url(ca));
	}
	if (mtls_ca_ocsp_url(ca) != NULL) {
		printf("OCSP URL:     %s\n", mtls_ca_ocsp_url(ca));
	}
	OPENSSL_free(subj);
	mtls_ca_free(ca);
	return 0;
}

static int
ca_migrate_db(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"to", required_argument, NULL, 't'},
	    {"db-pass", required_argument, NULL, 'P'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_ca_migrate_counts n;
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL, *to = NULL, *pass = NULL;
	int c, force = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 't': to = optarg; break;
		case 'P': pass = optarg; break;
		case 'f': force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca migrate-db");
		}
	}
	if (optind != argc || to == NULL) {
		return cli_usage("ca migrate-db", "give --to postgresql://...");
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	rc = mtls_ca_migrate_db(ca, to, pass, force, &n, &err);
	if (rc == 0) {
		printf("moved the CA in %s to %s: %lld certificates, %lld tokens, "
		    "%lld audit events, %lld other rows\n", mtls_ca_dir(ca), to,
		    n.certs, n.tokens, n.audit, n.other);
	}
	mtls_ca_free(ca);
	return rc == 0 ? 0 : cli_fail(&err);
}

int
cmd_ca(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		return cli_help(usage);
	}
	if (strcmp(argv[1], "init") == 0) {
		return ca_init(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "show") == 0) {
		return ca_show(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "serve") == 0) {
		return cmd_ca_serve(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "rollover") == 0) {
		return cmd_ca_roll(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "sign-intermediate") == 0 ||
	    strcmp(argv[1], "renew-intermediate") == 0 ||
	    strcmp(argv[1], "install") == 0) {
		return cmd_ca_sub(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "migrate-db") == 0) {
		return ca_migrate_db(argc - 1, argv + 1);
	}
	return cli_usage("ca", "unknown action '%s' (use init, show, serve, "
	    "migrate-db, sign-intermediate, renew-intermediate, install or "
	    "rollover)", argv[1]);
}
