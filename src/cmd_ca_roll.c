/* mtls ca rollover begin | status | finish: replacing the root CA's key
 * without an outage */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mtls/ca.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls ca rollover begin [--ca-dir DIR] [--ca-pass SPEC] [--name DN]\n"
    "                    [--key-type T] [--days N] [--pass SPEC] [--key pkcs11:URI]\n"
    "                    [--crl-url URL]\n"
    "       mtls ca rollover status [--ca-dir DIR] [--quiet]\n"
    "       mtls ca rollover finish [--ca-dir DIR] [--ca-pass SPEC] [--force]\n"
    "\n"
    "Replaces the root CA's key and certificate while every node keeps\n"
    "working (RFC 4210 4.4, root CA key update):\n"
    "  begin   makes a new key and self-signed certificate, which issue\n"
    "          everything from now on (DIR/ca.crt, DIR/ca.key); signs the new\n"
    "          certificate with the old key (DIR/rollover/new-by-old.crt) and\n"
    "          the old with the new (DIR/rollover/old-by-new.crt); keeps the\n"
    "          old ones in DIR/rollover; writes DIR/trust.pem with both roots.\n"
    "          New chains (NAME.chain.pem, EST) carry new-by-old.crt, so a peer\n"
    "          that still trusts only the old root verifies them.\n"
    "  then    give DIR/trust.pem to every node as its CA file (--ca), and\n"
    "          renew every identity: 'mtls renew NAME', 'mtls rotate', or the\n"
    "          renewal agent ('mtls renew-agent') over EST;\n"
    "  status  lists the certificates still issued by the old key;\n"
    "  finish  retires the old issuer: DIR/trust.pem keeps only the new root,\n"
    "          DIR/rollover moves to DIR/retired/DATE with the old issuer's\n"
    "          final CRL (final.crl, signed by the old key, current until a\n"
    "          day after its last certificate expires; 'mtls ca serve'\n"
    "          publishes it at /crl-previous.der). Refused while\n"
    "          certificates depend on the old issuer, unless --force.\n"
    "\n"
    "  --ca-dir DIR     the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC   password of the CA key or token PIN (begin: the old\n"
    "                   key; finish: both, for the final CRL)\n"
    "  --name DN        subject of the new root (default: the old one, its\n"
    "                   common name with a generation suffix: \"Root CA G2\")\n"
    "  --key-type T     ec-p256 (default), ec-p384, rsa-2048, rsa-3072,\n"
    "                   rsa-4096, ed25519\n"
    "  --days N         validity of the new root (default 3650)\n"
    "  --pass SPEC      encrypt the new key (pass:, env:, file:, fd:, stdin);\n"
    "                   with --key, the token's PIN\n"
    "  --key URI        the new key lives in a PKCS#11 token (RFC 7512 URI)\n"
    "  --crl-url URL    the CRL URL the new issuer's certificates carry, other\n"
    "                   than the old one: a verifier following either gets\n"
    "                   its issuer's own CRL ('mtls ca serve' answers the path\n"
    "                   of each: the old URL with the old issuer's CRL, the\n"
    "                   final one after finish)\n"
    "  --quiet          status: print nothing, exit 3 when certificates\n"
    "                   still depend on the old issuer\n"
    "  --force          finish although certificates depend on the old issuer\n"
    "\n"
    "Every step holds the CA lock and is atomic: a killed begin is finished\n"
    "or undone by the next command; a killed finish is completed by running\n"
    "it again.\n"
    "\n"
    "exit status: 0 done, 1 refused or failed (one line says why), 2 usage,\n"
    "3 (status --quiet) certificates still depend on the old issuer\n"
    "\n"
    "examples:\n"
    "  mtls ca rollover begin --ca-dir /etc/mtls/ca --ca-pass env:OLD --pass env:NEW\n"
    "  cp /etc/mtls/ca/trust.pem /etc/mtls/trust.pem   # on every node\n"
    "  mtls rotate --within 3650d                       # or the renewal agents\n"
    "  mtls ca rollover status\n"
    "  mtls ca rollover finish\n";

static int
roll_begin(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'P'},
	    {"name", required_argument, NULL, 'n'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"days", required_argument, NULL, 'D'},
	    {"pass", required_argument, NULL, 'p'},
	    {"key", required_argument, NULL, 'K'},
	    {"crl-url", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_rollover_opts o;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL, *ca_pass = NULL;
	char fp[200];
	long days = 0;
	int c, rc = 1;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	o.key_type = MTLS_KEY_EC_P256;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'P': ca_pass = optarg; break;
		case 'n': o.name = optarg; break;
		case 'k':
			if (mtls_keytype_parse(optarg, &o.key_type, &err) != 0) {
				return cli_fail(&err);
			}
			break;
		case 'D':
			if (cli_parse_int("ca rollover begin", "--days", optarg, 1, 36500, &days) != 0) {
				return 2;
			}
			break;
		case 'p': o.pass_spec = optarg; break;
		case 'K': o.key_uri = optarg; break;
		case 'c': o.crl_url = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca rollover begin");
		}
	}
	if (optind != argc) {
		return cli_usage("ca rollover begin", "unexpected argument '%s'", argv[optind]);
	}
	o.days = (int)days;
	dir = cli_ca_dir(dir);
	ca = mtls_ca_open(dir, &err);
	if (ca == NULL || mtls_ca_unlock(ca, ca_pass, &err) != 0 ||
	    cli_ca_lock(ca, &err) != 0 || mtls_ca_rollover_begin(ca, &o, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	mtls_ca_free(ca);
	/* Open again: CA described the old issuer. */
	ca = mtls_ca_open(dir, &err);
	if (ca == NULL || mtls_cert_fingerprint(mtls_ca_cert(ca), EVP_sha256(),
		fp, sizeof(fp)) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	printf("rollover begun in %s: the new root issues from now on\n", dir);
	printf("  new root:      %s/ca.crt (SHA-256 %s)\n", dir, fp);
	printf("  trust bundle:  %s/trust.pem (both roots: give it to every node)\n", dir);
	printf("  cross:         %s/rollover/new-by-old.crt, old-by-new.crt\n", dir);
	printf("next: renew every identity, check 'mtls ca rollover status', then "
	    "'mtls ca rollover finish'\n");
	rc = 0;
out:
	mtls_ca_free(ca);
	return rc;
}

struct status_print {
	int quiet;
};

static int
print_dep(const struct mtls_inv_entry *e, void *arg)
{
	const struct status_print *sp = arg;
	char na[64];

	if (!sp->quiet) {
		cli_utc(e->not_after, na, sizeof(na));
		printf("  %-24s %-8s serial %.16s...  expires %s\n", e->name,
		    e->profile, e->serial, na);
	}
	return 0;
}

static int
roll_status(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	struct status_print sp;
	const char *dir = NULL;
	char *o = NULL, *n = NULL;
	size_t count = 0;
	int c, rc = 1;

	memset(&sp, 0, sizeof(sp));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'q': sp.quiet = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca rollover status");
		}
	}
	if (optind != argc) {
		return cli_usage("ca rollover status", "unexpected argument '%s'", argv[optind]);
	}
	dir = cli_ca_dir(dir);
	ca = mtls_ca_open(dir, &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	n = mtls_name_format(X509_get_subject_name(mtls_ca_cert(ca)));
	if (mtls_ca_previous(ca) == NULL) {
		if (!sp.quiet) {
			printf("no rollover under way in %s; the issuer is %s\n", dir,
			    n ? n : "?");
		}
		rc = 0;
		goto out;
	}
	o = mtls_name_format(X509_get_subject_name(mtls_ca_previous(ca)));
	if (!sp.quiet) {
		printf("rollover under way in %s\n", dir);
		printf("  old issuer: %s (%s/rollover/old.crt)\n", o ? o : "?", dir);
		printf("  new issuer: %s (%s/ca.crt)\n", n ? n : "?", dir);
		printf("  trust bundle: %s/trust.pem (both)\n", dir);
		printf("certificates still issued by the old key:\n");
	}
	if (mtls_ca_rollover_dependants(ca, print_dep, &sp, &count, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (!sp.quiet) {
		printf(count == 0 ? "  none: 'mtls ca rollover finish' may retire it\n"
				  : "  %zu: renew them before 'mtls ca rollover finish'\n",
		    count);
	}
	rc = sp.quiet && count > 0 ? 3 : 0;
out:
	OPENSSL_free(o);
	OPENSSL_free(n);
	mtls_ca_free(ca);
	return rc;
}

/* Writes the retiring issuer's final CRL into DIR/rollover, from where
 * finish moves it with the rest: the retired key signs nothing after. */
static int
final_crl(struct mtls_ca *ca, const char *dir, struct mtls_err *err)
{
	struct mtls_fileset *fs = NULL;
	unsigned char *pem = NULL;
	char path[4200], when[64];
	size_t len = 0;
	long count = 0;
	time_t next = 0;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/rollover/" MTLS_CA_FINAL_CRL, dir);
	if (mtls_ca_crl_final(ca, 0, &pem, &len, &count, &next, err) != 0 ||
	    (fs = mtls_fileset_new(1, err)) == NULL ||
	    mtls_fileset_add(fs, path, pem, len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&next));
	printf("final CRL of the old issuer: %ld revoked, next update %s (after "
	    "its last certificate expires)\n", count, when);
	rc = 0;
out:
	mtls_fileset_free(fs);
	OPENSSL_free(pem);
	return rc;
}

static int
roll_finish(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'P'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL, *ca_pass = NULL;
	char retired[4096];
	size_t deps = 0;
	int c, force = 0, rc = 0;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'P': ca_pass = optarg; break;
		case 'f': force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca rollover finish");
		}
	}
	if (optind != argc) {
		return cli_usage("ca rollover finish", "unexpected argument '%s'", argv[optind]);
	}
	dir = cli_ca_dir(dir);
	ca = mtls_ca_open(dir, &err);
	if (ca == NULL || cli_ca_lock(ca, &err) != 0 ||
	    mtls_ca_unlock(ca, ca_pass, &err) != 0 ||
	    mtls_ca_rollover_dependants(ca, NULL, NULL, &deps, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	/* The final CRL only once finish will not refuse (it says why). */
	if (mtls_ca_previous(ca) != NULL && (deps == 0 || force) &&
	    final_crl(ca, dir, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (mtls_ca_rollover_finish(ca, force, retired, sizeof(retired), &err) != 0) {
		rc = cli_fail(&err);
	} else {
		printf("rollover finished in %s: %s/trust.pem holds only the new "
		    "root\n  old issuer retired to %s, with its final CRL (%s/"
		    MTLS_CA_FINAL_CRL ")\n", dir, dir, retired, retired);
	}
out:
	mtls_ca_free(ca);
	return rc;
}

int
cmd_ca_roll(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		return cli_help(usage);
	}
	if (strcmp(argv[1], "begin") == 0) {
		return roll_begin(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "status") == 0) {
		return roll_status(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "finish") == 0) {
		return roll_finish(argc - 1, argv + 1);
	}
	return cli_usage("ca rollover", "unknown action '%s' (use begin, status "
	    "or finish)", argv[1]);
}
