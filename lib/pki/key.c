/* see mtls/pki.h: key types, generation and strength policy */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mtls/pki.h"
#include "base/internal.h"

static const struct {
	enum mtls_keytype type;
	const char *name;
} keytypes[] = {
	{MTLS_KEY_EC_P256, "ec-p256"},
	{MTLS_KEY_EC_P384, "ec-p384"},
	{MTLS_KEY_RSA_2048, "rsa-2048"},
	{MTLS_KEY_RSA_3072, "rsa-3072"},
	{MTLS_KEY_RSA_4096, "rsa-4096"},
	{MTLS_KEY_ED25519, "ed25519"},
};

int
mtls_keytype_parse(const char *s, enum mtls_keytype *out, struct mtls_err *err)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(keytypes); i++) {
		if (strcmp(s, keytypes[i].name) == 0) {
			*out = keytypes[i].type;
			return 0;
		}
	}
	return mtls_err_set(err, MTLS_E_USAGE,
	    "unknown key type '%s': use ec-p256, ec-p384, rsa-2048, rsa-3072, "
	    "rsa-4096 or ed25519",
	    s);
}

const char *
mtls_keytype_name(enum mtls_keytype t)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(keytypes); i++) {
		if (keytypes[i].type == t) {
			return keytypes[i].name;
		}
	}
	return "unknown";
}

/*
 * EC keys are made through the EC_KEY API on purpose. In OpenSSL 3.0 a
 * provider-made key is serialised through the encoder framework every time
 * it is put into a certificate or a PKCS#8 file; measured here that costs
 * ~400 us per key against ~40 us for an EC_KEY-backed key (docs/
 * performance.md), which decides whether batch issuance reaches thousands
 * per second. The curve arithmetic is the same code either way.
 */
static EVP_PKEY *
ec_generate(int nid)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(nid);
	EVP_PKEY *key = NULL;

	if (ec == NULL || EC_KEY_generate_key(ec) != 1) {
		EC_KEY_free(ec);
		return NULL;
	}
	key = EVP_PKEY_new();
	if (key == NULL || EVP_PKEY_assign_EC_KEY(key, ec) != 1) {
		EVP_PKEY_free(key);
		EC_KEY_free(ec);
		return NULL;
	}
	return key;
}

EVP_PKEY *
mtls_key_generate(enum mtls_keytype t, struct mtls_err *err)
{
	EVP_PKEY *key = NULL;

	switch (t) {
	case MTLS_KEY_EC_P256:
		key = ec_generate(NID_X9_62_prime256v1);
		break;
	case MTLS_KEY_EC_P384:
		key = ec_generate(NID_secp384r1);
		break;
	case MTLS_KEY_RSA_2048:
		key = EVP_RSA_gen(2048);
		break;
	case MTLS_KEY_RSA_3072:
		key = EVP_RSA_gen(3072);
		break;
	case MTLS_KEY_RSA_4096:
		key = EVP_RSA_gen(4096);
		break;
	case MTLS_KEY_ED25519:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		mtls_err_set(err, MTLS_E_USAGE, "unknown key type %d", (int)t);
		return NULL;
	}
	if (key == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot generate a %s key",
		    mtls_keytype_name(t));
	}
	return key;
}

static void
ec_curve_name(const EVP_PKEY *key, char *buf, size_t len)
{
	size_t got = 0;

	buf[0] = '\0';
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, buf,
		len, &got) != 1) {
		snprintf(buf, len, "unknown curve");
	}
}

static const char *
curve_display(const char *group)
{
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
		return "P-256";
	}
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
		return "P-384";
	}
	if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
		return "P-521";
	}
	return NULL;
}

void
mtls_key_describe(const EVP_PKEY *key, char *buf, size_t len)
{
	char group[64];
	const char *disp;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		snprintf(buf, len, "RSA %d", EVP_PKEY_get_bits(key));
		break;
	case EVP_PKEY_EC:
		ec_curve_name(key, group, sizeof(group));
		disp = curve_display(group);
		snprintf(buf, len, "EC %s", disp != NULL ? disp : group);
		break;
	case EVP_PKEY_ED25519:
		snprintf(buf, len, "Ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(buf, len, "Ed448");
		break;
	case EVP_PKEY_DSA:
		snprintf(buf, len, "DSA %d", EVP_PKEY_get_bits(key));
		break;
	default:
		snprintf(buf, len, "%s %d",
		    EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key)
						 : "unknown",
		    EVP_PKEY_get_bits(key));
		break;
	}
}

int
mtls_key_check_strength(const EVP_PKEY *key, const char *what,
    struct mtls_err *err)
{
	char group[64], desc[80];

	mtls_key_describe(key, desc, sizeof(desc));
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		if (EVP_PKEY_get_bits(key) < 2048) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "%s is %s: RSA keys must have at least 2048 bits",
			    what, desc);
		}
		return 0;
	case EVP_PKEY_EC:
		ec_curve_name(key, group, sizeof(group));
		if (curve_display(group) == NULL) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "%s uses curve '%s': only P-256, P-384 and P-521 "
			    "are accepted",
			    what, group);
		}
		return 0;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return 0;
	default:
		return mtls_err_set(err, MTLS_E_POLICY,
		    "%s is %s: only RSA (2048+), ECDSA (P-256/384/521) and "
		    "EdDSA keys are accepted",
		    what, desc);
	}
}

int
mtls_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
	int rc = X509_check_private_key(cert, key) == 1;

	ERR_clear_error();
	return rc;
}
