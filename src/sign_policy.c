/* see sign_policy.h */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sign_policy.h"

static int
append_line(char **list, const char *line)
{
	size_t old = *list ? strlen(*list) : 0, n = strlen(line);
	char *nl = realloc(*list, old + n + 2);

	if (nl == NULL) {
		return -1;
	}
	if (old > 0) {
		nl[old++] = '\n';
	}
	memcpy(nl + old, line, n + 1);
	*list = nl;
	return 0;
}

int
policy_opt(const char *cmd, int c, const char *val, struct policy_opts *p)
{
	struct mtls_err err;
	long days;

	mtls_err_clear(&err);
	switch (c) {
	case 'P':
		if (mtls_profile_parse(val, &p->pol.profile, &err) != 0) {
			return cli_fail(&err);
		}
		p->have_profile = 1;
		break;
	case 'S': p->pol.subject = val; break;
	case 'A':
		if (strchr(val, '\n') != NULL || append_line(&p->subject_allow, val) != 0) {
			return cli_usage(cmd, "bad --subject-allow pattern");
		}
		p->pol.subject_allow = p->subject_allow;
		break;
	case 's': p->pol.sans = val; break;
	case 'a': p->pol.san_allow = val; break;
	case 'C':
		if (cli_cert_policy_add(cmd, &p->cert_policies, val) != 0) {
			return 2;
		}
		p->pol.cert_policies = p->cert_policies;
		break;
	case 'D':
		if (cli_parse_int(cmd, "--days", val, 1, 36500, &days) != 0) {
			return 2;
		}
		p->pol.days = (int)days;
		break;
	default: return 1;
	}
	p->given = 1;
	return 0;
}

int
policy_opts_done(const char *cmd, struct policy_opts *p)
{
	if (!p->have_profile) {
		return cli_usage(cmd, "--profile is required (server, client or node)");
	}
	if (p->pol.profile == MTLS_PROFILE_OCSP) {
		return cli_usage(cmd, "a partner cannot get the ocsp profile: use "
		    "server, client or node");
	}
	if (p->pol.subject != NULL && p->pol.subject_allow != NULL) {
		return cli_usage(cmd, "give --subject (we set the subject) or "
		    "--subject-allow (the CSR's subject, when it fits), not both");
	}
	return 0;
}

void
policy_opts_free(struct policy_opts *p)
{
	free(p->subject_allow);
	free(p->cert_policies);
}

void
policy_print(const struct mtls_sign_policy *pol, const char *indent)
{
	const char *a = pol->subject_allow, *nl;

	printf("%sprofile:        %s\n", indent, mtls_profile_name(pol->profile));
	if (pol->subject != NULL) {
		printf("%ssubject:        %s\n", indent, pol->subject);
	}
	while (a != NULL && *a != '\0') {
		nl = strchr(a, '\n');
		printf("%ssubject-allow:  %.*s\n", indent,
		    (int)(nl ? (size_t)(nl - a) : strlen(a)), a);
		a = nl ? nl + 1 : NULL;
	}
	if (pol->subject == NULL && pol->subject_allow == NULL) {
		printf("%ssubject:        CN=<inventory name>\n", indent);
	}
	printf("%ssans:           %s\n", indent, pol->sans ? pol->sans : "(none given)");
	printf("%ssan-allow:      %s\n", indent,
	    pol->san_allow ? pol->san_allow : "(none: SANs are closed)");
	printf("%sdays:           %d\n", indent, pol->days > 0 ? pol->days : MTLS_DEFAULT_DAYS);
	printf("%scert-policies:  %s\n", indent, pol->cert_policies != NULL &&
	    *pol->cert_policies != '\0' ? pol->cert_policies : "(none)");
}
