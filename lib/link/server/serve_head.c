/*
 * The receiver's request-head check: one complete HTTP/1.1 request head
 * judged before evhttp sees a byte of it (request line, header syntax,
 * one Content-Length, Path and Action values, Expect), so that every
 * refusal carries its own status and reason. Pure: no I/O, no state; the
 * framing in serve_frame.c calls it and fuzz targets can too.
 */
#include <stdint.h>
#include <string.h>

#include <event2/util.h>

#include "link/server/serve_int.h"

static int
token_char(unsigned char b)
{
	return b > 0x20 && b < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", b) == NULL;
}

int
mtls__serve_header_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && evutil_ascii_strncasecmp(p, name, n) == 0;
}

static int
refuse_with(const char **why, const char *msg, int status)
{
	*why = msg;
	return status;
}

/* The request line: METHOD SP TARGET SP HTTP/1.x (RFC 9112 section 3). */
static int
request_line(const char *p, size_t n, struct serve_head *h, const char **why)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;
	size_t ml, tl;

	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p))
			  : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == p || sp2 == sp1 + 1 ||
	    (size_t)(p + n - (sp2 + 1)) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 &&
		memcmp(sp2 + 1, "HTTP/1.0", 8) != 0)) {
		return refuse_with(why, "malformed request line; send METHOD "
		    "/path HTTP/1.1", 400);
	}
	h->http11 = memcmp(sp2 + 1, "HTTP/1.1", 8) == 0;
	ml = (size_t)(sp1 - p);
	tl = (size_t)(sp2 - (sp1 + 1));
	snprintf(h->method, sizeof(h->method), "%.*s", (int)ml, p);
	snprintf(h->target, sizeof(h->target), "%.*s", (int)tl, sp1 + 1);
	if (!(ml == 3 && memcmp(p, "GET", 3) == 0) &&
	    !(ml == 4 && memcmp(p, "POST", 4) == 0) &&
	    !(ml == 4 && memcmp(p, "HEAD", 4) == 0)) {
		return refuse_with(why, "method not supported; replication "
		    "uses POST /bin/receive", 501);
	}
	return 0;
}

/* One header line "Name: value" (no CR LF). */
static int
header_line(const char *p, size_t n, struct serve_head *h, const char **why)
{
	const char *colon = memchr(p, ':', n), *v, *e;
	size_t nl, i;
	long long cl = 0;

	if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		return refuse_with(why, "folded header line (RFC 9112 "
		    "section 5.2)", 400);
	}
	if (colon == NULL || colon == p) {
		return refuse_with(why, "malformed header line", 400);
	}
	nl = (size_t)(colon - p);
	for (i = 0; i < nl; i++) {
		if (!token_char((unsigned char)p[i])) {
			return refuse_with(why, "malformed header name", 400);
		}
	}
	v = colon + 1;
	e = p + n;
	while (v < e && (*v == ' ' || *v == '\t')) {
		v++;
	}
	while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
		e--;
	}
	if (mtls__serve_header_is(p, nl, "Content-Length")) {
		if (h->content_length >= 0) {
			h->outcome = "repeated_header";
			return refuse_with(why, "header Content-Length appears "
			    "more than once; send it once", 400);
		}
		if (e == v || e - v > 18) {
			return refuse_with(why, "malformed Content-Length", 400);
		}
		for (; v < e; v++) {
			if (*v < '0' || *v > '9') {
				return refuse_with(why,
				    "malformed Content-Length", 400);
			}
			cl = cl * 10 + (*v - '0');
		}
		h->content_length = cl;
	} else if (mtls__serve_header_is(p, nl, "Transfer-Encoding")) {
		return refuse_with(why, "chunked bodies are not accepted; send "
		    "Content-Length", 411);
	} else if (mtls__serve_header_is(p, nl, "Path")) {
		if (h->paths++ > 0) {
			h->outcome = "repeated_header";
			return refuse_with(why, "header Path appears more than "
			    "once; send it once", 400);
		}
	} else if (mtls__serve_header_is(p, nl, "Item-Id")) {
		/* For the in-flight guard only; serve_http.c judges it. */
		if ((size_t)(e - v) < sizeof(h->item)) {
			memcpy(h->item, v, (size_t)(e - v));
			h->item[e - v] = '\0';
		}
	} else if (mtls__serve_header_is(p, nl, "Expect")) {
		if ((size_t)(e - v) != 12 ||
		    evutil_ascii_strncasecmp(v, "100-continue", 12) != 0) {
			return refuse_with(why, "only Expect: 100-continue is "
			    "understood", 417);
		}
		h->expect_continue = 1;
	}
	return 0;
}

int
mtls__serve_head_check(const char *buf, size_t len, size_t max_head,
    uint64_t max_body, struct serve_head *h, const char **why)
{
	size_t i, start = 0, end = 0, line, eol;
	int rc;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	*why = NULL;
	/* Empty lines before a request line are ignored (RFC 9112 2.2). */
	while (start < len && (buf[start] == '\r' || buf[start] == '\n')) {
		start++;
	}
	for (i = start; i < len && end == 0; i++) {
		const unsigned char b = (unsigned char)buf[i];

		if (b == '\n' && i + 1 < len && buf[i + 1] == '\n') {
			end = i + 2;
		} else if (b == '\n' && i + 2 < len && buf[i + 1] == '\r' &&
		    buf[i + 2] == '\n') {
			end = i + 3;
		} else if (b == '\r' && i + 1 < len && buf[i + 1] != '\n') {
			return refuse_with(why, "bare CR in the request head",
			    400);
		} else if ((b < 0x20 && b != '\t' && b != '\r' && b != '\n') ||
		    b == 0x7f) {
			/* NUL would cut a header value short unseen. */
			return refuse_with(why, "control character (NUL, ...) "
			    "in the request head", 400);
		}
	}
	if (end == 0) {
		return len >= max_head ? refuse_with(why, "request head too "
		    "large", 431) : 1;
	}
	if (end > max_head) {
		return refuse_with(why, "request head too large", 431);
	}
	h->len = end;
	for (line = start; line < end; line = eol + 1) {
		eol = line;
		while (buf[eol] != '\n') {
			eol++;
		}
		i = eol > line && buf[eol - 1] == '\r' ? eol - 1 : eol;
		if (i == line) {
			break; /* the blank line */
		}
		rc = line == start ? request_line(buf + line, i - line, h, why)
				   : header_line(buf + line, i - line, h, why);
		if (rc != 0) {
			return rc;
		}
	}
	if (h->content_length > 0 && (uint64_t)h->content_length > max_body) {
		return refuse_with(why, "request body larger than --max-body",
		    413);
	}
	return 0;
}
