/*
 * The receiver's configuration inside the library (not installed).
 *
 * struct mtls_serve_config (opaque in mtls/serve.h) owns every string and
 * list; struct mtls__serve_opts is the plain view of it the receiver's
 * files read. Every pointer in the view points into memory the config
 * owns, so a copy of the view (struct serve's) is valid while the config
 * lives, which mtls_serve_run guarantees by blocking until it returns.
 */
#ifndef MTLS_SERVE_CONFIG_INT_H
#define MTLS_SERVE_CONFIG_INT_H

#include <stddef.h>

#include "mtls/serve.h"

/* Most --crl files and --require-policy OIDs one receiver takes. */
#define MTLS__SERVE_CRL_MAX 32
#define MTLS__SERVE_POLICY_MAX 16

struct mtls__serve_opts {
	const char *listen;   /* "127.0.0.1:8443", "[::1]:8443" */
	const char *cert;     /* PEM: certificate, then its chain */
	const char *key;      /* private key (PEM or DER, maybe encrypted) */
	const char *key_pass; /* password spec (mtls/pass.h) or NULL */
	const char *ca;       /* trusted CA certificates for clients */
	const char *root;     /* content root directory */
	const char *state_dir; /* item-id database directory; NULL = root */
	const char *map;      /* principal map file (docs/map-format.md) */
	int insecure_no_map;  /* run without MAP: every verified certificate
	                         is its CN with full access (logged at start,
	                         mtls_insecure_no_map 1 in /metrics); without
	                         this, no MAP refuses to start */
	int workers;          /* threads, each with its own listener */
	int log_json;         /* access and event log as JSON lines */
	size_t max_body;      /* largest request body accepted (413 above) */
	int max_conns;        /* connections open at once, all workers */
	double handshake_timeout; /* seconds to complete the TLS handshake */
	double idle_timeout;  /* seconds a connection may sit idle */
	double header_timeout; /* seconds for a whole request head, from its
	                          first byte (trickling cannot extend it) */
	double body_timeout;  /* seconds for a whole request body */
	double drain_timeout; /* seconds to let connections finish on SIGTERM */
	/* Revocation (docs/revocation.md); all off when zero/NULL. */
	const char *const *crl; /* CRL files (PEM or DER), NCRL of them */
	size_t ncrl;
	int crl_stale_reject;   /* a CRL past nextUpdate refuses every client
	                           (default: keep enforcing it, warn) */
	int ocsp;               /* ask OCSP about every client certificate */
	const char *ocsp_url;   /* NULL: the AIA OCSP URL of each certificate */
	int insecure_ocsp_fail_open; /* responder unreachable: accept (and warn);
	                           --insecure-ocsp-fail-open. A stale or
	                           forged answer is refused all the same */
	double ocsp_timeout;    /* seconds per OCSP query; 0: 2 */
	long ocsp_max_age;      /* seconds an OCSP answer is kept at most,
	                           and when set, the oldest thisUpdate
	                           accepted; 0: 3600, and only answers
	                           without nextUpdate are bounded by age */
	long ocsp_clock_skew;   /* seconds of skew on thisUpdate/nextUpdate;
	                           0: MTLS_OCSP_DEFAULT_SKEW (300) */
	int insecure_revocation_leaf_only; /* check only the client's own
	                           certificate, not its intermediates
	                           (logged at start); default: every
	                           certificate of the chain but the anchor */
	const char *const *policies; /* certificate policy OIDs a client
	                           chain must be valid for (explicit policy,
	                           mtls_chain_profile_policies); NPOLICIES */
	size_t npolicies;
	int require_explicit_policy; /* some policy, from the CA down */
	double watch_interval;  /* seconds between checks of the CRL files
	                           (the certificate and key: twice that);
	                           0: 1; negative: no file watching */
	/* Tamper-evident audit log (mtls/auditlog.h); none when NULL. */
	const char *audit_log;
	long long audit_max_bytes; /* rotate past this size; 0: never */
};


struct mtls_serve_config {
	struct mtls__serve_opts o;
	/* Owned copies behind o.crl and o.policies. */
	const char *crl[MTLS__SERVE_CRL_MAX];
	const char *policies[MTLS__SERVE_POLICY_MAX];
};

/* Fills O with the defaults: 1 worker, 64 MiB bodies, 1024 connections,
 * 10 s handshake, 60 s idle, 10 s header, 120 s body, 10 s drain, text
 * log. */
void mtls__serve_opts_init(struct mtls__serve_opts *o);

/* The view of CFG the receiver's files read (borrowed from CFG). */
const struct mtls__serve_opts *mtls__serve_config_opts(
    const struct mtls_serve_config *cfg);

#endif
