/* see mtls/replicate.h: reporting on the queue and cleaning its files */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtls/replicate.h"
#include "base/internal.h"
#include "link/client/queue_int.h"

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? mtls__strdup((const char *)s) : NULL;
}

void
mtls_queue_stats_free(struct mtls_queue_stat *s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++) {
		free(s[i].target);
		free(s[i].last_error);
	}
	free(s);
}

int
mtls_queue_stats(struct mtls_queue *q, struct mtls_queue_stat **out,
    size_t *n, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	struct mtls_queue_stat *v = NULL, *nv;
	size_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	/* The last error is shown only while it still matters: while an
	 * item is failing or has failed for good. */
	if (mtls__queue_db_prepare(q,
		"SELECT i.target, SUM(state = 0), SUM(state = 0 AND attempts > 0),"
		" SUM(state = 1), SUM(state = 2),"
		" MIN(CASE WHEN state = 0 AND attempts > 0 THEN next_at END),"
		" t.last_error FROM items i LEFT JOIN targets t USING(target)"
		" GROUP BY i.target ORDER BY i.target", &st, err) != 0) {
		return -1;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (nv == NULL) {
			goto oom;
		}
		v = nv;
		memset(&v[cnt], 0, sizeof(v[cnt]));
		v[cnt].target = col_dup(st, 0);
		v[cnt].pending = sqlite3_column_int64(st, 1);
		v[cnt].failing = sqlite3_column_int64(st, 2);
		v[cnt].delivered = sqlite3_column_int64(st, 3);
		v[cnt].failed = sqlite3_column_int64(st, 4);
		v[cnt].next_at_ms = sqlite3_column_int64(st, 5);
		if (v[cnt].failing > 0 || v[cnt].failed > 0) {
			v[cnt].last_error = col_dup(st, 6);
		}
		cnt++;
		if (v[cnt - 1].target == NULL) {
			goto oom;
		}
	}
	if (r != SQLITE_DONE) {
		mtls__queue_db_fail(q, "reading the queue", err);
		sqlite3_finalize(st);
		mtls_queue_stats_free(v, cnt);
		return -1;
	}
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return 0;
oom:
	sqlite3_finalize(st);
	mtls_queue_stats_free(v, cnt);
	return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
}

int
mtls_queue_failures(struct mtls_queue *q, size_t max,
    void (*fn)(void *arg, const char *target, const char *id,
        const char *action, const char *path, const char *why),
    void *arg, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (mtls__queue_db_prepare(q,
		"SELECT target, id, action, path, last_error FROM items "
		"WHERE state = 2 ORDER BY done_at DESC, seq DESC LIMIT ?", &st,
		err) != 0) {
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *why = sqlite3_column_text(st, 4);

		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    mtls_action_name((enum mtls_action)sqlite3_column_int(st, 2)),
		    (const char *)sqlite3_column_text(st, 3),
		    why != NULL ? (const char *)why : "");
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		return mtls__queue_db_fail(q, "reading failures", err);
	}
	return 0;
}

int
mtls__queue_gc(struct mtls_queue *q, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	DIR *d = opendir(q->blobdir);
	struct dirent *de;
	char path[4200];

	if (d == NULL) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot list %s", q->blobdir);
	}
	/* Enqueues write their content files inside their write transaction,
	 * so holding the write lock means no file is half-way enqueued. */
	if (mtls_queue_begin(q, err) != 0) {
		closedir(d);
		return -1;
	}
	if (mtls__queue_db_prepare(q, "SELECT 1 FROM contents WHERE blob = ?",
		&st, err) != 0) {
		mtls_queue_rollback(q);
		closedir(d);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		int r;

		if (len < 6 || strcmp(de->d_name + len - 5, ".blob") != 0) {
			continue;
		}
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, de->d_name, -1, SQLITE_TRANSIENT);
		r = sqlite3_step(st);
		if (r == SQLITE_DONE) {
			snprintf(path, sizeof(path), "%s/%s", q->blobdir,
			    de->d_name);
			(void)unlink(path);
		} else if (r != SQLITE_ROW) {
			break;
		}
	}
	sqlite3_finalize(st);
	closedir(d);
	return mtls_queue_commit(q, err);
}

int
mtls__queue_wake(struct mtls_queue *q, struct mtls_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(q->db, "UPDATE items SET next_at = 0 WHERE state = 0 "
				"AND next_at > 0", NULL, NULL, &msg) != SQLITE_OK) {
		mtls_err_set(err, MTLS_E_IO, "queue %s/queue.db: %s", q->state,
		    msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Each target's head (its oldest pending item), when due. */
#define DUE_HEADS                                                           \
	"FROM items i WHERE state = 0 AND seq = (SELECT MIN(seq) FROM items j " \
	"WHERE j.target = i.target AND j.state = 0) AND next_at <= ? AND "      \
	"(? = 0 OR attempts = 0)"

long
mtls__queue_due(struct mtls_queue *q, int64_t now_ms, int fresh_only,
    struct mtls_err *err)
{
	char **t = NULL;
	size_t n = 0;

	if (mtls__queue_due_targets(q, now_ms, fresh_only, &t, &n, err) != 0) {
		return -1;
	}
	mtls__queue_targets_free(t, n);
	return (long)n;
}

void
mtls__queue_targets_free(char **t, size_t n)
{
	size_t i;

	for (i = 0; t != NULL && i < n; i++) {
		free(t[i]);
	}
	free(t);
}

int
mtls__queue_due_targets(struct mtls_queue *q, int64_t now_ms, int fresh_only,
    char ***out, size_t *n, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL, **nv;
	size_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (mtls__queue_db_prepare(q, "SELECT target " DUE_HEADS, &st, err) != 0) {
		return -1;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int(st, 2, fresh_only);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (nv == NULL) {
			break;
		}
		v = nv;
		v[cnt] = col_dup(st, 0);
		if (v[cnt] == NULL) {
			break;
		}
		cnt++;
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		mtls__queue_targets_free(v, cnt);
		if (r == SQLITE_ROW) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		return mtls__queue_db_fail(q, "finding due items", err);
	}
	*out = v;
	*n = cnt;
	return 0;
}
