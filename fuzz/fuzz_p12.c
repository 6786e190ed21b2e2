/* libFuzzer target: the PKCS#12 keystore reader (bag walk, attributes,
 * MAC and decryption failures) and the algorithm reader behind inspect. */
#include <stddef.h>
#include <stdint.h>

#include "mtls/store.h"
#include "keystore/p12_algs.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtls_err err;
	struct mtls_store *s;
	struct mtls__p12_algs algs;

	if (mtls_store_detect(data, size) != MTLS_STORE_P12) {
		return 0;
	}
	s = mtls_store_parse(data, size, "fuzz.p12", "changeit", NULL, &err);
	mtls_store_free(s);
	s = mtls_store_parse(data, size, "fuzz.p12", NULL, NULL, &err);
	mtls_store_free(s);
	(void)mtls__p12_algs(data, size, &algs);
	return 0;
}
