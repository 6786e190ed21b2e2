/* bench/ocsp_load.c: a tiny HTTP/1.1 load client for OCSP responders.
 *
 *   ocsp_load HOST PORT REQUEST.der CONNECTIONS SECONDS
 *
 * Each connection POSTs the prebuilt request, reads the whole response
 * (Content-Length), and repeats on the same connection (keep-alive); a
 * connection the server closes is reopened. Unlike wrk it never opens a
 * connection without sending a request (openssl ocsp spins on those,
 * openssl/openssl#23934). Prints "responses N non200 N reconnects N". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	size_t sent, got;
	char buf[65536];
};

static char *req;
static size_t req_len;
static struct sockaddr_in addr;
static unsigned long long responses, non200, reconnects;

static int
open_conn(struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->sent = c->got = 0;
	return 0;
}

/* Returns 1 when a whole response is in the buffer (and consumes it). */
static int
response_done(struct conn *c)
{
	char *end, *cl;
	size_t hlen, blen;

	c->buf[c->got] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (end == NULL) {
		return 0;
	}
	hlen = (size_t)(end - c->buf) + 4;
	cl = strcasestr(c->buf, "\r\nContent-Length:");
	blen = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	if (c->got < hlen + blen) {
		return 0;
	}
	if (strncmp(c->buf + 9, "200", 3) != 0) {
		non200++;
	}
	responses++;
	memmove(c->buf, c->buf + hlen + blen, c->got - hlen - blen);
	c->got -= hlen + blen;
	return 1;
}

int
main(int argc, char **argv)
{
	struct conn *cs;
	struct pollfd *pfd;
	char head[512];
	FILE *f;
	long sz;
	int n, i, hl;
	double secs;
	struct timespec t0, t;

	if (argc != 6) {
		fprintf(stderr, "usage: ocsp_load HOST PORT REQUEST.der CONNECTIONS SECONDS\n");
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &addr.sin_addr);
	f = fopen(argv[3], "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) <= 0) {
		perror(argv[3]);
		return 1;
	}
	rewind(f);
	hl = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Content-Type: application/ocsp-request\r\nConnection: keep-alive\r\n"
	    "Content-Length: %ld\r\n\r\n", argv[1], argv[2], sz);
	req = malloc((size_t)hl + (size_t)sz);
	memcpy(req, head, (size_t)hl);
	if (fread(req + hl, 1, (size_t)sz, f) != (size_t)sz) {
		return 1;
	}
	fclose(f);
	req_len = (size_t)hl + (size_t)sz;
	n = atoi(argv[4]);
	secs = atof(argv[5]);
	cs = calloc((size_t)n, sizeof(*cs));
	pfd = calloc((size_t)n, sizeof(*pfd));
	for (i = 0; i < n; i++) {
		open_conn(&cs[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= secs) {
			break;
		}
		for (i = 0; i < n; i++) {
			pfd[i].fd = cs[i].fd;
			pfd[i].events = cs[i].sent < req_len ? POLLOUT : POLLIN;
		}
		if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = &cs[i];
			ssize_t r;

			if (pfd[i].revents == 0) {
				continue;
			}
			if (c->sent < req_len) {
				r = write(c->fd, req + c->sent, req_len - c->sent);
				if (r > 0) {
					c->sent += (size_t)r;
					continue;
				}
			} else {
				r = read(c->fd, c->buf + c->got, sizeof(c->buf) - 1 - c->got);
				if (r > 0) {
					c->got += (size_t)r;
					if (response_done(c)) {
						c->sent = 0;
					}
					continue;
				}
			}
			/* Closed by the server: reopen and send again. */
			close(c->fd);
			reconnects++;
			open_conn(c);
		}
	}
	printf("responses %llu non200 %llu reconnects %llu\n", responses, non200, reconnects);
	return 0;
}
