/* Layer base: what every configuration object's setters share (see
 * base/internal.h): owned string copies and range checks that refuse with
 * MTLS_E_USAGE and a sentence naming the range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mtls/err.h"
#include "base/internal.h"

void
mtls__setting_free(const char *s, int secret)
{
	/* The views' strings are const for their readers; the config
	 * owns them. */
	char *p = (char *)(uintptr_t)s;

	if (p != NULL && secret) {
		OPENSSL_cleanse(p, strlen(p));
	}
	free(p);
}

int
mtls__setting_str(const char **slot, const char *v, int secret,
    const char *what, struct mtls_err *err)
{
	char *copy = NULL;
	size_t n;

	if (v != NULL) {
		n = strnlen(v, MTLS__SETTING_STR_MAX + 1);
		if (n == 0 || n > MTLS__SETTING_STR_MAX) {
			return mtls_err_set(err, MTLS_E_USAGE, "%s must be 1 to %d "
			    "characters, not %zu%s", what, MTLS__SETTING_STR_MAX,
			    n, n > MTLS__SETTING_STR_MAX ? " or more" : "");
		}
		copy = malloc(n + 1);
		if (copy == NULL) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory "
			    "copying the %s", what);
		}
		memcpy(copy, v, n + 1);
	}
	mtls__setting_free(*slot, secret);
	*slot = copy;
	return 0;
}

int
mtls__setting_seconds(double s, double max, const char *what,
    struct mtls_err *err)
{
	/* !(s > 0) also refuses NaN. */
	if (!(s > 0) || s > max) {
		return mtls_err_set(err, MTLS_E_USAGE, "the %s must be seconds "
		    "more than 0 and at most %.0f, not %g", what, max, s);
	}
	return 0;
}

int
mtls__setting_range(long long v, long long min, long long max,
    const char *what, struct mtls_err *err)
{
	if (v < min || v > max) {
		return mtls_err_set(err, MTLS_E_USAGE, "%s must be from %lld to "
		    "%lld, not %lld", what, min, max, v);
	}
	return 0;
}
