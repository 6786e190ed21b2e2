/* mtls ca init | show */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/ca.h"
#include "mtls/explain.h"
#include "mtls/online.h"
#include "mtls/pass.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls ca init [--dir DIR] [--name DN] [--key-type T] [--days N]\n"
    "                    [--pass SPEC] [--crl-url URL] [--ocsp-url URL] [--force]\n"
    "       mtls ca init --intermediate [--dir DIR] [--name DN] ...\n"
    "       mtls ca sign-intermediate | install  (see 'mtls ca install --help')\n"
    "       mtls ca show [--ca-dir DIR]\n"
    "       mtls ca serve --listen ADDR:PORT [--ca-dir DIR] [--ca-pass SPEC]\n"
    "                     [--cert-lifetime D] [--cert F --key F [--key-pass SPEC]]\n"
    "                     [--san LIST] [--crl-days N] [--idle-timeout S]\n"
    "                     [--fail-limit N] [--quiet] [ACME options]\n"
    "\n"
    "init creates a private CA: a self-signed root (basicConstraints CA:TRUE,\n"
    "keyUsage keyCertSign+cRLSign, SKI), its key (0600), ca.json and an SQLite\n"
    "inventory of everything it issues.\n"
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
    "  --force          replace an existing CA (its inventory is kept aside)\n"
    "\n"
    "show prints the CA certificate's subject, validity and fingerprint.\n"
    "\n"
    "serve puts the CA online over HTTPS (TLS 1.2+): EST enrollment (RFC 7030)\n"
    "under /.well-known/est/ with one-time tokens ('mtls token create') and\n"
    "re-enrollment by mutual TLS, the CRL at /crl.der and /crl.pem, OCSP at\n"
    "/ocsp, /healthz and /metrics. See mtls-ca-serve(1).\n"
    "  --listen ADDR:PORT   where to listen (required)\n"
    "  --ca-pass SPEC       password of an encrypted CA key (required then)\n"
    "  --cert-lifetime D    lifetime of enrolled certificates (default 7d;\n"
    "                       30m, 12h, 2w)\n"
    "  --cert F, --key F    the server's TLS identity (default: issued by the\n"
    "                       CA itself into CA_DIR/online/ on first start)\n"
    "  --san LIST           SANs of that self-issued identity (default: the\n"
    "                       listen address)\n"
    "  --crl-days N         nextUpdate of the served CRL (default 1)\n"
    "  --idle-timeout S     seconds a connection may stay silent (default 15)\n"
    "  --fail-limit N       failed authentications per address per minute\n"
    "                       before it is slowed down (default 5)\n"
    "  --quiet              no log line per request\n"
    "ACME (RFC 8555) at https://ADDR:PORT/acme/directory; accounts need an\n"
    "external account binding key from 'mtls acme eab create' by default:\n"
    "  --acme-no-eab        accounts without a key may register; they get\n"
    "                       only what --acme-allow allows\n"
    "  --acme-allow LIST    dns:GLOB,ip:CIDR for such accounts (default none)\n"
    "  --acme-cert-lifetime D  lifetime of ACME certificates (default: the\n"
    "                       --cert-lifetime)\n"
    "  --acme-http-port N   port http-01 is fetched from (default 80)\n"
    "  --acme-tls-port N    port tls-alpn-01 connects to (default 443)\n"
    "  --acme-resolve HOST:PORT:ADDR  where validations of HOST connect\n"
    "                       (repeatable; curl's --resolve form)\n"
    "  --acme-validate-allow CIDR  the only addresses validations may connect\n"
    "                       to (repeatable; default: where names resolve)\n"
    "  --acme-validate-timeout S  seconds per validation (default 10)\n"
    "  --acme-orders-per-hour N  per account (default 300)\n"
    "\n"
    "examples:\n"
    "  mtls ca init --name \"CN=Replication CA,O=Example\"\n"
    "  MTLS_CA_PASS=secret mtls ca init --dir /etc/mtls/ca --pass env:MTLS_CA_PASS\n"
    "  mtls ca serve --listen 0.0.0.0:8443 --acme-validate-allow 10.0.0.0/8\n"
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
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
	if (intermediate) {
		if (days != 0 || o.crl_url != NULL || o.ocsp_url != NULL) {
			return cli_usage("ca init", "--days, --crl-url and --ocsp-url of "
			    "an intermediate are given to 'ca sign-intermediate' and "
			    "'ca install'");
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	char fp[200], nb[64], na[64], *subj;
	X509 *x;
	int c;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ca show");
		}
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	x = mtls_ca_cert(ca);
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

/* The --acme-* options (ids 1000..1008); 0 or 2. */
static int
acme_option(struct mtls_ca_serve_opts *o, int c, char **resolve,
    char **vallow, char **aallow)
{
	long v;

	switch (c) {
	case 1000: o->acme_no_eab = 1; return 0;
	case 1001: return cli_list_add("ca serve", "--acme-allow", aallow, optarg);
	case 1002:
		if (cli_parse_duration("ca serve", "--acme-cert-lifetime", optarg,
			&o->acme_cert_lifetime) != 0) {
			return 2;
		}
		return o->acme_cert_lifetime < 60 ? cli_usage("ca serve",
		    "--acme-cert-lifetime must be at least a minute") : 0;
	case 1003:
	case 1004:
		if (cli_parse_int("ca serve", c == 1003 ? "--acme-http-port" :
			"--acme-tls-port", optarg, 1, 65535, &v) != 0) {
			return 2;
		}
		*(c == 1003 ? &o->acme_http_port : &o->acme_tls_port) = (int)v;
		return 0;
	case 1005: return cli_resolve_add("ca serve", resolve, optarg);
	case 1006: return cli_list_add("ca serve", "--acme-validate-allow", vallow,
		    optarg);
	case 1007:
		if (cli_parse_int("ca serve", "--acme-validate-timeout", optarg, 1,
			300, &v) != 0) {
			return 2;
		}
		o->acme_validate_timeout = (double)v;
		return 0;
	case 1008:
		if (cli_parse_int("ca serve", "--acme-orders-per-hour", optarg, 1,
			1000000, &v) != 0) {
			return 2;
		}
		o->acme_orders_per_hour = v;
		return 0;
	default:
		return cli_bad_option("ca serve");
	}
}

static int
ca_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, 'l'},
	    {"cert-lifetime", required_argument, NULL, 'L'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"san", required_argument, NULL, 's'},
	    {"crl-days", required_argument, NULL, 'C'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"fail-limit", required_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"acme-no-eab", no_argument, NULL, 1000},
	    {"acme-allow", required_argument, NULL, 1001},
	    {"acme-cert-lifetime", required_argument, NULL, 1002},
	    {"acme-http-port", required_argument, NULL, 1003},
	    {"acme-tls-port", required_argument, NULL, 1004},
	    {"acme-resolve", required_argument, NULL, 1005},
	    {"acme-validate-allow", required_argument, NULL, 1006},
	    {"acme-validate-timeout", required_argument, NULL, 1007},
	    {"acme-orders-per-hour", required_argument, NULL, 1008},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *resolve = NULL, *vallow = NULL, *aallow = NULL;
	struct mtls_ca_serve_opts o;
	struct mtls_err err;
	const char *dir = NULL;
	long v;
	int c, rc = 0;

	mtls_ca_serve_opts_init(&o);
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': o.ca_pass = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'L':
			if (cli_parse_duration("ca serve", "--cert-lifetime", optarg,
				&o.cert_lifetime) != 0) {
				return 2;
			}
			if (o.cert_lifetime < 60) {
				return cli_usage("ca serve", "--cert-lifetime must be at "
				    "least a minute");
			}
			break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'K': o.key_pass = optarg; break;
		case 's': o.sans = optarg; break;
		case 'C':
			if (cli_parse_int("ca serve", "--crl-days", optarg, 1, 365, &v) != 0) {
				return 2;
			}
			o.crl_days = (int)v;
			break;
		case 'i':
			if (cli_parse_int("ca serve", "--idle-timeout", optarg, 1, 3600, &v) != 0) {
				return 2;
			}
			o.idle_timeout = (double)v;
			break;
		case 'f':
			if (cli_parse_int("ca serve", "--fail-limit", optarg, 1, 1000, &v) != 0) {
				return 2;
			}
			o.fail_limit = (int)v;
			break;
		case 'q': o.log_quiet = 1; break;
		case 'h': rc = cli_help(usage); goto out;
		default:
			if (c < 1000 || c > 1008) {
				rc = cli_bad_option("ca serve");
				goto out;
			}
			rc = acme_option(&o, c, &resolve, &vallow, &aallow);
			if (rc != 0) {
				goto out;
			}
		}
	}
	o.acme_resolve = resolve;
	o.acme_validate_allow = vallow;
	o.acme_allow = aallow;
	if (optind != argc) {
		rc = cli_usage("ca serve", "unexpected argument '%s'", argv[optind]);
	} else if (o.listen == NULL) {
		rc = cli_usage("ca serve", "give --listen ADDRESS:PORT");
	} else {
		o.ca_dir = cli_ca_dir(dir);
		rc = mtls_ca_serve_run(&o, &err) != 0 ? cli_fail(&err) : 0;
	}
out:
	free(resolve);
	free(vallow);
	free(aallow);
	return rc;
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
		return ca_serve(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "sign-intermediate") == 0 ||
	    strcmp(argv[1], "install") == 0) {
		return cmd_ca_sub(argc - 1, argv + 1);
	}
	return cli_usage("ca", "unknown action '%s' (use init, show, serve, "
	    "sign-intermediate or install)", argv[1]);
}
