/* probe: target parsing, and endpoints that are not TLS servers. The
 * TLS behaviour against real servers is in tests/interop/probe.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "mtls/diag.h"
#include "test_util.h"

static void
parse_targets(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *host, *port;
	} rows[] = {
		{"localhost:443", 1, "localhost", "443"},
		{"127.0.0.1:8443", 1, "127.0.0.1", "8443"},
		{"[::1]:4433", 1, "::1", "4433"},
		{"broker.example:65535", 1, "broker.example", "65535"},
		{"localhost", 0, NULL, NULL},
		{"localhost:", 0, NULL, NULL},
		{":443", 0, NULL, NULL},
		{"host:0", 0, NULL, NULL},
		{"host:65536", 0, NULL, NULL},
		{"host:12x", 0, NULL, NULL},
		{"::1:443", 0, NULL, NULL},
		{"[::1]443", 0, NULL, NULL},
		{"", 0, NULL, NULL},
	};
	char host[256], port[16];
	struct mtls_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = mtls_probe_parse_target(rows[i].in, host, sizeof(host),
		    port, sizeof(port), &err);

		if (rows[i].ok) {
			assert_int_equal(rc, 0);
			assert_string_equal(host, rows[i].host);
			assert_string_equal(port, rows[i].port);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, MTLS_E_USAGE);
		}
	}
}

/* A listening socket on 127.0.0.1; *PORT gets its number. */
static int
listen_any(char *port, size_t len)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(port, len, "%u", ntohs(a.sin_port));
	return fd;
}

static struct mtls_report *
probe(const char *port)
{
	struct mtls_probe_opts o;
	struct mtls_err err;
	char target[64];
	struct mtls_report *r;

	snprintf(target, sizeof(target), "127.0.0.1:%s", port);
	memset(&o, 0, sizeof(o));
	o.target = target;
	o.timeout_ms = 2000;
	r = mtls_probe(&o, &err);
	if (r == NULL) {
		fail_msg("probe failed: %s", err.msg);
	}
	return r;
}

static void
closed_port_is_refused(void **state)
{
	char port[16];
	int fd = listen_any(port, sizeof(port));
	struct mtls_report *r;

	(void)state;
	close(fd); /* nothing listens there now */
	r = probe(port);
	assert_non_null(mtls_report_find(r, "connect_refused", NULL));
	assert_int_equal(mtls_report_worst(r), MTLS_SEV_ERROR);
	mtls_report_free(r);
}

/* A child that answers every connection with BANNER and closes. */
static pid_t
serve_banner(int fd, const char *banner)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char buf[512];

			if (c < 0) {
				_exit(0);
			}
			if (read(c, buf, sizeof(buf)) < 0) {
				/* answer anyway */
			}
			if (write(c, banner, strlen(banner)) < 0) {
				/* the probe may have gone */
			}
			close(c);
		}
	}
	close(fd);
	return pid;
}

static void
plain_listeners_are_not_tls(void **state)
{
	static const struct {
		const char *banner;
		const char *want; /* substring of the message */
	} rows[] = {
		{"HTTP/1.0 400 Bad Request\r\n\r\n", "plain HTTP"},
		{"SSH-2.0-OpenSSH_9.2\r\n", "SSH"},
		{"220 mail.example ESMTP\r\n", "STARTTLS"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char port[16];
		pid_t pid = serve_banner(listen_any(port, sizeof(port)),
		    rows[i].banner);
		struct mtls_report *r = probe(port);
		const struct mtls_finding *f = mtls_report_find(r, "not_tls",
		    NULL);

		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		assert_non_null(f);
		assert_int_equal(f->sev, MTLS_SEV_ERROR);
		assert_non_null(strstr(f->message, rows[i].want));
		assert_non_null(f->fix);
		mtls_report_free(r);
	}
}

static void
silent_listener_times_out(void **state)
{
	char port[16];
	int fd = listen_any(port, sizeof(port));
	struct mtls_probe_opts o;
	struct mtls_err err;
	char target[64];
	struct mtls_report *r;

	(void)state;
	/* The kernel completes the TCP handshake; nobody ever answers. */
	snprintf(target, sizeof(target), "127.0.0.1:%s", port);
	memset(&o, 0, sizeof(o));
	o.target = target;
	o.timeout_ms = 300;
	r = mtls_probe(&o, &err);
	assert_non_null(r);
	assert_non_null(mtls_report_find(r, "no_tls_answer", NULL));
	mtls_report_free(r);
	close(fd);
}

static void
bad_options_fail(void **state)
{
	struct mtls_probe_opts o;
	struct mtls_err err;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.target = "127.0.0.1:1";
	o.cert_file = "/nonexistent/client.crt";
	assert_null(mtls_probe(&o, &err));
	assert_int_equal(err.code, MTLS_E_USAGE); /* --key missing */
	o.key_file = "/nonexistent/client.key";
	assert_null(mtls_probe(&o, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/client.crt"));
	o.cert_file = o.key_file = NULL;
	o.ca_file = "/nonexistent/ca.crt";
	assert_null(mtls_probe(&o, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/ca.crt"));
	o.ca_file = NULL;
	o.target = "no-port";
	assert_null(mtls_probe(&o, &err));
	assert_int_equal(err.code, MTLS_E_USAGE);
}

static void
unknown_host_is_a_finding(void **state)
{
	struct mtls_probe_opts o;
	struct mtls_err err;
	struct mtls_report *r;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.target = "no-such-host.invalid:443"; /* RFC 6761: never resolves */
	r = mtls_probe(&o, &err);
	assert_non_null(r);
	assert_non_null(mtls_report_find(r, "dns_failed", NULL));
	mtls_report_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_targets),
		cmocka_unit_test(closed_port_is_refused),
		cmocka_unit_test(plain_listeners_are_not_tls),
		cmocka_unit_test(silent_listener_times_out),
		cmocka_unit_test(bad_options_fail),
		cmocka_unit_test(unknown_host_is_a_finding),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
