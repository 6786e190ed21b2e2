/* Small helpers shared by the unit tests. */
#ifndef MTLS_TEST_UTIL_H
#define MTLS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh private directory under $TMPDIR; caller frees the string. */
static inline char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(512);

	snprintf(p, 512, "%s/mtls-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(p) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static inline void
test_rmrf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		/* best effort */
	}
}

#endif
