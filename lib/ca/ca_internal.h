/* State shared by the CA modules (ca.c, sign.c, identity.c). Private. */
#ifndef MTLS_CA_INTERNAL_H
#define MTLS_CA_INTERNAL_H

#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "ca/inventory.h"
#include "pki/p11.h"

struct mtls_ca {
	char *dir;
	X509 *cert;
	EVP_PKEY *key; /* NULL until mtls_ca_unlock */
	char *key_uri; /* PKCS#11 URI when the key lives in a token */
	struct mtls_p11 *p11; /* the token session KEY needs */
	struct mtls_inv *inv;
	char *inv_path; /* DIR/inventory.db */
	char *db_url;   /* ca.json "db": a postgresql:// URL, or NULL */
	char *db_pass;  /* ca.json "db_pass": its password spec, or NULL */
	char *crl_url;
	char *prev_crl_url; /* ca.json "previous_crl_url": the retiring or
	                       retired issuer's, when a rollover gave the new
	                       one its own */
	char *ocsp_url;
	/* Encoded once per CA, reused for every certificate it signs. */
	X509_EXTENSION *aki;
	X509_EXTENSION *crl_dp;
	X509_EXTENSION *aia;
	STACK_OF(X509) *issuers; /* intermediates above CERT, then the root;
	                            empty for a root CA */
	char *chain_pem; /* CERT and its intermediates, PEM, appended to
	                    chains (the root too, as always) */
	size_t chain_pem_len;
	/* During a rollover (DIR/rollover): the issuer being replaced and
	 * the new one's certificate signed by it (RFC 4210 4.4 NewWithOld),
	 * which chains carry so that peers trusting only PREV still verify
	 * what CERT issues. NULL otherwise. */
	X509 *prev;
	X509 *cross;
	EVP_PKEY *prev_key;         /* PREV's key, for its CRL and OCSP */
	struct mtls_p11 *prev_p11;  /* the token session PREV_KEY needs */
	char prev_key_why[MTLS_ERR_MSG_MAX]; /* why PREV_KEY is NULL (rollover) */
	struct mtls__lock *lock; /* held between mtls_ca_lock and _release */
	char *recovery;          /* what taking the lock finished or undid */
	int txn_lock;            /* the lock ends with the transaction */
	/* Group commit (journal.c): one transaction that a server's burst
	 * of writes shares, committed once (mtls__ca_group_join). */
	int group_open;
	int group_failed;        /* a savepoint could not be closed */
	void (*group_flush)(void *arg);
	void *group_arg;
};

/* lock.c: DIR/lock, taken with a wait bounded by WAIT_MS, or when
 * negative by $MTLS_LOCK_WAIT (seconds, default 30); a timeout is
 * MTLS_E_BUSY naming the holder. *PREV gets the text a killed holder
 * left (NULL after a clean release; caller frees). */
struct mtls__lock;
struct mtls__lock *mtls__lock_take(const char *dir, long wait_ms, char **prev,
    struct mtls_err *err);
void mtls__lock_drop(struct mtls__lock *lk);
/* 1 when someone waits for DIR/lock now (a fresh DIR/lock.want). */
int mtls__lock_wanted(const char *dir);
/* journal.c: mtls_ca_begin under the CA lock, waiting at most WAIT_MS
 * (MTLS_E_BUSY after); mtls_ca_commit/_rollback release it again unless
 * it was held before. For a server that writes between commands. */
#define MTLS__CA_WRITE_WAIT_MS 300 /* a server's wait, then "retry later" */
int mtls__ca_begin_locked(struct mtls_ca *ca, long wait_ms,
    struct mtls_err *err);
void mtls__ca_txn_unlock(struct mtls_ca *ca);
/* journal.c: mtls_ca_lock waiting at most WAIT_MS (0: not at all;
 * MTLS_E_BUSY naming the holder after). *TOOK is 1 when this call took
 * the lock (the caller releases it with mtls_ca_release), 0 when it was
 * held already. For a server's writes outside a transaction. */
int mtls__ca_lock_wait(struct mtls_ca *ca, long wait_ms, int *took,
    struct mtls_err *err);
/* Group commit, for a server whose event loop answers a burst of writes
 * with one durable commit (one fdatasync) instead of one each. A request
 * joins the group (the first one opens its transaction under the CA lock,
 * waiting at most WAIT_MS) and gets a savepoint for its own writes, which
 * it keeps or undoes when it leaves; nothing is durable, so nothing may
 * be answered, until mtls__ca_group_commit. FLUSH(ARG) is called when
 * another writer (mtls_ca_begin, mtls__ca_begin_locked) needs the
 * database while a group is open: it must commit the group and send the
 * answers that waited for it. */
void mtls__ca_group_init(struct mtls_ca *ca, void (*flush)(void *arg),
    void *arg);
int mtls__ca_group_join(struct mtls_ca *ca, long wait_ms, struct mtls_err *err);
/* KEEP 1: the request's writes stay in the group; 0: they are undone
 * (the others' stay). -1 when the savepoint could not be closed: the
 * whole group then fails at its commit. */
int mtls__ca_group_leave(struct mtls_ca *ca, int keep, struct mtls_err *err);
/* 1 while a group's transaction is open (answers must wait for it). */
int mtls__ca_group_open(const struct mtls_ca *ca);
/* Commits the open group (0 when none is open); on failure nothing of
 * the group was recorded. KEEP_LOCK: the CA lock stays held for the
 * next group (a burst); the caller releases it (mtls_ca_release) when
 * idle, after a bounded time, or when mtls__ca_lock_wanted. */
int mtls__ca_group_commit(struct mtls_ca *ca, int keep_lock,
    struct mtls_err *err);
/* 1 while this handle holds the CA lock. */
int mtls__ca_lock_held(const struct mtls_ca *ca);
/* 1 when another process waits for the CA lock. */
int mtls__ca_lock_wanted(const struct mtls_ca *ca);
/* A fileset stage hook (ARG: the lock): notes PATH's directory. */
int mtls__lock_note(const char *path, void *arg, struct mtls_err *err);
/* Removes temporary files of a killed writer from CA_DIR and from the
 * directories PREV notes; returns how many. */
size_t mtls__lock_sweep(const char *ca_dir, const char *prev);

/* The digest a signature by KEY uses (NULL for EdDSA). */
const EVP_MD *mtls__sign_md(const EVP_PKEY *key);

/* 16 random bytes, top bit clear, second bit set: a positive 127-bit
 * serial whose encoding is always 16 bytes (RFC 5280 4.1.2.2). */
int mtls__random_serial(ASN1_INTEGER *serial, struct mtls_err *err);

/* caexts.c, a leaf both the root (ca.c) and the sub-CA profile (subca.c)
 * use: adds an extension built from a structure. */
int mtls__add_ext(X509 *x, int nid, int crit, void *value,
    struct mtls_err *err);

/* Subject key identifier (RFC 5280 4.2.1.2 method 1) for X's key. */
int mtls__add_ski(X509 *x, struct mtls_err *err);

/* A CA's basicConstraints (critical, cA TRUE, PATH_LEN when >= 0) and
 * keyUsage (critical: keyCertSign, cRLSign, digitalSignature). */
int mtls__add_ca_exts(X509 *x, int path_len, struct mtls_err *err);

/* certpol.c, the certificatePolicies we issue (RFC 5280 4.2.1.4). LIST is
 * comma-separated dotted OIDs ("1.3.6.1.4.1.99999.1,2.23.140.1.2.1");
 * NULL or "" means none. Each refuses a malformed or repeated OID with
 * MTLS_E_USAGE naming it. */
int mtls__policies_check(const char *list, struct mtls_err *err);
/* Adds LIST as a non-critical certificatePolicies extension (none when
 * LIST is empty). */
int mtls__add_policies(X509 *x, const char *list, struct mtls_err *err);
/* X's policy OIDs as such a list ("" when X has none; caller frees), or
 * NULL when the extension does not decode. */
char *mtls__policies_text(X509 *x, struct mtls_err *err);
/* Refuses (MTLS_E_POLICY) an OID of LIST that CACERT, when it is not a
 * self-issued root, neither asserts nor covers with anyPolicy: no chain
 * through it would be valid for that policy. */
int mtls__policies_issuable(X509 *cacert, const char *list,
    struct mtls_err *err);

/* An identity name is also a file name: one short path component
 * without control characters (identity.c). */
int mtls__ca_check_name(const char *name, struct mtls_err *err);

/* Calls CB for every revoked certificate (for CRLs), in serial order;
 * WITH_PEM: with its PEM (to tell the issuers of a rollover apart). */
int mtls__ca_list_revoked(struct mtls_ca *ca, int with_pem, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);

/* During a rollover: 1 when PEM (a certificate) was issued by the
 * retiring issuer, ca->prev (its name and key identifier), else 0. */
int mtls__ca_by_prev(const struct mtls_ca *ca, const char *pem);

/* The retiring issuer's key (borrowed; loaded by mtls_ca_unlock from
 * DIR/rollover/old.key or the token named in DIR/rollover/state.json),
 * or NULL with ERR saying why. */
EVP_PKEY *mtls__ca_prev_key(const struct mtls_ca *ca, struct mtls_err *err);
/* prevkey.c, from mtls_ca_unlock: loads PREV_KEY when a rollover is
 * under way, with PASS_SPEC (the old key keeps its old password; a
 * password read once, fd: or stdin, is not read twice). Never fails:
 * what went wrong is kept for mtls__ca_prev_key. */
void mtls__ca_unlock_prev(struct mtls_ca *ca, const char *pass_spec);

/* Loads the issuer again from the CA directory (certificate, settings,
 * chain, rollover, keys with PASS_SPEC) and, when all of it loads and
 * matches, puts it in CA's place; the inventory, lock and directory stay.
 * Returns a CA object holding what CA had (free it with mtls_ca_free once
 * nothing borrows from it, or give it back with mtls__ca_reload_undo), or
 * NULL with CA unchanged. For a server following a rollover. */
struct mtls_ca *mtls__ca_reload(struct mtls_ca *ca, const char *pass_spec,
    struct mtls_err *err);
void mtls__ca_reload_undo(struct mtls_ca *ca, struct mtls_ca *old);
/* A number that changes whenever a file describing the issuer (ca.crt,
 * ca.key, ca.json, ca.chain.pem, rollover/) is replaced, created or
 * removed: cheap enough to look at every second. */
unsigned long long mtls__ca_files_stamp(const struct mtls_ca *ca);

/* Records that NEW_SERIAL supersedes OLD_SERIAL (renewal). */
int mtls__ca_set_superseded(struct mtls_ca *ca, const char *old_serial,
    const char *new_serial, struct mtls_err *err);

/* Borrowed CA private key (NULL until unlocked), for CRL/OCSP signing. */
EVP_PKEY *mtls__ca_key(const struct mtls_ca *ca);

/* How many certificates are revoked and the latest revocation time: a
 * cheap fingerprint of what a CRL would list, so a server can tell when
 * its CRL is out of date without building a new one. */
int mtls__ca_revocation_state(struct mtls_ca *ca, long long *count,
    time_t *latest, struct mtls_err *err);

/* The next CRL number (monotonic, stored in the inventory). */
int mtls__ca_next_crl_number(struct mtls_ca *ca, long long *out,
    struct mtls_err *err);

/* Adds basicConstraints, keyUsage and name constraints of an
 * intermediate (intermediate.c). */
int mtls__subca_exts(X509 *x, const struct mtls_subca_opts *o,
    struct mtls_err *err);

/* Refuses a (signed, not yet recorded) certificate whose names fall
 * outside CACERT's name constraints (intermediate.c). */
int mtls__subca_check_names(X509 *cacert, X509 *x, struct mtls_err *err);

/* A self-signed CA certificate for KEY named NAME, valid DAYS, asserting
 * the certificate POLICIES (a list as above, or NULL) (ca_init.c). */
X509 *mtls__ca_make_root(EVP_PKEY *key, X509_NAME *name, int days,
    const char *policies, struct mtls_err *err);

/* The key of a new CA: made here (and *PASS, the password to encrypt it
 * with, resolved), or found in a token by O->key_uri (*P11 then holds the
 * session; free the key before closing it). */
EVP_PKEY *mtls__ca_new_key(const struct mtls_ca_init_opts *o, char **pass,
    struct mtls_p11 **p11, struct mtls_err *err);

/* True when DIR holds an intermediate started with mtls_ca_request and
 * not yet installed (ca.c). */
int mtls__ca_pending(const char *dir);

/* Where the CA's state lives: the URL of ca.json's "db", else the
 * inventory file in the CA directory; and that database's password spec
 * (NULL: none, or libpq's PGPASSFILE). */
const char *mtls__ca_db_where(const struct mtls_ca *ca);
const char *mtls__ca_db_pass(const struct mtls_ca *ca);

#define MTLS_CA_CERT "ca.crt"
#define MTLS_CA_KEY "ca.key"
#define MTLS_CA_CONF "ca.json"
#define MTLS_CA_INV "inventory.db"
#define MTLS_CA_CSR "ca.csr"
#define MTLS_CA_CHAIN "ca.chain.pem"
#define MTLS_CA_ROOT "root.crt"
/* Rollover (rollover.c): the overlap's files, and the trust bundle. */
#define MTLS_CA_ROLL "rollover"
#define MTLS_CA_ROLL_OLD "rollover/old.crt"
#define MTLS_CA_ROLL_OLDKEY "rollover/old.key"
#define MTLS_CA_ROLL_STATE "rollover/state.json"
#define MTLS_CA_ROLL_NEWOLD "rollover/new-by-old.crt"
#define MTLS_CA_ROLL_OLDNEW "rollover/old-by-new.crt"
#define MTLS_CA_RETIRED "retired"
#define MTLS_CA_TRUST "trust.pem"

#endif
