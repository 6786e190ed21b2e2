/*
 * mtls/online.h - the CA online (`mtls ca serve`) and the node side that
 * enrolls with it (`mtls enroll`, `mtls renew-agent`).
 *
 * The server speaks HTTPS (TLS 1.2+) on libevent's evhttp and routes by
 * path:
 *   /.well-known/est/cacerts         GET  PKCS#7 certs-only, base64 (RFC 7030 4.1)
 *   /.well-known/est/simpleenroll    POST base64 PKCS#10, HTTP Basic with a
 *                                         one-time token (4.2.1, 3.2.3)
 *   /.well-known/est/simplereenroll  POST base64 PKCS#10, mutual TLS with the
 *                                         current certificate (4.2.2)
 *   /.well-known/est/csrattrs        GET  application/csrattrs (4.5)
 *   /crl.der, /crl.pem               the CA's CRL (Last-Modified, ETag)
 *   /ocsp                            OCSP (RFC 6960 A.1, POST and GET)
 *   /healthz, /metrics               liveness, Prometheus counters
 *   /acme/directory                  ACME (RFC 8555): accounts with External
 *                                         Account Binding, orders, http-01
 *                                         and tls-alpn-01, revocation
 * Further protocols are added as further path prefixes.
 */
#ifndef MTLS_ONLINE_H
#define MTLS_ONLINE_H

#include <stddef.h>
#include <time.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Lifetime of an enrolled certificate unless its token says otherwise:
 * short, so that renewal rather than revocation retires keys. */
#define MTLS_ENROLL_DEFAULT_LIFETIME (7L * 86400)

/* The longest lifetime a token may ask for unless the server says. */
#define MTLS_ENROLL_MAX_LIFETIME (90L * 86400)

/*
 * The online CA's configuration: an opaque object like the receiver's
 * (mtls/serve.h). mtls_ca_serve_config_new() gives the defaults (7-day
 * certificates, tokens may ask for 90 days at most, a 1-day CRL, 15 s idle,
 * 30 s per request, 512 connections, 5 failed authentications per address
 * and minute, ACME accounts need External Account Binding). Setters copy
 * their arguments; a refused value returns -1 with MTLS_E_USAGE and a
 * sentence naming the range, and leaves the config as it was. A knob that
 * weakens a check is named mtls_ca_serve_config_insecure_* and logged when
 * the server starts. Required before mtls_ca_serve_run: ca_dir, listen.
 */
struct mtls_ca_serve_config;

/* NULL (and ERR) when out of memory; free with mtls_ca_serve_config_free
 * (NULL-safe). */
struct mtls_ca_serve_config *mtls_ca_serve_config_new(struct mtls_err *err);
void mtls_ca_serve_config_free(struct mtls_ca_serve_config *cfg);

/* The CA directory, and a password spec for its encrypted key (NULL:
 * none; an encrypted key without one is refused at start). */
int mtls_ca_serve_config_set_ca_dir(struct mtls_ca_serve_config *cfg,
    const char *dir, struct mtls_err *err);
int mtls_ca_serve_config_set_ca_pass(struct mtls_ca_serve_config *cfg,
    const char *pass_spec, struct mtls_err *err);
/* Where to listen: "127.0.0.1:8443". */
int mtls_ca_serve_config_set_listen(struct mtls_ca_serve_config *cfg,
    const char *addr, struct mtls_err *err);
/* The server's TLS identity: CERT and KEY together (KEY_PASS a password
 * spec or NULL), or all NULL: issued by the CA itself into CA_DIR/online/
 * on start. */
int mtls_ca_serve_config_set_identity(struct mtls_ca_serve_config *cfg,
    const char *cert, const char *key, const char *key_pass,
    struct mtls_err *err);
/* SANs of that self-issued identity ("dns:a,ip:1.2.3.4"); NULL: the
 * listen address. */
int mtls_ca_serve_config_set_sans(struct mtls_ca_serve_config *cfg,
    const char *sans, struct mtls_err *err);
/* Lifetime of enrolled certificates unless a token says otherwise, and the
 * longest a token may ask for: each 60 s to 100 years. Whether the first
 * exceeds the second is checked at start (either may be set first). */
int mtls_ca_serve_config_set_cert_lifetime(struct mtls_ca_serve_config *cfg,
    long seconds, struct mtls_err *err);
int mtls_ca_serve_config_set_max_lifetime(struct mtls_ca_serve_config *cfg,
    long seconds, struct mtls_err *err);
/* nextUpdate of the served CRL: 1 to 365 days. */
int mtls_ca_serve_config_set_crl_days(struct mtls_ca_serve_config *cfg,
    int days, struct mtls_err *err);
/* Seconds a connection may be silent, and has to deliver each whole
 * request: each more than 0, at most 3600. */
int mtls_ca_serve_config_set_idle_timeout(struct mtls_ca_serve_config *cfg,
    double seconds, struct mtls_err *err);
int mtls_ca_serve_config_set_request_timeout(
    struct mtls_ca_serve_config *cfg, double seconds, struct mtls_err *err);
/* Connections open at once (more wait in the listen queue): 1 to
 * 100,000. */
int mtls_ca_serve_config_set_max_conns(struct mtls_ca_serve_config *cfg,
    int n, struct mtls_err *err);
/* Failed authentications per client address and minute before it is
 * slowed down: 1 to 1000. */
int mtls_ca_serve_config_set_fail_limit(struct mtls_ca_serve_config *cfg,
    int n, struct mtls_err *err);
/* No per-request log lines (1), or one each (0, the default). */
void mtls_ca_serve_config_set_log_quiet(struct mtls_ca_serve_config *cfg,
    int on);

/* ACME (RFC 8555) under /acme/ (directory: /acme/directory). */
/* Accounts without External Account Binding may register; they get only
 * what the ACME allow list allows (logged at start). */
void mtls_ca_serve_config_insecure_acme_no_eab(
    struct mtls_ca_serve_config *cfg);
/* What such accounts may get (mtls/acme.h allow list); NULL: nothing. */
int mtls_ca_serve_config_set_acme_allow(struct mtls_ca_serve_config *cfg,
    const char *list, struct mtls_err *err);
/* Lifetime of ACME certificates: 60 s to 100 years (default: the
 * enrolled certificates'). */
int mtls_ca_serve_config_set_acme_cert_lifetime(
    struct mtls_ca_serve_config *cfg, long seconds, struct mtls_err *err);
/* Ports http-01 is fetched from and tls-alpn-01 connects to: 1 to 65535
 * (defaults 80 and 443). */
int mtls_ca_serve_config_set_acme_http_port(struct mtls_ca_serve_config *cfg,
    int port, struct mtls_err *err);
int mtls_ca_serve_config_set_acme_tls_port(struct mtls_ca_serve_config *cfg,
    int port, struct mtls_err *err);
/* "HOST:PORT:ADDR,...": where validations of HOST connect (curl's
 * --resolve); a malformed entry is refused. NULL clears. */
int mtls_ca_serve_config_set_acme_resolve(struct mtls_ca_serve_config *cfg,
    const char *list, struct mtls_err *err);
/* "ADDR[:PORT]" (an IP address; "[ADDR]:PORT" for IPv6; port 53 by
 * default): the DNS resolver dns-01 validations (RFC 8555 8.4) ask for
 * the TXT record. dns-01 is offered only with one. NULL clears. */
int mtls_ca_serve_config_set_acme_dns_resolver(
    struct mtls_ca_serve_config *cfg, const char *addr, struct mtls_err *err);
/* "10.0.0.0/8,...": the only addresses validations connect to; NULL:
 * wherever the identifiers resolve. */
int mtls_ca_serve_config_set_acme_validate_allow(
    struct mtls_ca_serve_config *cfg, const char *list, struct mtls_err *err);
/* Seconds per validation: more than 0, at most 300 (default 10). */
int mtls_ca_serve_config_set_acme_validate_timeout(
    struct mtls_ca_serve_config *cfg, double seconds, struct mtls_err *err);
/* Orders per account and hour, and new-account requests per client
 * address and hour: each 1 to 1,000,000 (defaults 300 and 20). */
int mtls_ca_serve_config_set_acme_orders_per_hour(
    struct mtls_ca_serve_config *cfg, long n, struct mtls_err *err);
int mtls_ca_serve_config_set_acme_accounts_per_ip(
    struct mtls_ca_serve_config *cfg, long n, struct mtls_err *err);

/* Opens and unlocks the CA (an encrypted key without a CA password is
 * refused at once, saying so), prepares the TLS identity, and serves until
 * SIGTERM or SIGINT. CFG is read, not kept. Returns 0 after a clean stop,
 * -1 when it cannot start. Prints "listening on https://ADDR" to stderr
 * when ready. */
int mtls_ca_serve_run(const struct mtls_ca_serve_config *cfg,
    struct mtls_err *err);

/* ---- the node side ---- */

enum mtls_enroll_format {
	MTLS_ENROLL_PEM = 1,  /* NAME.key, NAME.crt, NAME.chain.pem, ca.pem */
	MTLS_ENROLL_P12 = 2,  /* NAME.p12 (key + chain), truststore.p12 */
	MTLS_ENROLL_JKS = 4,  /* NAME.jks (key + chain), truststore.jks */
};

struct mtls_enroll_opts {
	const char *url;          /* "https://ca.example:8443" */
	const char *name;
	const char *token;        /* the secret (first enrollment) */
	const char *ca_fingerprint; /* SHA-256 of the CA certificate (hex,
	                             colons optional): pins it on first
	                             contact (RFC 7030 4.1.1) */
	const char *dir;          /* where the files go */
	unsigned formats;         /* MTLS_ENROLL_*; 0: PEM */
	const char *store_pass;   /* password spec (mtls/pass.h) for p12/jks
	                             stores and password-protected bundles;
	                             kept in NAME.enroll.json for renewals, so
	                             only env:VAR or file:PATH (the secret
	                             itself is never written) */
	const char *bundle;       /* a bundle target name ("nginx"), or NULL */
	const char *exec;         /* hook the renewal agent runs, or NULL */
	int key_type;             /* enum mtls_keytype */
	int force;                /* replace existing files */
	long timeout_ms;          /* per request; 0: 10000 */
};

/* First enrollment: fetches cacerts and accepts them only when a CA
 * certificate among them has CA_FINGERPRINT; makes the key on this host
 * (never sent); posts the CSR with the token; checks the answer is a
 * certificate for that key from that CA; writes every requested format
 * and NAME.enroll.json (what the renewal agent needs) atomically.
 * Prints what it wrote to stderr. */
int mtls_enroll(const struct mtls_enroll_opts *o, struct mtls_err *err);

/* Renews the identity described by STATE_FILE (NAME.enroll.json) through
 * simplereenroll with its current certificate when FORCE or when two
 * thirds of its lifetime (less JITTER seconds) have passed. STATE_FILE
 * must be a regular file writable only by its owner (this user or root):
 * it names the hook that runs. Then it rewrites every
 * format it installed, refreshes ca.pem and crl.pem, and runs its exec
 * hook. *RENEWED is 1 when a new certificate was installed; *NEXT gets
 * when the next renewal is due. */
int mtls_renew_identity(const char *state_file, int force, long jitter,
    int *renewed, time_t *next, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
