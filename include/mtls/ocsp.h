/*
 * mtls/ocsp.h - an RFC 6960 OCSP responder answering from the CA's
 * inventory, and the client side: build a request, check a response.
 *
 * The responder is transport-free: hand it the DER of an OCSPRequest and
 * it returns the DER of an OCSPResponse. Responses to requests without a
 * nonce are cached (keyed by the request bytes) and served again until the
 * inventory changes or a quarter of their validity has passed; requests
 * with a nonce (RFC 8954) are always signed live.
 */
#ifndef MTLS_OCSP_H
#define MTLS_OCSP_H

#include <stddef.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "mtls/ca.h"
#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmtls.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Default validity (nextUpdate - thisUpdate) of a response, in minutes. */
#define MTLS_OCSP_DEFAULT_VALIDITY 60

struct mtls_ocsp_responder_opts {
	/* A delegated responder (RFC 6960 4.2.2.2): a certificate issued by
	 * the CA with EKU OCSPSigning, and its key; both NULL: the CA key
	 * signs. Borrowed; must outlive the responder. */
	X509 *signer_cert;
	EVP_PKEY *signer_key;
	int validity_minutes; /* 0: MTLS_OCSP_DEFAULT_VALIDITY */
	int refresh_ms;       /* how often to look for inventory changes;
	                         0: 1000 */
	size_t cache_max;     /* cached responses kept; 0: 100000 */
};

struct mtls_ocsp_responder;

/* Creates a responder for CA, which must be unlocked (mtls_ca_unlock)
 * unless a delegated signer is given. Refuses a signer certificate that
 * was not issued by CA, lacks EKU OCSPSigning, or does not match its key.
 * CA is borrowed and must outlive the responder. */
struct mtls_ocsp_responder *mtls_ocsp_responder_new(struct mtls_ca *ca,
    const struct mtls_ocsp_responder_opts *opts, struct mtls_err *err);

void mtls_ocsp_responder_free(struct mtls_ocsp_responder *r);

/* Empties the response cache: every response is signed afresh. */
void mtls_ocsp_responder_flush(struct mtls_ocsp_responder *r);

/* Answers the OCSPRequest REQ (DER, LEN bytes). Always returns a response
 * (malformedRequest for anything unparsable, internalError if signing
 * fails) and its length in *OUT_LEN. The buffer is borrowed: valid until
 * the next call on R or mtls_ocsp_responder_free. Not thread-safe. */
const unsigned char *mtls_ocsp_respond(struct mtls_ocsp_responder *r,
    const unsigned char *req, size_t len, size_t *out_len);

struct mtls_ocsp_stats {
	unsigned long long requests;  /* all calls to mtls_ocsp_respond */
	unsigned long long cache_hits;
	unsigned long long signed_live;
	unsigned long long malformed;
	unsigned long long good, revoked, unknown; /* single responses */
	unsigned long long reloads;   /* cache flushes on inventory change */
};

void mtls_ocsp_responder_stats(const struct mtls_ocsp_responder *r,
    struct mtls_ocsp_stats *out);

/* ---- client side ---- */

enum mtls_ocsp_status {
	MTLS_OCSP_GOOD,
	MTLS_OCSP_REVOKED,
	MTLS_OCSP_UNKNOWN,
};

struct mtls_ocsp_result {
	enum mtls_ocsp_status status;
	time_t revoked_at;   /* when REVOKED */
	int reason;          /* CRL reason code when REVOKED; -1 if none */
	time_t this_update;
	time_t next_update;  /* 0 when the response has none */
};

/* A request for CERT issued by ISSUER (CertID with SHA-1, as RFC 5019
 * and most responders expect), with a fresh 16-byte nonce when NONCE.
 * Returns the request (caller frees with OCSP_REQUEST_free). */
OCSP_REQUEST *mtls_ocsp_request_new(X509 *cert, X509 *issuer, int nonce,
    struct mtls_err *err);

/* Checks the OCSPResponse RESP (DER) to REQ about CERT from ISSUER: the
 * response status is successful, the signature is by ISSUER or by a
 * certificate ISSUER issued for OCSPSigning, the nonce matches when REQ
 * has one, the answer is about CERT, and it is fresh at AT (0: now) by
 * mtls_ocsp_result_fresh with the default limits. Fills *RES. */
int mtls_ocsp_response_check(const unsigned char *resp, size_t len,
    OCSP_REQUEST *req, X509 *cert, X509 *issuer, time_t at,
    struct mtls_ocsp_result *res, struct mtls_err *err);

/* Seconds of clock skew allowed on an answer's thisUpdate and nextUpdate
 * by default (as openssl ocsp's -validity_period). */
#define MTLS_OCSP_DEFAULT_SKEW 300
/* Seconds an answer without nextUpdate is accepted after its thisUpdate
 * by default (RFC 6960 4.2.2.1: without nextUpdate "newer information is
 * always available", so such an answer must not be trusted forever). */
#define MTLS_OCSP_DEFAULT_MAX_AGE 3600

/* 0 when RES is fresh at AT (0: now): thisUpdate is not later than AT +
 * SKEW, nextUpdate (when present) not earlier than AT - SKEW, and
 * thisUpdate not older than MAX_AGE + SKEW seconds. MAX_AGE 0 bounds
 * only answers without nextUpdate, by MTLS_OCSP_DEFAULT_MAX_AGE; a
 * positive MAX_AGE bounds every answer. SKEW < 0: MTLS_OCSP_DEFAULT_SKEW.
 * Otherwise -1 (MTLS_E_VERIFY) with a sentence naming the date, by how
 * much it misses, and the option that moves the limit. */
int mtls_ocsp_result_fresh(const struct mtls_ocsp_result *res, time_t at,
    long max_age, long skew, struct mtls_err *err);

/* The first OCSP URL in CERT's Authority Information Access, or NULL
 * (caller frees with OPENSSL_free). */
char *mtls_ocsp_url(X509 *cert);

/* One line about RES for CERT: "good", "revoked on DATE (reason)",
 * "unknown". Writes into BUF. */
void mtls_ocsp_result_format(const struct mtls_ocsp_result *res, char *buf,
    size_t len);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
