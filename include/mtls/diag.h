/*
 * mtls/diag.h - diagnostics: `probe` (a live TLS endpoint's mutual-TLS
 * behaviour) and `doctor` (a node's key, certificate and truststore files
 * at rest). Both produce a report: a short list of findings, each with a
 * severity, a stable key, one sentence naming the cause, and a concrete fix,
 * plus human-readable detail lines and a JSON document for scripts.
 *
 * The sentences for verification results and TLS alerts come from
 * mtls/explain.h, so a cause reads the same in every command.
 */
#ifndef MTLS_DIAG_H
#define MTLS_DIAG_H

#include <stddef.h>

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/revocation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

enum mtls_severity {
	MTLS_SEV_OK,    /* a check passed */
	MTLS_SEV_INFO,  /* worth knowing, nothing to do */
	MTLS_SEV_WARN,  /* works now, will fail later or for some peers */
	MTLS_SEV_ERROR, /* does not work */
};

/* "ok", "info", "warn", "error". */
const char *mtls_severity_name(enum mtls_severity sev);

/* One finding. All strings are owned by the report. */
struct mtls_finding {
	enum mtls_severity sev;
	const char *key;     /* stable identifier, e.g. "key_mismatch" */
	const char *subject; /* file or endpoint it concerns; may be NULL */
	const char *message; /* one sentence: what is wrong (or right) */
	const char *fix;     /* what to do; NULL when nothing is needed */
};

struct mtls_report;

void mtls_report_free(struct mtls_report *r); /* NULL-safe */

size_t mtls_report_count(const struct mtls_report *r);

/* The I-th finding (0 <= I < count), in the order they were found. */
const struct mtls_finding *mtls_report_get(const struct mtls_report *r,
    size_t i);

/* The first finding with KEY (optionally also about SUBJECT), or NULL. */
const struct mtls_finding *mtls_report_find(const struct mtls_report *r,
    const char *key, const char *subject);

/* The most severe finding's severity (MTLS_SEV_OK when there is none). */
enum mtls_severity mtls_report_worst(const struct mtls_report *r);

/* Detail lines for people ("TLS 1.2: accepted"), in order; borrowed. */
size_t mtls_report_line_count(const struct mtls_report *r);
const char *mtls_report_line(const struct mtls_report *r, size_t i);

/* The whole report as an indented JSON object: the details collected
 * (command-specific members), "findings": [{severity, key, subject,
 * message, fix}], and "worst". Caller frees with free(). */
char *mtls_report_json(const struct mtls_report *r);

/* ---- probe ---------------------------------------------------------- */

struct mtls_probe_opts {
	const char *target;     /* "HOST:PORT", "[V6]:PORT" */
	const char *servername; /* SNI and name to check; default HOST */
	const char *cert_file;  /* our client certificate (+ chain), or NULL */
	const char *key_file;   /* its private key */
	const char *key_pass;   /* password spec for an encrypted key */
	const char *ca_file;    /* trust for the server; NULL: system store */
	int timeout_ms;         /* per connection step; 0 means 5000 */
	int warn_days;          /* "expires soon" threshold; 0 means 30 */
	int no_http;            /* do not send an HTTP request after the
				 * handshake to learn whether a server that
				 * answers at HTTP level (nginx) requires a
				 * certificate */
	const char *resolve;    /* "HOST:PORT:ADDR[,...]": connect to ADDR
				 * for HOST:PORT (curl's --resolve); NULL */
	const char *ca_dir;     /* a CA directory whose inventory says whether
				 * our certificate is revoked; NULL: none */
};

/* Connects to TARGET several times (once per TLS version, once without
 * and once with our certificate) and reports what it found. Fails (NULL)
 * only for bad options or an unreadable --cert/--key/--ca; an endpoint
 * that is down or misbehaves is a finding, not a failure. */
struct mtls_report *mtls_probe(const struct mtls_probe_opts *opts,
    struct mtls_err *err);

/* Splits "host:port" / "[v6]:port" into HOST (without brackets) and PORT.
 * Fails with MTLS_E_USAGE naming the value. */
int mtls_probe_parse_target(const char *target, char *host, size_t hostlen,
    char *port, size_t portlen, struct mtls_err *err);

/* ---- standing: what the CA says of a certificate --------------------- */

struct mtls_standing {
	const char *state;  /* NULL: neither the inventory nor the CRL knows
			     * it; else as mtls_inv_state: "revoked",
			     * "superseded", "expired", "not-yet-valid",
			     * "valid" */
	char name[128];     /* the inventory's name for it, or "" */
	char detail[512];   /* for revoked and superseded: what and since when */
	char fix[512];      /* for revoked and superseded: what to do */
};

/* Looks CERT up in the inventory of the CA in CA_DIR (by serial, and only
 * when the fingerprint matches too: another CA may use the same serial) and
 * in the CRLs of CRL_FILE that a certificate among ANCHORS signed for
 * CERT's issuer. Either path may be NULL; a CA_DIR that holds no CA is
 * skipped without an error. Fails only for an unreadable CRL_FILE. */
int mtls_cert_standing(X509 *cert, const char *ca_dir, const char *crl_file,
    STACK_OF(X509) *anchors, struct mtls_standing *out, struct mtls_err *err);

/* ---- doctor --------------------------------------------------------- */

enum mtls_role {
	MTLS_ROLE_ANY,    /* no --role: EKU is reported, not judged */
	MTLS_ROLE_CLIENT, /* needs clientAuth */
	MTLS_ROLE_SERVER, /* needs serverAuth */
	MTLS_ROLE_NODE,   /* both (replication peers, brokers in a mesh) */
};

/* "client", "server", "node" (MTLS_E_USAGE otherwise). */
int mtls_role_parse(const char *s, enum mtls_role *out, struct mtls_err *err);

struct mtls_doctor_opts {
	const char *const *paths; /* directories and/or files */
	size_t npaths;
	enum mtls_role role;
	const char *host;      /* name the certificates must carry; or NULL */
	const char *ca_file;   /* truststore; else ca.crt / *ca*.pem found */
	const char *pass_spec; /* for encrypted keys and keystores */
	int warn_days;         /* 0 means 30 */
	const char *ca_dir;    /* a CA whose inventory says whether the
				* certificates are revoked or superseded; NULL */
	const char *crl_file;  /* a CRL (signed by the truststore) to check
				* the certificates against; NULL */
	const char *crl_source; /* where CRL_FILE came from when the caller
				 * fetched it from the certificates' CRL
				 * distribution point (URLs): an info finding
				 * crl_fetched says so; NULL */
	const char *crl_fetch_error; /* why a distribution point could not be
				 * fetched: a warning crl_fetch_failed; NULL */
	const char *rollover;  /* a CA directory in a rollover, or the
	                          retiring issuer's certificate: warns about
	                          each certificate it issued, and about a
	                          truststore without the new issuer */
	struct mtls_revocation_opts rev; /* every verified chain is checked
	                          as push and test check a receiver's: a
	                          revoked certificate anywhere in it is an
	                          error naming it (CRL_FILE, when given, is
	                          one of REV's CRLs too) */
};

/* Checks the files: a directory is scanned (not recursively) for *.crt,
 * *.cer, *.pem, *.der, *.key and keystores (*.p12, *.pfx, *.jks, *.jceks,
 * *.ks, *.ts, *.keystore, *.truststore, opened with PASS_SPEC through
 * mtls/store.h); keys are paired with the
 * certificate they match (NAME.crt + NAME.key, cert.pem + privkey.pem),
 * NAME.chain.pem adds intermediates, ca.crt / *ca*.pem are the truststore.
 * Fails (NULL) only when a path does not exist or nothing is found. */
struct mtls_report *mtls_doctor(const struct mtls_doctor_opts *opts,
    struct mtls_err *err);

/* Exit status for a doctor report: 0 (ok/info), 3 (warnings only), 1. */
int mtls_doctor_exit_status(const struct mtls_report *r);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
