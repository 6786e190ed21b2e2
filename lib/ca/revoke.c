/* see mtls/ca.h: revocation state in the inventory */
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "ca/ca_internal.h"
#include "base/internal.h"

/* RFC 5280 5.3.1 CRLReason; 7 is unused. */
static const char *const reasons[] = {"unspecified", "keyCompromise",
    "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation",
    "certificateHold", NULL, "removeFromCRL", "privilegeWithdrawn",
    "aACompromise"};

int
mtls_reason_parse(const char *s, int *code, struct mtls_err *err)
{
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(reasons); i++) {
		if (reasons[i] != NULL && strcasecmp(s, reasons[i]) == 0) {
			*code = (int)i;
			return 0;
		}
	}
	return mtls_err_set(err, MTLS_E_USAGE,
	    "unknown reason '%s': use keyCompromise, superseded, "
	    "cessationOfOperation, affiliationChanged, cACompromise, "
	    "privilegeWithdrawn, certificateHold or unspecified",
	    s);
}

const char *
mtls_reason_name(int code)
{
	if (code < 0 || (size_t)code >= MTLS_ARRAY_LEN(reasons) ||
	    reasons[code] == NULL) {
		return "unspecified";
	}
	return reasons[code];
}

int
mtls_ca_lookup(struct mtls_ca *ca, const char *serial, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	return mtls__inv_lookup(ca->inv, serial, cb, arg, err);
}

int
mtls__ca_list_revoked(struct mtls_ca *ca, int with_pem, mtls_inv_cb *cb,
    void *arg, struct mtls_err *err)
{
	return mtls__inv_list_revoked(ca->inv, with_pem, cb, arg, err);
}

int
mtls_ca_revoke(struct mtls_ca *ca, const char *serial, int reason, time_t when,
    struct mtls_err *err)
{
	return mtls__inv_revoke(ca->inv, serial, mtls_reason_name(reason),
	    when ? when : time(NULL), err);
}

int
mtls__ca_set_superseded(struct mtls_ca *ca, const char *old_serial,
    const char *new_serial, struct mtls_err *err)
{
	return mtls__inv_set_superseded(ca->inv, old_serial, new_serial, err);
}

EVP_PKEY *
mtls__ca_key(const struct mtls_ca *ca)
{
	return ca->key;
}

int
mtls__ca_next_crl_number(struct mtls_ca *ca, long long *out,
    struct mtls_err *err)
{
	return mtls__inv_next_crl_number(ca->inv, out, err);
}

int
mtls__ca_revocation_state(struct mtls_ca *ca, long long *count, time_t *latest,
    struct mtls_err *err)
{
	return mtls__inv_revocation_state(ca->inv, count, latest, err);
}

const char *
mtls_inv_state(const struct mtls_inv_entry *e, time_t now)
{
	/* Revocation outranks everything: it is the one fact a relying party
	 * must act on, whatever else holds for the certificate. */
	if (strcmp(e->status, "revoked") == 0) {
		return "revoked";
	}
	if (e->superseded_by != NULL) {
		return "superseded";
	}
	if (e->not_after < now) {
		return "expired";
	}
	if (e->not_before > now) {
		return "not-yet-valid";
	}
	return "valid";
}
