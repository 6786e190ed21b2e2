/* see mtls/replicate.h: the delivery agent (libcurl, one thread per target) */
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
#include "link/client/agent_config_int.h"
#include "link/client/credblob.h"
#include "link/client/queue_int.h"
#include "link/client/replicate_int.h"
#include "diag/revcheck.h"

#define BACKOFF_BASE_MS 500
#define RESPONSE_KEEP 512

enum outcome { OUT_DELIVERED, OUT_RETRY, OUT_FAILED };

/* What every worker of a run shares, read-only. */
struct run {
	const char *keypass;              /* resolved password, or NULL */
	const struct mtls__revcheck *rev; /* the receivers' revocation */
};

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

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
agent_log(const struct mtls__agent_opts *o, const char *fmt, ...)
    MTLS_PRINTF(2, 3);

static void
agent_log(const struct mtls__agent_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->log == NULL) {
		return;
	}
	pthread_mutex_lock(&log_lock);
	va_start(ap, fmt);
	vfprintf(o->log, fmt, ap);
	va_end(ap);
	fputc('\n', o->log);
	fflush(o->log);
	pthread_mutex_unlock(&log_lock);
}

static double
jitter01(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
		return 0.5;
	}
	return (double)r / 4294967296.0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct worker *w = arg;
	size_t len = size * n, room = sizeof(w->resp) - 1 - w->resp_len;

	if (room > 0) {
		size_t take = len < room ? len : room;

		memcpy(w->resp + w->resp_len, p, take);
		w->resp_len += take;
		w->resp[w->resp_len] = '\0';
	}
	return len;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	FILE *f = arg;
	size_t got = fread(buf, size, n, f);

	if (got == 0 && ferror(f)) {
		return CURL_READFUNC_ABORT;
	}
	return got;
}

/* curl rewinds the body when it resends on a fresh connection. */
static int
on_seek(void *arg, curl_off_t off, int origin)
{
	return fseeko(arg, (off_t)off, origin) == 0 ? CURL_SEEKFUNC_OK
						    : CURL_SEEKFUNC_FAIL;
}

static int
same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Whether the certificate or key file changed since the handle was made
 * (a renewal). Stat failures count as "unchanged": curl reports them. */
static int
identity_changed(struct worker *w)
{
	struct stat c, k;

	if (stat(w->o->id.cert, &c) != 0 || stat(w->o->id.key, &k) != 0) {
		return 0;
	}
	return !same_file_state(&c, &w->cert_st) ||
	    !same_file_state(&k, &w->key_st);
}

/* The options every request of a target shares. Verification of the
 * receiver's certificate and name is always on: there is no option to
 * turn it off. */
static int
resolve_list(struct worker *w)
{
	const char *p = w->o->resolve;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ", \t\n");
		char e[400];
		struct curl_slist *l;

		if (n > 0 && n < sizeof(e)) {
			memcpy(e, p, n);
			e[n] = '\0';
			l = curl_slist_append(w->resolve, e);
			if (l == NULL) {
				return mtls_err_set(&w->err, MTLS_E_INTERNAL,
				    "out of memory");
			}
			w->resolve = l;
		}
		p += n;
		p += strspn(p, ", \t\n");
	}
	return 0;
}

/* Replaces X509_verify_cert for the receiver's chain: the same
 * verification, then the revocation rule serve applies to its clients
 * (diag/revcheck.h), on the chain as verified. A refusal fails the
 * handshake, so nothing is sent to a revoked receiver. */
static int
agent_verify(X509_STORE_CTX *xs, void *arg)
{
	struct worker *w = arg;
	struct mtls_err e = {MTLS_OK, ""};
	char note[1024];
	int ok = X509_verify_cert(xs);

	if (ok != 1) {
		return ok;
	}
	if (mtls__revcheck_chain(w->rev, X509_STORE_CTX_get0_chain(xs), note,
		sizeof(note), &e) != 0) {
		snprintf(w->rev_why, sizeof(w->rev_why), "%.*s",
		    (int)sizeof(w->rev_why) - 1, e.msg);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (strstr(note, "INSECURE") != NULL) {
		agent_log(w->o, "%s: %s", w->target, note);
	}
	return 1;
}

static CURLcode
agent_ssl_ctx(CURL *c, void *ssl_ctx, void *arg)
{
	(void)c;
	SSL_CTX_set_cert_verify_callback(ssl_ctx, agent_verify, arg);
	return CURLE_OK;
}

static int
worker_curl(struct worker *w)
{
	const struct mtls_credentials *id = &w->o->id;
	CURL *c = curl_easy_init();

	if (c == NULL) {
		return mtls_err_set(&w->err, MTLS_E_INTERNAL, "curl_easy_init");
	}
	w->curl = c;
	/* curl reads the files on each new connection, but keeps reusing an
	 * open one and resuming its TLS session, both made with the old
	 * certificate: deliver() starts a new handle when they change. */
	if (stat(id->cert, &w->cert_st) != 0) {
		memset(&w->cert_st, 0, sizeof(w->cert_st));
	}
	if (stat(id->key, &w->key_st) != 0) {
		memset(&w->key_st, 0, sizeof(w->key_st));
	}
	if (curl_easy_setopt(c, CURLOPT_URL, w->target) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
		(long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		(long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    /* No total timeout (large files); a stalled transfer is cut
	     * when under 1 byte/s for 30 s. */
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "mtls/" MTLS_VERSION) !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, w) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK) {
		return mtls_err_set(&w->err, MTLS_E_INTERNAL,
		    "this libcurl lacks an option mtls needs (TLS 1.2, HTTP/1.1)");
	}
	if (mtls__curl_credentials(c, id, w->keypass, &w->err) != 0) {
		return -1;
	}
	/* Without the hook a revoked receiver would get our data: a libcurl
	 * on another TLS library than OpenSSL is refused here. */
	if (mtls__revcheck_active(w->rev) &&
	    (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, agent_ssl_ctx) !=
		CURLE_OK ||
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, w) != CURLE_OK)) {
		return mtls_err_set(&w->err, MTLS_E_INTERNAL, "this libcurl "
		    "cannot check the receiver's revocation (it needs "
		    "CURLOPT_SSL_CTX_FUNCTION, libcurl with OpenSSL)");
	}
	if (w->resolve == NULL && resolve_list(w) != 0) {
		return -1;
	}
	if (w->resolve != NULL &&
	    curl_easy_setopt(c, CURLOPT_RESOLVE, w->resolve) != CURLE_OK) {
		return mtls_err_set(&w->err, MTLS_E_INTERNAL, "CURLOPT_RESOLVE");
	}
	return 0;
}

static int
set_headers(struct worker *w, const struct mtls_item *it)
{
	char h[1200];
	struct curl_slist *l = NULL, *n;
	const char *vals[5];
	char a[64], p[1100], i[64];
	size_t k;

	snprintf(a, sizeof(a), "Action: %s", mtls_action_name(it->action));
	snprintf(p, sizeof(p), "Path: %s", it->path);
	snprintf(i, sizeof(i), "Item-Id: %s", it->id);
	vals[0] = a;
	vals[1] = p;
	vals[2] = i;
	vals[3] = "Content-Type: application/octet-stream";
	vals[4] = "Expect:"; /* no 100-continue round trip */
	for (k = 0; k < 5; k++) {
		snprintf(h, sizeof(h), "%s", vals[k]);
		n = curl_slist_append(l, h);
		if (n == NULL) {
			curl_slist_free_all(l);
			return -1;
		}
		l = n;
	}
	curl_slist_free_all(w->hdrs);
	w->hdrs = l;
	return curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, l) == CURLE_OK
		   ? 0
		   : -1;
}

/* Why a transfer failed, in words, into WHY. */
static void
explain_curl(struct worker *w, CURLcode cc, char *why, size_t len)
{
	long vr = 0;

	if (w->rev_why[0] != '\0') {
		snprintf(why, len, "the receiver's chain is refused: %s", w->rev_why);
		return;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION &&
	    curl_easy_getinfo(w->curl, CURLINFO_SSL_VERIFYRESULT, &vr) ==
		CURLE_OK && vr != 0) {
		const char *fix = mtls_explain_verify_fix(vr);

		snprintf(why, len, "the receiver's certificate: %s%s%s",
		    mtls_explain_verify_code(vr), fix ? "; " : "",
		    fix ? fix : "");
		return;
	}
	if (cc == CURLE_COULDNT_CONNECT) {
		snprintf(why, len, "no endpoint: %s (is the receiver running?)",
		    w->errbuf[0] ? w->errbuf : curl_easy_strerror(cc));
		return;
	}
	snprintf(why, len, "%s", w->errbuf[0] ? w->errbuf
					       : curl_easy_strerror(cc));
}

static enum outcome
classify_status(struct worker *w, long code, char *why, size_t len)
{
	char *nl;

	if (code >= 200 && code < 300) {
		return OUT_DELIVERED;
	}
	nl = strpbrk(w->resp, "\r\n");
	if (nl != NULL) {
		*nl = '\0';
	}
	snprintf(why, len, "HTTP %ld%s%s", code, w->resp[0] ? ": " : "",
	    w->resp);
	/* 5xx and "try later" codes are the receiver's temporary trouble;
	 * any other answer will not change by asking again. */
	if (code >= 500 || code == 408 || code == 425 || code == 429) {
		return OUT_RETRY;
	}
	return OUT_FAILED;
}

static enum outcome
deliver(struct worker *w, const struct mtls_item *it, char *why, size_t len)
{
	FILE *f = NULL;
	CURLcode cc;
	long code = 0;
	enum outcome out;

	if (identity_changed(w)) {
		/* A renewed client certificate: a new handle, so a new
		 * connection and a full handshake with the new files. */
		agent_log(w->o, "%s: %s or %s changed; using the new "
		    "certificate from the next connection on", w->target,
		    w->o->id.cert, w->o->id.key);
		curl_easy_cleanup(w->curl);
		w->curl = NULL;
		if (worker_curl(w) != 0) {
			snprintf(why, len, "%s", w->err.msg);
			return OUT_RETRY;
		}
	}
	w->errbuf[0] = '\0';
	w->rev_why[0] = '\0';
	w->resp_len = 0;
	w->resp[0] = '\0';
	if (set_headers(w, it) != 0) {
		snprintf(why, len, "out of memory");
		return OUT_RETRY;
	}
	if (it->blob != NULL) {
		f = fopen(it->blob, "rb");
		if (f == NULL) {
			snprintf(why, len, "queued content %s is gone: %s", it->blob,
			    strerror(errno));
			return OUT_FAILED;
		}
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(w->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(w->curl, CURLOPT_READDATA, f);
		curl_easy_setopt(w->curl, CURLOPT_SEEKDATA, f);
	} else {
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS,
		    it->data != NULL ? (const char *)it->data : "");
	}
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(it->data != NULL || it->blob != NULL ? it->size : 0));
	/* A deadline bounds the transfer too (an interrupted one is simply
	 * sent again by the next run). */
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS,
	    w->deadline_ms != 0 ? (long)(w->deadline_ms - mtls__now_ms() > 1
					     ? w->deadline_ms - mtls__now_ms()
					     : 1)
				: 0L);
	cc = curl_easy_perform(w->curl);
	if (f != NULL) {
		fclose(f);
		curl_easy_setopt(w->curl, CURLOPT_READDATA, NULL);
		curl_easy_setopt(w->curl, CURLOPT_SEEKDATA, NULL);
	}
	if (cc != CURLE_OK) {
		explain_curl(w, cc, why, len);
		return OUT_RETRY;
	}
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	out = classify_status(w, code, why, len);
	return out;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0) {
		return;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int
record(struct worker *w, struct mtls_queue *q, const struct mtls_item *it,
    enum outcome out, const char *why)
{
	int64_t now = mtls__now_ms(), delay;
	double cap = w->o->retry_max_s > 0 ? w->o->retry_max_s : 60;

	switch (out) {
	case OUT_DELIVERED:
		w->delivered++;
		if (w->o->verbose) {
			agent_log(w->o, "%s: delivered %s %s (%s)", w->target,
			    mtls_action_name(it->action), it->path, it->id);
		}
		return mtls__queue_delivered(q, it->id, now, &w->err);
	case OUT_FAILED:
		w->failed++;
		agent_log(w->o, "%s: %s %s failed for good: %s", w->target,
		    mtls_action_name(it->action), it->path, why);
		return mtls__queue_fail(q, it->id, now, why, &w->err);
	case OUT_RETRY:
	default:
		delay = mtls__queue_backoff_ms(it->attempts + 1, BACKOFF_BASE_MS,
		    (int64_t)(cap * 1000), jitter01());
		agent_log(w->o, "%s: %s %s: %s; %s", w->target,
		    mtls_action_name(it->action), it->path, why,
		    w->o->wait ? "retrying" : "left queued for the next run");
		return mtls__queue_retry(q, it->id, now, delay, why, &w->err);
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct mtls_queue *q = NULL;
	struct mtls_item it;
	char why[1024];
	int64_t due = 0;
	int r;

	memset(&it, 0, sizeof(it));
	w->rc = -1;
	q = mtls_queue_open(w->o->state, 0, &w->err);
	if (q == NULL || worker_curl(w) != 0) {
		goto out;
	}
	for (;;) {
		int64_t now = mtls__now_ms();

		if (w->deadline_ms != 0 && now >= w->deadline_ms) {
			break;
		}
		r = mtls__queue_claim(q, w->target, now, &it, &due, &w->err);
		if (r < 0) {
			goto out;
		}
		if (r == 0) {
			break; /* all delivered */
		}
		if (r == 2) {
			if (!w->o->wait) {
				w->stalled = 1;
				break;
			}
			if (w->deadline_ms != 0 && due > w->deadline_ms) {
				due = w->deadline_ms;
			}
			sleep_ms(due - now);
			continue;
		}
		why[0] = '\0';
		if (record(w, q, &it, deliver(w, &it, why, sizeof(why)), why) !=
		    0) {
			goto out;
		}
		mtls__item_clear(&it);
	}
	w->rc = 0;
out:
	mtls__item_clear(&it);
	curl_slist_free_all(w->hdrs);
	if (w->curl != NULL) {
		curl_easy_cleanup(w->curl);
	}
	curl_slist_free_all(w->resolve);
	w->resolve = NULL;
	mtls_queue_close(q);
	atomic_store(&w->done, 1);
	return NULL;
}

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
	agent_log(o, "another mtls push is delivering from %s; %s", o->state,
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
		sleep_ms(200);
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
	if (pthread_create(&w->th, NULL, worker_run, w) != 0) {
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
		sleep_ms(100);
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
		agent_log(o, "INSECURE: the receivers' revocation is not checked "
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
