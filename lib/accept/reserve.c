/* see accept/accept_int.h: the reserve of TLS bufferevents that lets our
 * evhttp servers refuse a connection they cannot allocate for, instead of
 * aborting or serving it in plaintext. A leaf: calls only base's errors. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "accept/accept_int.h"
#include "mtls/err.h"

#define RETRY_USEC 100000

struct slot {
	struct mtls__tls_reserve *r;
	struct bufferevent *bev; /* ready; NULL when taken or not remade */
	struct event *close_ev;  /* shuts the taken connection's socket */
	int taken;               /* handed to evhttp, not freed yet */
	int filling;             /* inside slot_fill */
};

struct mtls__tls_reserve {
	struct event_base *base;
	SSL_CTX *ctx;            /* no certificate: no handshake completes */
	struct slot *slot;
	size_t n, ready;
	size_t live;             /* reserved SSLs not freed yet */
	struct event *refill_ev; /* remakes bufferevents, retries when dry */
	mtls__tls_reserve_pause_fn *pause;
	void *arg;
	int paused;
	int freeing;
};

static atomic_int failpoint;
static int slot_idx = -1;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

void
mtls__tls_failpoint_arm(int n)
{
	atomic_store(&failpoint, n);
}

int
mtls__tls_failpoint(void)
{
	int n = atomic_load(&failpoint);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&failpoint, &n, n - 1)) {
			return 1;
		}
	}
	return 0;
}

/* OpenSSL frees a reserved SSL with its bufferevent, wherever that
 * happens (evhttp closing the refused connection, or the reserve's own
 * free): the slot is empty again and is remade from the event loop. */
static void
slot_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct slot *s = ptr;
	struct mtls__tls_reserve *r;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (s == NULL) {
		return;
	}
	r = s->r;
	s->bev = NULL;
	s->taken = 0;
	r->live--;
	if (r->freeing) {
		/* libevent may finalize a bufferevent after its base's
		 * events are gone: the last SSL frees the reserve. */
		if (r->live == 0) {
			free(r->slot);
			free(r);
		}
		return;
	}
	if (!s->filling) {
		event_active(r->refill_ev, EV_TIMEOUT, 1);
	}
}

static void
slot_index_init(void)
{
	slot_idx = SSL_get_ex_new_index(0, "mtls tls reserve", NULL, NULL,
	    slot_ssl_free);
}

/* A TLS bufferevent for slot S, socket to come; 0 or -1 (no memory). */
static int
slot_fill(struct slot *s)
{
	SSL *ssl = SSL_new(s->r->ctx);

	if (ssl == NULL) {
		return -1;
	}
	if (SSL_set_ex_data(ssl, slot_idx, s) != 1) {
		SSL_free(ssl);
		return -1;
	}
	s->r->live++;
	/* Frees SSL when it fails (libevent 2.1, BEV_OPT_CLOSE_ON_FREE). */
	s->filling = 1;
	s->bev = bufferevent_openssl_socket_new(s->r->base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	s->filling = 0;
	if (s->bev == NULL) {
		return -1;
	}
	s->r->ready++;
	return 0;
}

/* Remakes every empty slot it can; pauses or resumes the server. */
static void
refill(evutil_socket_t fd, short what, void *arg)
{
	struct mtls__tls_reserve *r = arg;
	struct timeval retry = {0, RETRY_USEC};
	size_t i;

	(void)fd, (void)what;
	for (i = 0; i < r->n; i++) {
		if (r->slot[i].bev == NULL && !r->slot[i].taken &&
		    slot_fill(&r->slot[i]) != 0) {
			break;
		}
	}
	if (r->ready == 0) {
		if (!r->paused) {
			r->paused = 1;
			r->pause(r->arg, 1);
		}
		event_add(r->refill_ev, &retry);
		return;
	}
	if (r->paused) {
		r->paused = 0;
		r->pause(r->arg, 0);
	}
}

/* Runs from the event loop after evhttp gave the connection its socket. */
static void
close_taken(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;
	evutil_socket_t sock;

	(void)fd, (void)what;
	if (!s->taken || s->bev == NULL) {
		return;
	}
	sock = bufferevent_getfd(s->bev);
	if (sock >= 0) {
		/* evhttp sees the end of the stream and frees the connection
		 * (and with it the SSL, which empties the slot). */
		shutdown(sock, SHUT_RDWR);
	}
}

struct mtls__tls_reserve *
mtls__tls_reserve_new(struct event_base *base, size_t n,
    mtls__tls_reserve_pause_fn *pause, void *arg, struct mtls_err *err)
{
	struct mtls__tls_reserve *r;
	size_t i;

	pthread_once(&slot_once, slot_index_init);
	if (slot_idx < 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "SSL_get_ex_new_index");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	r->base = base;
	r->n = n > 0 ? n : 1;
	r->pause = pause;
	r->arg = arg;
	r->slot = calloc(r->n, sizeof(*r->slot));
	r->ctx = SSL_CTX_new(TLS_server_method());
	r->refill_ev = evtimer_new(base, refill, r);
	if (r->slot == NULL || r->ctx == NULL || r->refill_ev == NULL) {
		goto err;
	}
	for (i = 0; i < r->n; i++) {
		r->slot[i].r = r;
		r->slot[i].close_ev = evtimer_new(base, close_taken, &r->slot[i]);
		if (r->slot[i].close_ev == NULL || slot_fill(&r->slot[i]) != 0) {
			goto err;
		}
	}
	return r;
err:
	mtls_err_set(err, MTLS_E_INTERNAL, "cannot reserve TLS connections "
	    "(out of memory)");
	mtls__tls_reserve_free(r);
	return NULL;
}

void
mtls__tls_reserve_free(struct mtls__tls_reserve *r)
{
	size_t i;

	if (r == NULL) {
		return;
	}
	r->freeing = 1;
	r->live++; /* keeps R while its bufferevents go */
	for (i = 0; r->slot != NULL && i < r->n; i++) {
		if (r->slot[i].bev != NULL && !r->slot[i].taken) {
			bufferevent_free(r->slot[i].bev);
		}
		if (r->slot[i].close_ev != NULL) {
			event_free(r->slot[i].close_ev);
		}
	}
	if (r->refill_ev != NULL) {
		event_free(r->refill_ev);
	}
	SSL_CTX_free(r->ctx); /* reference counted: freed with its SSLs */
	if (--r->live == 0) {
		free(r->slot);
		free(r);
	}
}

struct bufferevent *
mtls__tls_reserve_take(struct mtls__tls_reserve *r)
{
	struct slot *s = NULL;
	size_t i;

	for (i = 0; i < r->n && s == NULL; i++) {
		if (r->slot[i].bev != NULL && !r->slot[i].taken) {
			s = &r->slot[i];
		}
	}
	if (s == NULL) {
		return NULL;
	}
	s->taken = 1;
	r->ready--;
	event_active(s->close_ev, EV_TIMEOUT, 1);
	if (r->ready == 0) {
		/* Pauses now, inside the accept loop, when nothing can be
		 * remade: libevent accepts no further connection then. */
		refill(-1, 0, r);
	}
	return s->bev;
}

int
mtls__tls_reserve_ready(const struct mtls__tls_reserve *r)
{
	return r != NULL && r->ready > 0;
}
