/* see mtls/err.h */
#include "mtls/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "base/internal.h"

static const struct {
	const char *name;
	int status;
} codes[] = {
#define MTLS_X_ROW(n, s, m) {#n, s},
	MTLS_ERR_CODES(MTLS_X_ROW)
#undef MTLS_X_ROW
};

void
mtls_err_clear(struct mtls_err *err)
{
	if (err == NULL) {
		return;
	}
	err->code = MTLS_OK;
	err->msg[0] = '\0';
}

static void
err_vset(struct mtls_err *err, enum mtls_errcode code, const char *fmt,
    va_list ap)
{
	char raw[sizeof(err->msg)];

	err->code = code;
	/* Messages quote what users and peers gave (a file's line, a name,
	 * a URL): escaped once here, no caller can print a raw newline or
	 * terminal sequence through one. RAW also lets FMT quote err->msg. */
	vsnprintf(raw, sizeof(raw), fmt, ap);
	mtls_escape(raw, MTLS_ESC_TEXT, err->msg, sizeof(err->msg));
}

int
mtls_err_set(struct mtls_err *err, enum mtls_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL) {
		return -1;
	}
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

static void
err_append(struct mtls_err *err, const char *s)
{
	size_t len = strlen(err->msg);

	if (len < sizeof(err->msg) - 1) {
		mtls_escape(s, MTLS_ESC_TEXT, err->msg + len, sizeof(err->msg) - len);
	}
}

/* Turns the queue into "reason (lib), reason" without OpenSSL's codes. */
static void
err_append_queue(struct mtls_err *err)
{
	unsigned long e;
	const char *data = NULL;
	int flags = 0;
	int first = 1;
	char buf[256];

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		const char *reason = ERR_reason_error_string(e);

		if (reason == NULL) {
			snprintf(buf, sizeof(buf), "error %lu", e);
			reason = buf;
		}
		err_append(err, first ? ": " : "; ");
		err_append(err, reason);
		if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0') {
			err_append(err, " (");
			err_append(err, data);
			err_append(err, ")");
		}
		first = 0;
	}
	ERR_clear_error();
}

int
mtls_err_ssl(struct mtls_err *err, enum mtls_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL) {
		ERR_clear_error();
		return -1;
	}
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	err_append_queue(err);
	return -1;
}

int
mtls_err_sys(struct mtls_err *err, enum mtls_errcode code, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (err == NULL) {
		return -1;
	}
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	err_append(err, ": ");
	err_append(err, strerror(saved));
	if (saved == ENOSPC || saved == EDQUOT) {
		/* Say what to do, not only what happened. */
		err_append(err, " (the file system is full: free space on it, "
		    "see df, and run the command again)");
	}
	errno = saved;
	return -1;
}

const char *
mtls_err_name(enum mtls_errcode code)
{
	if ((size_t)code >= sizeof(codes) / sizeof(codes[0])) {
		return "MTLS_E_UNKNOWN";
	}
	return codes[code].name;
}

int
mtls_err_exit_status(enum mtls_errcode code)
{
	if ((size_t)code >= sizeof(codes) / sizeof(codes[0])) {
		return 1;
	}
	return codes[code].status;
}

const char *
mtls_version(void)
{
	return MTLS_VERSION;
}
