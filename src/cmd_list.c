/* mtls list */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mtls/ca.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls list [NAME] [--json] [--ca-dir DIR]\n"
    "\n"
    "Lists the CA's inventory: serial, name, profile, status, expiry and\n"
    "subject of every certificate it issued or signed (only NAME's with NAME).\n"
    "\n"
    "  --json          one JSON array with every field, including SANs, the\n"
    "                  SHA-256 fingerprint and the PEM\n"
    "  --ca-dir DIR    the CA (default $MTLS_CA_DIR or ./pki)\n";

static void
fmt_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

static int
print_row(const struct mtls_inv_entry *e, void *arg)
{
	char na[32];

	(void)arg;
	fmt_date(e->not_after, na, sizeof(na));
	printf("%-32s  %-16s %-7s %-8s %s  %s\n", e->serial, e->name, e->profile,
	    e->status, na, e->subject);
	return 0;
}

static int
json_row(const struct mtls_inv_entry *e, void *arg)
{
	json_t *a = arg, *o = json_object();

	json_object_set_new(o, "serial", json_string(e->serial));
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "subject", json_string(e->subject));
	json_object_set_new(o, "sans", json_string(e->sans ? e->sans : ""));
	json_object_set_new(o, "profile", json_string(e->profile));
	json_object_set_new(o, "not_before", json_integer((json_int_t)e->not_before));
	json_object_set_new(o, "not_after", json_integer((json_int_t)e->not_after));
	json_object_set_new(o, "sha256", json_string(e->sha256));
	json_object_set_new(o, "status", json_string(e->status));
	if (e->revoked_at != 0) {
		json_object_set_new(o, "revoked_at", json_integer((json_int_t)e->revoked_at));
		json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
	}
	json_object_set_new(o, "pem", json_string(e->pem));
	json_array_append_new(a, o);
	return 0;
}

int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL, *name = NULL;
	int c, json = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'd': dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("list");
		}
	}
	if (optind + 1 < argc) {
		return cli_usage("list", "give at most one NAME");
	}
	name = optind < argc ? argv[optind] : NULL;
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	if (json) {
		json_t *a = json_array();

		rc = mtls_ca_list(ca, name, json_row, a, &err);
		if (rc == 0) {
			json_dumpf(a, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		json_decref(a);
	} else {
		printf("%-32s  %-16s %-7s %-8s %-10s  %s\n", "SERIAL", "NAME", "PROFILE",
		    "STATUS", "EXPIRES", "SUBJECT");
		rc = mtls_ca_list(ca, name, print_row, NULL, &err);
	}
	mtls_ca_free(ca);
	return rc == 0 ? 0 : cli_fail(&err);
}
