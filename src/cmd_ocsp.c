/* mtls ocsp serve | check */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mtls/ca.h"
#include "mtls/ocsp.h"
#include "mtls/pki.h"
#include "cli.h"
#include "ocsp_fetch.h"
#include "ocsp_serve.h"

static const char usage[] =
    "usage: mtls ocsp serve [--listen ADDR:PORT] [--ca-dir DIR] [--ca-pass SPEC]\n"
    "                       [--signer-cert FILE --signer-key FILE [--signer-pass SPEC]]\n"
    "                       [--validity MINUTES] [--refresh MS]\n"
    "       mtls ocsp check CERT [--issuer FILE] [--url URL] [--no-nonce]\n"
    "                       [--timeout SECONDS]\n"
    "\n"
    "serve: an RFC 6960 OCSP responder over HTTP/1.1 (POST application/ocsp-request\n"
    "or GET /<base64 request>, keep-alive) answering good, revoked (time and\n"
    "reason) or unknown from the CA's inventory. Responses are signed by the CA\n"
    "key or by a delegated responder certificate ('mtls issue NAME --profile\n"
    "ocsp'), which is sent along. Nonces (RFC 8954) are echoed and such requests\n"
    "signed live; responses to requests without a nonce are cached until the\n"
    "inventory changes (checked every --refresh ms) or a quarter of their\n"
    "validity has passed. GET /healthz answers \"ok\". SIGTERM or SIGINT stops it;\n"
    "SIGHUP re-signs everything.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen (default 127.0.0.1:2560; PORT alone\n"
    "                      means 127.0.0.1:PORT; [::1]:PORT for IPv6)\n"
    "  --ca-dir DIR        the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC      password of an encrypted CA key (pass:, env:, file:,\n"
    "                      fd:, stdin)\n"
    "  --signer-cert FILE  delegated OCSP signer certificate (EKU OCSPSigning)\n"
    "  --signer-key FILE   its key; --signer-pass SPEC if encrypted\n"
    "  --validity MINUTES  nextUpdate - thisUpdate (default 60)\n"
    "  --refresh MS        how often to look for inventory changes (default 1000)\n"
    "\n"
    "check: asks an OCSP responder about CERT (with a nonce), verifies the signed\n"
    "answer against the issuer and prints good, revoked on DATE (reason) or\n"
    "unknown.\n"
    "\n"
    "  --issuer FILE       CERT's issuer (default: the next certificate in CERT,\n"
    "                      else ca.crt of $MTLS_CA_DIR or ./pki)\n"
    "  --url URL           responder (default: the OCSP URL in CERT's AIA)\n"
    "  --no-nonce          send no nonce (answers may then come from a cache)\n"
    "  --timeout SECONDS   give up after this long (default 10)\n"
    "\n"
    "Examples:\n"
    "  mtls ocsp serve --listen 127.0.0.1:2560\n"
    "  mtls issue responder --profile ocsp\n"
    "  mtls ocsp serve --signer-cert responder.crt --signer-key responder.key\n"
    "  mtls ocsp check alice.crt --issuer pki/ca.crt --url http://127.0.0.1:2560\n"
    "  openssl ocsp -issuer pki/ca.crt -cert alice.crt -url http://127.0.0.1:2560 \\\n"
    "      -CAfile pki/ca.crt -resp_text\n"
    "\n"
    "Exit status: serve 0 after SIGTERM; check 0 good, 1 revoked, unknown or\n"
    "error; 2 usage.\n";

/* "ADDR:PORT", "[V6]:PORT" or "PORT". */
static int
parse_listen(const char *s, char *host, size_t hlen, int *port)
{
	const char *colon = strrchr(s, ':');
	const char *h = s, *p = s;
	size_t n = 0;
	long v;
	char *end = NULL;

	if (colon != NULL) {
		p = colon + 1;
		n = (size_t)(colon - s);
		if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
			h = s + 1;
			n -= 2;
		}
	}
	v = strtol(p, &end, 10);
	if (end == p || *end != '\0' || v < 0 || v > 65535 || n >= hlen) {
		return -1;
	}
	if (n == 0) {
		snprintf(host, hlen, "127.0.0.1");
	} else {
		memcpy(host, h, n);
		host[n] = '\0';
	}
	*port = (int)v;
	return 0;
}

static int
load_one_cert(const char *path, X509 **out, struct mtls_err *err)
{
	STACK_OF(X509) *certs = NULL;

	if (mtls_load_certs(path, &certs, err) != 0) {
		return -1;
	}
	*out = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

static int
ocsp_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'P'},
	    {"signer-cert", required_argument, NULL, 'c'},
	    {"signer-key", required_argument, NULL, 'k'},
	    {"signer-pass", required_argument, NULL, 'p'},
	    {"validity", required_argument, NULL, 'v'},
	    {"refresh", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen = "127.0.0.1:2560", *dir = NULL, *ca_pass = NULL;
	const char *scert = NULL, *skey = NULL, *spass = NULL;
	struct mtls_ocsp_responder_opts o;
	struct mtls_ocsp_responder *r = NULL;
	struct mtls_ca *ca = NULL;
	struct mtls_err err;
	char host[256];
	int c, port = 0, rc = 1;
	long v;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': dir = optarg; break;
		case 'P': ca_pass = optarg; break;
		case 'c': scert = optarg; break;
		case 'k': skey = optarg; break;
		case 'p': spass = optarg; break;
		case 'v':
			if (cli_parse_int("ocsp serve", "--validity", optarg, 1, 525600, &v) != 0) {
				return 2;
			}
			o.validity_minutes = (int)v;
			break;
		case 'r':
			if (cli_parse_int("ocsp serve", "--refresh", optarg, 1, 3600000, &v) != 0) {
				return 2;
			}
			o.refresh_ms = (int)v;
			break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ocsp serve");
		}
	}
	if (optind != argc) {
		return cli_usage("ocsp serve", "unexpected argument '%s'", argv[optind]);
	}
	if (parse_listen(listen, host, sizeof(host), &port) != 0) {
		return cli_usage("ocsp serve", "bad --listen '%s': use ADDR:PORT, [V6]:PORT or PORT", listen);
	}
	if ((scert == NULL) != (skey == NULL)) {
		return cli_usage("ocsp serve", "--signer-cert and --signer-key go together");
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	if (scert != NULL) {
		if (load_one_cert(scert, &o.signer_cert, &err) != 0 ||
		    (o.signer_key = mtls_load_key(skey, spass, &err)) == NULL) {
			goto fail;
		}
	} else if (mtls_ca_unlock(ca, ca_pass, &err) != 0) {
		goto fail;
	}
	r = mtls_ocsp_responder_new(ca, &o, &err);
	if (r == NULL) {
		goto fail;
	}
	rc = ocsp_serve_run(r, host, port);
	goto out;
fail:
	rc = cli_fail(&err);
out:
	mtls_ocsp_responder_free(r);
	X509_free(o.signer_cert);
	EVP_PKEY_free(o.signer_key);
	mtls_ca_free(ca);
	return rc;
}

/* The issuer: --issuer, else the next certificate in CERT's file, else the
 * default CA's certificate. */
static X509 *
find_issuer(const char *opt, X509 *leaf, STACK_OF(X509) *rest,
    struct mtls_err *err)
{
	char path[4096];
	X509 *issuer = NULL;

	if (opt != NULL) {
		return load_one_cert(opt, &issuer, err) == 0 ? issuer : NULL;
	}
	issuer = ocsp_find_issuer(leaf, rest);
	if (issuer != NULL) {
		X509_up_ref(issuer);
		return issuer;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", cli_ca_dir(NULL));
	if (load_one_cert(path, &issuer, err) != 0) {
		mtls_err_set(err, MTLS_E_USAGE,
		    "give CERT's issuer with --issuer (no chain in CERT, no %s)", path);
		return NULL;
	}
	return issuer;
}

static int
ocsp_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"issuer", required_argument, NULL, 'i'},
	    {"url", required_argument, NULL, 'u'},
	    {"no-nonce", no_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *issuer_file = NULL, *url = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *leaf = NULL, *issuer = NULL;
	struct mtls_ocsp_result res;
	struct mtls_err err;
	char what[200];
	int c, no_nonce = 0, rc = 1;
	long timeout = 10;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': issuer_file = optarg; break;
		case 'u': url = optarg; break;
		case 'n': no_nonce = 1; break;
		case 't':
			if (cli_parse_int("ocsp check", "--timeout", optarg, 1, 3600, &timeout) != 0) {
				return 2;
			}
			break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("ocsp check");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("ocsp check", "give exactly one CERT file");
	}
	if (mtls_load_certs(argv[optind], &certs, &err) != 0) {
		return cli_fail(&err);
	}
	leaf = sk_X509_shift(certs);
	issuer = find_issuer(issuer_file, leaf, certs, &err);
	if (issuer == NULL ||
	    ocsp_query(leaf, issuer, url, no_nonce, timeout, &res, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	mtls_ocsp_result_format(&res, what, sizeof(what));
	printf("%s: %s\n", argv[optind], what);
	rc = res.status == MTLS_OCSP_GOOD ? 0 : 1;
out:
	X509_free(leaf);
	X509_free(issuer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int
cmd_ocsp(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2) {
			return cli_usage("ocsp", "give a verb: serve or check");
		}
		return cli_help(usage);
	}
	if (strcmp(argv[1], "serve") == 0) {
		return ocsp_serve(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "check") == 0) {
		return ocsp_check(argc - 1, argv + 1);
	}
	return cli_usage("ocsp", "unknown verb '%s': use serve or check", argv[1]);
}
