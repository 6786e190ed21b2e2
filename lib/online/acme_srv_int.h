/* Layer online: the ACME server's state, shared by its HTTP side
 * (acme_http.c) and its validations (acme_validate.c). Private. */
#ifndef MTLS_ACME_SRV_INT_H
#define MTLS_ACME_SRV_INT_H

#include <event2/dns.h>
#include <openssl/ssl.h>
#include <ares.h>

#include "online/acme_srv.h"

/* The sockets c-ares asks this loop to watch. */
#define DNS_FDS 16
struct dns_fd {
	ares_socket_t fd;      /* ARES_SOCKET_BAD when free */
	struct event *ev;
};

struct mtls__acme_srv {
	struct mtls__acme acme;
	struct event_base *base;
	struct evdns_base *dns;
	ares_channel ares;     /* dns-01's resolver; NULL: dns-01 off */
	int ares_lib;          /* ares_library_init done */
	struct event *ares_timer;
	struct dns_fd dfd[DNS_FDS];
	char resolver[64];     /* "ADDR:PORT", for messages */
	SSL_CTX *alpn_ctx;
	struct mtls__acme_srv_opts o;
	char *resolve, *target_allow;
	int inflight;
};

/* Sets up dns-01's resolver on S's loop (RESOLVER NULL: dns-01 off). */
int mtls__acme_srv_dns_setup(struct mtls__acme_srv *s, const char *resolver,
    struct mtls_err *err);

/* Starts validating one challenge (the acme core's validate hook). */
void mtls__acme_srv_check(void *arg, const struct mtls__acme_check *c);

#endif
