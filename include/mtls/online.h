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

struct mtls_ca_serve_opts {
	const char *ca_dir;
	const char *ca_pass;      /* spec for an encrypted CA key, or NULL */
	const char *listen;       /* "127.0.0.1:8443" */
	const char *cert, *key;   /* TLS identity; NULL: issued by the CA
	                             itself into CA_DIR/online/ on first start */
	const char *key_pass;     /* spec for KEY */
	const char *sans;         /* SANs of the self-issued identity; NULL:
	                             the listen address */
	long cert_lifetime;       /* seconds; 0: MTLS_ENROLL_DEFAULT_LIFETIME */
	long max_lifetime;        /* most seconds a token may ask for; 0:
	                             MTLS_ENROLL_MAX_LIFETIME (at least
	                             cert_lifetime) */
	int max_conns;            /* connections open at once; more wait in
	                             the listen queue; 0: 512 */
	double request_timeout;   /* seconds a connection has to deliver each
	                             whole request (slow senders); 0: 30 */
	int crl_days;             /* nextUpdate of the CRL; 0: 1 */
	double idle_timeout;      /* seconds a connection may be silent; 0: 15 */
	int fail_limit;           /* failed authentications per client address
	                             before it is slowed down; 0: 5 */
	int log_quiet;            /* no per-request log lines */
	/* ACME (RFC 8555) under /acme/ (directory: /acme/directory). */
	int acme_no_eab;          /* accounts without External Account
	                             Binding (default: EAB required) */
	const char *acme_allow;   /* what such accounts may get (mtls/acme.h
	                             allow list); NULL: nothing */
	long acme_cert_lifetime;  /* seconds; 0: cert_lifetime */
	int acme_http_port;       /* where http-01 is fetched; 0: 80 */
	int acme_tls_port;        /* where tls-alpn-01 connects; 0: 443 */
	const char *acme_resolve; /* "HOST:PORT:ADDR,..." for validations */
	const char *acme_validate_allow; /* "10.0.0.0/8,...": the only
	                             addresses validations connect to; NULL:
	                             wherever the identifiers resolve */
	double acme_validate_timeout; /* seconds; 0: 10 */
	long acme_orders_per_hour; /* per account; 0: 300 */
	long acme_accounts_per_ip; /* newAccount requests per client address
	                             per hour; 0: 20 */
};

void mtls_ca_serve_opts_init(struct mtls_ca_serve_opts *o);

/* Opens and unlocks the CA (an encrypted key without CA_PASS is refused
 * at once, saying so), prepares the TLS identity, and serves until
 * SIGTERM or SIGINT. Returns 0 after a clean stop, -1 when it cannot
 * start. Prints "listening on https://ADDR" to stderr when ready. */
int mtls_ca_serve_run(const struct mtls_ca_serve_opts *o, struct mtls_err *err);

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
