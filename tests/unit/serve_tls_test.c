/* serve_tls: in-process handshakes over a socketpair against the
 * receiver's SSL_CTX, and the reason recorded for each refusal. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mtls/serve.h"
#include "serve_certs.h"
#include "test_util.h"
#include "link/server/serve_int.h"

static char *dir;
static SSL_CTX *server;

static char *
at(const char *name)
{
	static char buf[8][600];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
save(const char *name, X509 *c, EVP_PKEY *k)
{
	char n[64];

	snprintf(n, sizeof(n), "%s.crt", name);
	assert_int_equal(tp_write_cert(at(n), c), 0);
	snprintf(n, sizeof(n), "%s.key", name);
	assert_int_equal(tp_write_key(at(n), k), 0);
}

static int
setup(void **state)
{
	EVP_PKEY *ck = tp_key(), *ok = tp_key(), *k = tp_key();
	X509 *ca = tp_cert("ca", ck, NULL, NULL, NULL, NULL, 0, 30);
	X509 *other = tp_cert("otherca", ok, NULL, NULL, NULL, NULL, 0, 30);
	struct {
		const char *name;
		X509 *c;
	} certs[] = {
		{"ca", ca},
		{"server", tp_cert("server", k, ca, ck, "serverAuth",
		    "DNS:localhost", 0, 30)},
		{"client", tp_cert("client", k, ca, ck, "clientAuth", NULL, 0,
		    30)},
		{"node", tp_cert("node", k, ca, ck, "serverAuth,clientAuth",
		    NULL, 0, 30)},
		{"expired", tp_cert("expired", k, ca, ck, "clientAuth", NULL,
		    -10, -1)},
		{"outsider", tp_cert("outsider", k, other, ok, "clientAuth",
		    NULL, 0, 30)},
		{"noeku", tp_cert("noeku", k, ca, ck, NULL, NULL, 0, 30)},
	};
	struct mtls__serve_opts o;
	struct mtls_err err;
	size_t i;

	(void)state;
	dir = test_tmpdir();
	for (i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		save(certs[i].name, certs[i].c, i == 0 ? ck : k);
		X509_free(certs[i].c);
	}
	X509_free(other);
	mtls__serve_opts_init(&o);
	o.cert = at("server.crt");
	o.key = at("server.key");
	o.ca = at("ca.crt");
	server = mtls__serve_tls_ctx(&o, &err);
	if (server == NULL) {
		fprintf(stderr, "%s\n", err.msg);
	}
	EVP_PKEY_free(ck);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(k);
	return server == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	SSL_CTX_free(server);
	test_rmrf(dir);
	free(dir);
	return 0;
}

/* Runs one handshake; returns 1 when the server completed it. */
static int
handshake(const char *client_name, int max_version, char *reason,
    size_t len)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c = NULL, *s = NULL;
	struct mtls_err err;
	char crt[64], key[64];
	int sv[2], cdone = 0, sdone = 0, sfail = 0, i, r;

	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx, at("ca.crt"),
	    NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_max_proto_version(cctx, max_version);
	if (client_name != NULL) {
		snprintf(crt, sizeof(crt), "%s.crt", client_name);
		snprintf(key, sizeof(key), "%s.key", client_name);
		assert_int_equal(SSL_CTX_use_certificate_file(cctx, at(crt),
		    SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(cctx, at(key),
		    SSL_FILETYPE_PEM), 1);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	c = SSL_new(cctx);
	s = mtls__serve_ssl_new(server, &err);
	assert_non_null(c);
	assert_non_null(s);
	SSL_set_fd(c, sv[0]);
	SSL_set_fd(s, sv[1]);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	/* Bounded: a handshake is a handful of flights. */
	for (i = 0; i < 200 && !sdone && !sfail; i++) {
		if (!cdone) {
			ERR_clear_error();
			r = SSL_do_handshake(c);
			cdone = r == 1;
		} else {
			char b[1];

			(void)SSL_read(c, b, 1); /* let the client flush */
		}
		ERR_clear_error();
		r = SSL_do_handshake(s);
		if (r == 1) {
			sdone = 1;
		} else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE) {
			sfail = 1;
		}
	}
	snprintf(reason, len, "%s",
	    mtls__serve_handshake_reason(s) != NULL
		? mtls__serve_handshake_reason(s)
		: "");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return sdone;
}

static const struct {
	const char *client;
	int version;
	int ok;
	const char *reason; /* substring when refused */
} cases[] = {
	{"client", TLS1_3_VERSION, 1, NULL},
	{"client", TLS1_2_VERSION, 1, NULL},
	{"node", TLS1_3_VERSION, 1, NULL},
	{NULL, TLS1_3_VERSION, 0, "no certificate sent"},
	{NULL, TLS1_2_VERSION, 0, "no certificate sent"},
	{"server", TLS1_3_VERSION, 0,
	    "certificate CN=server, O=mtls test (serial 03): it is not a client "
	    "certificate: its extended key usage does not include clientAuth "
	    "(RFC 5280 4.2.1.12; its key usage is fine)"},
	{"expired", TLS1_3_VERSION, 0, "CN=expired, O=mtls test (serial "},
	{"expired", TLS1_2_VERSION, 0, ") expired on "},
	{"outsider", TLS1_3_VERSION, 0, "CN=outsider, O=mtls test"},
	{"outsider", TLS1_3_VERSION, 0, "unknown issuer"},
	{"client", TLS1_1_VERSION, 0, "TLS error: "},
	/* The chain profile: no EKU is not "any purpose"; a CA is no client. */
	{"noeku", TLS1_3_VERSION, 0, "CN=noeku, O=mtls test (serial 08): it has "
	    "no extended key usage: a client certificate must name clientAuth"},
	{"noeku", TLS1_2_VERSION, 0, "no extended key usage"},
	/* Its key usage lacks digitalSignature too; the first rule wins and
	 * nothing blames an extended key usage. */
	{"ca", TLS1_3_VERSION, 0, "certificate CN=ca, O=mtls test (serial 01): "
	    "it is a CA certificate, not an end-entity one"},
};

static void
handshake_table(void **state)
{
	char reason[600];
	size_t i;
	int ok;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = handshake(cases[i].client, cases[i].version, reason,
		    sizeof(reason));
		if (ok != cases[i].ok) {
			fail_msg("case %zu (%s): handshake %s; reason '%s'", i,
			    cases[i].client ? cases[i].client : "no cert",
			    ok ? "succeeded" : "failed", reason);
		}
		if (cases[i].reason != NULL &&
		    strstr(reason, cases[i].reason) == NULL) {
			fail_msg("case %zu: reason '%s', wanted '%s'", i, reason,
			    cases[i].reason);
		}
		if (cases[i].ok && reason[0] != '\0') {
			fail_msg("case %zu: success with reason '%s'", i, reason);
		}
	}
	/* Only the second "client" handshake could come from the cache of
	 * verified certificates; refusals are never cached. */
	assert_int_equal(mtls__serve_vcache_hits(server), 1);
	assert_int_equal(handshake("expired", TLS1_3_VERSION, reason,
	    sizeof(reason)), 0);
	assert_int_equal(handshake("client", TLS1_3_VERSION, reason,
	    sizeof(reason)), 1);
	assert_int_equal(mtls__serve_vcache_hits(server), 2);
}

static void
ctx_errors(void **state)
{
	struct mtls__serve_opts o;
	struct mtls_err err;

	(void)state;
	mtls__serve_opts_init(&o);
	o.cert = at("server.crt");
	o.key = at("ca.key");
	o.ca = at("ca.crt");
	mtls_err_clear(&err);
	assert_null(mtls__serve_tls_ctx(&o, &err));
	assert_non_null(strstr(err.msg, "does not belong to certificate"));
	o.key = at("server.key");
	o.ca = at("client.crt");
	mtls_err_clear(&err);
	assert_null(mtls__serve_tls_ctx(&o, &err));
	assert_non_null(strstr(err.msg, "is not a CA certificate"));
	o.ca = at("missing.crt");
	mtls_err_clear(&err);
	assert_null(mtls__serve_tls_ctx(&o, &err));
	assert_non_null(strstr(err.msg, "missing.crt"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_table),
		cmocka_unit_test(ctx_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
