/* libFuzzer target: content recognition of certificates, chains, keys,
 * CSRs and PKCS#12 (mtls inspect), with a password for encrypted input. */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mtls/inspect.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtls_err err;
	json_t *desc = mtls_inspect(data, size, "fuzz", "pass:changeit", &err);

	json_decref(desc);
	return 0;
}
