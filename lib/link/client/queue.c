/* see mtls/replicate.h: the durable delivery queue (SQLite, WAL) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "mtls/file.h"
#include "link/path_int.h"
#include "mtls/replicate.h"
#include "base/clock.h"
#include "base/internal.h"

#define COPY_CHUNK (256 * 1024)

#include "link/client/queue_int.h"

/* Items of one target are kept in seq order; state 0 pending, 1
 * delivered, 2 failed. Content rows are shared by the items of one
 * enqueue (fan-out) and dropped with the last of them. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS contents("
    " cid INTEGER PRIMARY KEY, size INTEGER NOT NULL, data BLOB, blob TEXT);"
    "CREATE TABLE IF NOT EXISTS items("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " target TEXT NOT NULL, action INTEGER NOT NULL, path TEXT NOT NULL,"
    " cid INTEGER, state INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, created INTEGER NOT NULL, done_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS items_by_target ON items(target, state, seq);"
    "CREATE INDEX IF NOT EXISTS items_by_cid ON items(cid);"
    "CREATE TABLE IF NOT EXISTS targets("
    " target TEXT PRIMARY KEY, last_error TEXT, last_error_at INTEGER);";

/* SQLite's "database or disk is full" and "disk I/O error" hide ENOSPC:
 * name it, and what to free. */
static int
queue_full(struct mtls_queue *q)
{
	int code = sqlite3_extended_errcode(q->db) & 0xff;
	int sys = sqlite3_system_errno(q->db);

	return code == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT;
}

static int
queue_full_err(struct mtls_queue *q, const char *what, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_IO, "queue %s/queue.db: %s: no space "
	    "left on device (the file system of %s is full: free space on it, "
	    "see df; what is queued is kept, and 'mtls push --state %s' "
	    "delivers it and gives its space back)", q->state, what, q->state,
	    q->state);
}

int
mtls__queue_db_fail(struct mtls_queue *q, const char *what, struct mtls_err *err)
{
	if (queue_full(q)) {
		return queue_full_err(q, what, err);
	}
	return mtls_err_set(err, MTLS_E_IO, "queue %s/queue.db: %s: %s",
	    q->state, what, sqlite3_errmsg(q->db));
}

static int
db_exec(struct mtls_queue *q, const char *sql, struct mtls_err *err)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		return mtls__queue_db_fail(q, sql, err);
	}
	return 0;
}

int
mtls__queue_db_prepare(struct mtls_queue *q, const char *sql, sqlite3_stmt **st,
    struct mtls_err *err)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK) {
		return mtls__queue_db_fail(q, "preparing a query", err);
	}
	return 0;
}

/* Creates PATH 0600 when missing. An existing queue is never opened
 * here: closing a descriptor of a database would drop the POSIX locks
 * SQLite holds on it in this process. */
static int
queue_create_private(const char *path, struct mtls_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 && errno == EEXIST) {
		return 0;
	}
	if (fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot create the queue %s", path);
	}
	if (fchmod(fd, 0600) != 0) {
		close(fd);
		return mtls_err_sys(err, MTLS_E_IO, "cannot make %s private", path);
	}
	close(fd);
	return 0;
}

/* 1 when Q's database has no page yet (setting auto_vacuum on an
 * existing one writes, which a full disk refuses). */
static int
queue_is_new(struct mtls_queue *q)
{
	sqlite3_stmt *st = NULL;
	int n = 1;

	if (sqlite3_prepare_v2(q->db, "PRAGMA page_count", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return n == 0;
}

struct mtls_queue *
mtls_queue_open(const char *state, int durable, struct mtls_err *err)
{
	struct mtls_queue *q = calloc(1, sizeof(*q));
	char path[4096];

	if (q == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	q->state = mtls__strdup(state);
	snprintf(path, sizeof(path), "%s/blobs", state);
	q->blobdir = mtls__strdup(path);
	if (q->state == NULL || q->blobdir == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (mtls_mkdir_p(state, 0700, err) != 0 ||
	    mtls_mkdir_p(q->blobdir, 0700, err) != 0) {
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/queue.db", state);
	/* The queue holds pushed content: 0600 whatever the directory or the
	 * umask (SQLite gives its -wal and -shm files the same mode). */
	if (queue_create_private(path, err) != 0) {
		goto fail;
	}
	if (sqlite3_open_v2(path, &q->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		mtls_err_set(err, MTLS_E_IO, "cannot open the queue %s: %s", path,
		    q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 10000);
	/* Incremental vacuum (effective for a new queue; reclaim converts an
	 * old one) and a short WAL: delivered content gives its space back
	 * even on a full disk. */
	if (queue_is_new(q) &&
	    db_exec(q, "PRAGMA auto_vacuum=INCREMENTAL", err) != 0) {
		goto fail;
	}
	if (db_exec(q, "PRAGMA journal_mode=WAL", err) != 0 ||
	    db_exec(q, "PRAGMA wal_autocheckpoint=16", err) != 0 ||
	    db_exec(q, durable ? "PRAGMA synchronous=FULL"
			       : "PRAGMA synchronous=NORMAL", err) != 0 ||
	    db_exec(q, schema, err) != 0) {
		goto fail;
	}
	return q;
fail:
	mtls_queue_close(q);
	return NULL;
}

void
mtls_queue_close(struct mtls_queue *q)
{
	if (q == NULL) {
		return;
	}
	sqlite3_close(q->db);
	free(q->state);
	free(q->blobdir);
	free(q);
}

int
mtls_queue_begin(struct mtls_queue *q, struct mtls_err *err)
{
	if (db_exec(q, "BEGIN IMMEDIATE", err) != 0) {
		return -1;
	}
	q->in_tx = 1;
	return 0;
}

int
mtls_queue_commit(struct mtls_queue *q, struct mtls_err *err)
{
	q->in_tx = 0;
	if (db_exec(q, "COMMIT", err) != 0) {
		mtls_queue_rollback(q);
		return -1;
	}
	return 0;
}

void
mtls_queue_rollback(struct mtls_queue *q)
{
	q->in_tx = 0;
	(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];
	size_t i;

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1) {
		return -1;
	}
	for (i = 0; i < nbytes; i++) {
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	}
	return 0;
}

/* The receiver's own rule (one validator): an item it would refuse for
 * good is refused here, before it is queued. */
static int
path_check(const char *path, struct mtls_err *err)
{
	char norm[MTLS__CONTENT_PATH_MAX + 2];

	if (mtls__content_store_path_check(path, norm, sizeof(norm), err) != 0) {
		err->code = MTLS_E_USAGE; /* the caller's argument, not policy */
		return -1;
	}
	return 0;
}

static int
read_all(int fd, const char *file, unsigned char *buf, size_t cap,
    size_t *len, struct mtls_err *err)
{
	*len = 0;
	while (*len < cap) {
		ssize_t n = read(fd, buf + *len, cap - *len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return mtls_err_sys(err, MTLS_E_IO, "reading %s", file);
		}
		if (n == 0) {
			break;
		}
		*len += (size_t)n;
	}
	return 0;
}

/* Copies FD to a fresh file in the blob directory, synced with its
 * directory before the enqueue commits. *NAME receives its name. */
static int
blob_write(struct mtls_queue *q, int fd, const char *file, char *name,
    int64_t *size, struct mtls_err *err)
{
	char path[4200], hex[33];
	unsigned char *buf = malloc(COPY_CHUNK);
	int out = -1, dfd = -1, rc = -1;
	size_t n;

	*size = 0;
	if (buf == NULL || random_hex(hex, 16) != 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory or randomness");
		goto out;
	}
	snprintf(name, 40, "%s.blob", hex);
	snprintf(path, sizeof(path), "%s/%s", q->blobdir, name);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		mtls_err_sys(err, MTLS_E_IO, "creating %s", path);
		goto out;
	}
	for (;;) {
		size_t off = 0;

		if (read_all(fd, file, buf, COPY_CHUNK, &n, err) != 0) {
			goto out;
		}
		while (off < n) {
			ssize_t w = write(out, buf + off, n - off);

			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w < 0) {
				mtls_err_sys(err, MTLS_E_IO, "writing %s", path);
				goto out;
			}
			off += (size_t)w;
		}
		*size += (int64_t)n;
		if (n < COPY_CHUNK) {
			break;
		}
	}
	dfd = open(q->blobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fsync(out) != 0 || dfd < 0 || fsync(dfd) != 0) {
		mtls_err_sys(err, MTLS_E_IO, "syncing %s", path);
		goto out;
	}
	rc = 0;
out:
	if (out >= 0) {
		close(out);
		if (rc != 0) {
			unlink(path);
		}
	}
	if (dfd >= 0) {
		close(dfd);
	}
	free(buf);
	return rc;
}

/* Snapshots FILE into a contents row; *CID receives its id. */
static int
content_add(struct mtls_queue *q, const char *file, sqlite3_int64 *cid,
    struct mtls_err *err)
{
	struct stat sb;
	sqlite3_stmt *st = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	char name[40] = "";
	int64_t size = 0;
	int fd, rc = -1;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot read %s", file);
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		mtls_err_set(err, MTLS_E_USAGE, "%s is not a regular file", file);
		goto out;
	}
	if (sb.st_size <= MTLS_QUEUE_INLINE_MAX) {
		/* One byte more than allowed tells us the file grew. */
		data = malloc(MTLS_QUEUE_INLINE_MAX + 1);
		if (data == NULL) {
			mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
		if (read_all(fd, file, data, MTLS_QUEUE_INLINE_MAX + 1, &len,
			err) != 0) {
			goto out;
		}
	}
	if (data == NULL || len > MTLS_QUEUE_INLINE_MAX) {
		if (lseek(fd, 0, SEEK_SET) != 0) {
			mtls_err_sys(err, MTLS_E_IO, "rewinding %s", file);
			goto out;
		}
		if (blob_write(q, fd, file, name, &size, err) != 0) {
			goto out;
		}
	} else {
		size = (int64_t)len;
	}
	if (mtls__queue_db_prepare(q, "INSERT INTO contents(size, data, blob) "
			  "VALUES(?, ?, ?)", &st, err) != 0) {
		goto out;
	}
	sqlite3_bind_int64(st, 1, size);
	if (name[0] == '\0') {
		sqlite3_bind_blob(st, 2, len ? (const void *)data : "", (int)len,
		    SQLITE_STATIC);
		sqlite3_bind_null(st, 3);
	} else {
		sqlite3_bind_null(st, 2);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		mtls__queue_db_fail(q, "storing content", err);
		goto out;
	}
	*cid = sqlite3_last_insert_rowid(q->db);
	rc = 0;
out:
	sqlite3_finalize(st);
	close(fd);
	free(data);
	return rc;
}

static int
enqueue_rows(struct mtls_queue *q, const char *const *targets,
    size_t ntargets, enum mtls_action action, const char *path,
    const char *file, char *first_id, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 cid = 0;
	char id[33];
	size_t i;
	int rc = -1;

	if (action == MTLS_ACTION_ACTIVATE &&
	    content_add(q, file, &cid, err) != 0) {
		return -1;
	}
	if (mtls__queue_db_prepare(q, "INSERT INTO items(id, target, action, path, cid, "
			  "created) VALUES(?, ?, ?, ?, ?, ?)", &st, err) != 0) {
		return -1;
	}
	for (i = 0; i < ntargets; i++) {
		if (random_hex(id, 16) != 0) {
			mtls_err_set(err, MTLS_E_INTERNAL, "no randomness");
			goto out;
		}
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, targets[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, (int)action);
		sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
		if (cid != 0) {
			sqlite3_bind_int64(st, 5, cid);
		} else {
			sqlite3_bind_null(st, 5);
		}
		sqlite3_bind_int64(st, 6, mtls__now_ms());
		if (sqlite3_step(st) != SQLITE_DONE) {
			mtls__queue_db_fail(q, "enqueuing", err);
			goto out;
		}
		if (i == 0 && first_id != NULL) {
			memcpy(first_id, id, sizeof(id));
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int
mtls_queue_enqueue(struct mtls_queue *q, const char *const *targets,
    size_t ntargets, enum mtls_action action, const char *path,
    const char *file, char *first_id, struct mtls_err *err)
{
	int own = !q->in_tx;

	if (path_check(path, err) != 0) {
		return -1;
	}
	if (action == MTLS_ACTION_ACTIVATE && file == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "activating %s needs a file with its content", path);
	}
	if (mtls__queue_reserve(q, 1, err) != 0) {
		return -1;
	}
	if (own && mtls_queue_begin(q, err) != 0) {
		return -1;
	}
	if (enqueue_rows(q, targets, ntargets, action, path, file, first_id,
		err) != 0) {
		if (own) {
			mtls_queue_rollback(q);
		}
		return -1;
	}
	return own ? mtls_queue_commit(q, err) : 0;
}

void
mtls__item_clear(struct mtls_item *it)
{
	free(it->target);
	free(it->path);
	free(it->data);
	free(it->blob);
	memset(it, 0, sizeof(*it));
}

static char *
col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? mtls__strdup((const char *)s) : NULL;
}

static int
item_fill(struct mtls_queue *q, sqlite3_stmt *st, const char *target,
    struct mtls_item *it, struct mtls_err *err)
{
	const void *data;
	int dlen;
	char path[4200];

	memset(it, 0, sizeof(*it));
	it->seq = sqlite3_column_int64(st, 0);
	snprintf(it->id, sizeof(it->id), "%s",
	    (const char *)sqlite3_column_text(st, 1));
	it->action = (enum mtls_action)sqlite3_column_int(st, 2);
	it->path = col_strdup(st, 3);
	it->attempts = sqlite3_column_int(st, 4);
	it->size = sqlite3_column_int64(st, 6);
	it->target = mtls__strdup(target);
	if (sqlite3_column_type(st, 8) == SQLITE_TEXT) {
		snprintf(path, sizeof(path), "%s/%s", q->blobdir,
		    (const char *)sqlite3_column_text(st, 8));
		it->blob = mtls__strdup(path);
	} else if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
		data = sqlite3_column_blob(st, 7);
		dlen = sqlite3_column_bytes(st, 7);
		it->data = malloc((size_t)dlen + 1);
		if (it->data != NULL && dlen > 0) {
			memcpy(it->data, data, (size_t)dlen);
		}
		if (it->data == NULL) {
			goto oom;
		}
		it->size = dlen;
	}
	if (it->path == NULL || it->target == NULL) {
		goto oom;
	}
	return 0;
oom:
	mtls__item_clear(it);
	return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
}

int
mtls__queue_claim(struct mtls_queue *q, const char *target, int64_t now_ms,
    struct mtls_item *it, int64_t *due_ms, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	if (mtls__queue_db_prepare(q, "SELECT seq, id, action, path, attempts, next_at, "
			  "c.size, c.data, c.blob FROM items "
			  "LEFT JOIN contents c USING(cid) "
			  "WHERE target = ? AND state = 0 ORDER BY seq LIMIT 1",
		&st, err) != 0) {
		return -1;
	}
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = 0;
	} else if (r != SQLITE_ROW) {
		mtls__queue_db_fail(q, "reading the queue", err);
	} else if (sqlite3_column_int64(st, 5) > now_ms) {
		*due_ms = sqlite3_column_int64(st, 5);
		rc = 2;
	} else if (item_fill(q, st, target, it, err) == 0) {
		rc = 1;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
step_done(struct mtls_queue *q, sqlite3_stmt *st, const char *what,
    struct mtls_err *err)
{
	int r = sqlite3_step(st);

	sqlite3_finalize(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		return mtls__queue_db_fail(q, what, err);
	}
	return 0;
}

static int
note_target_error(struct mtls_queue *q, const char *id, int64_t now_ms,
    const char *why, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;

	if (mtls__queue_db_prepare(q, "INSERT OR REPLACE INTO targets(target, last_error, "
			  "last_error_at) SELECT target, ?, ? FROM items "
			  "WHERE id = ?", &st, err) != 0) {
		return -1;
	}
	sqlite3_bind_text(st, 1, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	return step_done(q, st, "recording the error", err);
}

/* Ends ID in STATE (1 or 2) and drops its content when unshared; the
 * content file is removed after the commit (a crash in between leaves
 * an orphan for mtls__queue_gc, never a dangling reference). */
static int
finish_item(struct mtls_queue *q, const char *id, int state, int64_t now_ms,
    const char *why, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 cid = 0;
	char *blob = NULL;
	char path[4200];
	int rc = -1;

	if (mtls_queue_begin(q, err) != 0) {
		return -1;
	}
	if (mtls__queue_db_prepare(q, "SELECT cid, (SELECT blob FROM contents c WHERE "
			  "c.cid = items.cid) FROM items WHERE id = ? AND "
			  "state = 0", &st, err) != 0) {
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		cid = sqlite3_column_int64(st, 0);
		blob = col_strdup(st, 1);
	}
	sqlite3_finalize(st);
	if (mtls__queue_db_prepare(q, "UPDATE items SET state = ?, done_at = ?, cid = NULL,"
			  " last_error = ? WHERE id = ? AND state = 0", &st,
		err) != 0) {
		goto out;
	}
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	if (step_done(q, st, "updating an item", err) != 0) {
		goto out;
	}
	if (why != NULL && note_target_error(q, id, now_ms, why, err) != 0) {
		goto out;
	}
	if (cid != 0) {
		if (mtls__queue_db_prepare(q, "DELETE FROM contents WHERE cid = ?1 AND NOT "
				  "EXISTS (SELECT 1 FROM items WHERE cid = ?1)",
			&st, err) != 0) {
			goto out;
		}
		sqlite3_bind_int64(st, 1, cid);
		if (step_done(q, st, "dropping content", err) != 0) {
			goto out;
		}
		if (sqlite3_changes(q->db) == 0) {
			free(blob); /* still used by another target's item */
			blob = NULL;
		}
	}
	rc = mtls_queue_commit(q, err);
	if (rc == 0 && blob != NULL) {
		snprintf(path, sizeof(path), "%s/%s", q->blobdir, blob);
		(void)unlink(path);
	}
	if (rc == 0 && cid != 0) {
		mtls__queue_shrink(q);
	}
out:
	if (rc != 0 && q->in_tx) {
		mtls_queue_rollback(q);
	}
	free(blob);
	return rc;
}

int
mtls__queue_delivered(struct mtls_queue *q, const char *id, int64_t now_ms,
    struct mtls_err *err)
{
	return finish_item(q, id, MTLS_ITEM_DELIVERED, now_ms, NULL, err);
}

int
mtls__queue_fail(struct mtls_queue *q, const char *id, int64_t now_ms,
    const char *why, struct mtls_err *err)
{
	return finish_item(q, id, MTLS_ITEM_FAILED, now_ms, why, err);
}

int
mtls__queue_retry(struct mtls_queue *q, const char *id, int64_t now_ms,
    int64_t delay_ms, const char *why, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;

	if (mtls_queue_begin(q, err) != 0) {
		return -1;
	}
	if (mtls__queue_db_prepare(q, "UPDATE items SET attempts = attempts + 1, "
			  "next_at = ?, last_error = ? WHERE id = ? AND "
			  "state = 0", &st, err) != 0) {
		goto fail;
	}
	sqlite3_bind_int64(st, 1, now_ms + delay_ms);
	sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	if (step_done(q, st, "recording a retry", err) != 0 ||
	    note_target_error(q, id, now_ms, why, err) != 0) {
		goto fail;
	}
	return mtls_queue_commit(q, err);
fail:
	mtls_queue_rollback(q);
	return -1;
}

int64_t
mtls__queue_backoff_ms(int attempts, int64_t base_ms, int64_t cap_ms,
    double jitter)
{
	int64_t d = base_ms;
	int i;

	if (attempts < 1) {
		attempts = 1;
	}
	for (i = 1; i < attempts && d < cap_ms; i++) {
		d *= 2;
	}
	if (d > cap_ms) {
		d = cap_ms;
	}
	if (jitter < 0) {
		jitter = 0;
	} else if (jitter >= 1) {
		jitter = 0.999999;
	}
	/* "Equal jitter": half fixed, half random, so the delay still grows
	 * but agents that failed together spread out. */
	return d / 2 + (int64_t)((double)(d - d / 2) * jitter);
}
