/* mtls verify CERT */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtls/diag.h"
#include "mtls/inspect.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls verify CERT [--ca FILE] [--purpose client|server|node]\n"
    "                   [--host NAME] [--at TIME] [--crl FILE] [--ocsp[=URL]]\n"
    "                   [--ca-dir DIR] [--require-policy OID]...\n"
    "                   [--require-explicit-policy] [--json]\n"
    "\n"
    "Validates CERT's chain with OpenSSL (intermediates may follow the leaf in\n"
    "CERT) and explains a failure specifically: which certificate and which\n"
    "rule (expired on DATE, not yet valid, unknown issuer, wrong purpose, name\n"
    "mismatch, self-signed, revoked).\n"
    "\n"
    "  --ca FILE        trust anchors (default: the CA's ca.crt from\n"
    "                   $MTLS_CA_DIR or ./pki if present, else the system store)\n"
    "  --purpose P      client (EKU clientAuth), server (serverAuth) or node\n"
    "                   (both)\n"
    "  --host NAME      DNS name or IP address the certificate must match\n"
    "  --at TIME        verify as of TIME (\"YYYY-MM-DD\" or \"YYYY-MM-DD HH:MM:SS\",\n"
    "                   UTC, or @EPOCH)\n"
    "  --crl FILE       also check revocation against this CRL (PEM or DER)\n"
    "  --ocsp[=URL]     also ask OCSP about CERT and every intermediate CA\n"
    "                   above it (not the root), as serve --ocsp does: CERT\n"
    "                   at URL (default: the OCSP URL in its AIA), each CA\n"
    "                   at the OCSP URL in its own AIA\n"
    "  --ca-dir DIR     the CA whose inventory is consulted (default\n"
    "                   $MTLS_CA_DIR or ./pki when present): a certificate it\n"
    "                   revoked is invalid; one a renewal superseded is valid\n"
    "                   with a warning naming the current one\n"
    "  --json           the verdict as JSON (docs/json.md): {file, valid,\n"
    "                   message, fix, status, ocsp, purpose, host,\n"
    "                   certificate}; the exit status is the same\n"
    "  --require-policy OID  the chain must be valid for this certificate\n"
    "                   policy (RFC 5280 6.1): every certificate from the CA\n"
    "                   down asserts it, or anyPolicy where no CA inhibits\n"
    "                   it (repeatable: any one of them; dotted numbers)\n"
    "  --require-explicit-policy  the chain must be valid for some policy\n"
    "                   asserted by every certificate from the CA down\n"
    "                   (malformed policy extensions and a CA's policy\n"
    "                   constraints are always checked)\n"    "\n"
    "Exit status: 0 valid, 1 invalid, revoked or unreadable, 2 usage.\n"
    "\n"
    "examples:\n"
    "  mtls verify publish.crt --purpose server --host publish.example\n"
    "  mtls verify author.crt --purpose client --crl pki/crl.pem\n"
    "  mtls verify partner.crt --ca partner-ca.crt --ocsp\n"
    "  mtls verify partner.crt --purpose client --require-policy 1.3.6.1.4.1.99999.1\n";

static int
parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	if (s[0] == '@') {
		char *e = NULL;
		long long v = strtoll(s + 1, &e, 10);

		if (e == s + 1 || *e != '\0') {
			return -1;
		}
		*out = (time_t)v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end == NULL || *end != '\0') {
		return -1;
	}
	*out = timegm(&tm);
	return 0;
}

static const char *
default_ca(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/ca.crt", cli_ca_dir(NULL));
	return access(path, R_OK) == 0 ? path : NULL;
}

/* The chain is fine; the CA's inventory may still know better (a CRL
 * given with --crl was already applied by the chain check). */
static int
inventory_step(X509 *leaf, const char *ca_dir, struct mtls_standing *st,
    struct mtls_err *err)
{
	if (mtls_cert_standing(leaf, ca_dir, NULL, NULL, st, err) != 0) {
		return -1;
	}
	if (st->state != NULL && strcmp(st->state, "revoked") == 0) {
		return mtls_err_set(err, MTLS_E_VERIFY, "%s: %s", st->detail, st->fix);
	}
	return 0;
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"purpose", required_argument, NULL, 'p'},
	    {"host", required_argument, NULL, 'H'},
	    {"at", required_argument, NULL, 'a'},
	    {"crl", required_argument, NULL, 'r'},
	    {"ocsp", optional_argument, NULL, 'O'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"require-policy", required_argument, NULL, 'P'},
	    {"require-explicit-policy", no_argument, NULL, 'E'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_verify_opts o;
	struct mtls_revocation_opts ro;
	struct mtls_standing st;
	struct mtls_err err;
	STACK_OF(X509) *certs = NULL;
	X509 *leaf;
	char *subj;
	int c, rc, ocsp = 0, node = 0, json = 0;
	const char *ocsp_url = NULL, *ca_dir = NULL;
	const char *policies[16];

	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.ca_file = optarg; break;
		case 'p':
			if (strcmp(optarg, "client") == 0) {
				o.purpose = MTLS_PURPOSE_CLIENT;
			} else if (strcmp(optarg, "server") == 0) {
				o.purpose = MTLS_PURPOSE_SERVER;
			} else if (strcmp(optarg, "node") == 0) {
				/* Both roles, as the node profile (and doctor --role node). */
				o.purpose = MTLS_PURPOSE_CLIENT;
				node = 1;
			} else {
				return cli_usage("verify", "--purpose must be client, server or node, not '%s'", optarg);
			}
			break;
		case 'H': o.host = optarg; break;
		case 'a':
			if (parse_time(optarg, &o.at) != 0) {
				return cli_usage("verify", "bad --at '%s': use YYYY-MM-DD[ HH:MM:SS] or @EPOCH", optarg);
			}
			break;
		case 'r': o.crl_file = optarg; break;
		case 'd': ca_dir = optarg; break;
		case 'P':
			if (mtls_policy_oid_check(optarg, &err) != 0) {
				return cli_usage("verify", "--require-policy: %s", err.msg);
			}
			if (o.npolicies == sizeof(policies) / sizeof(policies[0])) {
				return cli_usage("verify", "at most %zu --require-policy",
				    sizeof(policies) / sizeof(policies[0]));
			}
			policies[o.npolicies++] = optarg;
			o.policies = policies;
			break;
		case 'E': o.require_explicit_policy = 1; break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'O': ocsp = 1; ocsp_url = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("verify");
		}
	}
	/* "--ocsp URL" (not "--ocsp=URL"): take the URL-looking operand. */
	if (ocsp && ocsp_url == NULL && optind + 2 == argc &&
	    strstr(argv[optind], "://") != NULL) {
		ocsp_url = argv[optind++];
	} else if (ocsp && ocsp_url == NULL && optind + 2 == argc &&
	    strstr(argv[optind + 1], "://") != NULL) {
		ocsp_url = argv[--argc];
	}
	if (optind + 1 != argc) {
		return cli_usage("verify", "give exactly one CERT file");
	}
	if (o.ca_file == NULL) {
		o.ca_file = default_ca();
	}
	ca_dir = cli_ca_dir(ca_dir);
	if (mtls_load_certs(argv[optind], &certs, &err) != 0) {
		return cli_fail(&err);
	}
	leaf = sk_X509_shift(certs);
	/* --ocsp: the chain the library verified is checked with serve's
	 * walk, once (in node mode on the second pass). */
	memset(&ro, 0, sizeof(ro));
	ro.ocsp = 1;
	ro.ocsp_url = ocsp_url;
	ro.ocsp_timeout_ms = 10000;
	o.revocation = ocsp && !node ? &ro : NULL;
	rc = mtls_verify_cert(leaf, certs, &o, NULL, &err);
	if (rc == 0 && node) {
		o.purpose = MTLS_PURPOSE_SERVER;
		o.revocation = ocsp ? &ro : NULL;
		rc = mtls_verify_cert(leaf, certs, &o, NULL, &err);
	}
	if (rc == 0) {
		rc = inventory_step(leaf, ca_dir, &st, &err);
	}
	if (json) {
		json_t *v = json_object();
		int superseded = st.state != NULL &&
		    strcmp(st.state, "superseded") == 0;

		json_object_set_new(v, "file", json_string(argv[optind]));
		json_object_set_new(v, "valid", json_boolean(rc == 0));
		json_object_set_new(v, "message", json_string(rc == 0 ?
		    (superseded ? st.detail : "valid") : err.msg));
		json_object_set_new(v, "fix", superseded || (st.state != NULL &&
		    strcmp(st.state, "revoked") == 0) ? json_string(st.fix) :
		    json_null());
		json_object_set_new(v, "status", st.state != NULL ?
		    json_string(st.state) : json_null());
		json_object_set_new(v, "ocsp", ocsp && rc == 0 ?
		    json_string("good") : json_null());
		json_object_set_new(v, "purpose", node ? json_string("node") :
		    o.purpose == MTLS_PURPOSE_CLIENT ? json_string("client") :
		    o.purpose == MTLS_PURPOSE_SERVER ? json_string("server") :
		    json_null());
		json_object_set_new(v, "host", o.host != NULL ?
		    json_string(o.host) : json_null());
		json_object_set_new(v, "certificate", mtls_cert_to_json(leaf));
		json_dumpf(v, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(v);
	}
	subj = mtls_name_format(X509_get_subject_name(leaf));
	if (json) {
		/* The verdict is the object above; stderr keeps the sentence. */
		if (rc != 0) {
			fprintf(stderr, "mtls: %s: %s\n", argv[optind], err.msg);
		}
	} else if (rc == 0) {
		printf("%s: OK (%s%s%s%s%s%s)\n", argv[optind], subj ? subj : "?",
		    node ? ", valid client and server certificate" :
		    o.purpose == MTLS_PURPOSE_CLIENT ? ", valid client certificate" : "",
		    !node && o.purpose == MTLS_PURPOSE_SERVER ? ", valid server certificate" : "",
		    o.host ? ", matches " : "", o.host ? o.host : "",
		    ocsp ? ", OCSP: good" : "");
		if (st.state != NULL && strcmp(st.state, "superseded") == 0) {
			fprintf(stderr, "mtls: warning: %s: %s; %s\n", argv[optind],
			    st.detail, st.fix);
		}
	} else {
		fprintf(stderr, "mtls: %s: %s\n", argv[optind], err.msg);
	}
	OPENSSL_free(subj);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	return rc == 0 ? 0 : 1;
}
