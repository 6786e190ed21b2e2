/* mtls inspect FILE */
#include <stdio.h>
#include <string.h>

#include "mtls/file.h"
#include "mtls/inspect.h"
#include "mtls/store.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls inspect FILE [--pass SPEC] [--json]\n"
    "\n"
    "Recognises FILE by its content - PEM or DER certificates and chains,\n"
    "private keys (PKCS#8 plain or encrypted, traditional), CSRs, PKCS#12,\n"
    "Java keystores (JKS, JCEKS) -\n"
    "and prints subject, issuer, serial, validity and days left, SANs, key\n"
    "usage, extended key usage, key type and size, and SHA-256 and SHA-1\n"
    "fingerprints in the colon-hex form keytool and openssl print.\n"
    "\n"
    "  --pass SPEC   password for encrypted keys and PKCS#12 (pass:, env:,\n"
    "                file:, fd:, stdin); asked on a terminal if needed\n"
    "  --json        machine-readable output\n"
    "\n"
    "example:\n"
    "  mtls inspect publish.chain.pem\n";

int
cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pass", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	const char *pass = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *desc;
	int c, json = 0;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pass = optarg; break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("inspect");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("inspect", "give exactly one FILE");
	}
	if (mtls_file_read(argv[optind], 64u << 20, &data, &len, &err) != 0) {
		return cli_fail(&err);
	}
	/* Keystores (JKS, JCEKS, PKCS#12) are described entry by entry, with
	 * aliases and Java's view of them; everything else below. */
	switch (mtls_store_describe(stdout, data, len, argv[optind], pass, json, &err)) {
	case 1:
		mtls_file_free(data, len);
		return 0;
	case 0:
		break;
	default:
		mtls_file_free(data, len);
		return cli_fail(&err);
	}
	desc = mtls_inspect(data, len, argv[optind], pass, &err);
	mtls_file_free(data, len);
	if (desc == NULL) {
		return cli_fail(&err);
	}
	if (json) {
		json_dumpf(desc, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		mtls_inspect_print(stdout, desc);
	}
	json_decref(desc);
	return 0;
}
