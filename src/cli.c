#include "mtls/clock.h"
#include "mtls/ca.h"
#include "mtls/pki.h"
#include "mtls/inspect.h"
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static int json_errors; /* cli_json_errors was called */

void
cli_json_errors(void)
{
	json_errors = 1;
}

/* The inside of the error object of docs/json.md: "code" is the error
 * table's name without its MTLS_E_ prefix, in lower case. */
static json_t *
json_error_inner(const char *msg, const char *name, int status)
{
	char code[64];
	size_t i;

	if (strncmp(name, "MTLS_E_", 7) == 0) {
		name += 7;
	}
	for (i = 0; name[i] != '\0' && i + 1 < sizeof(code); i++) {
		code[i] = (char)tolower((unsigned char)name[i]);
	}
	code[i] = '\0';
	return json_pack("{s:s, s:s, s:i}", "code", code, "message", msg,
	    "exit_status", status);
}

json_t *
cli_json_error(const struct mtls_err *err)
{
	const char *msg = err->msg[0] != '\0' ? err->msg :
	    mtls_err_name(err->code);

	return json_error_inner(msg, err->code == MTLS_OK ? "MTLS_E_INTERNAL" :
	    mtls_err_name(err->code), err->code == MTLS_OK ? 1 :
	    mtls_err_exit_status(err->code));
}

void
cli_json_print(json_t *doc)
{
	if (doc != NULL) {
		json_dumpf(doc, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		fflush(stdout);
	}
	json_decref(doc);
}

int
cli_json_report(json_t *report, const struct mtls_err *err)
{
	int status = 0;

	if (err != NULL) {
		json_t *e = cli_json_error(err);

		status = (int)json_integer_value(json_object_get(e, "exit_status"));
		json_object_set_new(report, "error", e);
		fprintf(stderr, "mtls: %s\n", err->msg);
	}
	cli_json_print(report);
	return status;
}

static void
json_error_print(const char *msg, const char *name, int status)
{
	json_t *in = json_error_inner(msg, name, status);

	cli_json_print(in != NULL ? json_pack("{s:o}", "error", in) : NULL);
}

json_t *
cli_json_identity(const char *name, const char *profile, const char *dir,
    int p12, X509 *cert)
{
	static const char *const ext[] = {".key", ".crt", ".chain.pem", ".p12"};
	json_t *v = json_object(), *files = json_array();
	char path[4200];
	size_t i;

	for (i = 0; i < (p12 ? 4u : 3u); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir != NULL ? dir : ".",
		    name, ext[i]);
		json_array_append_new(files, json_string(path));
	}
	json_object_set_new(v, "name", json_string(name));
	if (profile != NULL) {
		json_object_set_new(v, "profile", json_string(profile));
	}
	json_object_set_new(v, "files", files);
	json_object_set_new(v, "certificate", mtls_cert_to_json(cert));
	return v;
}

int
cli_stdout_aside(void)
{
	int saved;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved >= 0 && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		close(saved);
		return -1;
	}
	return saved;
}

void
cli_stdout_back(int saved)
{
	if (saved < 0) {
		return;
	}
	fflush(stdout);
	(void)dup2(saved, STDOUT_FILENO);
	close(saved);
}

int
cli_fail(const struct mtls_err *err)
{
	const char *msg = err->msg[0] != '\0' ? err->msg :
	    mtls_err_name(err->code);
	int status = err->code == MTLS_OK ? 1 :
	    mtls_err_exit_status(err->code);

	fprintf(stderr, "mtls: %s\n", msg);
	if (json_errors) {
		json_error_print(msg, err->code == MTLS_OK ? "MTLS_E_INTERNAL" :
		    mtls_err_name(err->code), status);
	}
	return status;
}

json_t *
cli_json_time(time_t t)
{
	char buf[64];

	if (t == 0 ||
	    mtls_time_utc((int64_t)t, MTLS_TIME_RFC3339, buf, sizeof(buf)) == 0) {
		return json_null();
	}
	return json_string(buf);
}

json_t *
cli_json_list(const char *csv)
{
	json_t *a = json_array();
	const char *p = csv, *comma;

	while (a != NULL && p != NULL && *p != '\0') {
		comma = strchr(p, ',');
		if (comma == NULL) {
			comma = p + strlen(p);
		}
		if (comma > p) {
			json_array_append_new(a, json_stringn(p, (size_t)(comma - p)));
		}
		p = *comma == ',' ? comma + 1 : comma;
	}
	return a;
}

json_t *
cli_json_fingerprint(const char *fp)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (fp == NULL || *fp == '\0' ||
	    mtls_fingerprint_hex(fp, hex, sizeof(hex)) != 0) {
		return json_null();
	}
	return json_string(hex);
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	char raw[1024], msg[1024];

	/* The message quotes what was given: escaped, it stays one line. */
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mtls %s: %s (see 'mtls %s --help')\n", cmd,
	    mtls_escape(raw, MTLS_ESC_TEXT, msg, sizeof(msg)), cmd);
	return 2;
}

int
cli_help(const char *usage)
{
	fputs(usage, stdout);
	return 0;
}

int
cli_bad_option(const char *cmd)
{
	/* getopt already printed which option; add where to look. */
	fprintf(stderr, "mtls %s: see 'mtls %s --help'\n", cmd, cmd);
	return 2;
}

int
cli_parse_int(const char *cmd, const char *opt, const char *val, long min,
    long max, long *out)
{
	char *end = NULL;
	long v = strtol(val, &end, 10);

	if (end == val || *end != '\0' || v < min || v > max) {
		return cli_usage(cmd, "%s must be a number from %ld to %ld, not '%s'",
		    opt, min, max, val);
	}
	*out = v;
	return 0;
}

void
cli_warn_dir(const char *dir)
{
	struct stat st;

	if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) {
		return;
	}
	/* A sticky world-writable directory (/tmp) still lets others
	 * create names there first. */
	fprintf(stderr, "mtls: warning: %s is writable by %s: they can "
	    "replace or plant files beside keys; run 'chmod go-w %s'\n", dir,
	    (st.st_mode & S_IWOTH) ? "everyone" : "its group", dir);
}

int
cli_ca_lock(struct mtls_ca *ca, struct mtls_err *err)
{
	const char *r;

	if (mtls_ca_lock(ca, err) != 0) {
		return -1;
	}
	cli_warn_dir(mtls_ca_dir(ca));
	r = mtls_ca_recovery(ca);
	while (r != NULL && *r != '\0') {
		int len = (int)strcspn(r, "\n");

		fprintf(stderr, "mtls: %.*s\n", len, r);
		r += len;
		r += *r == '\n';
	}
	return 0;
}

const char *
cli_ca_dir(const char *opt)
{
	const char *env = getenv("MTLS_CA_DIR");

	if (opt != NULL) {
		return opt;
	}
	if (env != NULL && *env != '\0') {
		return env;
	}
	return "./pki";
}

int
cli_is_tty(void)
{
	return isatty(STDERR_FILENO);
}

void
cli_getopt_reset(void)
{
	optind = 1;
	opterr = 1;
}

int
cli_duration(const char *val, long *seconds)
{
	char *end = NULL;
	long v = strtol(val, &end, 10), mult = 1;

	if (end == val || v < 0) {
		return -1;
	}
	switch (*end) {
	case '\0': case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0') {
		return -1;
	}
	*seconds = v * mult;
	return 0;
}

int
cli_parse_duration(const char *cmd, const char *opt, const char *val,
    long *seconds)
{
	if (cli_duration(val, seconds) != 0) {
		return cli_usage(cmd, "%s wants a duration like 30d, 12h or 2w, not '%s'", opt, val);
	}
	return 0;
}

char *
cli_next_field(char **p)
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

void
cli_progress(size_t done, size_t total, time_t start)
{
	int width = 40, filled = total ? (int)(done * (size_t)width / total) : width;
	double el = difftime(time(NULL), start);
	int i;

	fprintf(stderr, "\r[");
	for (i = 0; i < width; i++) {
		fputc(i < filled ? '#' : '.', stderr);
	}
	fprintf(stderr, "] %zu/%zu", done, total);
	if (el > 0) {
		fprintf(stderr, " (%.0f/s)", (double)done / el);
	}
	if (done == total) {
		fputc('\n', stderr);
	}
	fflush(stderr);
}

/* HOST:PORT:ADDR with a numeric port; the library checks it again. */
static int
resolve_entry_ok(const char *e)
{
	const char *c1 = strchr(e, ':'), *c2;

	if (c1 == NULL || c1 == e) {
		return 0;
	}
	c2 = strchr(c1 + 1, ':');
	if (c2 == NULL || c2 == c1 + 1 || c2[1] == '\0') {
		return 0;
	}
	return strspn(c1 + 1, "0123456789") == (size_t)(c2 - c1 - 1) &&
	    strpbrk(e, ", \t\n") == NULL;
}

static int
resolve_append(const char *cmd, char **list, const char *entry, size_t n)
{
	size_t old = *list != NULL ? strlen(*list) : 0;
	char *nl = realloc(*list, old + n + 2);

	if (nl == NULL) {
		return cli_usage(cmd, "out of memory");
	}
	if (old > 0) {
		nl[old++] = ',';
	}
	memcpy(nl + old, entry, n);
	nl[old + n] = '\0';
	*list = nl;
	return 0;
}

int
cli_resolve_add(const char *cmd, char **list, const char *entry)
{
	if (!resolve_entry_ok(entry)) {
		return cli_usage(cmd, "--resolve wants HOST:PORT:ADDR (e.g. "
		    "publish.example:8443:127.0.0.1), not '%s'", entry);
	}
	return resolve_append(cmd, list, entry, strlen(entry));
}

int
cli_resolve_env(const char *cmd, char **list)
{
	const char *p = getenv("MTLS_RESOLVE");

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ", \t\n");
		char e[400];

		if (n > 0) {
			if (n >= sizeof(e)) {
				return cli_usage(cmd, "MTLS_RESOLVE: entry too long");
			}
			memcpy(e, p, n);
			e[n] = '\0';
			if (!resolve_entry_ok(e)) {
				return cli_usage(cmd, "MTLS_RESOLVE wants "
				    "HOST:PORT:ADDR entries separated by "
				    "commas, not '%s'", e);
			}
			if (resolve_append(cmd, list, e, n) != 0) {
				return 2;
			}
		}
		p += n;
		p += strspn(p, ", \t\n");
	}
	return 0;
}

void
cli_utc(time_t t, char *buf, size_t len)
{
	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	mtls_time_utc((int64_t)t, MTLS_TIME_RFC3339, buf, len);
}

int
cli_list_add(const char *cmd, const char *opt, char **list, const char *val)
{
	size_t old = *list ? strlen(*list) : 0, n = old + strlen(val) + 2;
	char *p = realloc(*list, n);

	if (p == NULL) {
		return cli_usage(cmd, "%s: out of memory", opt);
	}
	snprintf(p + old, n - old, "%s%s", old > 0 ? "," : "", val);
	*list = p;
	return 0;
}

int
cli_cert_policy_add(const char *cmd, char **list, const char *val)
{
	struct mtls_err err;

	mtls_err_clear(&err);
	if (mtls_policy_oid_check(val, &err) != 0) {
		return cli_usage(cmd, "--cert-policy: %s", err.msg);
	}
	return cli_list_add(cmd, "--cert-policy", list, val);
}
