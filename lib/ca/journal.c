/* see mtls/ca.h: mtls_ca_lock, mtls_ca_commit_files, recovery.
 *
 * The recovery story: certificates and their files become visible
 * together. Files are staged (temporary, synced), then one inventory
 * transaction records the certificates and a journal row naming each
 * DEST/TEMP pair; then the files are moved into place and the row is
 * deleted. A kill before the transaction leaves only temporary files,
 * swept by the next holder of the CA lock; a kill after it leaves a
 * journal row, which the next holder finishes (moves the remaining files)
 * or, when the staged files are gone, undoes (revokes the serials and
 * removes what was placed). Either way it says which. */
#define _GNU_SOURCE
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtls/file.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

#define REASON_CESSATION 5 /* RFC 5280 5.3.1 cessationOfOperation */

static void
note(struct mtls_ca *ca, const char *fmt, ...) MTLS_PRINTF(2, 3);

static void
note(struct mtls_ca *ca, const char *fmt, ...)
{
	char line[1024];
	size_t have = ca->recovery ? strlen(ca->recovery) : 0;
	char *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0) {
		return;
	}
	n = realloc(ca->recovery, have + strlen(line) + 2);
	if (n == NULL) {
		return;
	}
	snprintf(n + have, strlen(line) + 2, "%s%s", have ? "\n" : "", line);
	ca->recovery = n;
}

static int
exists(const char *p, struct stat *st)
{
	return lstat(p, st) == 0;
}

static void
sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL) {
		return;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Moves TMP to DEST as mtls_fileset_commit would. */
static int
place_one(const char *tmp, const char *dest, int force)
{
	if (force) {
		return rename(tmp, dest);
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0) {
		return 0;
	}
	if (errno != EINVAL && errno != ENOSYS) {
		return -1;
	}
	if (link(tmp, dest) != 0) {
		return -1;
	}
	return unlink(tmp);
}

struct jrow {
	long long id;
	const char *what, *serials, *files;
	int force;
};

/* Calls FN(DEST, TEMP) for each line of FILES; stops at a non-zero. */
static int
each_file(const char *files, int (*fn)(const char *, const char *, void *),
    void *arg)
{
	const char *p = files;
	char dest[4096], tmp[4200];

	while (p != NULL && *p != '\0') {
		const char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
		size_t dl, tl;
		int rc;

		if (tab == NULL || (nl != NULL && nl < tab)) {
			return -1;
		}
		dl = (size_t)(tab - p);
		tl = nl ? (size_t)(nl - tab - 1) : strlen(tab + 1);
		if (dl >= sizeof(dest) || tl >= sizeof(tmp)) {
			return -1;
		}
		memcpy(dest, p, dl);
		dest[dl] = '\0';
		memcpy(tmp, tab + 1, tl);
		tmp[tl] = '\0';
		rc = fn(dest, tmp, arg);
		if (rc != 0) {
			return rc;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

struct survey {
	int force;
	int lost;     /* a staged file is gone and its destination absent */
	int conflict; /* someone else's file stands where ours should go */
	size_t placed, pending;
};

static int
survey_file(const char *dest, const char *tmp, void *arg)
{
	struct survey *s = arg;
	struct stat ts, ds;
	int have_tmp = exists(tmp, &ts), have_dest = exists(dest, &ds);

	if (!have_tmp) {
		if (have_dest) {
			s->placed++;
		} else {
			s->lost = 1;
		}
		return 0;
	}
	s->pending++;
	if (have_dest && !s->force) {
		/* link(2) fallback interrupted between link and unlink. */
		if (ts.st_ino == ds.st_ino && ts.st_dev == ds.st_dev) {
			unlink(tmp);
			s->pending--;
			s->placed++;
		} else {
			s->conflict = 1;
		}
	}
	return 0;
}

static int
finish_file(const char *dest, const char *tmp, void *arg)
{
	struct survey *s = arg;
	struct stat st;

	if (!exists(tmp, &st)) {
		return 0;
	}
	if (place_one(tmp, dest, s->force) != 0) {
		return -1;
	}
	sync_dir_of(dest);
	return 0;
}

static int
undo_file(const char *dest, const char *tmp, void *arg)
{
	struct survey *s = arg;
	struct stat st;

	if (exists(tmp, &st)) {
		unlink(tmp);
	} else if (!s->force && exists(dest, &st)) {
		/* Without force this set created DEST: take it back. */
		unlink(dest);
		sync_dir_of(dest);
	}
	return 0;
}

static int
revoke_serials(struct mtls_ca *ca, const char *serials, struct mtls_err *err)
{
	char *copy = strdup(serials), *s, *save = NULL;
	int rc = 0;

	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (s = strtok_r(copy, ",", &save); s != NULL && rc == 0;
	     s = strtok_r(NULL, ",", &save)) {
		struct mtls_err e;

		mtls_err_clear(&e);
		if (mtls__inv_revoke(ca->inv, s, "cessationOfOperation",
			time(NULL), &e) != 0 && e.code != MTLS_E_EXISTS &&
		    e.code != MTLS_E_NOTFOUND) {
			*err = e;
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

static int
journal_delete(struct mtls_ca *ca, long long id, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	s = mtls__db_prepare(mtls__inv_db(ca->inv), "DELETE FROM journal WHERE "
	    "id=?", "clearing the journal", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_int64(s, 1, id);
	rc = mtls__db_step(s, err);
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

/* Several instances may share one PostgreSQL database, each with its own
 * copy of the CA directory: a journal row names files on one host, and
 * only that host (and directory) may finish or undo it. */
static int
is_pg(struct mtls_ca *ca)
{
	return mtls__db_engine(mtls__inv_db(ca->inv)) == MTLS_DB_PG;
}

static void
journal_owner(struct mtls_ca *ca, char *out, size_t len)
{
	char host[256] = "", *real = realpath(ca->dir, NULL);

	gethostname(host, sizeof(host) - 1);
	snprintf(out, len, "%s:%s", host, real != NULL ? real : ca->dir);
	free(real);
}

/* Finishes row J when every file can still be placed (FINISH), else undoes
 * it. */
static int
settle(struct mtls_ca *ca, const struct jrow *j, int finish,
    struct mtls_err *err)
{
	struct survey s;
	const char *serials = *j->serials ? j->serials : "none";

	memset(&s, 0, sizeof(s));
	s.force = j->force;
	if (each_file(j->files, survey_file, &s) != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "inventory: journal entry %lld is unreadable", j->id);
	}
	if (finish && !s.lost && !s.conflict) {
		if (each_file(j->files, finish_file, &s) != 0) {
			return mtls_err_sys(err, MTLS_E_IO, "finishing the "
			    "interrupted %s (serial %s)", j->what, serials);
		}
		/* Nothing pending: only the row's deletion was lost (a kill
		 * or a full disk after the files were placed). */
		if (s.pending > 0) {
			note(ca, "finished an interrupted %s: serial %s, %zu "
			    "file(s) put in place", j->what, serials, s.pending);
		}
		return journal_delete(ca, j->id, err);
	}
	each_file(j->files, undo_file, &s);
	if (mtls__inv_begin(ca->inv, err) != 0) {
		return -1;
	}
	if (revoke_serials(ca, j->serials, err) != 0 ||
	    journal_delete(ca, j->id, err) != 0) {
		mtls__inv_rollback(ca->inv);
		return -1;
	}
	if (mtls__inv_commit(ca->inv, err) != 0) {
		return -1;
	}
	if (finish) {
		note(ca, "undid an interrupted %s: %s; serial %s revoked "
		    "(cessationOfOperation)", j->what,
		    s.conflict ? "another file stands where its files belong"
			       : "its staged files are gone", serials);
	}
	return 0;
}

static int
recover_journal(struct mtls_ca *ca, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	char owner[4400];
	int rc;

	s = mtls__db_prepare(mtls__inv_db(ca->inv), is_pg(ca)
	    ? "SELECT id,what,serials,force,files FROM journal WHERE host=? "
	      "ORDER BY id"
	    : "SELECT id,what,serials,force,files FROM journal ORDER BY id",
	    "reading the journal", err);
	if (s == NULL) {
		return -1;
	}
	journal_owner(ca, owner, sizeof(owner));
	mtls__db_bind_text(s, 1, owner);
	while ((rc = mtls__db_step(s, err)) == 1) {
		struct jrow j;

		j.id = mtls__db_col_int64(s, 0);
		j.what = mtls__db_col_text(s, 1);
		j.serials = mtls__db_col_text(s, 2);
		j.force = (int)mtls__db_col_int64(s, 3);
		j.files = mtls__db_col_text(s, 4);
		if (j.what == NULL || j.serials == NULL || j.files == NULL) {
			continue;
		}
		/* Settling deletes rows of the table being read: SQLite
		 * allows it, and each row is visited once. */
		if (settle(ca, &j, 1, err) != 0) {
			mtls__db_finalize(s);
			return -1;
		}
	}
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

/* Another writer while a group is open: the server commits the group and
 * answers its requests first. */
static void
group_flush(struct mtls_ca *ca)
{
	struct mtls_err e;

	if (!ca->group_open) {
		return;
	}
	if (ca->group_flush != NULL) {
		ca->group_flush(ca->group_arg);
	}
	if (ca->group_open) {
		/* No server to answer (or it did not commit): commit here. */
		mtls__ca_group_commit(ca, 0, &e);
	}
}

int
mtls_ca_begin(struct mtls_ca *ca, struct mtls_err *err)
{
	group_flush(ca);
	return mtls__inv_begin(ca->inv, err);
}

int
mtls_ca_commit(struct mtls_ca *ca, struct mtls_err *err)
{
	int rc = mtls__inv_commit(ca->inv, err);

	mtls__ca_txn_unlock(ca); /* a failed commit was rolled back too */
	return rc;
}

void
mtls_ca_rollback(struct mtls_ca *ca)
{
	mtls__inv_rollback(ca->inv);
	mtls__ca_txn_unlock(ca);
}

static int
lock_within(struct mtls_ca *ca, long wait_ms, struct mtls_err *err)
{
	char *prev = NULL;
	size_t swept;

	if (ca->lock != NULL) {
		return 0;
	}
	/* A server (bounded wait) steps aside for a command that waits: it
	 * answers "come back later" until the command has had its turn. */
	if (wait_ms >= 0 && mtls__lock_wanted(ca->dir)) {
		return mtls_err_set(err, MTLS_E_BUSY, "the CA is busy: a command "
		    "is waiting for %s/lock", ca->dir);
	}
	ca->lock = mtls__lock_take(ca->dir, wait_ms, &prev, err);
	if (ca->lock == NULL) {
		return -1;
	}
	mtls__fileset_set_hook(mtls__lock_note, ca->lock);
	if (recover_journal(ca, err) != 0) {
		free(prev);
		mtls_ca_release(ca);
		return -1;
	}
	if (prev != NULL) {
		char who[128];

		swept = mtls__lock_sweep(ca->dir, prev);
		snprintf(who, sizeof(who), "%.*s", (int)strcspn(prev, "\n"), prev);
		if (swept > 0) {
			note(ca, "removed %zu temporary file(s) left by an "
			    "interrupted command (%s)", swept, who);
		}
		free(prev);
	}
	return 0;
}

int
mtls_ca_lock(struct mtls_ca *ca, struct mtls_err *err)
{
	return lock_within(ca, -1, err);
}

int
mtls__ca_lock_wait(struct mtls_ca *ca, long wait_ms, int *took,
    struct mtls_err *err)
{
	*took = ca->lock == NULL;
	if (lock_within(ca, wait_ms, err) != 0) {
		*took = 0;
		return -1;
	}
	return 0;
}

/* A long-running server holds the CA lock for one write at a time: the
 * commands beside it hold it across work the inventory's own lock does
 * not cover (a name checked then issued, files placed after the commit,
 * a batch between chunks, crl.pem), so the server must wait for them;
 * holding it for its whole life would shut every command out. */
int
mtls__ca_begin_locked(struct mtls_ca *ca, long wait_ms, struct mtls_err *err)
{
	int took;

	group_flush(ca); /* may release the lock */
	took = ca->lock == NULL;
	if (lock_within(ca, wait_ms, err) != 0) {
		return -1;
	}
	if (mtls_ca_begin(ca, err) != 0) {
		if (took) {
			mtls_ca_release(ca);
		}
		return -1;
	}
	ca->txn_lock = took;
	return 0;
}

void
mtls__ca_group_init(struct mtls_ca *ca, void (*flush)(void *arg), void *arg)
{
	ca->group_flush = flush;
	ca->group_arg = arg;
}

int
mtls__ca_group_join(struct mtls_ca *ca, long wait_ms, struct mtls_err *err)
{
	if (!ca->group_open) {
		if (mtls__ca_begin_locked(ca, wait_ms, err) != 0) {
			return -1;
		}
		ca->group_open = 1;
		ca->group_failed = 0;
	}
	/* SQLite and PostgreSQL spell savepoints the same way. */
	return mtls__db_exec(mtls__inv_db(ca->inv), "SAVEPOINT mtls_group",
	    "starting a request's writes", err);
}

int
mtls__ca_group_leave(struct mtls_ca *ca, int keep, struct mtls_err *err)
{
	struct mtls_db *db = mtls__inv_db(ca->inv);

	if ((!keep && mtls__db_exec(db, "ROLLBACK TO SAVEPOINT mtls_group",
		"undoing a request's writes", err) != 0) ||
	    mtls__db_exec(db, "RELEASE SAVEPOINT mtls_group",
		"ending a request's writes", err) != 0) {
		/* The transaction's state is unknown (SQLite may have rolled
		 * it all back): the group fails as a whole. */
		ca->group_failed = 1;
		return -1;
	}
	return 0;
}

int
mtls__ca_group_open(const struct mtls_ca *ca)
{
	return ca->group_open;
}

int
mtls__ca_lock_held(const struct mtls_ca *ca)
{
	return ca->lock != NULL;
}

int
mtls__ca_lock_wanted(const struct mtls_ca *ca)
{
	return mtls__lock_wanted(ca->dir);
}

int
mtls__ca_group_commit(struct mtls_ca *ca, int keep_lock, struct mtls_err *err)
{
	if (!ca->group_open) {
		return 0;
	}
	ca->group_open = 0;
	if (keep_lock) {
		ca->txn_lock = 0; /* the commit leaves it held */
	}
	if (ca->group_failed) {
		ca->group_failed = 0;
		mtls_ca_rollback(ca);
		return mtls_err_set(err, MTLS_E_IO, "a request's writes could not "
		    "be closed; the whole group was rolled back");
	}
	return mtls_ca_commit(ca, err);
}

void
mtls__ca_txn_unlock(struct mtls_ca *ca)
{
	if (ca->txn_lock) {
		ca->txn_lock = 0;
		mtls_ca_release(ca);
	}
}

void
mtls_ca_release(struct mtls_ca *ca)
{
	if (ca->lock == NULL) {
		return;
	}
	mtls__fileset_set_hook(NULL, NULL);
	mtls__lock_drop(ca->lock);
	ca->lock = NULL;
}

const char *
mtls_ca_recovery(const struct mtls_ca *ca)
{
	return ca->recovery;
}

static int
journal_text(struct mtls_fileset *fs, char **out, struct mtls_err *err)
{
	size_t i, n = mtls_fileset_count(fs), len = 1, at = 0;
	char *t;

	for (i = 0; i < n; i++) {
		const char *tmp = mtls__fileset_tmp(fs, i);

		len += strlen(mtls__fileset_dest(fs, i)) + (tmp ? strlen(tmp) : 0) + 2;
	}
	t = malloc(len);
	if (t == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	t[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *tmp = mtls__fileset_tmp(fs, i);

		at += (size_t)snprintf(t + at, len - at, "%s\t%s\n",
		    mtls__fileset_dest(fs, i), tmp ? tmp : "");
	}
	*out = t;
	return 0;
}

static int
journal_add(struct mtls_ca *ca, const char *what, int force, const char *files,
    long long *id, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	char owner[4400];
	int rc;

	s = mtls__db_prepare(mtls__inv_db(ca->inv), is_pg(ca)
	    ? "INSERT INTO journal(at,what,serials,force,files,host) "
	      "VALUES(?,?,?,?,?,?) RETURNING id"
	    : "INSERT INTO journal(at,what,serials,force,files) "
	      "VALUES(?,?,?,?,?) RETURNING id", "writing the journal", err);
	if (s == NULL) {
		return -1;
	}
	journal_owner(ca, owner, sizeof(owner));
	mtls__db_bind_int64(s, 1, (long long)time(NULL));
	mtls__db_bind_text(s, 2, what);
	mtls__db_bind_text(s, 3, mtls__inv_txn_serials(ca->inv));
	mtls__db_bind_int64(s, 4, force);
	mtls__db_bind_text(s, 5, files);
	mtls__db_bind_text(s, 6, owner);
	rc = mtls__db_step(s, err);
	if (rc == 1) {
		*id = mtls__db_col_int64(s, 0);
	}
	mtls__db_finalize(s);
	return rc == 1 ? 0 : -1;
}

int
mtls_ca_commit_files(struct mtls_ca *ca, struct mtls_fileset *fs,
    const char *what, struct mtls_err *err)
{
	char *files = NULL, *serials = NULL;
	long long id = 0;
	struct jrow j;
	struct mtls_err e;

	if (!mtls__inv_in_txn(ca->inv)) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "mtls_ca_commit_files outside mtls_ca_begin");
	}
	/* Staged files durable (and findable) before the row naming them. */
	if (mtls__fileset_sync(fs, err) != 0 || journal_text(fs, &files, err) != 0 ||
	    journal_add(ca, what, mtls__fileset_force(fs), files, &id, err) != 0 ||
	    (serials = strdup(mtls__inv_txn_serials(ca->inv))) == NULL) {
		if (files != NULL && serials == NULL && id != 0) {
			mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		mtls__inv_rollback(ca->inv);
		free(files);
		return -1;
	}
	if (mtls__inv_commit(ca->inv, err) != 0) {
		free(files);
		free(serials);
		return -1;
	}
	if (mtls_fileset_commit(fs, err) != 0) {
		/* Placement failed (and took back what it placed): undo the
		 * certificates too, so none is valid without its files. */
		j.id = id;
		j.what = what;
		j.serials = serials;
		j.files = files;
		j.force = mtls__fileset_force(fs);
		mtls_err_clear(&e);
		settle(ca, &j, 0, &e);
		free(files);
		free(serials);
		return -1;
	}
	free(files);
	free(serials);
	mtls_err_clear(&e);
	/* A row left here is finished (trivially) by the next command. */
	journal_delete(ca, id, &e);
	return 0;
}
