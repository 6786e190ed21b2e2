/* see online/ca_serve_int.h: the connections of `mtls ca serve` -
 * --max-conns (accepting pauses at the limit) and --request-timeout (a
 * deadline per request, re-armed after each answer). Per-connection state
 * is SSL ex_data, freed with the SSL. A leaf of the CA side: ca_serve.c
 * and ca_serve_http.c call it; it calls only the log. */
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "accept/accept_int.h"
#include "online/ca_serve_int.h"

/* ---- connections: --max-conns, --request-timeout ---- */

static int conn_idx = -1;

/* OpenSSL frees the SSL with the connection's bufferevent: the one
 * place every connection ends, whatever ended it. */
static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct casrv_conn *c = ptr;
	struct casrv *s;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (c == NULL) {
		return;
	}
	s = c->s;
	event_free(c->deadline);
	free(c);
	s->conns_open--;
	if (!s->stopping && s->listener != NULL &&
	    s->conns_open == s->o.max_conns - 1 &&
	    mtls__tls_reserve_ready(s->reserve)) {
		evconnlistener_enable(s->listener);
	}
}

struct casrv_conn *
mtls__casrv_conn(SSL *ssl)
{
	return ssl != NULL && conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

static void
deadline_tv(const struct casrv *s, struct timeval *tv)
{
	tv->tv_sec = (time_t)s->o.request_timeout;
	tv->tv_usec = (suseconds_t)((s->o.request_timeout - (double)tv->tv_sec) * 1e6);
}

void
mtls__casrv_conn_rearm(SSL *ssl)
{
	struct casrv_conn *c = mtls__casrv_conn(ssl);
	struct timeval tv;

	if (c != NULL) {
		deadline_tv(c->s, &tv);
		evtimer_add(c->deadline, &tv);
	}
}

/* A client that trickles its request (below the idle timeout, byte by
 * byte) loses the connection when the whole request has not come in
 * time. Shutting the socket down lets evhttp see an end of stream and
 * free the connection the ordinary way. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct casrv_conn *c = arg;
	evutil_socket_t sock = bufferevent_getfd(c->bev);

	(void)fd, (void)what;
	c->s->timed_out++;
	if (!c->s->o.log_quiet) {
		mtls__casrv_log(c->s, "a connection did not deliver its request "
		    "within %g s (--request-timeout): closed",
		    c->s->o.request_timeout);
	}
	if (sock >= 0) {
		shutdown(sock, SHUT_RDWR);
	}
}

/* No TLS state for a new connection (out of memory): evhttp would serve
 * it in plaintext if we answered NULL, so it gets a bufferevent from the
 * reserve, which closes it unanswered (accept/accept_int.h). */
static struct bufferevent *
refuse(struct casrv *s)
{
	s->unserved++;
	mtls__casrv_log(s, "a connection is closed unanswered: cannot set up "
	    "its TLS state (out of memory)");
	return mtls__tls_reserve_take(s->reserve);
}

struct bufferevent *
mtls__casrv_accept_bev(struct event_base *base, void *arg)
{
	struct casrv *s = arg;
	SSL *ssl = mtls__tls_failpoint() ? NULL : SSL_new(s->ctx);
	struct casrv_conn *c = NULL;
	struct bufferevent *bev;
	struct timeval tv;

	if (ssl != NULL) {
		c = calloc(1, sizeof(*c));
	}
	if (c != NULL) {
		c->s = s;
		c->deadline = evtimer_new(base, on_deadline, c);
	}
	if (c == NULL || c->deadline == NULL ||
	    SSL_set_ex_data(ssl, conn_idx, c) != 1) {
		if (c != NULL && c->deadline != NULL) {
			event_free(c->deadline);
		}
		free(c);
		SSL_free(ssl);
		return refuse(s);
	}
	/* From here C is freed with SSL (conn_free), which counts it out. */
	s->conns_open++;
	/* Frees SSL when it fails. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		return refuse(s);
	}
	c->bev = bev;
	deadline_tv(s, &tv);
	evtimer_add(c->deadline, &tv);
	s->conns_total++;
	/* At the limit, stop accepting: further clients wait in the listen
	 * queue (the kernel's backlog) until a connection closes. */
	if (s->conns_open >= s->o.max_conns && s->listener != NULL) {
		evconnlistener_disable(s->listener);
		s->accept_paused++;
	}
	return c->bev;
}

/* The reserve ran dry (or holds a bufferevent again). */
void
mtls__casrv_reserve_pause(void *arg, int paused)
{
	struct casrv *s = arg;

	if (s->stopping || s->listener == NULL) {
		return;
	}
	if (paused) {
		mtls__casrv_log(s, "accepting stops until memory for new "
		    "connections is available");
		evconnlistener_disable(s->listener);
	} else if (s->conns_open < s->o.max_conns) {
		mtls__casrv_log(s, "accepting again");
		evconnlistener_enable(s->listener);
	}
}

int
mtls__casrv_conn_init(struct mtls_err *err)
{
	if (conn_idx < 0) {
		conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
		if (conn_idx < 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL,
			    "SSL_get_ex_new_index");
		}
	}
	return 0;
}
