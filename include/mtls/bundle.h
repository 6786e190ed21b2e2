/*
 * mtls/bundle.h - everything one server or client program needs for mutual
 * TLS, in the form that program wants, with a configuration snippet that
 * enforces client certificates.
 *
 * A bundle is built from an identity (a private key and its certificate
 * chain, as `mtls issue` writes them: NAME.key, NAME.crt, NAME.chain.pem)
 * and the CA certificate that peers' certificates must chain to. It is a
 * directory holding the target's files, a snippet (nginx.conf,
 * apache.conf, haproxy.cfg, stunnel.conf, server.xml, activemq.xml,
 * javax-net-ssl.args or curl.sh) and README.txt saying what each file is
 * and how to install it.
 *
 * Rules the snippets follow for every server target:
 *  - a client without a certificate is refused (nginx ssl_verify_client on,
 *    Apache SSLVerifyClient require, HAProxy verify required, stunnel
 *    verifyChain + requireCert, Tomcat certificateVerification="required",
 *    ActiveMQ needClientAuth=true), and so is one whose certificate does not
 *    chain to the CA;
 *  - TLS 1.2 is the minimum;
 *  - store passwords are written only into files the target reads them
 *    from (server.xml, activemq.xml, the Java argument files), which are
 *    0600 like every private key.
 */
#ifndef MTLS_BUNDLE_H
#define MTLS_BUNDLE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/file.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

enum mtls_bundle_target {
	MTLS_BUNDLE_NGINX,
	MTLS_BUNDLE_APACHE,
	MTLS_BUNDLE_HAPROXY,
	MTLS_BUNDLE_STUNNEL,
	MTLS_BUNDLE_TOMCAT,
	MTLS_BUNDLE_ACTIVEMQ,
	MTLS_BUNDLE_JAVA,
	MTLS_BUNDLE_CURL,
};

/* "nginx", "apache" (or "apache2", "httpd"), "haproxy", "stunnel" (or
 * "stunnel4"), "tomcat", "activemq", "java", "curl". */
int mtls_bundle_target_parse(const char *s, enum mtls_bundle_target *out,
    struct mtls_err *err);
const char *mtls_bundle_target_name(enum mtls_bundle_target t);

/* True for targets whose files are password-protected keystores (tomcat,
 * activemq, java): a store password must be given. */
int mtls_bundle_target_needs_pass(enum mtls_bundle_target t);

/* True for targets that present the identity as a TLS server (its
 * certificate needs EKU serverAuth); curl presents it as a client, java
 * as either. */
int mtls_bundle_target_is_server(enum mtls_bundle_target t);

/* Default listening port written into the snippet ("443", "8443",
 * "61617"), or NULL for client targets. */
const char *mtls_bundle_default_port(enum mtls_bundle_target t);

/* An identity: NAME, its key and its chain (leaf first). Owned. */
struct mtls_bundle_id {
	char *name;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;
};

/* Loads DIR/NAME.key (decrypted with KEY_PASS_SPEC when encrypted) and
 * DIR/NAME.chain.pem, or DIR/NAME.crt when there is no chain file, and
 * checks the key belongs to the leaf. Messages name the missing file and
 * the command that makes it. ID is filled; free with
 * mtls_bundle_id_clear. */
int mtls_bundle_id_load(struct mtls_bundle_id *id, const char *dir,
    const char *name, const char *key_pass_spec, struct mtls_err *err);
void mtls_bundle_id_clear(struct mtls_bundle_id *id);

struct mtls_bundle_opts {
	enum mtls_bundle_target target;
	const char *out_dir;     /* where the files are staged (required) */
	const char *install_dir; /* directory the snippet names; NULL: the
	                            absolute path of OUT_DIR */
	const char *listen;      /* "[ADDR:]PORT"; NULL: the target's default */
	const char *backend;     /* haproxy/stunnel: "HOST:PORT" to forward
	                            to; NULL: 127.0.0.1:8080 */
	const char *url;         /* curl: default URL; NULL: https://<first
	                            DNS or IP SAN of the CA-issued server> */
	const char *pass;        /* store password (resolved); required when
	                            mtls_bundle_target_needs_pass */
	int legacy;              /* PKCS#12 stores with PBE-SHA1-3DES and a
	                            SHA-1 MAC, for old Java */
	const char *crl;         /* nginx, activemq: the CRL file the server
	                            enforces (ssl_crl, crlPath), as the snippet
	                            names it; NULL: no revocation checks */
};

/* Checks ID against the target and CA before anything is written: the
 * key matches, the leaf chains to CA, and it has the extended key usage
 * the target needs (serverAuth for servers, clientAuth for curl and for
 * ActiveMQ's CLIENT). Then stages the target's files, its snippet and
 * README.txt into FS under O->out_dir. CLIENT is the client identity for
 * activemq's client.ks (NULL for other targets). */
int mtls_bundle_stage(const struct mtls_bundle_opts *o,
    const struct mtls_bundle_id *id, const struct mtls_bundle_id *client,
    X509 *ca, struct mtls_fileset *fs, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
