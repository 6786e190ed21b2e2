/*
 * mtls/serve.h - the replication receiver behind `mtls serve`.
 *
 * HTTPS/1.1 on libevent's evhttp over OpenSSL bufferevents. TLS 1.2 is the
 * minimum and 1.3 preferred; every connection must present a client
 * certificate that chains to the CA file, is within its validity and has
 * the clientAuth extended key usage (RFC 5280 section 4.2.1.12). A refused
 * handshake is logged with its reason in words (mtls/explain.h).
 *
 * Protocol (docs/man/mtls-serve.1):
 *   POST /bin/receive   Action: Test|Activate|Deactivate, Path: /abs/path,
 *                       Item-Id: ID (optional, for idempotency); body =
 *                       content for Activate
 *   GET  /healthz       "ok"
 *   GET  /metrics       Prometheus text format
 *
 * Signals: SIGHUP reloads certificate, key, CA, map and CRLs (new
 * connections use them; established ones continue). A changed
 * certificate+key pair or CRL file is picked up without SIGHUP too (polled
 * every watch interval). SIGTERM/SIGINT stop accepting, close idle
 * keep-alive connections, let requests under way finish for up to
 * the drain timeout, then exit.
 */
#ifndef MTLS_SERVE_H
#define MTLS_SERVE_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* The receiver's item-id database: under --state-dir, or (older
 * receivers) inside the content root, where it is never content. */
#define MTLS_RECEIVER_DB ".mtls-receiver.db"

/*
 * The receiver's configuration: an opaque object in the manner of libtls's
 * struct tls_config. mtls_serve_config_new() gives the secure defaults
 * (1 worker, 64 MiB bodies, 1024 connections, 10 s handshake, 60 s idle,
 * 10 s header, 120 s body, 10 s drain, text log, no revocation checks,
 * file watching every second). Every setter copies its arguments: the
 * caller may free or reuse them as soon as it returns. A setter that
 * refuses a value (out of range, too many, malformed) returns -1 with
 * MTLS_E_USAGE and a sentence in ERR, and leaves the config as it was.
 * Knobs that weaken a check are named mtls_serve_config_insecure_*; the
 * receiver logs each one it runs with at start.
 *
 * Required before mtls_serve_run: listen, cert_file, key_file, ca_file,
 * root, and either map_file or mtls_serve_config_insecure_no_map().
 */
struct mtls_serve_config;

/* A new configuration with the defaults; NULL (and ERR) when out of
 * memory. Free with mtls_serve_config_free (NULL-safe). */
struct mtls_serve_config *mtls_serve_config_new(struct mtls_err *err);
void mtls_serve_config_free(struct mtls_serve_config *cfg);

/* Where to listen: "127.0.0.1:8443", "[::1]:8443" (resolved at run). */
int mtls_serve_config_set_listen(struct mtls_serve_config *cfg,
    const char *addr, struct mtls_err *err);
/* The server certificate, then its chain (PEM). */
int mtls_serve_config_set_cert_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err);
/* Its private key (PEM or DER) and, when encrypted, a password spec
 * (mtls/pass.h; NULL: none). */
int mtls_serve_config_set_key_file(struct mtls_serve_config *cfg,
    const char *path, const char *pass_spec, struct mtls_err *err);
/* The CA certificate(s) that issue client certificates. */
int mtls_serve_config_set_ca_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err);
/* The content root directory. */
int mtls_serve_config_set_root(struct mtls_serve_config *cfg,
    const char *dir, struct mtls_err *err);
/* Where the item-id database (MTLS_RECEIVER_DB) lives; default: the
 * root (older receivers' place; the command picks one outside it). */
int mtls_serve_config_set_state_dir(struct mtls_serve_config *cfg,
    const char *dir, struct mtls_err *err);
/* The principal map (docs/map-format.md). */
int mtls_serve_config_set_map_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err);
/* Run without a map: every certificate the CA signed is its CN with full
 * access (logged at start, mtls_insecure_no_map 1 in /metrics). Without
 * a map and without this, mtls_serve_run refuses to start. */
void mtls_serve_config_insecure_no_map(struct mtls_serve_config *cfg);

/* Threads, each with its own listener: 1 to 64. */
int mtls_serve_config_set_workers(struct mtls_serve_config *cfg, int n,
    struct mtls_err *err);
/* Connections open at once, all workers: 1 to 1,000,000. */
int mtls_serve_config_set_max_conns(struct mtls_serve_config *cfg, int n,
    struct mtls_err *err);
/* Largest request body accepted (413 above): 0 to 2^40 bytes. */
int mtls_serve_config_set_max_body(struct mtls_serve_config *cfg,
    size_t bytes, struct mtls_err *err);
/* Access and event log as JSON lines (1) or text (0, the default). */
void mtls_serve_config_set_log_json(struct mtls_serve_config *cfg, int on);

/* Timeouts in seconds, each more than 0 and at most 86400: the TLS
 * handshake; an idle connection; a whole request head from its first
 * byte; a whole request body; the drain on SIGTERM. */
int mtls_serve_config_set_handshake_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
int mtls_serve_config_set_idle_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
int mtls_serve_config_set_header_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
int mtls_serve_config_set_body_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
int mtls_serve_config_set_drain_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);

/* Revocation (docs/revocation.md); all off by default. */
/* Adds a CRL file (PEM or DER; it may hold several CRLs), at most 32. */
int mtls_serve_config_add_crl_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err);
/* A CRL past its nextUpdate: refuse every client (1) or keep enforcing
 * it and warn (0, the default). */
void mtls_serve_config_set_crl_stale_reject(struct mtls_serve_config *cfg,
    int on);
/* Ask OCSP about every client certificate: at URL (http:// or https://),
 * or with URL NULL at each certificate's AIA OCSP address. */
int mtls_serve_config_set_ocsp(struct mtls_serve_config *cfg,
    const char *url, struct mtls_err *err);
/* Responder unreachable: accept the client unchecked and warn. A stale
 * or forged answer is refused all the same. */
void mtls_serve_config_insecure_ocsp_fail_open(struct mtls_serve_config *cfg);
/* Seconds per OCSP query: more than 0, at most 86400 (default 2). */
int mtls_serve_config_set_ocsp_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
/* Seconds an OCSP answer is kept at most, and the oldest thisUpdate
 * accepted: 1 to 86400 (default: 3600, and only answers without
 * nextUpdate are bounded by age). */
int mtls_serve_config_set_ocsp_max_age(struct mtls_serve_config *cfg,
    long seconds, struct mtls_err *err);
/* Seconds of clock skew allowed on thisUpdate/nextUpdate: 1 to 86400
 * (default MTLS_OCSP_DEFAULT_SKEW). */
int mtls_serve_config_set_ocsp_clock_skew(struct mtls_serve_config *cfg,
    long seconds, struct mtls_err *err);
/* Check only the client's own certificate, not its intermediates. */
void mtls_serve_config_insecure_revocation_leaf_only(
    struct mtls_serve_config *cfg);

/* Certificate policies (RFC 5280 4.2.1.4 and 6.1): adds an OID (dotted
 * decimal) a client chain must be valid for, at most 16. */
int mtls_serve_config_add_required_policy(struct mtls_serve_config *cfg,
    const char *oid, struct mtls_err *err);
/* Require some policy, valid from the CA down (1), or not (0). */
void mtls_serve_config_set_require_explicit_policy(
    struct mtls_serve_config *cfg, int on);

/* Seconds between checks of the CRL files (the certificate and key:
 * twice that): more than 0, at most 86400 (default 1); negative: no
 * file watching (SIGHUP still reloads). */
int mtls_serve_config_set_watch_interval(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err);
/* The tamper-evident audit log (mtls/auditlog.h), rotated past MAX_BYTES
 * (0: never; else at least 4096, at most 2^50). */
int mtls_serve_config_set_audit_log(struct mtls_serve_config *cfg,
    const char *path, long long max_bytes, struct mtls_err *err);

/* Runs the server until SIGTERM or SIGINT. Blocks those signals and
 * SIGHUP in the calling thread (and its workers) and waits for them
 * there. CFG is read, not kept: it may be freed once this returns.
 * Returns 0 after a clean drain, -1 when it cannot start. */
int mtls_serve_run(const struct mtls_serve_config *cfg, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
