/*
 * mtls/ca.h - the private CA: its directory, its signing profiles, and the
 * inventory of everything it has issued.
 *
 * A CA directory holds ca.crt, ca.key (0600, optionally encrypted),
 * ca.json (settings) and inventory.db (SQLite, WAL). Commands find it by
 * --ca-dir, $MTLS_CA_DIR, or ./pki.
 */
#ifndef MTLS_CA_H
#define MTLS_CA_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/file.h"
#include "mtls/pki.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* What a certificate is for; the profile, never the request, decides its
 * extensions (RFC 5280 section 4.2). */
enum mtls_profile {
	MTLS_PROFILE_SERVER, /* EKU serverAuth */
	MTLS_PROFILE_CLIENT, /* EKU clientAuth */
	MTLS_PROFILE_NODE,   /* both: a host that is client and server */
	MTLS_PROFILE_OCSP,   /* EKU OCSPSigning, delegated responder */
	MTLS_PROFILE_SUBCA,  /* an intermediate CA ("ca" in the inventory);
	                        only mtls_ca_sign_intermediate issues it */
};

int mtls_profile_parse(const char *s, enum mtls_profile *out,
    struct mtls_err *err);
const char *mtls_profile_name(enum mtls_profile p);

/* Longest validity we issue by default (CA/B Forum's 397-day ceiling). */
#define MTLS_DEFAULT_DAYS 397
#define MTLS_DEFAULT_CA_DAYS 3650
/* The retired issuer's final CRL (PEM), in DIR/rollover and then in
 * DIR/retired/NAME after mtls_ca_rollover_finish. */
#define MTLS_CA_FINAL_CRL "final.crl"

struct mtls_ca_init_opts {
	const char *dir;       /* created if missing */
	const char *name;      /* subject DN; default "CN=mtls Root CA" */
	enum mtls_keytype key_type;
	int days;              /* 0: MTLS_DEFAULT_CA_DAYS */
	const char *pass_spec; /* encrypt ca.key when non-NULL */
	int force;             /* replace an existing CA */
	const char *crl_url;   /* optional CRL distribution point */
	const char *ocsp_url;  /* optional OCSP responder URL */
	const char *key_uri;   /* "pkcs11:..." (RFC 7512): use that key in a
	                          token instead of making ca.key; PASS_SPEC is
	                          then the token's PIN */
	char *note;            /* optional: gets what recovery did ("" none) */
	size_t note_len;
	const char *db;        /* "postgresql://..." (no password in it): keep
	                          the CA's state there instead of DIR/
	                          inventory.db; recorded in ca.json. The
	                          database must hold no other CA. */
	const char *db_pass;   /* the database password as a spec (env:VAR,
	                          file:PATH), recorded as given, or NULL */
	const char *cert_policies; /* certificate policy OIDs the root
	                          asserts, comma-separated dotted numbers
	                          ("1.3.6.1.4.1.99999.1"), or NULL */
};

/* What an intermediate CA may do: how many CAs may follow it and which
 * names it may certify (RFC 5280 4.2.1.9 and 4.2.1.10). Lists are
 * comma-separated "dns:example.com" (the domain and every name under it),
 * "dns:.example.com" (only names under it), "ip:10.0.0.0/8",
 * "email:example.com", "uri:.example.com". */
struct mtls_subca_opts {
	const char *name;    /* inventory name in the parent, e.g. "online-1" */
	int path_len;        /* CAs allowed below it; -1: unlimited */
	const char *permit;  /* permitted subtrees, or NULL */
	const char *exclude; /* excluded subtrees, or NULL */
	int days;            /* 0: 5 years, never beyond the parent */
	const char *cert_policies; /* certificate policy OIDs it asserts
	                        (comma-separated; "2.5.29.32.0" is anyPolicy),
	                        or NULL: then no chain through it is valid for
	                        a required policy (RFC 5280 6.1.3) */
	const X509 *same_as; /* a renewal: its name constraints are copied
	                        as they are (PERMIT and EXCLUDE unused) */
};

/* Creates a CA: a self-signed root with basicConstraints CA:TRUE
 * (critical), keyUsage keyCertSign+cRLSign (critical) and SKI. Refuses to
 * replace an existing CA unless FORCE. Holds the CA lock while it works;
 * ca.crt appears last, so a directory without it holds an interrupted
 * init, which the next init replaces (and says so in NOTE). */
int mtls_ca_init(const struct mtls_ca_init_opts *opts, struct mtls_err *err);

struct mtls_ca;

/* What mtls_ca_migrate_db copied. */
struct mtls_ca_migrate_counts {
	long long certs, tokens, audit, other;
};

/* Copies the state of CA (kept in its SQLite inventory) into the
 * PostgreSQL database URL (no password in it; PASS_SPEC, or PGPASSFILE,
 * gives one) in one transaction, then records URL in ca.json. Takes the
 * CA lock. A database already holding state is refused (MTLS_E_EXISTS)
 * unless FORCE, which empties it first. On failure nothing is changed:
 * the target transaction is rolled back and ca.json kept. */
int mtls_ca_migrate_db(struct mtls_ca *ca, const char *url,
    const char *pass_spec, int force, struct mtls_ca_migrate_counts *n,
    struct mtls_err *err);

/* Starts an intermediate CA in O->dir: its key (ca.key, 0600, encrypted
 * when O->pass_spec) and a request (ca.csr) for the parent to sign with
 * mtls_ca_sign_intermediate. The CA works once mtls_ca_install has put
 * the signed certificate beside the key. The key never leaves DIR. */
int mtls_ca_request(const struct mtls_ca_init_opts *opts,
    struct mtls_err *err);

/* Signs CSR as an intermediate CA below PARENT (which must be unlocked):
 * basicConstraints CA:TRUE with O->path_len, keyUsage keyCertSign and
 * cRLSign, name constraints, the CSR's subject, recorded in PARENT's
 * inventory under O->name with profile "ca". Returns the certificate. */
X509 *mtls_ca_sign_intermediate(struct mtls_ca *parent, X509_REQ *csr,
    const struct mtls_subca_opts *o, struct mtls_err *err);

/* Renews the intermediate certificate OLD, which PARENT (unlocked; hold
 * its lock) signed: the same subject, key and so key identifier, path
 * length, name constraints and certificate policies, a new serial and
 * validity of DAYS (0: 5 years, never beyond PARENT). Recorded in
 * PARENT's inventory under OLD's name; OLD is marked superseded, not
 * revoked, so what the intermediate issued verifies under either. */
X509 *mtls_ca_renew_intermediate(struct mtls_ca *parent, X509 *old, int days,
    struct mtls_err *err);

/* Puts a renewal made by mtls_ca_renew_intermediate in place of the
 * installed intermediate in DIR, under its lock: CHAIN (the certificate
 * first, up to the root) must verify and hold the same key and subject,
 * and last longer. ca.crt, ca.chain.pem and root.crt are each replaced
 * by a rename; any mix of old and new is a working CA. */
int mtls_ca_install_renewal(const char *dir, STACK_OF(X509) *chain,
    struct mtls_err *err);

/* Completes the intermediate CA in DIR started by mtls_ca_request: CHAIN
 * holds its certificate (first) and the issuers up to the root. The
 * certificate must match ca.key and the chain must verify to the
 * self-signed root. Writes ca.crt, ca.chain.pem and root.crt. */
int mtls_ca_install(const char *dir, STACK_OF(X509) *chain,
    const char *crl_url, const char *ocsp_url, struct mtls_err *err);

/* Opens the CA in DIR (certificate, settings, inventory; not the key). */
struct mtls_ca *mtls_ca_open(const char *dir, struct mtls_err *err);

/* Loads the CA key, asking PASS_SPEC only when it is encrypted. Needed
 * before mtls_ca_sign. */
int mtls_ca_unlock(struct mtls_ca *ca, const char *pass_spec,
    struct mtls_err *err);

void mtls_ca_free(struct mtls_ca *ca);

/* Borrowed; valid while CA lives. */
X509 *mtls_ca_cert(const struct mtls_ca *ca);
/* The self-signed root at the top of the CA's chain: the trust anchor
 * to hand to peers (the CA's own certificate when it is a root). */
X509 *mtls_ca_root(const struct mtls_ca *ca);
/* The issuers above the CA's certificate, nearest first, ending with the
 * root (empty for a root CA): peers need them in their chains. */
STACK_OF(X509) *mtls_ca_issuers(const struct mtls_ca *ca);
/* During a rollover (mtls_ca_rollover_begin .. _finish): the issuer
 * being replaced, and the CA's certificate signed by it (the cross
 * certificate new issuances' chains carry). NULL outside one. Borrowed. */
X509 *mtls_ca_previous(const struct mtls_ca *ca);
X509 *mtls_ca_cross(const struct mtls_ca *ca);
const char *mtls_ca_dir(const struct mtls_ca *ca);
const char *mtls_ca_crl_url(const struct mtls_ca *ca);
/* The CRL URL the issuer before the last rollover put in its
 * certificates, when 'rollover begin' gave the new issuer its own
 * (mtls_rollover_opts.crl_url); else NULL. */
const char *mtls_ca_previous_crl_url(const struct mtls_ca *ca);
const char *mtls_ca_ocsp_url(const struct mtls_ca *ca);

/* Who holds a certificate's private key. A name belongs to one origin:
 * a partner's certificate never takes the name of one of ours, nor the
 * reverse (mtls_ca_sign refuses). */
enum mtls_origin {
	MTLS_ORIGIN_LOCAL,   /* key made here: renew and rotate may re-key */
	MTLS_ORIGIN_PARTNER, /* signed from a partner's CSR: renewed only
	                        from a new CSR, never re-keyed here */
};

struct mtls_cert_request {
	const char *name;            /* inventory name (e.g. "publish") */
	enum mtls_origin origin;     /* 0: MTLS_ORIGIN_LOCAL */
	const X509_NAME *subject;
	EVP_PKEY *pubkey;
	enum mtls_profile profile;
	const GENERAL_NAMES *sans;   /* may be NULL or empty */
	int days;                    /* 0: MTLS_DEFAULT_DAYS */
	time_t not_before;           /* 0: now (back-dated 5 min for skew) */
	long lifetime;               /* seconds from now; overrides DAYS when
	                                > 0 (short-lived enrolled identities) */
	/* MTLS_PROFILE_SUBCA only: the constraints of the intermediate. */
	const struct mtls_subca_opts *subca;
	/* Certificate policy OIDs (RFC 5280 4.2.1.4), comma-separated dotted
	 * numbers, or NULL. Each must be asserted by the issuing CA (or
	 * covered by its anyPolicy) unless that CA is a self-issued root. */
	const char *cert_policies;
};

/* Issues a certificate under REQ's profile with a fresh random serial of
 * 127 bits unique in the inventory, and records it there. Refuses a
 * subject mtls_name_check refuses, and a name already held by
 * certificates of the other origin. Returns the
 * certificate (caller frees). Inside mtls_ca_begin/commit it joins the
 * open transaction (batch issuance). */
X509 *mtls_ca_sign(struct mtls_ca *ca, const struct mtls_cert_request *req,
    struct mtls_err *err);

/* Groups many mtls_ca_sign calls into one inventory transaction. */
int mtls_ca_begin(struct mtls_ca *ca, struct mtls_err *err);
int mtls_ca_commit(struct mtls_ca *ca, struct mtls_err *err);
void mtls_ca_rollback(struct mtls_ca *ca);

struct mtls_fileset;

/* Takes the CA's lock (DIR/lock, flock(2)), which every command that
 * changes the CA holds while it does: issuing, renewing, revoking,
 * publishing a CRL. Waits at most $MTLS_LOCK_WAIT seconds (default 30);
 * the error then names the holder (pid and command). Then finishes or
 * undoes whatever a killed holder left (see mtls_ca_recovery) and removes
 * its temporary files. Held until mtls_ca_release or mtls_ca_free; a
 * no-op when already held. */
int mtls_ca_lock(struct mtls_ca *ca, struct mtls_err *err);
void mtls_ca_release(struct mtls_ca *ca);

/* What mtls_ca_lock finished or undid, one sentence a line, or NULL. */
const char *mtls_ca_recovery(const struct mtls_ca *ca);

/* Ends the transaction opened by mtls_ca_begin and reveals FS's files
 * with it: the certificates recorded since begin and the files become
 * visible together. The files are synced, the transaction commits with
 * an intent journal entry naming them, and they are moved into place.
 * Killed at any point, the next mtls_ca_lock finishes the job or undoes
 * it. When placing fails, the certificates are revoked
 * (cessationOfOperation) and nothing stays in place. WHAT names the
 * operation in recovery messages ("issue publish"). Hold the CA lock. */
int mtls_ca_commit_files(struct mtls_ca *ca, struct mtls_fileset *fs,
    const char *what, struct mtls_err *err);

/* One inventory row, borrowed for the duration of a callback. */
struct mtls_inv_entry {
	const char *serial;  /* upper-case hex */
	const char *name;
	const char *subject;
	const char *sans;    /* "dns:a,ip:b" */
	const char *profile;
	time_t not_before;
	time_t not_after;
	const char *sha256;  /* colon hex */
	const char *status;  /* "valid", "revoked" */
	time_t revoked_at;   /* 0 unless revoked */
	const char *reason;  /* revocation reason or NULL */
	const char *pem;
	const char *superseded_by; /* serial of the renewal, or NULL */
	const char *origin;  /* "local" (key made here) or "partner" */
};

typedef int mtls_inv_cb(const struct mtls_inv_entry *e, void *arg);

/* What E is at NOW, the first that holds of: "revoked", "superseded" (a
 * renewal replaced it), "expired", "not-yet-valid", "valid". The string is
 * static. The inventory's own status only says revoked or not. */
const char *mtls_inv_state(const struct mtls_inv_entry *e, time_t now);

/* Calls CB for each certificate (all when NAME is NULL), oldest first;
 * a non-zero return from CB stops the walk and is returned. */
int mtls_ca_list(struct mtls_ca *ca, const char *name, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);

/* Calls CB for the certificate with SERIAL (hex, any case). Returns 0 when
 * found, -1 with MTLS_E_NOTFOUND otherwise. */
int mtls_ca_lookup(struct mtls_ca *ca, const char *serial, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);

/* CRL reason codes (RFC 5280 5.3.1): "unspecified", "keyCompromise",
 * "cACompromise", "affiliationChanged", "superseded",
 * "cessationOfOperation", "certificateHold", "removeFromCRL",
 * "privilegeWithdrawn", "aACompromise". */
int mtls_reason_parse(const char *s, int *code, struct mtls_err *err);
const char *mtls_reason_name(int code);

/* Marks SERIAL revoked at WHEN (0: now) for REASON. Unknown serial:
 * MTLS_E_NOTFOUND; already revoked: MTLS_E_EXISTS naming when. */
int mtls_ca_revoke(struct mtls_ca *ca, const char *serial, int reason,
    time_t when, struct mtls_err *err);

/* Options for issuing a complete identity (key + certificate + files). */
struct mtls_identity_opts {
	const char *name;
	enum mtls_profile profile;
	const char *subject;   /* DN; default "CN=<name>" */
	const char *sans;      /* "dns:..,ip:.."; server/node default dns:NAME */
	int days;
	enum mtls_keytype key_type;
	const char *out_dir;   /* default "." */
	const char *key_pass;  /* encrypt NAME.key when non-NULL (resolved) */
	int p12;               /* also write NAME.p12 */
	int p12_legacy;        /* PBE-SHA1-3DES + SHA-1 MAC for old Java */
	const char *p12_pass;  /* resolved password for NAME.p12 */
	/* Renewal: exact subject and SANs of the old certificate, and the
	 * old key when it is reused. Take precedence over the above. */
	const X509_NAME *subject_name;
	const GENERAL_NAMES *san_list;
	EVP_PKEY *reuse_key;
	const char *cert_policies; /* see mtls_cert_request; renewal keeps
	                              the old certificate's */
};

struct mtls_renew_opts {
	int days;             /* 0: MTLS_DEFAULT_DAYS */
	int reuse_key;        /* keep NAME.key (read from OUT_DIR) */
	const char *out_dir;  /* where NAME.key/.crt/.chain.pem live */
	const char *key_pass; /* for an encrypted NAME.key (resolved) */
	int revoke_old;       /* revoke the old certificate as superseded */
};

/* Renews the newest valid certificate named NAME: same subject, SANs and
 * profile, a new key unless REUSE_KEY; records that the new one supersedes
 * the old; stages the files (replacing the old ones) into FS (which must
 * be forcing). Returns the new certificate. */
X509 *mtls_identity_renew(struct mtls_ca *ca, const char *name,
    const struct mtls_renew_opts *opts, struct mtls_fileset *fs,
    struct mtls_err *err);

/* The newest valid, not superseded certificate named NAME (serial into
 * SERIAL, 0 when found), or MTLS_E_NOTFOUND. */
int mtls_ca_current(struct mtls_ca *ca, const char *name, char *serial,
    size_t len, struct mtls_err *err);

/* Builds a signed X.509 v2 CRL of every revoked certificate (RFC 5280
 * 5.1): CRL number, AKI, thisUpdate, nextUpdate in DAYS, reason codes.
 * *OUT is PEM or DER (freed with OPENSSL_free); *COUNT gets the number
 * of entries. */
int mtls_ca_crl(struct mtls_ca *ca, int days, int der, unsigned char **out,
    size_t *len, long *count, struct mtls_err *err);

/* During a rollover each issuer has its own CRL: mtls_ca_crl lists the
 * revoked certificates the CA's current certificate issued, and this one
 * those the retiring issuer (mtls_ca_previous) issued, signed by the
 * retiring key, which mtls_ca_unlock loads from DIR/rollover (or its
 * token) with the same password. MTLS_E_NOTFOUND outside a rollover. */
int mtls_ca_crl_previous(struct mtls_ca *ca, int days, int der,
    unsigned char **out, size_t *len, long *count, struct mtls_err *err);

/* The retiring issuer's last CRL, made when a rollover finishes (the
 * retired key signs nothing after): what mtls_ca_crl_previous lists, with
 * a nextUpdate a day after the last certificate that issuer signed
 * expires, so certificates still valid after the rollover keep a current
 * CRL until they expire. *NEXT_UPDATE (may be NULL) gets that time. */
int mtls_ca_crl_final(struct mtls_ca *ca, int der, unsigned char **out,
    size_t *len, long *count, time_t *next_update, struct mtls_err *err);

/* A CA rollover, as RFC 4210 4.4's root CA key update: a new key and a
 * new self-signed certificate (NewWithNew) become the issuer; the old
 * root (OldWithOld), the new certificate signed by the old key
 * (NewWithOld) and the old certificate signed by the new key (OldWithNew)
 * are kept in DIR/rollover; DIR/trust.pem, the bundle peers load as their
 * CA file, holds both roots until the rollover is finished. */
struct mtls_rollover_opts {
	const char *name;      /* subject DN; NULL: the old one with its
	                          common name's generation suffix raised
	                          ("Root CA" -> "Root CA G2" -> "Root CA G3") */
	enum mtls_keytype key_type;
	int days;              /* 0: MTLS_DEFAULT_CA_DAYS */
	const char *pass_spec; /* encrypt the new ca.key (and the retiring
	                          key, kept in DIR/rollover), or the token PIN */
	const char *key_uri;   /* "pkcs11:...": the new key is in a token */
	const char *crl_url;   /* the CRL URL of the new issuer's
	                          certificates, distinct from the old one
	                          (kept as ca.json "previous_crl_url"), so a
	                          verifier gets each issuer's own CRL; NULL:
	                          the old URL for both */
};

/* Begins a rollover of the root CA (unlocked, and locked with
 * mtls_ca_lock): every file appears at once or not at all (the CA's
 * journal finishes or undoes a killed begin). Refuses an intermediate
 * (sign a new one under the root instead) and a second rollover while one
 * is under way. CA keeps describing the old issuer: open it again. */
int mtls_ca_rollover_begin(struct mtls_ca *ca,
    const struct mtls_rollover_opts *o, struct mtls_err *err);

/* Calls CB for each certificate that still depends on the old issuer:
 * valid, not expired, not superseded by a renewal, issued by
 * mtls_ca_previous. *COUNT gets how many. No rollover: none. */
int mtls_ca_rollover_dependants(struct mtls_ca *ca, mtls_inv_cb *cb,
    void *arg, size_t *count, struct mtls_err *err);

/* Ends the rollover: DIR/trust.pem holds only the new root, and
 * DIR/rollover moves to DIR/retired/NAME (NAME into RETIRED), with the
 * old key and the old issuer's final CRL (MTLS_CA_FINAL_CRL, written
 * there from mtls_ca_crl_final before this is called); nothing signs for
 * the old issuer afterwards. Refuses while certificates depend on the old issuer, unless
 * FORCE. Hold the CA lock. Running it again after a kill completes it. */
int mtls_ca_rollover_finish(struct mtls_ca *ca, int force, char *retired,
    size_t len, struct mtls_err *err);

/* Checks what mtls_identity_issue would refuse before any key is made:
 * the name, the subject and the SANs (including the default dns:NAME of
 * a server). A batch checks every line before issuing any. */
int mtls_identity_validate(const struct mtls_identity_opts *o,
    struct mtls_err *err);

/* Generates a key, has the CA sign it, and stages NAME.key (0600),
 * NAME.crt, NAME.chain.pem (leaf + CA) and optionally NAME.p12 into FS.
 * Returns the certificate (caller frees) or NULL. */
X509 *mtls_identity_issue(struct mtls_ca *ca,
    const struct mtls_identity_opts *opts, struct mtls_fileset *fs,
    struct mtls_err *err);

/* PKCS#12 of KEY, CERT and CHAIN (may be NULL) named FRIENDLY: modern
 * (AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC, 10,000+ iterations)
 * or LEGACY (PBE-SHA1-3DES keys and certs, SHA-1 MAC). *DER is freed with
 * OPENSSL_free. */
int mtls_p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    const char *friendly, const char *pass, int legacy, unsigned char **der,
    size_t *len, struct mtls_err *err);

/* Checks a CSR for signing: its self-signature (proof of possession), key
 * strength, a requested CA:TRUE (refused), and each requested SAN
 * (malformed ones refused). Extensions are never copied. SAN_ALLOW, when
 * non-NULL, is a comma-separated list of glob patterns each SAN must
 * match (e.g. "dns:*.partner.example,ip:10.0.*"). The CSR's SANs are
 * returned in *SANS (caller frees with GENERAL_NAMES_free). */
int mtls_csr_check(X509_REQ *req, const char *san_allow, GENERAL_NAMES **sans,
    struct mtls_err *err);

/* How a partner's CSR is signed: every choice is ours, never the
 * request's. A named policy is stored with the CA (mtls_policy_*) so a
 * partner's next CSR is signed exactly like its first. */
struct mtls_sign_policy {
	const char *name;          /* stored policy name, or NULL */
	enum mtls_profile profile; /* server, client or node */
	/* The subject: SUBJECT when given; else the CSR's own subject when it
	 * matches one of the newline-separated per-RDN patterns of
	 * SUBJECT_ALLOW (mtls_name_match); else "CN=<inventory name>". */
	const char *subject;
	const char *subject_allow;
	/* SANs are closed: the certificate carries SANS ("dns:a,ip:b") and
	 * those the CSR asks for that match SAN_ALLOW (comma-separated
	 * globs); any other SAN in the CSR is refused. */
	const char *sans;
	const char *san_allow;
	int days;                  /* 0: MTLS_DEFAULT_DAYS */
	/* Certificate policy OIDs the certificate carries (comma-separated),
	 * or NULL: the partner gets exactly these; a CSR asking for any other
	 * policy is refused. */
	const char *cert_policies;
};

/* What mtls_ca_sign_partner decided, for the operator to read. */
struct mtls_sign_result {
	X509 *cert;                /* owned by the caller */
	char name[201];            /* the inventory name used */
	char supersedes[80];       /* serial it replaces, or "" */
	int subject_replaced;      /* the CSR asked for another subject */
};

/* Signs partner CSR under POL as inventory NAME (NULL: the CSR's CN, which
 * must be a valid name) with origin MTLS_ORIGIN_PARTNER. Checks the CSR
 * first (mtls_csr_check). NAME must be new, unless RENEW and NAME's
 * current certificate is a partner's: then the new one supersedes it.
 * Joins an open mtls_ca_begin transaction, else makes its own. Every
 * refusal is MTLS_E_POLICY (or MTLS_E_EXISTS for a taken name) naming
 * the rule. */
int mtls_ca_sign_partner(struct mtls_ca *ca, X509_REQ *csr, const char *name,
    const struct mtls_sign_policy *pol, int renew,
    struct mtls_sign_result *res, struct mtls_err *err);

/* Stores POL under POL->name (replacing it only when FORCE). */
int mtls_policy_save(struct mtls_ca *ca, const struct mtls_sign_policy *pol,
    int force, struct mtls_err *err);

/* Calls CB for the policy NAME (MTLS_E_NOTFOUND when there is none), or
 * for every policy in name order when NAME is NULL. The policy is
 * borrowed for the callback. */
typedef int mtls_policy_cb(const struct mtls_sign_policy *pol, void *arg);
int mtls_policy_get(struct mtls_ca *ca, const char *name, mtls_policy_cb *cb,
    void *arg, struct mtls_err *err);

/* Where an identity was deployed: a directory holding NAME.key, NAME.crt
 * and NAME.chain.pem (FORMAT "files"), a container exported from them
 * ("pem", "der", "p12", "p12-legacy", "jks") or a server bundle
 * ("bundle:nginx", ...). ARGS: the command options that write it again,
 * tab-separated, never holding a literal password. */
struct mtls_deployment {
	const char *name;
	const char *path;   /* absolute */
	const char *format;
	const char *args;
	time_t recorded_at;
};

/* Records (or updates, keyed by NAME and PATH) one deployment. */
int mtls_ca_deploy_record(struct mtls_ca *ca, const struct mtls_deployment *d,
    struct mtls_err *err);

/* Calls CB for every deployment of NAME (every name when NULL), by name,
 * "files" directories first, then in the order they were recorded. The
 * entry is borrowed for the callback; a non-zero return stops the walk
 * and is returned. */
typedef int mtls_deploy_cb(const struct mtls_deployment *d, void *arg);
int mtls_ca_deployments(struct mtls_ca *ca, const char *name,
    mtls_deploy_cb *cb, void *arg, struct mtls_err *err);

/* Deletes the policy NAME (MTLS_E_NOTFOUND when there is none). */
int mtls_policy_remove(struct mtls_ca *ca, const char *name,
    struct mtls_err *err);

/* SHA-256 of the CSR's DER in colon hex (the form `openssl req -noout
 * -fingerprint` has not, but `mtls csr`, `sign` and `inspect` print), so
 * both sides of an exchange can compare it out of band. */
int mtls_csr_fingerprint(X509_REQ *req, char *buf, size_t len,
    struct mtls_err *err);

/* Loads a CSR (PEM or DER). */
X509_REQ *mtls_load_csr(const char *path, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
