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
#include "link/server/content_store_priv.h"
#include "base/internal.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS items ("
    " principal TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL,"
    " PRIMARY KEY (principal, id));"
    /* An item on its way: recorded (durably) before its change is made,
     * moved to items once the change is durable. A row left here by a
     * crash is resolved by looking at the file (see mtls__content_resolve()). */
    "CREATE TABLE IF NOT EXISTS placing ("
    " principal TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " PRIMARY KEY (principal, id));";

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
	mtls__content_sweep_spools(s->rootfd);
	if (state_dir != NULL && mtls_mkdir_p(state_dir, 0700, err) != 0) {
		goto fail;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/%s", s->root, MTLS__CONTENT_DB);
	if (sqlite3_open_v2(dbpath, &s->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		    SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK) {
		mtls__content_db_fail(s, "open", err);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 10000);
	/* FULL: an acknowledged id survives power loss, so a sender that got
	 * its 200 never has to (and never will) send the item again. */
	if (sqlite3_exec(s->db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL,
		NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		mtls__content_db_fail(s, "set up", err);
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
		mtls__content_db_fail(s, "prepare", err);
		goto fail;
	}
	if (mtls__content_resolve_all(s, err) != 0) {
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

	if (mtls__content_walk(s, path, 1, buf, sizeof(buf), &dfd, &leaf, err) != 0) {
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

	rc = mtls__content_walk(s, path, 0, buf, sizeof(buf), &dfd, &leaf, err);
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
		if (mtls__content_resolve(s, principal, id, err) != 0) {
			return -1;
		}
		rc = mtls__content_lookup(s, principal, id, aname, path, sha, err);
		if (rc != 0) {
			if (rc == 1) {
				*outcome = MTLS__CONTENT_REPLAYED;
				return 0;
			}
			return -1;
		}
		if (mtls__content_begin_item(s, principal, id, aname, path, sha, err) != 0) {
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
	    mtls__content_commit_item(s, principal, id, aname, path, sha, err) != 0) {
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
