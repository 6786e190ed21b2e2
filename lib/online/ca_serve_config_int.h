/*
 * The online CA's configuration inside the library (not installed).
 *
 * struct mtls_ca_serve_config (opaque in mtls/online.h) owns every string;
 * struct mtls__ca_serve_opts is the plain view of it the server reads
 * (copied into struct casrv; valid while the config lives, which
 * mtls_ca_serve_run guarantees by blocking until it returns).
 */
#ifndef MTLS_CA_SERVE_CONFIG_INT_H
#define MTLS_CA_SERVE_CONFIG_INT_H

#include "mtls/online.h"

struct mtls__ca_serve_opts {
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
	int insecure_acme_no_eab; /* accounts without External Account
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
	const char *acme_dns_resolver; /* "ADDR[:PORT]" dns-01 asks for TXT
	                             records; NULL: dns-01 not offered */
};

struct mtls_ca_serve_config {
	struct mtls__ca_serve_opts o;
};

/* The defaults: 7-day certificates, 90 days at most, a 1-day CRL, 15 s
 * idle, 30 s per request, 512 connections, 5 failures. */
void mtls__ca_serve_opts_init(struct mtls__ca_serve_opts *o);

/* The view of CFG the server reads (borrowed from CFG). */
const struct mtls__ca_serve_opts *mtls__ca_serve_config_opts(
    const struct mtls_ca_serve_config *cfg);

#endif
