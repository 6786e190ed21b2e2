/* mtls acme eab create | list | revoke */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mtls/acme.h"
#include "mtls/pass.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls acme eab create NAME --allow PATTERN [--allow ...] [--json]\n"
    "                            [--ca-dir DIR]\n"
    "       mtls acme eab list [--json] [--ca-dir DIR]\n"
    "       mtls acme eab revoke KID [--ca-dir DIR]\n"
    "\n"
    "The ACME server of 'mtls ca serve' (/acme/directory) makes an account\n"
    "only with an External Account Binding (RFC 8555 7.3.4): a key id and an\n"
    "HMAC key made here, good for one account. The key decides which\n"
    "identifiers that account may get certificates for.\n"
    "\n"
    "create prints the key id and the HMAC key (base64url) on standard\n"
    "output, one per line; give them to the client (certbot --eab-kid KID\n"
    "--eab-hmac-key KEY; lego --eab --kid KID --hmac KEY).\n"
    "\n"
    "  --allow PATTERN   what the account may get, repeatable or comma-\n"
    "                    separated: dns:GLOB (dns:*.internal.example matches\n"
    "                    names below internal.example), ip:ADDR or\n"
    "                    ip:ADDR/BITS (ip:10.0.0.0/8)\n"
    "  --json            machine-readable output\n"
    "  --ca-dir DIR      the CA (default $MTLS_CA_DIR or ./pki)\n"
    "\n"
    "revoke stops the key: no account can be made with it any more, and the\n"
    "account it made can no longer order (it is refused as unauthorized).\n"
    "\n"
    "examples:\n"
    "  mtls acme eab create web1 --allow 'dns:*.internal.example' --allow ip:10.0.0.0/8\n"
    "  mtls acme eab list\n"
    "\n"
    "exit status: 0 done, 1 error (unknown key, inventory), 2 usage error\n";

static int
eab_create(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL;
	char kid[MTLS_ACME_KID_LEN], *allow = NULL, *hmac = NULL;
	int c, json = 0, rc = 1;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cli_list_add("acme eab create", "--allow", &allow,
				optarg) != 0) {
				free(allow);
				return 2;
			}
			break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'd': dir = optarg; break;
		case 'h': free(allow); return cli_help(usage);
		default: free(allow); return cli_bad_option("acme eab create");
		}
	}
	if (optind + 1 != argc) {
		free(allow);
		return cli_usage("acme eab create", "give exactly one NAME");
	}
	if (allow == NULL) {
		return cli_usage("acme eab create", "give at least one --allow "
		    "(e.g. --allow 'dns:*.internal.example')");
	}
	if (mtls_acme_allow_check(allow, &err) != 0) {
		free(allow);
		fprintf(stderr, "mtls acme eab create: %s\n", err.msg);
		return 2;
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL || mtls_acme_eab_create(ca, argv[optind], allow, kid,
		&hmac, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "kid", kid, "hmac_key",
		    hmac, "name", argv[optind], "allow", cli_json_list(allow));
		char *s = json_dumps(o, JSON_INDENT(2));

		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		fprintf(stderr, "EAB key %s for '%s' allowing %s (one account)\n",
		    kid, argv[optind], allow);
		printf("%s\n%s\n", kid, hmac);
	}
	rc = 0;
out:
	mtls_pass_free(hmac);
	free(allow);
	mtls_ca_free(ca);
	return rc;
}

static int
print_eab(const struct mtls_acme_eab *e, void *arg)
{
	json_t *arr = arg;
	char made[40], rev[40];

	cli_utc(e->created_at, made, sizeof(made));
	cli_utc(e->revoked_at, rev, sizeof(rev));
	if (arr == NULL) {
		printf("%-24s  %-20s %-8s made %s  account %s  allow %s\n", e->kid,
		    e->name, e->revoked_at ? "revoked" : e->account[0] ? "used" :
		    "usable", made, e->account[0] ? e->account : "-", e->allow);
		return 0;
	}
	json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s}",
	    "kid", e->kid, "name", e->name, "allow", cli_json_list(e->allow),
	    "created_at", cli_json_time(e->created_at), "revoked_at",
	    cli_json_time(e->revoked_at), "account", e->account[0] ?
	    json_string(e->account) : json_null(), "state",
	    e->revoked_at ? "revoked" : e->account[0] ? "used" : "usable"));
	return 0;
}

static int
eab_list_or_revoke(int argc, char **argv, int revoke)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd = revoke ? "acme eab revoke" : "acme eab list";
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	json_t *arr = NULL;
	int c, json = 0, rc = 0;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; cli_json_errors(); break;
		case 'd': dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option(cmd);
		}
	}
	if (optind + (revoke ? 1 : 0) != argc) {
		return cli_usage(cmd, revoke ? "give exactly one KID" :
		    "unexpected argument '%s'", argv[optind]);
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	if (revoke) {
		if (mtls_acme_eab_revoke(ca, argv[optind], &err) != 0) {
			rc = cli_fail(&err);
		} else {
			fprintf(stderr, "EAB key %s revoked\n", argv[optind]);
		}
		mtls_ca_free(ca);
		return rc;
	}
	arr = json ? json_array() : NULL;
	if (mtls_acme_eab_list(ca, print_eab, arr, &err) != 0) {
		rc = cli_fail(&err);
	} else if (arr != NULL) {
		char *s = json_dumps(arr, JSON_INDENT(2));

		printf("%s\n", s ? s : "[]");
		free(s);
	}
	json_decref(arr);
	mtls_ca_free(ca);
	return rc;
}

int
cmd_acme(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		return cli_help(usage);
	}
	if (argc < 3 || strcmp(argv[1], "eab") != 0) {
		return cli_usage("acme", "use 'mtls acme eab create|list|revoke' "
		    "(see mtls acme --help)");
	}
	if (strcmp(argv[2], "create") == 0) {
		return eab_create(argc - 2, argv + 2);
	}
	if (strcmp(argv[2], "list") == 0) {
		return eab_list_or_revoke(argc - 2, argv + 2, 0);
	}
	if (strcmp(argv[2], "revoke") == 0) {
		return eab_list_or_revoke(argc - 2, argv + 2, 1);
	}
	return cli_usage("acme eab", "unknown action '%s' (create, list, revoke)",
	    argv[2]);
}
