/*
 * mtls/auditlog.h - the receiver's tamper-evident audit log (`mtls serve
 * --audit-log FILE`) and its check (`mtls audit verify`).
 *
 * One record a line, written with one append:
 *
 *   mtls-audit-1 seq=N time=T event=E peer=ADDR fp=SHA256 subject=DN
 *     path=P bytes=N result=R prev=H0 hash=H
 *
 * (one line). EVENT is accept (a handshake completed), refuse (a
 * connection refused at the TLS layer or over --max-conns), write or
 * delete (an Activate or Deactivate and its outcome), start, stop, rotate
 * or recover. FP is the SHA-256 of the client certificate's DER ("-"
 * without one); field values are escaped as in the text access log (no
 * spaces, no control characters). HASH is the SHA-256 of the line up to
 * " hash="; PREV is the HASH of the record before it (64 zeros before the
 * first record of a log), so each record commits to all before it: an
 * edited, removed, inserted or reordered record breaks the chain at that
 * record. Truncating the tail is detectable only against a record kept
 * elsewhere (the last HASH, shown by verify).
 */
#ifndef MTLS_AUDITLOG_H
#define MTLS_AUDITLOG_H

#include <stddef.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#define MTLS_AUDIT_MAGIC "mtls-audit-1"

/* What verify saw in a chain that holds. */
struct mtls_audit_summary {
	unsigned long long records;   /* records checked, all files */
	unsigned long long first_seq; /* seq of the first record */
	unsigned long long last_seq;
	int continues;                /* the first record continues an
	                                 earlier (rotated) file */
	char last_hash[65];           /* the chain's head, to keep elsewhere */
};

/* Checks the audit logs PATHS[0..N-1], oldest first (rotated files
 * FILE.SEQ before FILE): each record's hash, its place in the sequence
 * and its link to the record before it, across files. Returns 0 and fills
 * S when every record holds; otherwise -1 with an MTLS_E_VERIFY error
 * naming the first bad record in one line ("FILE:LINE: seq N: ..."), or
 * MTLS_E_IO when a file cannot be read. */
int mtls_audit_verify(const char *const *paths, size_t n,
    struct mtls_audit_summary *s, struct mtls_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
