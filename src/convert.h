/* The one conversion path shared by `mtls convert` (files) and
 * `mtls export` (an identity by name). */
#ifndef MTLS_CONVERT_H
#define MTLS_CONVERT_H

#include "mtls/err.h"

struct cv_opts {
	const char *in, *out, *to, *in_pass, *in_key_pass, *out_pass, *alias;
	const char *key; /* --key: the private key, when IN holds only certs */
	int legacy, force;
};

/* Reads IN (and KEY), writes OUT in TO's format (or OUT's extension's);
 * OUT is replaced only with FORCE; outputs holding a key are 0600. */
int convert_run(const struct cv_opts *o, struct mtls_err *err);

#endif
