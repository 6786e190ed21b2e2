/* libFuzzer target: the ACME server's request parsers - the flattened JWS
 * and its protected header (all three kinds: request, external account
 * binding, key change), the JWK inside it, thumbprints, base64url and
 * nonces - on the same input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "online/acme_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtls__nonces *n;
	struct mtls__jws j;
	struct mtls_err e;
	char thumb[48], *s;
	unsigned char *d;
	EVP_PKEY *k;
	json_error_t je;
	json_t *obj;
	size_t len = 0;
	int kind;

	if (n == NULL) {
		n = malloc(sizeof(*n));
		if (n == NULL || mtls__nonce_init(n, &e) != 0) {
			abort();
		}
	}
	if (mtls__jws_parse(data, size, &j, &e) == 0 && j.jwk != NULL) {
		k = mtls__jwk_key(j.jwk, thumb, &e);
		if (k != NULL) {
			(void)mtls__jws_verify(&j, k, &e);
			EVP_PKEY_free(k);
		}
	}
	mtls__jws_clear(&j);
	obj = json_loadb((const char *)data, size, 0, &je);
	for (kind = MTLS__JWS_EAB; obj != NULL && kind <= MTLS__JWS_INNER; kind++) {
		if (mtls__jws_parse_json(obj, kind, &j, &e) == 0 && kind ==
		    MTLS__JWS_EAB) {
			(void)mtls__jws_verify_mac(&j, data, size, &e);
		}
		mtls__jws_clear(&j);
	}
	(void)mtls__jwk_thumbprint(obj, thumb, &e);
	json_decref(obj);
	s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)mtls__nonce_take(n, s);
		d = mtls__b64url_dec(s, strlen(s), &len);
		if (d != NULL) {
			char *back = mtls__b64url_enc(d, len);

			/* One encoding per value: decoding then encoding is exact. */
			if (back == NULL || strcmp(back, s) != 0) {
				abort();
			}
			free(back);
		}
		free(d);
		free(s);
	}
	return 0;
}
