/* mtls bundle NAME --for TARGET: the files and snippet one server wants */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtls/bundle.h"
#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "cli.h"
#include "store_cli.h"
#include "deploy.h"

static const char usage[] =
    "usage: mtls bundle NAME --for TARGET [options]\n"
    "\n"
    "Writes everything TARGET needs for mutual TLS with identity NAME into one\n"
    "directory: its files in the form TARGET reads, a configuration snippet\n"
    "that REQUIRES client certificates from the CA and TLS 1.2 or later, and\n"
    "README.txt saying what each file is and how to install it. NAME is an\n"
    "identity issued before (NAME.key, NAME.chain.pem or NAME.crt in --from)\n"
    "or issued now with --issue.\n"
    "\n"
    "targets:\n"
    "  nginx     NAME.chain.pem, NAME.key, ca.crt, nginx.conf (server block)\n"
    "  apache    NAME.chain.pem, NAME.key, ca.crt, apache.conf (VirtualHost)\n"
    "  haproxy   NAME.pem (chain + key), ca.crt, haproxy.cfg (frontend)\n"
    "  stunnel   NAME.chain.pem, NAME.key, ca.crt, stunnel.conf (service)\n"
    "  tomcat    NAME.p12, truststore.p12, server.xml (Connector)      [--pass]\n"
    "  activemq  broker.ks, broker.ts, client.ks, client.ts (JKS),\n"
    "            activemq.xml (sslContext, ssl:// transport), client-ssl.args\n"
    "                                                                  [--pass]\n"
    "  java      NAME.p12, truststore.p12, javax-net-ssl.args         [--pass]\n"
    "  curl      NAME.crt, NAME.key, ca.crt, curl.sh (the command line)\n"
    "\n"
    "  --for TARGET      one of the targets above (required)\n"
    "  --out DIR         where to write (default bundle-NAME-TARGET)\n"
    "  --from DIR        where NAME's files are (default .)\n"
    "  --key-pass SPEC   password of NAME.key when it is encrypted (the\n"
    "                    bundle's copy is not: servers start unattended)\n"
    "  --pass SPEC       keystore password (tomcat, activemq, java); written\n"
    "                    only into the files that target reads it from (0600)\n"
    "  --legacy          PKCS#12 stores with PBE-SHA1-3DES and a SHA-1 MAC,\n"
    "                    for Java before 8u301 (tomcat, java)\n"
    "  --issue PROFILE   issue NAME now (server, client or node) into --from\n"
    "  --san LIST        SANs for --issue: dns:HOST,ip:ADDR (repeatable)\n"
    "  --client CNAME    activemq: the client identity for client.ks (default\n"
    "                    NAME-client; issued too with --issue)\n"
    "  --listen [A:]PORT listening socket in the snippet (default 443; tomcat\n"
    "                    8443; activemq 0.0.0.0:61617)\n"
    "  --backend H:P     haproxy, stunnel: where to forward (127.0.0.1:8080)\n"
    "  --url URL         curl: default URL of curl.sh\n"
    "  --install-dir DIR absolute directory the snippet names (default: the\n"
    "                    absolute path of --out)\n"
    "  --crl FILE        nginx, activemq: refuse clients this CRL revokes\n"
    "                    (ssl_crl, crlPath; the path as the server sees it,\n"
    "                    e.g. where 'mtls crl --out' writes; a relative path\n"
    "                    is made absolute from the current directory)\n"
    "  --ca-dir DIR      the CA (default $MTLS_CA_DIR or ./pki); its ca.crt is\n"
    "                    what peers' certificates must chain to\n"
    "  --ca-pass SPEC    password of the CA key, for --issue\n"
    "  --force           replace the files of an existing bundle\n"
    "\n"
    "SPEC is pass:TEXT, env:VAR, file:PATH, fd:N or stdin.\n"
    "\n"
    "examples:\n"
    "  mtls bundle api --for nginx --issue server --san dns:api.example\n"
    "  mtls bundle partner --for curl --issue client --url https://api.example/\n"
    "  mtls bundle broker --for activemq --issue server --pass env:STORE_PASS\n"
    "  mtls bundle app --for tomcat --from certs/ --pass file:/root/tomcat.pw\n";

#define SAN_MAX 4096

struct bundle_args {
	struct mtls_bundle_opts b;
	const char *name, *target, *from, *key_pass, *pass_spec, *issue;
	const char *client, *ca_dir, *ca_pass;
	char sans[SAN_MAX];
	char out[4096], client_buf[512], crl_abs[4096];
	int force;
};

static int
parse_args(int argc, char **argv, struct bundle_args *a, struct mtls_err *err)
{
	static const struct option opts[] = {
	    {"for", required_argument, NULL, 'F'},
	    {"out", required_argument, NULL, 'o'},
	    {"from", required_argument, NULL, 'i'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"pass", required_argument, NULL, 'p'},
	    {"legacy", no_argument, NULL, 'L'},
	    {"issue", required_argument, NULL, 'I'},
	    {"san", required_argument, NULL, 's'},
	    {"client", required_argument, NULL, 'C'},
	    {"listen", required_argument, NULL, 'l'},
	    {"backend", required_argument, NULL, 'B'},
	    {"url", required_argument, NULL, 'u'},
	    {"install-dir", required_argument, NULL, 'D'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'c'},
	    {"crl", required_argument, NULL, 'R'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	size_t used;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': a->target = optarg; break;
		case 'o': a->b.out_dir = optarg; break;
		case 'i': a->from = optarg; break;
		case 'K': a->key_pass = optarg; break;
		case 'p': a->pass_spec = optarg; break;
		case 'L': a->b.legacy = 1; break;
		case 'I': a->issue = optarg; break;
		case 's':
			used = strlen(a->sans);
			if (used + strlen(optarg) + 2 > sizeof(a->sans)) {
				return cli_usage("bundle", "too many --san values");
			}
			snprintf(a->sans + used, sizeof(a->sans) - used, "%s%s",
			    used ? "," : "", optarg);
			break;
		case 'C': a->client = optarg; break;
		case 'l': a->b.listen = optarg; break;
		case 'B': a->b.backend = optarg; break;
		case 'u': a->b.url = optarg; break;
		case 'D': a->b.install_dir = optarg; break;
		case 'R': a->b.crl = optarg; break;
		case 'd': a->ca_dir = optarg; break;
		case 'c': a->ca_pass = optarg; break;
		case 'f': a->force = 1; break;
		case 'h': return cli_help(usage) - 1;
		default: return cli_bad_option("bundle");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("bundle", optind == argc ? "NAME is missing"
						       : "one NAME at a time");
	}
	a->name = argv[optind];
	if (a->target == NULL) {
		return cli_usage("bundle", "--for is required: nginx, apache, "
		    "haproxy, stunnel, tomcat, activemq, java or curl");
	}
	if (mtls_bundle_target_parse(a->target, &a->b.target, err) != 0) {
		return cli_fail(err);
	}
	return 0;
}

/* Options that do nothing for the chosen target are mistakes. */
static int
check_combination(struct bundle_args *a)
{
	enum mtls_bundle_target t = a->b.target;
	const char *tn = mtls_bundle_target_name(t);

	if (a->pass_spec != NULL && !mtls_bundle_target_needs_pass(t)) {
		return cli_usage("bundle", "--pass is for tomcat, activemq and "
		    "java; %s's files hold no keystore", tn);
	}
	if (a->b.legacy && t != MTLS_BUNDLE_TOMCAT && t != MTLS_BUNDLE_JAVA) {
		return cli_usage("bundle", "--legacy applies to the PKCS#12 stores "
		    "of tomcat and java");
	}
	if (a->sans[0] != '\0' && a->issue == NULL) {
		return cli_usage("bundle", "--san goes with --issue");
	}
	if (a->b.crl != NULL && t != MTLS_BUNDLE_NGINX && t != MTLS_BUNDLE_ACTIVEMQ) {
		return cli_usage("bundle", "--crl applies to nginx and activemq");
	}
	/* A relative --crl would be read relative to the server's own
	 * directory, and a renewal run elsewhere would rebuild the bundle
	 * with a path pointing somewhere else: it is taken from here, once,
	 * for the snippet and for the deployment record. */
	if (a->b.crl != NULL && a->b.crl[0] != '/') {
		char cwd[2048];

		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    (size_t)snprintf(a->crl_abs, sizeof(a->crl_abs), "%s/%s", cwd,
			strncmp(a->b.crl, "./", 2) == 0 ? a->b.crl + 2 : a->b.crl) >=
			sizeof(a->crl_abs)) {
			return cli_usage("bundle", "--crl %s: give an absolute path",
			    a->b.crl);
		}
		a->b.crl = a->crl_abs;
	}
	if (a->client != NULL && t != MTLS_BUNDLE_ACTIVEMQ) {
		return cli_usage("bundle", "--client applies to activemq");
	}
	if (a->b.listen != NULL && !mtls_bundle_target_is_server(t)) {
		return cli_usage("bundle", "--listen applies to server targets");
	}
	if (a->b.backend != NULL && t != MTLS_BUNDLE_HAPROXY &&
	    t != MTLS_BUNDLE_STUNNEL) {
		return cli_usage("bundle", "--backend applies to haproxy and stunnel");
	}
	if (a->b.url != NULL && t != MTLS_BUNDLE_CURL) {
		return cli_usage("bundle", "--url applies to curl");
	}
	return 0;
}

/* Refuse before issuing anything: an existing bundle is replaced only
 * with --force. */
static int
check_out_dir(const char *dir, int force, struct mtls_err *err)
{
	DIR *d;
	struct dirent *e;
	int used = 0;

	if (force) {
		return 0;
	}
	d = opendir(dir);
	if (d == NULL) {
		return errno == ENOENT ? 0
				       : mtls_err_sys(err, MTLS_E_IO, "opening %s", dir);
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			used = 1;
			break;
		}
	}
	closedir(d);
	if (used) {
		return mtls_err_set(err, MTLS_E_EXISTS,
		    "%s already holds files: use --force to replace the bundle, "
		    "or --out another directory", dir);
	}
	return 0;
}

static int
issue_now(struct bundle_args *a, struct mtls_ca *ca, struct mtls_err *err)
{
	struct mtls_identity_opts id;
	struct mtls_fileset *fs = mtls_fileset_new(0, err);
	X509 *cert = NULL, *ccert = NULL;
	char what[256];
	int rc = -1;

	if (fs == NULL) {
		return -1;
	}
	memset(&id, 0, sizeof(id));
	id.name = a->name;
	id.out_dir = a->from;
	id.sans = a->sans[0] ? a->sans : NULL;
	if (mtls_profile_parse(a->issue, &id.profile, err) != 0 ||
	    mtls_ca_unlock(ca, a->ca_pass, err) != 0 ||
	    cli_ca_lock(ca, err) != 0 || mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	cert = mtls_identity_issue(ca, &id, fs, err);
	if (cert != NULL && a->b.target == MTLS_BUNDLE_ACTIVEMQ) {
		memset(&id, 0, sizeof(id));
		id.name = a->client;
		id.out_dir = a->from;
		id.profile = MTLS_PROFILE_CLIENT;
		ccert = mtls_identity_issue(ca, &id, fs, err);
	}
	if (cert == NULL || (a->b.target == MTLS_BUNDLE_ACTIVEMQ && ccert == NULL)) {
		mtls_ca_rollback(ca);
		goto out;
	}
	snprintf(what, sizeof(what), "bundle --issue %s", a->name);
	if (mtls_ca_commit_files(ca, fs, what, err) != 0) {
		goto out;
	}
	printf("issued %s (%s) into %s\n", a->name, a->issue, a->from);
	deploy_note_ca(ca, a->name, a->from, "files", "");
	if (ccert != NULL) {
		printf("issued %s (client) into %s\n", a->client, a->from);
		deploy_note_ca(ca, a->client, a->from, "files", "");
	}
	rc = 0;
out:
	X509_free(cert);
	X509_free(ccert);
	mtls_fileset_free(fs);
	return rc;
}

static int
run(struct bundle_args *a, const char *pass, struct mtls_err *err)
{
	struct mtls_bundle_id id = {0}, client = {0};
	struct mtls_fileset *fs = NULL;
	struct mtls_ca *ca = NULL;
	const char *ca_dir = cli_ca_dir(a->ca_dir);
	char ca_path[4200];
	X509 *ca_cert = NULL;
	int rc = -1, amq = a->b.target == MTLS_BUNDLE_ACTIVEMQ;

	a->b.pass = pass;
	if (check_out_dir(a->b.out_dir, a->force, err) != 0) {
		return -1;
	}
	if (a->issue != NULL) {
		ca = mtls_ca_open(ca_dir, err);
		if (ca == NULL || issue_now(a, ca, err) != 0) {
			goto out;
		}
		/* The trust anchor: the root above an intermediate CA. */
		ca_cert = X509_dup(mtls_ca_root(ca));
	} else {
		snprintf(ca_path, sizeof(ca_path), "%s/root.crt", ca_dir);
		if (access(ca_path, F_OK) != 0) {
			snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", ca_dir);
		}
		ca_cert = mtls_load_cert(ca_path, err);
	}
	if (ca_cert == NULL) {
		goto out;
	}
	if (mtls_bundle_id_load(&id, a->from, a->name, a->key_pass, err) != 0 ||
	    (amq && mtls_bundle_id_load(&client, a->from, a->client,
			a->key_pass, err) != 0)) {
		goto out;
	}
	fs = mtls_fileset_new(a->force, err);
	if (fs == NULL ||
	    mtls_bundle_stage(&a->b, &id, amq ? &client : NULL, ca_cert, fs,
		err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	printf("bundle for %s: %zu files in %s/ (read %s/README.txt)\n",
	    mtls_bundle_target_name(a->b.target), mtls_fileset_count(fs),
	    a->b.out_dir, a->b.out_dir);
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_bundle_id_clear(&id);
	mtls_bundle_id_clear(&client);
	X509_free(ca_cert);
	mtls_ca_free(ca);
	return rc;
}

/* Noted so that renew and rotate rebuild this bundle from the renewed
 * files, with the same options. */
static void
note(const struct bundle_args *a)
{
	char args[DEPLOY_ARGS_MAX] = "", fmt[64];
	const char *tn = mtls_bundle_target_name(a->b.target);

	deploy_args_add(args, sizeof(args), "--for", tn);
	if (a->b.legacy) {
		deploy_args_add(args, sizeof(args), "--legacy", NULL);
	}
	if (a->client != NULL && a->b.target == MTLS_BUNDLE_ACTIVEMQ) {
		deploy_args_add(args, sizeof(args), "--client", a->client);
	}
	if (a->b.listen != NULL) {
		deploy_args_add(args, sizeof(args), "--listen", a->b.listen);
	}
	if (a->b.backend != NULL) {
		deploy_args_add(args, sizeof(args), "--backend", a->b.backend);
	}
	if (a->b.url != NULL) {
		deploy_args_add(args, sizeof(args), "--url", a->b.url);
	}
	if (a->b.install_dir != NULL) {
		deploy_args_add(args, sizeof(args), "--install-dir", a->b.install_dir);
	}
	if (a->b.crl != NULL) {
		deploy_args_add(args, sizeof(args), "--crl", a->b.crl);
	}
	deploy_args_pass(args, sizeof(args), a->pass_spec);
	snprintf(fmt, sizeof(fmt), "bundle:%s", tn);
	deploy_note(cli_ca_dir(a->ca_dir), a->name, a->b.out_dir, fmt, args);
}

int
cmd_bundle(int argc, char **argv)
{
	struct bundle_args a;
	struct mtls_err err;
	char *pass = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_err_clear(&err);
	rc = parse_args(argc, argv, &a, &err);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	rc = check_combination(&a);
	if (rc != 0) {
		return rc;
	}
	if (a.from == NULL) {
		a.from = ".";
	}
	if (a.b.out_dir == NULL) {
		snprintf(a.out, sizeof(a.out), "bundle-%s-%s", a.name,
		    mtls_bundle_target_name(a.b.target));
		a.b.out_dir = a.out;
	}
	if (a.b.target == MTLS_BUNDLE_ACTIVEMQ && a.client == NULL) {
		snprintf(a.client_buf, sizeof(a.client_buf), "%s-client", a.name);
		a.client = a.client_buf;
	}
	if (mtls_bundle_target_needs_pass(a.b.target)) {
		pass = mtls_pass_get(a.pass_spec, "Keystore password: ", 1, &err);
		if (pass == NULL) {
			return cli_fail(&err);
		}
		sc_pass_warn(pass, a.b.target == MTLS_BUNDLE_ACTIVEMQ ? SC_JKS : SC_P12);
	}
	rc = run(&a, pass, &err) == 0 ? 0 : cli_fail(&err);
	if (rc == 0) {
		note(&a);
	}
	mtls_pass_free(pass);
	return rc;
}
