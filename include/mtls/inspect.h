/*
 * mtls/inspect.h - recognise a file by its content and describe it, and
 * verify certificates with an explanation instead of an error code.
 */
#ifndef MTLS_INSPECT_H
#define MTLS_INSPECT_H

#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Describes whatever DATA holds - PEM or DER certificates, chains, private
 * keys (PKCS#8 plain or encrypted, traditional), CSRs, PKCS#12 - as a JSON
 * object {"file":NAME,"objects":[...]}. PASS_SPEC opens encrypted keys and
 * PKCS#12. Returns NULL with MTLS_E_FORMAT for unrecognised content. */
json_t *mtls_inspect(const unsigned char *data, size_t len, const char *name,
    const char *pass_spec, struct mtls_err *err);

/* One certificate as a JSON object (subject, issuer, serial, validity,
 * days_left, sans, key_usage, ext_key_usage, ca, key, signature,
 * sha256/sha1 fingerprints). */
json_t *mtls_cert_to_json(X509 *cert);

/* Prints what mtls_inspect returned, for people. */
void mtls_inspect_print(FILE *out, json_t *desc);

enum mtls_purpose {
	MTLS_PURPOSE_ANY,
	MTLS_PURPOSE_CLIENT,
	MTLS_PURPOSE_SERVER,
};

struct mtls_revocation_opts; /* mtls/revocation.h */

struct mtls_verify_opts {
	const char *ca_file;        /* trust anchors; NULL: system store */
	enum mtls_purpose purpose;
	const char *host;           /* DNS name or IP the cert must match */
	time_t at;                  /* 0: now */
	const char *crl_file;       /* optional CRL(s) to check against */
	const char *const *policies; /* certificate policy OIDs the chain
	                               must be valid for (explicit policy) */
	size_t npolicies;
	int require_explicit_policy; /* some policy, asserted from the CA
	                               down (mtls_chain_profile_policies) */
	const struct mtls_revocation_opts *revocation; /* NULL: no OCSP; else
	                               the verified chain's revocation is
	                               checked with the walk serve applies to
	                               its clients (every certificate but the
	                               self-signed root; the leaf at ocsp_url
	                               or its AIA, each CA at its own AIA). Its
	                               CRL files must be signed by a CA of the
	                               verified chain. */
};

/* Verifies LEAF (with UNTRUSTED intermediates, may be NULL). On failure,
 * returns -1 with MTLS_E_VERIFY and a sentence naming the certificate and
 * the rule ("certificate CN=x (serial ..) expired on DATE"); *CODE gets
 * the X509_V_ERR value when CODE is non-NULL (X509_V_ERR_CERT_REVOKED for
 * any refusal of the revocation check that opts->revocation asks for). */
int mtls_verify_cert(X509 *leaf, STACK_OF(X509) *untrusted,
    const struct mtls_verify_opts *opts, long *code, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
