/* Layer online, node side: installing an identity - PEM, PKCS#12 and
 * JKS stores, server bundles, the CRL - staged into one atomic file set.
 * See enroll_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "mtls/bundle.h"
#include "mtls/file.h"
#include "mtls/online.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/internal.h"
#include "online/enroll_int.h"

int
mtls__enroll_stage(struct mtls_fileset *fs, const char *dir, const char *name,
    const char *ext, const void *d, size_t n, mode_t mode, struct mtls_err *err)
{
	char *p = mtls__path_of(dir, name, ext);
	int rc;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	rc = mtls_fileset_add(fs, p, d, n, mode, err);
	free(p);
	return rc;
}

static int
stage_stores(const struct enroll_install *in, STACK_OF(X509) *chain,
    struct mtls_fileset *fs, struct mtls_err *err)
{
	static const struct {
		unsigned flag;
		enum mtls_store_format fmt;
		const char *ext;
	} kinds[] = {
	    {MTLS_ENROLL_P12, MTLS_STORE_P12, ".p12"},
	    {MTLS_ENROLL_JKS, MTLS_STORE_JKS, ".jks"},
	};
	struct mtls_store *ks = NULL, *ts = NULL;
	unsigned char *kb = NULL, *tb = NULL;
	size_t kl = 0, tl = 0, i;
	int rc = -1;

	for (i = 0; i < 2; i++) {
		if ((in->formats & kinds[i].flag) == 0) {
			continue;
		}
		ks = mtls_store_new();
		ts = mtls_store_new();
		if (ks == NULL || ts == NULL ||
		    mtls_store_add_key(ks, in->name, in->key, chain, 0, 1, err) != 0 ||
		    mtls_store_add_trusted(ts, "ca", in->ca, 0, 1, err) != 0 ||
		    mtls_store_serialize(ks, kinds[i].fmt, in->store_pass, NULL, &kb,
			&kl, err) != 0 ||
		    mtls_store_serialize(ts, kinds[i].fmt, in->store_pass, NULL, &tb,
			&tl, err) != 0 ||
		    mtls__enroll_stage(fs, in->dir, in->name, kinds[i].ext, kb, kl,
			MTLS_MODE_SECRET, err) != 0 ||
		    mtls__enroll_stage(fs, in->dir, "truststore", kinds[i].ext, tb, tl,
			MTLS_MODE_PUBLIC, err) != 0) {
			goto out;
		}
		mtls_store_buf_free(kb, kl);
		mtls_store_buf_free(tb, tl);
		kb = tb = NULL;
		mtls_store_free(ks);
		mtls_store_free(ts);
		ks = ts = NULL;
	}
	rc = 0;
out:
	mtls_store_buf_free(kb, kl);
	mtls_store_buf_free(tb, tl);
	mtls_store_free(ks);
	mtls_store_free(ts);
	return rc;
}

static int
stage_bundle(const struct enroll_install *in, STACK_OF(X509) *chain,
    struct mtls_fileset *fs, struct mtls_err *err)
{
	struct mtls_bundle_opts bo;
	struct mtls_bundle_id id;
	char *out;
	int rc;

	memset(&bo, 0, sizeof(bo));
	if (mtls_bundle_target_parse(in->bundle, &bo.target, err) != 0) {
		return -1;
	}
	out = mtls__path_of(in->dir, "bundle-", in->bundle);
	if (out == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (mtls_mkdir_p(out, 0755, err) != 0) {
		free(out);
		return -1;
	}
	bo.out_dir = out;
	bo.pass = in->store_pass;
	id.name = (char *)in->name;
	id.key = in->key;
	id.chain = chain;
	rc = mtls_bundle_stage(&bo, &id, NULL, in->ca, fs, err);
	free(out);
	return rc;
}

/* During a CA rollover cacerts carries the new root signed by the old
 * one (RFC 4210 4.4 NewWithOld). A chain that ends with the new
 * self-signed root ends with that cross certificate instead, as the CA's
 * own chain files do: a peer that still trusts only the old root then
 * verifies this node, and the self-signed root (never sent) is no loss
 * to one that trusts the new root. */
static int
cross_for_top(STACK_OF(X509) *chain, STACK_OF(X509) *untrusted)
{
	int n = sk_X509_num(chain), i;
	X509 *top = n >= 2 ? sk_X509_value(chain, n - 1) : NULL;

	if (top == NULL || X509_check_issued(top, top) != X509_V_OK) {
		ERR_clear_error();
		return 0;
	}
	for (i = 0; i < sk_X509_num(untrusted); i++) {
		X509 *c = sk_X509_value(untrusted, i);

		if (X509_NAME_cmp(X509_get_subject_name(c),
			X509_get_subject_name(top)) == 0 &&
		    X509_NAME_cmp(X509_get_issuer_name(c),
			X509_get_subject_name(top)) != 0 &&
		    EVP_PKEY_eq(X509_get0_pubkey(c), X509_get0_pubkey(top)) == 1) {
			if (X509_up_ref(c) != 1) {
				return -1;
			}
			X509_free(sk_X509_pop(chain));
			if (sk_X509_push(chain, c) <= 0) {
				X509_free(c);
				return -1;
			}
			break;
		}
	}
	ERR_clear_error();
	return 0;
}

/* The new certificate's path to the anchor (leaf, intermediates from
 * cacerts, anchor), exactly as OpenSSL builds it: what peers are sent. */
static STACK_OF(X509) *
install_chain(const struct enroll_install *in, struct mtls_err *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;

	if (st == NULL || xs == NULL || X509_STORE_add_cert(st, in->ca) != 1 ||
	    X509_STORE_CTX_init(xs, st, in->cert, in->untrusted) != 1 ||
	    X509_verify_cert(xs) != 1 ||
	    (chain = X509_STORE_CTX_get1_chain(xs)) == NULL) {
		mtls_err_set(err, MTLS_E_VERIFY, "the new certificate does not "
		    "chain to the pinned CA: %s", xs != NULL ?
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)) :
		    "out of memory");
	}
	ERR_clear_error();
	X509_STORE_CTX_free(xs);
	X509_STORE_free(st);
	if (chain != NULL && cross_for_top(chain, in->untrusted) != 0) {
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	return chain;
}

/* Stages every file of the identity into FS: PEM always (the renewal
 * agent reads it), then stores, bundle, CRL. */
int
mtls__enroll_stage_all(const struct enroll_install *in, struct mtls_fileset *fs, struct mtls_err *err)
{
	char *key_pem = NULL, *crt = NULL, *chain_pem = NULL, *ca_pem = NULL;
	size_t key_len = 0, crt_len = 0, chain_len = 0, ca_len = 0;
	STACK_OF(X509) *chain = install_chain(in, err);
	int i, rc = -1;

	if (chain == NULL) {
		goto out;
	}
	if (mtls_key_to_pem(in->key, NULL, &key_pem, &key_len, err) != 0 ||
	    mtls_cert_append_pem(in->cert, &crt, &crt_len, err) != 0 ||
	    mtls_cert_append_pem(in->ca, &ca_pem, &ca_len, err) != 0 ||
	    (in->ca_next != NULL &&
		mtls_cert_append_pem(in->ca_next, &ca_pem, &ca_len, err) != 0)) {
		goto out;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (mtls_cert_append_pem(sk_X509_value(chain, i), &chain_pem,
			&chain_len, err) != 0) {
			goto out;
		}
	}
	if (mtls__enroll_stage(fs, in->dir, in->name, ".key", key_pem, key_len, MTLS_MODE_SECRET, err) != 0 ||
	    mtls__enroll_stage(fs, in->dir, in->name, ".crt", crt, crt_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls__enroll_stage(fs, in->dir, in->name, ".chain.pem", chain_pem, chain_len,
		MTLS_MODE_PUBLIC, err) != 0 ||
	    mtls__enroll_stage(fs, in->dir, "ca", ".pem", ca_pem, ca_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    (in->crl_pem != NULL && mtls__enroll_stage(fs, in->dir, "crl", ".pem", in->crl_pem,
		in->crl_len, MTLS_MODE_PUBLIC, err) != 0) ||
	    stage_stores(in, chain, fs, err) != 0 ||
	    (in->bundle != NULL && stage_bundle(in, chain, fs, err) != 0)) {
		goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	mtls_secret_free(key_pem, key_len);
	OPENSSL_free(crt);
	OPENSSL_free(chain_pem);
	OPENSSL_free(ca_pem);
	return rc;
}

/* The CA's current CRL (PEM), best effort: a node without it still has
 * its identity; the agent fetches it again next time. */
char *
mtls__enroll_fetch_crl(const char *url, const char *ca_pem, long timeout, size_t *len)
{
	struct est_call c;
	struct est_answer h;
	struct mtls_err ignore;

	memset(&c, 0, sizeof(c));
	c.url = url;
	c.op = "/crl.pem";
	c.ca_pem = ca_pem;
	c.timeout_ms = timeout;
	if (mtls__est_client_http(&c, &h, &ignore) != 0) {
		return NULL;
	}
	if (h.status != 200 || h.body == NULL ||
	    strstr(h.body, "-----BEGIN X509 CRL-----") == NULL) {
		free(h.body);
		return NULL;
	}
	*len = h.len;
	return h.body;
}