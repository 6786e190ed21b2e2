/* see mtls/ca.h: mtls_identity_renew, mtls_ca_current */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mtls/file.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

struct current {
	char serial[80];
	char profile[16];
	char *pem;
	int partner;          /* the current one was signed from a CSR */
	int local_n, partner_n; /* rows of each origin under the name */
};

/* Rows arrive oldest first: the last valid, not superseded one wins. */
static int
pick_current(const struct mtls_inv_entry *e, void *arg)
{
	struct current *c = arg;
	int partner = e->origin != NULL && strcmp(e->origin, "partner") == 0;

	*(partner ? &c->partner_n : &c->local_n) += 1;
	if (strcmp(e->status, "valid") != 0 || e->superseded_by != NULL) {
		return 0;
	}
	c->partner = partner;
	snprintf(c->serial, sizeof(c->serial), "%s", e->serial);
	snprintf(c->profile, sizeof(c->profile), "%s", e->profile);
	free(c->pem);
	c->pem = strdup(e->pem);
	return 0;
}

static int
find_current(struct mtls_ca *ca, const char *name, struct current *c,
    struct mtls_err *err)
{
	memset(c, 0, sizeof(*c));
	if (mtls_ca_list(ca, name, pick_current, c, err) != 0) {
		return -1;
	}
	if (c->serial[0] == '\0') {
		return mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no valid certificate named '%s' in the inventory (see "
		    "'mtls list')",
		    name);
	}
	/* Inventories from before names were unique may hold both. */
	if (c->local_n > 0 && c->partner_n > 0) {
		free(c->pem);
		c->pem = NULL;
		return mtls_err_set(err, MTLS_E_POLICY, "the name '%s' is ambiguous: "
		    "it is held by certificates of ours and by certificates signed "
		    "from a partner's CSR; give the serial instead (see 'mtls list "
		    "%s')", name, name);
	}
	return 0;
}

int
mtls_ca_current(struct mtls_ca *ca, const char *name, char *serial, size_t len,
    struct mtls_err *err)
{
	struct current c;

	if (find_current(ca, name, &c, err) != 0) {
		return -1;
	}
	snprintf(serial, len, "%s", c.serial);
	free(c.pem);
	return 0;
}

static X509 *
pem_to_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static EVP_PKEY *
load_old_key(const struct mtls_renew_opts *o, const char *name, X509 *old,
    struct mtls_err *err)
{
	char path[4096];
	EVP_PKEY *k;

	snprintf(path, sizeof(path), "%s/%s.key", o->out_dir ? o->out_dir : ".",
	    name);
	k = mtls_load_key(path, o->key_pass ? o->key_pass : NULL, err);
	if (k != NULL && !mtls_key_matches_cert(k, old)) {
		EVP_PKEY_free(k);
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s does not belong to the current certificate of '%s'; "
		    "renew without --reuse-key",
		    path, name);
		return NULL;
	}
	return k;
}

X509 *
mtls_identity_renew(struct mtls_ca *ca, const char *name,
    const struct mtls_renew_opts *ro, struct mtls_fileset *fs,
    struct mtls_err *err)
{
	struct current c;
	struct mtls_identity_opts o;
	X509 *old = NULL, *cert = NULL;
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *key = NULL;
	char *serial = NULL, *pols = NULL;

	if (find_current(ca, name, &c, err) != 0) {
		return NULL;
	}
	if (c.partner) {
		mtls_err_set(err, MTLS_E_POLICY, "'%s' was signed from a partner's "
		    "CSR: the partner holds its key, so it is never re-keyed here; "
		    "ask the partner for a new CSR and run 'mtls sign NEW.csr "
		    "--name %s --renew'", name, name);
		goto out;
	}
	old = pem_to_cert(c.pem);
	if (old == NULL) {
		mtls_err_ssl(err, MTLS_E_FORMAT, "inventory entry %s is corrupt", c.serial);
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.name = name;
	o.days = ro->days;
	o.out_dir = ro->out_dir;
	o.key_pass = ro->key_pass;
	o.subject_name = X509_get_subject_name(old);
	sans = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
	o.san_list = sans != NULL ? sans : NULL;
	/* The same certificate policies: relying parties that require one
	 * keep accepting the renewed certificate. */
	pols = mtls__policies_text(old, err);
	o.cert_policies = pols;
	if (pols == NULL || mtls_profile_parse(c.profile, &o.profile, err) != 0) {
		goto out;
	}
	if (sans == NULL) {
		sans = sk_GENERAL_NAME_new_null();
		o.san_list = sans;
	}
	/* Same key type as before when generating a new key. */
	o.key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(old)) == EVP_PKEY_RSA
	    ? (EVP_PKEY_get_bits(X509_get0_pubkey(old)) > 3072 ? MTLS_KEY_RSA_4096
		  : EVP_PKEY_get_bits(X509_get0_pubkey(old)) > 2048 ? MTLS_KEY_RSA_3072
								     : MTLS_KEY_RSA_2048)
	    : EVP_PKEY_get_base_id(X509_get0_pubkey(old)) == EVP_PKEY_ED25519 ? MTLS_KEY_ED25519
	    : EVP_PKEY_get_bits(X509_get0_pubkey(old)) > 256 ? MTLS_KEY_EC_P384
							      : MTLS_KEY_EC_P256;
	if (ro->reuse_key) {
		key = load_old_key(ro, name, old, err);
		if (key == NULL) {
			goto out;
		}
		o.reuse_key = key;
	}
	cert = mtls_identity_issue(ca, &o, fs, err);
	if (cert == NULL) {
		goto out;
	}
	serial = mtls_cert_serial_hex(cert);
	if (serial == NULL || mtls__ca_set_superseded(ca, c.serial, serial, err) != 0 ||
	    (ro->revoke_old && mtls_ca_revoke(ca, c.serial, 4 /* superseded */, 0, err) != 0)) {
		X509_free(cert);
		cert = NULL;
	}
out:
	OPENSSL_free(serial);
	free(pols);
	EVP_PKEY_free(key);
	GENERAL_NAMES_free(sans);
	X509_free(old);
	free(c.pem);
	return cert;
}
