/* mtls: mutual TLS made routine. The command table and dispatch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "mtls/err.h"
#include "cli.h"
#include "prompt.h"
#include "commands.h"

const struct cli_cmd cli_cmds[] = {
#define MTLS_X_CMD(name, fn, summary) {name, fn, summary},
	MTLS_COMMANDS(MTLS_X_CMD)
#undef MTLS_X_CMD
	{NULL, NULL, NULL},
};

static void
print_help(FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f, "usage: mtls COMMAND [OPTIONS] [ARGS]\n\n"
		   "mtls makes mutual TLS routine: a private CA with an inventory,\n"
		   "certificates for every role, keystores, and diagnostics.\n\n"
		   "Commands:\n");
	for (c = cli_cmds; c->name != NULL; c++) {
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	}
	fprintf(f, "\nRun 'mtls COMMAND --help' for a command's options.\n"
		   "Passwords are given as pass:TEXT, env:VAR, file:PATH, fd:N or "
		   "stdin.\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

/* Keys and passwords live in this process's memory: no core file may
 * carry them away, and no other process of the same user may read them
 * through ptrace or /proc/PID/mem. */
static void
no_core_dumps(void)
{
	struct rlimit none = {0, 0};

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* What is process-wide belongs to the command, not to libmtls: libcurl's
 * global set-up, ignoring SIGPIPE (a peer that closes a connection while
 * the receiver or the agent writes must not kill the process), and the
 * terminal prompt for passwords. */
static int
process_setup(void)
{
	struct mtls_err err;

	mtls_err_clear(&err);
	signal(SIGPIPE, SIG_IGN);
	cli_prompt_install();
	if (mtls_init(&err) != 0) {
		fprintf(stderr, "mtls: %s\n", err.msg);
		return -1;
	}
	atexit(mtls_cleanup);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *c;

	no_core_dumps();
	if (process_setup() != 0) {
		return 1;
	}

	if (argc < 2) {
		print_help(stderr);
		return 2;
	}
	/* 'mtls help CMD [SUB]' is 'mtls CMD [SUB] --help', as in git. */
	if (strcmp(argv[1], "help") == 0 && argc > 2) {
		char *hargv[4] = {argv[2], argc > 3 ? argv[3] : "--help", "--help", NULL};

		for (c = cli_cmds; c->name != NULL; c++) {
			if (strcmp(argv[2], c->name) == 0) {
				cli_getopt_reset();
				return c->run(argc > 3 ? 3 : 2, hargv);
			}
		}
		fprintf(stderr, "mtls: no help for '%s': unknown command (see 'mtls --help')\n",
		    argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("mtls %s (%s)\n", mtls_version(),
		    OpenSSL_version(OPENSSL_VERSION));
		return 0;
	}
	for (c = cli_cmds; c->name != NULL; c++) {
		if (strcmp(argv[1], c->name) == 0) {
			cli_getopt_reset();
			return c->run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "mtls: unknown command '%s' (see 'mtls --help')\n",
	    argv[1]);
	return 2;
}
