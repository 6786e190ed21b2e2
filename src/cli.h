/* Shared plumbing for the `mtls` subcommands. */
#ifndef MTLS_CLI_H
#define MTLS_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <openssl/types.h>

#include "mtls/err.h"

/* Each subcommand: argv[0] is the subcommand's name; returns exit status. */
typedef int cli_run_fn(int argc, char **argv);

struct cli_cmd {
	const char *name;
	cli_run_fn *run;
	const char *summary;
};

/* The table of subcommands (main.c). */
extern const struct cli_cmd cli_cmds[];

/* Prints "mtls: <message>" for ERR and returns its exit status. */
int cli_fail(const struct mtls_err *err);

/* The JSON vocabulary of --json outputs (docs/json.md), one helper per
 * rule so every command writes the same forms. */

/* Makes cli_fail also print the error object on stdout:
 * {"error": {"code": "io", "message": "...", "exit_status": 1}}. Each
 * command calls it once --json is parsed. */
void cli_json_errors(void);

/* The error object's inside, {code, message, exit_status}, for a report
 * that carries it beside what was done (test, renew, rotate). */
struct mtls_err;
json_t *cli_json_error(const struct mtls_err *err);

/* Prints DOC on stdout (indented, one document) and frees it. */
void cli_json_print(json_t *doc);

/* Ends a report that may carry a failure beside what was done (test,
 * renew, rotate, issue --batch): with ERR (non-NULL) the report gains
 * "error" and the message goes to stderr too. Prints and frees REPORT;
 * returns the exit status (0 without ERR). */
int cli_json_report(json_t *report, const struct mtls_err *err);

/* The object of an identity written as NAME.key, NAME.crt, NAME.chain.pem
 * (and NAME.p12 with P12) into DIR: {name, profile, files, certificate}
 * (issue, issue --batch, renew, rotate); PROFILE NULL leaves it out. */
json_t *cli_json_identity(const char *name, const char *profile,
    const char *dir, int p12, X509 *cert);

/* Points stdout at stderr while the writers a command reuses (export,
 * bundle) print their lines, so --json leaves one document on stdout;
 * returns what cli_stdout_back restores (-1: nothing to restore). */
int cli_stdout_aside(void);
void cli_stdout_back(int saved);

/* A date: the RFC 3339 UTC string ("2026-11-22T11:54:46Z"); null for 0. */
json_t *cli_json_time(time_t t);

/* A comma-separated list ("dns:a,ip:10.0.0.1") as an array of strings; an
 * empty or NULL list is []. */
json_t *cli_json_list(const char *csv);

/* A fingerprint ("AB:CD:..." or hex) as lower-case hex; null when FP is
 * NULL, empty or not hex. */
json_t *cli_json_fingerprint(const char *fp);

/* Prints "mtls CMD: <message>" plus a pointer to --help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) MTLS_PRINTF(2, 3);

/* Prints USAGE to stdout and returns 0 (for --help). */
int cli_help(const char *usage);

/* Standard getopt_long loop tail: reports an unknown option and returns 2. */
int cli_bad_option(const char *cmd);

/* Parses a positive integer option value in [MIN, MAX]. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, long min,
    long max, long *out);

/* Resolves the CA directory: OPT, else $MTLS_CA_DIR, else "./pki". */
const char *cli_ca_dir(const char *opt);

struct mtls_ca;

/* Takes the CA lock (mtls_ca_lock) and prints on stderr, one "mtls: "
 * line each, what it finished or undid of a killed command's work. */
int cli_ca_lock(struct mtls_ca *ca, struct mtls_err *err);

/* Warns on stderr when DIR (a CA or output directory) is group- or
 * world-writable. */
void cli_warn_dir(const char *dir);

/* True when stderr is a terminal (progress bars). */
int cli_is_tty(void);

/* Resets getopt so each subcommand parses from the start. */
void cli_getopt_reset(void);



/* Draws a progress bar on stderr ("[####....] 12/40 (35/s)"); call only
 * when cli_is_tty(). START is when the work began. */
void cli_progress(size_t done, size_t total, time_t start);

/* Parses "30d", "12h", "90m", "2w" or plain seconds into seconds. */
int cli_parse_duration(const char *cmd, const char *opt, const char *val,
    long *seconds);
/* The same without a message: 0, or -1 when VAL is no duration. */
int cli_duration(const char *val, long *seconds);

/* The next whitespace-separated field of *P (NUL-terminated in place),
 * or NULL at the end; *P moves past it. For line-oriented batch files. */
char *cli_next_field(char **p);

/* Appends ENTRY (a --resolve value, HOST:PORT:ADDR) to *LIST, a
 * comma-separated list owned by the caller (free()). Returns 0, or 2
 * after a usage message when ENTRY is malformed or memory runs out. */
int cli_resolve_add(const char *cmd, char **list, const char *entry);

/* Adds the entries of $MTLS_RESOLVE (same form, comma-separated) after
 * the options' own, so the command line wins; returns 0 or 2. */
int cli_resolve_env(const char *cmd, char **list);
/* T as "2026-01-02T10:00:00Z" into BUF ("-" when T is 0). */
void cli_utc(time_t t, char *buf, size_t len);

/* Appends VAL to the comma-separated *LIST (caller frees); 0, or 2 after
 * a usage message for CMD/OPT when memory runs out. */
int cli_list_add(const char *cmd, const char *opt, char **list,
    const char *val);

/* --cert-policy OID (repeatable): checks VAL is a dotted OID and appends
 * it to the comma-separated *LIST; 0, or 2 after a usage message. */
int cli_cert_policy_add(const char *cmd, char **list, const char *val);

/* ca init --intermediate, ca sign-intermediate, ca install
 * (cmd_ca_sub.c). */
struct mtls_ca_init_opts;
int cmd_ca_request(const struct mtls_ca_init_opts *o);
int cmd_ca_sub(int argc, char **argv);

/* mtls ca rollover begin|status|finish (cmd_ca_roll.c). */
int cmd_ca_roll(int argc, char **argv);

/* mtls ca serve (cmd_ca_serve.c). */
int cmd_ca_serve(int argc, char **argv);

#endif
