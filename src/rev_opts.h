/* Options that say how a client checks its peer's revocation, shared by
 * `mtls test`, `mtls push` and `mtls doctor` (struct mtls_revocation_opts). */
#ifndef MTLS_REV_OPTS_H
#define MTLS_REV_OPTS_H

#include "mtls/revocation.h"

#define REV_MAX_CRL 16

/* Codes of the options below (out of the range of short options). */
enum {
	REV_OPT_CRL = 0x5200,
	REV_OPT_OCSP,
	REV_OPT_SOFT_FAIL,
	REV_OPT_NONE,
};

/* getopt_long entries; splice before the terminating zero entry. */
#define REV_OPTIONS                                                          \
	{"crl", required_argument, NULL, REV_OPT_CRL},                       \
	    {"ocsp", optional_argument, NULL, REV_OPT_OCSP},                 \
	    {"insecure-revocation-soft-fail", no_argument, NULL,             \
		REV_OPT_SOFT_FAIL},                                          \
	    {"insecure-no-revocation", no_argument, NULL, REV_OPT_NONE}

/* The help text of the options above. */
#define REV_HELP                                                             \
	"  --crl FILE        a CRL of the receiver's CA (repeatable): every\n" \
	"                    certificate of its chain but the root must be\n"   \
	"                    covered by one and not listed\n"                   \
	"  --ocsp[=URL]      ask OCSP about every certificate of the\n"         \
	"                    receiver's chain but the root (the server's own\n" \
	"                    at URL when given, the others at their AIA URL).\n"\
	"                    Without it (and without --crl), a certificate\n"  \
	"                    that names a responder is still asked. No answer\n"\
	"                    refuses the receiver\n"                            \
	"  --insecure-revocation-soft-fail\n"                                   \
	"                    accept a receiver whose OCSP responder does not\n" \
	"                    answer, with a warning (a revoked one still fails)\n"\
	"  --insecure-no-revocation\n"                                          \
	"                    check no revocation at all\n"

/* Handles option C when it is one of the above: 0 handled, 1 not ours, 2
 * after a usage message. */
int rev_opt(const char *cmd, int c, const char *val,
    struct mtls_revocation_opts *o);

/* Checks the combination: 0, or 2 after a usage message. */
int rev_opts_done(const char *cmd, const struct mtls_revocation_opts *o);

#endif
