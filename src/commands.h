/* Every subcommand: X(name, handler, one-line summary). One file each. */
#ifndef MTLS_COMMANDS_H
#define MTLS_COMMANDS_H

#include "cli.h"

#define MTLS_COMMANDS(X)                                                     \
	X("ca", cmd_ca, "the private CA: init, show, serve (EST, ACME, OCSP), rollover, intermediates, migrate-db") \
	X("issue", cmd_issue, "issue a key and certificate (server, client, node)") \
	X("csr", cmd_csr, "make a key and a CSR to send to a partner's CA") \
	X("sign", cmd_sign, "sign a partner's CSR under our signing policy") \
	X("policy", cmd_policy, "named signing policies for partners' CSRs (add, list, show, remove)") \
	X("list", cmd_list, "list the CA's inventory of certificates") \
	X("inspect", cmd_inspect, "describe a certificate, key, CSR or keystore") \
	X("verify", cmd_verify, "verify a certificate chain and explain failures") \
	X("revoke", cmd_revoke, "revoke a certificate (by name, serial or file)") \
	X("crl", cmd_crl, "publish a signed CRL of the revoked certificates") \
	X("renew", cmd_renew, "renew a certificate: same identity, new key") \
	X("rotate", cmd_rotate, "renew everything expiring within a window") \
	X("keystore", cmd_keystore, "JKS/PKCS#12 keystores and truststores (keytool subset)") \
	X("convert", cmd_convert, "convert between PEM, DER, PKCS#12 and JKS") \
	X("export", cmd_export, "an identity already issued into PKCS#12, JKS, PEM or DER (revokes nothing)") \
	X("trust", cmd_trust, "put our CA into the system store, an NSS database or a Java truststore (install, uninstall, status)") \
	X("ocsp", cmd_ocsp, "OCSP responder from the inventory (serve), OCSP query (check)") \
	X("bundle", cmd_bundle, "files + config snippet for nginx, apache, tomcat, activemq, ...") \
	X("probe", cmd_probe, "explain a TLS endpoint's mutual-TLS behaviour") \
	X("doctor", cmd_doctor, "check a node's key, certificate and truststore files") \
	X("test", cmd_test, "test the mutual-TLS link to a replication receiver") \
	X("push", cmd_push, "replicate content to receivers (durable queue)") \
	X("queue", cmd_queue, "show the replication queue of mtls push") \
	X("serve", cmd_serve, "run the replication receiver (HTTPS, client certificates required)") \
	X("token", cmd_token, "one-time enrollment tokens for the online CA (create, list, revoke)") \
	X("acme", cmd_acme, "ACME external account binding keys for 'ca serve' (eab create, list, revoke)") \
	X("audit", cmd_audit, "the CA's audit trail: every issuance and refusal") \
	X("enroll", cmd_enroll, "enroll this node with an online CA (EST, one-time token)") \
	X("renew-agent", cmd_renew_agent, "keep enrolled identities fresh (EST re-enrollment, hooks)")

#define MTLS_X_DECL(name, fn, summary) cli_run_fn fn;
MTLS_COMMANDS(MTLS_X_DECL)
#undef MTLS_X_DECL

#endif
