/* mtls issue NAME --profile P ... | mtls issue --batch FILE */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/inspect.h"
#include "mtls/pass.h"
#include "cli.h"
#include "deploy.h"

static const char usage[] =
    "usage: mtls issue NAME --profile server|client|node|ocsp [options]\n"
    "       mtls issue --batch FILE [options]\n"
    "\n"
    "Generates a key and a certificate signed by the CA and writes NAME.key\n"
    "(0600), NAME.crt and NAME.chain.pem (leaf + CA), and NAME.p12 with --p12.\n"
    "The profile decides the extensions: server = EKU serverAuth, client =\n"
    "clientAuth, node = both (a host that is client and server), ocsp =\n"
    "OCSPSigning. A server or node without --san gets dns:NAME.\n"
    "\n"
    "  --profile P      server, client, node or ocsp (required)\n"
    "  --san LIST       dns:HOST,ip:ADDR,uri:URI,email:ADDR (repeatable)\n"
    "  --subject DN     subject (default \"CN=NAME\")\n"
    "  --days N         validity in days (default 397)\n"
    "  --cert-policy OID  certificate policy the certificate asserts, in\n"
    "                   dotted numbers (repeatable; RFC 5280 4.2.1.4); an\n"
    "                   intermediate CA must assert it too (or anyPolicy)\n"
    "  --key-type T     ec-p256 (default), ec-p384, rsa-2048, rsa-3072,\n"
    "                   rsa-4096, ed25519\n"
    "  --out DIR        where to write the files (default .)\n"
    "  --key-pass SPEC  encrypt NAME.key with this password\n"
    "  --p12            also write NAME.p12 (key, certificate and CA)\n"
    "  --pass SPEC      password of NAME.p12 (default: asked on a terminal)\n"
    "  --legacy         NAME.p12 with PBE-SHA1-3DES and a SHA-1 MAC, for old\n"
    "                   Java and appliances (default: AES-256, PBKDF2, SHA-256)\n"
    "  --batch FILE     issue many: one 'NAME PROFILE [SANLIST]' per line,\n"
    "                   '#' comments; a progress bar shows on a terminal.\n"
    "                   Every line is checked (names, SANs, duplicates,\n"
    "                   existing files) before anything is issued; run\n"
    "                   again after a stop or a kill, it issues the rest\n"
    "  --ca-dir DIR     the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC   password of the CA key, when it is encrypted\n"
    "  --json           print {name, profile, files, certificate} on stdout\n"
    "                   (docs/json.md); with --batch {issued, skipped}: each\n"
    "                   issued identity so, each line an earlier run issued\n"
    "                   {name, reason}, and the error object if it stopped\n"
    "  --force          replace existing files; the previous certificate of\n"
    "                   NAME is revoked (keyCompromise): regeneration after a\n"
    "                   breach (for each line of a --batch too)\n"
    "\n"
    "The certificate and its files appear together: if mtls is killed, the\n"
    "next command on the CA finishes or undoes the work and says which.\n"
    "Commands on one CA take turns (the CA lock, $MTLS_LOCK_WAIT seconds\n"
    "of waiting at most, default 30).\n"
    "\n"
    "SPEC is pass:TEXT, env:VAR, file:PATH, fd:N or stdin.\n"
    "\n"
    "examples:\n"
    "  mtls issue publish --profile server --san dns:publish.example,ip:127.0.0.1\n"
    "  mtls issue author --profile client --p12 --legacy --pass env:P12_PASS\n"
    "  mtls issue --batch fleet.txt --out certs/\n";

#define SAN_MAX 4096
#define BATCH_CHUNK 512

struct issue_args {
	struct mtls_identity_opts id;
	char sans[SAN_MAX];
	char *cert_policies;
	const char *ca_dir, *ca_pass, *batch, *p12_pass_spec, *key_pass_spec;
	int profile_set, force, json;
};

static int
add_san_opt(struct issue_args *a, const char *v)
{
	size_t used = strlen(a->sans);

	if (used + strlen(v) + 2 > sizeof(a->sans)) {
		return cli_usage("issue", "too many --san values");
	}
	snprintf(a->sans + used, sizeof(a->sans) - used, "%s%s",
	    used ? "," : "", v);
	return 0;
}

static int
parse_args(int argc, char **argv, struct issue_args *a, struct mtls_err *err)
{
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, 'P'},
	    {"san", required_argument, NULL, 's'},
	    {"subject", required_argument, NULL, 'S'},
	    {"days", required_argument, NULL, 'D'},
	    {"cert-policy", required_argument, NULL, 'C'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"out", required_argument, NULL, 'o'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"p12", no_argument, NULL, '1'},
	    {"pass", required_argument, NULL, 'p'},
	    {"legacy", no_argument, NULL, 'L'},
	    {"batch", required_argument, NULL, 'b'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'c'},
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long days;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (mtls_profile_parse(optarg, &a->id.profile, err) != 0) {
				return cli_fail(err);
			}
			a->profile_set = 1;
			break;
		case 's':
			if (add_san_opt(a, optarg) != 0) {
				return 2;
			}
			break;
		case 'S': a->id.subject = optarg; break;
		case 'C':
			if (cli_cert_policy_add("issue", &a->cert_policies, optarg) != 0) {
				return 2;
			}
			a->id.cert_policies = a->cert_policies;
			break;
		case 'D':
			if (cli_parse_int("issue", "--days", optarg, 1, 36500, &days) != 0) {
				return 2;
			}
			a->id.days = (int)days;
			break;
		case 'k':
			if (mtls_keytype_parse(optarg, &a->id.key_type, err) != 0) {
				return cli_fail(err);
			}
			break;
		case 'o': a->id.out_dir = optarg; break;
		case 'K': a->key_pass_spec = optarg; break;
		case '1': a->id.p12 = 1; break;
		case 'p': a->p12_pass_spec = optarg; break;
		case 'L': a->id.p12_legacy = 1; break;
		case 'b': a->batch = optarg; break;
		case 'd': a->ca_dir = optarg; break;
		case 'c': a->ca_pass = optarg; break;
		case 'f': a->force = 1; break;
		case 'j': a->json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage) - 1; /* -1: stop, exit 0 */
		default: return cli_bad_option("issue");
		}
	}
	if (a->id.p12_legacy && !a->id.p12) {
		return cli_usage("issue", "--legacy applies to --p12");
	}
	if (a->batch != NULL && optind != argc) {
		return cli_usage("issue", "give NAME or --batch, not both");
	}
	if (a->batch == NULL) {
		if (optind + 1 != argc) {
			return cli_usage("issue", optind == argc ? "NAME is missing"
			    : "one NAME at a time (or use --batch)");
		}
		if (!a->profile_set) {
			return cli_usage("issue", "--profile is required (server, client, node or ocsp)");
		}
		a->id.name = argv[optind];
	}
	return 0;
}

static void
print_issued(const struct mtls_identity_opts *o, X509 *cert)
{
	const char *dir = o->out_dir ? o->out_dir : ".";
	char fp[200], *serial = mtls_cert_serial_hex(cert);

	mtls_cert_fingerprint(cert, EVP_sha256(), fp, sizeof(fp));
	printf("issued %s (%s, serial %s)\n", o->name, mtls_profile_name(o->profile),
	    serial ? serial : "?");
	printf("  %s/%s.key  %s/%s.crt  %s/%s.chain.pem\n", dir, o->name, dir,
	    o->name, dir, o->name);
	if (o->p12) {
		printf("  %s/%s.p12 (%s)\n", dir, o->name,
		    o->p12_legacy ? "legacy: PBE-SHA1-3DES, SHA-1 MAC"
				  : "AES-256, PBKDF2, SHA-256 MAC");
	}
	if (o->cert_policies != NULL) {
		printf("  certificate policies %s\n", o->cert_policies);
	}
	printf("  SHA-256 %s\n", fp);
	OPENSSL_free(serial);
}

/* The --json form of print_issued (docs/json.md). */
static void
print_issued_json(const struct mtls_identity_opts *o, X509 *cert)
{
	cli_json_print(cli_json_identity(o->name, mtls_profile_name(o->profile),
	    o->out_dir, o->p12, cert));
}

static int
issue_one(struct mtls_ca *ca, struct issue_args *a, struct mtls_err *err)
{
	struct mtls_fileset *fs = mtls_fileset_new(a->force, err);
	X509 *cert = NULL;
	char old[128], what[256];
	int rc = -1, have_old = 0;

	if (fs == NULL || cli_ca_lock(ca, err) != 0 || mtls_ca_begin(ca, err) != 0) {
		mtls_fileset_free(fs);
		return -1;
	}
	/* --force after a breach: the old key is discarded, so its
	 * certificate must not stay trusted (seed manuals: "discard existing
	 * keys and regenerate"). */
	if (a->force && mtls_ca_current(ca, a->id.name, old, sizeof(old), NULL) == 0) {
		have_old = 1;
	}
	cert = mtls_identity_issue(ca, &a->id, fs, err);
	if (cert != NULL && have_old &&
	    mtls_ca_revoke(ca, old, 1 /* keyCompromise */, 0, err) != 0) {
		X509_free(cert);
		cert = NULL;
	}
	/* The certificate, the revocation of the old one and the files
	 * become visible together (a kill is finished or undone by the next
	 * command on this CA). */
	snprintf(what, sizeof(what), "issue %s", a->id.name);
	if (cert == NULL) {
		mtls_ca_rollback(ca);
		goto out;
	}
	if (mtls_ca_commit_files(ca, fs, what, err) != 0) {
		goto out;
	}
	if (a->json) {
		print_issued_json(&a->id, cert);
	} else {
		print_issued(&a->id, cert);
	}
	deploy_note_issued(ca, &a->id, a->p12_pass_spec);
	if (have_old) {
		fprintf(a->json ? stderr : stdout, "  revoked the previous "
		    "certificate %s (keyCompromise); publish with 'mtls crl'\n", old);
	}
	rc = 0;
out:
	X509_free(cert);
	mtls_fileset_free(fs);
	return rc;
}

/* Returns 0, -1 with ERR to report, or an exit status already reported
 * (with JSON, the error object rides in the batch's report). */
int batch_issue(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    const char *file, int force, int json, const char *p12_pass_spec,
    struct mtls_err *err);

static char *
resolve_p12_pass(struct issue_args *a, struct mtls_err *err)
{
	return mtls_pass_get(a->p12_pass_spec, "Password for the PKCS#12 file: ", 1, err);
}

int
cmd_issue(int argc, char **argv)
{
	struct issue_args a;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	char *p12_pass = NULL, *key_pass = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_err_clear(&err);
	rc = parse_args(argc, argv, &a, &err);
	if (rc != 0) {
		free(a.cert_policies);
		return rc < 0 ? 0 : rc;
	}
	if (a.sans[0] != '\0') {
		a.id.sans = a.sans;
	}
	if (a.id.p12) {
		p12_pass = resolve_p12_pass(&a, &err);
		if (p12_pass == NULL) {
			return cli_fail(&err);
		}
		a.id.p12_pass = p12_pass;
	}
	if (a.key_pass_spec != NULL) {
		key_pass = mtls_pass_get(a.key_pass_spec, NULL, 0, &err);
		if (key_pass == NULL) {
			rc = cli_fail(&err);
			goto out;
		}
		a.id.key_pass = key_pass;
	}
	if (a.id.out_dir != NULL && mtls_mkdir_p(a.id.out_dir, 0755, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	cli_warn_dir(a.id.out_dir != NULL ? a.id.out_dir : ".");
	ca = mtls_ca_open(cli_ca_dir(a.ca_dir), &err);
	if (ca == NULL || mtls_ca_unlock(ca, a.ca_pass, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (a.batch != NULL) {
		rc = batch_issue(ca, &a.id, a.batch, a.force, a.json,
		    a.p12_pass_spec, &err);
		rc = rc < 0 ? cli_fail(&err) : rc;
	} else {
		rc = issue_one(ca, &a, &err) == 0 ? 0 : cli_fail(&err);
	}
out:
	mtls_ca_free(ca);
	mtls_pass_free(p12_pass);
	mtls_pass_free(key_pass);
	free(a.cert_policies);
	return rc;
}
