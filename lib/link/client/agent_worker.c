/* The push agent's delivery worker: one target's items over libcurl
 * (identity, headers, the receiver's chain and revocation, outcomes and
 * backoff); agent.c runs the workers. */
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

#define BACKOFF_BASE_MS 500

enum outcome { OUT_DELIVERED, OUT_RETRY, OUT_FAILED };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
mtls__agent_log(const struct mtls__agent_opts *o, const char *fmt, ...)
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
		mtls__agent_log(w->o, "%s: %s", w->target, note);
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
		mtls__agent_log(w->o, "%s: %s or %s changed; using the new "
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

void
mtls__agent_sleep_ms(int64_t ms)
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
			mtls__agent_log(w->o, "%s: delivered %s %s (%s)", w->target,
			    mtls_action_name(it->action), it->path, it->id);
		}
		return mtls__queue_delivered(q, it->id, now, &w->err);
	case OUT_FAILED:
		w->failed++;
		mtls__agent_log(w->o, "%s: %s %s failed for good: %s", w->target,
		    mtls_action_name(it->action), it->path, why);
		return mtls__queue_fail(q, it->id, now, why, &w->err);
	case OUT_RETRY:
	default:
		delay = mtls__queue_backoff_ms(it->attempts + 1, BACKOFF_BASE_MS,
		    (int64_t)(cap * 1000), jitter01());
		mtls__agent_log(w->o, "%s: %s %s: %s; %s", w->target,
		    mtls_action_name(it->action), it->path, why,
		    w->o->wait ? "retrying" : "left queued for the next run");
		return mtls__queue_retry(q, it->id, now, delay, why, &w->err);
	}
}

void *
mtls__agent_worker_run(void *arg)
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
			mtls__agent_sleep_ms(due - now);
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
