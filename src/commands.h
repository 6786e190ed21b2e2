/* Every subcommand: X(name, handler, one-line summary). One file each. */
#ifndef MTLS_COMMANDS_H
#define MTLS_COMMANDS_H

#include "cli.h"

#define MTLS_COMMANDS(X)                                                     \
	X("ca", cmd_ca, "create the private CA (ca init) and show it (ca show)") \
	X("test", cmd_test, "test the mutual-TLS link to a replication receiver") \
	X("push", cmd_push, "replicate content to receivers (durable queue)")  \
	X("queue", cmd_queue, "show the replication queue of mtls push") \
	X("serve", cmd_serve, "run the replication receiver (HTTPS, client certificates required)")

#define MTLS_X_DECL(name, fn, summary) cli_run_fn fn;
MTLS_COMMANDS(MTLS_X_DECL)
#undef MTLS_X_DECL

#endif
