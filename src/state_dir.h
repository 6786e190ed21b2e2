/* The agent's state directory, shared by `mtls push` and `mtls queue`. */
#ifndef MTLS_STATE_DIR_H
#define MTLS_STATE_DIR_H

#include <stdio.h>
#include <stdlib.h>

/* OPT, else $XDG_STATE_HOME/mtls, else ~/.local/state/mtls, into BUF.
 * Returns BUF, or NULL when neither variable is set. */
static inline const char *
cli_state_dir(const char *opt, char *buf, size_t len)
{
	const char *x = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (opt != NULL) {
		snprintf(buf, len, "%s", opt);
	} else if (x != NULL && x[0] == '/') {
		snprintf(buf, len, "%s/mtls", x);
	} else if (home != NULL && home[0] != '\0') {
		snprintf(buf, len, "%s/.local/state/mtls", home);
	} else {
		return NULL;
	}
	return buf;
}

#endif
