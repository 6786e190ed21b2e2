/* mtls test: the replication receiver's "Test Connection", step by step. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rev_opts.h"
#include "mtls/replicate.h"

static const char usage[] =
    "usage: mtls test URL --cert FILE --key FILE --ca FILE [options]\n"
    "\n"
    "Tests the replication link to the receiver at URL over mutual TLS and\n"
    "logs every step: resolving and connecting, the TLS version and cipher,\n"
    "the server's certificate (subject, issuer, validity, whether its name\n"
    "matched), whether the server asked for a client certificate and which\n"
    "one we sent, the request and the response. It ends with 'Replication\n"
    "test succeeded' or the precise reason the test failed (no endpoint,\n"
    "unknown CA, no client certificate requested, our certificate rejected,\n"
    "name mismatch, expired, HTTP status ...). The server's certificate is\n"
    "always verified against --ca and the URL's host name, and then its\n"
    "revocation, as 'mtls serve' checks its clients' (see --crl, --ocsp),\n"
    "before any request is sent.\n"
    "\n"
    "URL is https://HOST[:PORT][/PATH]; the path defaults to /bin/receive.\n"
    "\n"
    "Options:\n"
    "  --cert FILE       our client certificate (PEM; may hold the chain)\n"
    "  --key FILE        its private key\n"
    "  --key-pass SPEC   password of an encrypted key (pass:, env:, file:,\n"
    "                    fd:, stdin)\n"
    "  --ca FILE         CA certificate(s) that must have issued the\n"
    "                    server's certificate\n"
    "  --path PATH       the Path header of the Test request (default\n"
    "                    /content)\n"
    "  --timeout S       seconds allowed for each step (default 10)\n"
    "  --resolve HOST:PORT:ADDR\n"
    "                    connect to ADDR when the URL names HOST:PORT, still\n"
    "                    checking the certificate against HOST (as curl\n"
    "                    --resolve; repeatable; also $MTLS_RESOLVE, a\n"
    "                    comma-separated list)\n"
    "  --servername NAME SNI and the name the server's certificate must\n"
    "                    carry, when the URL names an address or another name\n"
    "  --get             send the Test as GET instead of POST, to check the\n"
    "                    link against a generic HTTPS server (openssl\n"
    "                    s_server -www answers only GET)\n"
    REV_HELP
    "  --json            print {target, succeeded, steps, error} on stdout\n"
    "                    instead of the log: each step {time, message}, the\n"
    "                    error object when the test failed (docs/json.md)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 when the test succeeded, 1 when it failed, 2 for usage\n"
    "errors.\n"
    "\n"
    "Examples:\n"
    "  mtls test https://publish.example:8443 --cert author.pem \\\n"
    "      --key author.key --ca ca.pem\n"
    "  mtls test https://127.0.0.1:8443/bin/receive --cert a.pem --key a.key \\\n"
    "      --key-pass env:KEYPASS --ca ca.pem --path /content/site\n"
    "  mtls test https://publish.example:8443 --resolve \\\n"
    "      publish.example:8443:10.0.0.7 --cert a.pem --key a.key --ca ca.pem\n";

/* The --resolve list; static so no exit path leaks it. */
static char *resolve_list;

/* One step of the log ("2026-11-22T11:54:46Z - Connected to ...") as
 * {time, message}; the closing verdict line has no stamp and is left out:
 * "succeeded" says it. */
static void
add_step(json_t *steps, char *line)
{
	char *sep = strstr(line, " - ");

	if (sep == NULL || sep - line != 20 || line[19] != 'Z') {
		return;
	}
	*sep = '\0';
	json_array_append_new(steps, json_pack("{s:s, s:s}", "time", line,
	    "message", sep + 3));
}

/* --json: the same test, its log kept in memory and printed as steps. */
static int
test_json(const struct mtls_testconn_opts *o, struct mtls_err *err)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *log = open_memstream(&buf, &len);
	json_t *v, *steps;
	int rc;

	if (log == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "open_memstream");
		cli_json_errors();
		return cli_fail(err);
	}
	rc = mtls_testconn_run(o, log, err);
	fclose(log);
	steps = json_array();
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		add_step(steps, line);
	}
	free(buf);
	v = json_pack("{s:s, s:b, s:o}", "target", o->url, "succeeded", rc == 0,
	    "steps", steps);
	return cli_json_report(v, rc != 0 ? err : NULL);
}

int
cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"key-pass", required_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'a'},
		{"path", required_argument, NULL, 'P'},
		{"timeout", required_argument, NULL, 't'},
		{"get", no_argument, NULL, 'G'},
		{"resolve", required_argument, NULL, 'r'},
		{"servername", required_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'j'},
		REV_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mtls_testconn_opts o;
	struct mtls_err err;
	long timeout = 10;
	int c, json = 0;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = rev_opt("test", c, optarg, &o.rev);

		if (r != 1) {
			if (r != 0) {
				return r;
			}
			continue;
		}
		switch (c) {
		case 'c':
			o.id.cert = optarg;
			break;
		case 'k':
			o.id.key = optarg;
			break;
		case 'p':
			o.id.key_pass = optarg;
			break;
		case 'a':
			o.id.ca = optarg;
			break;
		case 'P':
			o.path = optarg;
			break;
		case 't':
			if (cli_parse_int("test", "--timeout", optarg, 1, 3600,
				&timeout) != 0) {
				return 2;
			}
			break;
		case 'G':
			o.use_get = 1;
			break;
		case 'r':
			if (cli_resolve_add("test", &resolve_list, optarg) != 0) {
				return 2;
			}
			break;
		case 'S':
			o.servername = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option("test");
		}
	}
	if (optind != argc - 1) {
		return cli_usage("test", "give exactly one URL");
	}
	if (o.id.cert == NULL || o.id.key == NULL || o.id.ca == NULL) {
		return cli_usage("test", "--cert, --key and --ca are required");
	}
	if (rev_opts_done("test", &o.rev) != 0) {
		return 2;
	}
	if (o.path != NULL && o.path[0] != '/') {
		return cli_usage("test", "--path must be absolute, not '%s'",
		    o.path);
	}
	if (cli_resolve_env("test", &resolve_list) != 0) {
		return 2;
	}
	o.resolve = resolve_list;
	o.url = argv[optind];
	/* A receiver that rejects us may close the socket while we write:
	 * that must be an error we explain, not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	o.timeout_s = (int)timeout;
	if (json) {
		return test_json(&o, &err);
	}
	if (mtls_testconn_run(&o, stdout, &err) != 0) {
		fflush(stdout);
		return cli_fail(&err);
	}
	return 0;
}
