/* Helpers shared by `mtls keystore` and `mtls convert`. */
#ifndef MTLS_STORE_CLI_H
#define MTLS_STORE_CLI_H

#include "mtls/store.h"

enum sc_out {
	SC_NONE,
	SC_PEM,
	SC_DER,
	SC_P12,
	SC_JKS,
};

/* Output kind for a --to/--type value ("pem", "der", "p12", "pkcs12",
 * "jks"), or SC_NONE. */
enum sc_out sc_kind_parse(const char *s);

/* Output kind from PATH's extension, or SC_NONE. */
enum sc_out sc_kind_from_ext(const char *path);

/* PATH ends with EXT (case-insensitive). */
int sc_has_ext(const char *path, const char *ext);

/* A password from SPEC; without one, asks on a terminal (twice when
 * CONFIRM) or fails naming OPT ("--pass"). */
char *sc_pass(const char *spec, const char *opt, const char *what,
    int confirm, struct mtls_err *err);

/* Warnings Java users need (to stderr): short passwords, non-ASCII
 * PKCS#12 passwords. */
void sc_pass_warn(const char *pass, enum sc_out kind);

/* Loads STORE from PATH; *EXISTS is set to 0 (and an empty store
 * returned) when PATH does not exist. */
struct mtls_store *sc_store_load(const char *path, const char *pass,
    const char *key_pass, int *exists, struct mtls_err *err);

/* Serialises S as KIND and writes PATH atomically (0600 when it holds a
 * key, else 0644), replacing it when FORCE. */
int sc_store_save(struct mtls_store *s, const char *path, enum sc_out kind,
    const char *pass, const struct mtls_store_opts *opts, int force,
    struct mtls_err *err);

/* Takes turns with other writers (mtls keystore, mtls convert) of the
 * stores in PATH's directory (flock(2) on the directory, waiting at most
 * $MTLS_LOCK_WAIT seconds, default 30). *FD is for sc_store_unlock (-1 safe). */
int sc_store_lock(const char *path, int *fd, struct mtls_err *err);
void sc_store_unlock(int fd);

/* Under the lock (DIRFD, from sc_store_lock): removes PATH.tmp-XXXXXX
 * files a killed writer left, saying so on stderr. */
void sc_store_sweep(int dirfd, const char *path);

#endif
