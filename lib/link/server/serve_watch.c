/* The receiver's file watch: a renewed certificate and key are picked up
 * without SIGHUP, and the CRLs are checked (serve_revocation.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "link/server/serve_int.h"
#include "link/server/serve_rev.h"

struct stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct serve_watch {
	struct stamp cert, key;     /* as of the generation in use */
	struct stamp tried_cert, tried_key; /* last pair that failed */
	int failing;
	struct timespec next;       /* next certificate check */
};

static void
stamp_of(const char *path, struct stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (path != NULL && stat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->mtime = st.st_mtim;
	}
}

static int
stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

struct serve_watch *
mtls__serve_watch_new(struct serve *srv)
{
	struct serve_watch *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		return NULL;
	}
	stamp_of(srv->opts.cert, &w->cert);
	stamp_of(srv->opts.key, &w->key);
	clock_gettime(CLOCK_MONOTONIC, &w->next);
	return w;
}

void
mtls__serve_watch_free(struct serve_watch *w)
{
	free(w);
}

static double
interval(const struct serve *srv)
{
	return srv->opts.watch_interval > 0 ? srv->opts.watch_interval : 1;
}

/* Renewal tools write the certificate and the key one after the other:
 * reload only when the pair loads and matches. A pair that does not (one
 * file still old, or half written) is tried again at every tick while it
 * changes, and reported once per state so the log shows a rotation that
 * never completes. */
static void
watch_identity(struct serve *srv, struct serve_watch *w)
{
	struct stamp c, k;
	int same_try;

	stamp_of(srv->opts.cert, &c);
	stamp_of(srv->opts.key, &k);
	if (stamp_eq(&c, &w->cert) && stamp_eq(&k, &w->key)) {
		return;
	}
	same_try = w->failing && stamp_eq(&c, &w->tried_cert) &&
	    stamp_eq(&k, &w->tried_key);
	if (mtls__serve_reload(srv, "file change", 1) == 0) {
		w->cert = c;
		w->key = k;
		w->failing = 0;
		return;
	}
	if (!same_try) {
		mtls__serve_log(srv, "warning", "%s or %s changed but the pair does "
		    "not load yet (rotation in progress?); keeping the "
		    "current certificate, will retry", srv->opts.cert,
		    srv->opts.key);
	}
	w->failing = 1;
	w->tried_cert = c;
	w->tried_key = k;
}

void
mtls__serve_watch_tick(struct serve *srv)
{
	struct serve_watch *w = srv->watch;
	struct timespec now;
	double step = 2 * interval(srv);

	mtls__serve_rev_tick(srv, 0);
	if (w == NULL) {
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < w->next.tv_sec ||
	    (now.tv_sec == w->next.tv_sec && now.tv_nsec < w->next.tv_nsec)) {
		return;
	}
	w->next = now;
	w->next.tv_sec += (time_t)step;
	w->next.tv_nsec += (long)((step - (double)(time_t)step) * 1e9);
	if (w->next.tv_nsec >= 1000000000L) {
		w->next.tv_sec++;
		w->next.tv_nsec -= 1000000000L;
	}
	watch_identity(srv, w);
}

void
mtls__serve_watch_sync(struct serve *srv)
{
	if (srv->watch != NULL) {
		stamp_of(srv->opts.cert, &srv->watch->cert);
		stamp_of(srv->opts.key, &srv->watch->key);
		srv->watch->failing = 0;
	}
}
