/* see mtls/diag.h: the report that probe and doctor fill in */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag/diag_int.h"
#include "base/internal.h"

struct item {
	struct mtls_finding f;
	char *key, *subject, *message, *fix;
};

struct mtls_report {
	struct item *items;
	size_t n, cap;
	char **lines;
	size_t nlines, caplines;
	json_t *details;
};

static const char *const sev_names[] = {"ok", "info", "warn", "error"};

const char *
mtls_severity_name(enum mtls_severity sev)
{
	if ((size_t)sev >= MTLS_ARRAY_LEN(sev_names)) {
		return "?";
	}
	return sev_names[sev];
}

struct mtls_report *
mtls__report_new(void)
{
	struct mtls_report *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		return NULL;
	}
	r->details = json_object();
	if (r->details == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
mtls_report_free(struct mtls_report *r)
{
	size_t i;

	if (r == NULL) {
		return;
	}
	for (i = 0; i < r->n; i++) {
		free(r->items[i].key);
		free(r->items[i].subject);
		free(r->items[i].message);
		free(r->items[i].fix);
	}
	for (i = 0; i < r->nlines; i++) {
		free(r->lines[i]);
	}
	free(r->items);
	free(r->lines);
	json_decref(r->details);
	free(r);
}

static char *
vfmt(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (s != NULL) {
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	}
	return s;
}

void
mtls__report_add(struct mtls_report *r, enum mtls_severity sev, const char *key,
    const char *subject, const char *fix, const char *fmt, ...)
{
	struct item *it;
	va_list ap;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct item *ni = realloc(r->items, cap * sizeof(*ni));

		if (ni == NULL) {
			return;
		}
		r->items = ni;
		r->cap = cap;
	}
	it = &r->items[r->n];
	memset(it, 0, sizeof(*it));
	va_start(ap, fmt);
	it->message = vfmt(fmt, ap);
	va_end(ap);
	it->key = mtls__strdup(key);
	it->subject = mtls__strdup(subject);
	it->fix = mtls__strdup(fix);
	if (it->message == NULL || it->key == NULL) {
		free(it->message);
		free(it->key);
		free(it->subject);
		free(it->fix);
		return;
	}
	it->f.sev = sev;
	it->f.key = it->key;
	it->f.subject = it->subject;
	it->f.message = it->message;
	it->f.fix = it->fix;
	r->n++;
}

void
mtls__report_line(struct mtls_report *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (r->nlines == r->caplines) {
		size_t cap = r->caplines ? r->caplines * 2 : 32;
		char **nl = realloc(r->lines, cap * sizeof(*nl));

		if (nl == NULL) {
			return;
		}
		r->lines = nl;
		r->caplines = cap;
	}
	va_start(ap, fmt);
	s = vfmt(fmt, ap);
	va_end(ap);
	if (s != NULL) {
		r->lines[r->nlines++] = s;
	}
}

json_t *
mtls__report_json(struct mtls_report *r)
{
	return r->details;
}

size_t
mtls_report_count(const struct mtls_report *r)
{
	return r->n;
}

const struct mtls_finding *
mtls_report_get(const struct mtls_report *r, size_t i)
{
	return i < r->n ? &r->items[i].f : NULL;
}

const struct mtls_finding *
mtls_report_find(const struct mtls_report *r, const char *key,
    const char *subject)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct mtls_finding *f = &r->items[i].f;

		if (strcmp(f->key, key) != 0) {
			continue;
		}
		if (subject == NULL ||
		    (f->subject != NULL && strcmp(f->subject, subject) == 0)) {
			return f;
		}
	}
	return NULL;
}

enum mtls_severity
mtls_report_worst(const struct mtls_report *r)
{
	enum mtls_severity w = MTLS_SEV_OK;
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (r->items[i].f.sev > w) {
			w = r->items[i].f.sev;
		}
	}
	return w;
}

size_t
mtls_report_line_count(const struct mtls_report *r)
{
	return r->nlines;
}

const char *
mtls_report_line(const struct mtls_report *r, size_t i)
{
	return i < r->nlines ? r->lines[i] : NULL;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

char *
mtls_report_json(const struct mtls_report *r)
{
	json_t *root = json_deep_copy(r->details);
	json_t *arr = json_array();
	char *out = NULL;
	size_t i;

	if (root == NULL || arr == NULL) {
		goto out;
	}
	for (i = 0; i < r->n; i++) {
		const struct mtls_finding *f = &r->items[i].f;
		json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:o}", "severity",
		    mtls_severity_name(f->sev), "check", f->key, "about",
		    str_or_null(f->subject), "message", f->message, "fix",
		    str_or_null(f->fix));

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			goto out;
		}
	}
	if (json_object_set(root, "findings", arr) != 0 ||
	    json_object_set_new(root, "worst",
		json_string(mtls_severity_name(mtls_report_worst(r)))) != 0) {
		goto out;
	}
	out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(arr);
	json_decref(root);
	return out;
}

int
mtls_doctor_exit_status(const struct mtls_report *r)
{
	switch (mtls_report_worst(r)) {
	case MTLS_SEV_ERROR:
		return 1;
	case MTLS_SEV_WARN:
		return 3;
	case MTLS_SEV_OK:
	case MTLS_SEV_INFO:
	default:
		return 0;
	}
}
