/* Shared by the configuration tests (serve_config, agent_config,
 * ca_serve_config): the includes, a fixture that makes a fresh config
 * and its option view for each test, and the check of a refusal. */
#ifndef MTLS_CONFIG_TEST_H
#define MTLS_CONFIG_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/err.h"

/* CONFIG_TEST_FIXTURE(CFG, OPTS, NEW, VIEW, FREE): the file's `cfg` (a
 * struct CFG) and `o` (its const struct OPTS view), and setup/teardown
 * that make them with NEW(NULL) and VIEW(cfg) and free them with FREE. */
#define CONFIG_TEST_FIXTURE(CFG, OPTS, NEW, VIEW, FREE) \
	static struct CFG *cfg; \
	static const struct OPTS *o; \
	static int \
	setup(void **state) \
	{ \
		(void)state; \
		cfg = NEW(NULL); \
		o = cfg != NULL ? VIEW(cfg) : NULL; \
		return cfg == NULL ? -1 : 0; \
	} \
	static int \
	teardown(void **state) \
	{ \
		(void)state; \
		FREE(cfg); \
		cfg = NULL; \
		return 0; \
	}

/* A refusal: -1, MTLS_E_USAGE, and a message containing WANT. */
static inline void
refused(int rc, const struct mtls_err *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_int_equal(err->code, MTLS_E_USAGE);
	if (strstr(err->msg, want) == NULL) {
		fail_msg("'%s' does not say '%s'", err->msg, want);
	}
}

#endif
