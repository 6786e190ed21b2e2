/* One TLS connection attempt for `probe` (probe_conn.c), used by the
 * analysis in probe.c. */
#ifndef MTLS_PROBE_INT_H
#define MTLS_PROBE_INT_H

#include <netdb.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

enum att_outcome {
	ATT_HANDSHAKE_OK,  /* handshake completed */
	ATT_REFUSED,       /* TCP: connection refused */
	ATT_CONNECT_TIMEOUT, /* TCP: no answer to SYN */
	ATT_UNREACHABLE,   /* TCP: no route, host down, other errno */
	ATT_ALERT,         /* the server sent a fatal alert */
	ATT_WE_ABORTED,    /* our side stopped (we sent an alert) */
	ATT_EOF,           /* the server closed without an alert */
	ATT_RESET,         /* the server reset the connection */
	ATT_TLS_TIMEOUT,   /* connected, but no TLS answer in time */
	ATT_NOT_TLS,       /* the server answered with something not TLS */
	ATT_LOCAL,         /* this OpenSSL cannot offer what was asked */
	ATT_TLS_ERROR,     /* anything else, see .reason */
};

/* After the handshake: what the server did next. */
enum att_after {
	AFTER_NOTHING,     /* no alert and no close within the wait */
	AFTER_ALERT,       /* a fatal alert (TLS 1.3 client auth) */
	AFTER_CLOSED,      /* the server closed the connection */
	AFTER_HTTP,        /* it answered our HTTP request */
};

struct probe_peer {
	struct addrinfo *ai; /* resolved once */
	const char *sni;     /* NULL for IP literals */
	const char *host_header;
	int timeout_ms;
	int http;
	/* our identity, NULL when not given */
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

struct attempt {
	/* inputs */
	int version;   /* TLS1_VERSION..TLS1_3_VERSION, 0 = any 1.2+ */
	int send_cert; /* offer our certificate when asked */
	int after;     /* look at what happens after the handshake */

	/* outputs */
	enum att_outcome outcome;
	int sys_errno;
	int alert_recv;    /* fatal alert description received, -1 none */
	int alert_sent;    /* alert we sent, -1 none */
	int server_hello;  /* a ServerHello arrived */
	int negotiated;    /* SSL_version() once the ServerHello arrived */
	char protocol[16];
	char cipher[80];
	int cert_requested;
	STACK_OF(X509_NAME) *ca_names; /* advertised, owned (may be NULL) */
	STACK_OF(X509) *chain;         /* the server's chain as sent, owned */
	enum att_after after_what;
	int after_alert;
	char http_status[160]; /* first line of an HTTP answer */
	int http_cert_missing; /* nginx: "No required SSL certificate" */
	int http_cert_error;   /* nginx: "The SSL certificate error" */
	unsigned char first[24]; /* first bytes received, for "not TLS" */
	size_t nfirst;
	char reason[256]; /* OpenSSL's reason, drained */
	long handshake_ms;
};

/* Runs one attempt against PEER; fills A's outputs. Returns -1 only on
 * local allocation failure. Free with mtls__attempt_clear. */
int mtls__attempt_run(const struct probe_peer *peer, struct attempt *a);
void mtls__attempt_clear(struct attempt *a);

/* Everything one `probe` run knows. */
struct probe_ctx {
	char host[256], port[16];
	const char *target;
	const char *name; /* --servername or host: SNI and name check */
	const char *ca_file, *cert_file;
	const char *ca_dir; /* inventory to consult about our certificate */
	int warn_days;
	struct probe_peer peer;
	X509_STORE *store; /* --ca, else the system store */
	int key_ok;        /* our key matches our certificate */
	struct attempt ver[4]; /* TLS 1.3, 1.2, 1.1, 1.0 */
	struct attempt main;   /* best version, no certificate */
	struct attempt withcert;
	int best;              /* highest version accepted, 0 none */
};

struct mtls_report;

/* probe_check.c: our certificate (before connecting), the server's side
 * (chain, names, validity) and client authentication. 0, or -1 when out
 * of memory. */
int mtls__check_identity(struct mtls_report *r, struct probe_ctx *pc);
int mtls__probe_server(struct mtls_report *r, struct probe_ctx *pc);
int mtls__probe_client_auth(struct mtls_report *r, struct probe_ctx *pc);

/* "TLS 1.2" for TLS1_2_VERSION. */
const char *mtls__probe_version_name(int v);

#endif
