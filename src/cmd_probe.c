/* mtls probe: explain a TLS endpoint's mutual-TLS behaviour. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mtls/diag.h"
#include "report_print.h"

static const char usage[] =
    "usage: mtls probe HOST:PORT [--servername NAME] [--cert FILE --key FILE\n"
    "                  [--key-pass SPEC]] [--ca FILE] [--timeout SECS]\n"
    "                  [--warn-days N] [--no-http] [--json] [--verbose]\n"
    "\n"
    "Connects to a TLS server (ours, nginx, Tomcat, a broker, a partner's\n"
    "API) several times and explains what it does: reachability (refused,\n"
    "timed out, reset, not TLS), TLS versions 1.0-1.3 accepted, the cipher,\n"
    "the chain as sent (complete? in order? trusted? valid for the name?\n"
    "expiring?), whether it requests and requires a client certificate and\n"
    "which CAs it accepts, and with --cert/--key whether ours is accepted\n"
    "and, if not, why. Ends with findings: severity, cause, fix.\n"
    "\n"
    "Options:\n"
    "  --servername NAME  SNI and the name the server's certificate must\n"
    "                     carry (default: HOST)\n"
    "  --resolve HOST:PORT:ADDR  connect to ADDR for HOST:PORT, still\n"
    "                     checking HOST (as curl --resolve; repeatable;\n"
    "                     also $MTLS_RESOLVE)\n"
    "  --cert FILE        our client certificate, optionally followed by\n"
    "                     its intermediate CA certificates (PEM or DER)\n"
    "  --key FILE         its private key\n"
    "  --key-pass SPEC    password for an encrypted key: pass:, env:,\n"
    "                     file:, fd: or stdin\n"
    "  --ca FILE          CA certificate(s) to verify the server with\n"
    "  --ca-dir DIR       our CA (default $MTLS_CA_DIR or ./pki, when there):\n"
    "                     its inventory tells whether our certificate is\n"
    "                     revoked, the cause servers' alerts do not name\n"
    "                     (default: the system trust store)\n"
    "  --timeout SECS     per connection step (default 5)\n"
    "  --warn-days N      warn when a certificate expires within N days\n"
    "                     (default 30)\n"
    "  --no-http          do not send an HTTP request after the handshake\n"
    "                     (sent only to learn whether a server such as\n"
    "                     nginx refuses clients without a certificate at\n"
    "                     HTTP level)\n"
    "  --json             print the report as JSON (findings[].check, .severity)\n"
    "  --verbose          also list the checks that passed\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 no error finding (warnings allowed), 1 at least one\n"
    "error finding or a file could not be read, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  mtls probe broker.example:8443 --ca pki/ca.crt\n"
    "  mtls probe api.partner.example:443 --cert client.crt --key client.key\n"
    "  mtls probe 10.0.0.5:8443 --servername node1.example --json | jq .findings\n";

/* The --resolve list; static so no exit path leaks it. */
static char *resolve_list;

int
cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{"servername", required_argument, NULL, 's'},
		{"resolve", required_argument, NULL, 'r'},
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"key-pass", required_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'a'},
		{"ca-dir", required_argument, NULL, 'D'},
		{"timeout", required_argument, NULL, 't'},
		{"warn-days", required_argument, NULL, 'w'},
		{"no-http", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mtls_probe_opts po;
	struct mtls_err err;
	struct mtls_report *r;
	int c, json = 0, verbose = 0, rc;
	const char *ca_dir = NULL;
	long v;

	memset(&po, 0, sizeof(po));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			po.servername = optarg;
			break;
		case 'r':
			if (cli_resolve_add("probe", &resolve_list, optarg) != 0) {
				return 2;
			}
			break;
		case 'c':
			po.cert_file = optarg;
			break;
		case 'k':
			po.key_file = optarg;
			break;
		case 'p':
			po.key_pass = optarg;
			break;
		case 'a':
			po.ca_file = optarg;
			break;
		case 'D':
			ca_dir = optarg;
			break;
		case 't':
			if (cli_parse_int("probe", "--timeout", optarg, 1, 300,
				&v) != 0) {
				return 2;
			}
			po.timeout_ms = (int)v * 1000;
			break;
		case 'w':
			if (cli_parse_int("probe", "--warn-days", optarg, 1,
				3650, &v) != 0) {
				return 2;
			}
			po.warn_days = (int)v;
			break;
		case 'n':
			po.no_http = 1;
			break;
		case 'j':
			json = 1;
			cli_json_errors();
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option("probe");
		}
	}
	if (optind != argc - 1) {
		return cli_usage("probe", "give exactly one HOST:PORT");
	}
	if ((po.cert_file == NULL) != (po.key_file == NULL)) {
		return cli_usage("probe", "--cert and --key go together");
	}
	if (cli_resolve_env("probe", &resolve_list) != 0) {
		return 2;
	}
	po.resolve = resolve_list;
	po.target = argv[optind];
	/* Our CA's inventory, when at hand, explains a refusal of a revoked
	 * certificate that the server's alert cannot. */
	if (po.cert_file != NULL) {
		char crt[4096];

		snprintf(crt, sizeof(crt), "%s/ca.crt", cli_ca_dir(ca_dir));
		if (access(crt, R_OK) == 0) {
			po.ca_dir = cli_ca_dir(ca_dir);
		} else if (ca_dir != NULL) {
			return cli_usage("probe", "--ca-dir %s: no CA there (%s)",
			    ca_dir, crt);
		}
	}
	/* A server that closes while we write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = mtls_probe(&po, &err);
	if (r == NULL) {
		return cli_fail(&err);
	}
	rc = report_print(stdout, r, json, verbose);
	if (rc == 0) {
		rc = mtls_report_worst(r) == MTLS_SEV_ERROR ? 1 : 0;
	}
	mtls_report_free(r);
	return rc;
}
