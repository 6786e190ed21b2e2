/* The deployment record on the command's side: export, bundle and issue
 * note where they wrote an identity; renew and rotate write every noted
 * copy again from the renewed files. */
#ifndef MTLS_DEPLOY_H
#define MTLS_DEPLOY_H

#include <stddef.h>

#include "mtls/ca.h"

/* Room for the options a deployment repeats (tab-separated). */
#define DEPLOY_ARGS_MAX 2048

/* Appends OPT (and VAL when not NULL) to ARGS. */
void deploy_args_add(char *args, size_t len, const char *opt, const char *val);

/* Appends --pass SPEC unless SPEC carries the password itself (pass:,
 * fd:, stdin): those are never stored, renew asks with --store-pass. */
void deploy_args_pass(char *args, size_t len, const char *spec);

/* Records that NAME was written to PATH in FORMAT, in the inventory of
 * the CA at CA_DIR when there is one. A failure only warns: the files
 * are written; the next renewal just will not rewrite this copy. */
void deploy_note(const char *ca_dir, const char *name, const char *path,
    const char *format, const char *args);

/* The same with the CA already open. */
void deploy_note_ca(struct mtls_ca *ca, const char *name, const char *path,
    const char *format, const char *args);

/* What issue wrote for ID (NAME.key/.crt/.chain.pem in ID->out_dir, and
 * NAME.p12 with ID->p12, whose password is recorded as P12_PASS_SPEC
 * when that is a reference): issue and issue --batch note the same. */
void deploy_note_issued(struct mtls_ca *ca, const struct mtls_identity_opts *id,
    const char *p12_pass_spec);

/* The directory NAME's key, certificate and chain were last written to
 * (format "files"), into BUF; -1 when none is recorded. */
int deploy_files_dir(struct mtls_ca *ca, const char *name, char *buf,
    size_t len);

struct deploy_redo {
	const char *files_dir;  /* where the renewed NAME.key etc. are */
	const char *key_pass;   /* --key-pass SPEC of the renewed key, or NULL */
	const char *store_pass; /* for copies whose password was not stored */
	const char *ca_dir;
};

/* Writes every recorded copy of NAME again (keystores, PEM/DER exports,
 * bundles), each file atomically, from R->files_dir. Returns the number of
 * copies that failed (each reported on stderr with the command that
 * redoes it), 0 when all were rewritten. */
int deploy_rewrite(struct mtls_ca *ca, const char *name,
    const struct deploy_redo *r);

#endif
