/* Options that make a partner signing policy, shared by `mtls sign` and
 * `mtls policy add`. */
#ifndef MTLS_SIGN_POLICY_H
#define MTLS_SIGN_POLICY_H

#include "mtls/ca.h"

/* The policy being built; SUBJECT_ALLOW collects repeated options. */
struct policy_opts {
	struct mtls_sign_policy pol;
	char *subject_allow; /* newline-joined, owned */
	char *cert_policies; /* comma-joined, owned */
	int have_profile;
	int given;           /* any policy option seen */
};

/* getopt_long entries for the policy options (codes 'P', 'S', 'A', 's',
 * 'a', 'D', 'C'); the array ends with a zero entry to splice before others. */
#define POLICY_OPTIONS                                            \
	{"profile", required_argument, NULL, 'P'},                \
	    {"subject", required_argument, NULL, 'S'},            \
	    {"subject-allow", required_argument, NULL, 'A'},      \
	    {"san", required_argument, NULL, 's'},                \
	    {"san-allow", required_argument, NULL, 'a'},          \
	    {"days", required_argument, NULL, 'D'},              \
	    {"cert-policy", required_argument, NULL, 'C'}

/* Handles option C when it is a policy option: 0 handled, 1 not a policy
 * option, 2 after a usage message. */
int policy_opt(const char *cmd, int c, const char *val, struct policy_opts *p);

/* Checks the combination (a profile; not --subject with --subject-allow):
 * 0, or 2 after a usage message. */
int policy_opts_done(const char *cmd, struct policy_opts *p);

void policy_opts_free(struct policy_opts *p);

/* Prints POL as the lines `mtls policy show` and `mtls sign` print. */
void policy_print(const struct mtls_sign_policy *pol, const char *indent);
#endif
