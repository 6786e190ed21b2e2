/*
 * The delivery agent's configuration inside the library (not installed).
 *
 * struct mtls_agent_config (opaque in mtls/replicate.h) owns every string;
 * struct mtls__agent_opts is the plain view of it agent.c reads, valid
 * while the config lives (mtls_agent_run blocks until it returns).
 */
#ifndef MTLS_AGENT_CONFIG_INT_H
#define MTLS_AGENT_CONFIG_INT_H

#include <stdio.h>

#include "mtls/replicate.h"

/* Most seconds --deadline and --retry-max take (about 115 days). */
#define MTLS__AGENT_SECONDS_MAX 1e7

struct mtls__agent_opts {
	const char *state;
	struct mtls_credentials id;
	int wait;          /* retry until delivered or the deadline */
	double deadline_s; /* with WAIT; 0 = none */
	double retry_max_s; /* cap of the backoff; 0 = 60 */
	FILE *log;         /* one line per delivery problem; NULL = quiet
	                      (borrowed from the caller) */
	int verbose;       /* also one line per delivered item */
	const char *resolve; /* "HOST:PORT:ADDR[,...]" as in testconn; NULL */
	struct mtls_revocation_opts rev; /* its CRL list and URL owned */
};

struct mtls_agent_config {
	struct mtls__agent_opts o;
	const char *crl[16]; /* o.rev.crl points here */
};

/* The view of CFG agent.c reads (borrowed from CFG). */
const struct mtls__agent_opts *mtls__agent_config_opts(
    const struct mtls_agent_config *cfg);

#endif
