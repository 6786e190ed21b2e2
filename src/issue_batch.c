/* mtls issue --batch: many identities, chunked into one inventory
 * transaction and one file sync per chunk. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "cli.h"
#include "deploy.h"

#define BATCH_CHUNK 256 /* at most per transaction */
#define CHUNK_SECONDS 1.0 /* of work per hold of the CA lock */

struct batch_line {
	char *name, *profile, *sans;
	int lineno;
	int done; /* issued by an earlier run */
};

struct batch {
	struct batch_line *lines;
	size_t n, cap;
	char *text;
	const char *p12_pass_spec; /* recorded with each NAME.p12 */
	json_t *issued; /* --json: each issued identity, as issue prints it */
};

static int
batch_push(struct batch *b, struct batch_line *l, struct mtls_err *err)
{
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 256;
		struct batch_line *nl = realloc(b->lines, ncap * sizeof(*nl));

		if (nl == NULL) {
			return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		}
		b->lines = nl;
		b->cap = ncap;
	}
	b->lines[b->n++] = *l;
	return 0;
}

/* Parses the whole file first, so a typo on line 900 stops the batch
 * before anything is issued. */
static int
batch_parse(const char *file, struct batch *b, struct mtls_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char *line, *save = NULL, *extra;
	int lineno = 0;
	enum mtls_profile p;
	struct mtls_err perr;

	if (mtls_file_read(file, 64u << 20, &data, &len, err) != 0) {
		return -1;
	}
	b->text = (char *)data;
	for (line = b->text; line != NULL; line = save) {
		struct batch_line l = {NULL, NULL, NULL, ++lineno, 0};
		char *nl = strchr(line, '\n'), *hash;

		save = nl ? nl + 1 : NULL;
		if (nl != NULL) {
			*nl = '\0';
		}
		hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		l.name = cli_next_field(&line);
		if (l.name == NULL) {
			continue;
		}
		l.profile = cli_next_field(&line);
		l.sans = cli_next_field(&line);
		extra = cli_next_field(&line);
		if (l.profile == NULL || extra != NULL) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "%s line %d: expected 'NAME PROFILE [SANLIST]'", file,
			    lineno);
		}
		if (mtls_profile_parse(l.profile, &p, &perr) != 0) {
			return mtls_err_set(err, MTLS_E_USAGE, "%s line %d: %s", file,
			    lineno, perr.msg);
		}
		if (batch_push(b, &l, err) != 0) {
			return -1;
		}
	}
	if (b->n == 0) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "%s has no entries (one 'NAME PROFILE [SANLIST]' per line)", file);
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct batch_line *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Every line checked before anything is issued: names, SANs and
 * duplicates (two lines for one name would leave two valid certificates
 * and one set of files). */
static int
batch_check(const char *file, const struct mtls_identity_opts *base,
    struct batch *b, struct mtls_err *err)
{
	struct batch_line **sorted = calloc(b->n, sizeof(*sorted));
	size_t i;
	int rc = -1;

	if (sorted == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < b->n; i++) {
		struct mtls_identity_opts o = *base;
		struct mtls_err e;

		o.name = b->lines[i].name;
		mtls_profile_parse(b->lines[i].profile, &o.profile, NULL);
		o.sans = b->lines[i].sans;
		mtls_err_clear(&e);
		if (mtls_identity_validate(&o, &e) != 0) {
			mtls_err_set(err, e.code, "%s line %d: %s", file,
			    b->lines[i].lineno, e.msg);
			goto out;
		}
		sorted[i] = &b->lines[i];
	}
	qsort(sorted, b->n, sizeof(*sorted), name_cmp);
	for (i = 1; i < b->n; i++) {
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
			const struct batch_line *x = sorted[i - 1], *y = sorted[i];

			mtls_err_set(err, MTLS_E_USAGE, "%s lines %d and %d both "
			    "name '%s'; nothing was issued", file,
			    x->lineno < y->lineno ? x->lineno : y->lineno,
			    x->lineno < y->lineno ? y->lineno : x->lineno, x->name);
			goto out;
		}
	}
	rc = 0;
out:
	free(sorted);
	return rc;
}

static int
file_exists(const char *dir, const char *name, const char *ext)
{
	char p[4400];

	snprintf(p, sizeof(p), "%s/%s%s", dir, name, ext);
	return access(p, F_OK) == 0;
}

/* Without --force, a re-run after a kill (or a stop) finishes the rest:
 * a line whose certificate is valid in the inventory and whose files are
 * in place is done. Any other existing file stops the batch before
 * anything is written. */
static int
batch_plan(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    struct batch *b, int force, size_t *skipped, struct mtls_err *err)
{
	const char *dir = base->out_dir ? base->out_dir : ".";
	static const char *const exts[] = {".key", ".crt", ".chain.pem", ".p12"};
	size_t i, k, nexts = base->p12 ? 4 : 3;
	char serial[128];

	*skipped = 0;
	for (i = 0; i < b->n; i++) {
		struct batch_line *l = &b->lines[i];
		int have = 0;

		for (k = 0; k < nexts; k++) {
			have += file_exists(dir, l->name, exts[k]);
		}
		if (force || have == 0) {
			continue;
		}
		if (have == (int)nexts &&
		    mtls_ca_current(ca, l->name, serial, sizeof(serial), NULL) == 0) {
			l->done = 1;
			(*skipped)++;
			continue;
		}
		for (k = 0; k < nexts && !file_exists(dir, l->name, exts[k]); k++) {
		}
		return mtls_err_set(err, MTLS_E_EXISTS, "batch line %d: %s/%s%s "
		    "already exists; use --force to replace it (nothing was "
		    "issued)", l->lineno, dir, l->name, exts[k < nexts ? k : 0]);
	}
	return 0;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Keys for the lines from AT on, made without the CA lock (RSA keys take
 * long), until CHUNK_SECONDS or BATCH_CHUNK keys; returns the end. */
static size_t
batch_keys(const struct mtls_identity_opts *base, struct batch *b, size_t at,
    EVP_PKEY **keys, struct mtls_err *err)
{
	struct timespec t0;
	size_t i, n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = at; i < b->n && n < BATCH_CHUNK &&
	     (n == 0 || seconds_since(&t0) < CHUNK_SECONDS); i++) {
		if (b->lines[i].done) {
			continue;
		}
		keys[i - at] = mtls_key_generate(base->key_type, err);
		if (keys[i - at] == NULL) {
			return (size_t)-1;
		}
		n++;
	}
	return i;
}

/* Issues lines from *AT on, in one transaction and one file commit. The
 * keys are made first, outside the lock, so the lock is held only to
 * sign, record and place: other commands wait a moment, not a batch. */
static int
batch_chunk(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    struct batch *b, size_t *at, int force, size_t *issued, struct mtls_err *err)
{
	struct mtls_fileset *fs = NULL;
	EVP_PKEY *keys[BATCH_CHUNK] = {NULL};
	X509 *certs[BATCH_CHUNK] = {NULL};
	size_t i, n = 0, end, k;
	char what[64];
	int rc = -1;

	end = batch_keys(base, b, *at, keys, err);
	if (end == (size_t)-1) {
		goto out;
	}
	fs = mtls_fileset_new(force, err);
	if (fs == NULL || cli_ca_lock(ca, err) != 0 || mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	for (i = *at; i < end; i++) {
		struct mtls_identity_opts o = *base;
		char old[128];
		X509 *x;

		if (b->lines[i].done) {
			continue;
		}
		o.reuse_key = keys[i - *at];
		o.name = b->lines[i].name;
		mtls_profile_parse(b->lines[i].profile, &o.profile, NULL);
		o.sans = b->lines[i].sans;
		/* --force regenerates: the previous certificate goes, as for
		 * a single issue. */
		x = NULL;
		if (!force || mtls_ca_current(ca, o.name, old, sizeof(old), NULL) != 0 ||
		    mtls_ca_revoke(ca, old, 1 /* keyCompromise */, 0, err) == 0) {
			x = mtls_identity_issue(ca, &o, fs, err);
		}
		if (x == NULL) {
			char msg[MTLS_ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			mtls_err_set(err, err->code, "batch line %d (%s): %s",
			    b->lines[i].lineno, o.name, msg);
			mtls_ca_rollback(ca);
			goto out;
		}
		certs[i - *at] = x;
		/* Where it went, recorded in the same transaction as the
		 * certificate: renew rewrites NAME's files there, as after
		 * a single issue. */
		deploy_note_issued(ca, &o, b->p12_pass_spec);
		n++;
	}
	snprintf(what, sizeof(what), "issue --batch (%zu certificates)", n);
	if (mtls_ca_commit_files(ca, fs, what, err) != 0) {
		goto out;
	}
	for (i = *at; i < end; i++) {
		if (certs[i - *at] != NULL && b->issued != NULL) {
			json_array_append_new(b->issued, cli_json_identity(
			    b->lines[i].name, b->lines[i].profile, base->out_dir,
			    base->p12, certs[i - *at]));
		}
	}
	/* Let a waiting command in between chunks. */
	mtls_ca_release(ca);
	*at = end;
	*issued += n;
	rc = 0;
out:
	mtls_fileset_free(fs);
	for (k = 0; k < BATCH_CHUNK; k++) {
		EVP_PKEY_free(keys[k]);
		X509_free(certs[k]);
	}
	return rc;
}

int batch_issue(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    const char *file, int force, int json, const char *p12_pass_spec,
    struct mtls_err *err);

/* --json: {issued, skipped}, with the error object when the batch stopped
 * (what was issued before is in place); returns the exit status, which
 * batch_issue returns as it is (the error is reported). */
static int
batch_json(const struct batch *b, const struct mtls_err *err)
{
	json_t *v, *skipped = json_array();
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (b->lines[i].done) {
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "name",
			    b->lines[i].name, "reason", "issued by an earlier run"));
		}
	}
	v = json_pack("{s:O, s:o}", "issued", b->issued, "skipped", skipped);
	return cli_json_report(v, err);
}

int
batch_issue(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    const char *file, int force, int json, const char *p12_pass_spec,
    struct mtls_err *err)
{
	struct batch b;
	size_t at = 0, issued = 0, skipped = 0;
	int rc = -1, tty = cli_is_tty();
	time_t start = time(NULL);

	memset(&b, 0, sizeof(b));
	b.p12_pass_spec = p12_pass_spec;
	if (batch_parse(file, &b, err) != 0 || batch_check(file, base, &b, err) != 0 ||
	    cli_ca_lock(ca, err) != 0 ||
	    batch_plan(ca, base, &b, force, &skipped, err) != 0) {
		goto out;
	}
	mtls_ca_release(ca);
	if (json) {
		b.issued = json_array();
		tty = 0;
	}
	while (at < b.n) {
		if (batch_chunk(ca, base, &b, &at, force, &issued, err) != 0) {
			if (issued > 0) {
				fprintf(stderr, "mtls: %zu certificates were issued "
				    "before this error; run the same command again "
				    "to issue the rest\n", issued);
			}
			if (json) {
				rc = batch_json(&b, err);
				goto out;
			}
			goto out;
		}
		if (tty) {
			cli_progress(at, b.n, start);
		}
	}
	if (json) {
		rc = batch_json(&b, NULL);
		goto out;
	}
	printf("issued %zu certificates into %s\n", issued,
	    base->out_dir ? base->out_dir : ".");
	if (skipped > 0) {
		printf("  %zu already issued by an earlier run were left as they "
		    "are\n", skipped);
	}
	rc = 0;
out:
	json_decref(b.issued);
	free(b.lines);
	free(b.text);
	return rc;
}
