/* mtls issue --batch: many identities, chunked into one inventory
 * transaction and one file sync per chunk. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "cli.h"

#define BATCH_CHUNK 256 /* 3 open files each: stays under 1024 fds */

struct batch_line {
	char *name, *profile, *sans;
	int lineno;
};

struct batch {
	struct batch_line *lines;
	size_t n, cap;
	char *text;
};

static char *
next_field(char **p)
{
	char *s = *p, *start;

	while (*s != '\0' && isspace((unsigned char)*s)) {
		s++;
	}
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	start = s;
	while (*s != '\0' && !isspace((unsigned char)*s)) {
		s++;
	}
	if (*s != '\0') {
		*s++ = '\0';
	}
	*p = s;
	return start;
}

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
		struct batch_line l = {NULL, NULL, NULL, ++lineno};
		char *nl = strchr(line, '\n'), *hash;

		save = nl ? nl + 1 : NULL;
		if (nl != NULL) {
			*nl = '\0';
		}
		hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		l.name = next_field(&line);
		if (l.name == NULL) {
			continue;
		}
		l.profile = next_field(&line);
		l.sans = next_field(&line);
		extra = next_field(&line);
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
batch_chunk(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    struct batch *b, size_t from, size_t to, int force, struct mtls_err *err)
{
	struct mtls_fileset *fs = mtls_fileset_new(force, err);
	size_t i;
	int rc = -1;

	if (fs == NULL || mtls_ca_begin(ca, err) != 0) {
		mtls_fileset_free(fs);
		return -1;
	}
	for (i = from; i < to; i++) {
		struct mtls_identity_opts o = *base;
		X509 *x;

		o.name = b->lines[i].name;
		mtls_profile_parse(b->lines[i].profile, &o.profile, NULL);
		o.sans = b->lines[i].sans;
		x = mtls_identity_issue(ca, &o, fs, err);
		if (x == NULL) {
			char msg[MTLS_ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			mtls_err_set(err, err->code, "batch line %d (%s): %s",
			    b->lines[i].lineno, o.name, msg);
			goto fail;
		}
		X509_free(x);
	}
	if (mtls_ca_commit(ca, err) != 0 || mtls_fileset_commit(fs, err) != 0) {
		goto fail;
	}
	rc = 0;
fail:
	if (rc != 0) {
		mtls_ca_rollback(ca);
	}
	mtls_fileset_free(fs);
	return rc;
}

int batch_issue(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    const char *file, int force, struct mtls_err *err);

int
batch_issue(struct mtls_ca *ca, const struct mtls_identity_opts *base,
    const char *file, int force, struct mtls_err *err)
{
	struct batch b;
	size_t i;
	int rc = -1, tty = cli_is_tty();
	time_t start = time(NULL);

	memset(&b, 0, sizeof(b));
	if (batch_parse(file, &b, err) != 0) {
		goto out;
	}
	for (i = 0; i < b.n; i += BATCH_CHUNK) {
		size_t to = i + BATCH_CHUNK < b.n ? i + BATCH_CHUNK : b.n;

		if (batch_chunk(ca, base, &b, i, to, force, err) != 0) {
			if (i > 0) {
				fprintf(stderr, "mtls: the first %zu certificates were issued; "
				    "the batch stopped at the chunk starting at line %d\n",
				    i, b.lines[i].lineno);
			}
			goto out;
		}
		if (tty) {
			cli_progress(to, b.n, start);
		}
	}
	printf("issued %zu certificates into %s\n", b.n,
	    base->out_dir ? base->out_dir : ".");
	rc = 0;
out:
	free(b.lines);
	free(b.text);
	return rc;
}
