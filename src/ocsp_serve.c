/* see ocsp_serve.h */
#include "ocsp_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

/* Bigger requests are refused before they are read: a request for a few
 * CertIDs with a nonce is well under 4 KiB. */
#define MAX_BODY 16384

struct server {
	struct mtls_ocsp_responder *r;
	struct event_base *base;
};

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, const void *data, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(out, data, len);
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	reply(req, code, reason, "text/plain", text, strlen(text));
}

static void
answer(struct server *s, struct evhttp_request *req, const unsigned char *der,
    size_t len)
{
	size_t out_len = 0;
	const unsigned char *resp = mtls_ocsp_respond(s->r, der, len, &out_len);

	reply(req, HTTP_OK, "OK", "application/ocsp-response", resp, out_len);
}

static void
on_post(struct server *s, struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned char *body;

	/* RFC 6960 A.1; a missing type is tolerated, a wrong one is not. */
	if (ct != NULL && strncasecmp(ct, "application/ocsp-request", 24) != 0) {
		reply_text(req, 415, "Unsupported Media Type",
		    "POST an application/ocsp-request\n");
		return;
	}
	body = evbuffer_pullup(in, -1);
	answer(s, req, len ? body : (const unsigned char *)"", len);
}

/* GET /{url-encoding of base-64 encoding of the DER OCSPRequest}. */
static void
on_get_request(struct server *s, struct evhttp_request *req, const char *path)
{
	size_t b64_len = 0, i, pad = 0;
	char *b64 = evhttp_uridecode(path, 0, &b64_len);
	unsigned char *der = NULL;
	int n;

	if (b64 == NULL || b64_len == 0 || b64_len > MAX_BODY ||
	    b64_len % 4 != 0) {
		answer(s, req, (const unsigned char *)"", 0);
		goto out;
	}
	for (i = 0; i < b64_len; i++) {
		if (b64[i] == ' ') {
			b64[i] = '+'; /* a '+' decoded as space by some clients */
		}
	}
	der = malloc(b64_len);
	n = der ? EVP_DecodeBlock(der, (const unsigned char *)b64, (int)b64_len) : -1;
	if (n < 0) {
		answer(s, req, (const unsigned char *)"", 0);
		goto out;
	}
	/* EVP_DecodeBlock counts padding as zero bytes. */
	pad = (b64[b64_len - 1] == '=') + (b64[b64_len - 2] == '=');
	answer(s, req, der, (size_t)n - pad);
out:
	free(der);
	free(b64);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (cmd == EVHTTP_REQ_POST) {
		on_post(s, req);
		return;
	}
	if (uri == NULL || uri[0] != '/') {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "bad request\n");
		return;
	}
	if (strcmp(uri, "/healthz") == 0) {
		reply_text(req, HTTP_OK, "OK", "ok\n");
		return;
	}
	if (strcmp(uri, "/") == 0) {
		reply_text(req, HTTP_OK, "OK",
		    "mtls OCSP responder: POST application/ocsp-request, or GET /<base64 request>\n");
		return;
	}
	on_get_request(s, req, uri + 1);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		/* The inventory is watched anyway; SIGHUP forces a fresh
		 * signature for every response. */
		fprintf(stderr, "mtls ocsp: SIGHUP: responses will be re-signed\n");
		mtls_ocsp_responder_flush(s->r);
		return;
	}
	event_base_loopbreak(s->base);
}

static void
print_bound(struct evhttp_bound_socket *h)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
			port = ntohs(a->sin6_port);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
			port = ntohs(a->sin_port);
		}
	}
	fprintf(stderr, "mtls ocsp: answering on http://%s%s%s:%d/\n",
	    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "", port);
}

int
ocsp_serve_run(struct mtls_ocsp_responder *r, const char *host, int port)
{
	struct server s = {r, NULL};
	struct evhttp *http = NULL;
	struct evhttp_bound_socket *h;
	struct event *sigs[3] = {NULL, NULL, NULL};
	static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	struct mtls_ocsp_stats st;
	int i, rc = 1;

	signal(SIGPIPE, SIG_IGN);
	s.base = event_base_new();
	http = s.base ? evhttp_new(s.base) : NULL;
	if (http == NULL) {
		fprintf(stderr, "mtls: cannot start the event loop (libevent)\n");
		goto out;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(http, MAX_BODY);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_timeout(http, 30);
	evhttp_set_gencb(http, on_request, &s);
	h = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (h == NULL) {
		fprintf(stderr, "mtls: cannot listen on %s:%d: %s; is the port in "
		    "use? choose another with --listen\n", host, port, strerror(errno));
		goto out;
	}
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(s.base, signums[i], on_signal, &s);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0) {
			fprintf(stderr, "mtls: cannot handle signals (libevent)\n");
			goto out;
		}
	}
	print_bound(h);
	if (event_base_dispatch(s.base) < 0) {
		fprintf(stderr, "mtls: the event loop failed\n");
		goto out;
	}
	mtls_ocsp_responder_stats(r, &st);
	fprintf(stderr, "mtls ocsp: stopped after %llu requests (%llu from cache, "
	    "%llu signed, %llu malformed; good %llu, revoked %llu, unknown %llu)\n",
	    st.requests, st.cache_hits, st.signed_live, st.malformed, st.good,
	    st.revoked, st.unknown);
	rc = 0;
out:
	for (i = 0; i < 3; i++) {
		if (sigs[i] != NULL) {
			event_free(sigs[i]);
		}
	}
	if (http != NULL) {
		evhttp_free(http);
	}
	if (s.base != NULL) {
		event_base_free(s.base);
	}
	return rc;
}
