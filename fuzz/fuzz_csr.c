/* libFuzzer target: a partner's CSR (DER) through the checks we run before
 * signing it: proof of possession, key strength, CA:TRUE, each SAN, the
 * subject rules, and the per-RDN subject patterns and SAN allow list. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/pki.h"

static const char *const patterns[] = {
	"CN=*", "CN=*,O=*", "CN=author*,O=Example", "cn=a\\,b, o=x",
	"emailAddress=*@p.example",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)size);
	GENERAL_NAMES *sans = NULL;
	const X509_NAME *subj;
	struct mtls_err err;
	char fp[128];
	size_t i;
	int j;

	if (req == NULL) {
		ERR_clear_error();
		return 0;
	}
	subj = X509_REQ_get_subject_name(req);
	(void)mtls_name_check(subj, 0, &err);
	(void)mtls_csr_fingerprint(req, fp, sizeof(fp), &err);
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (mtls_name_match(subj, patterns[i], &err) < 0) {
			abort(); /* the patterns are valid */
		}
	}
	(void)mtls_name_attr_match(subj, NID_commonName, "a*");
	if (mtls_csr_check(req, NULL, &sans, &err) == 0) {
		for (j = 0; j < sk_GENERAL_NAME_num(sans); j++) {
			char *text = mtls_san_text(sk_GENERAL_NAME_value(sans, j));

			(void)mtls_san_allowed(text, "dns:*.p.example,ip:10.*,dns:*.x");
			if (text != NULL && text[0] == 'd') {
				(void)mtls_dns_match("*.p.example", text + 4);
			}
			free(text);
		}
	}
	GENERAL_NAMES_free(sans);
	X509_REQ_free(req);
	ERR_clear_error();
	return 0;
}
