/* see mtls/serve.h: workers, connections, signals and reload. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>

#include "mtls/explain.h"
#include "mtls/file.h"
#include "mtls/pki.h"
#include "accept/accept_int.h"
#include "link/server/content_store_int.h"
#include "link/server/serve_int.h"
#include "link/server/serve_rev.h"

static struct timeval
tv_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* Handshake deadline, or an immediate refusal over --max-conns: shutting
 * the socket down makes the bufferevent fail, and evhttp frees the
 * connection (and its SSL, and with it this conn) the usual way. */
static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	SSL *ssl = arg;
	struct serve_conn *c = mtls__serve_conn_get(ssl);
	int sfd = SSL_get_fd(ssl);

	(void)fd, (void)what;
	if (c == NULL || (c->hs_done && !c->refused)) {
		return;
	}
	mtls__serve_conn_fail(c, "handshake_timeout",
	    "no complete handshake within %.1f s (--handshake-timeout)",
	    c->w->srv->opts.handshake_timeout);
	if (sfd >= 0) {
		shutdown(sfd, SHUT_RDWR);
	}
}

/*
 * evhttp writes a response's headers, then appends its body as separate
 * evbuffer chains, and bufferevent_openssl makes one TLS record (and one
 * write) per chain. Joining a small response into one chain before it is
 * written gives one record: one syscall and one TCP segment, and no
 * second segment waiting on the peer's ACK. Runs first among the output
 * buffer's callbacks (libevent calls the latest added first); the write
 * itself happens later, from the event loop.
 */
static void
coalesce_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	size_t len = evbuffer_get_length(buf);

	(void)arg;
	if (info->n_added > 0 && len > 0 && len <= 16384 &&
	    evbuffer_peek(buf, -1, NULL, NULL, 0) > 1) {
		(void)evbuffer_pullup(buf, -1);
	}
}

/*
 * No TLS state for a new connection (out of memory): evhttp would serve it
 * in plaintext if we answered NULL, so it gets a bufferevent from the
 * worker's reserve, which closes it unanswered (accept/accept_int.h).
 */
static struct bufferevent *
refuse_bev(struct serve_worker *w, const struct mtls_err *err)
{
	atomic_fetch_add(&w->srv->m.conns_unserved, 1);
	mtls__serve_log(w->srv, "error", "a connection is closed unanswered: "
	    "cannot set up its TLS state (%s)", err->msg[0] != '\0' ? err->msg
	    : "out of memory");
	return mtls__tls_reserve_take(w->reserve);
}

static struct bufferevent *
accept_bev(struct event_base *base, void *arg)
{
	struct serve_worker *w = arg;
	struct serve *srv = w->srv;
	struct serve_gen *g = mtls__serve_gen_get(srv);
	struct mtls_err err = {MTLS_OK, ""};
	struct serve_conn *c = NULL;
	struct bufferevent *bev = NULL, *tls = NULL;
	struct timeval tv = tv_of(srv->opts.handshake_timeout);
	SSL *ssl = mtls__tls_failpoint() ? NULL
					 : mtls__serve_ssl_new(g->ctx, &err);

	mtls__serve_gen_put(g);
	if (ssl == NULL) {
		return refuse_bev(w, &err);
	}
	c = mtls__serve_conn_get(ssl);
	if (c == NULL || (c->timer = evtimer_new(base, conn_timer, ssl)) == NULL) {
		SSL_free(ssl); /* and C with it */
		return refuse_bev(w, &err);
	}
	/* Frees SSL (and C) when it fails. */
	tls = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		return refuse_bev(w, &err);
	}
	/* Frees TLS when it fails. */
	bev = mtls__serve_frame_new(w, ssl, tls);
	if (bev == NULL) {
		return refuse_bev(w, &err);
	}
	c->w = w; /* from here on, its end is counted and logged */
	if (evbuffer_add_cb(bufferevent_get_output(tls), coalesce_output,
		NULL) == NULL) {
		mtls__serve_log(srv, "error", "cannot watch a connection's output");
	}
	c->counted = 1;
	c->next = w->open;
	if (w->open != NULL) {
		w->open->prev = c;
	}
	w->open = c;
	atomic_fetch_add(&srv->m.conns_accepted, 1);
	atomic_fetch_add(&w->conns, 1);
	if (atomic_fetch_add(&srv->m.conns_open, 1) >= srv->opts.max_conns) {
		atomic_fetch_add(&srv->m.conns_rejected, 1);
		/* Refused even if its handshake completes before the timer
		 * fires: the timer stays armed (see info_cb). */
		c->refused = 1;
		mtls__serve_conn_fail(c, "max_connections",
		    "refused: %d connections are open (--max-conns)",
		    srv->opts.max_conns);
		tv.tv_sec = 0;
		tv.tv_usec = 0;
	}
	evtimer_add(c->timer, &tv);
	return bev;
}

/* Binds ADDR:PORT ("[v6]:port" too). PROBE: without SO_REUSEPORT, to see
 * whether someone else already listens there. */
static int
bind_listen(const char *listen_spec, int probe, struct mtls_err *err)
{
	char host[256], *port;
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1, rc;

	snprintf(host, sizeof(host), "%s", listen_spec);
	port = strrchr(host, ':');
	if (port == NULL || port == host || port[1] == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "--listen needs ADDRESS:PORT (e.g. 127.0.0.1:8443), not "
		    "'%s'", listen_spec);
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "--listen %s: %s",
		    listen_spec, gai_strerror(rc));
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (!probe && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			   sizeof(one)) != 0) ||
	    /* Accepted sockets inherit it: without it a response written as
	     * two TLS records waits ~40 ms for the client's delayed ACK. */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 1024) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot listen on %s", listen_spec);
		if (fd >= 0) {
			close(fd);
		}
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct serve_worker *w = arg;
	struct timespec now;

	(void)fd, (void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (atomic_load(&w->conns) == 0 ||
	    now.tv_sec > w->srv->drain_deadline.tv_sec ||
	    (now.tv_sec == w->srv->drain_deadline.tv_sec &&
		now.tv_nsec >= w->srv->drain_deadline.tv_nsec)) {
		event_base_loopbreak(w->base);
	}
}

/* Draining: a keep-alive connection waiting for its next request would
 * hold the shutdown until the drain timeout; say goodbye to those now.
 * Connections in a handshake or with a request under way are left to
 * finish (their responses carry "Connection: close"). */
static void
close_idle(struct serve_worker *w)
{
	struct serve_conn *c;
	int fd;

	for (c = w->open; c != NULL; c = c->next) {
		if (!c->hs_done || c->busy) {
			continue;
		}
		fd = SSL_get_fd(c->ssl);
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* close_notify; the socket is idle */
		ERR_clear_error();
		if (fd >= 0) {
			shutdown(fd, SHUT_RDWR);
		}
	}
}

/* Runs in the worker when the main thread asks it to drain (a byte on its
 * control pipe: each event base stays single-threaded, so libevent needs
 * no locking). */
static void
worker_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct serve_worker *w = arg;
	struct timeval tick = {0, 100000};
	char b;

	(void)what;
	if (read(fd, &b, 1) != 1 || w->drain != NULL) {
		return;
	}
	if (w->bound != NULL) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
	}
	close_idle(w);
	w->drain = event_new(w->base, -1, EV_PERSIST, drain_check, w);
	if (w->drain == NULL || event_add(w->drain, &tick) != 0) {
		event_base_loopbreak(w->base);
	}
}

static void *
worker_main(void *arg)
{
	struct serve_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* The reserve ran dry (or holds a bufferevent again): stop (resume)
 * accepting on this worker's socket. */
static void
worker_pause(void *arg, int paused)
{
	struct serve_worker *w = arg;
	struct evconnlistener *l = w->bound != NULL
	    ? evhttp_bound_socket_get_listener(w->bound) : NULL;

	if (l == NULL) {
		return;
	}
	if (paused) {
		mtls__serve_log(w->srv, "error", "worker %d stops accepting "
		    "until memory for new connections is available", w->index);
		evconnlistener_disable(l);
	} else {
		mtls__serve_log(w->srv, "info", "worker %d accepts again",
		    w->index);
		evconnlistener_enable(l);
	}
}

static int
worker_init(struct serve *srv, struct serve_worker *w, int index,
    struct mtls_err *err)
{
	struct timeval idle = tv_of(srv->opts.idle_timeout);
	struct event_config *cfg;

	w->srv = srv;
	w->index = index;
	w->fd = -1;
	w->ctlpipe[0] = w->ctlpipe[1] = -1;
	atomic_init(&w->conns, 0);
	cfg = event_config_new();
	/* Each base belongs to one thread (no locks), and bufferevent_openssl
	 * flips read/write interest several times per handshake: the
	 * changelist folds those flips into one epoll_ctl per fd and loop
	 * turn. We never dup() sockets, the changelist's one caveat. */
	if (cfg != NULL) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK |
		    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		w->base = event_base_new_with_config(cfg);
		event_config_free(cfg);
	}
	w->http = w->base != NULL ? evhttp_new(w->base) : NULL;
	if (pipe(w->ctlpipe) != 0) {
		w->ctlpipe[0] = w->ctlpipe[1] = -1;
		return mtls_err_sys(err, MTLS_E_INTERNAL, "pipe");
	}
	fcntl(w->ctlpipe[0], F_SETFL, O_NONBLOCK);
	fcntl(w->ctlpipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(w->ctlpipe[1], F_SETFD, FD_CLOEXEC);
	w->ctl = w->base != NULL ? event_new(w->base, w->ctlpipe[0],
					EV_READ | EV_PERSIST, worker_ctl, w)
				 : NULL;
	if (w->http == NULL || w->ctl == NULL || event_add(w->ctl, NULL) != 0) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "cannot create the event loop of worker %d", index);
	}
	w->store = mtls__content_store_open(srv->opts.root, srv->opts.state_dir, err);
	if (w->store == NULL) {
		return -1;
	}
	if (index == 0) {
		unsigned n = mtls__content_store_sweep(w->store);

		if (n > 0) {
			mtls__serve_log(srv, "info", "removed %u temporary "
			    "file%s a killed receiver left under %s", n,
			    n == 1 ? "" : "s", srv->opts.root);
		}
	}
	w->reserve = mtls__tls_reserve_new(w->base, 2, worker_pause, w, err);
	if (w->reserve == NULL) {
		return -1;
	}
	evhttp_set_bevcb(w->http, accept_bev, w);
	evhttp_set_gencb(w->http, mtls__serve_http_request, w);
	evhttp_set_timeout_tv(w->http, &idle);
	evhttp_set_max_body_size(w->http, (ev_ssize_t)srv->opts.max_body);
	evhttp_set_max_headers_size(w->http, 16384);
	/* Read and discard an oversized body before closing, so the client
	 * gets its 413 instead of a reset while it is still sending. */
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(w->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	w->fd = bind_listen(srv->opts.listen, 0, err);
	if (w->fd < 0) {
		return -1;
	}
	w->bound = evhttp_accept_socket_with_handle(w->http, w->fd);
	if (w->bound == NULL) {
		close(w->fd);
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "cannot accept on %s", srv->opts.listen);
	}
	return 0;
}

static void
worker_free(struct serve_worker *w)
{
	if (w->http != NULL) {
		evhttp_free(w->http); /* closes what is still open */
	}
	mtls__tls_reserve_free(w->reserve);
	if (w->ctl != NULL) {
		event_free(w->ctl);
	}
	if (w->drain != NULL) {
		event_free(w->drain);
	}
	if (w->base != NULL) {
		event_base_free(w->base);
	}
	if (w->ctlpipe[0] >= 0) {
		close(w->ctlpipe[0]);
		close(w->ctlpipe[1]);
	}
	mtls__content_store_close(w->store);
}

static void
worker_wake(struct serve_worker *w)
{
	/* The pipe holds far more than one byte per drain request. */
	if (write(w->ctlpipe[1], "d", 1) != 1) {
		mtls__serve_log(w->srv, "error", "cannot wake worker %d", w->index);
	}
}

/* Waits for signals in the calling thread until SIGTERM or SIGINT. */
static void
signal_loop(struct serve *srv, const sigset_t *set)
{
	int sig = 0, i;

	struct timespec tick;

	for (;;) {
		/* Wake up every watch interval to look at the files. */
		tick.tv_sec = (time_t)(srv->opts.watch_interval > 0
			? srv->opts.watch_interval : 1);
		tick.tv_nsec = (long)((srv->opts.watch_interval > 0
			? srv->opts.watch_interval - (double)tick.tv_sec : 0) * 1e9);
		sig = srv->opts.watch_interval < 0 ? (sigwait(set, &sig) == 0
			? sig : -1) : sigtimedwait(set, NULL, &tick);
		if (sig < 0) {
			mtls__serve_watch_tick(srv);
			continue;
		}
		if (sig == SIGHUP) {
			if (mtls__serve_reload(srv, "SIGHUP", 0) == 0) {
				mtls__serve_watch_sync(srv);
			}
			mtls__serve_rev_tick(srv, 1);
			continue;
		}
		break;
	}
	mtls__serve_log(srv, "info", "%s: draining (up to %.1f s), no new "
	    "connections", sig == SIGINT ? "SIGINT" : "SIGTERM",
	    srv->opts.drain_timeout);
	clock_gettime(CLOCK_MONOTONIC, &srv->drain_deadline);
	srv->drain_deadline.tv_sec += (time_t)srv->opts.drain_timeout;
	atomic_store(&srv->draining, 1);
	for (i = 0; i < srv->nworkers; i++) {
		worker_wake(&srv->w[i]);
	}
}

/* One receiver per state directory. The guard against the same item id
 * twice at once lives in one process; a second receiver on the same
 * directory could take a live writer's "placing" record for a killed
 * one's and apply the item again. flock(2), so a killed receiver never
 * leaves it held. Returns the descriptor to keep open, or -1. */
static int
claim_state_dir(const struct mtls__serve_opts *o, struct mtls_err *err)
{
	const char *dir = o->state_dir != NULL ? o->state_dir : o->root;
	char path[4096];
	int fd;

	if (mtls_mkdir_p(dir, o->state_dir != NULL ? 0700 : 0755, err) != 0) {
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, MTLS__SERVE_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot open %s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		return fd;
	}
	if (errno == EWOULDBLOCK) {
		mtls_err_set(err, MTLS_E_BUSY, "another mtls serve uses the state "
		    "directory %s (item ids need one receiver each); give this "
		    "one its own --state-dir", dir);
	} else {
		mtls_err_sys(err, MTLS_E_IO, "cannot lock %s", path);
	}
	close(fd);
	return -1;
}

int
mtls_serve_run(const struct mtls_serve_config *cfg, struct mtls_err *err)
{
	const struct mtls__serve_opts *opts = mtls__serve_config_opts(cfg);
	struct serve srv;
	sigset_t set;
	int i, rc = -1, probe;

	memset(&srv, 0, sizeof(srv));
	srv.opts = *opts;
	srv.state_lock = -1;
	pthread_mutex_init(&srv.lock, NULL);
	pthread_mutex_init(&srv.log_lock, NULL);
	mtls__serve_counters_init(&srv.m.failures);
	mtls__serve_counters_init(&srv.m.requests);
	if (opts->workers < 1 || opts->max_conns < 1 || opts->root == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "serve: workers and max connections must be at least 1, "
		    "and a root directory is required");
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (mtls__serve_rev_start(&srv, err) != 0) {
		return -1;
	}
	srv.gen = mtls__serve_gen_load(opts, err);
	if (srv.gen == NULL) {
		mtls__serve_rev_free(srv.rev);
		return -1;
	}
	/* Without a map every certificate the CA ever signed (a partner's
	 * and every node's) could write anywhere: only when asked by name. */
	if (opts->map == NULL && !opts->insecure_no_map) {
		mtls_err_set(err, MTLS_E_USAGE, "no --map: every certificate "
		    "the CA has signed (partners' and nodes' included) would get "
		    "full write access; give --map FILE (docs/map-format.md), or "
		    "--insecure-no-map to accept that");
		goto out;
	}
	if (opts->audit_log != NULL) {
		srv.audit = mtls__audit_open(opts->audit_log,
		    opts->audit_max_bytes, err);
		if (srv.audit == NULL) {
			goto out;
		}
	}
	if (mtls__serve_rev_attach(srv.rev, srv.gen->ctx) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "cannot attach the revocation "
		    "checks to the TLS context; nothing is served");
		goto out;
	}
	if (opts->watch_interval >= 0) {
		srv.watch = mtls__serve_watch_new(&srv);
	}
	/* SO_REUSEPORT would let us share a port with another server by
	 * accident; a plain bind first reports "address in use" instead. */
	probe = bind_listen(opts->listen, 1, err);
	if (probe < 0) {
		goto out;
	}
	close(probe);
	srv.state_lock = claim_state_dir(opts, err);
	if (srv.state_lock < 0) {
		goto out;
	}
	srv.w = calloc((size_t)opts->workers, sizeof(*srv.w));
	if (srv.w == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < opts->workers; i++) {
		srv.nworkers = i + 1;
		if (worker_init(&srv, &srv.w[i], i, err) != 0) {
			goto out;
		}
	}
	for (i = 0; i < srv.nworkers; i++) {
		if (pthread_create(&srv.w[i].thread, NULL, worker_main,
			&srv.w[i]) != 0) {
			mtls_err_sys(err, MTLS_E_INTERNAL, "pthread_create");
			srv.nworkers = i;
			atomic_store(&srv.draining, 1);
			goto stop;
		}
		srv.w[i].started = 1;
	}
	mtls__serve_gen_describe(&srv, "listening");
	if (opts->map == NULL) {
		mtls__serve_log(&srv, "warning", "--insecure-no-map: no principal map; "
		    "every client certificate the CA has signed is its CN with "
		    "full access to %s", opts->root);
	}
	mtls__serve_log(&srv, "info", "serving https://%s/bin/receive with %d "
	    "worker%s, root %s", opts->listen, opts->workers,
	    opts->workers == 1 ? "" : "s", opts->root);
	signal_loop(&srv, &set);
	rc = 0;
stop:
	for (i = 0; i < srv.nworkers; i++) {
		if (srv.w[i].started) {
			if (rc != 0) {
				worker_wake(&srv.w[i]);
			}
			pthread_join(srv.w[i].thread, NULL);
		}
	}
	if (rc == 0) {
		mtls__serve_log(&srv, "info", "stopped (%ld connections were still "
		    "open)", atomic_load(&srv.m.conns_open));
	}
out:
	for (i = 0; srv.w != NULL && i < srv.nworkers; i++) {
		worker_free(&srv.w[i]);
	}
	free(srv.w);
	mtls__serve_gen_put(srv.gen);
	mtls__serve_watch_free(srv.watch);
	mtls__serve_rev_free(srv.rev);
	mtls__audit_close(srv.audit);
	if (srv.state_lock >= 0) {
		close(srv.state_lock);
	}
	return rc;
}
