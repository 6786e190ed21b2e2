/* see acme_int.h: certificate download (RFC 8555 7.4.2) and revocation
 * (7.6), by the account that got the certificate or by its own key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/internal.h"
#include "ca/acme_store.h"
#include "online/acme_int.h"
#include "mtls/pki.h"

/* ---- certificates (7.4.2) and revocation (7.6) ---- */

struct found {
	char *pem;
	char status[16];
};

static int
take_pem(const struct mtls_inv_entry *e, void *arg)
{
	struct found *f = arg;

	f->pem = strdup(e->pem);
	snprintf(f->status, sizeof(f->status), "%s", e->status);
	return 0;
}

void
mtls__acme_cert(struct mtls__acme_job *j, const char *serial)
{
	struct found f = {NULL, ""};
	struct mtls_err e;
	char owner[64];
	size_t n;
	int rc;

	rc = mtls__acme_cert_account(j->a->ca, serial, owner, sizeof(owner), &e);
	if (rc != 0 || strcmp(owner, j->account) != 0) {
		mtls__acme_problem(j, rc < 0 ? 500 : 404, rc < 0 ? "serverInternal" :
		    "malformed", "%s", rc < 0 ? e.msg : "no certificate of yours "
		    "with that serial");
		return;
	}
	if (mtls_ca_lookup(j->a->ca, serial, take_pem, &f, &e) != 0 ||
	    f.pem == NULL) {
		mtls__acme_problem(j, 500, "serverInternal", "the certificate is "
		    "not in the inventory");
		free(f.pem);
		return;
	}
	/* application/pem-certificate-chain: the leaf, then the CA. */
	n = strlen(f.pem) + strlen(j->a->ca_pem) + 2;
	free(j->resp->body);
	j->resp->body = malloc(n);
	if (j->resp->body == NULL) {
		free(f.pem);
		mtls__acme_problem(j, 500, "serverInternal", "out of memory");
		return;
	}
	snprintf(j->resp->body, n, "%s%s%s", f.pem, f.pem[0] && f.pem[strlen(
	    f.pem) - 1] == '\n' ? "" : "\n", j->a->ca_pem);
	j->resp->len = strlen(j->resp->body);
	j->resp->status = 200;
	j->resp->content_type = "application/pem-certificate-chain";
	free(f.pem);
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

void
mtls__acme_revoke(struct mtls__acme_job *j)
{
	const char *b64 = mtls__acme_jstr(j->payload, "certificate");
	json_t *jr = json_object_get(j->payload, "reason");
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dl = 0;
	X509 *x = NULL, *ours = NULL;
	struct found f = {NULL, ""};
	struct mtls_err e;
	char owner[64], *serial = NULL;
	int reason = jr != NULL ? (int)json_integer_value(jr) : 0, rc;

	der = mtls__b64url_dec(b64, strlen(b64), &dl);
	p = der;
	x = der != NULL ? d2i_X509(NULL, &p, (long)dl) : NULL;
	if (x == NULL || p != der + dl) {
		mtls__acme_problem(j, 400, "malformed", "'certificate' must be "
		    "base64url of a DER certificate");
		goto out;
	}
	/* RFC 5280 5.3.1 codes a subscriber may give. */
	if ((jr != NULL && !json_is_integer(jr)) || reason < 0 || reason > 10 ||
	    reason == 2 || reason == 6 || reason == 7 || reason == 8 ||
	    reason == 10) {
		mtls__acme_problem(j, 400, "badRevocationReason", "reason %d is not "
		    "accepted (0, 1, 3, 4, 5 or 9)", reason);
		goto out;
	}
	serial = mtls_cert_serial_hex(x);
	if (serial == NULL || mtls_ca_lookup(j->a->ca, serial, take_pem, &f,
		&e) != 0 || f.pem == NULL ||
	    (ours = pem_cert(f.pem)) == NULL || X509_cmp(x, ours) != 0) {
		mtls__acme_problem(j, 404, "malformed", "this CA did not issue that "
		    "certificate");
		goto out;
	}
	/* 7.6: the account that got it, or the certificate's own key. */
	if (j->account[0] != '\0') {
		rc = mtls__acme_cert_account(j->a->ca, serial, owner, sizeof(owner),
		    &e);
		if (rc != 0 || strcmp(owner, j->account) != 0) {
			mtls__acme_problem(j, 403, "unauthorized", "this account did not "
			    "get that certificate; sign with its key instead");
			goto out;
		}
	} else if (EVP_PKEY_eq(j->key, X509_get0_pubkey(x)) != 1) {
		mtls__acme_problem(j, 403, "unauthorized", "the JWS key is not the "
		    "certificate's key");
		goto out;
	}
	if (strcmp(f.status, "valid") != 0) {
		mtls__acme_problem(j, 400, "alreadyRevoked", "the certificate is "
		    "already %s", f.status);
		goto out;
	}
	if (mtls_ca_revoke(j->a->ca, serial, reason, 0, &e) != 0) {
		mtls__acme_problem(j, e.code == MTLS_E_EXISTS ? 400 : 500,
		    e.code == MTLS_E_EXISTS ? "alreadyRevoked" : "serverInternal",
		    "%s", e.msg);
		goto out;
	}
	mtls__acme_audit(j, "acme-revoke", "", serial, "revoked",
	    mtls_reason_name(reason));
	j->resp->status = 200;
	j->resp->content_type = NULL;
out:
	free(f.pem);
	OPENSSL_free(serial);
	X509_free(x);
	X509_free(ours);
	free(der);
	ERR_clear_error();
}
