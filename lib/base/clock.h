/* One clock and one UTC formatter for the whole library. Private to
 * libmtls. Every time we print is UTC; the style names the one format each
 * kind of output uses. */
#ifndef MTLS_BASE_CLOCK_H
#define MTLS_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/asn1.h>

/* Wall clock: milliseconds since the Unix epoch (CLOCK_REALTIME). For
 * timestamps that are stored or shown. */
int64_t mtls__now_ms(void);

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC), for timeouts,
 * durations and rate limits: never jumps when the wall clock is set. */
int64_t mtls__mono_ms(void);

enum mtls__time_style {
	MTLS__TIME_HUMAN,      /* 2026-11-22 11:54:46 UTC  (messages, findings) */
	MTLS__TIME_RFC3339,    /* 2026-11-22T11:54:46Z     (JSON, logs) */
	MTLS__TIME_RFC3339_MS, /* 2026-11-22T11:54:46.123Z (access logs) */
	MTLS__TIME_DATE,       /* 2026-11-22               (tables) */
	MTLS__TIME_ASN1,       /* 20261122115446Z  (GeneralizedTime, RFC 5280 4.1.2.5.2) */
	MTLS__TIME_HTTP,       /* Sun, 22 Nov 2026 11:54:46 GMT (RFC 9110 5.6.7) */
};

/* Formats MS (milliseconds since the epoch, UTC) into BUF (LEN bytes, 32
 * are always enough). Returns the length written, 0 when it does not fit
 * or the time cannot be represented (BUF then holds ""). */
size_t mtls__time_format_ms(int64_t ms, enum mtls__time_style style,
    char *buf, size_t len);

/* The same for seconds since the epoch. */
size_t mtls__time_format(int64_t secs, enum mtls__time_style style,
    char *buf, size_t len);

/* The same for a certificate or CRL time; "(invalid date)" when T is NULL
 * or not a valid time. */
size_t mtls__time_format_asn1(const ASN1_TIME *t, enum mtls__time_style style,
    char *buf, size_t len);

/* Seconds since the epoch of T; 0 when T is NULL or not a valid time. */
int64_t mtls__time_of_asn1(const ASN1_TIME *t);

#endif
