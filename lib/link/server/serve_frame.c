/*
 * The receiver's request framing, between TLS and evhttp: a bufferevent
 * filter that holds each request head until it is complete and checked.
 * A request without a body is passed on as it came. A body is written to
 * a spool file in the content root as it arrives (its SHA-256 computed on
 * the way); only when all of it is there does evhttp get the head, saying
 * Content-Length: 0, and the store renames the spool into place. So a
 * connection holds at most one head (16 KiB) and what TLS has decrypted
 * but not yet written, whatever the body's size; evhttp never holds one.
 *
 * Why here and not in evhttp (libevent 2.1): evhttp's timeout is reset by
 * every byte (a client trickling one byte every few seconds holds a
 * connection for ever), it reads a whole oversized body before answering
 * 413 and never answers an oversized Expect: 100-continue, the first of
 * two Content-Length headers silently wins, a NUL cuts a header value
 * short unseen, and its own 400/501 answers reach neither log nor
 * metrics. Here the head and the body each get one total deadline, the
 * head is judged before evhttp sees a byte of it, and every refusal is
 * answered, logged, counted, and followed by close_notify, a half-close
 * and a bounded drain, so the client reads its answer instead of a reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "link/server/content_store_int.h"

#include "mtls/pki.h"
#include "link/server/serve_int.h"

/* After a refusal: how long and how much we read and discard before the
 * socket is closed (the client is expected to stop and read). */
#define FRAME_LINGER_S 2
#define FRAME_LINGER_MAX (8u * 1024 * 1024)

/* F_WAIT: a head and its spooled body were handed to evhttp; nothing
 * more is read until that request is answered (mtls__serve_frame_done). */
enum frame_state { F_HEAD, F_BODY, F_WAIT, F_REFUSED };
enum frame_timer { T_NONE, T_HEAD, T_BODY, T_LINGER };

struct serve_frame {
	struct serve_worker *w;
	SSL *ssl;
	struct bufferevent *tls;
	struct evbuffer_cb_entry *drained; /* on tls's output, while refused */
	struct event *timer;
	int refs; /* the filter and the connection (freed in either order) */
	struct bufferevent *bev;           /* the filter itself; NULL once freed */
	struct evbuffer_cb_entry *written; /* on bev's output */
	struct evbuffer_cb_entry *sent;    /* on tls's output */
	struct event *flush, *deliver, *resume;
	struct mtls__content_spool *spool; /* the body under way, or handed on */
	struct evbuffer *held; /* the head of that body, held until it is all in */
	/* evhttp's write callback, held back until TLS has sent it all */
	bufferevent_data_cb http_written;
	void *http_arg;
	int write_pending;
	enum frame_state state;
	enum frame_timer kind;
	uint64_t body_left;
	size_t discarded;
	int half_closed;
	struct serve_head head; /* the request under way (for the log) */
	char claim[320]; /* our in-flight key while the body arrives, or "" */
	struct timespec started;
};


static const char *
status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 500:
		return "Internal Server Error";
	case 413:
		return "Payload Too Large";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static void
timer_start(struct serve_frame *f, enum frame_timer kind, double seconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	f->kind = kind;
	evtimer_add(f->timer, &tv);
}

static void
timer_stop(struct serve_frame *f)
{
	f->kind = T_NONE;
	evtimer_del(f->timer);
}

/* Ends the connection now: the bufferevent fails, evhttp frees it. */
static void
close_now(struct serve_frame *f)
{
	int fd = SSL_get_fd(f->ssl);

	timer_stop(f);
	if (fd >= 0) {
		shutdown(fd, SHUT_RDWR);
	}
}

/* The refusal was written out: close_notify, then our half of TCP, and
 * read what the client still sends for a little while. */
static void
refusal_flushed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct serve_frame *f = arg;
	int fd = SSL_get_fd(f->ssl);

	(void)info;
	if (f->half_closed || evbuffer_get_length(buf) > 0) {
		return;
	}
	f->half_closed = 1;
	ERR_clear_error();
	(void)SSL_shutdown(f->ssl);
	ERR_clear_error();
	if (fd >= 0) {
		shutdown(fd, SHUT_WR);
	}
}

static void
frame_log(struct serve_frame *f, int status, const char *outcome)
{
	struct serve *srv = f->w->srv;
	X509 *cert = SSL_get0_peer_certificate(f->ssl);
	struct serve_conn *c = mtls__serve_conn_get(f->ssl);
	struct serve_access a;
	char *cn = NULL, *serial = NULL, labels[128];

	memset(&a, 0, sizeof(a));
	if (cert != NULL) {
		cn = mtls_name_cn(X509_get_subject_name(cert));
		serial = mtls_cert_serial_hex(cert);
	}
	a.peer = c != NULL ? c->peer : "-";
	a.principal = cn;
	a.serial = serial;
	a.method = f->head.method[0] != '\0' ? f->head.method : NULL;
	a.uri = f->head.target[0] != '\0' ? f->head.target : NULL;
	a.status = status;
	a.outcome = outcome;
	a.ms = f->started.tv_sec != 0 ? mtls__serve_elapsed_ms(&f->started) : 0;
	mtls__serve_log_access(srv, &a);
	snprintf(labels, sizeof(labels), "action=\"invalid\",status=\"%d\"",
	    status);
	mtls__serve_counters_add(&srv->m.requests, labels);
	OPENSSL_free(cn);
	OPENSSL_free(serial);
}

static void
unclaim(struct serve_frame *f)
{
	if (f->claim[0] != '\0') {
		mtls__content_inflight_release(f->claim);
		f->claim[0] = '\0';
	}
}

/* A body with an Item-Id is under way: claims (client certificate, id)
 * until its request is answered, so that the same sender's resend of the
 * same item (a retry after its timeout) waits instead of placing the
 * item beside it. 1 claimed or nothing to claim, 0 held by a live
 * request, -1 out of memory. The store claims (principal, id) again when
 * it applies (content_store_int.h): certificates differ, principals may
 * not. */
static int
claim(struct serve_frame *f)
{
	X509 *cert = SSL_get0_peer_certificate(f->ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int rc;

	if (f->head.item[0] == '\0' || cert == NULL ||
	    X509_digest(cert, EVP_sha256(), md, &n) != 1) {
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	snprintf(f->claim, sizeof(f->claim), "F%s%c%s", hex, 1, f->head.item);
	rc = mtls__content_inflight_claim(f->claim);
	if (rc != 1) {
		f->claim[0] = '\0';
	}
	return rc;
}

/* Answers STATUS with WHY and closes: evhttp sees nothing more. */
static void
refuse(struct serve_frame *f, int status, const char *why, const char *outcome)
{
	struct evbuffer *out = bufferevent_get_output(f->tls);

	mtls__content_spool_free(f->spool);
	f->spool = NULL;
	frame_log(f, status, outcome);
	unclaim(f);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nServer: mtls/%s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "%sConnection: close\r\n\r\n%s\n", status, status_text(status),
	    MTLS_VERSION, strlen(why) + 1,
	    status == 503 ? "Retry-After: 1\r\n" : "", why);
	f->state = F_REFUSED;
	f->drained = evbuffer_add_cb(out, refusal_flushed, f);
	bufferevent_enable(f->tls, EV_WRITE);
	timer_stop(f);
	timer_start(f, T_LINGER, FRAME_LINGER_S);
}

static void
frame_timer(evutil_socket_t fd, short what, void *arg)
{
	struct serve_frame *f = arg;
	const struct mtls__serve_opts *o = &f->w->srv->opts;
	char why[160];

	(void)fd, (void)what;
	switch (f->kind) {
	case T_HEAD:
		snprintf(why, sizeof(why), "the request head did not arrive "
		    "within %.1f s (--header-timeout)", o->header_timeout);
		refuse(f, 408, why, "header_timeout");
		break;
	case T_BODY:
		snprintf(why, sizeof(why), "the request body did not arrive "
		    "within %.1f s (--body-timeout)", o->body_timeout);
		refuse(f, 408, why, "body_timeout");
		break;
	case T_LINGER:
		close_now(f);
		break;
	case T_NONE:
	default:
		break;
	}
}

/* The head evhttp gets for a body that is in the spool: the lines of P
 * (the head, LEN bytes) without Content-Length and Expect (we answered
 * it), and Content-Length: 0. */
static int
hold_head(struct serve_frame *f, const char *p, size_t len)
{
	size_t line = 0, eol, end;
	const char *colon;
	int first = 1, rc = 0;

	while (line < len && (p[line] == '\r' || p[line] == '\n')) {
		line++;
	}
	for (; line < len && rc == 0; line = eol + 1) {
		eol = line;
		while (eol < len && p[eol] != '\n') {
			eol++;
		}
		end = eol > line && p[eol - 1] == '\r' ? eol - 1 : eol;
		if (end == line) {
			rc = evbuffer_add_printf(f->held, "Content-Length: 0\r\n"
			    "\r\n") < 0 ? -1 : 0;
			break;
		}
		colon = first ? NULL : memchr(p + line, ':', end - line);
		first = 0;
		if (colon != NULL && (mtls__serve_header_is(p + line, (size_t)(colon - (p + line)),
		    "Content-Length") || mtls__serve_header_is(p + line,
		    (size_t)(colon - (p + line)), "Expect"))) {
			continue;
		}
		rc = evbuffer_add(f->held, p + line, end - line) != 0 ||
		    evbuffer_add(f->held, "\r\n", 2) != 0 ? -1 : 0;
	}
	return rc;
}

/* The head P was accepted and announces a body: open its spool, hold the
 * head, answer Expect: 100-continue. -1 after refusing. */
static int
spool_start(struct serve_frame *f, const char *p)
{
	struct serve *srv = f->w->srv;
	struct mtls_err err = {MTLS_OK, ""};
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	f->spool = mtls__content_spool_new(f->w->store, &err);
	if (f->spool == NULL || (f->held == NULL &&
	    (f->held = evbuffer_new()) == NULL) ||
	    hold_head(f, p, f->head.len) != 0) {
		mtls__serve_log(srv, "error", "%s", f->spool == NULL ? err.msg
		    : "out of memory holding a request head");
		refuse(f, 500, "the receiver cannot take the body now; try "
		    "again later", "spool_error");
		return -1;
	}
	if (f->head.expect_continue && f->head.http11) {
		evbuffer_add(bufferevent_get_output(f->tls), cont,
		    sizeof(cont) - 1);
		bufferevent_enable(f->tls, EV_WRITE);
	}
	return 0;
}

/* Writes the first N bytes of SRC to the spool. -1 after refusing. */
static int
spool_take(struct serve_frame *f, struct evbuffer *src, size_t n)
{
	struct evbuffer_iovec v;
	struct mtls_err err = {MTLS_OK, ""};
	size_t len;

	while (n > 0 && evbuffer_peek(src, -1, NULL, &v, 1) == 1) {
		len = v.iov_len < n ? v.iov_len : n;
		if (mtls__content_spool_write(f->spool, v.iov_base, len,
			&err) != 0) {
			mtls__serve_log(f->w->srv, "error", "%s", err.msg);
			refuse(f, 500, "the receiver could not store the body "
			    "(disk full?); try again later", "spool_error");
			return -1;
		}
		evbuffer_drain(src, len);
		n -= len;
	}
	return 0;
}

/* evhttp's timeout counts bytes reaching evhttp, and a spooled body
 * reaches it not at all: the body has its own deadline, so evhttp's
 * waits while it arrives. */
static void
http_timeouts(struct serve_frame *f, int on)
{
	struct timeval tv;
	double s = f->w->srv->opts.idle_timeout;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	if (f->bev != NULL) {
		bufferevent_set_timeouts(f->bev, on ? &tv : NULL,
		    on ? &tv : NULL);
	}
}

/* One head, complete in SRC: pass it on, or refuse. 0: passed. */
static int
take_head(struct serve_frame *f, struct evbuffer *src, struct evbuffer *dst)
{
	const struct mtls__serve_opts *o = &f->w->srv->opts;
	size_t n = evbuffer_get_length(src);
	size_t look = n < SERVE_HEAD_MAX ? n : SERVE_HEAD_MAX;
	const char *p = (const char *)evbuffer_pullup(src, (ev_ssize_t)look);
	const char *why = NULL;
	int rc;

	if (f->kind == T_NONE) {
		clock_gettime(CLOCK_MONOTONIC, &f->started);
		timer_start(f, T_HEAD, o->header_timeout);
	}
	rc = p != NULL ? mtls__serve_head_check(p, look, SERVE_HEAD_MAX,
			     o->max_body, &f->head, &why)
		       : 1;
	if (rc == 1) {
		return 1;
	}
	if (rc != 0) {
		refuse(f, rc, why, f->head.outcome != NULL ? f->head.outcome
			: rc == 413 ? "too_large" : rc == 431
			? "head_too_large" : rc == 411 ? "length_required"
			: rc == 501 ? "method" : "bad_head");
		return 1;
	}
	timer_stop(f);
	if (f->head.content_length <= 0) {
		evbuffer_remove_buffer(src, dst, f->head.len);
		return 0;
	}
	rc = claim(f);
	if (rc != 1) {
		refuse(f, rc == 0 ? 503 : 500, rc == 0 ? "this item (Item-Id) "
		    "is being sent by another request right now; retry later"
		    : "out of memory", rc == 0 ? "in_flight" : "spool_error");
		return 1;
	}
	if (spool_start(f, p) != 0) {
		return 1;
	}
	evbuffer_drain(src, f->head.len);
	f->state = F_BODY;
	f->body_left = (uint64_t)f->head.content_length;
	http_timeouts(f, 0);
	timer_start(f, T_BODY, o->body_timeout);
	return 0;
}

static enum bufferevent_filter_result
frame_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct serve_frame *f = arg;
	size_t n, take;
	int moved = 0;

	(void)limit, (void)mode;
	while ((n = evbuffer_get_length(src)) > 0) {
		if (f->state == F_REFUSED) {
			f->discarded += n;
			evbuffer_drain(src, n);
			if (f->discarded > FRAME_LINGER_MAX) {
				close_now(f);
			}
			break;
		}
		if (f->state == F_WAIT) {
			break;
		}
		if (f->state == F_BODY) {
			take = (uint64_t)n < f->body_left ? n
							  : (size_t)f->body_left;
			if (spool_take(f, src, take) != 0) {
				continue;
			}
			f->body_left -= take;
			if (f->body_left == 0) {
				/* All of it is on disk: now evhttp may see
				 * the request. */
				timer_stop(f);
				http_timeouts(f, 1);
				evbuffer_add_buffer(dst, f->held);
				f->state = F_WAIT;
				moved = 1;
			}
			continue;
		}
		if (take_head(f, src, dst) != 0) {
			break;
		}
		moved = 1;
	}
	return moved ? BEV_OK : BEV_NEED_MORE;
}

/*
 * evhttp adds a response to its output before it enables writing, and a
 * libevent 2.1 filter moves output on only when data is added while
 * writing is enabled: the response would sit there. So every addition
 * schedules one flush, which runs after evhttp has enabled writing.
 */
/* The filter calls this when it has passed all output to TLS; evhttp
 * would take that as "sent" and may shut the socket down at once (after
 * "Connection: close"), losing what TLS has not written yet. So evhttp's
 * callback runs only when the TLS output is empty. */
static void
frame_written(struct bufferevent *bev, void *arg)
{
	struct serve_conn *c = mtls__serve_conn_get(mtls__serve_bev_ssl(bev));
	struct serve_frame *f = c != NULL ? c->frame : NULL;

	if (f == NULL || f->http_written == NULL) {
		return;
	}
	f->http_arg = arg;
	if (evbuffer_get_length(bufferevent_get_output(f->tls)) > 0) {
		f->write_pending = 1;
		return;
	}
	f->write_pending = 0;
	f->http_written(bev, arg);
}

/* Tells evhttp, late, that its response is out. Only while evhttp still
 * waits for it: once it freed the connection (bufferevent_free clears the
 * callbacks at once, while the filter itself, and so F, is finalised
 * later) or installed its own write callback again, the news is stale and
 * would complete a response of a connection that is gone. */
static void
deliver_now(evutil_socket_t fd, short what, void *arg)
{
	struct serve_frame *f = arg;
	bufferevent_data_cb wr = NULL;
	void *cbarg = NULL;

	(void)fd, (void)what;
	if (!f->write_pending || f->http_written == NULL || f->bev == NULL) {
		return;
	}
	f->write_pending = 0;
	bufferevent_getcb(f->bev, NULL, &wr, NULL, &cbarg);
	if (wr == frame_written && cbarg == f->http_arg) {
		f->http_written(f->bev, f->http_arg);
	}
}

static void
tls_sent(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct serve_frame *f = arg;

	(void)info;
	if (f->bev != NULL && f->write_pending &&
	    evbuffer_get_length(buf) == 0) {
		event_active(f->deliver, EV_TIMEOUT, 0);
	}
}

static void
flush_now(evutil_socket_t fd, short what, void *arg)
{
	struct serve_frame *f = arg;
	bufferevent_data_cb rd = NULL, wr = NULL;
	bufferevent_event_cb ev = NULL;
	void *cbarg = NULL;

	(void)fd, (void)what;
	bufferevent_getcb(f->bev, &rd, &wr, &ev, &cbarg);
	if (wr != NULL && wr != frame_written) {
		f->http_written = wr;
		bufferevent_setcb(f->bev, rd, frame_written, ev, cbarg);
	}
	bufferevent_flush(f->bev, EV_WRITE, BEV_FLUSH);
}

static void
output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct serve_frame *f = arg;

	(void)buf;
	if (info->n_added > 0) {
		event_active(f->flush, EV_TIMEOUT, 0);
	}
}

struct mtls__content_spool *
mtls__serve_frame_spool(struct serve_frame *f)
{
	return f != NULL && f->state == F_WAIT ? f->spool : NULL;
}

/* Reads on after a request was answered: what the client sent meanwhile
 * waits in the TLS input, and no new byte may come to wake the filter. */
static void
resume_now(evutil_socket_t fd, short what, void *arg)
{
	struct serve_frame *f = arg;

	(void)fd, (void)what;
	if (f->bev != NULL && f->state == F_HEAD &&
	    evbuffer_get_length(bufferevent_get_input(f->tls)) > 0) {
		bufferevent_trigger(f->tls, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS);
	}
}

void
mtls__serve_frame_done(struct serve_frame *f)
{
	if (f == NULL || f->state != F_WAIT) {
		return;
	}
	mtls__content_spool_free(f->spool);
	f->spool = NULL;
	unclaim(f);
	f->state = F_HEAD;
	if (f->resume != NULL) {
		event_active(f->resume, EV_TIMEOUT, 0);
	}
}

static void
frame_put(struct serve_frame *f)
{
	if (--f->refs == 0) {
		free(f);
	}
}

/* The filter is freed. The TLS bufferevent (and the connection state)
 * may be freed before or after it: F lives until both are gone. */
static void
frame_free(void *arg)
{
	struct serve_frame *f = arg;

	if (f->written != NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_output(f->bev),
		    f->written);
	}
	f->bev = NULL;
	f->write_pending = 0;
	event_free(f->flush);
	event_free(f->deliver);
	event_free(f->resume);
	event_free(f->timer);
	f->flush = f->deliver = f->resume = f->timer = NULL;
	unclaim(f);
	mtls__content_spool_free(f->spool);
	f->spool = NULL;
	if (f->held != NULL) {
		evbuffer_free(f->held);
		f->held = NULL;
	}
	frame_put(f);
}

struct bufferevent *
mtls__serve_frame_new(struct serve_worker *w, SSL *ssl, struct bufferevent *tls)
{
	struct serve_frame *f = calloc(1, sizeof(*f));
	struct bufferevent *bev = NULL;
	struct serve_conn *c;

	if (f == NULL) {
		bufferevent_free(tls);
		return NULL;
	}
	f->refs = 1;
	f->w = w;
	f->ssl = ssl;
	f->tls = tls;
	f->timer = evtimer_new(w->base, frame_timer, f);
	f->flush = event_new(w->base, -1, 0, flush_now, f);
	f->deliver = event_new(w->base, -1, 0, deliver_now, f);
	f->resume = event_new(w->base, -1, 0, resume_now, f);
	if (f->timer != NULL && f->flush != NULL && f->deliver != NULL &&
	    f->resume != NULL) {
		bev = bufferevent_filter_new(tls, frame_in, NULL,
		    BEV_OPT_CLOSE_ON_FREE, frame_free, f);
	}
	if (bev == NULL) {
		if (f->timer != NULL) {
			event_free(f->timer);
		}
		if (f->flush != NULL) {
			event_free(f->flush);
		}
		if (f->deliver != NULL) {
			event_free(f->deliver);
		}
		if (f->resume != NULL) {
			event_free(f->resume);
		}
		free(f);
		bufferevent_free(tls);
		return NULL;
	}
	f->bev = bev;
	f->written = evbuffer_add_cb(bufferevent_get_output(bev),
	    output_added, f);
	f->sent = evbuffer_add_cb(bufferevent_get_output(tls), tls_sent, f);
	c = mtls__serve_conn_get(ssl);
	if (c != NULL) {
		c->frame = f;
		c->frame_put = frame_put;
		f->refs++;
	}
	if (f->written == NULL || f->sent == NULL) {
		bufferevent_free(bev); /* frees F and TLS */
		return NULL;
	}
	return bev;
}

SSL *
mtls__serve_bev_ssl(struct bufferevent *bev)
{
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct bufferevent *u = bev != NULL ? bufferevent_get_underlying(bev)
					    : NULL;

	return ssl != NULL || u == NULL ? ssl : bufferevent_openssl_get_ssl(u);
}

size_t
mtls__serve_bev_pending(struct bufferevent *bev)
{
	struct bufferevent *u = bufferevent_get_underlying(bev);

	return evbuffer_get_length(bufferevent_get_input(bev)) +
	    (u != NULL ? evbuffer_get_length(bufferevent_get_input(u)) : 0);
}
