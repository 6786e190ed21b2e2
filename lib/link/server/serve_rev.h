/* Internals of the receiver's revocation checks and file watching
 * (serve_revocation.c, serve_watch.c); not installed. */
#ifndef MTLS_SERVE_REV_H
#define MTLS_SERVE_REV_H

#include <event2/buffer.h>
#include <openssl/ssl.h>

#include "mtls/err.h"

struct serve;
struct serve_rev;
struct serve_watch;

/* Loads the CRLs and sets up OCSP when OPTS ask for them; srv->rev stays
 * NULL otherwise. A bad CRL (unreadable, not signed by a --ca CA) fails. */
int mtls__serve_rev_start(struct serve *srv, struct mtls_err *err);
void mtls__serve_rev_free(struct serve_rev *rev);

/* Makes CTX consult REV (NULL-safe): after every certificate
 * verification, cached or not (a hook registered with serve_tls.c), and
 * before resuming a session. Returns -1 when the hooks cannot be
 * attached: CTX must then not be used (revoked clients would pass). */
int mtls__serve_rev_attach(struct serve_rev *rev, SSL_CTX *ctx);

/* Main thread, once a tick: reloads changed CRL files (FORCE: SIGHUP,
 * reload whatever changed or not), warns about staleness. */
void mtls__serve_rev_tick(struct serve *srv, int force);

/* Prometheus lines: mtls_crl_stale, reloads, OCSP counters. */
void mtls__serve_rev_metrics(struct serve_rev *rev, struct evbuffer *out);

/* Certificate/key file watch: remembers the files' state at start, and at
 * each tick reloads when both changed and the new pair loads (a
 * half-written rotation is retried at the next tick). */
struct serve_watch *mtls__serve_watch_new(struct serve *srv);
void mtls__serve_watch_free(struct serve_watch *w);
void mtls__serve_watch_tick(struct serve *srv);
/* After a SIGHUP reload: the files as they are now are in use. */
void mtls__serve_watch_sync(struct serve *srv);

/* serve_gen.c: replaces the generation (certificate, key, CA, map); WHY goes
 * to the log. QUIET: a failure is neither logged nor counted. */
int mtls__serve_reload(struct serve *srv, const char *why, int quiet);

#endif
