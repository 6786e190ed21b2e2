/* The command's password prompt: libmtls asks through this callback and
 * never touches a terminal itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mtls/pass.h"
#include "prompt.h"

/* Reads one line from standard input, echo off while it is a terminal.
 * One byte at a time, so nothing past the line is consumed. */
static int
tty_prompt(const char *prompt, char *buf, size_t len, void *arg)
{
	struct termios old, quiet;
	int restore = 0, got = 0;
	size_t n = 0;

	(void)arg;
	if (!isatty(STDIN_FILENO) || len == 0) {
		return -1;
	}
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0 || (r == 0 && !got)) {
			n = (size_t)-1;
			break;
		}
		if (r == 0 || c == '\n') {
			break;
		}
		got = 1;
		if (n + 1 >= len) {
			n = (size_t)-1; /* too long: never a cut password */
			break;
		}
		buf[n++] = c;
	}
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	}
	fputc('\n', stderr);
	if (n == (size_t)-1) {
		OPENSSL_cleanse(buf, len);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r') {
		n--;
	}
	buf[n] = '\0';
	return (int)n;
}

/* Only a terminal can answer a prompt: without one the library says which
 * option gives the password instead of failing on an empty read. */
void
cli_prompt_install(void)
{
	if (isatty(STDIN_FILENO)) {
		mtls_pass_set_prompt(tty_prompt, NULL);
	}
}
