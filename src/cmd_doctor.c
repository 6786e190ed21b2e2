/* mtls doctor: check a node's key, certificate and truststore files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "rev_opts.h"
#include "mtls/diag.h"
#include "mtls/file.h"
#include "mtls/revocation.h"
#include "report_print.h"

static const char usage[] =
    "usage: mtls doctor [DIR | FILE ...] [--role client|server|node]\n"
    "                   [--host NAME] [--ca FILE] [--pass SPEC]\n"
    "                   [--warn-days N] [--ca-dir DIR] [--crl FILE]...\n"
    "                   [--ocsp[=URL]] [--rollover CADIR|FILE] [--no-crl-fetch]\n"
    "                   [--json] [--verbose]\n"
    "\n"
    "Checks a node's files at rest, as the node would use them: the key\n"
    "matches the certificate, the chain is complete and in order, validity\n"
    "and days left, the extended key usage fits the role, the SANs include\n"
    "the host name, private keys are mode 0600 and owned by you, the\n"
    "truststore holds the issuer, no weak algorithms (RSA < 2048, SHA-1),\n"
    "and no certificate of a verified chain but the root is revoked: the\n"
    "check push and test apply to a receiver and serve to its clients\n"
    "(--crl, and OCSP where a certificate names a responder or --ocsp).\n"
    "\n"
    "A DIR (default: the current directory) is scanned for *.crt, *.cer,\n"
    "*.pem, *.der, *.key and keystores (*.p12, *.pfx, *.jks, *.jceks, *.ks,\n"
    "*.ts, *.keystore, *.truststore). Keys are paired with the\n"
    "certificate they belong to (NAME.crt + NAME.key, cert.pem +\n"
    "privkey.pem); NAME.chain.pem adds intermediates; ca.crt / *ca*.pem\n"
    "(or CA-only files) form the truststore unless --ca is given.\n"
    "\n"
    "Options:\n"
    "  --role ROLE     client (needs clientAuth), server (serverAuth) or\n"
    "                  node (both); without it the EKU is only reported\n"
    "  --host NAME     a DNS name or IP the certificates must carry\n"
    "  --ca FILE       the truststore to check against\n"
    "  --pass SPEC     password for encrypted keys and keystores:\n"
    "                  pass:, env:, file:, fd: or stdin\n"
    "  --warn-days N   warn when a certificate expires within N days (30)\n"
    "  --ca-dir DIR    the CA whose inventory says whether a certificate was\n"
    "                  revoked (an error) or superseded by a renewal (a\n"
    "                  warning); default $MTLS_CA_DIR or ./pki when present\n"
    "  --crl FILE      also check the certificates against this CRL (it\n"
    "                  counts when a truststore certificate signed it);\n"
    "                  repeatable: then every certificate of each verified\n"
    "                  chain but the root must be covered and not listed\n"
    "                  (chain_revoked). Without --crl, the CRL at the\n"
    "                  certificates' CRL distribution point (http://,\n"
    "                  https:// or file:///; 10 s at most) is fetched and\n"
    "                  used, and the report says so (crl_fetched, or\n"
    "                  crl_fetch_failed as a warning)\n"
    "  --no-crl-fetch  do not fetch it (offline, or a slow distribution point)\n"
    "  --ocsp[=URL]    ask OCSP about every certificate of each verified\n"
    "                  chain but the root; without it (and --crl) a\n"
    "                  certificate that names a responder is still asked,\n"
    "                  and no answer is an error\n"
    "  --insecure-revocation-soft-fail\n"
    "                  no OCSP answer is a warning, not an error\n"
    "  --insecure-no-revocation\n"
    "                  check no chain's revocation (a warning says so)\n"
    "  --rollover P    during a CA rollover ('mtls ca rollover'): P is the CA\n"
    "                  directory (or its rollover/old.crt, copied to the node);\n"
    "                  warns about every certificate the retiring issuer\n"
    "                  signed (old_issuer) and a truststore that lacks the\n"
    "                  new root (trust_lacks_new_issuer)\n"
    "  --json          print the report as JSON\n"
    "  --verbose       also list the checks that passed\n"
    "  -h, --help      this help\n"
    "\n"
    "Keystores (JKS, JCEKS, PKCS#12) are opened with --pass: the first key\n"
    "entry is checked like a certificate and key; a store with only trusted\n"
    "entries is a truststore. Without --pass, JKS is read unverified.\n"
    "\n"
    "Exit status: 0 only ok/info findings, 3 warnings but no error,\n"
    "1 at least one error (or nothing could be checked), 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  mtls doctor /etc/mtls/node1 --role node --host node1.example\n"
    "  mtls doctor server.crt server.key --ca ca.crt --role server\n"
    "  mtls doctor /etc/mtls --rollover /etc/mtls/ca   # what still needs the old CA\n"
    "  mtls doctor . --json | jq -r '.findings[] | select(.severity==\"error\") | .message'\n";

#define CRL_FETCH_MS 10000L
#define CRL_URLS_MAX 8

struct crl_fetch {
	char path[256];    /* the temporary file holding the fetched CRLs */
	char source[2048]; /* the URLs fetched, comma-separated */
	char why[1024];    /* the first URL that failed, and why */
};

static void
join(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ", " : "", s);
}

/* Fetches the CRLs at the distribution points of the certificates in
 * R (its JSON: certificates[].crl_urls) into a temporary file. Returns the
 * number of URLs tried (0: none to fetch, nothing to do again). */
static int
crl_fetch_all(const struct mtls_report *r, struct crl_fetch *cf)
{
	char *text = mtls_report_json(r), *pem = NULL, *all = NULL, *grown;
	const char *urls[CRL_URLS_MAX];
	size_t n = 0, i, j, k, plen, alen = 0;
	json_t *root, *certs, *c, *u;
	struct mtls_err err;
	int fd, tried = 0, ok;
	FILE *f;

	root = text != NULL ? json_loads(text, 0, NULL) : NULL;
	free(text);
	certs = json_object_get(root, "certificates");
	json_array_foreach(certs, i, c) {
		json_array_foreach(json_object_get(c, "crl_urls"), j, u) {
			const char *s = json_string_value(u);

			for (k = 0; s != NULL && k < n && strcmp(urls[k], s) != 0; k++) {
			}
			if (s != NULL && k == n && n < CRL_URLS_MAX) {
				urls[n++] = s;
			}
		}
	}
	for (i = 0; i < n; i++) {
		mtls_err_clear(&err);
		tried++;
		if (mtls_crl_fetch(urls[i], CRL_FETCH_MS, &pem, &plen, &err) != 0) {
			if (cf->why[0] == '\0') {
				snprintf(cf->why, sizeof(cf->why), "%s", err.msg);
			}
			continue;
		}
		grown = realloc(all, alen + plen + 1);
		if (grown == NULL) {
			OPENSSL_free(pem);
			snprintf(cf->why, sizeof(cf->why), "out of memory");
			break;
		}
		all = grown;
		memcpy(all + alen, pem, plen);
		alen += plen;
		all[alen] = '\0';
		OPENSSL_free(pem);
		join(cf->source, sizeof(cf->source), urls[i]);
	}
	if (all != NULL) {
		snprintf(cf->path, sizeof(cf->path), "%s/mtls-doctor-crl-XXXXXX",
		    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
		fd = mkstemp(cf->path);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f == NULL && fd >= 0) {
			close(fd);
		}
		ok = f != NULL && fwrite(all, 1, alen, f) == alen;
		if (f != NULL && fclose(f) != 0) {
			ok = 0;
		}
		if (!ok) {
			snprintf(cf->why, sizeof(cf->why), "cannot write the fetched "
			    "CRL to %s", cf->path);
			unlink(cf->path);
			cf->path[0] = '\0';
			cf->source[0] = '\0';
		}
	}
	free(all);
	json_decref(root);
	return tried;
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{"role", required_argument, NULL, 'r'},
		{"host", required_argument, NULL, 'H'},
		{"ca", required_argument, NULL, 'a'},
		{"pass", required_argument, NULL, 'p'},
		{"warn-days", required_argument, NULL, 'w'},
		{"ca-dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"rollover", required_argument, NULL, 'R'},
		{"verbose", no_argument, NULL, 'v'},
		{"no-crl-fetch", no_argument, NULL, 'N'},
		REV_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mtls_doctor_opts dopt;
	struct mtls_err err;
	struct mtls_report *r;
	int c, json = 0, verbose = 0, no_fetch = 0, rc;
	struct crl_fetch cf;
	long v;

	memset(&dopt, 0, sizeof(dopt));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int ro = rev_opt("doctor", c, optarg, &dopt.rev);

		if (ro != 1) {
			if (ro != 0) {
				return ro;
			}
			continue;
		}
		switch (c) {
		case 'r':
			if (mtls_role_parse(optarg, &dopt.role, &err) != 0) {
				return cli_usage("doctor", "%s", err.msg);
			}
			break;
		case 'H':
			dopt.host = optarg;
			break;
		case 'a':
			dopt.ca_file = optarg;
			break;
		case 'p':
			dopt.pass_spec = optarg;
			break;
		case 'w':
			if (cli_parse_int("doctor", "--warn-days", optarg, 1,
				3650, &v) != 0) {
				return 2;
			}
			dopt.warn_days = (int)v;
			break;
		case 'd':
			dopt.ca_dir = optarg;
			break;
		case 'j':
			json = 1;
			cli_json_errors();
			break;
		case 'R':
			dopt.rollover = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'N':
			no_fetch = 1;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option("doctor");
		}
	}
	dopt.ca_dir = cli_ca_dir(dopt.ca_dir);
	if (rev_opts_done("doctor", &dopt.rev) != 0) {
		return 2;
	}
	if (dopt.rev.ncrl > 0) {
		dopt.crl_file = dopt.rev.crl[0]; /* also for the leaf's standing */
	}
	dopt.paths = (const char *const *)(argv + optind);
	dopt.npaths = (size_t)(argc - optind);
	memset(&cf, 0, sizeof(cf));
	r = mtls_doctor(&dopt, &err);
	/* No --crl: the distribution points of the certificates found tell
	 * where the CRL is; fetched, the same files are checked again with
	 * it. */
	if (r != NULL && dopt.crl_file == NULL && !no_fetch &&
	    crl_fetch_all(r, &cf) > 0) {
		mtls_report_free(r);
		dopt.crl_file = cf.path[0] != '\0' ? cf.path : NULL;
		dopt.crl_source = cf.source[0] != '\0' ? cf.source : NULL;
		dopt.crl_fetch_error = cf.why[0] != '\0' ? cf.why : NULL;
		r = mtls_doctor(&dopt, &err);
	}
	if (cf.path[0] != '\0') {
		unlink(cf.path);
	}
	if (r == NULL) {
		return cli_fail(&err);
	}
	rc = report_print(stdout, r, json, verbose);
	if (rc == 0) {
		rc = mtls_doctor_exit_status(r);
	}
	mtls_report_free(r);
	return rc;
}
