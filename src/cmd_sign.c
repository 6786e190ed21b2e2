/* mtls sign REQ.csr --profile P : sign a partner's CSR under our policy */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls sign REQ.csr --profile server|client|node [--days N] [--out FILE]\n"
    "                 [--name NAME] [--san-allow PATTERNS] [--ca-dir DIR]\n"
    "                 [--ca-pass SPEC] [--force]\n"
    "\n"
    "Signs a partner's certificate signing request. Checks first that the CSR's\n"
    "signature verifies (proof of possession), then refuses weak keys (RSA <\n"
    "2048, curves other than P-256/384/521), requests for CA:TRUE, and\n"
    "malformed or disallowed SANs. The profile, not the request, decides the\n"
    "extensions: requested extensions are never copied, only the subject and\n"
    "the checked SANs are. Prints the new certificate's SHA-256 fingerprint to\n"
    "compare with the partner out of band.\n"
    "\n"
    "  --profile P        server, client or node (required)\n"
    "  --days N           validity (default 397)\n"
    "  --out FILE         certificate output (default: REQ with .crt)\n"
    "  --name NAME        inventory name (default: the CSR's CN)\n"
    "  --san-allow PATS   comma-separated globs every SAN must match, e.g.\n"
    "                     'dns:*.partner.example,ip:192.0.2.*'\n"
    "  --ca-dir DIR       the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC     password of the CA key, when encrypted\n"
    "  --force            replace an existing output file\n"
    "\n"
    "example:\n"
    "  mtls sign partner.csr --profile client --san-allow 'dns:*.partner.example'\n";

static char *
default_out(const char *in)
{
	size_t n = strlen(in);
	char *o = malloc(n + 5);

	if (o == NULL) {
		return NULL;
	}
	if (n > 4 && strcmp(in + n - 4, ".csr") == 0) {
		n -= 4;
	}
	snprintf(o, n + 5, "%.*s.crt", (int)n, in);
	return o;
}

struct sign_args {
	const char *in, *out, *name, *allow, *ca_dir, *ca_pass;
	enum mtls_profile profile;
	int days, force, have_profile;
};

static int
sign_parse(int argc, char **argv, struct sign_args *a, struct mtls_err *err)
{
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, 'P'},
	    {"days", required_argument, NULL, 'D'},
	    {"out", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"san-allow", required_argument, NULL, 'a'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'c'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long days;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (mtls_profile_parse(optarg, &a->profile, err) != 0) {
				return cli_fail(err);
			}
			a->have_profile = 1;
			break;
		case 'D':
			if (cli_parse_int("sign", "--days", optarg, 1, 36500, &days) != 0) {
				return 2;
			}
			a->days = (int)days;
			break;
		case 'o': a->out = optarg; break;
		case 'n': a->name = optarg; break;
		case 'a': a->allow = optarg; break;
		case 'd': a->ca_dir = optarg; break;
		case 'c': a->ca_pass = optarg; break;
		case 'f': a->force = 1; break;
		case 'h': cli_help(usage); return -1;
		default: return cli_bad_option("sign");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("sign", "give exactly one CSR file");
	}
	if (!a->have_profile) {
		return cli_usage("sign", "--profile is required (server, client or node)");
	}
	a->in = argv[optind];
	return 0;
}

static int
sign_run(struct sign_args *a, struct mtls_err *err)
{
	X509_REQ *req = NULL;
	GENERAL_NAMES *sans = NULL;
	struct mtls_ca *ca = NULL;
	struct mtls_fileset *fs = NULL;
	X509 *cert = NULL;
	char *out = NULL, *cn = NULL, *pem = NULL, fp[200];
	size_t pem_len = 0;
	struct mtls_cert_request r;
	int rc = -1;

	req = mtls_load_csr(a->in, err);
	if (req == NULL || mtls_csr_check(req, a->allow, &sans, err) != 0) {
		goto out;
	}
	out = a->out ? strdup(a->out) : default_out(a->in);
	cn = mtls_name_cn(X509_REQ_get_subject_name(req));
	if (a->profile != MTLS_PROFILE_CLIENT && sk_GENERAL_NAME_num(sans) == 0) {
		mtls_err_set(err, MTLS_E_POLICY,
		    "the CSR has no subject alternative names, which a %s "
		    "certificate needs (clients match servers by SAN); ask for a "
		    "CSR with SANs",
		    mtls_profile_name(a->profile));
		goto out;
	}
	ca = mtls_ca_open(cli_ca_dir(a->ca_dir), err);
	if (out == NULL || ca == NULL || mtls_ca_unlock(ca, a->ca_pass, err) != 0) {
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.name = a->name ? a->name : cn ? cn : a->in;
	r.subject = X509_REQ_get_subject_name(req);
	r.pubkey = X509_REQ_get0_pubkey(req);
	r.profile = a->profile;
	r.sans = sans;
	r.days = a->days;
	fs = mtls_fileset_new(a->force, err);
	if (fs == NULL || cli_ca_lock(ca, err) != 0 || mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	cert = mtls_ca_sign(ca, &r, err);
	/* Recorded and written together: a certificate that exists is
	 * always in the inventory (and so can be revoked). */
	if (cert == NULL || mtls_cert_append_pem(cert, &pem, &pem_len, err) != 0 ||
	    mtls_fileset_add(fs, out, pem, pem_len, MTLS_MODE_PUBLIC, err) != 0) {
		mtls_ca_rollback(ca);
		goto out;
	}
	if (mtls_ca_commit_files(ca, fs, "sign", err) != 0) {
		goto out;
	}
	mtls_cert_fingerprint(cert, EVP_sha256(), fp, sizeof(fp));
	printf("signed %s as %s -> %s\n", a->in, mtls_profile_name(a->profile), out);
	printf("SHA-256 Fingerprint=%s\n", fp);
	printf("(compare this fingerprint with the partner out of band)\n");
	rc = 0;
out:
	mtls_fileset_free(fs);
	OPENSSL_free(pem);
	OPENSSL_free(cn);
	free(out);
	X509_free(cert);
	mtls_ca_free(ca);
	GENERAL_NAMES_free(sans);
	X509_REQ_free(req);
	return rc;
}

int
cmd_sign(int argc, char **argv)
{
	struct sign_args a;
	struct mtls_err err;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_err_clear(&err);
	rc = sign_parse(argc, argv, &a, &err);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	return sign_run(&a, &err) == 0 ? 0 : cli_fail(&err);
}
