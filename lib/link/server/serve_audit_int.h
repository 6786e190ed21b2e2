/* The receiver's audit log writer (serve_audit.c; format in mtls/auditlog.h).
 * Private to lib/link/server. */
#ifndef MTLS_SERVE_AUDIT_INT_H
#define MTLS_SERVE_AUDIT_INT_H

#include <stddef.h>

#include <openssl/x509.h>

#include "mtls/err.h"

struct mtls__audit;

/* One record's fields; NULL or "" is written as "-". */
struct mtls__audit_rec {
	const char *event;   /* accept, refuse, write, delete, ... */
	const char *peer;    /* "addr:port" */
	const char *fp;      /* SHA-256 of the client certificate, hex */
	const char *subject; /* its subject DN */
	const char *path;
	unsigned long long bytes;
	const char *result;
};

/* Opens (creates 0600) the log at PATH and continues its chain from its
 * last record (or, when PATH is missing, from the newest rotated PATH.SEQ);
 * a torn last line left by a crash is cut off and a "recover" record says
 * so. Writes a "start" record. MAX_BYTES > 0: before a record would take
 * the file past it, the file becomes PATH.SEQ (SEQ of its last record;
 * never overwriting) and a new PATH starts with a "rotate" record chained
 * to it. NULL on error (ERR says why: unreadable last record, I/O). */
struct mtls__audit *mtls__audit_open(const char *path, long long max_bytes,
    struct mtls_err *err);

/* Appends R as one record with one write(2), under A's lock (all workers
 * share A). SYNC: fdatasync before returning, which also makes durable
 * every record before it. A NULL A: nothing (no --audit-log). */
int mtls__audit_write(struct mtls__audit *a, const struct mtls__audit_rec *r,
    int sync, struct mtls_err *err);

/* Writes a synced "stop" record, closes, frees. NULL-safe. */
void mtls__audit_close(struct mtls__audit *a);

/* CERT's SHA-256 fingerprint (hex) into FP and its subject (one line)
 * into SUBJECT; "-" for both when CERT is NULL. */
void mtls__audit_cert(X509 *cert, char fp[65], char *subject, size_t len);

#endif
