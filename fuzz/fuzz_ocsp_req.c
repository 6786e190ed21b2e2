/* libFuzzer target: the OCSP responder's request decoding and answer
 * (mtls_ocsp_respond), the bytes `mtls ca serve` takes from anyone. A CA
 * is made once in a temporary directory; every input must get an answer
 * (a signed response or a fixed error response), never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>

#include "mtls/ca.h"
#include "mtls/ocsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mtls_ocsp_responder *
responder(void)
{
	static struct mtls_ocsp_responder *r;
	static struct mtls_ca *ca;
	static char dir[] = "/tmp/fuzz-ocsp-XXXXXX";
	struct mtls_ca_init_opts o;
	struct mtls_err err;
	char path[64];

	if (r != NULL) {
		return r;
	}
	if (mkdtemp(dir) == NULL) {
		abort();
	}
	snprintf(path, sizeof(path), "%s/ca", dir);
	memset(&o, 0, sizeof(o));
	o.dir = path;
	o.key_type = MTLS_KEY_EC_P256;
	if (mtls_ca_init(&o, &err) != 0 || (ca = mtls_ca_open(path, &err)) == NULL ||
	    mtls_ca_unlock(ca, NULL, &err) != 0 ||
	    (r = mtls_ocsp_responder_new(ca, NULL, &err)) == NULL) {
		fprintf(stderr, "fuzz_ocsp_req: %s\n", err.msg);
		abort();
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtls_ocsp_responder *r = responder();
	const unsigned char *resp, *p;
	OCSP_RESPONSE *o;
	size_t len = 0;

	resp = mtls_ocsp_respond(r, data, size, &len);
	/* Every answer is a well-formed OCSPResponse. */
	p = resp;
	if (resp == NULL || len == 0 ||
	    (o = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL) {
		__builtin_trap();
	}
	OCSP_RESPONSE_free(o);
	return 0;
}
