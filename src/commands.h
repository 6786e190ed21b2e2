/* Every subcommand: X(name, handler, one-line summary). One file each. */
#ifndef MTLS_COMMANDS_H
#define MTLS_COMMANDS_H

#include "cli.h"

#define MTLS_COMMANDS(X)                                                     \
	X("ca", cmd_ca, "create the private CA (ca init) and show it (ca show)")  \
	X("issue", cmd_issue, "issue a key and certificate (server, client, node)") \
	X("csr", cmd_csr, "make a key and a CSR to send to a partner's CA")        \
	X("sign", cmd_sign, "sign a partner's CSR under a profile, with checks")   \
	X("list", cmd_list, "list the CA's inventory of certificates")             \
	X("inspect", cmd_inspect, "describe a certificate, key, CSR or keystore")  \
	X("verify", cmd_verify, "verify a certificate chain and explain failures") \
	X("ocsp", cmd_ocsp, "OCSP responder from the inventory (serve), OCSP query (check)")

#define MTLS_X_DECL(name, fn, summary) cli_run_fn fn;
MTLS_COMMANDS(MTLS_X_DECL)
#undef MTLS_X_DECL

#endif
