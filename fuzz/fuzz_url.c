/* libFuzzer target: the URL parser (every `mtls push` target) and the
 * one URL check (every URL a user gives: push, enroll, CRL and OCSP
 * URLs, a certificate's AIA). Properties, not just "no crash": the check
 * accepts only printable ASCII without '#'; the push parser accepts
 * nothing the check refuses; an accepted URL formats to a string that
 * parses back to the same parts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/replicate.h"
#include "fuzz_text.h"

static void
check_url(char *text)
{
	struct mtls_url u, v;
	struct mtls_err err;
	char s[1400];
	size_t i;

	/* mtls_url_check (every URL a user gives): an accepted URL is
	 * printable ASCII without '@' before its path and without '#'; the
	 * push parser accepts nothing the check refuses. */
	if (mtls_url_check(text, MTLS_URL_HTTP, &err) == 0) {
		for (i = 0; text[i] != '\0'; i++) {
			if ((unsigned char)text[i] <= ' ' ||
			    (unsigned char)text[i] >= 0x7f || text[i] == '#') {
				__builtin_trap();
			}
		}
	} else if (mtls_url_parse(text, &u, &err) == 0) {
		__builtin_trap();
	}
	if (mtls_url_parse(text, &u, &err) != 0) {
		return;
	}
	mtls_url_format(&u, s, sizeof(s));
	if (mtls_url_parse(s, &v, &err) != 0 || strcmp(u.host, v.host) != 0 ||
	    strcmp(u.port, v.port) != 0 || strcmp(u.path, v.path) != 0 ||
	    u.host_is_ip != v.host_is_ip) {
		__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mtls_fuzz_text(data, size, check_url);
}
