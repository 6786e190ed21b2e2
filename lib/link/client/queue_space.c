/*
 * The push queue's disk space: the reserve kept free so that a full disk
 * never leaves the agent unable to record what it delivered, and giving
 * the pages of delivered items back to the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mtls/replicate.h"
#include "base/internal.h"
#include "link/client/queue_int.h"

/* STATE/queue.reserve: space kept free for the agent. Enqueues stop
 * (ENOSPC) while it cannot be kept, so a full disk never leaves the
 * agent unable to record what it delivered; the agent releases it for
 * its run and takes it back at the end. */
#define QUEUE_RESERVE (512 * 1024)

int
mtls__queue_reserve(struct mtls_queue *q, int keep, struct mtls_err *err)
{
	char path[4200];
	struct stat sb;
	int fd, r;

	snprintf(path, sizeof(path), "%s/queue.reserve", q->state);
	if (!keep) {
		if (unlink(path) != 0 && errno != ENOENT) {
			return mtls_err_sys(err, MTLS_E_IO, "removing %s", path);
		}
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "creating %s (space kept "
		    "free for delivering what is queued)", path);
	}
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_blocks * 512 >= QUEUE_RESERVE) {
		close(fd);
		return 0;
	}
	r = posix_fallocate(fd, 0, QUEUE_RESERVE);
	close(fd);
	if (r != 0) {
		(void)unlink(path);
		errno = r;
		return mtls_err_sys(err, MTLS_E_IO, "cannot keep %d KiB free in "
		    "%s for delivering what is queued, so nothing more is "
		    "queued", QUEUE_RESERVE / 1024, q->state);
	}
	return 0;
}

/* The integer a PRAGMA answers, or DFLT when it cannot be read. */
static int
pragma_int(struct mtls_queue *q, const char *sql, int dflt)
{
	sqlite3_stmt *st = NULL;
	int n = dflt;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return n;
}

/* Gives the pages freed by delivered items back to the file system: a
 * few pages per transaction, each soon checkpointed (wal_autocheckpoint
 * is small), so this needs little free space itself. It stops when no
 * page is free or a round frees none (auto_vacuum off: a queue made
 * before it, converted at the end of a run). Best effort. */
void
mtls__queue_shrink(struct mtls_queue *q)
{
	int left = pragma_int(q, "PRAGMA freelist_count", 0), was;

	while (left > 0) {
		was = left;
		if (sqlite3_exec(q->db, "PRAGMA incremental_vacuum(16)", NULL,
			NULL, NULL) != SQLITE_OK) {
			break;
		}
		left = pragma_int(q, "PRAGMA freelist_count", 0);
		if (left >= was) {
			break;
		}
	}
}

/* At the end of an agent run: a queue created before incremental vacuum
 * is converted once (VACUUM, when there is room for it), and the WAL is
 * truncated. Best effort. */
void
mtls__queue_reclaim(struct mtls_queue *q)
{
	if (pragma_int(q, "PRAGMA auto_vacuum", 2) != 2) {
		(void)sqlite3_exec(q->db, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM",
		    NULL, NULL, NULL);
	}
	mtls__queue_shrink(q);
	(void)sqlite3_exec(q->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
	    NULL);
}
