/* mtls policy add|list|show|remove : named signing policies for partners */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mtls/ca.h"
#include "cli.h"
#include "sign_policy.h"

static const char usage[] =
    "usage: mtls policy add NAME --profile server|client|node\n"
    "                  [--subject DN | --subject-allow PATTERN...] [--san LIST]\n"
    "                  [--san-allow PATTERNS] [--days N] [--cert-policy OID]...\n"
    "                  [--force] [--ca-dir DIR]\n"
    "       mtls policy list [--json] [--ca-dir DIR]\n"
    "       mtls policy show NAME [--ca-dir DIR]\n"
    "       mtls policy remove NAME [--ca-dir DIR]\n"
    "\n"
    "A signing policy is how a partner's CSRs are signed: profile, subject\n"
    "(fixed, or the CSR's own when it matches a per-RDN pattern, else\n"
    "CN=NAME), SANs given and SAN patterns admitted, validity, and the\n"
    "certificate policies (--cert-policy OID) the partner gets: a CSR asking\n"
    "for any other policy is refused. Stored with\n"
    "the CA, it makes 'mtls sign CSR --policy NAME' sign a partner's next CSR\n"
    "exactly like its first. See 'mtls sign --help' for each option.\n"
    "\n"
    "Exit status: 0 done, 1 failed (no such policy, one exists), 2 usage error.\n"
    "\n"
    "examples:\n"
    "  mtls policy add acme --profile client --subject 'CN=acme-client,O=Acme' \\\n"
    "      --san-allow 'dns:*.acme.example' --days 90\n"
    "  mtls sign acme.csr --policy acme\n"
    "  mtls policy list\n";

static int
show_one(const struct mtls_sign_policy *p, void *arg)
{
	(void)arg;
	printf("%s\n", p->name);
	policy_print(p, "  ");
	return 0;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static int
json_one(const struct mtls_sign_policy *p, void *arg)
{
	json_t *j = json_object(), *allow = json_array();
	char *copy = p->subject_allow ? strdup(p->subject_allow) : NULL, *l, *save = NULL;

	for (l = copy ? strtok_r(copy, "\n", &save) : NULL; l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		json_array_append_new(allow, json_string(l));
	}
	free(copy);
	json_object_set_new(j, "name", json_string(p->name));
	json_object_set_new(j, "profile", json_string(mtls_profile_name(p->profile)));
	json_object_set_new(j, "subject", str_or_null(p->subject));
	json_object_set_new(j, "subject_allow", allow);
	json_object_set_new(j, "sans", cli_json_list(p->sans));
	json_object_set_new(j, "san_allow", cli_json_list(p->san_allow));
	json_object_set_new(j, "days", json_integer(p->days > 0 ? p->days : MTLS_DEFAULT_DAYS));
	json_object_set_new(j, "cert_policies", cli_json_list(p->cert_policies));
	json_array_append_new(arg, j);
	return 0;
}

static int
policy_list(struct mtls_ca *ca, int as_json, struct mtls_err *err)
{
	json_t *all;
	int rc;

	if (!as_json) {
		return mtls_policy_get(ca, NULL, show_one, NULL, err);
	}
	all = json_array();
	rc = mtls_policy_get(ca, NULL, json_one, all, err);
	if (rc == 0) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		printf("\n");
	}
	json_decref(all);
	return rc;
}

int
cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
	    POLICY_OPTIONS,
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct policy_opts po;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *verb, *ca_dir = NULL;
	int c, r, force = 0, as_json = 0, rc = 2;

	memset(&po, 0, sizeof(po));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = policy_opt("policy", c, optarg, &po);
		if (r == 0) {
			continue;
		}
		if (r != 1) {
			goto out;
		}
		switch (c) {
		case 'f': force = 1; break;
		case 'j': as_json = 1; cli_json_errors(); break;
		case 'd': ca_dir = optarg; break;
		case 'h': rc = cli_help(usage); goto out;
		default: rc = cli_bad_option("policy"); goto out;
		}
	}
	verb = optind < argc ? argv[optind] : "";
	if (strcmp(verb, "list") == 0 ? optind + 1 != argc : optind + 2 != argc) {
		rc = cli_usage("policy", "give add NAME, list, show NAME or remove NAME");
		goto out;
	}
	if (strcmp(verb, "add") == 0) {
		if ((rc = policy_opts_done("policy add", &po)) != 0) {
			goto out;
		}
	} else if (po.given || force) {
		rc = cli_usage("policy", "policy options go with 'add' only");
		goto out;
	} else if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 &&
		   strcmp(verb, "remove") != 0) {
		rc = cli_usage("policy", "unknown action '%s': add, list, show or remove", verb);
		goto out;
	}
	ca = mtls_ca_open(cli_ca_dir(ca_dir), &err);
	if (ca == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	po.pol.name = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (strcmp(verb, "add") == 0) {
		r = mtls_policy_save(ca, &po.pol, force, &err);
		if (r == 0) {
			printf("saved signing policy '%s'\n", po.pol.name);
		}
	} else if (strcmp(verb, "list") == 0) {
		r = policy_list(ca, as_json, &err);
	} else if (strcmp(verb, "show") == 0) {
		r = mtls_policy_get(ca, po.pol.name, show_one, NULL, &err);
	} else {
		r = mtls_policy_remove(ca, po.pol.name, &err);
		if (r == 0) {
			printf("removed signing policy '%s'\n", po.pol.name);
		}
	}
	rc = r == 0 ? 0 : cli_fail(&err);
out:
	mtls_ca_free(ca);
	policy_opts_free(&po);
	return rc;
}
