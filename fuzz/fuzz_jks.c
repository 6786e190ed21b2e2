/* libFuzzer target: the keystore format detector and the JKS/JCEKS reader,
 * with the seeds' password, no password and a wrong one. */
#include <stddef.h>
#include <stdint.h>

#include "mtls/store.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *passes[] = {"changeit", NULL, "wrong"};
	struct mtls_err err;
	size_t i;

	(void)mtls_store_detect(data, size);
	for (i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		struct mtls_store *s = mtls_store_parse(data, size, "fuzz.jks",
		    passes[i], "changeit", &err);

		if (s != NULL) {
			unsigned char *out = NULL;
			size_t len = 0;

			/* What was read must also be writable. */
			if (passes[i] != NULL &&
			    mtls_store_serialize(s, MTLS_STORE_JKS, passes[i],
				NULL, &out, &len, &err) == 0) {
				mtls_store_buf_free(out, len);
			}
			mtls_store_free(s);
		}
	}
	return 0;
}
