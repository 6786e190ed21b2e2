/* see link/server/content_store_priv.h: the item ids ("placing" and applied
 * rows) and the in-flight set */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "link/server/content_store_priv.h"
#include "base/internal.h"

int
mtls__content_db_fail(struct mtls__content_store *s, const char *what, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_IO, "receiver database %s/%s: %s: %s",
	    s->root, MTLS__CONTENT_DB, what,
	    s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
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

/* 1: applied before with the same action/path/digest; 0: unknown id. */
int
mtls__content_lookup(struct mtls__content_store *s, const char *principal, const char *id,
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
		return mtls__content_db_fail(s, "look up item id", err);
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
	return rc == SQLITE_DONE ? 0 : mtls__content_db_fail(s, "record item id", err);
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
	return rc == SQLITE_DONE ? 0 : mtls__content_db_fail(s, what, err);
}

/* Before the change: the item is recorded as on its way, durably
 * (synchronous=FULL), so a crash before mtls__content_commit_item() is detectable. */
int
mtls__content_begin_item(struct mtls__content_store *s, const char *principal,
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
	return rc == SQLITE_DONE ? 0 : mtls__content_db_fail(s, "record item id", err);
}

/* After the change is durable: the item is applied (one transaction). */
int
mtls__content_commit_item(struct mtls__content_store *s, const char *principal,
    const char *id, const char *action, const char *path, const char *sha,
    struct mtls_err *err)
{
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		return mtls__content_db_fail(s, "record item id", err);
	}
	if (record(s, principal, id, action, path, sha, err) != 0 ||
	    step_item(s, s->pdel, principal, id, "record item id", err) != 0) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		mtls__content_db_fail(s, "record item id", err);
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

	rc = mtls__content_walk(s, path, 0, buf, sizeof(buf), &dfd, &leaf, &ignored);
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
int
mtls__content_resolve(struct mtls__content_store *s, const char *principal, const char *id,
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
		return mtls__content_db_fail(s, "look up item id", err);
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
		rc = mtls__content_commit_item(s, principal, id, action, path, sha, err);
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
int
mtls__content_resolve_all(struct mtls__content_store *s, struct mtls_err *err)
{
	sqlite3_stmt *st = NULL;
	char *principal = NULL, *id = NULL;
	int rc = 0, step;

	/* One row at a time: resolving deletes it from the table read. */
	while (rc == 0) {
		if (sqlite3_prepare_v2(s->db, "SELECT principal, id FROM "
			"placing LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
			return mtls__content_db_fail(s, "resolve items", err);
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
			return mtls__content_db_fail(s, "resolve items", err);
		}
		rc = principal != NULL && id != NULL
		    ? mtls__content_resolve(s, principal, id, err)
		    : mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		free(principal);
		free(id);
		principal = id = NULL;
	}
	return rc;
}
