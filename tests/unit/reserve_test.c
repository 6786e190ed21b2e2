/*
 * accept/reserve.c: a connection whose TLS state cannot be allocated is
 * closed unanswered - never served in plaintext, never an abort - and the
 * server (mtls serve, mtls ca serve) logs it, counts it and serves the
 * next client. The failure is forced with the internal failpoint in a
 * server run in a child process.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mtls/online.h"
#include "mtls/serve.h"
#include "accept/accept_int.h"
#include "serve_certs.h"
#include "test_pki.h"

/* How many connections in a row are refused: more than the reserve
 * holds (2), so accepting pauses once and resumes. */
#define REFUSED 3

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
connect_to(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Everything the peer sends until it closes (5 s at most), into BUF. */
static size_t
read_all(int fd, char *buf, size_t size)
{
	struct pollfd p = {fd, POLLIN, 0};
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && poll(&p, 1, 5000) == 1) {
		r = read(fd, buf + n, size - 1 - n);
		if (r <= 0) {
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* REFUSED plaintext HTTP requests, connected at once (more than the
 * reserve holds, so accepting pauses while they are refused): no reply
 * may be plaintext HTTP. */
static void
plain_clients(int port)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n";
	char buf[4096];
	int fd[REFUSED], i;

	for (i = 0; i < REFUSED; i++) {
		fd[i] = connect_to(port);
	}
	for (i = 0; i < REFUSED; i++) {
		(void)write(fd[i], req, sizeof(req) - 1);
		read_all(fd[i], buf, sizeof(buf));
		close(fd[i]);
		if (strstr(buf, "HTTP/") != NULL) {
			fail_msg("a refused connection was answered in "
			    "plaintext: %.60s", buf);
		}
	}
}

/* GET PATH over TLS (with CERT/KEY as client identity when given);
 * returns the response, malloc'd. */
static char *
tls_get(int port, const char *path, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char req[256], *buf = calloc(1, 65536);
	size_t n = 0;
	int fd = connect_to(port), r;

	assert_non_null(ctx);
	assert_non_null(buf);
	if (cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key,
		    SSL_FILETYPE_PEM), 1);
	}
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		fail_msg("the next client's handshake failed");
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n", path);
	assert_int_equal(SSL_write(ssl, req, (int)strlen(req)), (int)strlen(req));
	while ((r = SSL_read(ssl, buf + n, (int)(65535 - n))) > 0) {
		n += (size_t)r;
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return buf;
}

/* Waits (10 s at most) until LOG holds WHAT. */
static void
wait_log(const char *log, const char *what)
{
	int i;
	char *text;
	size_t len;

	for (i = 0; i < 200; i++) {
		text = (char *)test_read(log, &len);
		if (text != NULL && strstr(text, what) != NULL) {
			free(text);
			return;
		}
		free(text);
		usleep(50000);
	}
	fail_msg("the server did not log '%s'", what);
}

static int
count_of(const char *text, const char *what)
{
	int n = 0;

	while ((text = strstr(text, what)) != NULL) {
		n++;
		text += strlen(what);
	}
	return n;
}

/* Runs FN(ARG) in a child whose stderr is LOG, with the failpoint armed
 * for the first REFUSED connections. */
static pid_t
start(const char *log, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int fd;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* Never outlives a test that failed before stopping it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0) {
			_exit(3);
		}
		mtls__tls_failpoint_arm(REFUSED);
		_exit(fn(arg) == 0 ? 0 : 4);
	}
	return pid;
}

static void
stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* An abort() would be a signal here. */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Starts FN(ARG) (a server on PORT that logs READY to LOG) with the first
 * REFUSED connections failing, then: those are refused without a byte of
 * plaintext, the next client (CERT/KEY) gets /metrics counting them as
 * METRIC, and the log says so, pausing (PAUSED) as often as it resumed
 * (RESUMED), at least once.
 */
static void
refuse_then_serve(const char *log, int (*fn)(void *), void *arg,
    const char *ready, int port, const char *cert, const char *key,
    const char *metric, const char *paused, const char *resumed)
{
	pid_t pid = start(log, fn, arg);
	char *resp;
	size_t len;

	wait_log(log, ready);
	plain_clients(port);
	resp = tls_get(port, "/metrics", cert, key);
	stop(pid);
	if (strstr(resp, "HTTP/1.1 200") == NULL || strstr(resp, metric) == NULL) {
		fail_msg("the next client was not served, or the refusals not "
		    "counted: %.300s", resp);
	}
	free(resp);
	resp = (char *)test_read(log, &len);
	assert_non_null(resp);
	assert_int_equal(count_of(resp, "closed unanswered"), REFUSED);
	assert_true(count_of(resp, paused) >= 1);
	assert_int_equal(count_of(resp, paused), count_of(resp, resumed));
	free(resp);
}

static int
run_serve(void *arg)
{
	struct mtls_err e;

	if (mtls_serve_run(arg, &e) != 0) {
		fprintf(stderr, "serve: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void
test_serve_refuses_unanswered(void **state)
{
	char *dir = test_tmpdir(), listen[64];
	const char *root, *log, *cacert, *scert, *skey, *ccert, *ckey;
	EVP_PKEY *cak = tp_key(), *sk = tp_key(), *ck = tp_key();
	X509 *ca = tp_cert("reserve test CA", cak, NULL, NULL, NULL, NULL, -1, 30);
	X509 *sc = tp_cert("server", sk, ca, cak, "serverAuth", "IP:127.0.0.1",
	    -1, 30);
	X509 *cc = tp_cert("client", ck, ca, cak, "clientAuth", NULL, -1, 30);
	struct mtls_serve_config *cfg = mtls_serve_config_new(NULL);
	struct mtls_err err;
	int port = free_port();

	(void)state;
	root = test_path(dir, "root");
	log = test_path(dir, "log");
	cacert = test_path(dir, "ca.pem");
	scert = test_path(dir, "server.pem");
	skey = test_path(dir, "server.key");
	ccert = test_path(dir, "client.pem");
	ckey = test_path(dir, "client.key");
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_equal(tp_write_cert(cacert, ca), 0);
	assert_int_equal(tp_write_cert(scert, sc), 0);
	assert_int_equal(tp_write_key(skey, sk), 0);
	assert_int_equal(tp_write_cert(ccert, cc), 0);
	assert_int_equal(tp_write_key(ckey, ck), 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_non_null(cfg);
	assert_int_equal(mtls_serve_config_set_listen(cfg, listen, &err), 0);
	assert_int_equal(mtls_serve_config_set_cert_file(cfg, scert, &err), 0);
	assert_int_equal(mtls_serve_config_set_key_file(cfg, skey, NULL, &err),
	    0);
	assert_int_equal(mtls_serve_config_set_ca_file(cfg, cacert, &err), 0);
	assert_int_equal(mtls_serve_config_set_root(cfg, root, &err), 0);
	mtls_serve_config_insecure_no_map(cfg);
	assert_int_equal(mtls_serve_config_set_watch_interval(cfg, -1, &err),
	    0);

	refuse_then_serve(log, run_serve, cfg, "serving https://", port, ccert,
	    ckey, "mtls_connections_unserved_total 3\n", "stops accepting",
	    "accepts again");

	mtls_serve_config_free(cfg);
	X509_free(ca);
	X509_free(sc);
	X509_free(cc);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	test_rmrf(dir);
	free(dir);
}

static int
run_ca_serve(void *arg)
{
	struct mtls_err e;

	if (mtls_ca_serve_run(arg, &e) != 0) {
		fprintf(stderr, "ca serve: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void
test_ca_serve_refuses_unanswered(void **state)
{
	char *dir = test_tmpdir(), listen[64];
	const char *cadir, *log;
	struct mtls_ca_serve_config *cfg = mtls_ca_serve_config_new(NULL);
	struct mtls_err err;
	struct mtls_ca *ca;
	int port = free_port();

	(void)state;
	cadir = test_path(dir, "ca");
	log = test_path(dir, "log");
	ca = test_ca_new(cadir, MTLS_KEY_EC_P256, 30, "CN=reserve test CA");
	mtls_ca_free(ca);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_non_null(cfg);
	assert_int_equal(mtls_ca_serve_config_set_ca_dir(cfg, cadir, &err), 0);
	assert_int_equal(mtls_ca_serve_config_set_listen(cfg, listen, &err), 0);

	refuse_then_serve(log, run_ca_serve, cfg, "listening on https://", port,
	    NULL, NULL, "mtls_ca_connections_unserved_total 3\n",
	    "accepting stops", "accepting again");
	mtls_ca_serve_config_free(cfg);
	test_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serve_refuses_unanswered),
		cmocka_unit_test(test_ca_serve_refuses_unanswered),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
