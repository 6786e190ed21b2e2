/* mtls/bundle.h: target table, per-target files and snippets, and every
 * check that refuses to write a bundle. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mtls/bundle.h"
#include "mtls/ca.h"
#include "mtls/file.h"
#include "test_util.h"

static char *dir;
static char ids[600], rogue[600], out[600];
static X509 *ca_cert;

static void
issue(const char *ca_dir, const char *to, const char *name,
    enum mtls_profile prof)
{
	struct mtls_ca *ca = mtls_ca_open(ca_dir, NULL);
	struct mtls_fileset *fs = mtls_fileset_new(0, NULL);
	struct mtls_identity_opts o = {0};
	X509 *c;

	assert_non_null(ca);
	assert_int_equal(mtls_ca_unlock(ca, NULL, NULL), 0);
	o.name = name;
	o.profile = prof;
	o.out_dir = to;
	o.sans = prof == MTLS_PROFILE_CLIENT ? NULL : "dns:localhost";
	c = mtls_identity_issue(ca, &o, fs, NULL);
	assert_non_null(c);
	assert_int_equal(mtls_fileset_commit(fs, NULL), 0);
	X509_free(c);
	mtls_fileset_free(fs);
	mtls_ca_free(ca);
}

static int
setup(void **state)
{
	struct mtls_ca_init_opts o = {0};
	char pki[600], rpki[600], crt[700];

	(void)state;
	dir = test_tmpdir();
	snprintf(pki, sizeof(pki), "%s/pki", dir);
	snprintf(rpki, sizeof(rpki), "%s/rogue-pki", dir);
	snprintf(ids, sizeof(ids), "%s/ids", dir);
	snprintf(rogue, sizeof(rogue), "%s/rogue", dir);
	o.dir = pki;
	if (mtls_ca_init(&o, NULL) != 0) {
		return -1;
	}
	o.dir = rpki;
	o.name = "CN=Rogue";
	if (mtls_ca_init(&o, NULL) != 0 || mtls_mkdir_p(ids, 0755, NULL) != 0 ||
	    mtls_mkdir_p(rogue, 0755, NULL) != 0) {
		return -1;
	}
	issue(pki, ids, "srv", MTLS_PROFILE_SERVER);
	issue(pki, ids, "cli", MTLS_PROFILE_CLIENT);
	issue(pki, ids, "node", MTLS_PROFILE_NODE);
	issue(rpki, rogue, "rog", MTLS_PROFILE_NODE);
	snprintf(crt, sizeof(crt), "%s/ca.crt", pki);
	ca_cert = mtls_load_cert(crt, NULL);
	return ca_cert == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(ca_cert);
	test_rmrf(dir);
	free(dir);
	return 0;
}

static void
test_targets(void **state)
{
	static const struct {
		const char *in;
		int ok;
		enum mtls_bundle_target t;
		int pass, server;
	} cases[] = {
	    {"nginx", 1, MTLS_BUNDLE_NGINX, 0, 1},
	    {"Apache2", 1, MTLS_BUNDLE_APACHE, 0, 1},
	    {"httpd", 1, MTLS_BUNDLE_APACHE, 0, 1},
	    {"haproxy", 1, MTLS_BUNDLE_HAPROXY, 0, 1},
	    {"stunnel4", 1, MTLS_BUNDLE_STUNNEL, 0, 1},
	    {"tomcat", 1, MTLS_BUNDLE_TOMCAT, 1, 1},
	    {"activemq", 1, MTLS_BUNDLE_ACTIVEMQ, 1, 1},
	    {"java", 1, MTLS_BUNDLE_JAVA, 1, 0},
	    {"curl", 1, MTLS_BUNDLE_CURL, 0, 0},
	    {"iis", 0, 0, 0, 0},
	    {"", 0, 0, 0, 0},
	    {"nginx ", 0, 0, 0, 0},
	};
	enum mtls_bundle_target t;
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = mtls_bundle_target_parse(cases[i].in, &t, &e);

		assert_int_equal(rc, cases[i].ok ? 0 : -1);
		if (!cases[i].ok) {
			assert_int_equal(e.code, MTLS_E_USAGE);
			assert_non_null(strstr(e.msg, "unknown target"));
			continue;
		}
		assert_int_equal(t, cases[i].t);
		assert_int_equal(mtls_bundle_target_needs_pass(t), cases[i].pass);
		assert_int_equal(mtls_bundle_target_is_server(t), cases[i].server);
	}
	assert_int_equal(mtls_bundle_target_parse(NULL, &t, NULL), -1);
}

/* Stages and commits a bundle of NAME for T into a fresh OUT. */
static int
build(enum mtls_bundle_target t, const char *name, const char *from,
    const char *pass, const char *listen, struct mtls_err *e)
{
	static int n;
	struct mtls_bundle_opts o = {0};
	struct mtls_bundle_id id = {0}, client = {0};
	struct mtls_fileset *fs;
	int rc = -1;

	snprintf(out, sizeof(out), "%s/out%d", dir, n++);
	o.target = t;
	o.out_dir = out;
	o.pass = pass;
	o.listen = listen;
	if (mtls_bundle_id_load(&id, from, name, NULL, e) != 0) {
		return -1;
	}
	if (t == MTLS_BUNDLE_ACTIVEMQ &&
	    mtls_bundle_id_load(&client, ids, "cli", NULL, e) != 0) {
		goto done;
	}
	fs = mtls_fileset_new(0, e);
	if (mtls_bundle_stage(&o, &id, t == MTLS_BUNDLE_ACTIVEMQ ? &client : NULL,
		ca_cert, fs, e) == 0 &&
	    mtls_fileset_commit(fs, e) == 0) {
		rc = 0;
	}
	mtls_fileset_free(fs);
done:
	mtls_bundle_id_clear(&id);
	mtls_bundle_id_clear(&client);
	return rc;
}

static int
file_mode(const char *file)
{
	char p[800];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", out, file);
	return stat(p, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static int
file_has(const char *file, const char *text)
{
	char p[800];
	unsigned char *d = NULL;
	size_t n = 0;
	int found;

	snprintf(p, sizeof(p), "%s/%s", out, file);
	if (mtls_file_read(p, 1 << 20, &d, &n, NULL) != 0) {
		return 0;
	}
	found = strstr((char *)d, text) != NULL;
	mtls_file_free(d, n);
	return found;
}

static void
test_targets_write(void **state)
{
	static const struct {
		enum mtls_bundle_target t;
		const char *name, *snippet, *must, *secret;
	} cases[] = {
	    {MTLS_BUNDLE_NGINX, "srv", "nginx.conf", "ssl_verify_client      on;", "srv.key"},
	    {MTLS_BUNDLE_NGINX, "srv", "nginx.conf", "listen 127.0.0.1:9443 ssl;", "srv.key"},
	    {MTLS_BUNDLE_APACHE, "srv", "apache.conf", "SSLVerifyClient require", "srv.key"},
	    {MTLS_BUNDLE_APACHE, "node", "apache.conf", "<VirtualHost 127.0.0.1:9443>", "node.key"},
	    {MTLS_BUNDLE_HAPROXY, "srv", "haproxy.cfg", "verify required ssl-min-ver TLSv1.2", "srv.pem"},
	    {MTLS_BUNDLE_STUNNEL, "srv", "stunnel.conf", "requireCert = yes", "srv.key"},
	    {MTLS_BUNDLE_TOMCAT, "srv", "server.xml", "certificateVerification=\"required\"", "server.xml"},
	    {MTLS_BUNDLE_TOMCAT, "srv", "server.xml", "address=\"127.0.0.1\"", "srv.p12"},
	    {MTLS_BUNDLE_ACTIVEMQ, "srv", "activemq.xml", "ssl://127.0.0.1:9443?needClientAuth=true", "client.ks"},
	    {MTLS_BUNDLE_ACTIVEMQ, "srv", "client-ssl.args", "javax.net.ssl.keyStore=", "client-ssl.args"},
	    {MTLS_BUNDLE_JAVA, "cli", "javax-net-ssl.args", "trustStoreType=PKCS12", "javax-net-ssl.args"},
	    {MTLS_BUNDLE_JAVA, "srv", "javax-net-ssl.args", "keyStore=", "srv.p12"},
	    {MTLS_BUNDLE_CURL, "cli", "curl.sh", "--cert ", "cli.key"},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int pass = mtls_bundle_target_needs_pass(cases[i].t);
		int rc = build(cases[i].t, cases[i].name, ids,
		    pass ? "changeit" : NULL,
		    mtls_bundle_target_is_server(cases[i].t) ? "127.0.0.1:9443" : NULL,
		    &e);

		if (rc != 0) {
			fail_msg("case %zu: %s", i, e.msg);
		}
		assert_true(file_has(cases[i].snippet, cases[i].must));
		assert_int_equal(file_mode(cases[i].secret), 0600);
		assert_true(file_has("README.txt", cases[i].snippet));
		/* The password goes only where the target reads it. */
		assert_int_equal(file_has("README.txt", "changeit"), 0);
		if (mtls_bundle_target_is_server(cases[i].t) &&
		    strstr(cases[i].snippet, ".args") == NULL) {
			assert_true(file_has(cases[i].snippet, "TLSv1.2"));
		}
	}
}

static void
test_escaping(void **state)
{
	struct mtls_err e;

	(void)state;
	assert_int_equal(build(MTLS_BUNDLE_TOMCAT, "srv", ids, "a&b\"c<d", NULL, &e), 0);
	assert_true(file_has("server.xml", "Password=\"a&amp;b&quot;c&lt;d\""));
	assert_true(file_has("server.xml", "port=\"8443\""));
	assert_int_equal(build(MTLS_BUNDLE_JAVA, "cli", ids, "q\"b\\s", NULL, &e), 0);
	assert_true(file_has("javax-net-ssl.args", "\"-Djavax.net.ssl.keyStorePassword=q\\\"b\\\\s\""));
	assert_int_equal(build(MTLS_BUNDLE_ACTIVEMQ, "srv", ids, "pw", NULL, &e), 0);
	assert_true(file_has("activemq.xml", "ssl://0.0.0.0:61617?needClientAuth=true"));
}

static void
test_refusals(void **state)
{
	static const struct {
		enum mtls_bundle_target t;
		const char *name, *from_rogue, *pass, *listen;
		enum mtls_errcode code;
		const char *msg;
	} cases[] = {
	    {MTLS_BUNDLE_TOMCAT, "srv", NULL, NULL, NULL, MTLS_E_PASSWORD, "need a password"},
	    {MTLS_BUNDLE_JAVA, "cli", NULL, "", NULL, MTLS_E_PASSWORD, "need a password"},
	    {MTLS_BUNDLE_ACTIVEMQ, "srv", NULL, "a${x}", NULL, MTLS_E_USAGE, "would expand"},
	    {MTLS_BUNDLE_NGINX, "cli", NULL, NULL, NULL, MTLS_E_POLICY, "lacks serverAuth"},
	    {MTLS_BUNDLE_TOMCAT, "cli", NULL, "pw", NULL, MTLS_E_POLICY, "lacks serverAuth"},
	    {MTLS_BUNDLE_CURL, "srv", NULL, NULL, NULL, MTLS_E_POLICY, "lacks clientAuth"},
	    {MTLS_BUNDLE_NGINX, "rog", "y", NULL, NULL, MTLS_E_VERIFY, "does not verify against the CA"},
	    {MTLS_BUNDLE_JAVA, "rog", "y", "pw", NULL, MTLS_E_VERIFY, "does not verify"},
	    {MTLS_BUNDLE_NGINX, "srv", NULL, NULL, "0", MTLS_E_USAGE, "bad --listen"},
	    {MTLS_BUNDLE_NGINX, "srv", NULL, NULL, "host:80x", MTLS_E_USAGE, "bad --listen"},
	    {MTLS_BUNDLE_NGINX, "srv", NULL, NULL, "a b:80", MTLS_E_USAGE, "bad --listen"},
	    {MTLS_BUNDLE_NGINX, "nobody", NULL, NULL, NULL, MTLS_E_NOTFOUND, "nobody.key does not exist"},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mtls_err_clear(&e);
		assert_int_equal(build(cases[i].t, cases[i].name,
				     cases[i].from_rogue ? rogue : ids, cases[i].pass,
				     cases[i].listen, &e), -1);
		if (e.code != cases[i].code || strstr(e.msg, cases[i].msg) == NULL) {
			fail_msg("case %zu: got %d '%s'", i, e.code, e.msg);
		}
		/* Nothing is written when a check fails. */
		assert_int_equal(file_mode("README.txt"), -1);
	}
}

static void
test_activemq_needs_client(void **state)
{
	struct mtls_bundle_opts o = {0};
	struct mtls_bundle_id id = {0};
	struct mtls_fileset *fs = mtls_fileset_new(0, NULL);
	struct mtls_err e;

	(void)state;
	o.target = MTLS_BUNDLE_ACTIVEMQ;
	o.out_dir = out;
	o.pass = "pw";
	assert_int_equal(mtls_bundle_id_load(&id, ids, "srv", NULL, &e), 0);
	assert_int_equal(mtls_bundle_stage(&o, &id, NULL, ca_cert, fs, &e), -1);
	assert_non_null(strstr(e.msg, "client identity"));
	o.target = MTLS_BUNDLE_NGINX;
	o.pass = NULL;
	o.install_dir = "relative/dir";
	assert_int_equal(mtls_bundle_stage(&o, &id, NULL, ca_cert, fs, &e), -1);
	assert_non_null(strstr(e.msg, "absolute"));
	mtls_bundle_id_clear(&id);
	mtls_fileset_free(fs);
}

static void
test_id_mismatch(void **state)
{
	struct mtls_bundle_id id = {0};
	struct mtls_err e;
	char cmd[2000];

	(void)state;
	/* srv's key with cli's certificate: different issuances. */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/mix && cp %s/srv.key %s/mix/x.key && "
	    "cp %s/cli.crt %s/mix/x.crt", dir, ids, dir, ids, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/mix", dir);
	assert_int_equal(mtls_bundle_id_load(&id, cmd, "x", NULL, &e), -1);
	assert_int_equal(e.code, MTLS_E_FORMAT);
	assert_non_null(strstr(e.msg, "does not belong"));
	assert_null(id.key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_targets_write),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_activemq_needs_client),
	    cmocka_unit_test(test_id_mismatch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
