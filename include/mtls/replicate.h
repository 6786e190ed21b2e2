/*
 * mtls/replicate.h - the client side of replication: the connection test
 * (`mtls test`), the durable queue and the delivery agent (`mtls push`).
 *
 * Protocol (see mtls-serve(1)): `POST /bin/receive` with the headers
 * `Action: Test | Activate | Deactivate`, `Path: /abs/path` and
 * `Item-Id: <32 hex digits>`; for Activate the body is the content. 200
 * means applied; the receiver acknowledges a replayed Item-Id with 200
 * without applying it twice, which is what makes redelivery after a crash
 * safe.
 *
 * Callers must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): a receiver that
 * rejects our certificate may close the connection while we write.
 */
#ifndef MTLS_REPLICATE_H
#define MTLS_REPLICATE_H

#include <stdint.h>
#include <stdio.h>

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/revocation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* The receiver's path when a URL names none (or "/"). */
#define MTLS_RECEIVE_PATH "/bin/receive"

/* An https URL split into parts. HOST has no brackets for IPv6. */
struct mtls_url {
	char host[256];
	char port[8];
	char path[1024];
	int host_is_ip; /* HOST is an IPv4/IPv6 literal: no SNI, IP check */
};

/* Parses "https://host[:port][/path]" (port defaults to 443; an empty
 * path or "/" becomes MTLS_RECEIVE_PATH). Anything else (another scheme,
 * user info, a query, spaces) is an MTLS_E_USAGE error naming the URL. */
int mtls_url_parse(const char *s, struct mtls_url *u, struct mtls_err *err);

/* The normalised form "https://host:port/path" ("[v6]" bracketed) into
 * BUF; the queue names targets by it. */
void mtls_url_format(const struct mtls_url *u, char *buf, size_t len);

/* The identity a client presents and the CA it trusts (files; KEY_PASS is
 * a password spec as in mtls/pass.h, consulted only for encrypted keys). */
struct mtls_credentials {
	const char *cert;
	const char *key;
	const char *key_pass;
	const char *ca;
};

/* ---- connection test (lib/testconn.c) ---- */

struct mtls_testconn_opts {
	const char *url;
	struct mtls_credentials id;
	const char *path;  /* the Path header; NULL means "/content" */
	int timeout_s;     /* per step (connect, handshake, response); 0 = 10 */
	int use_get;       /* send the Test as GET, for generic HTTPS servers
			      (openssl s_server -www answers only GET) */
	const char *resolve;    /* "HOST:PORT:ADDR[,...]": connect to ADDR
				   for HOST:PORT (curl's --resolve); NULL */
	const char *servername; /* SNI and the name the server's
				   certificate must carry; NULL = URL host */
	struct mtls_revocation_opts rev; /* the receiver's chain, checked
				   after the handshake, before the request */
};

/* Runs the replication test against OPTS->url, writing a step-by-step log
 * to LOG (resolving, connecting, TLS version and cipher, the server's
 * certificate and whether its name matched, whether the server asked for
 * a client certificate and which one we sent, the request and response).
 * Returns 0 when the receiver answered the Test action with 200 over a
 * mutually authenticated connection; otherwise -1 with the precise reason
 * in ERR (no endpoint, unknown CA, no client certificate requested, our
 * certificate rejected, name mismatch, expired, HTTP status ...). */
int mtls_testconn_run(const struct mtls_testconn_opts *opts, FILE *log,
    struct mtls_err *err);

/* ---- durable queue (lib/queue.c) ---- */

/* Replication actions, usable as a bit set. */
enum mtls_action {
	MTLS_ACTION_TEST = 1,
	MTLS_ACTION_ACTIVATE = 2,
	MTLS_ACTION_DEACTIVATE = 4,
};
#define MTLS_ACTION_ALL \
	(MTLS_ACTION_TEST | MTLS_ACTION_ACTIVATE | MTLS_ACTION_DEACTIVATE)

/* "Test"/"activate"/"DEACTIVATE" (any case) to an action; -1 if unknown. */
int mtls_action_parse(const char *s);

/* "Test", "Activate", "Deactivate" (the protocol's spelling). */
const char *mtls_action_name(enum mtls_action a);

enum mtls_item_state {
	MTLS_ITEM_PENDING,
	MTLS_ITEM_DELIVERED,
	MTLS_ITEM_FAILED, /* permanently: the receiver answered 4xx */
};

/* Content at or below this size lives inside the database; larger content
 * is copied to a file under STATE/blobs. Both are durable on enqueue. */
#define MTLS_QUEUE_INLINE_MAX (256 * 1024)

struct mtls_queue;

/* Opens (creating) STATE/queue.db in WAL mode, creating STATE (0700).
 * DURABLE selects synchronous=FULL (every commit survives power loss);
 * otherwise NORMAL (commits survive a crash of the process, which is all
 * the delivery bookkeeping needs: a lost "delivered" mark only causes a
 * redelivery the receiver recognises by its Item-Id). */
struct mtls_queue *mtls_queue_open(const char *state, int durable,
    struct mtls_err *err);

/* Closes Q. NULL-safe. */
void mtls_queue_close(struct mtls_queue *q);

/* Groups several enqueues in one transaction (one fsync for all). */
int mtls_queue_begin(struct mtls_queue *q, struct mtls_err *err);
int mtls_queue_commit(struct mtls_queue *q, struct mtls_err *err);
void mtls_queue_rollback(struct mtls_queue *q);

/* Enqueues ACTION on PATH for each of the NTARGETS targets. For Activate,
 * the content of FILE is snapshotted now (FILE may change or vanish
 * afterwards); FILE is ignored otherwise. PATH must be absolute, with no
 * ".." segment and no control characters. Each row gets a fresh random
 * 128-bit id; the id of the first is copied to FIRST_ID (33 bytes) when
 * non-NULL. Outside mtls_queue_begin, the enqueue is its own transaction
 * and is durable when this returns. */
int mtls_queue_enqueue(struct mtls_queue *q, const char *const *targets,
    size_t ntargets, enum mtls_action action, const char *path,
    const char *file, char *first_id, struct mtls_err *err);

/* Per-target summary for `mtls queue`. */
struct mtls_queue_stat {
	char *target;
	long pending;   /* not yet delivered (includes failing) */
	long failing;   /* pending, with at least one failed attempt */
	long delivered;
	long failed;    /* permanently */
	char *last_error; /* most recent error of a pending or failed item */
	int64_t next_at_ms; /* earliest retry of a failing item, or 0 */
};

/* All targets known to Q, sorted by name. Free with mtls_queue_stats_free. */
int mtls_queue_stats(struct mtls_queue *q, struct mtls_queue_stat **out,
    size_t *n, struct mtls_err *err);
void mtls_queue_stats_free(struct mtls_queue_stat *s, size_t n);

/* Permanently failed items (newest first, at most MAX) for reporting:
 * calls FN for each. */
int mtls_queue_failures(struct mtls_queue *q, size_t max,
    void (*fn)(void *arg, const char *target, const char *id,
        const char *action, const char *path, const char *why),
    void *arg, struct mtls_err *err);

/* ---- delivery agent (lib/agent.c) ---- */

/*
 * The agent's configuration: an opaque object like the receiver's
 * (mtls/serve.h). mtls_agent_config_new() gives the defaults (one attempt
 * per run, backoff capped at 60 s, quiet). Setters copy their arguments,
 * except the log stream, which is borrowed until mtls_agent_run returns;
 * a refused value returns -1 with MTLS_E_USAGE and a sentence naming the
 * range, and leaves the config as it was. Required before mtls_agent_run:
 * state_dir, cert_file, key_file and ca_file.
 */
struct mtls_agent_config;

/* NULL (and ERR) when out of memory; free with mtls_agent_config_free
 * (NULL-safe). */
struct mtls_agent_config *mtls_agent_config_new(struct mtls_err *err);
void mtls_agent_config_free(struct mtls_agent_config *cfg);

/* The queue's state directory (mtls_queue_open). */
int mtls_agent_config_set_state_dir(struct mtls_agent_config *cfg,
    const char *dir, struct mtls_err *err);
/* The client certificate (PEM, then its chain), its key with an optional
 * password spec (mtls/pass.h; NULL: none), and the CA certificate(s)
 * that issue the receivers' certificates. */
int mtls_agent_config_set_cert_file(struct mtls_agent_config *cfg,
    const char *path, struct mtls_err *err);
int mtls_agent_config_set_key_file(struct mtls_agent_config *cfg,
    const char *path, const char *pass_spec, struct mtls_err *err);
int mtls_agent_config_set_ca_file(struct mtls_agent_config *cfg,
    const char *path, struct mtls_err *err);
/* Retry until delivered or the deadline (1), or one attempt per target
 * per run (0, the default). */
void mtls_agent_config_set_wait(struct mtls_agent_config *cfg, int on);
/* With wait: give up after SECONDS (more than 0, at most 1e7). Default:
 * no deadline. */
int mtls_agent_config_set_deadline(struct mtls_agent_config *cfg,
    double seconds, struct mtls_err *err);
/* The cap of the retry backoff (more than 0, at most 1e7; default 60). */
int mtls_agent_config_set_retry_max(struct mtls_agent_config *cfg,
    double seconds, struct mtls_err *err);
/* One line per delivery problem to LOG (NULL: quiet; borrowed until
 * mtls_agent_run returns); VERBOSE: one per delivered item too. */
void mtls_agent_config_set_log(struct mtls_agent_config *cfg, FILE *log,
    int verbose);
/* "HOST:PORT:ADDR[,...]": connect to ADDR for HOST:PORT (curl's
 * --resolve); NULL clears. A malformed entry is refused. */
int mtls_agent_config_set_resolve(struct mtls_agent_config *cfg,
    const char *list, struct mtls_err *err);
/* How each receiver's chain is checked for revocation, in every
 * handshake (mtls/revocation.h; the CRL paths and URL are copied): a
 * revoked receiver gets nothing and its items stay queued, the reason
 * logged. Default (all zero): OCSP where a certificate of the chain names
 * a responder. At most 16 CRL files; an insecure_no_revocation with
 * anything else set is refused. */
int mtls_agent_config_set_revocation(struct mtls_agent_config *cfg,
    const struct mtls_revocation_opts *rev, struct mtls_err *err);

struct mtls_agent_result {
	long delivered; /* in this run */
	long failed;    /* permanently, in this run */
	long pending;   /* left in the queue at the end, all targets */
	int other_agent; /* another agent held the state's lock */
};

/* Delivers everything pending in CFG's state directory, to every target in the
 * queue, one thread and one reused connection per target. Without WAIT,
 * a target whose receiver is unreachable or failing (5xx) is left for the
 * next run after one attempt; with WAIT it is retried with exponential
 * backoff and jitter until delivered or the deadline. Only one agent
 * delivers from a state directory at a time (a lock file); a second one
 * only waits (WAIT) or returns at once with OTHER_AGENT set. Returns -1
 * on a local error (state, identity); delivery problems are counted in
 * RES and written to CFG's log. CFG is read, not kept. */
int mtls_agent_run(const struct mtls_agent_config *cfg,
    struct mtls_agent_result *res, struct mtls_err *err);

/* 1 when a component of PATH starts with ".mtls" (a receiver's own
 * database and temporary files): never replicated, push skips them. */
int mtls_path_reserved(const char *path);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
