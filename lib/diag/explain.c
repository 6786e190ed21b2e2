/* see mtls/explain.h */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "mtls/ca.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "base/clock.h"
#include "base/internal.h"

static const struct {
	long code;
	const char *key;
	const char *reason;
	const char *fix;
} verify_table[] = {
	{X509_V_OK, "ok", "verified", NULL},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown_issuer",
	    "unknown issuer: its issuer is not in the trusted CA file",
	    "trust the CA that issued it (--ca), or send the full chain"},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown_issuer",
	    "unknown issuer: its issuer is not in the trusted CA file",
	    "trust the CA that issued it (--ca), or send the intermediate "
	    "certificates too"},
	{X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown_issuer",
	    "unknown issuer: no trusted certificate signed it",
	    "trust the CA that issued it (--ca)"},
	{X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad_signature",
	    "its signature does not verify (corrupted or forged)",
	    "re-issue the certificate; check it was copied intact"},
	{X509_V_ERR_CERT_NOT_YET_VALID, "not_yet_valid", "not yet valid",
	    "check the clocks of both hosts, or wait until it becomes valid"},
	{X509_V_ERR_CERT_HAS_EXPIRED, "expired", "expired",
	    "renew it ('mtls renew NAME' or 'mtls issue NAME --force')"},
	{X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "bad_dates",
	    "its not-before date is malformed", "re-issue the certificate"},
	{X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "bad_dates",
	    "its not-after date is malformed", "re-issue the certificate"},
	{X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self_signed",
	    "self-signed and not trusted",
	    "use a CA-issued certificate, or trust this one explicitly"},
	{X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "untrusted_root",
	    "the chain ends in a self-signed root that is not trusted",
	    "trust that root CA (--ca)"},
	{X509_V_ERR_CERT_CHAIN_TOO_LONG, "chain_too_long",
	    "the chain is longer than the allowed depth",
	    "raise the verify depth or shorten the chain"},
	{X509_V_ERR_CERT_REVOKED, "revoked", "revoked",
	    "issue a new certificate; the old one must not be used"},
	{X509_V_ERR_INVALID_CA, "invalid_ca",
	    "an issuer in the chain is not a CA certificate",
	    "issue from a real CA (basicConstraints CA:TRUE)"},
	{X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_length",
	    "the chain exceeds a CA's path length constraint", NULL},
	{X509_V_ERR_INVALID_PURPOSE, "wrong_purpose",
	    "wrong purpose: its extended key usage does not allow this role",
	    "issue it with the right profile (client, server or node)"},
	{X509_V_ERR_CERT_UNTRUSTED, "untrusted",
	    "not trusted for this purpose", NULL},
	{X509_V_ERR_CERT_REJECTED, "rejected",
	    "rejected for this purpose", NULL},
	{X509_V_ERR_HOSTNAME_MISMATCH, "name_mismatch",
	    "name mismatch: the host name is not among its names",
	    "connect with a name in its SANs, or re-issue with --san"},
	{X509_V_ERR_IP_ADDRESS_MISMATCH, "name_mismatch",
	    "name mismatch: the IP address is not among its names",
	    "re-issue it with --san ip:ADDRESS"},
	{X509_V_ERR_EMAIL_MISMATCH, "name_mismatch",
	    "name mismatch: the email address is not among its names", NULL},
	{X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "no_certsign",
	    "an issuer's key usage does not allow signing certificates", NULL},
	{X509_V_ERR_UNABLE_TO_GET_CRL, "no_crl",
	    "no CRL is available for it", "give a current CRL (--crl)"},
	{X509_V_ERR_CRL_HAS_EXPIRED, "crl_expired",
	    "the CRL is past its next update", "publish a fresh CRL (mtls crl)"},
	{X509_V_ERR_CRL_NOT_YET_VALID, "crl_not_yet_valid",
	    "the CRL is not yet valid", "check the clocks"},
	{X509_V_ERR_CRL_SIGNATURE_FAILURE, "crl_bad_signature",
	    "the CRL's signature does not verify", NULL},
	{X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION, "critical_extension",
	    "it has a critical extension we do not understand", NULL},
	{X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM, "bad_algorithm",
	    "its signature algorithm is not supported", NULL},
	{X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key",
	    "its key is too small for the security level",
	    "re-issue with a stronger key (ec-p256 or rsa-2048+)"},
	{X509_V_ERR_NO_EXPLICIT_POLICY, "policy",
	    "the chain is not valid for a required certificate policy: not "
	    "every certificate from the CA down asserts it in "
	    "certificatePolicies (RFC 5280 6.1)",
	    "have the chain re-issued with the policy OID in every "
	    "certificate below the root (mtls issue, sign and ca "
	    "sign-intermediate take --cert-policy OID), or require the "
	    "policies it asserts (--require-policy)"},
	{X509_V_ERR_INVALID_POLICY_EXTENSION, "bad_policy",
	    "its certificatePolicies or policy constraints extension is "
	    "malformed (RFC 5280 4.2.1.4, 4.2.1.11)", "re-issue the certificate"},
	{X509_V_ERR_CA_BCONS_NOT_CRITICAL, "bcons_not_critical",
	    "this CA certificate's basicConstraints is not marked critical, "
	    "which RFC 5280 4.2.1.9 requires of every CA certificate",
	    "re-issue the CA with basicConstraints critical,CA:TRUE"},
	{X509_V_ERR_CA_MD_TOO_WEAK, "weak_digest",
	    "it is signed with a digest that is too weak (e.g. SHA-1)",
	    "re-issue with SHA-256"},
};

static int
verify_row(long code)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(verify_table); i++) {
		if (verify_table[i].code == code) {
			return (int)i;
		}
	}
	return -1;
}

const char *
mtls_explain_verify_code(long code)
{
	int r = verify_row(code);

	return r >= 0 ? verify_table[r].reason
		      : X509_verify_cert_error_string(code);
}

const char *
mtls_explain_verify_key(long code)
{
	int r = verify_row(code);

	return r >= 0 ? verify_table[r].key : "other";
}

const char *
mtls_explain_verify_fix(long code)
{
	int r = verify_row(code);

	return r >= 0 ? verify_table[r].fix : NULL;
}

void
mtls_time_format(const ASN1_TIME *t, char *buf, size_t len)
{
	mtls__time_format_asn1(t, MTLS__TIME_HUMAN, buf, len);
}

void
mtls_explain_verify_failure(long code, X509 *cert, int depth, char *buf,
    size_t len)
{
	char *subj = NULL, *serial = NULL, when[64] = "";
	const char *reason = mtls_explain_verify_code(code);
	const char *which = depth == 0 ? "certificate" : "issuer certificate";

	if (cert == NULL) {
		snprintf(buf, len, "%s", reason);
		return;
	}
	subj = mtls_name_format(X509_get_subject_name(cert));
	serial = mtls_cert_serial_hex(cert);
	/* OpenSSL cannot place a certificate whose extensions do not decode
	 * (it reports an unknown issuer): name the extension instead. */
	if (mtls_cert_malformed_why(cert) != NULL) {
		reason = mtls_cert_malformed_why(cert);
	}
	if (code == X509_V_ERR_CERT_HAS_EXPIRED) {
		mtls__time_format_asn1(X509_get0_notAfter(cert), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		snprintf(buf, len, "%s %s (serial %s) expired on %s", which,
		    subj ? subj : "?", serial ? serial : "?", when);
	} else if (code == X509_V_ERR_CERT_NOT_YET_VALID) {
		mtls__time_format_asn1(X509_get0_notBefore(cert), MTLS__TIME_HUMAN, when,
	    sizeof(when));
		snprintf(buf, len, "%s %s (serial %s) is not valid before %s",
		    which, subj ? subj : "?", serial ? serial : "?", when);
	} else {
		snprintf(buf, len, "%s %s (serial %s): %s", which,
		    subj ? subj : "?", serial ? serial : "?", reason);
	}
	OPENSSL_free(subj);
	OPENSSL_free(serial);
}

const char *
mtls_explain_alert(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
		return "the peer rejected our certificate (bad certificate)";
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
		return "the peer rejected our certificate: wrong type or "
		       "purpose (unsupported certificate)";
	case SSL_AD_CERTIFICATE_REVOKED:
		return "the peer says our certificate is revoked";
	case SSL_AD_CERTIFICATE_EXPIRED:
		return "the peer says our certificate has expired or is not "
		       "yet valid";
	case SSL_AD_CERTIFICATE_UNKNOWN:
		return "the peer could not accept our certificate "
		       "(certificate unknown: a purpose/EKU it does not take, "
		       "a revoked certificate, or a rule of its own)";
	case SSL_AD_UNKNOWN_CA:
		return "the peer does not trust the CA that issued our "
		       "certificate (unknown CA)";
	case SSL_AD_CERTIFICATE_REQUIRED:
		return "the peer requires a client certificate and we sent "
		       "none";
	case SSL_AD_HANDSHAKE_FAILURE:
		return "the handshake failed: no common protocol or cipher, "
		       "or a missing client certificate";
	case SSL_AD_PROTOCOL_VERSION:
		return "no TLS version in common with the peer";
	case SSL_AD_DECRYPT_ERROR:
		return "a signature or key check failed (does the key match "
		       "the certificate?)";
	case SSL_AD_ACCESS_DENIED:
		return "the peer denied access to our certificate's identity";
	case SSL_AD_ILLEGAL_PARAMETER:
		return "the peer found an illegal parameter in the handshake";
	case SSL_AD_UNRECOGNIZED_NAME:
		return "the peer does not serve the requested server name (SNI)";
	case SSL_AD_INTERNAL_ERROR:
		return "the peer had an internal error";
	case SSL_AD_DECODE_ERROR:
		return "the peer could not decode a handshake message";
	default:
		return "the peer aborted the handshake";
	}
}

/* Keys and fixes for alerts; the sentences are in mtls_explain_alert. */
static const struct {
	int alert;
	const char *key;
	const char *fix;
} alert_table[] = {
	{SSL_AD_BAD_CERTIFICATE, "bad_certificate",
	    "check that our certificate is issued by a CA the peer trusts, "
	    "that the key matches it, and that the full chain is sent"},
	{SSL_AD_UNSUPPORTED_CERTIFICATE, "unsupported_certificate",
	    "use a certificate whose extended key usage allows this role "
	    "(clientAuth for a client, serverAuth for a server)"},
	{SSL_AD_CERTIFICATE_REVOKED, "certificate_revoked",
	    "issue a new certificate; the revoked one will never be accepted"},
	{SSL_AD_CERTIFICATE_EXPIRED, "certificate_expired",
	    "renew the certificate ('mtls renew NAME'); check both clocks"},
	{SSL_AD_CERTIFICATE_UNKNOWN, "certificate_unknown",
	    "check the certificate's purpose (EKU), chain and validity with "
	    "'mtls doctor'"},
	{SSL_AD_UNKNOWN_CA, "unknown_ca",
	    "have the peer trust the CA that issued our certificate (add it "
	    "to its truststore / ssl_client_certificate), or send the "
	    "intermediate CA certificates with ours"},
	{SSL_AD_CERTIFICATE_REQUIRED, "certificate_required",
	    "give a client certificate and key (--cert/--key)"},
	{SSL_AD_HANDSHAKE_FAILURE, "handshake_failure",
	    "give a client certificate if the peer requires one; otherwise "
	    "align TLS versions and cipher suites"},
	{SSL_AD_PROTOCOL_VERSION, "protocol_version",
	    "enable TLS 1.2 or 1.3 on both sides"},
	{SSL_AD_DECRYPT_ERROR, "decrypt_error",
	    "use the private key that belongs to the certificate "
	    "('mtls doctor' checks the pair)"},
	{SSL_AD_ACCESS_DENIED, "access_denied",
	    "ask the peer's operator to allow our certificate's identity"},
	{SSL_AD_ILLEGAL_PARAMETER, "illegal_parameter",
	    "check TLS library versions on both sides"},
	{SSL_AD_UNRECOGNIZED_NAME, "unrecognized_name",
	    "connect with a server name the peer serves (--servername)"},
	{SSL_AD_INTERNAL_ERROR, "internal_error", "read the peer's error log"},
	{SSL_AD_DECODE_ERROR, "decode_error",
	    "check that both sides speak TLS on this port"},
};

const char *
mtls_explain_alert_key(int alert)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(alert_table); i++) {
		if (alert_table[i].alert == alert) {
			return alert_table[i].key;
		}
	}
	return "other_alert";
}

const char *
mtls_explain_alert_fix(int alert)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(alert_table); i++) {
		if (alert_table[i].alert == alert) {
			return alert_table[i].fix;
		}
	}
	return "read the peer's error log for the reason";
}

/* An end-entity certificate failing X509_PURPOSE_SSL_CLIENT/SERVER: its
 * extendedKeyUsage (RFC 5280 section 4.2.1.12) or Netscape cert type does
 * not allow the role it was presented for. */
static int
is_role_failure(long code, int depth)
{
	return depth == 0 && (code == X509_V_ERR_INVALID_PURPOSE ||
	    code == X509_V_ERR_CERT_REJECTED || code == X509_V_ERR_CERT_UNTRUSTED);
}

void
mtls_explain_peer_failure(long code, X509 *cert, int depth,
    enum mtls_peer_role role, char *buf, size_t len)
{
	char *subj = NULL, *serial = NULL;
	int client = role == MTLS_PEER_CLIENT;
	const char *why;

	if (cert != NULL && depth > 0 && code == X509_V_ERR_INVALID_PURPOSE &&
	    (why = mtls_chain_purpose_why(cert, depth, client ? MTLS_LEAF_CLIENT
		    : MTLS_LEAF_SERVER)) != NULL) {
		mtls_leaf_profile_sentence(cert, why, buf, len);
		return;
	}
	if (cert == NULL || !is_role_failure(code, depth)) {
		mtls_explain_verify_failure(code, cert, depth, buf, len);
		return;
	}
	why = mtls_chain_purpose_why(cert, depth,
	    client ? MTLS_LEAF_CLIENT : MTLS_LEAF_SERVER);
	if (why != NULL) {
		mtls_leaf_profile_sentence(cert, why, buf, len);
		return;
	}
	subj = mtls_name_format(X509_get_subject_name(cert));
	serial = mtls_cert_serial_hex(cert);
	snprintf(buf, len,
	    "certificate %s (serial %s) is not a %s certificate (its extended "
	    "key usage lacks %s)", subj ? subj : "?", serial ? serial : "?",
	    client ? "client" : "server", client ? "clientAuth" : "serverAuth");
	OPENSSL_free(subj);
	OPENSSL_free(serial);
}

const char *
mtls_explain_peer_key(long code, int depth, enum mtls_peer_role role)
{
	if (is_role_failure(code, depth)) {
		return role == MTLS_PEER_CLIENT ? "not_client_cert"
						: "not_server_cert";
	}
	return mtls_explain_verify_key(code);
}

void
mtls_explain_revoked(X509 *cert, time_t when, int reason, char *buf,
    size_t len)
{
	char *subj = mtls_name_format(X509_get_subject_name(cert));
	char *serial = mtls_cert_serial_hex(cert);
	char date[64] = "", day[40];

	if (when != 0 && mtls__time_format(when, MTLS__TIME_HUMAN, day,
	    sizeof(day)) > 0) {
		snprintf(date, sizeof(date), " on %s", day);
	}
	snprintf(buf, len, "certificate %s (serial %s) revoked%s (%s)",
	    subj != NULL ? subj : "?", serial != NULL ? serial : "?", date,
	    mtls_reason_name(reason));
	OPENSSL_free(subj);
	OPENSSL_free(serial);
}
