/* The receiver's hash-chained audit log (see mtls/auditlog.h for the record
 * format and serve_audit_int.h for the writer). A leaf beside
 * serve_log.c: it only formats, hashes and appends. */
#define _GNU_SOURCE /* memrchr, asprintf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/auditlog.h"
#include "base/internal.h"
#include "link/server/serve_audit_int.h"
#include "link/server/serve_int.h"

#define AUDIT_LINE_MAX 16384
#define AUDIT_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

struct mtls__audit {
	pthread_mutex_t lock;
	int fd;
	char *path;
	unsigned long long seq; /* of the last record written */
	char prev[65];          /* its hash */
	off_t size;
	off_t max_bytes;
	int unsynced;
};

/* SHA-256 of N bytes at P as 64 lowercase hex digits. */
static int
sha256_hex(const void *p, size_t n, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
		return -1;
	}
	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

static int
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

/* The parts of one record line (LEN bytes, no newline) that the chain
 * needs. Returns NULL when it is one, else what is wrong with it. */
struct rec_parts {
	size_t body;      /* bytes up to " hash=" */
	unsigned long long seq;
	char prev[65], hash[65];
};

static const char *
parse_record(const char *line, size_t len, struct rec_parts *r)
{
	static const char head[] = MTLS_AUDIT_MAGIC " seq=";
	const size_t tail = strlen(" prev=") + 64 + strlen(" hash=") + 64;
	const char *p;
	char *end;

	if (len < sizeof(head) - 1 + tail ||
	    strncmp(line, head, sizeof(head) - 1) != 0) {
		return "not an audit record";
	}
	p = line + len - tail;
	if (strncmp(p, " prev=", 6) != 0 || !is_hex64(p + 6) ||
	    strncmp(p + 70, " hash=", 6) != 0 || !is_hex64(p + 76)) {
		return "not an audit record (no prev= and hash= at its end)";
	}
	memcpy(r->prev, p + 6, 64);
	r->prev[64] = '\0';
	memcpy(r->hash, p + 76, 64);
	r->hash[64] = '\0';
	r->body = (size_t)(p + 70 - line);
	p = line + sizeof(head) - 1;
	if (*p < '1' || *p > '9') {
		return "not an audit record (bad seq)";
	}
	errno = 0;
	r->seq = strtoull(p, &end, 10);
	if (errno != 0 || *end != ' ') {
		return "not an audit record (bad seq)";
	}
	if (memchr(line, '\0', len) != NULL) {
		return "record has a NUL byte";
	}
	return NULL;
}

/* ---- the writer ---- */

/* Reads the last complete record of the log open on FD (SIZE bytes) into
 * A's chain state; a torn last line (a crash inside a write) is cut off
 * and *TORN set to its length. */
static int
load_tail(struct mtls__audit *a, int fd, off_t size, const char *path,
    size_t *torn, struct mtls_err *err)
{
	char *buf = NULL;
	size_t n = size > AUDIT_LINE_MAX ? AUDIT_LINE_MAX : (size_t)size;
	const char *why;
	struct rec_parts r;
	char *nl, *start;
	ssize_t got;

	*torn = 0;
	if (size == 0) {
		return 0;
	}
	if ((buf = malloc(n + 1)) == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	got = pread(fd, buf, n, size - (off_t)n);
	if (got != (ssize_t)n) {
		free(buf);
		return mtls_err_sys(err, MTLS_E_IO, "audit log %s: cannot read", path);
	}
	buf[n] = '\0';
	nl = memrchr(buf, '\n', n);
	if (nl != buf + n - 1) {
		/* The record being written when the process died: it never
		 * became part of the chain. */
		*torn = nl != NULL ? (size_t)(buf + n - 1 - nl) : n;
		if (nl == NULL && (off_t)n < size) {
			free(buf);
			return mtls_err_set(err, MTLS_E_FORMAT, "audit log %s: "
			    "its last line is longer than a record", path);
		}
		if (ftruncate(fd, size - (off_t)*torn) != 0) {
			free(buf);
			return mtls_err_sys(err, MTLS_E_IO,
			    "audit log %s: cannot cut its torn last record", path);
		}
		a->size = size - (off_t)*torn;
		if (nl == NULL) {
			free(buf);
			return 0;
		}
		n = (size_t)(nl - buf + 1);
	}
	buf[n - 1] = '\0';
	start = memrchr(buf, '\n', n - 1);
	start = start != NULL ? start + 1 : buf;
	why = parse_record(start, strlen(start), &r);
	if (why != NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "audit log %s: last record: %s "
		    "(check it with `mtls audit verify`)", path, why);
		free(buf);
		return -1;
	}
	a->seq = r.seq;
	memcpy(a->prev, r.hash, sizeof(a->prev));
	free(buf);
	return 0;
}

/* When PATH is missing but rotated files PATH.SEQ exist (a crash between
 * rotation's rename and the new file), the chain goes on from the newest. */
static int
load_rotated(struct mtls__audit *a, struct mtls_err *err)
{
	char *dcopy = mtls__strdup(a->path), *bcopy = mtls__strdup(a->path);
	const char *dir, *base;
	unsigned long long best = 0, v;
	struct dirent *de;
	DIR *d = NULL;
	char *end, *name = NULL;
	size_t torn, bl;
	int fd, rc = 0;
	struct stat st;

	if (dcopy == NULL || bcopy == NULL) {
		rc = mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	bl = strlen(base);
	if ((d = opendir(dir)) == NULL) {
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, bl) != 0 || de->d_name[bl] != '.' ||
		    de->d_name[bl + 1] < '1' || de->d_name[bl + 1] > '9') {
			continue;
		}
		v = strtoull(de->d_name + bl + 1, &end, 10);
		if (*end == '\0' && v > best) {
			best = v;
		}
	}
	if (best == 0) {
		goto out;
	}
	if (asprintf(&name, "%s.%llu", a->path, best) < 0) {
		name = NULL;
		rc = mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((fd = open(name, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		rc = mtls_err_sys(err, MTLS_E_IO, "audit log %s", name);
		if (fd >= 0) {
			close(fd);
		}
		goto out;
	}
	rc = load_tail(a, fd, st.st_size, name, &torn, err);
	close(fd);
out:
	if (d != NULL) {
		closedir(d);
	}
	free(name);
	free(dcopy);
	free(bcopy);
	a->size = 0;
	return rc;
}

static int
sync_dir(const char *path)
{
	char *copy = mtls__strdup(path);
	int fd, rc = -1;

	if (copy == NULL) {
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

static int
open_log(struct mtls__audit *a, int excl, struct mtls_err *err)
{
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
	    (excl ? O_EXCL : 0), 0600);
	if (a->fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "audit log %s: cannot open",
		    a->path);
	}
	return 0;
}

/* Appends one record built from R (with A->lock held). */
static int append(struct mtls__audit *a, const struct mtls__audit_rec *r,
    int sync, struct mtls_err *err);

static int
rotate(struct mtls__audit *a, struct mtls_err *err)
{
	struct mtls__audit_rec r = {"rotate", NULL, NULL, NULL, NULL, 0, "ok"};
	char *old = NULL;
	int rc;

	if (asprintf(&old, "%s.%llu", a->path, a->seq) < 0) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* Durable before it moves, and never overwrites an older file. */
	if (fdatasync(a->fd) != 0 || link(a->path, old) != 0 ||
	    unlink(a->path) != 0 || sync_dir(a->path) != 0) {
		rc = mtls_err_sys(err, MTLS_E_IO, "audit log %s: cannot rotate "
		    "to %s", a->path, old);
		free(old);
		return rc;
	}
	close(a->fd);
	a->size = 0;
	r.path = strrchr(old, '/') != NULL ? strrchr(old, '/') + 1 : old;
	rc = open_log(a, 1, err);
	if (rc == 0) {
		rc = append(a, &r, 0, err);
	}
	free(old);
	return rc;
}

static int
append(struct mtls__audit *a, const struct mtls__audit_rec *r, int sync,
    struct mtls_err *err)
{
	char now[40], peer[340], subject[4200], path[4200], result[260];
	char *line = NULL, hash[65];
	int n;
	ssize_t w;

	mtls__serve_now(now, sizeof(now));
	mtls__serve_log_escape(r->peer != NULL && *r->peer ? r->peer : "-",
	    SERVE_ESC_FIELD, peer, sizeof(peer));
	mtls__serve_log_escape(r->subject != NULL && *r->subject ? r->subject
	    : "-", SERVE_ESC_FIELD, subject, sizeof(subject));
	mtls__serve_log_escape(r->path != NULL && *r->path ? r->path : "-",
	    SERVE_ESC_FIELD, path, sizeof(path));
	mtls__serve_log_escape(r->result != NULL && *r->result ? r->result : "-",
	    SERVE_ESC_FIELD, result, sizeof(result));
	if ((line = malloc(AUDIT_LINE_MAX)) == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	n = snprintf(line, AUDIT_LINE_MAX, "%s seq=%llu time=%s event=%s peer=%s "
	    "fp=%s subject=%s path=%s bytes=%llu result=%s prev=%s",
	    MTLS_AUDIT_MAGIC, a->seq + 1, now, r->event, peer,
	    r->fp != NULL && *r->fp ? r->fp : "-", subject, path, r->bytes,
	    result, a->prev);
	if (n < 0 || n + 72 >= AUDIT_LINE_MAX ||
	    sha256_hex(line, (size_t)n, hash) != 0) {
		free(line);
		return mtls_err_set(err, MTLS_E_INTERNAL, "audit record too long");
	}
	n += snprintf(line + n, AUDIT_LINE_MAX - (size_t)n, " hash=%s\n", hash);
	if (a->max_bytes > 0 && a->size > 0 && a->size + n > a->max_bytes &&
	    strcmp(r->event, "rotate") != 0) {
		if (rotate(a, err) != 0) {
			free(line);
			return -1;
		}
		free(line);
		return append(a, r, sync, err); /* chained after the rotation */
	}
	/* One write on an O_APPEND descriptor: the record lands whole at the
	 * end or (crash) torn, which the next start cuts off. */
	w = write(a->fd, line, (size_t)n);
	free(line);
	if (w != n) {
		if (w > 0) {
			/* Undo a short write so the chain stays whole. */
			(void)ftruncate(a->fd, a->size);
		}
		return mtls_err_sys(err, MTLS_E_IO, "audit log %s: cannot append",
		    a->path);
	}
	a->size += n;
	a->seq++;
	memcpy(a->prev, hash, sizeof(a->prev));
	a->unsynced = 1;
	if (sync) {
		if (fdatasync(a->fd) != 0) {
			return mtls_err_sys(err, MTLS_E_IO, "audit log %s: fdatasync",
			    a->path);
		}
		a->unsynced = 0;
	}
	return 0;
}

struct mtls__audit *
mtls__audit_open(const char *path, long long max_bytes, struct mtls_err *err)
{
	struct mtls__audit *a = calloc(1, sizeof(*a));
	struct mtls__audit_rec r = {"start", NULL, NULL, NULL, NULL, 0, "ok"};
	char note[80];
	struct stat st;
	size_t torn = 0;

	if (a == NULL || (a->path = mtls__strdup(path)) == NULL) {
		free(a);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	a->fd = -1;
	a->max_bytes = (off_t)max_bytes;
	memcpy(a->prev, AUDIT_ZERO, sizeof(a->prev));
	pthread_mutex_init(&a->lock, NULL);
	if (stat(path, &st) != 0 && errno == ENOENT) {
		if (load_rotated(a, err) != 0) {
			goto fail;
		}
	}
	if (open_log(a, 0, err) != 0 || fstat(a->fd, &st) != 0) {
		goto fail;
	}
	a->size = st.st_size;
	if (load_tail(a, a->fd, st.st_size, path, &torn, err) != 0) {
		goto fail;
	}
	if (a->size == 0 && a->seq > 0) {
		/* A new file continuing the newest rotated one (a crash
		 * came between rotation's rename and the new file). */
		r.event = "rotate";
		r.result = "continued";
		if (append(a, &r, 0, err) != 0) {
			goto fail;
		}
		r.event = "start";
		r.result = "ok";
	}
	if (torn > 0) {
		snprintf(note, sizeof(note), "cut_torn_record_of_%zu_bytes", torn);
		r.event = "recover";
		r.result = note;
		if (append(a, &r, 0, err) != 0) {
			goto fail;
		}
		r.event = "start";
		r.result = "ok";
	}
	if (append(a, &r, 1, err) != 0) {
		goto fail;
	}
	return a;
fail:
	mtls__audit_close(a);
	return NULL;
}

int
mtls__audit_write(struct mtls__audit *a, const struct mtls__audit_rec *r,
    int sync, struct mtls_err *err)
{
	int rc;

	if (a == NULL) {
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	rc = append(a, r, sync, err);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
mtls__audit_close(struct mtls__audit *a)
{
	struct mtls__audit_rec r = {"stop", NULL, NULL, NULL, NULL, 0, "ok"};

	if (a == NULL) {
		return;
	}
	if (a->fd >= 0) {
		(void)append(a, &r, 1, NULL);
		close(a->fd);
	}
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}

void
mtls__audit_cert(X509 *cert, char fp[65], char *subject, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	static const char digits[] = "0123456789abcdef";
	unsigned int n = 0, i;
	int dlen;

	snprintf(fp, 65, "-");
	snprintf(subject, len, "-");
	if (cert == NULL) {
		return;
	}
	dlen = i2d_X509(cert, &der);
	if (dlen > 0 && EVP_Digest(der, (size_t)dlen, md, &n, EVP_sha256(),
	    NULL) == 1 && n == 32) {
		for (i = 0; i < n; i++) {
			fp[2 * i] = digits[md[i] >> 4];
			fp[2 * i + 1] = digits[md[i] & 15];
		}
		fp[64] = '\0';
	}
	OPENSSL_free(der);
	if (X509_NAME_oneline(X509_get_subject_name(cert), subject,
	    (int)len) == NULL) {
		snprintf(subject, len, "-");
	}
}

/* ---- the check ---- */

struct chain {
	int started;
	unsigned long long seq;
	char hash[65];
};

/* Checks one record LINE (LEN bytes, newline removed) against C. */
static const char *
check_record(struct chain *c, const char *line, size_t len,
    struct mtls_audit_summary *s, char *why, size_t wlen)
{
	struct rec_parts r;
	const char *bad = parse_record(line, len, &r);
	char hash[65];

	if (bad != NULL) {
		return bad;
	}
	if (sha256_hex(line, r.body, hash) != 0) {
		return "cannot hash the record";
	}
	if (strcmp(hash, r.hash) != 0) {
		return "record altered: its hash does not match its contents";
	}
	if (c->started && r.seq != c->seq + 1) {
		snprintf(why, wlen, "seq %llu where %llu was expected: records "
		    "removed, inserted or reordered", r.seq, c->seq + 1);
		return why;
	}
	if (c->started && strcmp(r.prev, c->hash) != 0) {
		return "chain broken: prev is not the hash of the record before "
		       "it (that record was replaced)";
	}
	if (!c->started) {
		s->first_seq = r.seq;
		s->continues = strcmp(r.prev, AUDIT_ZERO) != 0;
		/* Only a rotation starts a file in the middle of a chain:
		 * otherwise the records before this one were removed. */
		if (s->continues && (r.body < 1 || strstr(line,
		    " event=rotate ") == NULL || strstr(line, " event=rotate ") >
		    line + r.body)) {
			snprintf(why, wlen, "seq %llu starts the log but is not a "
			    "rotate record (records before it removed)", r.seq);
			return why;
		}
		if (!s->continues && r.seq != 1) {
			snprintf(why, wlen, "seq %llu starts the log, which must "
			    "start at 1 (records removed)", r.seq);
			return why;
		}
	}
	c->started = 1;
	c->seq = r.seq;
	memcpy(c->hash, r.hash, sizeof(c->hash));
	s->records++;
	s->last_seq = r.seq;
	memcpy(s->last_hash, r.hash, sizeof(s->last_hash));
	return NULL;
}

static int
verify_file(const char *path, struct chain *c, struct mtls_audit_summary *s,
    struct mtls_err *err)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, why[160];
	const char *bad = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL) {
		return mtls_err_sys(err, MTLS_E_IO, "%s: cannot open", path);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			bad = "record cut short (no end of line)";
		} else {
			line[--n] = '\0';
			bad = check_record(c, line, (size_t)n, s, why, sizeof(why));
		}
		if (bad != NULL) {
			rc = mtls_err_set(err, MTLS_E_VERIFY, "%s:%zu: %s", path,
			    lineno, bad);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		rc = mtls_err_sys(err, MTLS_E_IO, "%s: read error", path);
	}
	free(line);
	fclose(f);
	return rc;
}

int
mtls_audit_verify(const char *const *paths, size_t n,
    struct mtls_audit_summary *s, struct mtls_err *err)
{
	struct chain c;
	size_t i;

	memset(&c, 0, sizeof(c));
	memset(s, 0, sizeof(*s));
	for (i = 0; i < n; i++) {
		if (verify_file(paths[i], &c, s, err) != 0) {
			return -1;
		}
	}
	if (s->records == 0) {
		return mtls_err_set(err, MTLS_E_VERIFY, "%s: no audit records",
		    n > 0 ? paths[n - 1] : "-");
	}
	return 0;
}
