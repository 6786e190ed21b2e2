/* mtls_testconn_run against an in-process TLS server on 127.0.0.1, one
 * case per way the link can be right or wrong. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mtls/replicate.h"
#include "serve_certs.h"
#include "test_util.h"

static char *dir;
static char path_buf[16][600];

enum { F_CA, F_OTHERCA, F_SRV, F_SRVKEY, F_CLI, F_CLIKEY, F_STRANGER,
	F_STRANGERKEY, F_EXPIRED, F_EXPIREDKEY, F_WRONGNAME, F_WRONGNAMEKEY };

static const char *
fpath(int f)
{
	return path_buf[f];
}

static int
setup_pki(void **state)
{
	static const char *const names[] = {"ca.pem", "otherca.pem", "srv.pem",
	    "srv.key", "cli.pem", "cli.key", "stranger.pem", "stranger.key",
	    "expired.pem", "expired.key", "wrongname.pem", "wrongname.key"};
	EVP_PKEY *cak = tp_key(), *ocak = tp_key(), *k[5];
	X509 *ca, *oca, *c[5];
	size_t i;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	dir = test_tmpdir();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path_buf[i], sizeof(path_buf[i]), "%s/%s", dir, names[i]);
	}
	ca = tp_cert("ca", cak, NULL, NULL, NULL, NULL, -1, 30);
	oca = tp_cert("otherca", ocak, NULL, NULL, NULL, NULL, -1, 30);
	for (i = 0; i < 5; i++) {
		k[i] = tp_key();
	}
	c[0] = tp_cert("publish", k[0], ca, cak, "serverAuth",
	    "DNS:localhost,IP:127.0.0.1", -1, 30);
	c[1] = tp_cert("author", k[1], ca, cak, "clientAuth", NULL, -1, 30);
	c[2] = tp_cert("stranger", k[2], oca, ocak, "serverAuth",
	    "IP:127.0.0.1", -1, 30);
	c[3] = tp_cert("expired", k[3], ca, cak, "serverAuth", "IP:127.0.0.1",
	    -40, -30);
	c[4] = tp_cert("wrongname", k[4], ca, cak, "serverAuth",
	    "DNS:publish.example", -1, 30);
	assert_int_equal(tp_write_cert(fpath(F_CA), ca), 0);
	assert_int_equal(tp_write_cert(fpath(F_OTHERCA), oca), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(tp_write_cert(fpath(F_SRV + 2 * (int)i), c[i]), 0);
		assert_int_equal(tp_write_key(fpath(F_SRVKEY + 2 * (int)i), k[i]), 0);
		X509_free(c[i]);
		EVP_PKEY_free(k[i]);
	}
	X509_free(ca);
	X509_free(oca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ocak);
	return 0;
}

static int
teardown_pki(void **state)
{
	(void)state;
	test_rmrf(dir);
	free(dir);
	return 0;
}

/* One connection's worth of server. */
struct srv {
	int cert, key;      /* F_* of its certificate and key */
	int trust;          /* F_* of the CA it trusts for clients, or -1 */
	int request_cert;   /* ask for (and require) a client certificate */
	const char *answer; /* HTTP response */
	int tls12;          /* at most TLS 1.2 (client certificate checked
			       inside the handshake, unlike TLS 1.3) */
	int lfd;
	int port;
	pthread_t th;
};

static void *
srv_run(void *arg)
{
	struct srv *s = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = NULL;
	char buf[4096];
	size_t got = 0, n;
	int fd;

	SSL_CTX_use_certificate_chain_file(ctx, fpath(s->cert));
	SSL_CTX_use_PrivateKey_file(ctx, fpath(s->key), SSL_FILETYPE_PEM);
	if (s->trust >= 0) {
		SSL_CTX_load_verify_locations(ctx, fpath(s->trust), NULL);
		SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(fpath(s->trust)));
	}
	if (s->tls12) {
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	}
	if (s->request_cert) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		goto out;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		while (got < sizeof(buf) - 1 &&
		    SSL_read_ex(ssl, buf + got, sizeof(buf) - 1 - got, &n) == 1) {
			got += n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL) {
				break;
			}
		}
		SSL_write_ex(ssl, s->answer, strlen(s->answer), &n);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static void
srv_start(struct srv *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_run, s), 0);
}

static const char ok200[] = "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n"
			    "Connection: close\r\n\r\nReplicationAction TEST ok.";
static const char no403[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n"
			    "Connection: close\r\n\r\ndenied";

static void
cases(void **state)
{
	static const struct {
		const char *name;
		struct srv s;
		const char *host;
		int client_cert; /* F_CLI, or F_STRANGER to present a foreign one */
		int rc;
		const char *want; /* in the error (failure) or the log (success) */
	} t[] = {
		{"mutual TLS and 200", {F_SRV, F_SRVKEY, F_CA, 1, ok200, 0, 0, 0, 0},
		    "127.0.0.1", F_CLI, 0, "Replication test succeeded"},
		{"by DNS name", {F_SRV, F_SRVKEY, F_CA, 1, ok200, 0, 0, 0, 0},
		    "localhost", F_CLI, 0, "name localhost matched"},
		{"no CertificateRequest", {F_SRV, F_SRVKEY, -1, 0, ok200, 0, 0, 0, 0},
		    "127.0.0.1", F_CLI, -1, "asked for no client certificate"},
		{"server trusts another CA",
		    {F_SRV, F_SRVKEY, F_OTHERCA, 1, ok200, 0, 0, 0, 0}, "127.0.0.1",
		    F_CLI, -1, "our certificate was rejected by the server"},
		{"server certificate from another CA",
		    {F_STRANGER, F_STRANGERKEY, F_CA, 1, ok200, 0, 0, 0, 0},
		    "127.0.0.1", F_CLI, -1, "unknown issuer"},
		{"expired server certificate",
		    {F_EXPIRED, F_EXPIREDKEY, F_CA, 1, ok200, 0, 0, 0, 0}, "127.0.0.1",
		    F_CLI, -1, "expired on"},
		{"name mismatch",
		    {F_WRONGNAME, F_WRONGNAMEKEY, F_CA, 1, ok200, 0, 0, 0, 0},
		    "localhost", F_CLI, -1, "name mismatch"},
		{"TLS 1.2", {F_SRV, F_SRVKEY, F_CA, 1, ok200, 1, 0, 0, 0},
		    "127.0.0.1", F_CLI, 0, "TLS handshake done: TLSv1.2"},
		{"TLS 1.2, server trusts another CA",
		    {F_SRV, F_SRVKEY, F_OTHERCA, 1, ok200, 1, 0, 0, 0}, "127.0.0.1",
		    F_CLI, -1, "our certificate was rejected by the server (TLS "
			       "handshake)"},
		{"receiver refuses", {F_SRV, F_SRVKEY, F_CA, 1, no403, 0, 0, 0, 0},
		    "127.0.0.1", F_CLI, -1, "refused the Test of /content: 403"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct srv s = t[i].s;
		struct mtls_testconn_opts o;
		struct mtls_err e;
		char url[128], *log = NULL;
		size_t loglen = 0;
		FILE *lf = open_memstream(&log, &loglen);
		int rc;

		srv_start(&s);
		snprintf(url, sizeof(url), "https://%s:%d", t[i].host, s.port);
		memset(&o, 0, sizeof(o));
		o.url = url;
		o.id.cert = fpath(t[i].client_cert);
		o.id.key = fpath(t[i].client_cert + 1);
		o.id.ca = fpath(F_CA);
		o.timeout_s = 5;
		mtls_err_clear(&e);
		rc = mtls_testconn_run(&o, lf, &e);
		fclose(lf);
		pthread_join(s.th, NULL);
		close(s.lfd);
		if (rc != t[i].rc) {
			fail_msg("%s: rc %d (%s)\n%s", t[i].name, rc, e.msg, log);
		}
		if (strstr(rc == 0 ? log : e.msg, t[i].want) == NULL) {
			fail_msg("%s: '%s' lacks '%s'\n%s", t[i].name, e.msg,
			    t[i].want, log);
		}
		free(log);
	}
}

static void
no_endpoint(void **state)
{
	struct srv s = {F_SRV, F_SRVKEY, F_CA, 1, ok200, 0, 0, 0, 0};
	struct mtls_testconn_opts o;
	struct mtls_err e;
	char url[128];
	int port;

	(void)state;
	/* A port that was just free: bind, read it, close. */
	srv_start(&s);
	port = s.port;
	shutdown(s.lfd, SHUT_RDWR);
	close(s.lfd);
	pthread_join(s.th, NULL);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.id.cert = fpath(F_CLI);
	o.id.key = fpath(F_CLIKEY);
	o.id.ca = fpath(F_CA);
	assert_int_equal(mtls_testconn_run(&o, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "no endpoint: connection refused"));
	/* A wrong key for the certificate is named before connecting. */
	o.id.key = fpath(F_SRVKEY);
	assert_int_equal(mtls_testconn_run(&o, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "srv.key"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cases),
	    cmocka_unit_test(no_endpoint),
	};
	return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
