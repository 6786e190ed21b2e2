/* explain.c: verification codes and alerts into sentences. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "mtls/explain.h"
#include "test_pki.h"

/* Every code the table in explain.c covers, with the key we promise
 * (keys are used as metric labels, so they are part of the contract). */
static const struct {
	long code;
	const char *key;
	int has_fix;
} table[] = {
	{X509_V_OK, "ok", 0},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown_issuer", 1},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown_issuer", 1},
	{X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown_issuer", 1},
	{X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad_signature", 1},
	{X509_V_ERR_CERT_NOT_YET_VALID, "not_yet_valid", 1},
	{X509_V_ERR_CERT_HAS_EXPIRED, "expired", 1},
	{X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "bad_dates", 1},
	{X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "bad_dates", 1},
	{X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self_signed", 1},
	{X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "untrusted_root", 1},
	{X509_V_ERR_CERT_CHAIN_TOO_LONG, "chain_too_long", 1},
	{X509_V_ERR_CERT_REVOKED, "revoked", 1},
	{X509_V_ERR_INVALID_CA, "invalid_ca", 1},
	{X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_length", 0},
	{X509_V_ERR_INVALID_PURPOSE, "wrong_purpose", 1},
	{X509_V_ERR_CERT_UNTRUSTED, "untrusted", 0},
	{X509_V_ERR_CERT_REJECTED, "rejected", 0},
	{X509_V_ERR_HOSTNAME_MISMATCH, "name_mismatch", 1},
	{X509_V_ERR_IP_ADDRESS_MISMATCH, "name_mismatch", 1},
	{X509_V_ERR_EMAIL_MISMATCH, "name_mismatch", 0},
	{X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "no_certsign", 0},
	{X509_V_ERR_UNABLE_TO_GET_CRL, "no_crl", 1},
	{X509_V_ERR_CRL_HAS_EXPIRED, "crl_expired", 1},
	{X509_V_ERR_CRL_NOT_YET_VALID, "crl_not_yet_valid", 1},
	{X509_V_ERR_CRL_SIGNATURE_FAILURE, "crl_bad_signature", 0},
	{X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION, "critical_extension", 0},
	{X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM, "bad_algorithm", 0},
	{X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key", 1},
	{X509_V_ERR_CA_MD_TOO_WEAK, "weak_digest", 1},
};

static int
key_is_identifier(const char *k)
{
	if (*k == '\0') {
		return 0;
	}
	for (; *k != '\0'; k++) {
		if (!(islower((unsigned char)*k) || *k == '_')) {
			return 0;
		}
	}
	return 1;
}

static void
every_code_has_reason_and_key(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *r = mtls_explain_verify_code(table[i].code);
		const char *k = mtls_explain_verify_key(table[i].code);
		const char *fix = mtls_explain_verify_fix(table[i].code);

		assert_non_null(r);
		assert_true(strlen(r) > 0);
		assert_non_null(k);
		assert_string_equal(k, table[i].key);
		assert_true(key_is_identifier(k));
		if (table[i].has_fix) {
			assert_non_null(fix);
			assert_true(strlen(fix) > 0);
		} else {
			assert_null(fix);
		}
	}
	/* The sentences people see for the common cases. */
	assert_non_null(strstr(mtls_explain_verify_code(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), "unknown issuer"));
	assert_non_null(strstr(mtls_explain_verify_code(
	    X509_V_ERR_INVALID_PURPOSE), "wrong purpose"));
	assert_non_null(strstr(mtls_explain_verify_code(
	    X509_V_ERR_HOSTNAME_MISMATCH), "name mismatch"));
	assert_non_null(strstr(mtls_explain_verify_code(
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), "self-signed"));
}

static void
unknown_codes_fall_back(void **state)
{
	long code;

	(void)state;
	/* Any code at all gets some non-empty reason and a key. */
	for (code = -5; code < 200; code++) {
		const char *r = mtls_explain_verify_code(code);
		const char *k = mtls_explain_verify_key(code);

		assert_non_null(r);
		assert_true(strlen(r) > 0);
		assert_non_null(k);
		assert_true(key_is_identifier(k));
	}
	assert_string_equal(mtls_explain_verify_key(X509_V_ERR_OUT_OF_MEM),
	    "other");
	assert_null(mtls_explain_verify_fix(X509_V_ERR_OUT_OF_MEM));
	assert_string_equal(mtls_explain_verify_key(123456), "other");
}

static int
setup(void **state)
{
	return test_ca_fx_setup(state, "CN=Explain CA");
}

static int
teardown(void **state)
{
	return test_ca_fx_teardown(state);
}

static void
sentences_name_cert_and_date(void **state)
{
	struct test_ca_fx *f = *state;
	/* 2020-01-01 00:00:00 UTC + 10 days; 2030-06-01 00:00:00 UTC. */
	X509 *old = test_sign(f->ca, "old.example", MTLS_PROFILE_SERVER, NULL,
	    f->key, 10, 1577836800);
	X509 *future = test_sign(f->ca, "future.example", MTLS_PROFILE_CLIENT,
	    NULL, f->key, 10, 1906502400);
	char *serial = mtls_cert_serial_hex(old), want[400], buf[700];
	static const struct {
		long code;
		int depth;
		int future;
		const char *head; /* before the serial */
		const char *tail; /* after it */
	} cases[] = {
		{X509_V_ERR_CERT_HAS_EXPIRED, 0, 0,
		    "certificate CN=old.example (serial ",
		    ") expired on 2020-01-11 00:00:00 UTC"},
		{X509_V_ERR_CERT_HAS_EXPIRED, 1, 0,
		    "issuer certificate CN=old.example (serial ",
		    ") expired on 2020-01-11 00:00:00 UTC"},
		{X509_V_ERR_CERT_NOT_YET_VALID, 0, 1,
		    "certificate CN=future.example (serial ",
		    ") is not valid before 2030-06-01 00:00:00 UTC"},
		{X509_V_ERR_INVALID_PURPOSE, 0, 0,
		    "certificate CN=old.example (serial ",
		    "): wrong purpose: its extended key usage does not allow "
		    "this role"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x = cases[i].future ? future : old;
		char *s = mtls_cert_serial_hex(x);

		snprintf(want, sizeof(want), "%s%s%s", cases[i].head, s,
		    cases[i].tail);
		mtls_explain_verify_failure(cases[i].code, x, cases[i].depth,
		    buf, sizeof(buf));
		assert_string_equal(buf, want);
		OPENSSL_free(s);
	}
	/* Without a certificate: just the reason. */
	mtls_explain_verify_failure(X509_V_ERR_CERT_REVOKED, NULL, 0, buf,
	    sizeof(buf));
	assert_string_equal(buf, "revoked");
	/* A small buffer is truncated, never overrun. */
	{
		char small[16];

		memset(small, 'x', sizeof(small));
		mtls_explain_verify_failure(X509_V_ERR_CERT_HAS_EXPIRED, old, 0,
		    small, sizeof(small));
		assert_int_equal(strlen(small), sizeof(small) - 1);
	}
	OPENSSL_free(serial);
	X509_free(old);
	X509_free(future);
}

static void
time_format(void **state)
{
	ASN1_TIME *t = ASN1_TIME_new();
	char buf[64];

	(void)state;
	assert_int_equal(ASN1_TIME_set_string(t, "20260102100000Z"), 1);
	mtls_time_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-02 10:00:00 UTC");
	assert_int_equal(ASN1_TIME_set_string(t, "491231235959Z"), 1); /* UTCTime */
	mtls_time_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "2049-12-31 23:59:59 UTC");
	mtls_time_format(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "(invalid date)");
	/* Malformed content. */
	ASN1_STRING_set(t, "garbage", 7);
	mtls_time_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "(invalid date)");
	ASN1_TIME_free(t);
}

static void
alerts(void **state)
{
	static const struct {
		int alert;
		const char *in;
	} cases[] = {
		{SSL_AD_BAD_CERTIFICATE, "rejected our certificate"},
		{SSL_AD_UNSUPPORTED_CERTIFICATE, "purpose"},
		{SSL_AD_CERTIFICATE_REVOKED, "revoked"},
		{SSL_AD_CERTIFICATE_EXPIRED, "expired"},
		{SSL_AD_CERTIFICATE_UNKNOWN, "certificate unknown"},
		{SSL_AD_UNKNOWN_CA, "unknown CA"},
		{SSL_AD_CERTIFICATE_REQUIRED, "requires a client certificate"},
		{SSL_AD_HANDSHAKE_FAILURE, "handshake failed"},
		{SSL_AD_PROTOCOL_VERSION, "TLS version"},
		{SSL_AD_DECRYPT_ERROR, "key match"},
		{SSL_AD_ACCESS_DENIED, "denied"},
		{SSL_AD_ILLEGAL_PARAMETER, "illegal parameter"},
		{SSL_AD_UNRECOGNIZED_NAME, "SNI"},
		{SSL_AD_INTERNAL_ERROR, "internal error"},
		{SSL_AD_DECODE_ERROR, "decode"},
		{-1, "aborted"},
		{255, "aborted"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *s = mtls_explain_alert(cases[i].alert);

		assert_non_null(s);
		if (strstr(s, cases[i].in) == NULL) {
			fail_msg("alert %d: '%s' lacks '%s'", cases[i].alert, s,
			    cases[i].in);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_code_has_reason_and_key),
	    cmocka_unit_test(unknown_codes_fall_back),
	    cmocka_unit_test(sentences_name_cert_and_date),
	    cmocka_unit_test(time_format),
	    cmocka_unit_test(alerts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
