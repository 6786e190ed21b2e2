/* mtls list */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mtls/ca.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls list [NAME] [--json] [--expiring DURATION] [--ca-dir DIR]\n"
    "\n"
    "Lists the CA's inventory: serial, name, profile, status, expiry and\n"
    "subject of every certificate it issued or signed (only NAME's with NAME).\n"
    "\n"
    "  --json          one JSON array with every field, including SANs, the\n"
    "                  SHA-256 fingerprint and the PEM\n"
    "  --expiring D    only current certificates (valid, not renewed) that\n"
    "                  expire within D (30d, 2w, 12h); exit status 1 when\n"
    "                  there is any, so cron and monitoring can use it\n"
    "  --ca-dir DIR    the CA (default $MTLS_CA_DIR or ./pki)\n";

struct filter {
	time_t limit; /* 0: no filter */
	mtls_inv_cb *inner;
	void *arg;
	int matched;
};

static int
filtered(const struct mtls_inv_entry *e, void *arg)
{
	struct filter *f = arg;

	if (f->limit != 0 && (strcmp(e->status, "valid") != 0 ||
	    e->superseded_by != NULL || e->not_after > f->limit)) {
		return 0;
	}
	f->matched++;
	return f->inner(e, f->arg);
}

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
	json_object_set_new(o, "origin", json_string(e->origin ? e->origin : "local"));
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "subject", json_string(e->subject));
	json_object_set_new(o, "sans", json_string(e->sans ? e->sans : ""));
	json_object_set_new(o, "profile", json_string(e->profile));
	json_object_set_new(o, "not_before", json_integer((json_int_t)e->not_before));
	json_object_set_new(o, "not_after", json_integer((json_int_t)e->not_after));
	json_object_set_new(o, "sha256", json_string(e->sha256));
	json_object_set_new(o, "status", json_string(e->status));
	if (e->superseded_by != NULL) {
		json_object_set_new(o, "superseded_by", json_string(e->superseded_by));
	}
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
	    {"expiring", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL, *name = NULL;
	struct filter f = {0, NULL, NULL, 0};
	long window = -1;
	int c, json = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'd': dir = optarg; break;
		case 'e':
			if (cli_parse_duration("list", "--expiring", optarg, &window) != 0) {
				return 2;
			}
			break;
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
	if (window >= 0) {
		f.limit = time(NULL) + window;
	}
	if (json) {
		json_t *a = json_array();

		f.inner = json_row;
		f.arg = a;
		rc = mtls_ca_list(ca, name, filtered, &f, &err);
		if (rc == 0) {
			json_dumpf(a, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		json_decref(a);
	} else {
		printf("%-32s  %-16s %-7s %-8s %-10s  %s\n", "SERIAL", "NAME", "PROFILE",
		    "STATUS", "EXPIRES", "SUBJECT");
		f.inner = print_row;
		rc = mtls_ca_list(ca, name, filtered, &f, &err);
	}
	mtls_ca_free(ca);
	if (rc != 0) {
		return cli_fail(&err);
	}
	if (window >= 0 && f.matched > 0) {
		fprintf(stderr, "mtls: %d certificate%s expire%s within the window; renew with "
		    "'mtls rotate --expiring ...'\n", f.matched, f.matched == 1 ? "" : "s",
		    f.matched == 1 ? "s" : "");
		return 1;
	}
	return 0;
}
