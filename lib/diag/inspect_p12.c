/* PKCS#12 description for mtls_inspect: MAC check first, so a wrong
 * password is reported as such and not as corruption. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "mtls/inspect.h"
#include "mtls/pass.h"
#include "mtls/pki.h"

int mtls__inspect_p12(json_t *objs, PKCS12 *p12, const char *name,
    const char *pass_spec, struct mtls_err *err);

static void
p12_mac_info(json_t *o, PKCS12 *p12)
{
	const ASN1_OBJECT *alg = NULL;
	const X509_ALGOR *algor = NULL;
	const ASN1_INTEGER *iter = NULL;

	if (!PKCS12_mac_present(p12)) {
		json_object_set_new(o, "mac", json_string("none"));
		return;
	}
	PKCS12_get0_mac(NULL, &algor, NULL, &iter, p12);
	if (algor != NULL) {
		X509_ALGOR_get0(&alg, NULL, NULL, algor);
		json_object_set_new(o, "mac", json_string(OBJ_nid2sn(OBJ_obj2nid(alg))));
	}
	json_object_set_new(o, "mac_iterations",
	    json_integer(iter ? ASN1_INTEGER_get(iter) : 1));
}

static char *
p12_password(PKCS12 *p12, const char *name, const char *pass_spec,
    struct mtls_err *err)
{
	char prompt[512], *pw;

	/* Stores without a password (or with an empty one) open as is. */
	if (pass_spec == NULL && PKCS12_mac_present(p12) &&
	    (PKCS12_verify_mac(p12, "", 0) == 1 || PKCS12_verify_mac(p12, NULL, 0) == 1)) {
		ERR_clear_error();
		return OPENSSL_strdup("");
	}
	ERR_clear_error();
	snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
	pw = mtls_pass_get(pass_spec, prompt, 0, err);
	if (pw == NULL) {
		return NULL;
	}
	if (PKCS12_mac_present(p12) && PKCS12_verify_mac(p12, pw, -1) != 1) {
		ERR_clear_error();
		mtls_pass_free(pw);
		mtls_err_set(err, MTLS_E_PASSWORD,
		    "wrong password for %s (or the file was altered: its "
		    "integrity MAC does not verify)",
		    name);
		return NULL;
	}
	return pw;
}

int
mtls__inspect_p12(json_t *objs, PKCS12 *p12, const char *name,
    const char *pass_spec, struct mtls_err *err)
{
	char *pw = p12_password(p12, name, pass_spec, err);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	json_t *info;
	char buf[80];
	int i;

	if (pw == NULL) {
		return -1;
	}
	if (PKCS12_parse(p12, pw, &key, &cert, &ca) != 1) {
		mtls_pass_free(pw);
		return mtls_err_ssl(err, MTLS_E_FORMAT,
		    "%s: cannot decrypt the PKCS#12 contents (RC2-40 files need "
		    "conversion: 'mtls convert')",
		    name);
	}
	mtls_pass_free(pw);
	info = json_object();
	json_object_set_new(info, "type", json_string("pkcs12"));
	p12_mac_info(info, p12);
	json_array_append_new(objs, info);
	if (key != NULL) {
		json_t *k = json_object();

		mtls_key_describe(key, buf, sizeof(buf));
		json_object_set_new(k, "type", json_string("private key"));
		json_object_set_new(k, "key", json_string(buf));
		if (cert != NULL) {
			json_object_set_new(k, "matches_certificate",
			    json_boolean(mtls_key_matches_cert(key, cert)));
		}
		json_array_append_new(objs, k);
	}
	if (cert != NULL) {
		json_t *c = mtls_cert_to_json(cert);

		json_object_set_new(c, "role", json_string("key's certificate"));
		json_array_append_new(objs, c);
	}
	for (i = 0; ca != NULL && i < sk_X509_num(ca); i++) {
		json_t *c = mtls_cert_to_json(sk_X509_value(ca, i));

		json_object_set_new(c, "role", json_string("chain / trusted"));
		json_array_append_new(objs, c);
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	return 0;
}
