/* mtls export NAME: an identity already issued, into another container.
 * Nothing is issued or revoked: the key and certificate stay the same. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "convert.h"
#include "deploy.h"
#include "mtls/diag.h"
#include "mtls/pki.h"

static const char usage[] =
    "usage: mtls export NAME --to p12|jks|pem|der [--legacy] [--out FILE]\n"
    "                   [--from DIR] [--pass SPEC] [--key-pass SPEC]\n"
    "                   [--alias A] [--force] [--ca-dir DIR]\n"
    "\n"
    "Writes the identity NAME (DIR/NAME.key with DIR/NAME.chain.pem, or\n"
    "DIR/NAME.crt when there is no chain file) into another container: a\n"
    "PKCS#12 or JKS keystore, one PEM file with the key and chain, or DER.\n"
    "The key and certificate stay the same: nothing is issued, nothing is\n"
    "revoked (unlike 'issue --force'). A certificate the CA's inventory says\n"
    "was revoked or superseded is refused: export the current one.\n"
    "\n"
    "  --to FORMAT     p12, jks, pem (key + chain, 0600) or der (the\n"
    "                  certificate; name OUT *.key for the key)\n"
    "  --legacy        PKCS#12 with PBE-SHA1-3DES and a SHA-1 MAC, for old\n"
    "                  Java, macOS and Windows (same iteration count)\n"
    "  --out FILE      default NAME.p12, NAME.jks, NAME.pem or NAME.der\n"
    "  --from DIR      where NAME's files are (default .)\n"
    "  --pass SPEC     password of the keystore written (for pem: encrypts\n"
    "                  the key with AES-256)\n"
    "  --key-pass SPEC password of an encrypted NAME.key\n"
    "  --alias A       the key entry's alias in a keystore (default NAME)\n"
    "  --force         replace OUT if it exists (never otherwise)\n"
    "  --ca-dir DIR    the CA whose inventory is checked (default\n"
    "                  $MTLS_CA_DIR or ./pki when present)\n"
    "\n"
    "SPEC is pass:TEXT, env:VAR, file:PATH, fd:N or stdin; without --pass a\n"
    "keystore's password is asked for on a terminal. Files holding a key are\n"
    "written atomically with mode 0600.\n"
    "\n"
    "The CA's inventory records where the copy went and in which format;\n"
    "'mtls renew' and 'mtls rotate' write it again from the renewed files\n"
    "('mtls list NAME --deployments' shows them). A password given as\n"
    "env:VAR or file:PATH is recorded as that reference; pass:, fd: and\n"
    "stdin are not, so renew then needs --store-pass.\n"
    "\n"
    "Exit status: 0 written, 1 refused or failed, 2 usage error.\n"
    "\n"
    "examples:\n"
    "  mtls export author --to p12 --legacy --pass env:P12_PASS\n"
    "  mtls export broker --to jks --pass file:store.pass --out broker.ks\n"
    "  mtls export publish --to pem --from /etc/mtls --out /etc/haproxy/publish.pem\n";

enum {
	OPT_TO = 256, OPT_LEGACY, OPT_OUT, OPT_FROM, OPT_PASS, OPT_KEY_PASS,
	OPT_ALIAS, OPT_FORCE, OPT_CA_DIR,
};

static const struct option longopts[] = {
    {"to", required_argument, NULL, OPT_TO},
    {"legacy", no_argument, NULL, OPT_LEGACY},
    {"out", required_argument, NULL, OPT_OUT},
    {"from", required_argument, NULL, OPT_FROM},
    {"pass", required_argument, NULL, OPT_PASS},
    {"key-pass", required_argument, NULL, OPT_KEY_PASS},
    {"alias", required_argument, NULL, OPT_ALIAS},
    {"force", no_argument, NULL, OPT_FORCE},
    {"ca-dir", required_argument, NULL, OPT_CA_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The inventory must not know the certificate as dead: exporting a
 * revoked or replaced certificate only spreads a broken deployment. */
static int
check_current(const char *crt, const char *ca_dir, struct mtls_err *err)
{
	struct mtls_standing st;
	X509 *x = mtls_load_cert(crt, err);
	int rc;

	if (x == NULL) {
		return -1;
	}
	rc = mtls_cert_standing(x, ca_dir, NULL, NULL, &st, err);
	X509_free(x);
	if (rc != 0) {
		return -1;
	}
	if (st.state != NULL && (strcmp(st.state, "revoked") == 0 ||
	    strcmp(st.state, "superseded") == 0)) {
		return mtls_err_set(err, MTLS_E_POLICY, "%s: %s; %s", crt,
		    st.detail, st.fix);
	}
	return 0;
}

int
cmd_export(int argc, char **argv)
{
	struct cv_opts o;
	struct mtls_err err;
	const char *from = ".", *ca_dir = NULL, *to = NULL;
	char in[4096], key[4096], out[4096], args[DEPLOY_ARGS_MAX] = "";
	int c;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TO: to = optarg; break;
		case OPT_LEGACY: o.legacy = 1; break;
		case OPT_OUT: o.out = optarg; break;
		case OPT_FROM: from = optarg; break;
		case OPT_PASS: o.out_pass = optarg; break;
		case OPT_KEY_PASS: o.in_pass = optarg; break;
		case OPT_ALIAS: o.alias = optarg; break;
		case OPT_FORCE: o.force = 1; break;
		case OPT_CA_DIR: ca_dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("export");
		}
	}
	if (argc - optind != 1) {
		return cli_usage("export", "give exactly one NAME");
	}
	if (to == NULL || (strcmp(to, "p12") != 0 && strcmp(to, "jks") != 0 &&
	    strcmp(to, "pem") != 0 && strcmp(to, "der") != 0)) {
		return cli_usage("export", "give --to p12, jks, pem or der");
	}
	if (o.legacy && strcmp(to, "p12") != 0) {
		return cli_usage("export", "--legacy goes with --to p12");
	}
	o.to = to;
	o.alias = o.alias != NULL ? o.alias : argv[optind];
	snprintf(key, sizeof(key), "%s/%s.key", from, argv[optind]);
	snprintf(in, sizeof(in), "%s/%s.chain.pem", from, argv[optind]);
	if (access(in, R_OK) != 0) {
		snprintf(in, sizeof(in), "%s/%s.crt", from, argv[optind]);
	}
	if (o.out == NULL) {
		snprintf(out, sizeof(out), "%s.%s", argv[optind], to);
		o.out = out;
	}
	o.in = in;
	o.key = key;
	if (check_current(in, cli_ca_dir(ca_dir), &err) != 0 ||
	    convert_run(&o, &err) != 0) {
		return cli_fail(&err);
	}
	printf("exported %s to %s (%s%s)\n", argv[optind], o.out, to,
	    o.legacy ? ", legacy algorithms" : "");
	/* Noted so that renew and rotate write this copy again. */
	deploy_args_add(args, sizeof(args), "--to", to);
	if (o.legacy) {
		deploy_args_add(args, sizeof(args), "--legacy", NULL);
	}
	if (strcmp(o.alias, argv[optind]) != 0) {
		deploy_args_add(args, sizeof(args), "--alias", o.alias);
	}
	deploy_args_pass(args, sizeof(args), o.out_pass);
	deploy_note(cli_ca_dir(ca_dir), argv[optind], o.out,
	    o.legacy ? "p12-legacy" : to, args);
	return 0;
}
