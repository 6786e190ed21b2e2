/* mtls ca serve */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/online.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls ca serve --listen ADDR:PORT [--ca-dir DIR] [--ca-pass SPEC]\n"
    "                     [--cert-lifetime D] [--max-lifetime D]\n"
    "                     [--cert F --key F [--key-pass SPEC]] [--san LIST]\n"
    "                     [--crl-days N] [--idle-timeout S] [--request-timeout S]\n"
    "                     [--max-conns N] [--fail-limit N] [--quiet]\n"
    "                     [ACME options]\n"
    "\n"
    "Puts the CA online over HTTPS (TLS 1.2+) until SIGTERM or SIGINT:\n"
    "  /.well-known/est/cacerts         the CA chain, base64 PKCS#7 (RFC 7030 4.1)\n"
    "  /.well-known/est/simpleenroll    first enrollment: a base64 PKCS#10 with\n"
    "                                   a one-time token as HTTP Basic\n"
    "                                   ('mtls token create')\n"
    "  /.well-known/est/simplereenroll  renewal: mutual TLS with the current,\n"
    "                                   valid, unrevoked certificate\n"
    "  /.well-known/est/csrattrs        what a CSR should carry\n"
    "  /crl.der, /crl.pem               the CRL (ETag, Last-Modified; rebuilt\n"
    "                                   on revocation and at half its life)\n"
    "  /ocsp                            OCSP (RFC 6960, POST and GET)\n"
    "  /healthz, /metrics               liveness, Prometheus counters\n"
    "  /acme/directory                  ACME (RFC 8555), see below\n"
    "Every issuance and refusal is an audit event ('mtls audit'). A request\n"
    "that finds the inventory held by another writer is answered 202 with\n"
    "Retry-After (the client sends it again).\n"
    "\n"
    "  --listen ADDR:PORT   where to listen (required)\n"
    "  --ca-dir DIR         the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC       password of an encrypted CA key (env:VAR, file:PATH,\n"
    "                       fd:N, stdin); without it such a CA does not start\n"
    "  --cert-lifetime D    lifetime of enrolled certificates unless a token\n"
    "                       says otherwise (default 7d; 30m, 12h, 2w)\n"
    "  --max-lifetime D     the longest lifetime a token may ask for; longer\n"
    "                       is refused with 403 (default 90d)\n"
    "  --cert F, --key F    the server's TLS identity (default: issued by the\n"
    "                       CA itself into CA_DIR/online/, 90 days but never\n"
    "                       past the CA's own expiry, renewed on start)\n"
    "  --key-pass SPEC      password of --key\n"
    "  --san LIST           SANs of that self-issued identity (default: the\n"
    "                       listen address)\n"
    "  --crl-days N         nextUpdate of the served CRL (default 1)\n"
    "  --idle-timeout S     seconds a connection may stay silent (default 15)\n"
    "  --request-timeout S  seconds a connection has to deliver each whole\n"
    "                       request, however it trickles (default 30)\n"
    "  --max-conns N        connections open at once; further clients wait in\n"
    "                       the listen queue (default 512)\n"
    "  --fail-limit N       failed authentications per address per minute\n"
    "                       before it is slowed down with 429 (default 5)\n"
    "  --quiet              no log line per request\n"
    "\n"
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
    "                       (repeatable; curl's --resolve form; then\n"
    "                       $MTLS_RESOLVE)\n"
    "  --acme-validate-allow CIDR  the only addresses validations may connect\n"
    "                       to (repeatable; default: where names resolve)\n"
    "  --acme-dns-resolver ADDR[:PORT]  offer dns-01 (RFC 8555 8.4), asking\n"
    "                       this DNS server for the TXT record (port 53 by\n"
    "                       default; [IPv6]:PORT); without it dns-01 is not\n"
    "                       offered\n"
    "  --acme-validate-timeout S  seconds per validation (default 10)\n"
    "  --acme-orders-per-hour N  per account (default 300)\n"
    "  --acme-accounts-per-ip N  new-account requests per client address per\n"
    "                       hour, refused ones included (default 20)\n"
    "Over a limit the answer is 429 rateLimited with Retry-After.\n"
    "\n"
    "Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when it cannot\n"
    "start (CA locked, port taken, bad identity), 2 on a usage error.\n"
    "\n"
    "examples:\n"
    "  mtls ca serve --listen 0.0.0.0:8443 --ca-dir /etc/mtls/ca\n"
    "  MTLS_CA_PASS=... mtls ca serve --listen 127.0.0.1:8443 \\\n"
    "      --ca-pass env:MTLS_CA_PASS --cert-lifetime 2d --max-conns 2048\n"
    "  mtls ca serve --listen 0.0.0.0:8443 --acme-validate-allow 10.0.0.0/8\n"
    "  mtls token create node1 --profile node --san dns:node1.example --ttl 30m\n"
    "  mtls ca show | grep SHA-256     # the fingerprint nodes pin\n";

enum {
	O_MAX_LIFETIME = 256,
	O_REQUEST_TIMEOUT,
	O_MAX_CONNS,
};

/* A setter's result: 0, or its refusal named by the option (2 for a
 * usage error). */
static int
set_ok(int setter_rc, const char *opt, const struct mtls_err *err)
{
	if (setter_rc == 0) {
		return 0;
	}
	if (err->code != MTLS_E_USAGE) {
		return cli_fail(err);
	}
	return cli_usage("ca serve", "%s: %s", opt, err->msg);
}

/* The --acme-* options (ids 1000..1010); 0 or 2. */
static int
acme_option(struct mtls_ca_serve_config *cfg, int c, char **resolve,
    char **vallow, char **aallow, struct mtls_err *err)
{
	long v;

	switch (c) {
	case 1000: mtls_ca_serve_config_insecure_acme_no_eab(cfg); return 0;
	case 1001: return cli_list_add("ca serve", "--acme-allow", aallow, optarg);
	case 1002:
		if (cli_parse_duration("ca serve", "--acme-cert-lifetime", optarg,
			&v) != 0) {
			return 2;
		}
		if (v < 60) {
			return cli_usage("ca serve", "--acme-cert-lifetime must be "
			    "at least a minute");
		}
		return set_ok(mtls_ca_serve_config_set_acme_cert_lifetime(cfg, v,
		    err), "--acme-cert-lifetime", err);
	case 1003:
	case 1004:
		if (cli_parse_int("ca serve", c == 1003 ? "--acme-http-port" :
			"--acme-tls-port", optarg, 1, 65535, &v) != 0) {
			return 2;
		}
		return c == 1003 ? set_ok(mtls_ca_serve_config_set_acme_http_port(
		    cfg, (int)v, err), "--acme-http-port", err)
		    : set_ok(mtls_ca_serve_config_set_acme_tls_port(cfg, (int)v,
		          err), "--acme-tls-port", err);
	case 1005: return cli_resolve_add("ca serve", resolve, optarg);
	case 1006: return cli_list_add("ca serve", "--acme-validate-allow", vallow,
		    optarg);
	case 1007:
		if (cli_parse_int("ca serve", "--acme-validate-timeout", optarg, 1,
			300, &v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_acme_validate_timeout(cfg,
		    (double)v, err), "--acme-validate-timeout", err);
	case 1008:
		if (cli_parse_int("ca serve", "--acme-orders-per-hour", optarg, 1,
			1000000, &v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_acme_orders_per_hour(cfg, v,
		    err), "--acme-orders-per-hour", err);
	case 1009:
		if (cli_parse_int("ca serve", "--acme-accounts-per-ip", optarg, 1,
			1000000, &v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_acme_accounts_per_ip(cfg, v,
		    err), "--acme-accounts-per-ip", err);
	case 1010:
		return set_ok(mtls_ca_serve_config_set_acme_dns_resolver(cfg, optarg,
		    err), "--acme-dns-resolver", err);
	default:
		return cli_bad_option("ca serve");
	}
}

static int
duration_opt(const char *opt, const char *val, long min, long *out)
{
	if (cli_parse_duration("ca serve", opt, val, out) != 0) {
		return 2;
	}
	if (*out < min) {
		return cli_usage("ca serve", "%s must be at least %ld seconds", opt,
		    min);
	}
	return 0;
}

/* The options that take a number (not the --acme-* ones); 0 or 2. */
static int
number_option(struct mtls_ca_serve_config *cfg, int c, long *lifetime,
    long *max_lifetime, struct mtls_err *err)
{
	long v = 0;

	switch (c) {
	case 'L':
		if (duration_opt("--cert-lifetime", optarg, 60, lifetime) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_cert_lifetime(cfg,
		    *lifetime, err), "--cert-lifetime", err);
	case O_MAX_LIFETIME:
		if (duration_opt("--max-lifetime", optarg, 60, max_lifetime) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_max_lifetime(cfg,
		    *max_lifetime, err), "--max-lifetime", err);
	case 'C':
		if (cli_parse_int("ca serve", "--crl-days", optarg, 1, 365, &v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_crl_days(cfg, (int)v, err),
		    "--crl-days", err);
	case 'i':
		if (cli_parse_int("ca serve", "--idle-timeout", optarg, 1, 3600,
			&v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_idle_timeout(cfg, (double)v,
		    err), "--idle-timeout", err);
	case O_REQUEST_TIMEOUT:
		if (cli_parse_int("ca serve", "--request-timeout", optarg, 1, 3600,
			&v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_request_timeout(cfg,
		    (double)v, err), "--request-timeout", err);
	case O_MAX_CONNS:
		if (cli_parse_int("ca serve", "--max-conns", optarg, 1, 100000,
			&v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_max_conns(cfg, (int)v, err),
		    "--max-conns", err);
	case 'f':
		if (cli_parse_int("ca serve", "--fail-limit", optarg, 1, 1000,
			&v) != 0) {
			return 2;
		}
		return set_ok(mtls_ca_serve_config_set_fail_limit(cfg, (int)v, err),
		    "--fail-limit", err);
	default:
		return cli_bad_option("ca serve");
	}
}

int
cmd_ca_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, 'l'},
	    {"cert-lifetime", required_argument, NULL, 'L'},
	    {"max-lifetime", required_argument, NULL, O_MAX_LIFETIME},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"san", required_argument, NULL, 's'},
	    {"crl-days", required_argument, NULL, 'C'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"request-timeout", required_argument, NULL, O_REQUEST_TIMEOUT},
	    {"max-conns", required_argument, NULL, O_MAX_CONNS},
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
	    {"acme-accounts-per-ip", required_argument, NULL, 1009},
	    {"acme-dns-resolver", required_argument, NULL, 1010},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *resolve = NULL, *vallow = NULL, *aallow = NULL;
	struct mtls_ca_serve_config *cfg = NULL;
	struct mtls_err err;
	const char *dir = NULL, *listen = NULL;
	const char *cert = NULL, *key = NULL, *key_pass = NULL;
	long lifetime = MTLS_ENROLL_DEFAULT_LIFETIME;
	long max_lifetime = MTLS_ENROLL_MAX_LIFETIME;
	int c, rc = 0;

	mtls_err_clear(&err);
	cfg = mtls_ca_serve_config_new(&err);
	if (cfg == NULL) {
		return cli_fail(&err);
	}
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p':
			rc = set_ok(mtls_ca_serve_config_set_ca_pass(cfg, optarg,
			    &err), "--ca-pass", &err);
			break;
		case 'l': listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'K': key_pass = optarg; break;
		case 's':
			rc = set_ok(mtls_ca_serve_config_set_sans(cfg, optarg, &err),
			    "--san", &err);
			break;
		case 'q': mtls_ca_serve_config_set_log_quiet(cfg, 1); break;
		case 'h': rc = cli_help(usage); goto out;
		case 'L':
		case O_MAX_LIFETIME:
		case 'C':
		case 'i':
		case O_REQUEST_TIMEOUT:
		case O_MAX_CONNS:
		case 'f':
			rc = number_option(cfg, c, &lifetime, &max_lifetime, &err);
			break;
		default:
			rc = c >= 1000 && c <= 1010 ? acme_option(cfg, c, &resolve,
			    &vallow, &aallow, &err) : cli_bad_option("ca serve");
			break;
		}
	}
	/* Like test, push and probe: $MTLS_RESOLVE after the options. */
	if (rc == 0 && cli_resolve_env("ca serve", &resolve) != 0) {
		rc = 2;
	}
	if (rc == 0) {
		rc = set_ok(mtls_ca_serve_config_set_acme_resolve(cfg, resolve,
		    &err), "--acme-resolve", &err);
	}
	if (rc == 0) {
		rc = set_ok(mtls_ca_serve_config_set_acme_validate_allow(cfg,
		    vallow, &err), "--acme-validate-allow", &err);
	}
	if (rc == 0) {
		rc = set_ok(mtls_ca_serve_config_set_acme_allow(cfg, aallow, &err),
		    "--acme-allow", &err);
	}
	if (rc == 0 && (cert != NULL || key != NULL)) {
		rc = set_ok(mtls_ca_serve_config_set_identity(cfg, cert, key,
		    key_pass, &err), "--cert, --key", &err);
	}
	if (rc != 0) {
		rc = 2;
	} else if (optind != argc) {
		rc = cli_usage("ca serve", "unexpected argument '%s'", argv[optind]);
	} else if (listen == NULL) {
		rc = cli_usage("ca serve", "give --listen ADDRESS:PORT");
	} else if (lifetime > max_lifetime) {
		rc = cli_usage("ca serve", "--cert-lifetime is longer than "
		    "--max-lifetime");
	} else if ((rc = set_ok(mtls_ca_serve_config_set_listen(cfg, listen,
		       &err), "--listen", &err)) == 0 &&
	    (rc = set_ok(mtls_ca_serve_config_set_ca_dir(cfg, cli_ca_dir(dir),
		 &err), "--ca-dir", &err)) == 0) {
		rc = mtls_ca_serve_run(cfg, &err) != 0 ? cli_fail(&err) : 0;
	}
out:
	mtls_ca_serve_config_free(cfg);
	free(resolve);
	free(vallow);
	free(aallow);
	return rc;
}
