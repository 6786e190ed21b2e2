/*
 * mtls/clock.h - the one UTC formatter, for applications and the command.
 *
 * Every time libmtls prints is UTC; a style names the one format each kind
 * of output uses, so a date in a table reads the same in every command.
 */
#ifndef MTLS_CLOCK_H
#define MTLS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

enum mtls_time_style {
	MTLS_TIME_HUMAN,   /* 2026-11-22 11:54:46 UTC  (messages, findings) */
	MTLS_TIME_RFC3339, /* 2026-11-22T11:54:46Z     (JSON, logs) */
	MTLS_TIME_DATE,    /* 2026-11-22               (tables) */
};

/* Formats SECS (seconds since the Unix epoch) into BUF (LEN bytes; 32 are
 * always enough) in STYLE. Returns the length written, 0 when it does not
 * fit, the time cannot be represented or STYLE is unknown (BUF then holds
 * "" when LEN > 0). */
size_t mtls_time_utc(int64_t secs, enum mtls_time_style style, char *buf,
    size_t len);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
