/* mtls sign REQ.csr --profile P : sign a partner's CSR under our policy */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/inspect.h"
#include "mtls/pki.h"
#include "cli.h"
#include "sign_policy.h"

static const char usage[] =
    "usage: mtls sign REQ.csr --profile server|client|node [--name NAME]\n"
    "                 [--subject DN | --subject-allow PATTERN...] [--san LIST]\n"
    "                 [--san-allow PATTERNS] [--days N] [--cert-policy OID]...\n"
    "                 [--renew] [--out FILE]\n"
    "                 [--save-policy NAME] [--ca-dir DIR] [--ca-pass SPEC] [--force]\n"
    "                 [--json]\n"
    "       mtls sign REQ.csr --policy NAME [--name NAME] [--renew] [--out FILE]\n"
    "\n"
    "Signs a partner's certificate signing request under our policy. First the\n"
    "CSR's signature must verify (proof of possession); weak keys (RSA < 2048,\n"
    "curves other than P-256/384/521), requests for CA:TRUE and malformed SANs\n"
    "are refused. Then every choice is ours, never the request's:\n"
    "\n"
    "  subject   --subject DN; else the CSR's subject if it matches a\n"
    "            --subject-allow pattern RDN by RDN; else CN=NAME. Control\n"
    "            characters, empty values, values over RFC 5280's bounds (CN, O,\n"
    "            OU: 64) and an empty subject without SANs are refused.\n"
    "  SANs      closed: the names --san gives, plus those the CSR asks for\n"
    "            that match --san-allow; any other requested SAN is refused.\n"
    "  extensions  from the profile; requested extensions are never copied.\n"
    "  policies  certificatePolicies: exactly the --cert-policy OIDs; a CSR\n"
    "            asking for any other policy is refused.\n"
    "  name      --name, else the CSR's CN. Names are unique: a partner's\n"
    "            certificate never takes the name of one of ours. A name that\n"
    "            already holds a partner certificate takes a new one only with\n"
    "            --renew (the new one supersedes the old).\n"
    "\n"
    "Writes the certificate and FILE's .chain.pem (certificate + CA), records it\n"
    "in the inventory as a partner's (renew and rotate never re-key it), and\n"
    "prints the CSR's SHA-256 and the certificate's SHA-256 fingerprint to\n"
    "compare with the partner out of band.\n"
    "\n"
    "  --profile P           server, client or node\n"
    "  --name NAME           inventory name (default: the CSR's CN)\n"
    "  --subject DN          the subject to give, e.g. 'CN=api,O=Partner'\n"
    "  --subject-allow PAT   keep the CSR's subject when it matches PAT per RDN,\n"
    "                        e.g. 'CN=*.partner.example,O=Partner' (repeatable)\n"
    "  --san LIST            SANs to give: dns:h,ip:a,uri:u,email:e\n"
    "  --san-allow PATS      comma-separated globs a requested SAN must match,\n"
    "                        e.g. 'dns:*.partner.example,ip:192.0.2.*'\n"
    "  --days N              validity (default 397)\n"
    "  --cert-policy OID     certificate policy to assert, in dotted numbers\n"
    "                        (repeatable; RFC 5280 4.2.1.4); our CA must assert\n"
    "                        it too unless it is the root\n"
    "  --renew               NAME holds a partner certificate: sign its successor\n"
    "  --policy NAME         sign under the stored policy NAME (see mtls policy);\n"
    "                        NAME is also the default inventory name\n"
    "  --save-policy NAME    store this command's policy as NAME for the next CSR\n"
    "  --out FILE            certificate output (default: REQ with .crt)\n"
    "  --ca-dir DIR          the CA (default $MTLS_CA_DIR or ./pki)\n"
    "  --ca-pass SPEC        password of the CA key, when encrypted\n"
    "  --force               replace existing output files (and a saved policy)\n"
    "  --json                print {name, profile, origin, files, certificate,\n"
    "                        csr, supersedes} on stdout (docs/json.md)\n"
    "\n"
    "Exit status: 0 signed, 1 refused or failed (one line naming the rule),\n"
    "2 usage error.\n"
    "\n"
    "examples:\n"
    "  mtls sign partner.csr --profile client --name acme-client \\\n"
    "      --subject-allow 'CN=*.partner.example,O=Partner' \\\n"
    "      --san-allow 'dns:*.partner.example' --save-policy acme\n"
    "  mtls sign next.csr --policy acme --name acme-client --renew\n";

static char *
out_with(const char *in, const char *ext)
{
	size_t n = strlen(in), e = strlen(ext);
	char *o = malloc(n + e + 1);

	if (o == NULL) {
		return NULL;
	}
	if (n > 4 && (strcmp(in + n - 4, ".csr") == 0 || strcmp(in + n - 4, ".crt") == 0 ||
		strcmp(in + n - 4, ".pem") == 0)) {
		n -= 4;
	}
	snprintf(o, n + e + 1, "%.*s%s", (int)n, in, ext);
	return o;
}

struct sign_args {
	const char *in, *out, *name, *ca_dir, *ca_pass, *policy, *save;
	struct policy_opts po;
	int force, renew, json;
};

static int
sign_parse(int argc, char **argv, struct sign_args *a)
{
	static const struct option opts[] = {
	    POLICY_OPTIONS,
	    {"out", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"renew", no_argument, NULL, 'r'},
	    {"policy", required_argument, NULL, 'p'},
	    {"save-policy", required_argument, NULL, 'w'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'c'},
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = policy_opt("sign", c, optarg, &a->po);
		if (r != 1) {
			if (r != 0) {
				return r;
			}
			continue;
		}
		switch (c) {
		case 'o': a->out = optarg; break;
		case 'n': a->name = optarg; break;
		case 'r': a->renew = 1; break;
		case 'p': a->policy = optarg; break;
		case 'w': a->save = optarg; break;
		case 'd': a->ca_dir = optarg; break;
		case 'c': a->ca_pass = optarg; break;
		case 'f': a->force = 1; break;
		case 'j': a->json = 1; cli_json_errors(); break;
		case 'h': cli_help(usage); return -1;
		default: return cli_bad_option("sign");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("sign", "give exactly one CSR file");
	}
	a->in = argv[optind];
	if (a->policy != NULL) {
		/* A stored policy is the whole policy: signed exactly as before. */
		if (a->po.given || a->save != NULL) {
			return cli_usage("sign", "--policy NAME is the whole policy: "
			    "give no --profile, --subject*, --san*, --days, --cert-policy "
			    "or --save-policy");
		}
		return 0;
	}
	return policy_opts_done("sign", &a->po);
}

static int
load_policy(const struct mtls_sign_policy *p, void *arg)
{
	struct mtls_sign_policy *out = arg;

	out->name = p->name ? strdup(p->name) : NULL;
	out->profile = p->profile;
	out->subject = p->subject ? strdup(p->subject) : NULL;
	out->subject_allow = p->subject_allow ? strdup(p->subject_allow) : NULL;
	out->sans = p->sans ? strdup(p->sans) : NULL;
	out->san_allow = p->san_allow ? strdup(p->san_allow) : NULL;
	out->days = p->days;
	out->cert_policies = p->cert_policies ? strdup(p->cert_policies) : NULL;
	return 0;
}

static void
stored_free(struct mtls_sign_policy *p)
{
	free((char *)p->name);
	free((char *)p->subject);
	free((char *)p->subject_allow);
	free((char *)p->sans);
	free((char *)p->san_allow);
	free((char *)p->cert_policies);
}

/* Certificate and chain (certificate + CA) written together, and with the
 * open inventory transaction: they become visible at once. */
static int
write_outputs(struct mtls_ca *ca, X509 *cert, const char *out, const char *chain,
    int force, struct mtls_err *err)
{
	struct mtls_fileset *fs = mtls_fileset_new(force, err);
	char *pem = NULL, *chain_pem = NULL;
	size_t pem_len = 0, chain_len = 0;
	int rc = -1, committed = 0;

	if (fs == NULL || mtls_cert_append_pem(cert, &pem, &pem_len, err) != 0 ||
	    mtls_cert_append_pem(cert, &chain_pem, &chain_len, err) != 0 ||
	    mtls_cert_append_pem(mtls_ca_cert(ca), &chain_pem, &chain_len, err) != 0) {
		goto out;
	}
	if (mtls_fileset_add(fs, out, pem, pem_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_add(fs, chain, chain_pem, chain_len, MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	committed = 1;
	if (mtls_ca_commit_files(ca, fs, "sign", err) != 0) {
		goto out;
	}
	rc = 0;
out:
	if (!committed) {
		mtls_ca_rollback(ca);
	}
	OPENSSL_free(pem);
	OPENSSL_free(chain_pem);
	mtls_fileset_free(fs);
	return rc;
}

static void
print_result(const struct sign_args *a, const struct mtls_sign_policy *pol,
    const struct mtls_sign_result *res, X509_REQ *req, const char *out,
    const char *chain)
{
	char fp[200], *subj = mtls_name_format(X509_get_subject_name(res->cert));
	char *asked = mtls_name_format(X509_REQ_get_subject_name(req));
	GENERAL_NAMES *g = X509_get_ext_d2i(res->cert, NID_subject_alt_name, NULL, NULL);
	char *sans = mtls_san_format(g);

	printf("signed %s as %s '%s' (a partner's) -> %s, %s\n", a->in,
	    mtls_profile_name(pol->profile), res->name, out, chain);
	printf("subject: %s\n", subj ? subj : "?");
	if (res->subject_replaced) {
		printf("  (the CSR asked for '%s'; our policy decides the subject)\n",
		    asked ? asked : "");
	}
	printf("SANs: %s\n", sans && *sans ? sans : "(none)");
	if (res->supersedes[0] != '\0') {
		printf("supersedes serial %s\n", res->supersedes);
	}
	if (mtls_csr_fingerprint(req, fp, sizeof(fp), NULL) == 0) {
		printf("CSR SHA-256 %s\n", fp);
	}
	mtls_cert_fingerprint(res->cert, EVP_sha256(), fp, sizeof(fp));
	printf("SHA-256 Fingerprint=%s\n", fp);
	printf("(compare both with the partner out of band)\n");
	free(sans);
	GENERAL_NAMES_free(g);
	OPENSSL_free(subj);
	OPENSSL_free(asked);
}

/* The --json form of print_result (docs/json.md): the certificate object
 * as issue prints it, and the CSR's subject and fingerprint to compare
 * with the partner. */
static void
print_result_json(const struct mtls_sign_policy *pol,
    const struct mtls_sign_result *res, X509_REQ *req, const char *out,
    const char *chain)
{
	json_t *v = json_object(), *csr = json_object();
	char fp[200], *asked = mtls_name_format(X509_REQ_get_subject_name(req));

	json_object_set_new(v, "name", json_string(res->name));
	json_object_set_new(v, "profile", json_string(mtls_profile_name(pol->profile)));
	json_object_set_new(v, "origin", json_string("partner"));
	json_object_set_new(v, "files", json_pack("[s, s]", out, chain));
	json_object_set_new(v, "certificate", mtls_cert_to_json(res->cert));
	json_object_set_new(csr, "subject", asked != NULL ? json_string(asked) : json_null());
	json_object_set_new(csr, "sha256", mtls_csr_fingerprint(req, fp, sizeof(fp),
	    NULL) == 0 ? cli_json_fingerprint(fp) : json_null());
	json_object_set_new(v, "csr", csr);
	json_object_set_new(v, "supersedes", res->supersedes[0] != '\0' ?
	    json_string(res->supersedes) : json_null());
	cli_json_print(v);
	OPENSSL_free(asked);
}

static int
sign_run(struct sign_args *a, struct mtls_err *err)
{
	X509_REQ *req = NULL;
	struct mtls_ca *ca = NULL;
	struct mtls_sign_policy stored, *pol = &a->po.pol;
	struct mtls_sign_result res;
	char *out = NULL, *chain = NULL;
	int rc = -1;

	memset(&stored, 0, sizeof(stored));
	memset(&res, 0, sizeof(res));
	req = mtls_load_csr(a->in, err);
	out = a->out ? strdup(a->out) : out_with(a->in, ".crt");
	chain = out != NULL ? out_with(out, ".chain.pem") : NULL;
	ca = req != NULL ? mtls_ca_open(cli_ca_dir(a->ca_dir), err) : NULL;
	if (ca == NULL || out == NULL || chain == NULL) {
		goto out;
	}
	if (a->policy != NULL) {
		if (mtls_policy_get(ca, a->policy, load_policy, &stored, err) != 0) {
			goto out;
		}
		pol = &stored;
	}
	/* Checked before signing, so a refusal leaves no orphan certificate. */
	if (!a->force && (access(out, F_OK) == 0 || access(chain, F_OK) == 0)) {
		mtls_err_set(err, MTLS_E_EXISTS, "%s exists (give --force to replace it)",
		    access(out, F_OK) == 0 ? out : chain);
		goto out;
	}
	if (mtls_ca_unlock(ca, a->ca_pass, err) != 0 || cli_ca_lock(ca, err) != 0 ||
	    mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	/* A stored policy keeps its own name (freed with it). */
	if (a->policy == NULL) {
		pol->name = a->save;
	}
	/* Recorded and written together: a certificate that exists is
	 * always in the inventory (and so can be revoked). */
	if (mtls_ca_sign_partner(ca, req, a->name ? a->name : a->policy, pol,
		a->renew, &res, err) != 0 ||
	    (a->save != NULL && mtls_policy_save(ca, pol, a->force, err) != 0)) {
		mtls_ca_rollback(ca);
		goto out;
	}
	if (write_outputs(ca, res.cert, out, chain, a->force, err) != 0) {
		goto out;
	}
	if (a->json) {
		print_result_json(pol, &res, req, out, chain);
	} else {
		print_result(a, pol, &res, req, out, chain);
	}
	if (a->save != NULL) {
		fprintf(a->json ? stderr : stdout, "saved signing policy '%s': sign the next CSR with --policy %s\n",
		    a->save, a->save);
	}
	rc = 0;
out:
	stored_free(&stored);
	X509_free(res.cert);
	free(out);
	free(chain);
	mtls_ca_free(ca);
	X509_REQ_free(req);
	return rc;
}

int
cmd_sign(int argc, char **argv)
{
	struct sign_args a;
	struct mtls_err err;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_err_clear(&err);
	rc = sign_parse(argc, argv, &a);
	if (rc == 0) {
		rc = sign_run(&a, &err) == 0 ? 0 : cli_fail(&err);
	} else if (rc < 0) {
		rc = 0;
	}
	policy_opts_free(&a.po);
	return rc;
}
