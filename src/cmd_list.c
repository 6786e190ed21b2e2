/* mtls list */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mtls/clock.h"
#include "mtls/ca.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls list [NAME] [--all] [--status S[,S...]] [--expiring DURATION]\n"
    "                 [--json] [--ca-dir DIR]\n"
    "       mtls list [NAME] --deployments [--json] [--ca-dir DIR]\n"
    "\n"
    "Lists the CA's inventory: serial, name, profile, status, expiry and\n"
    "subject of every certificate it issued or signed (only NAME's with NAME).\n"
    "The status is what the certificate is now, the first that holds of:\n"
    "  revoked        on the CRL (the reason shows in --json)\n"
    "  superseded     a renewal replaced it (still within its dates)\n"
    "  expired        past its notAfter and not renewed\n"
    "  not-yet-valid  before its notBefore\n"
    "  valid          none of the above\n"
    "Superseded certificates are history and hidden unless --all or --status\n"
    "asks for them.\n"
    "\n"
    "  --all           every certificate, superseded ones too\n"
    "  --status LIST   only these statuses (comma-separated, from above)\n"
    "  --json          one JSON array with every field, including SANs, the\n"
    "                  SHA-256 fingerprint and the PEM\n"
    "  --expiring D    only valid certificates that expire within D (30d,\n"
    "                  2w, 12h); exit status 1 when there is any, or when a\n"
    "                  certificate already expired without a renewal, so\n"
    "                  cron and monitoring can use it\n"
    "  --deployments   where each identity was written and in which format\n"
    "                  (issue, export, bundle record it; renew and rotate\n"
    "                  rewrite every one of them)\n"
    "  --ca-dir DIR    the CA (default $MTLS_CA_DIR or ./pki)\n"
    "\n"
    "Exit status: 0 listed, 1 error (or, with --expiring, something is due),\n"
    "2 usage error.\n"
    "\n"
    "examples:\n"
    "  mtls list\n"
    "  mtls list --status expired,revoked\n"
    "  mtls list publish --all --json\n"
    "  mtls list tomcat --deployments\n"
    "  mtls list --expiring 30d || mtls rotate --expiring 30d\n";

static const char *const states[] = {"valid", "expired", "superseded",
    "revoked", "not-yet-valid"};

struct filter {
	time_t now;
	time_t limit;     /* 0: no --expiring */
	unsigned want;    /* bit i: states[i] is shown */
	mtls_inv_cb *inner;
	json_t *out;      /* the --json array */
	int matched;
	int expired;      /* current certificates already expired */
};

static unsigned
state_bit(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		if (strcmp(states[i], state) == 0) {
			return 1u << i;
		}
	}
	return 0;
}

static int
parse_states(const char *list, unsigned *want)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(list) >= sizeof(buf)) {
		return cli_usage("list", "--status: list too long");
	}
	memcpy(buf, list, strlen(list) + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned bit = state_bit(tok);

		if (bit == 0) {
			return cli_usage("list", "--status: unknown status '%s' (valid, "
			    "expired, superseded, revoked, not-yet-valid)", tok);
		}
		*want |= bit;
	}
	return *want == 0 ? cli_usage("list", "--status: give at least one status") : 0;
}

static int
filtered(const struct mtls_inv_entry *e, void *arg)
{
	struct filter *f = arg;
	const char *state = mtls_inv_state(e, f->now);

	if (f->limit != 0) {
		/* Due means still valid but not for long; an expired current
		 * certificate is counted apart (it is past due, not expiring). */
		if (strcmp(state, "expired") == 0) {
			f->expired++;
		}
		if (strcmp(state, "valid") != 0 || e->not_after > f->limit) {
			return 0;
		}
	} else if ((state_bit(state) & f->want) == 0) {
		return 0;
	}
	f->matched++;
	return f->inner(e, f);
}

static void
fmt_date(time_t t, char *buf, size_t len)
{
	mtls_time_utc((int64_t)t, MTLS_TIME_DATE, buf, len);
}

static int
print_row(const struct mtls_inv_entry *e, void *arg)
{
	const struct filter *f = arg;
	char na[32];

	fmt_date(e->not_after, na, sizeof(na));
	printf("%-32s  %-16s %-7s %-13s %s  %s\n", e->serial, e->name, e->profile,
	    mtls_inv_state(e, f->now), na, e->subject);
	return 0;
}

static int
json_row(const struct mtls_inv_entry *e, void *arg)
{
	const struct filter *f = arg;
	json_t *a = f->out, *o = json_object();

	json_object_set_new(o, "serial", json_string(e->serial));
	json_object_set_new(o, "origin", json_string(e->origin ? e->origin : "local"));
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "subject", json_string(e->subject));
	json_object_set_new(o, "sans", cli_json_list(e->sans));
	json_object_set_new(o, "profile", json_string(e->profile));
	json_object_set_new(o, "not_before", cli_json_time(e->not_before));
	json_object_set_new(o, "not_after", cli_json_time(e->not_after));
	json_object_set_new(o, "sha256", cli_json_fingerprint(e->sha256));
	json_object_set_new(o, "status", json_string(mtls_inv_state(e, f->now)));
	if (e->superseded_by != NULL) {
		json_object_set_new(o, "superseded_by", json_string(e->superseded_by));
	}
	if (e->revoked_at != 0) {
		json_object_set_new(o, "revoked_at", cli_json_time(e->revoked_at));
		json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
	}
	json_object_set_new(o, "pem", json_string(e->pem));
	json_array_append_new(a, o);
	return 0;
}

static int
deploy_row(const struct mtls_deployment *d, void *arg)
{
	json_t *a = arg, *o;
	char when[64];

	cli_utc(d->recorded_at, when, sizeof(when));
	if (a == NULL) {
		printf("%-16s %-16s %-20s %s\n", d->name, d->format, when, d->path);
		return 0;
	}
	o = json_object();
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "format", json_string(d->format));
	json_object_set_new(o, "path", json_string(d->path));
	json_object_set_new(o, "recorded_at", cli_json_time(d->recorded_at));
	return json_array_append_new(a, o) == 0 ? 0 : -1;
}

static int
list_deployments(struct mtls_ca *ca, const char *name, int json,
    struct mtls_err *err)
{
	json_t *a = json ? json_array() : NULL;
	int rc;

	if (!json) {
		printf("%-16s %-16s %-20s %s\n", "NAME", "FORMAT", "RECORDED", "PATH");
	}
	rc = mtls_ca_deployments(ca, name, deploy_row, a, err);
	if (rc == 0 && json) {
		json_dumpf(a, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(a);
	return rc;
}

int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"expiring", required_argument, NULL, 'e'},
	    {"all", no_argument, NULL, 'a'},
	    {"status", required_argument, NULL, 's'},
	    {"deployments", no_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL, *name = NULL;
	struct filter f;
	long window = -1;
	int c, json = 0, rc, deployments = 0;

	mtls_err_clear(&err);
	memset(&f, 0, sizeof(f));
	f.now = time(NULL);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; cli_json_errors(); break;
		case 'D': deployments = 1; break;
		case 'd': dir = optarg; break;
		case 'a': f.want = ~0u; break;
		case 's':
			if (parse_states(optarg, &f.want) != 0) {
				return 2;
			}
			break;
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
	if (f.want != 0 && window >= 0) {
		return cli_usage("list", "--expiring picks valid certificates; "
		    "give it without --all or --status");
	}
	if (f.want == 0) {
		f.want = ~state_bit("superseded");
	}
	name = optind < argc ? argv[optind] : NULL;
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	if (window >= 0) {
		f.limit = f.now + window;
	}
	if (deployments) {
		rc = list_deployments(ca, name, json, &err);
		mtls_ca_free(ca);
		return rc == 0 ? 0 : cli_fail(&err);
	}
	if (json) {
		json_t *a = json_array();

		f.inner = json_row;
		f.out = a;
		rc = mtls_ca_list(ca, name, filtered, &f, &err);
		if (rc == 0) {
			json_dumpf(a, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		json_decref(a);
	} else {
		printf("%-32s  %-16s %-7s %-13s %-10s  %s\n", "SERIAL", "NAME", "PROFILE",
		    "STATUS", "EXPIRES", "SUBJECT");
		f.inner = print_row;
		rc = mtls_ca_list(ca, name, filtered, &f, &err);
	}
	mtls_ca_free(ca);
	if (rc != 0) {
		return cli_fail(&err);
	}
	if (window >= 0 && f.expired > 0) {
		fprintf(stderr, "mtls: %d certificate%s already expired without a renewal "
		    "(see 'mtls list --status expired'); renew with 'mtls renew NAME'\n",
		    f.expired, f.expired == 1 ? "" : "s");
	}
	if (window >= 0 && f.matched > 0) {
		fprintf(stderr, "mtls: %d certificate%s expire%s within the window; renew with "
		    "'mtls rotate --expiring ...'\n", f.matched, f.matched == 1 ? "" : "s",
		    f.matched == 1 ? "s" : "");
		return 1;
	}
	return window >= 0 && f.expired > 0 ? 1 : 0;
}
