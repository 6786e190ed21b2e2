/*
 * The TLS connections our evhttp servers accept (`mtls serve`, `mtls ca
 * serve`): what happens when the TLS state of a new connection cannot be
 * allocated.
 *
 * libevent 2.1's evhttp accepts the socket itself and asks its bufferevent
 * callback (evhttp_set_bevcb) for a bufferevent without telling it the
 * socket; a NULL answer makes evhttp serve that connection in plaintext,
 * and 2.1 has no public call that hands evhttp a connection we accepted.
 * So each event base keeps a small reserve of TLS bufferevents made while
 * memory was there: when a server cannot make the real one, it returns
 * one from the reserve, and that connection is shut down as soon as
 * evhttp has given it its socket (its SSL has no certificate, so no
 * handshake can complete on it either). The client never gets a byte of
 * plaintext, the server never aborts, and it keeps accepting.
 *
 * When the last reserved bufferevent is taken and cannot be replaced, the
 * reserve asks its server to pause accepting (the PAUSE callback, e.g.
 * evconnlistener_disable: libevent's accept loop checks it after each
 * connection) and retries every 100 ms; clients wait in the kernel's
 * listen queue meanwhile. So while accepting is on, the reserve is never
 * empty.
 *
 * One reserve per event base, used from that base's thread only.
 */
#ifndef MTLS_ACCEPT_INT_H
#define MTLS_ACCEPT_INT_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct mtls_err;

struct mtls__tls_reserve;

/* Called with PAUSED 1 when the reserve ran dry (stop accepting), 0 when
 * it holds a bufferevent again (accepting may resume). */
typedef void mtls__tls_reserve_pause_fn(void *arg, int paused);

/* A reserve of N (at least 1) TLS bufferevents on BASE. NULL (err set)
 * when it cannot be made: the server must not start then. */
struct mtls__tls_reserve *mtls__tls_reserve_new(struct event_base *base,
    size_t n, mtls__tls_reserve_pause_fn *pause, void *arg,
    struct mtls_err *err);

/* Frees the reserve. Call it after the bufferevents taken from it are
 * freed (after evhttp_free) and before event_base_free. NULL-safe. */
void mtls__tls_reserve_free(struct mtls__tls_reserve *r);

/* For the bufferevent callback when the connection's own TLS bufferevent
 * cannot be made: a TLS bufferevent that refuses the connection (closed
 * unanswered once evhttp sets its socket). NULL only when the reserve is
 * empty, which cannot happen while the server accepts (see above). */
struct bufferevent *mtls__tls_reserve_take(struct mtls__tls_reserve *r);

/* 1 while the reserve holds at least one bufferevent (a server that also
 * pauses for other reasons resumes only when this holds). */
int mtls__tls_reserve_ready(const struct mtls__tls_reserve *r);

/* Test hook: the next N calls of mtls__tls_failpoint() return 1, so a
 * server behaves as if its TLS state could not be allocated. Process-wide;
 * 0 disarms it. */
void mtls__tls_failpoint_arm(int n);

/* 1 (and counts down) while the failpoint is armed, else 0. */
int mtls__tls_failpoint(void);

#endif
