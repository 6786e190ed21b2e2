/* see mtls/ca.h: mtls_identity_issue */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mtls/file.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

/* The name is used as a file name: keep it to one path component. */
int
mtls__ca_check_name(const char *name, struct mtls_err *err)
{
	const char *c;

	if (name == NULL || *name == '\0' || strlen(name) > 200 ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "bad name '%s': give a short name such as 'publish'",
		    name ? name : "");
	}
	for (c = name; *c != '\0'; c++) {
		if (*c == '/' || (unsigned char)*c < 0x20) {
			return mtls_err_set(err, MTLS_E_USAGE,
			    "bad name '%s': no '/' or control characters", name);
		}
	}
	return 0;
}

static GENERAL_NAMES *
identity_sans(const struct mtls_identity_opts *o, struct mtls_err *err)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	char def[260];

	if (gens == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (o->sans != NULL && *o->sans != '\0') {
		if (mtls_san_add(gens, o->sans, err) != 0) {
			goto fail;
		}
	} else if (o->profile == MTLS_PROFILE_SERVER ||
		   o->profile == MTLS_PROFILE_NODE) {
		/* Clients match servers by SAN only (RFC 6125): never leave a
		 * server without one. */
		snprintf(def, sizeof(def), "dns:%s", o->name);
		if (mtls_san_add(gens, def, err) != 0) {
			mtls_err_set(err, MTLS_E_USAGE,
			    "'%s' is not a DNS name, so it cannot be the default "
			    "SAN: give --san dns:HOST or ip:ADDRESS",
			    o->name);
			goto fail;
		}
	}
	return gens;
fail:
	GENERAL_NAMES_free(gens);
	return NULL;
}

static int
stage_files(struct mtls_ca *ca, const struct mtls_identity_opts *o,
    EVP_PKEY *key, X509 *cert, struct mtls_fileset *fs, struct mtls_err *err)
{
	const char *dir = o->out_dir ? o->out_dir : ".";
	char *kp = mtls__path_of(dir, o->name, ".key");
	char *cp = mtls__path_of(dir, o->name, ".crt");
	char *chp = mtls__path_of(dir, o->name, ".chain.pem");
	char *pp = mtls__path_of(dir, o->name, ".p12");
	char *key_pem = NULL, *crt = NULL, *chain = NULL;
	size_t key_len = 0, crt_len = 0, chain_len = 0, p12_len = 0;
	unsigned char *p12 = NULL;
	STACK_OF(X509) *cas = NULL;
	int rc = -1;

	if (kp == NULL || cp == NULL || chp == NULL || pp == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls_key_to_pem(key, o->key_pass, &key_pem, &key_len, err) != 0 ||
	    mtls_cert_append_pem(cert, &crt, &crt_len, err) != 0) {
		goto out;
	}
	/* The chain is the leaf's PEM plus the CA's, encoded once per CA. */
	chain_len = crt_len + ca->chain_pem_len;
	chain = OPENSSL_malloc(chain_len + 1);
	if (chain == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(chain, crt, crt_len);
	memcpy(chain + crt_len, ca->chain_pem, ca->chain_pem_len + 1);
	if (mtls_fileset_add(fs, kp, key_pem, key_len, MTLS_MODE_SECRET, err) != 0 ||
	    mtls_fileset_add(fs, cp, crt, crt_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls_fileset_add(fs, chp, chain, chain_len, MTLS_MODE_PUBLIC, err) != 0) {
		goto out;
	}
	if (o->p12) {
		cas = sk_X509_new_null();
		if (cas == NULL || sk_X509_push(cas, ca->cert) <= 0) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
		if (mtls_p12_build(key, cert, cas, o->name, o->p12_pass,
			o->p12_legacy, &p12, &p12_len, err) != 0 ||
		    mtls_fileset_add(fs, pp, p12, p12_len, MTLS_MODE_SECRET,
			err) != 0) {
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_free(cas); /* borrowed certificate: free only the stack */
	OPENSSL_clear_free(p12, p12_len);
	mtls_secret_free(key_pem, key_len);
	OPENSSL_free(crt);
	OPENSSL_free(chain);
	free(kp);
	free(cp);
	free(chp);
	free(pp);
	return rc;
}

int
mtls_identity_validate(const struct mtls_identity_opts *o, struct mtls_err *err)
{
	GENERAL_NAMES *sans;
	X509_NAME *subj;

	if (mtls__ca_check_name(o->name, err) != 0 ||
	    mtls__policies_check(o->cert_policies, err) != 0) {
		return -1;
	}
	if (o->subject != NULL) {
		subj = mtls_name_parse(o->subject, err);
		if (subj == NULL) {
			return -1;
		}
		X509_NAME_free(subj);
	}
	if (o->san_list != NULL) {
		return 0;
	}
	sans = identity_sans(o, err);
	if (sans == NULL) {
		return -1;
	}
	GENERAL_NAMES_free(sans);
	return 0;
}

X509 *
mtls_identity_issue(struct mtls_ca *ca, const struct mtls_identity_opts *o,
    struct mtls_fileset *fs, struct mtls_err *err)
{
	X509_NAME *subj = NULL;
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char dn[300];
	struct mtls_cert_request req;

	if (mtls__ca_check_name(o->name, err) != 0) {
		return NULL;
	}
	if (o->subject_name != NULL) {
		subj = X509_NAME_dup(o->subject_name);
	} else if (o->subject != NULL) {
		subj = mtls_name_parse(o->subject, err);
	} else {
		subj = X509_NAME_new();
		if (subj != NULL &&
		    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
			(const unsigned char *)o->name, -1, -1, 0) != 1) {
			snprintf(dn, sizeof(dn), "%s", o->name);
			mtls_err_ssl(err, MTLS_E_USAGE,
			    "'%s' cannot be a common name (64 characters at most)",
			    dn);
			goto out;
		}
	}
	if (subj == NULL) {
		goto out;
	}
	sans = o->san_list != NULL
	    ? ASN1_item_dup(ASN1_ITEM_rptr(GENERAL_NAMES), (void *)o->san_list)
				   : identity_sans(o, err);
	if (sans == NULL) {
		goto out;
	}
	if (o->reuse_key != NULL && EVP_PKEY_up_ref(o->reuse_key) == 1) {
		key = o->reuse_key;
	} else {
		key = mtls_key_generate(o->key_type, err);
	}
	if (key == NULL) {
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.name = o->name;
	req.subject = subj;
	req.pubkey = key;
	req.profile = o->profile;
	req.sans = sans;
	req.days = o->days;
	req.cert_policies = o->cert_policies;
	cert = mtls_ca_sign(ca, &req, err);
	if (cert != NULL && stage_files(ca, o, key, cert, fs, err) != 0) {
		X509_free(cert);
		cert = NULL;
	}
out:
	X509_NAME_free(subj);
	GENERAL_NAMES_free(sans);
	EVP_PKEY_free(key);
	return cert;
}
