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
#include <sys/socket.h>

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

void
mtls__serve_conn_closed(struct serve_conn *c)
{
	struct serve *srv = c->w->srv;
	char labels[128];

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
	mtls__serve_log_handshake(srv, c->peer[0] != '\0' ? c->peer : "-",
	    c->reason_key, c->reason);
}
