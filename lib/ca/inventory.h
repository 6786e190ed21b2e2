/* The CA's inventory: every certificate the CA issued, its revocations
 * and CRL numbers, in the CA's database (ca/db.h: a SQLite file in the
 * CA directory, or PostgreSQL). Private. */
#ifndef MTLS_INVENTORY_H
#define MTLS_INVENTORY_H

#include <time.h>

#include "mtls/ca.h"
#include "ca/db.h"

struct mtls_inv;

/* Opens WHERE (a file path or a postgresql:// URL; PASS_SPEC its
 * password, or NULL) and brings its schema up to date. CREATE: a new
 * SQLite file may be made. */
struct mtls_inv *mtls__inv_open(const char *where, const char *pass_spec,
    int create, struct mtls_err *err);
void mtls__inv_close(struct mtls_inv *inv);

/* Creates or upgrades the schema of DB (schema.c). */
int mtls__inv_migrate(struct mtls_db *db, int create, struct mtls_err *err);

/* 0 when every table and column of the SQLite inventory SRC is either
 * copied by mtls_ca_migrate_db or deliberately left behind (migrate.c);
 * MTLS_E_INTERNAL naming the first one that is neither. */
int mtls__migrate_check_tables(struct mtls_db *src, struct mtls_err *err);

/* How long a write waits for another writer before failing with
 * MTLS_E_BUSY (default 10 s; an event loop wants less). */
void mtls__inv_busy_wait(struct mtls_inv *inv, int ms);

int mtls__inv_begin(struct mtls_inv *inv, struct mtls_err *err);
int mtls__inv_commit(struct mtls_inv *inv, struct mtls_err *err);
void mtls__inv_rollback(struct mtls_inv *inv);
int mtls__inv_in_txn(const struct mtls_inv *inv);

/* 1 when SERIAL (hex) is taken, 0 when free, -1 on error. */
int mtls__inv_serial_taken(struct mtls_inv *inv, const char *serial,
    struct mtls_err *err);

/* Records an issued certificate (fields as in struct mtls_inv_entry). A
 * serial recorded already (here or by another instance sharing the
 * database) fails with MTLS_E_EXISTS: the PRIMARY KEY decides. */
int mtls__inv_add(struct mtls_inv *inv, const struct mtls_inv_entry *e,
    struct mtls_err *err);

int mtls__inv_list(struct mtls_inv *inv, const char *name, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);

struct mtls_db *mtls__inv_db(struct mtls_inv *inv);

/* 0 when no certificate is recorded; MTLS_E_EXISTS otherwise (a shared
 * database given to a new CA must not mix two CAs' serials). */
int mtls__inv_check_empty(struct mtls_inv *inv, struct mtls_err *err);

/* Serials recorded by mtls__inv_add since the last begin ("A,B"; "" none). */
const char *mtls__inv_txn_serials(const struct mtls_inv *inv);

int mtls__inv_lookup(struct mtls_inv *inv, const char *serial, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);
/* Every revoked certificate; WITH_PEM: its PEM too (else ""). */
int mtls__inv_list_revoked(struct mtls_inv *inv, int with_pem, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err);
int mtls__inv_revoke(struct mtls_inv *inv, const char *serial, const char *reason,
    time_t when, struct mtls_err *err);
int mtls__inv_set_superseded(struct mtls_inv *inv, const char *old_serial,
    const char *new_serial, struct mtls_err *err);
int mtls__inv_revocation_state(struct mtls_inv *inv, long long *count,
    time_t *latest, struct mtls_err *err);
/* How many certificates named NAME were made here (*LOCAL) and signed
 * from partners' CSRs (*PARTNER). */
int mtls__inv_name_origins(struct mtls_inv *inv, const char *name, int *local,
    int *partner, struct mtls_err *err);
/* The next CRL number, taken from the database in one statement: every
 * instance sharing it gets a different, increasing number. */
int mtls__inv_next_crl_number(struct mtls_inv *inv, long long *out,
    struct mtls_err *err);
#endif
