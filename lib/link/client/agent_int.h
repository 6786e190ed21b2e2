/* Layer link/client: one delivery worker (one thread, one target), shared
 * by the agent's run (agent.c) and the worker itself (agent_worker.c).
 * Private. */
#ifndef MTLS_AGENT_INT_H
#define MTLS_AGENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "base/internal.h"
#include "link/client/agent_config_int.h"
#include "diag/revcheck.h"

#define RESPONSE_KEEP 512

struct worker {
	const struct mtls__agent_opts *o;
	const char *keypass; /* resolved password, or NULL */
	const struct mtls__revcheck *rev;
	char rev_why[600];   /* why the last handshake's chain was refused */
	char *target;
	int64_t deadline_ms; /* 0 = none */
	pthread_t th;
	int started;
	atomic_int done; /* set by the thread as it ends */
	int stalled;     /* ended on an item waiting for a retry (no WAIT) */
	long delivered, failed;
	int rc;
	struct mtls_err err;
	CURL *curl;
	struct stat cert_st, key_st; /* the identity files curl was given */
	struct curl_slist *hdrs;
	struct curl_slist *resolve; /* the --resolve entries, for curl */
	char errbuf[CURL_ERROR_SIZE];
	char resp[RESPONSE_KEEP];
	size_t resp_len;
};


/* The thread of one worker: delivers W's target's items until none is
 * due (or, with WAIT, until all are delivered or the deadline passes). */
void *mtls__agent_worker_run(void *arg);

/* One line on the agent's log, whole even with several workers. */
void mtls__agent_log(const struct mtls__agent_opts *o, const char *fmt, ...)
    MTLS_PRINTF(2, 3);

void mtls__agent_sleep_ms(int64_t ms);

#endif
