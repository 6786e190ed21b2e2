/* see mtls/replicate.h: the delivery agent's run (the state lock, one
 * worker thread per target as targets get due, the passes); the worker
 * itself is agent_worker.c */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "mtls/explain.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/replicate.h"
#include "base/internal.h"
#include "base/clock.h"
#include "link/client/agent_int.h"
#include "link/client/credblob.h"
#include "link/client/queue_int.h"
#include "link/client/replicate_int.h"
#include "diag/revcheck.h"

/* What every worker of a run shares, read-only. */
struct run {
	const char *keypass;              /* resolved password, or NULL */
	const struct mtls__revcheck *rev; /* the receivers' revocation */
};

/* Only one agent delivers from a state directory; the lock goes with the
 * process, so a SIGKILLed agent never leaves it held. */
static int
agent_lock(const char *state, int *fd, struct mtls_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/agent.lock", state);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot open %s", path);
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			return 1;
		}
		return mtls_err_sys(err, MTLS_E_IO, "cannot lock %s", path);
	}
	return 0;
}

static long
count_pending(struct mtls_queue *q, struct mtls_err *err)
{
	struct mtls_queue_stat *s = NULL;
	size_t n = 0, i;
	long p = 0;

	if (mtls_queue_stats(q, &s, &n, err) != 0) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		p += s[i].pending;
	}
	mtls_queue_stats_free(s, n);
	return p;
}

/* Another agent delivers: with WAIT, watch the queue drain. */
static int
watch_other(const struct mtls__agent_opts *o, struct mtls_queue *q,
    int64_t deadline_ms, struct mtls_agent_result *res, struct mtls_err *err)
{
	res->other_agent = 1;
	mtls__agent_log(o, "another mtls push is delivering from %s; %s", o->state,
	    o->wait ? "waiting for it" : "it will deliver the new items");
	for (;;) {
		res->pending = count_pending(q, err);
		if (res->pending < 0) {
			return -1;
		}
		if (!o->wait || res->pending == 0 ||
		    (deadline_ms != 0 && mtls__now_ms() >= deadline_ms)) {
			return 0;
		}
		mtls__agent_sleep_ms(200);
	}
}

static int
resolve_keypass(const struct mtls__agent_opts *o, char **pass,
    struct mtls_err *err)
{
	*pass = NULL;
	if (o->id.key_pass == NULL) {
		return 0;
	}
	*pass = mtls_pass_get(o->id.key_pass, NULL, 0, err);
	return *pass != NULL ? 0 : -1;
}

/* The workers of one run, one per target, started as targets get due
 * items (including targets that another `mtls push` adds while we run). */
struct pool {
	struct worker **w;
	size_t n;
};

static void
pool_reap(struct pool *p, int block, struct mtls_agent_result *res,
    struct mtls_err *err, int *rc)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct worker *w = p->w[i];

		if (!w->started || (!block && !atomic_load(&w->done))) {
			continue;
		}
		pthread_join(w->th, NULL);
		w->started = 0;
		res->delivered += w->delivered;
		res->failed += w->failed;
		w->delivered = w->failed = 0;
		if (w->rc != 0 && *rc == 0) {
			*err = w->err;
			*rc = -1;
		}
	}
}

static size_t
pool_running(const struct pool *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++) {
		n += p->w[i]->started;
	}
	return n;
}

static void
pool_free(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->w[i]->target);
		free(p->w[i]);
	}
	free(p->w);
}

/* Starts a worker for TARGET unless one runs. */
static int
pool_start(struct pool *p, const struct mtls__agent_opts *o, const char *target,
    const struct run *run, int64_t deadline_ms, struct mtls_err *err)
{
	struct worker *w = NULL, **nw;
	size_t i;

	for (i = 0; i < p->n && w == NULL; i++) {
		if (strcmp(p->w[i]->target, target) == 0) {
			w = p->w[i];
		}
	}
	/* Without WAIT a target gets one attempt per run. */
	if (w != NULL && (w->started || (w->stalled && !o->wait))) {
		return 0;
	}
	if (w == NULL) {
		nw = realloc(p->w, (p->n + 1) * sizeof(*nw));
		if (nw == NULL) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		p->w = nw;
		w = calloc(1, sizeof(*w));
		if (w == NULL || (w->target = mtls__strdup(target)) == NULL) {
			free(w);
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		p->w[p->n++] = w;
	}
	w->o = o;
	w->keypass = run->keypass;
	w->rev = run->rev;
	w->deadline_ms = deadline_ms;
	w->curl = NULL;
	w->hdrs = NULL;
	w->resolve = NULL;
	w->rc = 0;
	w->stalled = 0;
	atomic_store(&w->done, 0);
	if (pthread_create(&w->th, NULL, mtls__agent_worker_run, w) != 0) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "starting a thread");
	}
	w->started = 1;
	return 0;
}

static int
supervise(const struct mtls__agent_opts *o, struct mtls_queue *q,
    const struct run *run, int64_t deadline_ms, struct mtls_agent_result *res,
    struct mtls_err *err)
{
	struct pool p = {NULL, 0};
	char **due = NULL;
	size_t ndue = 0, i;
	int rc = 0;

	for (;;) {
		int late = deadline_ms != 0 && mtls__now_ms() >= deadline_ms;

		pool_reap(&p, 0, res, err, &rc);
		if (rc != 0 || late) {
			break;
		}
		if (mtls__queue_due_targets(q, mtls__now_ms(), 0, &due, &ndue,
			err) != 0) {
			rc = -1;
			break;
		}
		for (i = 0; i < ndue && rc == 0; i++) {
			rc = pool_start(&p, o, due[i], run, deadline_ms, err);
		}
		mtls__queue_targets_free(due, ndue);
		if (rc != 0 || pool_running(&p) == 0) {
			break;
		}
		mtls__agent_sleep_ms(100);
	}
	pool_reap(&p, 1, res, err, &rc);
	pool_free(&p);
	return rc;
}

/* Runs the workers, then looks for items that another `mtls push`
 * enqueued meanwhile and left to us because it saw our lock. The check
 * is made after releasing the lock: either that process got the lock
 * (and delivers), or its items were committed before we looked. Without
 * WAIT only items never tried count, so a failing item is not retried in
 * the same run. */
static int
deliver_passes(const struct mtls__agent_opts *o, struct mtls_queue *q,
    const struct run *run, int64_t deadline_ms, int lockfd,
    struct mtls_agent_result *res, struct mtls_err *err)
{
	long due;

	for (;;) {
		if (supervise(o, q, run, deadline_ms, res, err) != 0) {
			return -1;
		}
		if (flock(lockfd, LOCK_UN) != 0) {
			return mtls_err_sys(err, MTLS_E_IO, "unlocking %s/agent.lock",
			    o->state);
		}
		due = mtls__queue_due(q, mtls__now_ms(), !o->wait, err);
		/* (supervise already took every due target; what is due now
		 * arrived after its last look) */
		if (due < 0) {
			return -1;
		}
		if (due == 0 ||
		    (deadline_ms != 0 && mtls__now_ms() >= deadline_ms)) {
			return 0;
		}
		if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
			return 0; /* another agent took over */
		}
	}
}

/* The run's checker of the receivers' chains (CRLs read once, checked
 * against our trust file), into *OUT; NULL with ERR on a bad CRL. */
static const struct mtls__revcheck *
agent_revcheck(const struct mtls__agent_opts *o, struct mtls__revcheck **out,
    struct mtls_err *err)
{
	STACK_OF(X509) *cas = NULL;

	if (o->rev.ncrl > 0 && mtls_load_certs(o->id.ca, &cas, err) != 0) {
		return NULL;
	}
	*out = mtls__revcheck_new(&o->rev, cas, err);
	sk_X509_pop_free(cas, X509_free);
	if (*out != NULL && !mtls__revcheck_active(*out)) {
		mtls__agent_log(o, "INSECURE: the receivers' revocation is not checked "
		    "(--insecure-no-revocation)");
	}
	return *out;
}

int
mtls_agent_run(const struct mtls_agent_config *cfg,
    struct mtls_agent_result *res, struct mtls_err *err)
{
	const struct mtls__agent_opts *o = mtls__agent_config_opts(cfg);
	struct mtls_queue *q = NULL;
	char *keypass = NULL, spec[1100];
	struct mtls_credentials id = o->id;
	struct mtls__revcheck *rev = NULL;
	struct run run;
	int64_t deadline_ms = 0;
	int lockfd = -1, rc = -1, locked;

	memset(res, 0, sizeof(*res));
	if (o->wait && o->deadline_s > 0) {
		deadline_ms = mtls__now_ms() + (int64_t)(o->deadline_s * 1000);
	}
	q = mtls_queue_open(o->state, 0, err);
	if (q == NULL) {
		return -1;
	}
	locked = agent_lock(o->state, &lockfd, err);
	if (locked < 0) {
		goto out;
	}
	if (locked == 1) {
		rc = watch_other(o, q, deadline_ms, res, err);
		goto out;
	}
	if (resolve_keypass(o, &keypass, err) != 0) {
		goto out;
	}
	if (keypass != NULL) {
		/* Read the password once (stdin or fd cannot be read twice). */
		snprintf(spec, sizeof(spec), "pass:%s", keypass);
		id.key_pass = spec;
	}
	if (mtls__resolve_check(o->resolve, err) != 0 ||
	    mtls__credentials_check(&id, err) != 0) {
		goto out;
	}
	/* The space kept free for this run: on a full disk, recording what
	 * was delivered must still fit. */
	if (mtls__queue_reserve(q, 0, err) != 0) {
		goto out;
	}
	/* A new run retries at once whatever an earlier run left waiting,
	 * and clears content files orphaned by a crash. */
	if (mtls__queue_wake(q, err) != 0 || mtls__queue_gc(q, err) != 0) {
		goto out;
	}
	run.keypass = keypass;
	run.rev = agent_revcheck(o, &rev, err);
	if (run.rev == NULL) {
		goto out;
	}
	rc = deliver_passes(o, q, &run, deadline_ms, lockfd, res, err);
	if (rc == 0) {
		res->pending = count_pending(q, err);
		rc = res->pending < 0 ? -1 : 0;
	}
	/* Give delivered content's pages back, then keep the reserve again
	 * (a disk still full leaves it out; the next enqueue says so). */
	mtls__queue_reclaim(q);
	(void)mtls__queue_reserve(q, 1, NULL);
out:
	OPENSSL_cleanse(spec, sizeof(spec));
	mtls_pass_free(keypass);
	mtls__revcheck_free(rev);
	if (lockfd >= 0) {
		close(lockfd);
	}
	mtls_queue_close(q);
	return rc;
}
