/* libFuzzer target: the principal map parser and matcher, and the
 * receiver's path sanitiser and prefix rule, on the same input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "link/server/principal_map_int.h"
#include "link/server/content_store_int.h"
#include "fuzz_text.h"

/* One certificate with a subject and SANs of every kind, made once. */
static X509 *
sample_cert(void)
{
	static X509 *c;
	EVP_PKEY *k;
	X509_NAME *n;
	X509_EXTENSION *e;
	X509V3_CTX v3;

	if (c != NULL) {
		return c;
	}
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	c = X509_new();
	n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"author-01", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"Example", -1, -1, 0);
	X509_set_issuer_name(c, n);
	X509_set_pubkey(c, k);
	X509V3_set_ctx(&v3, c, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:author.example.org,URI:spiffe://example.org/a,"
	    "email:a@example.org");
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(c, k, EVP_sha256());
	EVP_PKEY_free(k);
	return c;
}

static void
fuzz_one(char *text)
{
	char out[MTLS__CONTENT_PATH_MAX + 1];
	const struct mtls__pmap_rule *r;
	struct mtls__pmap *m;
	struct mtls_err err;

	m = mtls__pmap_parse(text, "fuzz.map", &err);
	if (m != NULL) {
		r = mtls__pmap_match(m, sample_cert());
		if (r != NULL) {
			(void)mtls__pmap_rule_allows(r, MTLS_ACTION_ACTIVATE,
			    "/content/a");
		}
		mtls__pmap_free(m);
	}
	if (mtls__content_store_path_check(text, out, sizeof(out), &err) == 0) {
		/* A normalised path never escapes and is a fixed point. */
		char again[MTLS__CONTENT_PATH_MAX + 1];

		if (strstr(out, "/../") != NULL || strstr(out, "//") != NULL ||
		    mtls__content_store_path_check(out, again, sizeof(again), &err) != 0 ||
		    strcmp(out, again) != 0) {
			abort();
		}
		(void)mtls__path_prefix_covers("/content", out);
	}
	(void)mtls__content_store_id_ok(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mtls_fuzz_text(data, size, fuzz_one);
}
