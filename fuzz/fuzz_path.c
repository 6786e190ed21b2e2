/* libFuzzer target: the Path validator (every request's Path header
 * `mtls serve` receives) and the Action header. Properties, not just "no
 * crash": an accepted Path is a normalised fixed point that never escapes
 * the root and never names a reserved (.mtls) file. The URL parser has
 * its own target, fuzz_url. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/replicate.h"
#include "link/path_int.h"
#include "fuzz_text.h"

static void
check_path(char *text)
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
fuzz_one(char *text)
{
	check_path(text);
	(void)mtls_action_parse(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mtls_fuzz_text(data, size, fuzz_one);
}
