/* The receiver's generations: what SIGHUP or a file change replaces (TLS
 * context with its revocation hook, principal map), reference-counted so
 * that connections keep the generation they started with. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "mtls/explain.h"
#include "mtls/pki.h"
#include "base/clock.h"
#include "link/server/serve_int.h"
#include "link/server/serve_rev.h"

struct serve_gen *
mtls__serve_gen_get(struct serve *srv)
{
	struct serve_gen *g;

	pthread_mutex_lock(&srv->lock);
	g = srv->gen;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&srv->lock);
	return g;
}

void
mtls__serve_gen_put(struct serve_gen *g)
{
	if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1) {
		return;
	}
	SSL_CTX_free(g->ctx);
	mtls__pmap_free(g->map);
	free(g);
}

/* Loads certificate, key, CA and map into a new generation. */
struct serve_gen *
mtls__serve_gen_load(const struct mtls__serve_opts *o, struct mtls_err *err)
{
	struct serve_gen *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	atomic_init(&g->refs, 1);
	g->ctx = mtls__serve_tls_ctx(o, err);
	if (g->ctx == NULL) {
		goto fail;
	}
	if (o->map != NULL) {
		g->map = mtls__pmap_load(o->map, err);
		if (g->map == NULL) {
			goto fail;
		}
	}
	return g;
fail:
	mtls__serve_gen_put(g);
	return NULL;
}

void
mtls__serve_gen_describe(struct serve *srv, const char *what)
{
	struct serve_gen *g = mtls__serve_gen_get(srv);
	X509 *cert = SSL_CTX_get0_certificate(g->ctx);
	char *subj = mtls_name_format(X509_get_subject_name(cert));
	char *serial = mtls_cert_serial_hex(cert);
	char until[64];

	mtls__time_format_asn1(X509_get0_notAfter(cert), MTLS__TIME_HUMAN, until,
	    sizeof(until));
	mtls__serve_log(srv, "info",
	    "%s: certificate %s (serial %s, valid until %s); clients from %s; "
	    "map %s (%zu rules)", what, subj ? subj : "?", serial ? serial : "?",
	    until, srv->opts.ca, srv->opts.map ? srv->opts.map : "none: "
	    "principal = certificate CN, full access",
	    g->map ? mtls__pmap_count(g->map) : 0);
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	mtls__serve_gen_put(g);
}

int
mtls__serve_reload(struct serve *srv, const char *why, int quiet)
{
	struct mtls_err err = {MTLS_OK, ""};
	struct serve_gen *g = mtls__serve_gen_load(&srv->opts, &err), *old;

	if (g == NULL) {
		if (!quiet) {
			atomic_fetch_add(&srv->m.reload_failures, 1);
			mtls__serve_log(srv, "error", "reload failed, keeping the "
			    "previous certificate, CA and map (%s): %s", why,
			    err.msg);
		}
		return -1;
	}
	if (mtls__serve_rev_attach(srv->rev, g->ctx) != 0) {
		/* Serving with the new context would let revoked clients
		 * in: keep the previous one. */
		atomic_fetch_add(&srv->m.reload_failures, 1);
		mtls__serve_gen_put(g);
		return -1;
	}
	pthread_mutex_lock(&srv->lock);
	old = srv->gen;
	srv->gen = g;
	pthread_mutex_unlock(&srv->lock);
	mtls__serve_gen_put(old);
	atomic_fetch_add(&srv->m.reloads, 1);
	mtls__serve_gen_describe(srv, strcmp(why, "SIGHUP") == 0 ? "reloaded"
	    : "reloaded (certificate or key file changed)");
	return 0;
}
