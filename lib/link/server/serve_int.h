/* Internals of the receiver shared by serve*.c (not installed). */
#ifndef MTLS_SERVE_INT_H
#define MTLS_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "link/server/principal_map_int.h"
#include "link/server/content_store_int.h"
#include "link/server/serve_audit_int.h"
#include "link/server/serve_config_int.h"
#include "mtls/serve.h"

#define SERVE_REASON_MAX 512
#define SERVE_COUNTERS_MAX 96

/* A set of labelled counters ("reason=\"expired\"") under one lock. */
struct serve_counters {
	pthread_mutex_t lock;
	size_t n;
	struct {
		char labels[128];
		uint64_t value;
	} c[SERVE_COUNTERS_MAX];
};

struct serve_metrics {
	atomic_ulong conns_accepted, conns_rejected, conns_unserved, handshakes,
	    handshakes_resumed, reloads, reload_failures;
	atomic_long conns_open;
	struct serve_counters failures; /* by reason */
	struct serve_counters requests; /* by action and status */
};

/* What SIGHUP replaces: the TLS context and the principal map. */
struct serve_gen {
	atomic_int refs;
	SSL_CTX *ctx;
	struct mtls__pmap *map; /* NULL: principal = CN, full access */
};

struct serve;
struct serve_frame;

struct serve_worker {
	struct serve *srv;
	int index;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *ctl;   /* woken by the main thread via ctlpipe */
	int ctlpipe[2];
	struct event *drain; /* periodic check while draining */
	struct mtls__content_store *store;
	struct mtls__tls_reserve *reserve; /* refuses what cannot be set up */
	atomic_long conns;
	struct serve_conn *open; /* list of this worker's connections */
	int fd;
	int started;
};

struct serve {
	struct mtls__serve_opts opts;
	pthread_mutex_t lock; /* guards gen */
	struct serve_gen *gen;
	pthread_mutex_t log_lock;
	struct serve_metrics m;
	atomic_int draining;
	struct timespec drain_deadline;
	struct serve_worker *w;
	int nworkers;
	struct serve_rev *rev;     /* CRL/OCSP checks; NULL: none */
	struct serve_watch *watch; /* certificate/key file watch */
	struct mtls__audit *audit; /* --audit-log; NULL: none */
};

/* Per-connection state, kept as SSL ex_data and freed with the SSL. */
struct serve_conn {
	struct serve_worker *w; /* NULL outside a running server (tests) */
	struct event *timer;    /* handshake deadline / max-conns refusal */
	char peer[80];
	char reason[SERVE_REASON_MAX];
	const char *reason_key;
	SSL *ssl;               /* the connection this state belongs to */
	struct serve_conn *prev, *next; /* the worker's open connections */
	int hs_done;
	int counted;
	int close_hooked;
	int busy; /* request bytes arrived since the last response */
	int lingered; /* refused handshake: socket drained (conn_linger) */
	int refused; /* over --max-conns: closed whether or not the
	                handshake completes */
	X509 *leaf; /* the leaf a refused client presented (owned): OpenSSL
	               keeps no peer certificate after a failed verification */
	struct serve_frame *frame; /* request framing (serve_frame.c) */
	void (*frame_put)(struct serve_frame *); /* drops our reference */
};

/*
 * Who calls whom (no cycles; a file calls only files listed below it):
 *   serve.c          workers, signals, drain         -> everything below
 *   serve_http.c     requests                        -> metrics, gen, frame, conn, log
 *   serve_frame.c    request framing, deadlines      -> conn, counters, log
 *   serve_metrics.c  /metrics page                   -> gen, tls, rev, counters
 *   serve_watch.c    certificate/key file watch      -> gen, rev, log
 *   serve_gen.c      generations, reload             -> tls, rev, log
 *   serve_revocation.c  CRL/OCSP hook                -> tls (registers), conn, log
 *   serve_tls.c      TLS context, verification       -> conn
 *   serve_conn.c     connection table                -> counters, log
 *   serve_counters.c, mtls__serve_log.c                    leaves
 */

/* serve_conn.c: per-connection state (SSL ex_data). */
struct serve_conn *mtls__serve_conn_get(const SSL *ssl);
struct serve_conn *mtls__serve_conn_attach(SSL *ssl, struct mtls_err *err);
void mtls__serve_conn_fail(struct serve_conn *c, const char *key,
    const char *fmt, ...) MTLS_PRINTF(3, 4);
void mtls__serve_conn_peer(struct serve_conn *c, SSL *ssl);
/* After our fatal alert in a handshake: keeps C's socket (a duplicate
 * descriptor) half-closed and drained for up to 2 s so the alert reaches
 * the client instead of a reset. At most 1024 at once; beyond, a plain
 * close. */
void mtls__serve_conn_linger(struct serve_conn *c);
/* Appends an audit record EVENT (accept, refuse) for C with RESULT and
 * its peer certificate's fingerprint and subject; nothing without
 * --audit-log. */
void mtls__serve_conn_audit(struct serve_conn *c, const char *event,
    const char *result);
/* Called when a connection's SSL is freed: unlinks it from its worker,
 * counts and logs a handshake that never completed. */
void mtls__serve_conn_closed(struct serve_conn *c);

/* serve_tls.c: VERIFIED runs after every client certificate verification
 * of CTX, cached or not, with the verification result RC and the verified
 * chain in XS (X509_STORE_CTX_get0_chain); what it returns is the result.
 * RESUMED runs before a session is resumed, with the peer's chain
 * verified again at this moment (leaf first, anchor last): 1 lets the
 * session resume, 0 turns it into a full handshake. Without hooks the
 * result stands. Call before CTX is shared between threads. */
typedef int serve_verified_fn(X509_STORE_CTX *xs, int rc, void *arg);
typedef int serve_resumed_fn(SSL *ssl, STACK_OF(X509) *chain, void *arg);
int mtls__serve_tls_hooks(SSL_CTX *ctx, serve_verified_fn *verified,
    serve_resumed_fn *resumed, void *arg);

/* serve_gen.c */
struct serve_gen *mtls__serve_gen_load(const struct mtls__serve_opts *o,
    struct mtls_err *err);
struct serve_gen *mtls__serve_gen_get(struct serve *srv);
void mtls__serve_gen_put(struct serve_gen *g);
/* Logs the generation in use: certificate, CA, map. */
void mtls__serve_gen_describe(struct serve *srv, const char *what);

/* serve_http.c */
void mtls__serve_http_request(struct evhttp_request *req, void *arg);

/* serve_frame.c: request framing between TLS and evhttp. */
#define SERVE_HEAD_MAX 16384
struct serve_head {
	size_t len;             /* bytes up to and including the blank line */
	long long content_length; /* -1: none */
	int expect_continue;
	int http11;             /* HTTP/1.1 (not 1.0): may be sent 100 */
	int paths;              /* Path headers seen */
	const char *outcome;    /* a refusal's log outcome, when specific */
	char method[16];
	char target[1024];      /* cut to fit; for the log */
	char item[132];         /* Item-Id when it fits, else empty */
};
/* Judges the request head at the start of BUF (LEN bytes, leading empty
 * lines allowed): 0 when it is complete and acceptable (H filled), 1 when
 * more bytes are needed, or the HTTP status to refuse it with (400 bad
 * syntax, NUL or control bytes, repeated Content-Length or Path, folded
 * lines; 411 Transfer-Encoding; 413 Content-Length over MAX_BODY; 417 an
 * Expect other than 100-continue; 431 no end within MAX_HEAD bytes; 501
 * a method other than GET, POST, HEAD), *WHY saying why in one line. */
/* 1 when the header name at P (N bytes) is NAME, ignoring case. */
int mtls__serve_header_is(const char *p, size_t n, const char *name);
int mtls__serve_head_check(const char *buf, size_t len, size_t max_head,
    uint64_t max_body, struct serve_head *h, const char **why);
/* The bufferevent evhttp reads: TLS (owned, freed with it) filtered so
 * that each head has --header-timeout and each body --body-timeout in
 * all, and refusals are answered, logged and lingered over. NULL when
 * out of memory; TLS is freed then too. */
struct bufferevent *mtls__serve_frame_new(struct serve_worker *w, SSL *ssl,
    struct bufferevent *tls);
/* The body of the request evhttp is handing over, complete in its spool
 * file (the head evhttp sees says Content-Length: 0), or NULL when the
 * request had no body. Borrowed until mtls__serve_frame_done. */
struct mtls__content_spool *mtls__serve_frame_spool(struct serve_frame *f);
/* The request was answered: its spool (unless placed) is removed and the
 * next request on the connection is read. */
void mtls__serve_frame_done(struct serve_frame *f);
/* The SSL under evhttp's bufferevent BEV (filtered or not). */
SSL *mtls__serve_bev_ssl(struct bufferevent *bev);
/* Request bytes received on BEV and not yet read by evhttp. */
size_t mtls__serve_bev_pending(struct bufferevent *bev);

/* serve_counters.c */
void mtls__serve_counters_init(struct serve_counters *c);
void mtls__serve_counters_add(struct serve_counters *c, const char *labels);
void mtls__serve_counters_render(struct serve_counters *c, const char *name,
    struct evbuffer *out);

/* serve_metrics.c */
void mtls__serve_metrics_render(struct serve *srv, struct evbuffer *out);

/* mtls__serve_log.c */
void mtls__serve_now(char *buf, size_t len);
double mtls__serve_elapsed_ms(const struct timespec *start);
void mtls__serve_log(struct serve *srv, const char *level, const char *fmt, ...)
    MTLS_PRINTF(3, 4);
/* Copies S into OUT (LEN bytes, always terminated) as one field of a log
 * line: valid UTF-8 and printable characters stay; a backslash is
 * doubled; control characters (C0, DEL, C1) and bytes that are not UTF-8
 * become \xNN. With SERVE_ESC_FIELD (a key=value field of the text log)
 * a double quote gets a backslash and a space becomes \x20 too. What
 * does not fit is cut at a character and marked "...". Returns OUT. */
#define SERVE_ESC_FIELD 1
const char *mtls__serve_log_escape(const char *s, int flags, char *out, size_t len);
/* A refused handshake; FP and SUBJECT are the presented leaf's SHA-256
 * fingerprint and subject, "-" when none was presented. */
void mtls__serve_log_handshake(struct serve *srv, const char *peer,
    const char *key, const char *reason, const char *fp, const char *subject);

struct serve_access {
	const char *peer, *principal, *serial, *method, *uri, *action, *path;
	const char *item, *outcome;
	int status;
	size_t bytes_in, bytes_out;
	double ms;
};
void mtls__serve_log_access(struct serve *srv, const struct serve_access *a);

/* Builds the server's SSL_CTX from OPTS: certificate and key (checked to
 * match), client verification against the CA (names sent in the
 * CertificateRequest), purpose sslclient, TLS 1.2+, AEAD ciphers, session
 * resumption. The caller frees it with SSL_CTX_free. Exposed for tests. */
SSL_CTX *mtls__serve_tls_ctx(const struct mtls__serve_opts *opts,
    struct mtls_err *err);

/* A server connection on CTX with the receiver's bookkeeping attached
 * (handshake outcome, reason). Free with SSL_free. */
SSL *mtls__serve_ssl_new(SSL_CTX *ctx, struct mtls_err *err);

/* How many client certificates CTX accepted from its verified-certificate
 * cache (identical DER verified before, chain not yet expired, at most 5
 * minutes ago) instead of verifying them again. */
unsigned long mtls__serve_vcache_hits(SSL_CTX *ctx);

/* Why the handshake on SSL failed, in words ("no certificate sent",
 * "certificate CN=x (serial 01) expired on ..."), or NULL when no reason
 * was recorded. SSL must come from an SSL_CTX made by mtls__serve_tls_ctx. */
const char *mtls__serve_handshake_reason(const SSL *ssl);

#endif
