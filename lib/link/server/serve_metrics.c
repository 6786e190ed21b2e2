/* The receiver's /metrics page: the server's counters, the verified-
 * certificate cache and the revocation counters. */
#include <stdio.h>

#include "link/server/serve_int.h"
#include "link/server/serve_rev.h"

void
mtls__serve_metrics_render(struct serve *srv, struct evbuffer *out)
{
	struct serve_metrics *m = &srv->m;

	evbuffer_add_printf(out,
	    "# HELP mtls_connections_total TCP connections accepted.\n"
	    "# TYPE mtls_connections_total counter\n"
	    "mtls_connections_total %lu\n"
	    "# HELP mtls_connections_open Connections open now.\n"
	    "# TYPE mtls_connections_open gauge\n"
	    "mtls_connections_open %ld\n"
	    "# HELP mtls_connections_rejected_total Connections refused "
	    "because --max-conns were open.\n"
	    "# TYPE mtls_connections_rejected_total counter\n"
	    "mtls_connections_rejected_total %lu\n"
	    "# HELP mtls_connections_unserved_total Connections closed "
	    "unanswered because their TLS state could not be allocated (out "
	    "of memory).\n"
	    "# TYPE mtls_connections_unserved_total counter\n"
	    "mtls_connections_unserved_total %lu\n"
	    "# HELP mtls_handshakes_total Completed TLS handshakes.\n"
	    "# TYPE mtls_handshakes_total counter\n"
	    "mtls_handshakes_total %lu\n"
	    "# HELP mtls_handshakes_resumed_total Completed handshakes that "
	    "resumed a session.\n"
	    "# TYPE mtls_handshakes_resumed_total counter\n"
	    "mtls_handshakes_resumed_total %lu\n"
	    "# HELP mtls_reloads_total Successful SIGHUP reloads.\n"
	    "# TYPE mtls_reloads_total counter\n"
	    "mtls_reloads_total %lu\n"
	    "# HELP mtls_reload_failures_total Failed SIGHUP reloads.\n"
	    "# TYPE mtls_reload_failures_total counter\n"
	    "mtls_reload_failures_total %lu\n",
	    atomic_load(&m->conns_accepted), atomic_load(&m->conns_open),
	    atomic_load(&m->conns_rejected), atomic_load(&m->conns_unserved),
	    atomic_load(&m->handshakes),
	    atomic_load(&m->handshakes_resumed), atomic_load(&m->reloads),
	    atomic_load(&m->reload_failures));
	{
		struct serve_gen *g = mtls__serve_gen_get(srv);

		evbuffer_add_printf(out,
		    "# HELP mtls_verify_cache_hits_total Client certificates "
		    "accepted from the verified-certificate cache (since the "
		    "last reload).\n"
		    "# TYPE mtls_verify_cache_hits_total counter\n"
		    "mtls_verify_cache_hits_total %lu\n",
		    mtls__serve_vcache_hits(g->ctx));
		mtls__serve_gen_put(g);
	}
	evbuffer_add_printf(out,
	    "# HELP mtls_insecure_no_map 1 when the receiver runs without a "
	    "principal map (--insecure-no-map): every certificate of the CA "
	    "has full access.\n"
	    "# TYPE mtls_insecure_no_map gauge\n"
	    "mtls_insecure_no_map %d\n", srv->opts.map == NULL ? 1 : 0);
	evbuffer_add_printf(out,
	    "# HELP mtls_handshake_failures_total Refused or failed TLS "
	    "handshakes by reason.\n"
	    "# TYPE mtls_handshake_failures_total counter\n");
	mtls__serve_counters_render(&m->failures, "mtls_handshake_failures_total", out);
	mtls__serve_rev_metrics(srv->rev, out);
	evbuffer_add_printf(out,
	    "# HELP mtls_requests_total HTTP requests by action and status.\n"
	    "# TYPE mtls_requests_total counter\n");
	mtls__serve_counters_render(&m->requests, "mtls_requests_total", out);
}
