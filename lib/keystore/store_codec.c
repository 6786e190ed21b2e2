/* see mtls/store.h: the keystore codecs - recognising, reading and writing
 * JKS, JCEKS and PKCS#12 by dispatching to jks.c and p12store.c. The entry
 * model they fill (store.c) never calls back here. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mtls/store.h"
#include "base/internal.h"
#include "keystore/store_int.h"

enum mtls_store_format
mtls_store_detect(const unsigned char *d, size_t n)
{
	if (n >= 4 && d[0] == 0xFE && d[1] == 0xED && d[2] == 0xFE &&
	    d[3] == 0xED) {
		return MTLS_STORE_JKS;
	}
	if (n >= 4 && d[0] == 0xCE && d[1] == 0xCE && d[2] == 0xCE &&
	    d[3] == 0xCE) {
		return MTLS_STORE_JCEKS;
	}
	if (mtls__p12_looks_like(d, n)) {
		return MTLS_STORE_P12;
	}
	return MTLS_STORE_NONE;
}

const char *
mtls_store_format_name(enum mtls_store_format f)
{
	switch (f) {
	case MTLS_STORE_JKS:
		return "JKS";
	case MTLS_STORE_JCEKS:
		return "JCEKS";
	case MTLS_STORE_P12:
		return "PKCS12";
	default:
		return "none";
	}
}

struct mtls_store *
mtls_store_parse(const unsigned char *data, size_t len, const char *name,
    const char *pass, const char *key_pass, struct mtls_err *err)
{
	struct mtls_store *s = mtls_store_new();
	int rc;

	if (s == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	switch (mtls_store_detect(data, len)) {
	case MTLS_STORE_JKS:
	case MTLS_STORE_JCEKS:
		rc = mtls__jks_parse(s, data, len, name, pass, key_pass, err);
		break;
	case MTLS_STORE_P12:
		s->format = MTLS_STORE_P12;
		rc = mtls__p12_parse(s, data, len, name, pass, err);
		break;
	default:
		rc = mtls_err_set(err, MTLS_E_FORMAT,
		    "%s is not a keystore (expected JKS, JCEKS or PKCS#12; try "
		    "'mtls inspect %s')", name, name);
		break;
	}
	if (rc != 0) {
		mtls_store_free(s);
		return NULL;
	}
	return s;
}

int
mtls_store_serialize(struct mtls_store *s, enum mtls_store_format fmt,
    const char *pass, const struct mtls_store_opts *opts,
    unsigned char **out, size_t *len, struct mtls_err *err)
{
	static const struct mtls_store_opts defaults = {NULL, 0, 0};

	if (opts == NULL) {
		opts = &defaults;
	}
	*out = NULL;
	*len = 0;
	switch (fmt) {
	case MTLS_STORE_JKS:
		if (pass == NULL || *pass == '\0') {
			return mtls_err_set(err, MTLS_E_PASSWORD,
			    "a JKS keystore needs a password (give --pass)");
		}
		return mtls__jks_write(s, pass, opts->key_pass, out, len, err);
	case MTLS_STORE_P12:
		return mtls__p12store_write(s, pass, opts, out, len, err);
	case MTLS_STORE_JCEKS:
		return mtls_err_set(err, MTLS_E_USAGE,
		    "mtls reads JCEKS but does not write it; write jks or p12");
	default:
		return mtls_err_set(err, MTLS_E_USAGE, "no keystore format given");
	}
}
