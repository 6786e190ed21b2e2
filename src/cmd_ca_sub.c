/* mtls ca sign-intermediate | renew-intermediate | install, and ca init --intermediate:
 * intermediate CAs under a root that stays offline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls ca init --intermediate [--dir DIR] [--name DN] [--key-type T]\n"
    "                    [--pass SPEC] [--key pkcs11:URI] [--force]\n"
    "       mtls ca sign-intermediate [--ca-dir ROOT] [--ca-pass SPEC] CSR\n"
    "                    --name NAME --out CHAIN [--path-len N] [--days N]\n"
    "                    [--permit LIST] [--exclude LIST] [--cert-policy OID]...\n"
    "                    [--force]\n"
    "       mtls ca renew-intermediate [--ca-dir ROOT] [--ca-pass SPEC] CERT\n"
    "                    --out CHAIN [--days N] [--force]\n"
    "       mtls ca install [--dir DIR] CHAIN [--crl-url URL] [--ocsp-url URL]\n"
    "       mtls ca install --renewal [--dir DIR] CHAIN\n"
    "\n"
    "An intermediate CA signs everything day to day while the root's key stays\n"
    "offline (encrypted, on removable media). Three steps:\n"
    "  1. on the online host: 'mtls ca init --intermediate' makes the key\n"
    "     (never leaves DIR) and DIR/ca.csr;\n"
    "  2. where the root is: 'mtls ca sign-intermediate' signs that CSR as a CA\n"
    "     with a path length and name constraints, recorded in the root's\n"
    "     inventory (revoke it there like any certificate), and writes CHAIN:\n"
    "     the intermediate followed by its issuers up to the root;\n"
    "  3. on the online host: 'mtls ca install CHAIN' checks that the chain is\n"
    "     for DIR's key and verifies to the root, then the CA works: NAME.chain.pem\n"
    "     of everything it issues carries the intermediate, DIR/root.crt is the\n"
    "     trust anchor to give to peers.\n"
    "\n"
    "Before the intermediate expires, renew its certificate with the same key:\n"
    "'mtls ca renew-intermediate' (where the root is) takes its ca.crt and signs\n"
    "it again with a new validity: the same subject, key identifier, path\n"
    "length, name constraints and policies; the old one is marked superseded\n"
    "(not revoked). 'mtls ca install --renewal CHAIN' (on the online host)\n"
    "puts it in place; what the intermediate issued stays valid, no leaf is\n"
    "re-issued. A new key instead is a new intermediate (steps 1-3).\n"
    "\n"
    "  --path-len N     CAs allowed below the intermediate (default 0: none)\n"
    "  --permit LIST    names the intermediate may certify, comma-separated:\n"
    "                   dns:example.com (it and below), dns:.example.com (only\n"
    "                   below), ip:10.0.0.0/8, email:example.com, uri:.example.com\n"
    "  --exclude LIST   names it may never certify (same forms)\n"
    "  --cert-policy OID  certificate policy it asserts (repeatable;\n"
    "                   2.5.29.32.0 is anyPolicy). A leaf it issues can carry\n"
    "                   only these: relying parties that require a policy\n"
    "                   (RFC 5280 6.1) refuse a chain whose CA lacks it\n"
    "  --days N         validity (default 1826, never beyond the root)\n"
    "  --name NAME      the intermediate's name in the root's inventory\n"
    "\n"
    "Verifiers (OpenSSL, GnuTLS, NSS, Java) refuse a certificate outside the\n"
    "constraints; this CA refuses to issue one in the first place.\n"
    "\n"
    "exit status: 0 done, 1 refused or failed (one line says why), 2 usage\n"
    "\n"
    "examples:\n"
    "  mtls ca init --intermediate --dir online --name \"CN=Online CA 1,O=Example\"\n"
    "  mtls ca sign-intermediate --ca-dir /media/root online/ca.csr --name online-1 \\\n"
    "      --permit dns:.example.com,ip:10.0.0.0/8 --out online-1.chain.pem\n"
    "  mtls ca install --dir online online-1.chain.pem\n"
    "  # a year later (copy online/ca.crt to the root's host):\n"
    "  mtls ca renew-intermediate --ca-dir /media/root online-ca.crt --days 1826 \\\n"
    "      --out online-1.renewed.pem\n"
    "  mtls ca install --dir online --renewal online-1.renewed.pem\n";

int
cmd_ca_request(const struct mtls_ca_init_opts *o)
{
	struct mtls_err err;

	mtls_err_clear(&err);
	if (mtls_ca_request(o, &err) != 0) {
		return cli_fail(&err);
	}
	if (o->key_uri != NULL) {
		printf("intermediate CA request made in %s with the token's key %s\n",
		    o->dir, o->key_uri);
	} else {
		printf("intermediate CA key made in %s (%s key%s); it never leaves there\n",
		    o->dir, mtls_keytype_name(o->key_type), o->pass_spec ? ", encrypted" : "");
	}
	printf("  request: %s/ca.csr  (have the root sign it: mtls ca sign-intermediate)\n",
	    o->dir);
	printf("  then:    mtls ca install --dir %s CHAIN\n", o->dir);
	return 0;
}

static int
write_chain(const char *out, X509 *cert, struct mtls_ca *parent, int force,
    struct mtls_err *err)
{
	STACK_OF(X509) *issuers = mtls_ca_issuers(parent);
	struct mtls_fileset *fs = NULL;
	char *pem = NULL;
	size_t len = 0;
	int i, rc = -1;

	if (mtls_cert_append_pem(cert, &pem, &len, err) != 0 ||
	    mtls_cert_append_pem(mtls_ca_cert(parent), &pem, &len, err) != 0) {
		goto out;
	}
	for (i = 0; i < sk_X509_num(issuers); i++) {
		if (mtls_cert_append_pem(sk_X509_value(issuers, i), &pem, &len, err) != 0) {
			goto out;
		}
	}
	fs = mtls_fileset_new(force, err);
	if (fs == NULL ||
	    mtls_fileset_add(fs, out, pem, len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	OPENSSL_free(pem);
	return rc;
}

static int
ca_sign_intermediate(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"name", required_argument, NULL, 'n'},
	    {"out", required_argument, NULL, 'o'},
	    {"path-len", required_argument, NULL, 'l'},
	    {"days", required_argument, NULL, 'D'},
	    {"permit", required_argument, NULL, 'P'},
	    {"exclude", required_argument, NULL, 'x'},
	    {"cert-policy", required_argument, NULL, 'C'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static char *cert_policies; /* lives until exit */
	struct mtls_subca_opts o;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL, *pass = NULL, *out = NULL;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	long v;
	int c, force = 0, rc = 1;
	char fp[200];

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': pass = optarg; break;
		case 'n': o.name = optarg; break;
		case 'o': out = optarg; break;
		case 'l':
			if (cli_parse_int("ca sign-intermediate", "--path-len", optarg, 0, 8, &v) != 0) {
				return 2;
			}
			o.path_len = (int)v;
			break;
		case 'D':
			if (cli_parse_int("ca sign-intermediate", "--days", optarg, 1, 36500, &v) != 0) {
				return 2;
			}
			o.days = (int)v;
			break;
		case 'P': o.permit = optarg; break;
		case 'x': o.exclude = optarg; break;
		case 'C':
			if (cli_cert_policy_add("ca sign-intermediate", &cert_policies,
				optarg) != 0) {
				return 2;
			}
			o.cert_policies = cert_policies;
			break;
		case 'f': force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca sign-intermediate");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("ca sign-intermediate", "give one CSR file");
	}
	if (o.name == NULL || out == NULL) {
		return cli_usage("ca sign-intermediate", "give --name NAME and --out CHAIN");
	}
	csr = mtls_load_csr(argv[optind], &err);
	ca = csr != NULL ? mtls_ca_open(cli_ca_dir(dir), &err) : NULL;
	/* Under the CA lock, as every command that signs: its serial and
	 * row must not land inside another command's recovery or batch. */
	if (ca == NULL || mtls_ca_unlock(ca, pass, &err) != 0 ||
	    cli_ca_lock(ca, &err) != 0 ||
	    (cert = mtls_ca_sign_intermediate(ca, csr, &o, &err)) == NULL ||
	    write_chain(out, cert, ca, force, &err) != 0) {
		rc = cli_fail(&err);
		goto done;
	}
	mtls_cert_fingerprint(cert, EVP_sha256(), fp, sizeof(fp));
	printf("intermediate '%s' signed (path length %d%s%s%s%s)\n", o.name,
	    o.path_len, o.permit ? ", permit " : "", o.permit ? o.permit : "",
	    o.exclude ? ", exclude " : "", o.exclude ? o.exclude : "");
	if (o.cert_policies != NULL) {
		printf("  certificate policies: %s\n", o.cert_policies);
	}
	printf("  chain:   %s  (copy it to the online host: mtls ca install)\n", out);
	printf("  SHA-256: %s\n", fp);
	rc = 0;
done:
	X509_free(cert);
	X509_REQ_free(csr);
	mtls_ca_free(ca);
	return rc;
}

static int
ca_renew_intermediate(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'D'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL, *pass = NULL, *out = NULL;
	X509 *old = NULL, *cert = NULL;
	long v;
	int c, days = 0, force = 0, rc = 1;
	char fp[200];

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': pass = optarg; break;
		case 'o': out = optarg; break;
		case 'D':
			if (cli_parse_int("ca renew-intermediate", "--days", optarg, 1,
				36500, &v) != 0) {
				return 2;
			}
			days = (int)v;
			break;
		case 'f': force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca renew-intermediate");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("ca renew-intermediate", "give the intermediate's "
		    "certificate (its ca.crt)");
	}
	if (out == NULL) {
		return cli_usage("ca renew-intermediate", "give --out CHAIN");
	}
	old = mtls_load_cert(argv[optind], &err);
	ca = old != NULL ? mtls_ca_open(cli_ca_dir(dir), &err) : NULL;
	if (ca == NULL || mtls_ca_unlock(ca, pass, &err) != 0 ||
	    cli_ca_lock(ca, &err) != 0 ||
	    (cert = mtls_ca_renew_intermediate(ca, old, days, &err)) == NULL ||
	    write_chain(out, cert, ca, force, &err) != 0) {
		rc = cli_fail(&err);
		goto done;
	}
	mtls_cert_fingerprint(cert, EVP_sha256(), fp, sizeof(fp));
	printf("intermediate renewed with the same key; the old certificate is "
	    "superseded\n");
	printf("  chain:   %s  (on the online host: mtls ca install --renewal)\n", out);
	printf("  SHA-256: %s\n", fp);
	rc = 0;
done:
	X509_free(cert);
	X509_free(old);
	mtls_ca_free(ca);
	return rc;
}

static int
ca_install(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"crl-url", required_argument, NULL, 'c'},
	    {"ocsp-url", required_argument, NULL, 'o'},
	    {"renewal", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	const char *dir = NULL, *crl = NULL, *ocsp = NULL;
	STACK_OF(X509) *chain = NULL;
	int c, rc, renewal = 0;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'c': crl = optarg; break;
		case 'o': ocsp = optarg; break;
		case 'r': renewal = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca install");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("ca install", "give the CHAIN file written by "
		    "'mtls ca sign-intermediate'");
	}
	dir = cli_ca_dir(dir);
	if (renewal && (crl != NULL || ocsp != NULL)) {
		return cli_usage("ca install", "--renewal keeps the CA's URLs: "
		    "give no --crl-url or --ocsp-url");
	}
	if (renewal) {
		if (mtls_load_certs(argv[optind], &chain, &err) != 0 ||
		    mtls_ca_install_renewal(dir, chain, &err) != 0) {
			rc = cli_fail(&err);
		} else {
			printf("renewed intermediate certificate installed in %s\n", dir);
			rc = 0;
		}
		sk_X509_pop_free(chain, X509_free);
		return rc;
	}
	if (mtls_load_certs(argv[optind], &chain, &err) != 0 ||
	    mtls_ca_install(dir, chain, crl, ocsp, &err) != 0) {
		rc = cli_fail(&err);
	} else {
		printf("intermediate CA ready in %s\n", dir);
		printf("  trust anchor for peers: %s/root.crt\n", dir);
		rc = 0;
	}
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

int
cmd_ca_sub(int argc, char **argv)
{
	if (strcmp(argv[0], "sign-intermediate") == 0) {
		return ca_sign_intermediate(argc, argv);
	}
	if (strcmp(argv[0], "renew-intermediate") == 0) {
		return ca_renew_intermediate(argc, argv);
	}
	if (strcmp(argv[0], "install") == 0) {
		return ca_install(argc, argv);
	}
	return cli_help(usage);
}
