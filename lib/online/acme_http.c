/* see acme_srv.h: the ACME server on evhttp (routing requests, its
 * set-up and teardown); the validations it starts are acme_validate.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <ares.h>

#include "base/internal.h"
#include "mtls/acme.h"
#include "online/acme_srv_int.h"

/* ---- the HTTP side ---- */

/* "https://HOST" from the Host header, when it is a plain host[:port]
 * (it goes into Link and Location headers). */
static void
base_url(struct evhttp_request *req, const char *listen, char *out,
    size_t len)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Host");

	if (h == NULL || *h == '\0' || strlen(h) > 255 ||
	    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-:[]_") != strlen(h)) {
		h = listen;
	}
	snprintf(out, len, "https://%s", h);
}

int
mtls__acme_srv_route(struct mtls__acme_srv *s, struct evhttp_request *req,
    const char *path, const char *peer, int *issued)
{
	struct evkeyvalq *outh = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct mtls__acme_req r;
	struct mtls__acme_resp resp;
	struct evbuffer *out;
	char base[300], ra[24];
	int i, status;

	memset(&r, 0, sizeof(r));
	base_url(req, s->o.listen, base, sizeof(base));
	r.post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	r.head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	r.path = path;
	r.base = base;
	r.content_type = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	r.len = evbuffer_get_length(body);
	r.body = r.len > 0 ? evbuffer_pullup(body, -1) : (const unsigned char *)"";
	r.peer_addr = peer;
	mtls__acme_handle(&s->acme, &r, &resp);
	evhttp_add_header(outh, "Replay-Nonce", resp.nonce);
	evhttp_add_header(outh, "Cache-Control", "no-store");
	for (i = 0; i < MTLS__ACME_HDRS; i++) {
		if (resp.links[i] != NULL) {
			evhttp_add_header(outh, "Link", resp.links[i]);
		}
	}
	if (resp.location != NULL) {
		evhttp_add_header(outh, "Location", resp.location);
	}
	if (resp.retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", resp.retry_after);
		evhttp_add_header(outh, "Retry-After", ra);
	}
	if (resp.content_type != NULL) {
		evhttp_add_header(outh, "Content-Type", resp.content_type);
	}
	*issued = resp.issued;
	status = resp.status;
	out = evbuffer_new();
	if (out == NULL || (resp.len > 0 && evbuffer_add(out, resp.body,
		resp.len) != 0)) {
		evbuffer_free(out);
		mtls__acme_resp_free(&resp);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return 500;
	}
	evhttp_send_reply(req, status, status < 300 ? "OK" : status == 404 ?
	    "Not Found" : status == 429 ? "Too Many Requests" : "Error", out);
	evbuffer_free(out);
	mtls__acme_resp_free(&resp);
	return status;
}

struct mtls__acme_srv *
mtls__acme_srv_new(struct event_base *base, struct mtls_ca *ca,
    const struct mtls__acme_srv_opts *o, struct mtls_err *err)
{
	struct mtls__acme_srv *s = calloc(1, sizeof(*s));
	size_t n;

	if (s == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->base = base;
	if (s->o.http_port <= 0) {
		s->o.http_port = 80;
	}
	if (s->o.tls_port <= 0) {
		s->o.tls_port = 443;
	}
	if (s->o.timeout <= 0) {
		s->o.timeout = 10;
	}
	s->o.acme.validate_timeout = (long)s->o.timeout + 1;
	if (mtls__acme_init(&s->acme, ca, &s->o.acme, err) != 0 ||
	    mtls__resolve_check(o->resolve, err) != 0) {
		goto fail;
	}
	s->acme.validate = mtls__acme_srv_check;
	s->acme.validate_arg = s;
	s->resolve = mtls__strdup(o->resolve);
	if (o->target_allow != NULL) {
		/* "10.0.0.0/8,192.0.2.1" as the "ip:" entries of an allow list. */
		const char *p = o->target_allow;

		n = strlen(p) * 4 + 8;
		s->target_allow = calloc(1, n);
		while (s->target_allow != NULL && *p != '\0') {
			size_t k = strcspn(p, ", ");

			if (k > 0) {
				snprintf(s->target_allow + strlen(s->target_allow), n -
				    strlen(s->target_allow), "%sip:%.*s",
				    s->target_allow[0] ? "," : "", (int)k, p);
			}
			p += k;
			p += strspn(p, ", ");
		}
		if (s->target_allow == NULL || mtls_acme_allow_check(s->target_allow,
			err) != 0) {
			goto fail;
		}
	}
	s->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->dns == NULL) {
		/* No resolv.conf: names resolve through --acme-resolve only. */
		s->dns = evdns_base_new(base, 0);
	}
	if (mtls__acme_srv_dns_setup(s, o->dns_resolver, err) != 0) {
		goto fail;
	}
	s->alpn_ctx = SSL_CTX_new(TLS_client_method());
	if (s->dns == NULL || s->alpn_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(s->alpn_ctx, TLS1_2_VERSION) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set up validation");
		goto fail;
	}
	/* The validation certificate is self-signed on purpose (RFC 8737 3):
	 * it is judged by its acmeIdentifier, not by a chain. */
	SSL_CTX_set_verify(s->alpn_ctx, SSL_VERIFY_NONE, NULL);
	return s;
fail:
	mtls__acme_srv_free(s);
	return NULL;
}

void
mtls__acme_srv_free(struct mtls__acme_srv *s)
{
	int i;

	if (s == NULL) {
		return;
	}
	if (s->dns != NULL) {
		evdns_base_free(s->dns, 1);
	}
	if (s->ares != NULL) {
		ares_destroy(s->ares);  /* answers what is pending, EDESTRUCTION */
	}
	for (i = 0; i < DNS_FDS; i++) {
		if (s->dfd[i].ev != NULL) {
			event_free(s->dfd[i].ev);
		}
	}
	if (s->ares_timer != NULL) {
		event_free(s->ares_timer);
	}
	if (s->ares_lib) {
		ares_library_cleanup();
	}
	SSL_CTX_free(s->alpn_ctx);
	mtls__acme_clear(&s->acme);
	free(s->resolve);
	free(s->target_allow);
	free(s);
}

void
mtls__acme_srv_counts(const struct mtls__acme_srv *s, unsigned long long *issued,
    unsigned long long *refused, int *inflight)
{
	*issued = s->acme.issued;
	*refused = s->acme.refused;
	*inflight = s->inflight;
}
