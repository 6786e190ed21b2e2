/* see deploy.h */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "deploy.h"

void
deploy_args_add(char *args, size_t len, const char *opt, const char *val)
{
	size_t used = strlen(args);

	snprintf(args + used, len - used, "%s%s%s%s", used ? "\t" : "", opt,
	    val != NULL ? "\t" : "", val != NULL ? val : "");
}

void
deploy_args_pass(char *args, size_t len, const char *spec)
{
	if (spec != NULL && (strncmp(spec, "env:", 4) == 0 ||
	    strncmp(spec, "file:", 5) == 0)) {
		deploy_args_add(args, len, "--pass", spec);
	}
}

/* PATH made absolute without requiring it to exist yet: the directory
 * part is resolved, the last component kept. */
static int
absolute(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = path;

	if (realpath(path, real) != NULL) {
		return snprintf(out, len, "%s", real) < (int)len ? 0 : -1;
	}
	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path),
		    path);
		base = slash + 1;
	}
	if (realpath(dir, real) == NULL) {
		return -1;
	}
	return snprintf(out, len, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
	    base) < (int)len ? 0 : -1;
}

void
deploy_note_ca(struct mtls_ca *ca, const char *name, const char *path,
    const char *format, const char *args)
{
	struct mtls_deployment d;
	struct mtls_err err;
	char abs[PATH_MAX];

	mtls_err_clear(&err);
	if (absolute(path, abs, sizeof(abs)) != 0) {
		fprintf(stderr, "mtls: warning: cannot record where %s went (%s): "
		    "renew will not rewrite it\n", name, path);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.name = name;
	d.path = abs;
	d.format = format;
	d.args = args;
	if (mtls_ca_deploy_record(ca, &d, &err) != 0) {
		fprintf(stderr, "mtls: warning: %s was written, but not recorded "
		    "in the inventory (%s): renew will not rewrite it\n", abs,
		    err.msg);
	}
}

void
deploy_note_issued(struct mtls_ca *ca, const struct mtls_identity_opts *id,
    const char *p12_pass_spec)
{
	const char *dir = id->out_dir ? id->out_dir : ".";
	char args[DEPLOY_ARGS_MAX] = "", p12[PATH_MAX + 64];

	deploy_note_ca(ca, id->name, dir, "files", "");
	/* NAME.p12 is a copy like an export's: renew writes it again, in
	 * the same algorithms, with the same password reference. */
	if (!id->p12) {
		return;
	}
	snprintf(p12, sizeof(p12), "%s/%s.p12", dir, id->name);
	deploy_args_add(args, sizeof(args), "--to", "p12");
	if (id->p12_legacy) {
		deploy_args_add(args, sizeof(args), "--legacy", NULL);
	}
	deploy_args_pass(args, sizeof(args), p12_pass_spec);
	deploy_note_ca(ca, id->name, p12, id->p12_legacy ? "p12-legacy" : "p12",
	    args);
}

void
deploy_note(const char *ca_dir, const char *name, const char *path,
    const char *format, const char *args)
{
	struct mtls_err err;
	struct mtls_ca *ca;
	char probe[PATH_MAX + 16];

	/* No CA here (a node that only received its files): nothing to note. */
	snprintf(probe, sizeof(probe), "%s/ca.crt", ca_dir);
	if (access(probe, F_OK) != 0) {
		return;
	}
	mtls_err_clear(&err);
	ca = mtls_ca_open(ca_dir, &err);
	if (ca == NULL) {
		fprintf(stderr, "mtls: warning: %s was written, but not recorded "
		    "in the inventory (%s): renew will not rewrite it\n", path,
		    err.msg);
		return;
	}
	deploy_note_ca(ca, name, path, format, args);
	mtls_ca_free(ca);
}

struct files_dir {
	char *buf;
	size_t len;
	int found;
};

static int
last_files(const struct mtls_deployment *d, void *arg)
{
	struct files_dir *f = arg;

	/* Rows come in record order within a format: the last one wins. */
	if (strcmp(d->format, "files") == 0) {
		snprintf(f->buf, f->len, "%s", d->path);
		f->found = 1;
	}
	return 0;
}

int
deploy_files_dir(struct mtls_ca *ca, const char *name, char *buf, size_t len)
{
	struct files_dir f = {buf, len, 0};
	struct mtls_err err;

	mtls_err_clear(&err);
	if (mtls_ca_deployments(ca, name, last_files, &f, &err) != 0) {
		return -1;
	}
	return f.found ? 0 : -1;
}

/* One copy: the recorded options, then the renewed files as input and
 * the copy's own path as output, replacing it (the previous copy is what
 * --force replaces; every writer stages beside it and renames). */
#define REDO_ARGV_MAX 64

struct rewrite {
	const char *name;
	const struct deploy_redo *r;
	int failed, done;
	char **paths, **formats, **args; /* copied: the walk's rows are borrowed */
	size_t n;
};

static int
collect(const struct mtls_deployment *d, void *arg)
{
	struct rewrite *w = arg;
	char **p, **f, **a;

	if (strcmp(d->format, "files") == 0) {
		return 0;
	}
	p = realloc(w->paths, (w->n + 1) * sizeof(*p));
	if (p == NULL) {
		return -1;
	}
	w->paths = p;
	f = realloc(w->formats, (w->n + 1) * sizeof(*f));
	if (f == NULL) {
		return -1;
	}
	w->formats = f;
	a = realloc(w->args, (w->n + 1) * sizeof(*a));
	if (a == NULL) {
		return -1;
	}
	w->args = a;
	w->paths[w->n] = strdup(d->path);
	w->formats[w->n] = strdup(d->format);
	w->args[w->n] = strdup(d->args);
	w->n++;
	return w->paths[w->n - 1] && w->formats[w->n - 1] && w->args[w->n - 1]
	    ? 0 : -1;
}

static int
redo_one(struct rewrite *w, const char *path, const char *format, char *args)
{
	char *argv[REDO_ARGV_MAX + 1], *tok, *save = NULL;
	int argc = 0, bundle = strncmp(format, "bundle:", 7) == 0, rc, has_pass = 0;
	char line[DEPLOY_ARGS_MAX + 64];

	argv[argc++] = bundle ? "bundle" : "export";
	argv[argc++] = (char *)w->name;
	snprintf(line, sizeof(line), "%s", args);
	for (tok = line; *tok != '\0'; tok++) {
		*tok = *tok == '\t' ? ' ' : *tok;
	}
	for (tok = strtok_r(args, "\t", &save); tok != NULL && argc < REDO_ARGV_MAX - 12;
	    tok = strtok_r(NULL, "\t", &save)) {
		has_pass |= strcmp(tok, "--pass") == 0;
		argv[argc++] = tok;
	}
	if (!has_pass && w->r->store_pass != NULL &&
	    (bundle ? strstr(format, "tomcat") || strstr(format, "activemq") ||
		strstr(format, "java")
		    : strcmp(format, "p12") == 0 || strcmp(format, "p12-legacy") == 0 ||
		strcmp(format, "jks") == 0)) {
		argv[argc++] = "--pass";
		argv[argc++] = (char *)w->r->store_pass;
	}
	if (w->r->key_pass != NULL) {
		argv[argc++] = "--key-pass";
		argv[argc++] = (char *)w->r->key_pass;
	}
	argv[argc++] = "--from";
	argv[argc++] = (char *)w->r->files_dir;
	argv[argc++] = "--out";
	argv[argc++] = (char *)path;
	argv[argc++] = "--ca-dir";
	argv[argc++] = (char *)w->r->ca_dir;
	argv[argc++] = "--force";
	argv[argc] = NULL;
	cli_getopt_reset();
	optind = 0; /* glibc: start a fresh scan of the new argv */
	rc = bundle ? cmd_bundle(argc, argv) : cmd_export(argc, argv);
	if (rc != 0) {
		fprintf(stderr, "mtls: %s (%s) still holds the old certificate; "
		    "write it again with 'mtls %s %s %s --from %s --out %s "
		    "--force'%s\n", path, format, bundle ? "bundle" : "export",
		    w->name, line, w->r->files_dir, path, has_pass ? "" :
		    " (a password given as pass:, fd: or stdin is not recorded: "
		    "give renew --store-pass)");
	}
	return rc;
}

int
deploy_rewrite(struct mtls_ca *ca, const char *name,
    const struct deploy_redo *r)
{
	struct rewrite w;
	struct mtls_err err;
	size_t i;

	memset(&w, 0, sizeof(w));
	w.name = name;
	w.r = r;
	mtls_err_clear(&err);
	if (mtls_ca_deployments(ca, name, collect, &w, &err) != 0) {
		fprintf(stderr, "mtls: reading where %s is deployed: %s\n", name,
		    err.msg);
		w.failed++;
	}
	for (i = 0; i < w.n; i++) {
		if (w.paths[i] != NULL && w.formats[i] != NULL && w.args[i] != NULL) {
			w.failed += redo_one(&w, w.paths[i], w.formats[i],
			    w.args[i]) != 0;
		}
		free(w.paths[i]);
		free(w.formats[i]);
		free(w.args[i]);
	}
	free(w.paths);
	free(w.formats);
	free(w.args);
	return w.failed;
}
