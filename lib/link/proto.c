/* The replication protocol's Action header (see mtls/replicate.h): the
 * names both ends must read alike. The Path rule beside it is path.c. A
 * leaf of link/: link/client and link/server call it. */
#include <string.h>
#include <strings.h>

#include "mtls/replicate.h"
#include "base/internal.h"

int
mtls_action_parse(const char *s)
{
	if (strcasecmp(s, "test") == 0) {
		return MTLS_ACTION_TEST;
	}
	if (strcasecmp(s, "activate") == 0) {
		return MTLS_ACTION_ACTIVATE;
	}
	if (strcasecmp(s, "deactivate") == 0) {
		return MTLS_ACTION_DEACTIVATE;
	}
	return -1;
}

const char *
mtls_action_name(enum mtls_action a)
{
	switch (a) {
	case MTLS_ACTION_TEST:
		return "Test";
	case MTLS_ACTION_ACTIVATE:
		return "Activate";
	case MTLS_ACTION_DEACTIVATE:
		return "Deactivate";
	default:
		return "?";
	}
}
