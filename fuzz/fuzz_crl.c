/* libFuzzer target: the CRL loaders. Bytes a receiver is given as --crl
 * (PEM blocks or one DER CRL) go through mtls_load_crls, then through the
 * receiver's CRL set: the issuer and signature check against a CA made
 * at start, the lookup of a certificate, and the stale/nextUpdate dates. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "revocation/revocation_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz_crl_XXXXXX";
static int fd = -1;
static X509 *ca;
static STACK_OF(X509) *cas;

/* A self-signed CA: the issuer every CRL is checked against. */
static void
setup(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_NAME *n = X509_NAME_new();

	ca = X509_new();
	cas = sk_X509_new_null();
	fd = mkstemp(path);
	if (key == NULL || n == NULL || ca == NULL || cas == NULL || fd < 0 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)"Fuzz CA", -1, -1, 0) != 1 ||
	    X509_set_subject_name(ca, n) != 1 || X509_set_issuer_name(ca, n) != 1 ||
	    X509_set_pubkey(ca, key) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(ca), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(ca), 86400) == NULL ||
	    X509_sign(ca, key, EVP_sha256()) <= 0 || sk_X509_push(cas, ca) <= 0) {
		abort();
	}
	X509_NAME_free(n);
	EVP_PKEY_free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *files[1] = {path};
	STACK_OF(X509_CRL) *crls = NULL;
	struct mtls__crlset *set;
	struct mtls_err err;
	time_t when;
	int reason;

	if (ca == NULL) {
		setup();
	}
	/* One file, rewritten in place: no name in /tmp is ever reused. */
	if (ftruncate(fd, 0) != 0 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		abort();
	}
	if (mtls_load_crls(path, &crls, &err) == 0) {
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
	}
	set = mtls__crlset_load(files, 1, cas, &err);
	if (set != NULL) {
		(void)mtls__crlset_count(set);
		(void)mtls__crlset_entries(set);
		(void)mtls__crlset_lookup(set, ca, &when, &reason);
		(void)mtls__crlset_stale_since(set, time(NULL));
		(void)mtls__crlset_next_update(set);
		mtls__crlset_free(set);
	}
	ERR_clear_error();
	return 0;
}
