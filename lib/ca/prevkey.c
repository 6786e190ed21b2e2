/* see ca/ca_internal.h: the retiring issuer of a rollover and its key,
 * which keeps signing that issuer's CRL and OCSP answers during the
 * overlap. A leaf: the CA calls it when unlocked. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

int
mtls__ca_by_prev(const struct mtls_ca *ca, const char *pem)
{
	BIO *b;
	X509 *x;
	int r;

	if (ca->prev == NULL || pem == NULL || pem[0] == '\0') {
		return 0;
	}
	b = BIO_new_mem_buf(pem, -1);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	/* The issuer's name and the authority key identifier: cheap, and
	 * enough to tell two issuers apart even when they share a name. */
	r = x != NULL && X509_check_issued(ca->prev, x) == X509_V_OK;
	X509_free(x);
	ERR_clear_error();
	return r;
}

EVP_PKEY *
mtls__ca_prev_key(const struct mtls_ca *ca, struct mtls_err *err)
{
	if (ca->prev == NULL) {
		mtls_err_set(err, MTLS_E_NOTFOUND, "no rollover of %s is under "
		    "way: there is no retiring issuer", ca->dir);
		return NULL;
	}
	if (ca->prev_key == NULL) {
		mtls_err_set(err, MTLS_E_USAGE, "%s", ca->prev_key_why[0] != '\0'
		    ? ca->prev_key_why : "the CA key is not loaded (unlock it)");
	}
	return ca->prev_key;
}

/* Where the old key is: the token URI state.json records, or NULL (the
 * file DIR/rollover/old.key). Caller frees. */
static char *
prev_key_uri(const struct mtls_ca *ca)
{
	char *p = mtls__path_of(ca->dir, MTLS_CA_ROLL_STATE, ""), *uri = NULL;
	json_error_t je;
	json_t *j = p != NULL ? json_load_file(p, 0, &je) : NULL;
	const char *s = json_string_value(json_object_get(j, "old_key_uri"));

	if (s != NULL) {
		uri = mtls__strdup(s);
	}
	json_decref(j);
	free(p);
	return uri;
}

void
mtls__ca_unlock_prev(struct mtls_ca *ca, const char *pass_spec)
{
	struct mtls_err e;
	char *uri, *p;

	ca->prev_key_why[0] = '\0';
	if (ca->prev == NULL || ca->prev_key != NULL) {
		return;
	}
	if (pass_spec != NULL && (strncmp(pass_spec, "fd:", 3) == 0 ||
	    strcmp(pass_spec, "stdin") == 0)) {
		snprintf(ca->prev_key_why, sizeof(ca->prev_key_why), "the "
		    "retiring issuer's key needs the CA password a second time: "
		    "give --ca-pass as pass:, env: or file:");
		return;
	}
	memset(&e, 0, sizeof(e));
	uri = prev_key_uri(ca);
	p = uri == NULL ? mtls__path_of(ca->dir, MTLS_CA_ROLL_OLDKEY, "") : NULL;
	if (uri != NULL) {
		ca->prev_key = mtls__p11_load_key(uri, pass_spec, &ca->prev_p11, &e);
	} else if (p != NULL) {
		ca->prev_key = mtls_load_key(p, pass_spec, &e);
	}
	if (ca->prev_key != NULL && !mtls_key_matches_cert(ca->prev_key, ca->prev)) {
		EVP_PKEY_free(ca->prev_key);
		ca->prev_key = NULL;
		snprintf(e.msg, sizeof(e.msg), "%s does not belong to the "
		    "retiring issuer", uri != NULL ? uri : p);
	}
	if (ca->prev_key == NULL) {
		snprintf(ca->prev_key_why, sizeof(ca->prev_key_why), "cannot "
		    "load the retiring issuer's key: %.900s", e.msg);
	}
	ERR_clear_error();
	free(uri);
	free(p);
}
