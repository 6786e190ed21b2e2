/* `mtls audit verify FILE...`: the receiver's audit log (mtls serve
 * --audit-log) checked record by record; see mtls/auditlog.h. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mtls/auditlog.h"
#include "audit_verify.h"
#include "cli.h"

static const char verify_usage[] =
    "usage: mtls audit verify [--head HASH] FILE...\n"
    "\n"
    "Checks the receiver's audit log (mtls serve --audit-log FILE): every\n"
    "record's hash, its sequence number and its link to the record before\n"
    "it. Give rotated files oldest first (FILE.SEQ before FILE) to check the\n"
    "chain across them. The first record that was edited, removed, inserted\n"
    "or moved is named in one line: FILE:LINE: seq N: what is wrong.\n"
    "\n"
    "  --head HASH   the last record's hash must be HASH (kept elsewhere\n"
    "                earlier: proves nothing was cut off or rewritten)\n"
    "\n"
    "Examples:\n"
    "  mtls audit verify /var/lib/mtls/audit.log\n"
    "  mtls audit verify audit.log.81234 audit.log\n"
    "\n"
    "Exit status: 0 the chain holds, 1 a record is bad or a file is\n"
    "unreadable, 2 usage error.\n";

int
audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"head", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_audit_summary s;
	struct mtls_err err;
	const char *head = NULL;
	int c;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': head = optarg; break;
		case 'h': return cli_help(verify_usage);
		default: return cli_bad_option("audit verify");
		}
	}
	if (optind >= argc) {
		return cli_usage("audit verify", "name the audit log FILE");
	}
	if (mtls_audit_verify((const char *const *)argv + optind,
		(size_t)(argc - optind), &s, &err) != 0) {
		return cli_fail(&err);
	}
	if (head != NULL && strcmp(head, s.last_hash) != 0) {
		fprintf(stderr, "mtls: %s: the last record's hash is %s, not the "
		    "expected head %s (records cut off or the log rewritten)\n",
		    argv[argc - 1], s.last_hash, head);
		return 1;
	}
	printf("ok: %llu records, seq %llu..%llu%s, head %s\n", s.records,
	    s.first_seq, s.last_seq, s.continues ? " (continues a rotated "
	    "file not given)" : "", s.last_hash);
	return 0;
}
