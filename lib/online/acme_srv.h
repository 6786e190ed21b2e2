/* Layer online: the ACME server on evhttp for `mtls ca serve`; its
 * challenge validations run in the server's event loop without blocking
 * it. Private. */
#ifndef MTLS_ACME_SRV_H
#define MTLS_ACME_SRV_H

#include <event2/event.h>
#include <event2/http.h>

#include "online/acme_int.h"

struct mtls__acme_srv_opts {
	struct mtls__acme_opts acme;
	const char *listen;       /* fallback host for URLs without Host */
	int http_port;            /* http-01 port; 0: 80 */
	int tls_port;             /* tls-alpn-01 port; 0: 443 */
	const char *resolve;      /* "HOST:PORT:ADDR,..." for validations */
	const char *target_allow; /* "10.0.0.0/8,..." addresses validations
	                             may connect to; NULL: where identifiers
	                             resolve */
	double timeout;           /* seconds per validation; 0: 10 */
	const char *dns_resolver; /* "ADDR[:PORT]" for dns-01's TXT lookups;
	                             NULL: none (dns-01 not offered) */
	void (*log)(void *arg, const char *fmt, ...) MTLS_PRINTF(2, 3);
	void *log_arg;
};

struct mtls__acme_srv;

struct mtls__acme_srv *mtls__acme_srv_new(struct event_base *base,
    struct mtls_ca *ca, const struct mtls__acme_srv_opts *o,
    struct mtls_err *err);
void mtls__acme_srv_free(struct mtls__acme_srv *s);

/* Answers REQ for PATH (after "/acme/"); returns the status sent, sets
 * *ISSUED when a certificate was issued. */
int mtls__acme_srv_route(struct mtls__acme_srv *s, struct evhttp_request *req,
    const char *path, const char *peer, int *issued);

void mtls__acme_srv_counts(const struct mtls__acme_srv *s,
    unsigned long long *issued, unsigned long long *refused, int *inflight);

#endif
