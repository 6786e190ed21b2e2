/* mtls_agent_run against an in-process HTTPS receiver on 127.0.0.1 that
 * records every request and answers with scripted status codes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mtls/replicate.h"
#include "serve_certs.h"
#include "test_util.h"

#define MAXREQ 16

struct req {
	char action[32], path[128], id[64];
	size_t len;
	unsigned char first;
};

struct rcv {
	int lfd, port;
	const int *codes; /* status per request, 0-terminated; then 200 */
	struct req r[MAXREQ];
	int n;
	int accepts;
	pthread_t th;
};

static char *dir;
static char ca[600], srv[600], srvkey[600], cli[600], clikey[600];
static char small[600], large[600];

static int
setup(void **state)
{
	EVP_PKEY *cak = tp_key(), *sk = tp_key(), *ck = tp_key();
	X509 *cac = tp_cert("ca", cak, NULL, NULL, NULL, NULL, -1, 30);
	X509 *sc = tp_cert("publish", sk, cac, cak, "serverAuth", "IP:127.0.0.1",
	    -1, 30);
	X509 *cc = tp_cert("author", ck, cac, cak, "clientAuth", NULL, -1, 30);
	FILE *f;
	size_t i;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	dir = test_tmpdir();
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(srv, sizeof(srv), "%s/srv.pem", dir);
	snprintf(srvkey, sizeof(srvkey), "%s/srv.key", dir);
	snprintf(cli, sizeof(cli), "%s/cli.pem", dir);
	snprintf(clikey, sizeof(clikey), "%s/cli.key", dir);
	snprintf(small, sizeof(small), "%s/small", dir);
	snprintf(large, sizeof(large), "%s/large", dir);
	assert_int_equal(tp_write_cert(ca, cac) | tp_write_cert(srv, sc) |
	    tp_write_key(srvkey, sk) | tp_write_cert(cli, cc) |
	    tp_write_key(clikey, ck), 0);
	f = fopen(small, "w");
	fputs("small", f);
	fclose(f);
	f = fopen(large, "w");
	for (i = 0; i < MTLS_QUEUE_INLINE_MAX + 10; i++) {
		fputc('L', f);
	}
	fclose(f);
	X509_free(cac);
	X509_free(sc);
	X509_free(cc);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_rmrf(dir);
	free(dir);
	return 0;
}

static void
header(const char *h, const char *name, char *out, size_t len)
{
	const char *p = strcasestr(h, name);
	size_t n;

	out[0] = '\0';
	if (p == NULL) {
		return;
	}
	p += strlen(name);
	while (*p == ' ') {
		p++;
	}
	n = strcspn(p, "\r\n");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

/* Serves requests on one connection until the client closes it. */
static void
serve_conn(struct rcv *r, SSL *ssl)
{
	char buf[8192], cl[32], resp[128];
	unsigned char body[4096];
	size_t got = 0, n;

	buf[0] = '\0';
	for (;;) {
		char *end;
		size_t want, have;
		struct req *q;
		int code;

		while ((end = strstr(buf, "\r\n\r\n")) == NULL || got == 0) {
			if (got >= sizeof(buf) - 1 ||
			    SSL_read_ex(ssl, buf + got, sizeof(buf) - 1 - got, &n) != 1) {
				return;
			}
			got += n;
			buf[got] = '\0';
		}
		q = &r->r[r->n < MAXREQ ? r->n : MAXREQ - 1];
		memset(q, 0, sizeof(*q));
		*end = '\0';
		header(buf, "\nAction:", q->action, sizeof(q->action));
		header(buf, "\nPath:", q->path, sizeof(q->path));
		header(buf, "\nItem-Id:", q->id, sizeof(q->id));
		header(buf, "\nContent-Length:", cl, sizeof(cl));
		want = strtoul(cl, NULL, 10);
		have = got - (size_t)(end + 4 - buf);
		memmove(buf, end + 4, have);
		got = have;
		q->len = want;
		/* Consume the body (first byte kept), the rest of it from TLS. */
		if (want > 0) {
			q->first = have > 0 ? (unsigned char)buf[0] : 0;
		}
		while (have < want) {
			if (SSL_read_ex(ssl, body, sizeof(body), &n) != 1) {
				return;
			}
			if (have == 0) {
				q->first = body[0];
			}
			have += n;
		}
		got = 0; /* the agent does not pipeline */
		buf[0] = '\0';
		code = r->codes != NULL && r->codes[r->n] != 0 ? r->codes[r->n] : 200;
		r->n++;
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 4\r\n"
		    "\r\nwhy\n", code);
		if (SSL_write_ex(ssl, resp, strlen(resp), &n) != 1) {
			return;
		}
	}
}

static void *
rcv_run(void *arg)
{
	struct rcv *r = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	struct timeval tv = {5, 0};
	int fd;

	SSL_CTX_use_certificate_file(ctx, srv, SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(ctx, srvkey, SSL_FILETYPE_PEM);
	SSL_CTX_load_verify_locations(ctx, ca, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    NULL);
	while ((fd = accept(r->lfd, NULL, NULL)) >= 0) {
		SSL *ssl = SSL_new(ctx);

		r->accepts++;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			serve_conn(r, ssl);
		}
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static void
rcv_start(struct rcv *r, const int *codes)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(r, 0, sizeof(*r));
	memset(&a, 0, sizeof(a));
	r->codes = codes;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(r->lfd, 4), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &al), 0);
	r->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, rcv_run, r), 0);
}

static void
rcv_stop(struct rcv *r)
{
	shutdown(r->lfd, SHUT_RDWR);
	close(r->lfd);
	pthread_join(r->th, NULL);
}

static void
target(int port, char *buf, size_t len)
{
	snprintf(buf, len, "https://127.0.0.1:%d/bin/receive", port);
}

static int
run(const char *state, int wait, double deadline, struct mtls_agent_result *res)
{
	struct mtls_agent_config *cfg = mtls_agent_config_new(NULL);
	struct mtls_err e;
	int rc;

	assert_non_null(cfg);
	assert_int_equal(mtls_agent_config_set_state_dir(cfg, state, &e), 0);
	assert_int_equal(mtls_agent_config_set_cert_file(cfg, cli, &e), 0);
	assert_int_equal(mtls_agent_config_set_key_file(cfg, clikey, NULL, &e),
	    0);
	assert_int_equal(mtls_agent_config_set_ca_file(cfg, ca, &e), 0);
	mtls_agent_config_set_wait(cfg, wait);
	if (deadline > 0) {
		assert_int_equal(mtls_agent_config_set_deadline(cfg, deadline,
		    &e), 0);
	}
	assert_int_equal(mtls_agent_config_set_retry_max(cfg, 0.2, &e), 0);
	rc = mtls_agent_run(cfg, res, &e);
	mtls_agent_config_free(cfg);
	if (rc != 0) {
		print_error("agent: %s\n", e.msg);
	}
	return rc;
}

static void
enqueue(const char *state, const char *t, int action, const char *path,
    const char *file)
{
	struct mtls_queue *q = mtls_queue_open(state, 1, NULL);
	const char *const ts[] = {t};

	assert_non_null(q);
	assert_int_equal(mtls_queue_enqueue(q, ts, 1, (enum mtls_action)action,
	    path, file, NULL, NULL), 0);
	mtls_queue_close(q);
}

static void
delivers_in_order_on_one_connection(void **state)
{
	struct rcv r;
	struct mtls_agent_result res;
	char t[128], st[700];

	(void)state;
	snprintf(st, sizeof(st), "%s/st1", dir);
	rcv_start(&r, NULL);
	target(r.port, t, sizeof(t));
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/a", small);
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/b", large);
	enqueue(st, t, MTLS_ACTION_DEACTIVATE, "/a", NULL);
	assert_int_equal(run(st, 0, 0, &res), 0);
	rcv_stop(&r);
	assert_int_equal(res.delivered, 3);
	assert_int_equal(res.pending, 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.accepts, 1); /* one connection, reused */
	assert_string_equal(r.r[0].action, "Activate");
	assert_string_equal(r.r[0].path, "/a");
	assert_int_equal(r.r[0].len, 5);
	assert_int_equal(r.r[0].first, 's');
	assert_int_equal(strlen(r.r[0].id), 32);
	assert_string_equal(r.r[1].path, "/b");
	assert_int_equal(r.r[1].len, MTLS_QUEUE_INLINE_MAX + 10);
	assert_int_equal(r.r[1].first, 'L');
	assert_string_equal(r.r[2].action, "Deactivate");
	assert_int_equal(r.r[2].len, 0);
	assert_string_not_equal(r.r[0].id, r.r[1].id);
}

static void
retries_5xx_and_fails_4xx(void **state)
{
	static const int codes[] = {503, 500, 200, 403, 0};
	struct rcv r;
	struct mtls_agent_result res;
	char t[128], st[700];

	(void)state;
	snprintf(st, sizeof(st), "%s/st2", dir);
	rcv_start(&r, codes);
	target(r.port, t, sizeof(t));
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/x", small);
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/y", small);
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/z", small);
	/* Without --wait: one attempt, the 503 leaves /x queued. */
	assert_int_equal(run(st, 0, 0, &res), 0);
	assert_int_equal(res.delivered, 0);
	assert_int_equal(res.pending, 3);
	assert_int_equal(r.n, 1);
	/* With --wait: 500 again, then 200; /y gets 403 for good; /z 200. */
	assert_int_equal(run(st, 1, 20, &res), 0);
	rcv_stop(&r);
	assert_int_equal(res.delivered, 2);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.pending, 0);
	assert_int_equal(r.n, 5);
	/* The retried item kept its id: the receiver can spot the replay. */
	assert_string_equal(r.r[0].id, r.r[1].id);
	assert_string_equal(r.r[1].id, r.r[2].id);
	assert_string_equal(r.r[3].path, "/y");
	assert_string_equal(r.r[4].path, "/z");
}

static void
receiver_down_keeps_items(void **state)
{
	struct rcv r;
	struct mtls_agent_result res;
	char t[128], st[700];
	struct mtls_queue *q;
	struct mtls_queue_stat *s = NULL;
	size_t n = 0;

	(void)state;
	snprintf(st, sizeof(st), "%s/st3", dir);
	rcv_start(&r, NULL);
	rcv_stop(&r); /* now nothing listens on r.port */
	target(r.port, t, sizeof(t));
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/down", small);
	enqueue(st, t, MTLS_ACTION_ACTIVATE, "/behind", small);
	/* One attempt; the item behind the failed one waits (and the run
	 * ends). */
	assert_int_equal(run(st, 0, 0, &res), 0);
	assert_int_equal(res.pending, 2);
	assert_int_equal(run(st, 1, 1.0, &res), 0); /* deadline */
	assert_int_equal(res.pending, 2);
	q = mtls_queue_open(st, 0, NULL);
	assert_int_equal(mtls_queue_stats(q, &s, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_true(s[0].pending == 2 && s[0].failing == 1);
	assert_non_null(s[0].last_error);
	assert_non_null(strstr(s[0].last_error, "no endpoint"));
	mtls_queue_stats_free(s, n);
	mtls_queue_close(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(delivers_in_order_on_one_connection),
	    cmocka_unit_test(retries_5xx_and_fails_4xx),
	    cmocka_unit_test(receiver_down_keeps_items),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
