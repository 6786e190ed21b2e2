/* The receiver's connection table: per-connection state kept as SSL
 * ex_data, each worker's list of open connections, and the handshake
 * failure line and counter when a connection that never finished its
 * handshake is freed. Calls only the log and the counters. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/server/serve_int.h"

static int conn_idx = -1;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct serve_conn *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (c == NULL) {
		return;
	}
	if (c->w != NULL) {
		mtls__serve_conn_closed(c);
	}
	if (c->timer != NULL) {
		event_free(c->timer);
	}
	if (c->frame != NULL) {
		c->frame_put(c->frame);
	}
	X509_free(c->leaf);
	free(c);
}

static void
conn_index_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, "mtls serve conn", NULL, NULL,
	    conn_free);
}

struct serve_conn *
mtls__serve_conn_get(const SSL *ssl)
{
	if (conn_idx < 0) {
		return NULL;
	}
	return SSL_get_ex_data(ssl, conn_idx);
}

struct serve_conn *
mtls__serve_conn_attach(SSL *ssl, struct mtls_err *err)
{
	struct serve_conn *c;

	pthread_once(&conn_once, conn_index_init);
	if (conn_idx < 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_get_ex_new_index");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	c->ssl = ssl;
	if (SSL_set_ex_data(ssl, conn_idx, c) != 1) {
		free(c);
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_set_ex_data");
		return NULL;
	}
	return c;
}

void
mtls__serve_conn_fail(struct serve_conn *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	/* The first reason is the real one; later ones are consequences. */
	if (c->reason[0] != '\0') {
		return;
	}
	c->reason_key = key;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

void
mtls__serve_conn_peer(struct serve_conn *c, SSL *ssl)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int fd = SSL_get_fd(ssl), port = 0;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(c->peer, sizeof(c->peer), "-");
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, port);
	} else {
		snprintf(c->peer, sizeof(c->peer), "-");
	}
}

/* Refused handshakes whose socket we still drain, all workers. */
static atomic_long lingering;

/* The worker's event base, in the worker's thread: callbacks of a base
 * run in the thread that runs it. */
static _Thread_local struct event_base *linger_base;

#define LINGER_MS 2000
#define LINGER_MAX 1024

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads and drops what the refused client still sends until it closes,
 * or LINGER_MS after the refusal; ARG is that deadline. One-shot events
 * (event_base_once) carry no allocation, so a worker stopping with some
 * still pending leaks nothing but their descriptors, closed at exit. */
static void
linger_read(evutil_socket_t fd, short what, void *arg)
{
	const int64_t deadline = (int64_t)(intptr_t)arg;
	char buf[4096];
	ssize_t n = 0;
	struct timeval tv;
	int64_t left = deadline - mono_ms();

	if ((what & EV_READ) != 0) {
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
		}
	}
	if (left <= 0 || (what & EV_READ) == 0 || n == 0 ||
	    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		close(fd);
		atomic_fetch_sub(&lingering, 1);
		return;
	}
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	if (event_base_once(linger_base, fd, EV_READ, linger_read, arg,
	    &tv) != 0) {
		close(fd);
		atomic_fetch_sub(&lingering, 1);
	}
}

void
mtls__serve_conn_linger(struct serve_conn *c)
{
	int fd = c->ssl != NULL ? SSL_get_fd(c->ssl) : -1, dfd;
	struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};

	if (c->w == NULL || fd < 0 || c->lingered) {
		return;
	}
	c->lingered = 1;
	if (atomic_fetch_add(&lingering, 1) >= LINGER_MAX) {
		atomic_fetch_sub(&lingering, 1);
		return;
	}
	/* A second descriptor keeps the socket open after evhttp closes
	 * its own: closing a socket with unread data makes the kernel send
	 * a reset, and a reset can destroy our alert in the client's receive
	 * buffer before the client reads it. So: our alert, then FIN, then
	 * read until the client's FIN (or the deadline), then close. */
	linger_base = c->w->base;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		atomic_fetch_sub(&lingering, 1);
		return;
	}
	(void)shutdown(dfd, SHUT_WR);
	if (event_base_once(c->w->base, dfd, EV_READ, linger_read,
	    (void *)(intptr_t)(mono_ms() + LINGER_MS), &tv) != 0) {
		close(dfd);
		atomic_fetch_sub(&lingering, 1);
	}
}

/* The client's leaf: the verified peer certificate, or the one a
 * refused client presented; NULL when none was sent. */
static X509 *
conn_cert(const struct serve_conn *c)
{
	X509 *cert = c->ssl != NULL ? SSL_get0_peer_certificate(c->ssl) : NULL;

	return cert != NULL ? cert : c->leaf;
}

void
mtls__serve_conn_audit(struct serve_conn *c, const char *event,
    const char *result)
{
	struct mtls__audit_rec r;
	struct mtls_err err;
	char fp[65], subject[1024];

	if (c->w == NULL || c->w->srv->audit == NULL) {
		return;
	}
	mtls__audit_cert(conn_cert(c), fp, subject, sizeof(subject));
	memset(&r, 0, sizeof(r));
	r.event = event;
	r.peer = c->peer;
	r.fp = fp;
	r.subject = subject;
	r.result = result;
	if (mtls__audit_write(c->w->srv->audit, &r, 0, &err) != 0) {
		mtls__serve_log(c->w->srv, "error", "%s", err.msg);
	}
}

void
mtls__serve_conn_closed(struct serve_conn *c)
{
	struct serve *srv = c->w->srv;
	char labels[128], fp[65], subject[1024];

	if (c->counted) {
		atomic_fetch_sub(&srv->m.conns_open, 1);
		atomic_fetch_sub(&c->w->conns, 1);
		if (c->prev != NULL) {
			c->prev->next = c->next;
		} else {
			c->w->open = c->next;
		}
		if (c->next != NULL) {
			c->next->prev = c->prev;
		}
	}
	if (c->hs_done && !c->refused) {
		return;
	}
	if (c->reason[0] == '\0') {
		mtls__serve_conn_fail(c, "closed_early", "the client closed the "
		    "connection before completing the handshake");
	}
	snprintf(labels, sizeof(labels), "reason=\"%s\"", c->reason_key);
	mtls__serve_counters_add(&srv->m.failures, labels);
	mtls__audit_cert(conn_cert(c), fp, subject, sizeof(subject));
	mtls__serve_log_handshake(srv, c->peer[0] != '\0' ? c->peer : "-",
	    c->reason_key, c->reason, fp, subject);
	mtls__serve_conn_audit(c, "refuse", c->reason_key);
}
