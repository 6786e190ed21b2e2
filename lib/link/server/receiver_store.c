/* see link/server/content_store_int.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "mtls/file.h"
#include "link/server/content_store_int.h"
#include "base/internal.h"

#define SPOOL_PREFIX MTLS__CONTENT_RESERVED "-spool-"
#define TMP_PREFIX MTLS__CONTENT_RESERVED "-tmp-"
/* Deeper than any path the receiver accepts can reach. */
#define SWEEP_DEPTH (MTLS__CONTENT_PATH_MAX / 2)

struct mtls__content_store {
	int rootfd;
	char *content; /* the content root, for messages */
	char *root;
	sqlite3 *db;
	sqlite3_stmt *sel, *ins, *psel, *pins, *pdel;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS items ("
    " principal TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL,"
    " PRIMARY KEY (principal, id));"
    /* An item on its way: recorded (durably) before its change is made,
     * moved to items once the change is durable. A row left here by a
     * crash is resolved by looking at the file (see resolve()). */
    "CREATE TABLE IF NOT EXISTS placing ("
    " principal TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " PRIMARY KEY (principal, id));";

static int
db_fail(struct mtls__content_store *s, const char *what, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_IO, "receiver database %s/%s: %s: %s",
	    s->root, MTLS__CONTENT_DB, what,
	    s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
}

void
mtls__content_store_close(struct mtls__content_store *s)
{
	if (s == NULL) {
		return;
	}
	sqlite3_finalize(s->sel);
	sqlite3_finalize(s->ins);
	sqlite3_finalize(s->psel);
	sqlite3_finalize(s->pins);
	sqlite3_finalize(s->pdel);
	sqlite3_close(s->db);
	if (s->rootfd >= 0) {
		close(s->rootfd);
	}
	free(s->root);
	free(s->content);
	free(s);
}

/* 1 when NAME is PREFIX-PID-N of a receiver that is gone: its process no
 * longer exists, or its number is ours (a restarted container reuses its
 * number; our own stores are all opened before the first body). */
static int
stale(const char *name, const char *prefix)
{
	const size_t n = strlen(prefix);
	long pid;
	char *end;

	if (strncmp(name, prefix, n) != 0) {
		return 0;
	}
	pid = strtol(name + n, &end, 10);
	if (end == name + n || *end != '-' || pid <= 0) {
		return 0;
	}
	return pid == (long)getpid() ||
	    (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

/* Removes the spools of receivers that were killed while a body arrived.
 * Only the root holds spools. */
static void
sweep_spools(int rootfd)
{
	int fd = dup(rootfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	const struct dirent *e;

	if (d == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	rewinddir(d); /* a dup shares the offset of earlier reads */
	while ((e = readdir(d)) != NULL) {
		if (stale(e->d_name, SPOOL_PREFIX)) {
			(void)unlinkat(rootfd, e->d_name, 0);
		}
	}
	closedir(d);
}

/* Removes the temporary files of killed receivers in DFD (which it
 * closes) and the directories below it, never following a link. */
static void
sweep_dir(int dfd, int depth, unsigned *removed)
{
	DIR *d = fdopendir(dfd);
	const struct dirent *e;
	struct stat st;
	int sub;

	if (d == NULL) {
		close(dfd);
		return;
	}
	rewinddir(d); /* the root's fd is a dup: its offset is shared */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (stale(e->d_name, TMP_PREFIX)) {
			if (unlinkat(dfd, e->d_name, 0) == 0) {
				(*removed)++;
			}
			continue;
		}
		if (depth >= SWEEP_DEPTH || (e->d_type != DT_DIR &&
		    (e->d_type != DT_UNKNOWN ||
			fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			!S_ISDIR(st.st_mode)))) {
			continue;
		}
		sub = openat(dfd, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			sweep_dir(sub, depth + 1, removed);
		}
	}
	closedir(d);
}

unsigned
mtls__content_store_sweep(struct mtls__content_store *s)
{
	unsigned removed = 0;
	int fd = dup(s->rootfd);

	if (fd >= 0) {
		sweep_dir(fd, 0, &removed);
	}
	return removed;
}

/* The in-flight set: small (one entry per request under way), so a
 * list under one mutex is enough. */
struct inflight {
	struct inflight *next;
	char key[];
};
static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static struct inflight *inflight_head;

int
mtls__content_inflight_claim(const char *key)
{
	struct inflight *e;
	size_t n = strlen(key) + 1;
	int rc = 1;

	pthread_mutex_lock(&inflight_mu);
	for (e = inflight_head; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			rc = 0;
			goto out;
		}
	}
	e = malloc(sizeof(*e) + n);
	if (e == NULL) {
		rc = -1;
		goto out;
	}
	memcpy(e->key, key, n);
	e->next = inflight_head;
	inflight_head = e;
out:
	pthread_mutex_unlock(&inflight_mu);
	return rc;
}

void
mtls__content_inflight_release(const char *key)
{
	struct inflight **pp, *e;

	pthread_mutex_lock(&inflight_mu);
	for (pp = &inflight_head; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			e = *pp;
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&inflight_mu);
}

static int resolve_all(struct mtls__content_store *s, struct mtls_err *err);

struct mtls__content_store *
mtls__content_store_open(const char *root, const char *state_dir, struct mtls_err *err)
{
	struct mtls__content_store *s = calloc(1, sizeof(*s));
	char dbpath[4096];

	if (s == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	s->rootfd = -1;
	if (mtls_mkdir_p(root, 0755, err) != 0) {
		goto fail;
	}
	s->root = mtls__strdup(state_dir != NULL ? state_dir : root);
	s->content = mtls__strdup(root);
	s->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot open root directory %s",
		    root);
		goto fail;
	}
	sweep_spools(s->rootfd);
	if (state_dir != NULL && mtls_mkdir_p(state_dir, 0700, err) != 0) {
		goto fail;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/%s", s->root, MTLS__CONTENT_DB);
	if (sqlite3_open_v2(dbpath, &s->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		    SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK) {
		db_fail(s, "open", err);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 10000);
	/* FULL: an acknowledged id survives power loss, so a sender that got
	 * its 200 never has to (and never will) send the item again. */
	if (sqlite3_exec(s->db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL,
		NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, "set up", err);
		goto fail;
	}
	if (sqlite3_prepare_v2(s->db,
		"SELECT action, path, sha256 FROM items WHERE principal = ?1 "
		"AND id = ?2", -1, &s->sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
		"INSERT OR IGNORE INTO items VALUES (?1, ?2, ?3, ?4, ?5, "
		"strftime('%s','now'))", -1, &s->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
		"SELECT action, path, sha256 FROM placing WHERE principal = ?1 "
		"AND id = ?2", -1, &s->psel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
		"INSERT OR REPLACE INTO placing VALUES (?1, ?2, ?3, ?4, ?5)",
		-1, &s->pins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
		"DELETE FROM placing WHERE principal = ?1 AND id = ?2", -1,
		&s->pdel, NULL) != SQLITE_OK) {
		db_fail(s, "prepare", err);
		goto fail;
	}
	if (resolve_all(s, err) != 0) {
		goto fail;
	}
	return s;
fail:
	mtls__content_store_close(s);
	return NULL;
}

int
mtls__content_store_id_ok(const char *id)
{
	size_t n = 0;

	for (; id[n] != '\0'; n++) {
		if (id[n] <= 0x20 || id[n] >= 0x7f || n >= MTLS__CONTENT_ID_MAX) {
			return 0;
		}
	}
	return n > 0;
}

/*
 * Walks the directories of PATH from the root with O_NOFOLLOW, creating
 * them when CREATE. On success *DIRFD is the parent directory of the leaf
 * and *LEAF points into BUF. Returns 0, 1 when a directory is missing
 * (and not CREATE), or -1.
 */
static int
walk(struct mtls__content_store *s, const char *path, int create, char *buf,
    size_t buflen, int *dirfd, const char **leaf, struct mtls_err *err)
{
	char *comp, *slash;
	int cur, next;
	struct stat st;

	snprintf(buf, buflen, "%s", path + 1);
	cur = dup(s->rootfd);
	if (cur < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "dup");
	}
	comp = buf;
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		next = openat(cur, comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
				mtls_err_sys(err, MTLS_E_IO,
				    "cannot create directory for %s", path);
				close(cur);
				return -1;
			}
			next = openat(cur, comp,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			if (e == ENOENT || (e == ENAMETOOLONG && !create)) {
				close(cur); /* absent: that name cannot exist */
				return 1;
			}
			if (e == ELOOP ||
			    (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISLNK(st.st_mode))) {
				mtls_err_set(err, MTLS_E_POLICY,
				    "path %s: '%s' is a symbolic link; the "
				    "receiver never follows links", path, comp);
			} else if (e == ENAMETOOLONG) {
				mtls_err_set(err, MTLS_E_POLICY,
				    "path %s: a name is too long", path);
			} else if (e == ENOTDIR) {
				mtls_err_set(err, MTLS_E_EXISTS,
				    "path %s: '%s' is a file, not a directory",
				    path, comp);
			} else {
				errno = e;
				mtls_err_sys(err, MTLS_E_IO, "cannot open %s/%s",
				    s->root, comp);
			}
			close(cur);
			return -1;
		}
		close(cur);
		cur = next;
		comp = slash + 1;
	}
	*dirfd = cur;
	*leaf = comp;
	return 0;
}

struct mtls__content_spool {
	struct mtls__content_store *s;
	int fd;
	int placed;
	uint64_t size;
	EVP_MD_CTX *md;
	char sha[65]; /* "" until the digest is final */
	char name[64];
};

void
mtls__content_spool_free(struct mtls__content_spool *sp)
{
	if (sp == NULL) {
		return;
	}
	if (sp->fd >= 0) {
		close(sp->fd);
	}
	if (!sp->placed && sp->name[0] != '\0') {
		(void)unlinkat(sp->s->rootfd, sp->name, 0);
	}
	EVP_MD_CTX_free(sp->md);
	free(sp);
}

struct mtls__content_spool *
mtls__content_spool_new(struct mtls__content_store *s, struct mtls_err *err)
{
	static atomic_uint counter;
	struct mtls__content_spool *sp = calloc(1, sizeof(*sp));
	int tries;

	if (sp == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	sp->s = s;
	sp->fd = -1;
	sp->md = EVP_MD_CTX_new();
	if (sp->md == NULL ||
	    EVP_DigestInit_ex(sp->md, EVP_sha256(), NULL) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "sha256");
		goto fail;
	}
	for (tries = 0; sp->fd < 0 && tries < 100; tries++) {
		snprintf(sp->name, sizeof(sp->name), "%s%ld-%u", SPOOL_PREFIX,
		    (long)getpid(), atomic_fetch_add(&counter, 1));
		sp->fd = openat(s->rootfd, sp->name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (sp->fd < 0 && errno != EEXIST) {
			break;
		}
	}
	if (sp->fd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot create a file in %s for "
		    "the request body", s->content);
		goto fail;
	}
	return sp;
fail:
	sp->name[0] = '\0';
	mtls__content_spool_free(sp);
	return NULL;
}

int
mtls__content_spool_write(struct mtls__content_spool *sp, const void *buf,
    size_t len, struct mtls_err *err)
{
	size_t off;
	ssize_t w;

	if (EVP_DigestUpdate(sp->md, buf, len) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "sha256");
	}
	for (off = 0; off < len; off += (size_t)w) {
		w = write(sp->fd, (const char *)buf + off, len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0) {
			return mtls_err_sys(err, MTLS_E_IO, "cannot write the "
			    "request body to %s/%s", sp->s->content, sp->name);
		}
	}
	sp->size += len;
	return 0;
}

uint64_t
mtls__content_spool_size(const struct mtls__content_spool *sp)
{
	return sp->size;
}

/* The body's SHA-256 in hex, final once asked for. */
static int
spool_digest(struct mtls__content_spool *sp)
{
	unsigned char md[32];
	unsigned int n = 0, i;

	if (sp->sha[0] != '\0') {
		return 0;
	}
	if (EVP_DigestFinal_ex(sp->md, md, &n) != 1 || n != 32) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(sp->sha + 2 * i, 3, "%02x", md[i]);
	}
	return 0;
}

/* The spool is in the root and the destination's directory on another
 * file system (a mount inside the root): copy into a temporary file
 * beside the destination, then rename that. */
static int
copy_beside(struct mtls__content_spool *sp, int dfd, const char *leaf,
    const char *path, struct mtls_err *err)
{
	static atomic_uint counter;
	char tmp[64], buf[65536];
	int fd = -1, rc = -1, tries;
	off_t off = 0;
	ssize_t r;

	for (tries = 0; fd < 0 && tries < 100; tries++) {
		snprintf(tmp, sizeof(tmp), "%s-tmp-%ld-%u", MTLS__CONTENT_RESERVED,
		    (long)getpid(), atomic_fetch_add(&counter, 1));
		fd = openat(dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot create a temporary "
		    "file for %s", path);
	}
	while ((r = pread(sp->fd, buf, sizeof(buf), off)) > 0) {
		if (write(fd, buf, (size_t)r) != r) {
			r = -1;
			break;
		}
		off += r;
	}
	if (r < 0 || fsync(fd) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot write %s", path);
	} else if (renameat(dfd, tmp, dfd, leaf) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot move %s into place", path);
	} else {
		rc = 0;
	}
	close(fd);
	if (rc != 0) {
		unlinkat(dfd, tmp, 0);
	}
	return rc;
}

static int
activate(struct mtls__content_store *s, const char *path,
    struct mtls__content_spool *sp, struct mtls_err *err)
{
	char buf[MTLS__CONTENT_PATH_MAX + 1];
	const char *leaf = NULL;
	int dfd = -1, rc = -1;

	if (walk(s, path, 1, buf, sizeof(buf), &dfd, &leaf, err) != 0) {
		return -1;
	}
	if (fsync(sp->fd) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot write %s", path);
		goto out;
	}
	/* rename(2) replaces a symbolic link itself; it never follows it.
	 * The spool's name may survive a crash beside the new one (the
	 * root's directory is not synced): the next start sweeps it. */
	if (renameat(s->rootfd, sp->name, dfd, leaf) != 0) {
		if (errno == EXDEV) {
			if (copy_beside(sp, dfd, leaf, path, err) != 0) {
				goto out;
			}
		} else if (errno == ENAMETOOLONG) {
			mtls_err_set(err, MTLS_E_POLICY,
			    "path %s: the file name is too long", path);
			goto out;
		} else if (errno == EISDIR || errno == ENOTEMPTY ||
		    errno == EEXIST) {
			mtls_err_set(err, MTLS_E_EXISTS,
			    "path %s is a directory; cannot replace it with a "
			    "file", path);
			goto out;
		} else {
			mtls_err_sys(err, MTLS_E_IO, "cannot move %s into place",
			    path);
			goto out;
		}
	} else {
		sp->placed = 1;
	}
	if (fsync(dfd) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot sync the directory of %s",
		    path);
		goto out;
	}
	rc = 0;
out:
	close(dfd);
	return rc;
}

/* Returns 0 (removed), 1 (was absent) or -1. */
static int
deactivate(struct mtls__content_store *s, const char *path, struct mtls_err *err)
{
	char buf[MTLS__CONTENT_PATH_MAX + 1];
	const char *leaf = NULL;
	int dfd = -1, rc;

	rc = walk(s, path, 0, buf, sizeof(buf), &dfd, &leaf, err);
	if (rc != 0) {
		return rc;
	}
	if (unlinkat(dfd, leaf, 0) != 0) {
		if (errno == ENOENT || errno == ENAMETOOLONG) {
			rc = 1; /* a name that long cannot exist */
		} else if (errno == EISDIR) {
			rc = mtls_err_set(err, MTLS_E_EXISTS,
			    "path %s is a directory; Deactivate removes files "
			    "only", path);
		} else {
			rc = mtls_err_sys(err, MTLS_E_IO, "cannot remove %s",
			    path);
		}
	} else if (fsync(dfd) != 0) {
		rc = mtls_err_sys(err, MTLS_E_IO,
		    "cannot sync the directory of %s", path);
	}
	close(dfd);
	return rc;
}

/* 1: applied before with the same action/path/digest; 0: unknown id. */
static int
lookup(struct mtls__content_store *s, const char *principal, const char *id,
    const char *action, const char *path, const char *sha,
    struct mtls_err *err)
{
	int rc;

	sqlite3_reset(s->sel);
	sqlite3_bind_text(s->sel, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->sel, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->sel);
	if (rc == SQLITE_DONE) {
		return 0;
	}
	if (rc != SQLITE_ROW) {
		return db_fail(s, "look up item id", err);
	}
	if (strcmp((const char *)sqlite3_column_text(s->sel, 0), action) != 0 ||
	    strcmp((const char *)sqlite3_column_text(s->sel, 1), path) != 0 ||
	    strcmp((const char *)sqlite3_column_text(s->sel, 2), sha) != 0) {
		mtls_err_set(err, MTLS_E_EXISTS,
		    "item id '%s' was already used for %s of %s with other "
		    "content; use a new id per item", id,
		    (const char *)sqlite3_column_text(s->sel, 0),
		    (const char *)sqlite3_column_text(s->sel, 1));
		sqlite3_reset(s->sel);
		return -1;
	}
	sqlite3_reset(s->sel);
	return 1;
}

static int
record(struct mtls__content_store *s, const char *principal, const char *id,
    const char *action, const char *path, const char *sha,
    struct mtls_err *err)
{
	int rc;

	sqlite3_reset(s->ins);
	sqlite3_bind_text(s->ins, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 4, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins, 5, sha, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->ins);
	sqlite3_reset(s->ins);
	return rc == SQLITE_DONE ? 0 : db_fail(s, "record item id", err);
}

/* Runs the statement ST on (PRINCIPAL, ID): DONE expected. */
static int
step_item(struct mtls__content_store *s, sqlite3_stmt *st,
    const char *principal, const char *id, const char *what,
    struct mtls_err *err)
{
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, what, err);
}

/* Before the change: the item is recorded as on its way, durably
 * (synchronous=FULL), so a crash before commit_item() is detectable. */
static int
begin_item(struct mtls__content_store *s, const char *principal,
    const char *id, const char *action, const char *path, const char *sha,
    struct mtls_err *err)
{
	int rc;

	sqlite3_reset(s->pins);
	sqlite3_bind_text(s->pins, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->pins, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->pins, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->pins, 4, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->pins, 5, sha, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->pins);
	sqlite3_reset(s->pins);
	return rc == SQLITE_DONE ? 0 : db_fail(s, "record item id", err);
}

/* After the change is durable: the item is applied (one transaction). */
static int
commit_item(struct mtls__content_store *s, const char *principal,
    const char *id, const char *action, const char *path, const char *sha,
    struct mtls_err *err)
{
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		return db_fail(s, "record item id", err);
	}
	if (record(s, principal, id, action, path, sha, err) != 0 ||
	    step_item(s, s->pdel, principal, id, "record item id", err) != 0) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, "record item id", err);
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* SHA-256 in hex of the regular file FD into HEX. */
static int
file_digest(int fd, char hex[65])
{
	unsigned char md[32], buf[65536];
	unsigned int n = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t r;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0 || EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * Was the change of an item left "placing" made? Activate: PATH is a
 * regular file with the item's SHA-256 (its rename happened). Deactivate:
 * PATH is absent. 1 yes, 0 no (anything else in the way counts as not
 * made: applying the item again says what is wrong), -1 when the file
 * cannot be read.
 */
static int
change_made(struct mtls__content_store *s, const char *action,
    const char *path, const char *sha, struct mtls_err *err)
{
	char buf[MTLS__CONTENT_PATH_MAX + 1], hex[65];
	const char *leaf = NULL;
	const int deact = strcmp(action, "Deactivate") == 0;
	struct mtls_err ignored = {MTLS_OK, ""};
	struct stat st;
	int dfd = -1, fd, rc;

	rc = walk(s, path, 0, buf, sizeof(buf), &dfd, &leaf, &ignored);
	if (rc != 0) {
		return rc == 1 && deact; /* 1: a directory is missing */
	}
	fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0) {
		return errno == ENOENT && deact;
	}
	if (deact || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	rc = file_digest(fd, hex);
	close(fd);
	if (rc != 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot read %s%s",
		    s->content, path);
	}
	return strcmp(hex, sha) == 0;
}

/* Resolves the "placing" row of (PRINCIPAL, ID), if any: applied when its
 * change was made (a crash came between the change and its record), else
 * forgotten (the change never happened; the item is new again).
 * 0 or -1. */
static int
resolve(struct mtls__content_store *s, const char *principal, const char *id,
    struct mtls_err *err)
{
	char *action = NULL, *path = NULL, *sha = NULL;
	int rc;

	sqlite3_reset(s->psel);
	sqlite3_bind_text(s->psel, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->psel, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->psel);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s->psel);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s->psel);
		return db_fail(s, "look up item id", err);
	}
	action = mtls__strdup((const char *)sqlite3_column_text(s->psel, 0));
	path = mtls__strdup((const char *)sqlite3_column_text(s->psel, 1));
	sha = mtls__strdup((const char *)sqlite3_column_text(s->psel, 2));
	sqlite3_reset(s->psel);
	if (action == NULL || path == NULL || sha == NULL) {
		rc = mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = change_made(s, action, path, sha, err);
	if (rc == 1) {
		rc = commit_item(s, principal, id, action, path, sha, err);
	} else if (rc == 0) {
		rc = step_item(s, s->pdel, principal, id, "forget item id",
		    err);
	}
out:
	free(action);
	free(path);
	free(sha);
	return rc;
}

/* At start: resolves every row a killed receiver left "placing". */
static int
resolve_all(struct mtls__content_store *s, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	char *principal = NULL, *id = NULL;
	int rc = 0, step;

	/* One row at a time: resolving deletes it from the table read. */
	while (rc == 0) {
		if (sqlite3_prepare_v2(s->db, "SELECT principal, id FROM "
			"placing LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
			return db_fail(s, "resolve items", err);
		}
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			principal = mtls__strdup(
			    (const char *)sqlite3_column_text(st, 0));
			id = mtls__strdup((const char *)sqlite3_column_text(st, 1));
		}
		sqlite3_finalize(st);
		if (step == SQLITE_DONE) {
			break;
		}
		if (step != SQLITE_ROW) {
			return db_fail(s, "resolve items", err);
		}
		rc = principal != NULL && id != NULL
		    ? resolve(s, principal, id, err)
		    : mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		free(principal);
		free(id);
		principal = id = NULL;
	}
	return rc;
}

static int
apply_claimed(struct mtls__content_store *s,
    enum mtls_action action, const char *path,
    struct mtls__content_spool *sp, const char *id, const char *principal,
    enum mtls__content_outcome *outcome, struct mtls_err *err)
{
	const char *aname = mtls_action_name(action);
	const char *sha = "-";
	int rc;

	if (action != MTLS_ACTION_ACTIVATE && action != MTLS_ACTION_DEACTIVATE) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "store: only Activate and Deactivate change content");
	}
	if (action == MTLS_ACTION_ACTIVATE) {
		if (sp == NULL || spool_digest(sp) != 0) {
			return mtls_err_ssl(err, MTLS_E_INTERNAL, "sha256");
		}
		sha = sp->sha;
	}
	if (principal == NULL) {
		principal = "";
	}
	if (id != NULL) {
		/* An earlier attempt interrupted between its change and its
		 * record counts as applied when its change was made. */
		if (resolve(s, principal, id, err) != 0) {
			return -1;
		}
		rc = lookup(s, principal, id, aname, path, sha, err);
		if (rc != 0) {
			if (rc == 1) {
				*outcome = MTLS__CONTENT_REPLAYED;
				return 0;
			}
			return -1;
		}
		if (begin_item(s, principal, id, aname, path, sha, err) != 0) {
			return -1;
		}
	}
	if (action == MTLS_ACTION_ACTIVATE) {
		rc = activate(s, path, sp, err);
	} else {
		rc = deactivate(s, path, err);
	}
	if (rc < 0) {
		return -1; /* the row stays "placing": the retry resolves it */
	}
	*outcome = rc == 1 ? MTLS__CONTENT_ABSENT : MTLS__CONTENT_APPLIED;
	/* Applied only now that the change is durable (see the header). */
	if (id != NULL &&
	    commit_item(s, principal, id, aname, path, sha, err) != 0) {
		return -1;
	}
	return 0;
}

void
mtls__content_store_inflight_key(const struct mtls__content_store *s,
    const char *principal, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "S%s%c%s%c%s", s->root, 1, principal, 1, id);
}

int
mtls__content_store_apply_spool(struct mtls__content_store *s,
    enum mtls_action action, const char *path,
    struct mtls__content_spool *sp, const char *id, const char *principal,
    enum mtls__content_outcome *outcome, struct mtls_err *err)
{
	char key[MTLS__CONTENT_INFLIGHT_KEY];
	int rc;

	if (id == NULL) {
		return apply_claimed(s, action, path, sp, id, principal,
		    outcome, err);
	}
	/* While a live request places this item, its "placing" row is not a
	 * crash's leftover: neither resolve it nor apply the item again. */
	mtls__content_store_inflight_key(s, principal != NULL ? principal : "", id, key, sizeof(key));
	rc = mtls__content_inflight_claim(key);
	if (rc != 1) {
		return rc < 0 ? mtls_err_set(err, MTLS_E_INTERNAL,
				    "out of memory")
			      : mtls_err_set(err, MTLS_E_BUSY,
				    "item %s is being placed by another "
				    "request right now; retry later", id);
	}
	rc = apply_claimed(s, action, path, sp, id, principal, outcome, err);
	mtls__content_inflight_release(key);
	return rc;
}

int
mtls__content_store_apply(struct mtls__content_store *s, enum mtls_action action,
    const char *path, const struct iovec *iov, int iovcnt, const char *id,
    const char *principal, enum mtls__content_outcome *outcome,
    struct mtls_err *err)
{
	struct mtls__content_spool *sp = NULL;
	int i, rc = -1;

	if (action == MTLS_ACTION_ACTIVATE) {
		sp = mtls__content_spool_new(s, err);
		if (sp == NULL) {
			return -1;
		}
		for (i = 0; i < iovcnt; i++) {
			if (mtls__content_spool_write(sp, iov[i].iov_base,
				iov[i].iov_len, err) != 0) {
				goto out;
			}
		}
	}
	rc = mtls__content_store_apply_spool(s, action, path, sp, id,
	    principal, outcome, err);
out:
	mtls__content_spool_free(sp);
	return rc;
}
