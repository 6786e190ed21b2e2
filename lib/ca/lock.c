/* The CA lock: DIR/lock, held with flock(2) by every command that changes
 * a CA (see ca_internal.h). The file also says who holds it and where the
 * holder may leave temporary files, so whoever takes it after a crash can
 * sweep them. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca_internal.h"
#include "base/internal.h"

#define LOCK_NAME "lock"
#define LOCK_WANT_NAME "lock.want"
#define LOCK_WANT_FRESH 2 /* seconds a waiter's "want" counts */
#define LOCK_WAIT_DEFAULT 30 /* seconds; $MTLS_LOCK_WAIT overrides */
#define LOCK_TEXT_MAX 65536

struct mtls__lock {
	int fd;
	char *dir;
	char **dirs; /* directories noted in the lock file */
	size_t n, cap;
};

static long
lock_wait_seconds(void)
{
	const char *v = getenv("MTLS_LOCK_WAIT");
	char *end = NULL;
	long s;

	if (v == NULL || *v == '\0') {
		return LOCK_WAIT_DEFAULT;
	}
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || s < 0 || s > 86400) {
		return LOCK_WAIT_DEFAULT;
	}
	return s;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "mtls issue": the program and the subcommand, never the options (they
 * may hold a pass: password). */
static void
own_command(char *buf, size_t len)
{
	char raw[512];
	ssize_t n = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	size_t i, words = 0;

	snprintf(buf, len, "mtls");
	if (fd < 0) {
		return;
	}
	n = read(fd, raw, sizeof(raw) - 1);
	close(fd);
	if (n <= 0) {
		return;
	}
	raw[n] = '\0';
	for (i = 0; i < (size_t)n && words < 2; i++) {
		if (raw[i] == '\0') {
			raw[i] = ' ';
			words++;
		} else if (!isprint((unsigned char)raw[i])) {
			raw[i] = '?';
		}
	}
	raw[i > 0 ? i - 1 : 0] = '\0';
	snprintf(buf, len, "%s", basename(raw));
}

/* The holder's own line, for "held by ...": first line, printable. */
static void
holder_line(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);
	size_t i;

	if (n <= 0) {
		snprintf(buf, len, "another process");
		return;
	}
	buf[n] = '\0';
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '\n') {
			buf[i] = '\0';
			break;
		}
		if (!isprint((unsigned char)buf[i])) {
			buf[i] = '?';
		}
	}
}

static char *
read_lock_text(int fd)
{
	char *buf = malloc(LOCK_TEXT_MAX + 1);
	ssize_t n;

	if (buf == NULL) {
		return NULL;
	}
	n = pread(fd, buf, LOCK_TEXT_MAX, 0);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* DIR/lock.want, touched by whoever waits for the lock on every poll: a
 * server that keeps the lock across a burst of writes gives it up when it
 * sees a fresh one (mtls__lock_wanted), so waiters do not starve. */
static void
want_path(const char *lock_path, char *out, size_t len)
{
	snprintf(out, len, "%s%s", lock_path, LOCK_WANT_NAME + strlen(LOCK_NAME));
}

static void
want_touch(const char *want)
{
	int fd = open(want, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	/* Only a hint: without it the waiter still gets the lock once the
	 * holder is idle or its bounded hold ends. */
	if (fd >= 0) {
		(void)futimens(fd, NULL);
		close(fd);
	}
}

int
mtls__lock_wanted(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/" LOCK_WANT_NAME, dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    time(NULL) - st.st_mtime <= LOCK_WANT_FRESH;
}

/* WAIT_MS < 0: $MTLS_LOCK_WAIT (a command); else milliseconds (an event
 * loop that answers "come back later" rather than stall). */
static int
wait_for(int fd, const char *path, long wait_ms, struct mtls_err *err)
{
	double wait = wait_ms < 0 ? (double)lock_wait_seconds()
				  : (double)wait_ms / 1000.0;
	double start = now_seconds();
	long delay_ms = 5;
	char holder[256], want[PATH_MAX + 8];
	int wanted = 0;

	want_path(path, want, sizeof(want));
	for (;;) {
		struct timespec ts;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (wanted) {
				(void)unlink(want);
			}
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			return mtls_err_sys(err, MTLS_E_IO, "cannot lock %s", path);
		}
		if (now_seconds() - start >= wait) {
			if (wanted) {
				(void)unlink(want);
			}
			holder_line(fd, holder, sizeof(holder));
			return mtls_err_set(err, MTLS_E_BUSY, "the CA is busy: %s is "
			    "held by %s; waited %.1f s (set MTLS_LOCK_WAIT=SECONDS to "
			    "wait longer)", path, holder, wait);
		}
		want_touch(want);
		wanted = 1;
		ts.tv_sec = 0;
		ts.tv_nsec = delay_ms * 1000000L;
		nanosleep(&ts, NULL);
		delay_ms = delay_ms < 80 ? delay_ms * 2 : 100;
	}
}

struct mtls__lock *
mtls__lock_take(const char *dir, long wait_ms, char **prev,
    struct mtls_err *err)
{
	struct mtls__lock *lk = calloc(1, sizeof(*lk));
	char path[PATH_MAX], cmd[200], line[400];
	int n;

	*prev = NULL;
	if (lk == NULL || (lk->dir = strdup(dir)) == NULL) {
		free(lk);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/" LOCK_NAME, dir);
	lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lk->fd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot open the CA lock %s", path);
		goto fail;
	}
	if (wait_for(lk->fd, path, wait_ms, err) != 0) {
		goto fail;
	}
	/* Text left by a holder that did not release: it was killed. */
	*prev = read_lock_text(lk->fd);
	own_command(cmd, sizeof(cmd));
	n = snprintf(line, sizeof(line), "pid %ld (%s) since %ld\n",
	    (long)getpid(), cmd, (long)time(NULL));
	/* Only for the "held by" message: a full disk must not stop a
	 * command that frees space (revoke, crl) from taking the lock. */
	if (ftruncate(lk->fd, 0) != 0 ||
	    pwrite(lk->fd, line, (size_t)n, 0) != n) {
		errno = 0;
	}
	return lk;
fail:
	if (lk->fd >= 0) {
		close(lk->fd);
	}
	free(lk->dir);
	free(lk);
	return NULL;
}

void
mtls__lock_drop(struct mtls__lock *lk)
{
	size_t i;

	if (lk == NULL) {
		return;
	}
	/* Empty means "released cleanly": nothing to sweep. */
	if (ftruncate(lk->fd, 0) != 0) {
		/* the next holder sweeps for nothing: harmless */
	}
	close(lk->fd);
	for (i = 0; i < lk->n; i++) {
		free(lk->dirs[i]);
	}
	free(lk->dirs);
	free(lk->dir);
	free(lk);
}

/* Records that temporary files may appear in PATH's directory, durably,
 * before the first one does. */
int
mtls__lock_note(const char *path, void *arg, struct mtls_err *err)
{
	struct mtls__lock *lk = arg;
	char *copy = strdup(path), *d, real[PATH_MAX], line[PATH_MAX + 8];
	size_t i;
	off_t end;
	int n;

	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	d = dirname(copy);
	if (realpath(d, real) == NULL) {
		/* The write will fail with the better message. */
		free(copy);
		return 0;
	}
	free(copy);
	for (i = 0; i < lk->n; i++) {
		if (strcmp(lk->dirs[i], real) == 0) {
			return 0;
		}
	}
	if (lk->n == lk->cap) {
		size_t ncap = lk->cap ? lk->cap * 2 : 4;
		char **nd = realloc(lk->dirs, ncap * sizeof(*nd));

		if (nd == NULL) {
			return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		lk->dirs = nd;
		lk->cap = ncap;
	}
	if ((lk->dirs[lk->n] = strdup(real)) == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	lk->n++;
	n = snprintf(line, sizeof(line), "dir %s\n", real);
	end = lseek(lk->fd, 0, SEEK_END);
	if (end < 0 || pwrite(lk->fd, line, (size_t)n, end) != n ||
	    fdatasync(lk->fd) != 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot write %s/" LOCK_NAME,
		    lk->dir);
	}
	return 0;
}

/* NAME is "<dest>.tmp-XXXXXX", as mtls_fileset_add makes them. */
static int
is_staged_name(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 12 || strncmp(name + len - 11, ".tmp-", 5) != 0) {
		return 0;
	}
	for (i = len - 6; i < len; i++) {
		if (!isalnum((unsigned char)name[i])) {
			return 0;
		}
	}
	return 1;
}

/* Removes the temporary files of a killed writer from DIR. */
static size_t
sweep_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!is_staged_name(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode)) {
			continue;
		}
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

size_t
mtls__lock_sweep(const char *ca_dir, const char *prev)
{
	const char *p = prev;
	size_t n = sweep_dir(ca_dir);

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char dir[PATH_MAX];

		if (len > 4 && len - 4 < sizeof(dir) && strncmp(p, "dir ", 4) == 0) {
			memcpy(dir, p + 4, len - 4);
			dir[len - 4] = '\0';
			n += sweep_dir(dir);
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}
