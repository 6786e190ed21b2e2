/* Layer online: `mtls ca serve` - the server's state, shared by its set-up
 * (ca_serve.c) and its HTTP answers (ca_serve_http.c). Private. */
#ifndef MTLS_CA_SERVE_INT_H
#define MTLS_CA_SERVE_INT_H

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "mtls/ca.h"
#include "mtls/ocsp.h"
#include "mtls/online.h"
#include "online/acme_srv.h"
#include "online/ca_serve_config_int.h"
#include "online/est_int.h"

#define EST_PREFIX "/.well-known/est/"
#define ACME_PREFIX "/acme/"
#define FAIL_SLOTS 256
#define FAIL_WINDOW 60

/* Failed authentications per client address (a small open table: an
 * attacker with many addresses evicts entries, but each address is then
 * limited on its own). */
struct fail_slot {
	char addr[64];
	int fails;
	time_t first, blocked_until;
};

/* An EST answer waiting for the group commit that makes its writes
 * durable (ca_internal.h, mtls__ca_group_join). */
struct held_answer {
	struct evhttp_request *req; /* evhttp keeps it until answered, even
	                               when its connection is gone */
	struct est_resp resp;
	char addr[64];
	char op[32];
	int method;
};

/* A group is committed when the loop has nothing else to do, or at once
 * when it is this large or this old (bounded latency under a storm). */
#define GROUP_MAX 64
#define GROUP_MAX_MS 20
/* The CA lock is kept from one group to the next during a burst: given
 * up when no group came for LOCK_IDLE_MS, when it was held LOCK_HOLD_MS,
 * or at once when a command waits for it (DIR/lock.want). */
#define LOCK_IDLE_MS 50
#define LOCK_HOLD_MS 1000

struct crl_cache {
	unsigned char *der;
	char *pem;
	size_t der_len, pem_len;
	time_t built, next_update;
	long long rev_count;
	time_t rev_latest;
	char etag[40];
	char last_modified[40];
};

struct casrv {
	struct mtls__ca_serve_opts o;
	struct mtls_ca *ca;
	struct est_ctx est;
	struct mtls__acme_srv *acme;
	struct mtls_ocsp_responder *ocsp;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx;
	struct crl_cache crl;
	struct crl_cache crl_prev; /* the retiring issuer's, in a rollover */
	int crl_prev_warned;       /* its key is missing: said once */
	int crl_final;             /* crl_prev holds a retired issuer's final
	                              CRL, served as it is */
	unsigned long long stamp;  /* the CA's files when last (re)loaded */
	unsigned long long stamp_seen; /* ... and at the last tick */
	int own_retry;             /* ticks left to move its own TLS
	                              certificate while the CA lock is held */
	struct fail_slot fails[FAIL_SLOTS];
	struct evconnlistener *listener; /* paused at max_conns */
	struct mtls__tls_reserve *reserve; /* refuses what cannot be set up */
	int conns_open;
	int stopping;             /* evhttp_free is closing everything */
	unsigned long long issued, refused, requests, slowed, crl_builds;
	unsigned long long busy, timed_out, accept_paused, conns_total;
	unsigned long long unserved; /* closed unanswered: no memory for TLS */
	struct held_answer *held;    /* answers waiting for the group commit */
	size_t nheld, held_cap;
	struct event *group_ev;      /* the lowest priority: runs when idle */
	int64_t group_start;         /* mtls__mono_ms of the first held */
	unsigned long long group_commits, group_answers;
	struct event *lock_idle_ev;  /* gives the CA lock up when idle */
	int64_t lock_since;          /* mtls__mono_ms when kept, 0: not held */
	unsigned long long lock_releases;
	unsigned long long by_op[4]; /* cacerts, simpleenroll,
	                                simplereenroll, csrattrs */
	unsigned long long by_status[6]; /* 1xx..5xx */
};

/* One accepted connection (SSL ex_data: freed with the SSL object). */
struct casrv_conn {
	struct casrv *s;
	struct bufferevent *bev;
	struct event *deadline;   /* --request-timeout for the next request */
};

/* The connection state of SSL, or NULL. */
struct casrv_conn *mtls__casrv_conn(SSL *ssl);

/* Gives the connection of SSL a new --request-timeout for its next
 * request (after one was answered). */
void mtls__casrv_conn_rearm(SSL *ssl);

/* Once per process: the SSL ex_data slot of the connections. */
int mtls__casrv_conn_init(struct mtls_err *err);

/* evhttp's bufferevent callback: a TLS connection with its deadline,
 * counted against --max-conns (ARG is the struct casrv). */
struct bufferevent *mtls__casrv_accept_bev(struct event_base *base,
    void *arg);

/* The pause callback of the reserve (accept/accept_int.h): stops
 * accepting when it ran dry, resumes when it holds a bufferevent again
 * and fewer than --max-conns connections are open. */
void mtls__casrv_reserve_pause(void *arg, int paused);

/* One log line to stderr: "TIME mtls ca serve: ...". */
void mtls__casrv_log(struct casrv *s, const char *fmt, ...) MTLS_PRINTF(2, 3);

/* One line of /metrics; TYPE and HELP only on the first of a name. */
struct mtls__casrv_metric {
	const char *name, *type, *help, *labels;
	unsigned long long value;
};
struct mtls__buf;
/* Appends the Prometheus text of the N metrics M to B (growable: no
 * limit). 0, or -1 when out of memory (B then holds part of it). */
int mtls__casrv_metrics_render(const struct mtls__casrv_metric *m, size_t n,
    struct mtls__buf *b);

/* Rebuilds the cached CRL (PREV: the retiring issuer's, during a
 * rollover) when a revocation changed the inventory or half its validity
 * has passed. */
int mtls__casrv_crl_refresh(struct casrv *s, int prev, struct mtls_err *err);

/* Commits the open group and sends the answers that waited for it (or,
 * when the commit failed, a "send it again" in their place). The CA's
 * group flush callback; a no-op when no group is open. */
void mtls__casrv_group_flush(void *arg);

/* Gives the CA lock up (when held) unless a group is open. */
void mtls__casrv_lock_release(struct casrv *s);

/* ca_serve_tls.c: the server's TLS context for CERT and KEY (KEY_PASS a
 * password spec, or NULL), and its own identity: issued by the CA into
 * CA_DIR/online/ the first time and again within a day of expiring, the
 * paths written to CERT and KEY (LEN bytes each). NOWAIT: inside the
 * event loop, MTLS_E_BUSY at once when the CA lock is held. */
SSL_CTX *mtls__casrv_tls_ctx(struct casrv *s, const char *cert,
    const char *key, const char *key_pass, struct mtls_err *err);
int mtls__casrv_own_identity(struct casrv *s, char *cert, char *key,
    size_t len, int nowait, struct mtls_err *err);

/* evhttp's callback for every request: routes by path prefix. */
void mtls__casrv_on_request(struct evhttp_request *req, void *arg);

#endif
