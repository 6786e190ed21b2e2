/* libFuzzer target: the name-constraint lists of 'ca sign-intermediate'
 * (--permit/--exclude), split at the first newline into the two lists,
 * encoded into a certificate and decoded again, then judged against a
 * leaf with names of every kind. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "fuzz_text.h"

static X509 *
leaf(void)
{
	static X509 *c;
	X509V3_CTX v3;
	X509_EXTENSION *e;

	if (c != NULL) {
		return c;
	}
	c = X509_new();
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
	    (const unsigned char *)"web.example.com", -1, -1, 0);
	X509V3_set_ctx(&v3, NULL, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:web.example.com,IP:10.1.2.3,IP:fd00::1,email:a@example.com,URI:https://x.example.com/");
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	return c;
}

static void
fuzz_one(char *in)
{
	char *nl;
	struct mtls_subca_opts o;
	struct mtls_err err;
	X509 *ca = X509_new();
	NAME_CONSTRAINTS *nc;

	if (ca == NULL) {
		return;
	}
	memset(&o, 0, sizeof(o));
	o.path_len = 0;
	o.permit = in;
	nl = strchr(in, '\n');
	if (nl != NULL) {
		*nl = '\0';
		o.exclude = nl + 1;
	}
	mtls_err_clear(&err);
	if (mtls__subca_exts(ca, &o, &err) == 0) {
		nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
		if (nc != NULL) {
			X509_check_purpose(leaf(), -1, 0);
			(void)NAME_CONSTRAINTS_check(leaf(), nc);
			NAME_CONSTRAINTS_free(nc);
		}
	}
	ERR_clear_error();
	X509_free(ca);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mtls_fuzz_text(data, size, fuzz_one);
}
