/* see rev_opts.h */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "rev_opts.h"

/* Option values live as long as argv; the list as long as the process. */
static const char *crl_files[REV_MAX_CRL];

int
rev_opt(const char *cmd, int c, const char *val, struct mtls_revocation_opts *o)
{
	switch (c) {
	case REV_OPT_CRL:
		if (o->ncrl == REV_MAX_CRL) {
			return cli_usage(cmd, "at most %d --crl", REV_MAX_CRL);
		}
		crl_files[o->ncrl++] = val;
		o->crl = crl_files;
		return 0;
	case REV_OPT_OCSP:
		o->ocsp = 1;
		o->ocsp_url = val;
		return 0;
	case REV_OPT_SOFT_FAIL:
		o->insecure_soft_fail = 1;
		return 0;
	case REV_OPT_NONE:
		o->insecure_no_revocation = 1;
		return 0;
	default:
		return 1;
	}
}

int
rev_opts_done(const char *cmd, const struct mtls_revocation_opts *o)
{
	if (o->insecure_no_revocation &&
	    (o->ncrl > 0 || o->ocsp || o->insecure_soft_fail)) {
		return cli_usage(cmd, "--insecure-no-revocation checks nothing: "
		    "give it without --crl, --ocsp or "
		    "--insecure-revocation-soft-fail");
	}
	if (o->ocsp_url != NULL && strncmp(o->ocsp_url, "http://", 7) != 0 &&
	    strncmp(o->ocsp_url, "https://", 8) != 0) {
		return cli_usage(cmd, "--ocsp=URL takes an http:// or https:// "
		    "URL, not '%s'", o->ocsp_url);
	}
	return 0;
}
