/* see mtls/file.h */
#define _GNU_SOURCE
#include "mtls/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/internal.h"

char *
mtls__strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

char *
mtls__path_of(const char *dir, const char *name, const char *ext)
{
	size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
	char *p = malloc(n);

	if (p != NULL) {
		snprintf(p, n, "%s/%s%s", dir, name, ext);
	}
	return p;
}

static int
read_fd_all(int fd, size_t max, unsigned char **data, size_t *len)
{
	/* Room for one byte past MAX, to tell "exactly MAX" from "more". */
	size_t limit = max + 1, n = 0;
	size_t cap = limit < 4096 ? limit : 4096;
	unsigned char *buf = malloc(cap + 1);

	if (buf == NULL) {
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			unsigned char *nb;

			if (cap >= limit) {
				OPENSSL_clear_free(buf, n);
				errno = EFBIG;
				return -1;
			}
			cap = cap * 2 > limit ? limit : cap * 2;
			nb = OPENSSL_clear_realloc(buf, n + 1, cap + 1);
			if (nb == NULL) {
				OPENSSL_clear_free(buf, n);
				return -1;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			OPENSSL_clear_free(buf, n);
			return -1;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	if (n > max) {
		OPENSSL_clear_free(buf, n);
		errno = EFBIG;
		return -1;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

const char *
mtls__file_kind(mode_t mode)
{
	if (S_ISDIR(mode)) {
		return "a directory";
	}
	if (S_ISFIFO(mode)) {
		return "a named pipe";
	}
	if (S_ISSOCK(mode)) {
		return "a socket";
	}
	if (S_ISCHR(mode) || S_ISBLK(mode)) {
		return "a device";
	}
	return "a special file";
}

int
mtls_file_read(const char *path, size_t max, unsigned char **data, size_t *len,
    struct mtls_err *err)
{
	int fd;
	struct stat st;

	*data = NULL;
	*len = 0;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		/* O_NONBLOCK: opening a FIFO must not wait for a writer;
		 * anything but a regular file is refused below. */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0) {
			return mtls_err_sys(err, MTLS_E_IO, "cannot open %s", path);
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return mtls_err_set(err, MTLS_E_IO,
			    "%s is %s, not a regular file", path,
			    mtls__file_kind(st.st_mode));
		}
	}
	if (read_fd_all(fd, max, data, len) != 0) {
		if (errno == EFBIG) {
			mtls_err_set(err, MTLS_E_FORMAT,
			    "%s is larger than %zu bytes; is it the right file?",
			    path, max);
		} else {
			mtls_err_sys(err, MTLS_E_IO, "cannot read %s", path);
		}
		if (fd != STDIN_FILENO) {
			close(fd);
		}
		return -1;
	}
	if (fd != STDIN_FILENO) {
		close(fd);
	}
	return 0;
}

void
mtls_file_free(unsigned char *data, size_t len)
{
	if (data != NULL) {
		OPENSSL_clear_free(data, len + 1);
	}
}

/* A staged file is a temporary file beside its destination. (O_TMPFILE
 * plus linkat through /proc was measured slower on ext4.) */
struct staged {
	char *path;
	char *tmp;
	int fd;
};

struct mtls_fileset {
	int force;
	int synced; /* staged files durable already (mtls__fileset_sync) */
	struct staged *files;
	size_t n, cap;
};

static mtls__stage_hook *stage_hook;
static void *stage_hook_arg;

void
mtls__fileset_set_hook(mtls__stage_hook *fn, void *arg)
{
	stage_hook = fn;
	stage_hook_arg = arg;
}

const char *
mtls__fileset_dest(const struct mtls_fileset *fs, size_t i)
{
	return i < fs->n ? fs->files[i].path : NULL;
}

const char *
mtls__fileset_tmp(const struct mtls_fileset *fs, size_t i)
{
	return i < fs->n ? fs->files[i].tmp : NULL;
}

int
mtls__fileset_force(const struct mtls_fileset *fs)
{
	return fs->force;
}

struct mtls_fileset *
mtls_fileset_new(int force, struct mtls_err *err)
{
	struct mtls_fileset *fs = calloc(1, sizeof(*fs));

	if (fs == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	fs->force = force;
	return fs;
}

size_t
mtls_fileset_count(const struct mtls_fileset *fs)
{
	return fs->n;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0) {
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
fileset_grow(struct mtls_fileset *fs)
{
	struct staged *nf;
	size_t ncap = fs->cap ? fs->cap * 2 : 8;

	if (fs->n < fs->cap) {
		return 0;
	}
	nf = realloc(fs->files, ncap * sizeof(*nf));
	if (nf == NULL) {
		return -1;
	}
	fs->files = nf;
	fs->cap = ncap;
	return 0;
}

static int
open_named(struct staged *s, struct mtls_err *err)
{
	size_t tlen = strlen(s->path) + 16;

	s->tmp = malloc(tlen);
	if (s->tmp == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* Beside the destination so rename(2) stays on one filesystem. */
	snprintf(s->tmp, tlen, "%s.tmp-XXXXXX", s->path);
	s->fd = mkostemp(s->tmp, O_CLOEXEC);
	if (s->fd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot create a file beside %s",
		    s->path);
		free(s->tmp);
		s->tmp = NULL;
		return -1;
	}
	return 0;
}

static void
staged_discard(struct staged *s)
{
	if (s->fd >= 0) {
		close(s->fd);
	}
	if (s->tmp != NULL) {
		unlink(s->tmp);
		free(s->tmp);
	}
	free(s->path);
}

int
mtls_fileset_add(struct mtls_fileset *fs, const char *path, const void *data,
    size_t len, mode_t mode, struct mtls_err *err)
{
	struct staged s = {NULL, NULL, -1};

	if (!fs->force && access(path, F_OK) == 0) {
		return mtls_err_set(err, MTLS_E_EXISTS,
		    "%s already exists; use --force to replace it", path);
	}
	if (fileset_grow(fs) != 0 || (s.path = strdup(path)) == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* Whoever holds a lock over this write learns where a temporary
	 * file is about to appear, so a crash's leftovers can be swept. */
	if (stage_hook != NULL && stage_hook(path, stage_hook_arg, err) != 0) {
		free(s.path);
		return -1;
	}
	/* mkostemp creates the file 0600, so a key is never readable by
	 * others, even for a moment; fchmod then sets the final mode. */
	if (open_named(&s, err) != 0) {
		free(s.path);
		return -1;
	}
	if (fchmod(s.fd, mode) != 0 || write_all(s.fd, data, len) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot write %s", path);
		staged_discard(&s);
		return -1;
	}
	/* Closed now so thousands stay within the fd limit; commit reopens
	 * what it must sync. */
	if (close(s.fd) != 0) {
		s.fd = -1;
		mtls_err_sys(err, MTLS_E_IO, "cannot write %s", path);
		staged_discard(&s);
		return -1;
	}
	s.fd = -1;
	fs->files[fs->n++] = s;
	return 0;
}

static int
sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (copy == NULL) {
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0) {
		return -1;
	}
	if (fsync(fd) != 0 && errno != EINVAL) {
		rc = -1;
	}
	close(fd);
	return rc;
}

static int
sync_staged(const struct staged *s, int whole_fs)
{
	int fd = s->fd, rc;

	if (fd < 0) {
		fd = open(s->tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			return -1;
		}
	}
	rc = whole_fs ? syncfs(fd) : fsync(fd);
	if (fd != s->fd) {
		close(fd);
	}
	return rc;
}

/* Few files: fsync each. Many (batch issuance): one syncfs(2) flushes them
 * all at the cost of one, which is what makes thousands per second
 * possible with full durability. */
static int
fileset_sync(struct mtls_fileset *fs, struct mtls_err *err)
{
	size_t i;

	if (fs->n > 8) {
		/* One syncfs per file system the set touches. */
		dev_t seen[8];
		size_t nseen = 0, j;
		struct stat st;

		for (i = 0; i < fs->n; i++) {
			if (stat(fs->files[i].tmp, &st) != 0) {
				return mtls_err_sys(err, MTLS_E_IO, "cannot sync %s",
				    fs->files[i].path);
			}
			for (j = 0; j < nseen && seen[j] != st.st_dev; j++) {
			}
			if (j < nseen) {
				continue;
			}
			if (nseen < MTLS_ARRAY_LEN(seen)) {
				seen[nseen++] = st.st_dev;
			}
			if (sync_staged(&fs->files[i], 1) != 0) {
				return mtls_err_sys(err, MTLS_E_IO, "cannot sync %s",
				    fs->files[i].path);
			}
		}
		return 0;
	}
	for (i = 0; i < fs->n; i++) {
		if (sync_staged(&fs->files[i], 0) != 0) {
			return mtls_err_sys(err, MTLS_E_IO, "cannot sync %s",
			    fs->files[i].path);
		}
	}
	return 0;
}

static int
place_failed(const char *path, struct mtls_err *err)
{
	if (errno == EEXIST) {
		return mtls_err_set(err, MTLS_E_EXISTS,
		    "%s already exists; use --force to replace it", path);
	}
	return mtls_err_sys(err, MTLS_E_IO, "cannot create %s", path);
}

static int
place(struct mtls_fileset *fs, struct staged *s, struct mtls_err *err)
{
	if (fs->force) {
		if (rename(s->tmp, s->path) != 0) {
			return mtls_err_sys(err, MTLS_E_IO, "cannot replace %s",
			    s->path);
		}
	} else if (renameat2(AT_FDCWD, s->tmp, AT_FDCWD, s->path,
		       RENAME_NOREPLACE) != 0) {
		/* Never replaces: closes the race with another writer
		 * creating the same file meanwhile. link(2) where the
		 * filesystem lacks RENAME_NOREPLACE. */
		if (errno != EINVAL && errno != ENOSYS) {
			return place_failed(s->path, err);
		}
		if (link(s->tmp, s->path) != 0) {
			return place_failed(s->path, err);
		}
		unlink(s->tmp);
	}
	free(s->tmp);
	s->tmp = NULL;
	return 0;
}

/* A later file could not be placed: without force, the first I files
 * were created by this set (RENAME_NOREPLACE), so removing them restores
 * the state before the commit. With force, replaced files stay replaced. */
static void
unplace(struct mtls_fileset *fs, size_t i)
{
	if (fs->force) {
		return;
	}
	while (i-- > 0) {
		unlink(fs->files[i].path);
	}
}

static int
same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t la = sa ? (size_t)(sa - a) : 0, lb = sb ? (size_t)(sb - b) : 0;

	return la == lb && strncmp(a, b, la) == 0;
}

/* Syncs each distinct directory once (outputs usually share one). */
static int
sync_dirs(struct mtls_fileset *fs, struct mtls_err *err)
{
	size_t i;
	const char *last = NULL;

	for (i = 0; i < fs->n; i++) {
		const char *p = fs->files[i].path;

		if (last != NULL && same_dir(last, p)) {
			continue;
		}
		if (sync_dir_of(p) != 0) {
			return mtls_err_sys(err, MTLS_E_IO,
			    "cannot sync the directory of %s", p);
		}
		last = p;
	}
	return 0;
}

int
mtls__fileset_sync(struct mtls_fileset *fs, struct mtls_err *err)
{
	/* The temporary names too: a journal that names them must find
	 * them after a power loss. */
	if (fileset_sync(fs, err) != 0 || sync_dirs(fs, err) != 0) {
		return -1;
	}
	fs->synced = 1;
	return 0;
}

int
mtls_fileset_commit(struct mtls_fileset *fs, struct mtls_err *err)
{
	size_t i;

	if (!fs->synced && fileset_sync(fs, err) != 0) {
		return -1;
	}
	for (i = 0; i < fs->n; i++) {
		if (place(fs, &fs->files[i], err) != 0) {
			unplace(fs, i);
			return -1;
		}
	}
	return sync_dirs(fs, err);
}

void
mtls_fileset_free(struct mtls_fileset *fs)
{
	size_t i;

	if (fs == NULL) {
		return;
	}
	for (i = 0; i < fs->n; i++) {
		staged_discard(&fs->files[i]);
	}
	free(fs->files);
	free(fs);
}

int
mtls_file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, int force, struct mtls_err *err)
{
	struct mtls_fileset *fs = mtls_fileset_new(force, err);
	int rc = -1;

	if (fs == NULL) {
		return -1;
	}
	if (mtls_fileset_add(fs, path, data, len, mode, err) == 0 &&
	    mtls_fileset_commit(fs, err) == 0) {
		rc = 0;
	}
	mtls_fileset_free(fs);
	return rc;
}

int
mtls_mkdir_p(const char *path, mode_t mode, struct mtls_err *err)
{
	char buf[4096];
	size_t i, len = strlen(path);
	struct stat st;

	if (len == 0 || len >= sizeof(buf)) {
		return mtls_err_set(err, MTLS_E_USAGE, "bad directory name '%s'",
		    path);
	}
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0') {
			continue;
		}
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST) {
			return mtls_err_sys(err, MTLS_E_IO,
			    "cannot create directory %s", buf);
		}
		if (i < len) {
			buf[i] = '/';
		}
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		return mtls_err_set(err, MTLS_E_IO, "%s is not a directory",
		    path);
	}
	return 0;
}
