/*
 * mtls/pki.h - keys, names, subject alternative names, and loading and
 * encoding the objects a PKI is made of. Built on OpenSSL 3; objects are
 * OpenSSL's own (EVP_PKEY, X509, X509_NAME, GENERAL_NAMES) so callers can
 * hand them straight to libssl.
 */
#ifndef MTLS_PKI_H
#define MTLS_PKI_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

enum mtls_keytype {
	MTLS_KEY_EC_P256,
	MTLS_KEY_EC_P384,
	MTLS_KEY_RSA_2048,
	MTLS_KEY_RSA_3072,
	MTLS_KEY_RSA_4096,
	MTLS_KEY_ED25519,
};

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519". */
int mtls_keytype_parse(const char *s, enum mtls_keytype *out,
    struct mtls_err *err);
const char *mtls_keytype_name(enum mtls_keytype t);

/* A fresh key pair (caller frees with EVP_PKEY_free). */
EVP_PKEY *mtls_key_generate(enum mtls_keytype t, struct mtls_err *err);

/* "EC P-256", "RSA 3072", "Ed25519", ... into BUF. */
void mtls_key_describe(const EVP_PKEY *key, char *buf, size_t len);

/* Fails (MTLS_E_POLICY) for keys too weak to certify: RSA below 2048 bits,
 * curves other than P-256/P-384/P-521, DSA and unknown algorithms. WHAT
 * names the key in the message ("the CSR's key"). */
int mtls_key_check_strength(const EVP_PKEY *key, const char *what,
    struct mtls_err *err);

/* Parses "CN=app,O=Example" (backslash escapes a comma) or "/CN=app/O=Ex". */
X509_NAME *mtls_name_parse(const char *dn, struct mtls_err *err);

/* "CN=app, O=Example" (caller frees with OPENSSL_free). */
char *mtls_name_format(const X509_NAME *name);

/* The first CN of NAME, or NULL (caller frees with OPENSSL_free). */
char *mtls_name_cn(const X509_NAME *name);

/* Checks a subject we are about to certify: every attribute value valid
 * text without control characters or NUL, not empty, within RFC 5280
 * Appendix A's upper bound (CN, O, OU 64 characters; others 128), and an
 * empty subject only when HAVE_SANS (RFC 5280 4.1.2.6). Fails with
 * MTLS_E_POLICY naming the attribute and the rule. */
int mtls_name_check(const X509_NAME *name, int have_sans, struct mtls_err *err);

/* Matches NAME against PATTERN ("CN=*.partner.example,O=Partner"), one
 * RDN at a time: the same number of RDNs, in order, each of the pattern's
 * attribute type (any case: "cn" is CN), each whole value matching its
 * glob (fnmatch, case-sensitive, as before principal maps). A glob never crosses an RDN boundary, and a multi-valued
 * RDN never matches. "\," is a comma inside a value. Returns 1 on a
 * match, 0 on none, -1 (MTLS_E_USAGE) for a malformed pattern. */
int mtls_name_match(const X509_NAME *name, const char *pattern,
    struct mtls_err *err);

/* Checks PATTERN's syntax as mtls_name_match reads it: 0, or -1
 * (MTLS_E_USAGE) naming the bad part. */
int mtls_name_pattern_check(const char *pattern, struct mtls_err *err);

/* 1 when NAME holds exactly one attribute NID (NID_commonName, ...) and
 * its whole value matches GLOB (case-sensitive); 0 otherwise, also for
 * values with control characters or NUL. */
int mtls_name_attr_match(const X509_NAME *name, int nid, const char *glob);

/* 1 when host name HOST matches PATTERN label by label: the same number
 * of labels, each matching its glob case-insensitively; '*' never spans
 * a dot. */
int mtls_dns_match(const char *pattern, const char *host);

/* Appends the SANs in LIST ("dns:h,ip:a,uri:u,email:e", comma separated)
 * to GENS, validating each: DNS names (RFC 1035 letters, digits, hyphens,
 * a leading "*." wildcard), IPv4/IPv6 literals, absolute URIs, emails. */
int mtls_san_add(GENERAL_NAMES *gens, const char *list, struct mtls_err *err);

/* Checks one SAN already in a request (same rules as mtls_san_add). */
int mtls_san_check(const GENERAL_NAME *gen, struct mtls_err *err);

/* "dns:h,ip:a" for GENS (caller frees with free()); "" when empty. */
char *mtls_san_format(const GENERAL_NAMES *gens);

/* "dns:h" for one SAN (caller frees with free()), NULL when out of memory. */
char *mtls_san_text(const GENERAL_NAME *g);

/* 1 when TEXT ("dns:h", as mtls_san_text writes it) matches one of the
 * comma-separated globs in ALLOW ("dns:*.partner.example,ip:10.0.*"),
 * case insensitive; 0 otherwise (and for a NULL ALLOW). A wildcard DNS
 * name ("dns:*.x") is admitted only by a pattern spelling it exactly. */
int mtls_san_allowed(const char *text, const char *allow);

/* The TLS security level every command verifies at (keys and signatures
 * of at least 112 bits of security). */
#define MTLS_SECURITY_LEVEL 2

/* The one chain profile of `verify` and `serve`: RFC 5280 structure
 * checks (X509_V_FLAG_X509_STRICT), certificate policy processing
 * (X509_V_FLAG_POLICY_CHECK, from a user-initial-policy-set of anyPolicy,
 * so a CA's requireExplicitPolicy admits chains that assert a policy) and
 * MTLS_SECURITY_LEVEL for the key and signature of every certificate of
 * the chain. Call mtls_chain_profile_policies after it, not before. */
void mtls_chain_profile_apply(X509_VERIFY_PARAM *vp);

/* 0 when TEXT is a certificate policy OID in dotted numbers
 * ("1.3.6.1.4.1.99999.1"); else -1 with MTLS_E_USAGE naming it. */
int mtls_policy_oid_check(const char *text, struct mtls_err *err);

/* Certificate policies (RFC 5280 4.2.1.4 and 6.1) on top of the profile:
 * with REQUIRE_EXPLICIT or N > 0 OIDS, the chain must be valid for a
 * policy asserted by every certificate from the anchor down (explicit
 * policy), and with OIDS, for one of them (anyPolicy in a certificate
 * stands for every policy unless a CA above inhibits it). Policy
 * processing itself (malformed policy extensions, a CA's policy
 * constraints) is always on in mtls_chain_profile_apply. 0, or -1 with
 * MTLS_E_USAGE naming a bad OID. */
int mtls_chain_profile_policies(X509_VERIFY_PARAM *vp,
    const char *const *oids, size_t n, int require_explicit,
    struct mtls_err *err);

enum mtls_leaf_role { MTLS_LEAF_CLIENT, MTLS_LEAF_SERVER, MTLS_LEAF_NODE };

/* The end-entity rules OpenSSL's purpose checks leave open: LEAF must not
 * be a CA, must not carry keyCertSign/cRLSign or name constraints, and
 * must carry an extended key usage naming ROLE's purpose (no EKU, which
 * OpenSSL reads as "any purpose", is refused), its subject must pass
 * mtls_name_check and its dNSNames the preferred name syntax. NULL when LEAF passes, else a sentence naming the rule
 * (static, or per thread until the next call). */
const char *mtls_leaf_profile_check(X509 *leaf, enum mtls_leaf_role role);

/* The rules OpenSSL's name constraint check leaves open, for CHAIN as
 * verified (leaf first, anchor last): a wildcard dNSName of the leaf
 * ("*.example.org") must not cover names in a dNSName subtree a CA of
 * the chain excludes ("bad.example.org"). NULL when it passes, else a
 * sentence naming the name, the subtree and the CA (per thread). */
const char *mtls_chain_names_check(STACK_OF(X509) *chain);

/* When one of CERT's extensions that OpenSSL knows does not decode
 * (garbage DER in subjectAltName, say), a sentence naming it (per
 * thread); else NULL. Such a certificate never verifies; this says why. */
const char *mtls_cert_malformed_why(X509 *cert);

/* Why OpenSSL refused CERT, found at DEPTH of a chain verified for
 * ROLE, with a purpose error (X509_V_ERR_INVALID_PURPOSE): a sentence
 * that tells key usage, extended key usage, CA-ness and the CA's own
 * restrictions apart (static), or NULL when none of those explains it. */
const char *mtls_chain_purpose_why(X509 *cert, int depth,
    enum mtls_leaf_role role);

/* "certificate CN=x (serial S): RULE" into BUF. */
void mtls_leaf_profile_sentence(X509 *leaf, const char *rule, char *buf,
    size_t len);

/* Loads every certificate in PATH (PEM, possibly several, or DER). */
int mtls_load_certs(const char *path, STACK_OF(X509) **out,
    struct mtls_err *err);

/* Loads every CRL in PATH (PEM blocks, else one DER CRL) into a new
 * stack (free with sk_X509_CRL_pop_free). */
int mtls_load_crls(const char *path, STACK_OF(X509_CRL) **out,
    struct mtls_err *err);

/* The first certificate in PATH. */
X509 *mtls_load_cert(const char *path, struct mtls_err *err);

/* Loads a private key (PEM or DER; PKCS#8 plain or encrypted, or
 * traditional). PASS_SPEC is consulted only when the key is encrypted;
 * a wrong password gives MTLS_E_PASSWORD "wrong password for PATH". */
EVP_PKEY *mtls_load_key(const char *path, const char *pass_spec,
    struct mtls_err *err);

/* Same, from memory; NAME is used in messages. */
EVP_PKEY *mtls_parse_key(const unsigned char *data, size_t len,
    const char *name, const char *pass_spec, struct mtls_err *err);

/* PKCS#8 PEM of KEY, encrypted with AES-256-CBC and PBKDF2 when PASS is
 * non-NULL. *PEM is NUL-terminated; free with mtls_secret_free. */
int mtls_key_to_pem(EVP_PKEY *key, const char *pass, char **pem, size_t *len,
    struct mtls_err *err);
void mtls_secret_free(char *p, size_t len);

/* PEM block LABEL ("CERTIFICATE", "X509 CRL") of DER appended to *BUF
 * (growing it with OPENSSL_realloc; *LEN updated; NUL-terminated). */
int mtls_pem_append(const char *label, const unsigned char *der, size_t dlen,
    char **buf, size_t *len, struct mtls_err *err);

/* PEM of CERT appended to *BUF (growing it; *LEN updated). */
int mtls_cert_append_pem(X509 *cert, char **buf, size_t *len,
    struct mtls_err *err);

/* Colon-separated upper-case hex digest ("AB:CD:..."), as keytool and
 * `openssl x509 -fingerprint` print it. BUF needs 3 * digest size. */
int mtls_cert_fingerprint(X509 *cert, const EVP_MD *md, char *buf,
    size_t len);

/* The JSON form of a fingerprint (docs/json.md): FP ("AB:CD:...", as
 * mtls_cert_fingerprint writes it, or already plain hex) written to BUF as
 * lower-case hex without separators ("abcd..."). Returns 0, or -1 (BUF
 * empty) when FP holds anything but hex digits and colons or BUF is too
 * small. FP and BUF may be the same buffer. */
int mtls_fingerprint_hex(const char *fp, char *buf, size_t len);

/* Hex serial ("0A1B..."; caller frees with OPENSSL_free). */
char *mtls_cert_serial_hex(const X509 *cert);

/* True when the private KEY belongs to CERT. */
int mtls_key_matches_cert(EVP_PKEY *key, X509 *cert);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
