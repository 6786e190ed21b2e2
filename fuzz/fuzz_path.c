/* libFuzzer target: the inputs `mtls serve` and `mtls push` take from the
 * network or the command line as text: the Path validator (every request's
 * Path header), the https URL parser (every push target) and the Action
 * header. Properties, not just "no crash": an accepted Path is a
 * normalised fixed point that never escapes; an accepted URL formats to a
 * string that parses back to the same parts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/replicate.h"
#include "link/path_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *text)
{
	char out[MTLS__CONTENT_PATH_MAX + 1], again[MTLS__CONTENT_PATH_MAX + 1];
	struct mtls_err err;

	if (mtls__content_store_path_check(text, out, sizeof(out), &err) != 0) {
		return;
	}
	if (out[0] != '/' || strstr(out, "//") != NULL ||
	    strstr(out, "/../") != NULL || strstr(out, "/./") != NULL ||
	    mtls__content_store_path_reserved(out) ||
	    mtls__content_store_path_check(out, again, sizeof(again), &err) != 0 ||
	    strcmp(out, again) != 0) {
		__builtin_trap();
	}
}

static void
check_url(const char *text)
{
	struct mtls_url u, v;
	struct mtls_err err;
	char s[1400];

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
	char *text = malloc(size + 1);

	if (text == NULL) {
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	check_path(text);
	check_url(text);
	(void)mtls_action_parse(text);
	free(text);
	return 0;
}
