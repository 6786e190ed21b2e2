/* see mtls/pass.h */
#define _GNU_SOURCE
#include "mtls/pass.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mtls/file.h"
#include "base/internal.h"

#define PASS_MAX 4096

/* First line of what FD holds, without its line ending. Reads one byte at
 * a time so nothing past the line is consumed from a shared descriptor.
 * End of input before any byte, a read error, or a line longer than
 * PASS_MAX are errors naming SOURCE: none may become an empty or a cut
 * password. */
static char *
read_line_fd(int fd, const char *source, struct mtls_err *err)
{
	char *buf = OPENSSL_zalloc(PASS_MAX + 2);
	size_t n = 0;
	int got = 0;

	if (buf == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			mtls_err_sys(err, MTLS_E_PASSWORD, "cannot read the "
			    "password from %s", source);
			OPENSSL_clear_free(buf, PASS_MAX + 2);
			return NULL;
		}
		if (r == 0 && !got) {
			mtls_err_set(err, MTLS_E_PASSWORD, "%s ended before a "
			    "password was read", source);
			OPENSSL_clear_free(buf, PASS_MAX + 2);
			return NULL;
		}
		if (r == 0 || c == '\n') {
			break;
		}
		got = 1;
		if (n == PASS_MAX) {
			mtls_err_set(err, MTLS_E_PASSWORD, "the password from %s "
			    "is longer than %d bytes", source, PASS_MAX);
			OPENSSL_clear_free(buf, PASS_MAX + 2);
			return NULL;
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r') {
		buf[--n] = '\0';
	}
	return buf;
}

static char *
pass_from_file(const char *path, struct mtls_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0, i;
	char *p;

	if (mtls_file_read(path, PASS_MAX + 2, &data, &len, err) != 0) {
		return NULL;
	}
	for (i = 0; i < len && data[i] != '\n' && data[i] != '\r'; i++) {
	}
	if (i > PASS_MAX) {
		mtls_file_free(data, len);
		mtls_err_set(err, MTLS_E_PASSWORD, "the password in %s is longer "
		    "than %d bytes", path, PASS_MAX);
		return NULL;
	}
	p = OPENSSL_zalloc(i + 1);
	if (p != NULL) {
		memcpy(p, data, i);
	}
	mtls_file_free(data, len);
	return p;
}

static mtls_pass_prompt_cb *prompt_cb;
static void *prompt_arg;

void
mtls_pass_set_prompt(mtls_pass_prompt_cb *cb, void *arg)
{
	prompt_cb = cb;
	prompt_arg = arg;
}

int
mtls__pass_can_prompt(void)
{
	return prompt_cb != NULL;
}

static char *
prompt_once(const char *prompt, struct mtls_err *err)
{
	char *buf = OPENSSL_zalloc(PASS_MAX + 2);
	int n;

	if (buf == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	n = prompt_cb(prompt, buf, PASS_MAX + 1, prompt_arg);
	if (n < 0 || n > PASS_MAX) {
		OPENSSL_clear_free(buf, PASS_MAX + 2);
		mtls_err_set(err, MTLS_E_PASSWORD, "no password was entered");
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static char *
pass_prompt(const char *prompt, int confirm, struct mtls_err *err)
{
	char *a = prompt_once(prompt, err), *b;

	if (a == NULL || !confirm) {
		return a;
	}
	b = prompt_once("Verifying - enter the same password again: ", err);
	if (b == NULL) {
		mtls_pass_free(a);
		return NULL;
	}
	if (b == NULL || strcmp(a, b) != 0) {
		mtls_pass_free(a);
		mtls_pass_free(b);
		mtls_err_set(err, MTLS_E_PASSWORD,
		    "the two passwords differ; nothing was written");
		return NULL;
	}
	mtls_pass_free(b);
	return a;
}

static char *
pass_from_fd_spec(const char *num, struct mtls_err *err)
{
	char *end = NULL, src[32];
	long fd;

	errno = 0;
	fd = strtol(num, &end, 10);
	if (errno != 0 || end == num || *end != '\0' || fd < 0 || fd > 65535) {
		mtls_err_set(err, MTLS_E_USAGE,
		    "bad password source fd:... (not repeated here): expected "
		    "fd:N with a descriptor number");
		return NULL;
	}
	snprintf(src, sizeof(src), "fd:%ld", fd);
	return read_line_fd((int)fd, src, err);
}

char *
mtls_pass_get(const char *spec, const char *prompt, int confirm,
    struct mtls_err *err)
{
	char *p = NULL;

	if (spec == NULL) {
		if (prompt != NULL && prompt_cb != NULL) {
			return pass_prompt(prompt, confirm, err);
		}
		mtls_err_set(err, MTLS_E_PASSWORD,
		    "a password is needed: give --pass with pass:, env:, "
		    "file:, fd: or stdin");
		return NULL;
	}
	if (strncmp(spec, "pass:", 5) == 0) {
		p = OPENSSL_strdup(spec + 5);
	} else if (strncmp(spec, "env:", 4) == 0) {
		const char *v = getenv(spec + 4);

		if (v == NULL) {
			mtls_err_set(err, MTLS_E_PASSWORD,
			    "environment variable %s is not set", spec + 4);
			return NULL;
		}
		p = OPENSSL_strdup(v);
	} else if (strncmp(spec, "file:", 5) == 0) {
		return pass_from_file(spec + 5, err);
	} else if (strncmp(spec, "fd:", 3) == 0) {
		p = pass_from_fd_spec(spec + 3, err);
		if (p == NULL) {
			return NULL;
		}
	} else if (strcmp(spec, "stdin") == 0) {
		return read_line_fd(STDIN_FILENO, "stdin", err);
	} else {
		/* Never repeated: it may be a password given without pass:. */
		mtls_err_set(err, MTLS_E_USAGE,
		    "bad password source (not repeated here): use pass:TEXT, "
		    "env:VAR, file:PATH, fd:N or stdin");
		return NULL;
	}
	if (p != NULL && strlen(p) > PASS_MAX) {
		mtls_pass_free(p);
		mtls_err_set(err, MTLS_E_PASSWORD, "the password from %s is "
		    "longer than %d bytes", strncmp(spec, "pass:", 5) == 0 ?
		    "pass:" : spec, PASS_MAX);
		return NULL;
	}
	if (p == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	return p;
}

void
mtls_pass_free(char *p)
{
	if (p != NULL) {
		OPENSSL_clear_free(p, strlen(p));
	}
}
