/* see mtls/ca.h: mtls_ca_migrate_db, moving a CA's state from its SQLite
 * inventory into PostgreSQL in one transaction. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/file.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

/* What is copied, in an order the foreign keys accept. Column types: 't'
 * text, 'i' integer. Rows keep their order (ORDER BY rowid), so lists
 * ordered by insertion read the same afterwards. Every table and column
 * of the SQLite schema (schema.c) is named here or in not_copied[]:
 * mtls__migrate_check_tables refuses a migration otherwise, so a schema
 * migration that adds a table or a column cannot be forgotten here. */
static const struct table {
	const char *name, *cols, *types, *order;
} tables[] = {
    {"certs", "serial,name,subject,sans,profile,not_before,not_after,sha256,"
	"status,revoked_at,reason,superseded_by,issued_at,pem,origin",
	"tttttiitttittti", "rowid"},
    {"tokens", "id,name,profile,sans,cert_lifetime,hash,created_at,created_by,"
	"expires_at,used_at,used_serial,revoked_at", "ttttitititti", "rowid"},
    {"audit", "id,at,actor,action,name,serial,outcome,reason", "iitttttt",
	"id"},
    {"policies", "name,profile,subject,subject_allow,sans,san_allow,days,"
	"created_at,cert_policies", "ttttttiit", "rowid"},
    {"acme_eab", "kid,name,hmac,allow,created_at,account,revoked_at",
	"ttttiti", "rowid"},
    {"acme_objects", "kind,id,account,status,created_at,expires_at,doc",
	"ttttiit", "rowid"},
    {"acme_keys", "thumbprint,account", "tt", "rowid"},
    {"acme_certs", "serial,account,order_id", "ttt", "rowid"},
    {"deployments", "name,path,format,args,recorded_at", "tttti", "rowid"},
    {"meta", "key,value", "tt", "rowid"},
};

/* Tables deliberately left behind: the journal (the CA lock settled it
 * before the copy) and SQLite's own bookkeeping (AUTOINCREMENT). */
static const char *const not_copied[] = {"journal", "sqlite_sequence"};

/* 1 when WORD is one of the comma-separated names in LIST. */
static int
names_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0')) {
			return 1;
		}
		p = strchr(p, ',');
		p = p != NULL ? p + 1 : NULL;
	}
	return 0;
}

static const struct table *
copied_table(const char *name)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(tables); i++) {
		if (strcmp(tables[i].name, name) == 0) {
			return &tables[i];
		}
	}
	return NULL;
}

static int
left_behind(const char *name)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(not_copied); i++) {
		if (strcmp(not_copied[i], name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Every column of table T in SRC must be on T's copy list. */
static int
check_columns(struct mtls_db *src, const struct table *t, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	const char *col;
	int rc, ret = 0;

	s = mtls__db_prepare(src, "SELECT name FROM pragma_table_info(?1)",
	    "reading the inventory's columns", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, t->name);
	while (ret == 0 && (rc = mtls__db_step(s, err)) == 1) {
		col = mtls__db_col_text(s, 0);
		if (col != NULL && !names_word(t->cols, col)) {
			ret = mtls_err_set(err, MTLS_E_INTERNAL, "the inventory's "
			    "column %s.%s is not on migrate-db's copy list: "
			    "nothing was moved (this mtls is incomplete; "
			    "report it)", t->name, col);
		}
	}
	if (ret == 0 && rc != 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	return ret;
}

int
mtls__migrate_check_tables(struct mtls_db *src, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	const struct table *t;
	const char *name;
	size_t seen = 0;
	int rc, ret = 0;

	s = mtls__db_prepare(src, "SELECT name FROM sqlite_master WHERE "
	    "type='table' ORDER BY name", "reading the inventory's tables", err);
	if (s == NULL) {
		return -1;
	}
	while (ret == 0 && (rc = mtls__db_step(s, err)) == 1) {
		name = mtls__db_col_text(s, 0);
		if (name == NULL || left_behind(name)) {
			continue;
		}
		t = copied_table(name);
		if (t == NULL) {
			ret = mtls_err_set(err, MTLS_E_INTERNAL, "the inventory's "
			    "table %s is not on migrate-db's copy list: nothing "
			    "was moved (this mtls is incomplete; report it)",
			    name);
		} else {
			ret = check_columns(src, t, err);
			seen++;
		}
	}
	if (ret == 0 && rc != 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	/* The other way round: a listed table the source lacks is a source
	 * older than this mtls, which opening it has migrated already. */
	if (ret == 0 && seen != MTLS_ARRAY_LEN(tables)) {
		ret = mtls_err_set(err, MTLS_E_FORMAT, "%s lacks %zu of the "
		    "tables migrate-db copies", mtls__db_where(src),
		    MTLS_ARRAY_LEN(tables) - seen);
	}
	return ret;
}

static int
copy_row(struct mtls_db_stmt *from, struct mtls_db_stmt *to,
    const char *types, struct mtls_err *err)
{
	int i;

	mtls__db_reset(to);
	for (i = 0; types[i] != '\0'; i++) {
		if (mtls__db_col_is_null(from, i)) {
			mtls__db_bind_null(to, i + 1);
		} else if (types[i] == 'i') {
			mtls__db_bind_int64(to, i + 1, mtls__db_col_int64(from, i));
		} else {
			mtls__db_bind_text(to, i + 1, mtls__db_col_text(from, i));
		}
	}
	return mtls__db_step(to, err) == 0 ? 0 : -1;
}

/* Copies one table; *ROWS gets how many rows. */
static int
copy_table(struct mtls_db *src, struct mtls_db *dst, const struct table *t,
    long long *rows, struct mtls_err *err)
{
	struct mtls_db_stmt *from = NULL, *to = NULL;
	char sql[1024], marks[80] = "";
	size_t i, at = 0, n = strlen(t->types);
	int rc = -1, step;

	*rows = 0;
	for (i = 0; i < n; i++) {
		at += (size_t)snprintf(marks + at, sizeof(marks) - at, "%s",
		    i ? ",?" : "?");
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s%s ORDER BY %s", t->cols,
	    t->name, strcmp(t->name, "meta") == 0 ? " WHERE key<>'schema'" : "",
	    t->order);
	from = mtls__db_prepare(src, sql, "reading the SQLite inventory", err);
	snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(%s)%s", t->name,
	    t->cols, marks, strcmp(t->name, "meta") == 0
	    ? " ON CONFLICT(key) DO UPDATE SET value=excluded.value" : "");
	to = from == NULL ? NULL : mtls__db_prepare(dst, sql,
	    "writing to PostgreSQL", err);
	if (to == NULL) {
		goto out;
	}
	while ((step = mtls__db_step(from, err)) == 1) {
		if (copy_row(from, to, t->types, err) != 0) {
			goto out;
		}
		(*rows)++;
	}
	rc = step == 0 ? 0 : -1;
out:
	mtls__db_finalize(from);
	mtls__db_finalize(to);
	return rc;
}

/* 0 when the target records nothing a CA made; with FORCE, empties it. */
static int
target_empty(struct mtls_db *dst, int force, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	long long n = 0;
	char sql[1024], wipe[1024];
	size_t i, at = 0;
	int rc;

	/* Rows in any copied table but meta (which a new database has). */
	at = (size_t)snprintf(sql, sizeof(sql), "SELECT 0");
	for (i = 0; i < MTLS_ARRAY_LEN(tables) && at < sizeof(sql); i++) {
		if (strcmp(tables[i].name, "meta") != 0) {
			at += (size_t)snprintf(sql + at, sizeof(sql) - at,
			    " + (SELECT count(*) FROM %s)", tables[i].name);
		}
	}
	if (at >= sizeof(sql)) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "looking into the "
		    "target: statement too long");
	}
	s = mtls__db_prepare(dst, sql, "looking into the target", err);
	if (s == NULL) {
		return -1;
	}
	rc = mtls__db_step(s, err);
	n = rc == 1 ? mtls__db_col_int64(s, 0) : 0;
	mtls__db_finalize(s);
	if (rc != 1) {
		return -1;
	}
	if (n == 0) {
		return 0;
	}
	if (!force) {
		return mtls_err_set(err, MTLS_E_EXISTS, "%s is not empty (%lld "
		    "rows of CA state): give an empty database, or --force to "
		    "replace what it holds", mtls__db_where(dst), n);
	}
	/* Every copied table, in the reverse of the foreign keys' order,
	 * and the journal; the schema version stays. */
	at = (size_t)snprintf(wipe, sizeof(wipe), "DELETE FROM journal");
	for (i = MTLS_ARRAY_LEN(tables); i-- > 0 && at < sizeof(wipe);) {
		at += (size_t)snprintf(wipe + at, sizeof(wipe) - at,
		    "; DELETE FROM %s%s", tables[i].name,
		    strcmp(tables[i].name, "meta") == 0 ? " WHERE key<>'schema'"
		    : "");
	}
	if (at >= sizeof(wipe)) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "emptying the "
		    "target: statement too long");
	}
	return mtls__db_exec(dst, wipe, "emptying the target", err);
}

/* BIGSERIAL counters continue after the copied ids. */
static int
fix_sequences(struct mtls_db *dst, struct mtls_err *err)
{
	return mtls__db_exec(dst, "SELECT setval(pg_get_serial_sequence('audit',"
	    "'id'), (SELECT coalesce(max(id),0)+1 FROM audit), false)",
	    "advancing the audit counter", err);
}

static int
copy_all(struct mtls_db *src, struct mtls_db *dst, int force,
    struct mtls_ca_migrate_counts *n, struct mtls_err *err)
{
	size_t i;
	long long rows;

	if (target_empty(dst, force, err) != 0) {
		return -1;
	}
	for (i = 0; i < MTLS_ARRAY_LEN(tables); i++) {
		if (copy_table(src, dst, &tables[i], &rows, err) != 0) {
			return -1;
		}
		if (strcmp(tables[i].name, "certs") == 0) {
			n->certs = rows;
		} else if (strcmp(tables[i].name, "tokens") == 0) {
			n->tokens = rows;
		} else if (strcmp(tables[i].name, "audit") == 0) {
			n->audit = rows;
		} else if (strcmp(tables[i].name, "meta") != 0) {
			n->other += rows;
		}
	}
	return fix_sequences(dst, err);
}

/* ca.json gains "db" (and "db_pass"): from now on every command and every
 * `ca serve` of this directory uses the PostgreSQL database. */
static int
record_db(struct mtls_ca *ca, const char *url, const char *pass_spec,
    struct mtls_err *err)
{
	char *p = mtls__path_of(ca->dir, MTLS_CA_CONF, ""), *text = NULL;
	struct mtls_fileset *fs = NULL;
	json_error_t je;
	json_t *j = NULL;
	int rc = -1;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	j = json_load_file(p, 0, &je);
	if (j == NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "cannot read %s: %s", p, je.text);
		goto out;
	}
	json_object_set_new(j, "db", json_string(url));
	if (pass_spec != NULL) {
		json_object_set_new(j, "db_pass", json_string(pass_spec));
	}
	text = json_dumps(j, JSON_INDENT(2));
	fs = mtls_fileset_new(1, err);
	if (text == NULL || fs == NULL ||
	    mtls_fileset_add(fs, p, text, strlen(text), MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	free(text);
	json_decref(j);
	free(p);
	return rc;
}

int
mtls_ca_migrate_db(struct mtls_ca *ca, const char *url, const char *pass_spec,
    int force, struct mtls_ca_migrate_counts *n, struct mtls_err *err)
{
	struct mtls_db *src = mtls__inv_db(ca->inv), *dst = NULL;
	int rc = -1;

	memset(n, 0, sizeof(*n));
	if (!mtls__db_is_url(url)) {
		return mtls_err_set(err, MTLS_E_USAGE, "--to takes a "
		    "postgresql:// URL, not '%s'", url);
	}
	if (mtls__db_engine(src) != MTLS_DB_SQLITE) {
		return mtls_err_set(err, MTLS_E_USAGE, "the CA in %s keeps its "
		    "state in %s already", ca->dir, mtls__db_where(src));
	}
	/* The source's write lock for the whole copy: nothing is recorded
	 * in SQLite that would not reach PostgreSQL. */
	if (mtls_ca_lock(ca, err) != 0 || mtls__db_begin(src, err) != 0) {
		return -1;
	}
	if (mtls__migrate_check_tables(src, err) != 0) {
		goto out;
	}
	dst = mtls__db_open(url, pass_spec, 0, err);
	if (dst == NULL || mtls__inv_migrate(dst, 1, err) != 0 ||
	    mtls__db_begin(dst, err) != 0) {
		goto out;
	}
	if (copy_all(src, dst, force, n, err) != 0) {
		mtls__db_rollback(dst);
		goto out;
	}
	if (mtls__db_commit(dst, err) != 0 || record_db(ca, url, pass_spec, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls__db_rollback(src);
	mtls__db_close(dst);
	return rc;
}
