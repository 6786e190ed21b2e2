/* see mtls/ca.h: opening a CA directory (its files, issuers, rollover,
 * reloading); creating one is ca_init.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "ca/ca_internal.h"
#include "base/internal.h"

#define CA_CERT MTLS_CA_CERT
#define CA_KEY MTLS_CA_KEY
#define CA_CONF MTLS_CA_CONF
#define CA_INV MTLS_CA_INV

const EVP_MD *
mtls__sign_md(const EVP_PKEY *key)
{
	int bits = EVP_PKEY_get_bits(key);

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	case EVP_PKEY_EC:
		/* Match the digest to the curve's strength (RFC 5480 4). */
		return bits > 384 ? EVP_sha512() : bits > 256 ? EVP_sha384()
							      : EVP_sha256();
	default:
		return EVP_sha256();
	}
}

int
mtls__random_serial(ASN1_INTEGER *serial, struct mtls_err *err)
{
	unsigned char buf[16];

	if (RAND_bytes(buf, sizeof(buf)) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot get random bytes for a serial");
	}
	buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40);
	/* Big-endian magnitude; the type stays V_ASN1_INTEGER. */
	if (ASN1_STRING_set(serial, buf, sizeof(buf)) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set serial");
	}
	return 0;
}

static int
ca_load_conf(struct mtls_ca *ca, struct mtls_err *err)
{
	char *p = mtls__path_of(ca->dir, CA_CONF, "");
	json_error_t je;
	json_t *j;
	const char *s;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	j = json_load_file(p, 0, &je);
	if (j == NULL) {
		mtls_err_set(err, MTLS_E_FORMAT, "cannot read %s: %s (line %d)",
		    p, je.text, je.line);
		free(p);
		return -1;
	}
	free(p);
	s = json_string_value(json_object_get(j, "crl_url"));
	ca->crl_url = mtls__strdup(s);
	s = json_string_value(json_object_get(j, "previous_crl_url"));
	ca->prev_crl_url = mtls__strdup(s);
	s = json_string_value(json_object_get(j, "ocsp_url"));
	ca->ocsp_url = mtls__strdup(s);
	s = json_string_value(json_object_get(j, "key_uri"));
	ca->key_uri = mtls__strdup(s);
	s = json_string_value(json_object_get(j, "db"));
	ca->db_url = mtls__strdup(s);
	s = json_string_value(json_object_get(j, "db_pass"));
	ca->db_pass = mtls__strdup(s);
	json_decref(j);
	return 0;
}

static int
ca_prepare_exts(struct mtls_ca *ca, struct mtls_err *err);

static int
ca_half_made(const char *dir)
{
	char *k = mtls__path_of(dir, CA_KEY, ""), *c = mtls__path_of(dir, CA_CONF, "");
	int half = (k != NULL && access(k, F_OK) == 0) ||
	    (c != NULL && access(c, F_OK) == 0);

	free(k);
	free(c);
	return half;
}

/* An intermediate started with mtls_ca_request and not yet installed. */
int
mtls__ca_pending(const char *dir)
{
	char *p = mtls__path_of(dir, MTLS_CA_CSR, "");
	int pending = p != NULL && access(p, F_OK) == 0;

	free(p);
	return pending;
}

/* ca.chain.pem (an intermediate's) holds the CA's certificate and its
 * issuers up to the root; a root CA has none. */
static int
ca_load_issuers(struct mtls_ca *ca, struct mtls_err *err)
{
	char *p = mtls__path_of(ca->dir, MTLS_CA_CHAIN, "");
	STACK_OF(X509) *chain = NULL;
	int i, rc = -1;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	ca->issuers = sk_X509_new_null();
	if (ca->issuers == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (access(p, F_OK) == 0) {
		if (mtls_load_certs(p, &chain, err) != 0) {
			goto out;
		}
		if (sk_X509_num(chain) < 2 ||
		    X509_cmp(sk_X509_value(chain, 0), ca->cert) != 0) {
			mtls_err_set(err, MTLS_E_FORMAT, "%s must start with the "
			    "CA's certificate and end with its root", p);
			goto out;
		}
		for (i = 1; i < sk_X509_num(chain); i++) {
			X509 *x = sk_X509_value(chain, i);

			if (X509_up_ref(x) != 1 || sk_X509_push(ca->issuers, x) <= 0) {
				X509_free(x);
				mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
				goto out;
			}
		}
	}
	/* During a rollover the chain carries the new root signed by the
	 * old one instead of the new self-signed root: a peer that trusts
	 * only the old root verifies through it, one that trusts the new root
	 * has it already, and each certificate still certifies the one
	 * before it (RFC 5246 7.4.2). */
	if (mtls_cert_append_pem(ca->cross != NULL ? ca->cross : ca->cert,
		&ca->chain_pem, &ca->chain_pem_len, err) != 0) {
		goto out;
	}
	for (i = 0; i < sk_X509_num(ca->issuers); i++) {
		if (mtls_cert_append_pem(sk_X509_value(ca->issuers, i),
			&ca->chain_pem, &ca->chain_pem_len, err) != 0) {
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	free(p);
	return rc;
}

/* DIR/rollover during an overlap: the old root and the new issuer's
 * certificate signed by the old key. */
static int
ca_load_rollover(struct mtls_ca *ca, struct mtls_err *err)
{
	char *p = mtls__path_of(ca->dir, MTLS_CA_ROLL_OLD, "");
	char *q = mtls__path_of(ca->dir, MTLS_CA_ROLL_NEWOLD, "");
	int rc = -1;

	if (p == NULL || q == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (access(p, F_OK) != 0) {
		rc = 0;
		goto out;
	}
	ca->prev = mtls_load_cert(p, err);
	ca->cross = ca->prev != NULL ? mtls_load_cert(q, err) : NULL;
	if (ca->cross != NULL && (X509_check_issued(ca->prev, ca->cross) != X509_V_OK ||
	    X509_NAME_cmp(X509_get_subject_name(ca->cross),
		X509_get_subject_name(ca->cert)) != 0 ||
	    EVP_PKEY_eq(X509_get0_pubkey(ca->cross), X509_get0_pubkey(ca->cert)) != 1)) {
		mtls_err_set(err, MTLS_E_FORMAT, "%s is not the CA's certificate "
		    "signed by %s", q, p);
		goto out;
	}
	rc = ca->cross != NULL ? 0 : -1;
out:
	ERR_clear_error();
	free(p);
	free(q);
	return rc;
}

/* What describes the issuer, from the files of the CA directory: its
 * certificate, settings, extensions, the rollover's certificates and the
 * chain. Not the inventory, not the key. */
static int
ca_load_files(struct mtls_ca *ca, struct mtls_err *err)
{
	char *p = mtls__path_of(ca->dir, CA_CERT, "");

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	ca->cert = mtls_load_cert(p, err);
	free(p);
	if (ca->cert == NULL || ca_load_conf(ca, err) != 0 ||
	    ca_prepare_exts(ca, err) != 0 || ca_load_rollover(ca, err) != 0 ||
	    ca_load_issuers(ca, err) != 0) {
		return -1;
	}
	return 0;
}

struct mtls_ca *
mtls_ca_open(const char *dir, struct mtls_err *err)
{
	struct mtls_ca *ca = calloc(1, sizeof(*ca));
	char *p = NULL;

	if (ca == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	ca->dir = strdup(dir);
	p = mtls__path_of(dir, CA_CERT, "");
	if (ca->dir == NULL || p == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (access(p, F_OK) != 0 && mtls__ca_pending(dir)) {
		mtls_err_set(err, MTLS_E_NOTFOUND,
		    "the intermediate CA in %s waits for its certificate: have "
		    "the parent sign %s/" MTLS_CA_CSR " ('mtls ca sign-intermediate')"
		    " and install it ('mtls ca install --dir %s CHAIN')",
		    dir, dir, dir);
		goto fail;
	}
	if (access(p, F_OK) != 0 && ca_half_made(dir)) {
		mtls_err_set(err, MTLS_E_NOTFOUND,
		    "%s holds an interrupted 'mtls ca init' (no ca.crt yet): "
		    "run 'mtls ca init --dir %s' again to finish it", dir, dir);
		goto fail;
	}
	if (access(p, F_OK) != 0) {
		mtls_err_set(err, MTLS_E_NOTFOUND,
		    "no CA in %s: create one with 'mtls ca init --dir %s', or "
		    "point --ca-dir or $MTLS_CA_DIR at it",
		    dir, dir);
		goto fail;
	}
	free(p);
	p = mtls__path_of(dir, CA_INV, "");
	ca->inv_path = mtls__strdup(p);
	if (p == NULL || ca->inv_path == NULL || ca_load_files(ca, err) != 0) {
		goto fail;
	}
	ca->inv = mtls__inv_open(mtls__ca_db_where(ca), ca->db_pass, 0, err);
	if (ca->inv == NULL) {
		goto fail;
	}
	free(p);
	return ca;
fail:
	free(p);
	mtls_ca_free(ca);
	return NULL;
}

int
mtls_ca_unlock(struct mtls_ca *ca, const char *pass_spec, struct mtls_err *err)
{
	char *p;

	if (ca->key != NULL) {
		return 0;
	}
	p = ca->key_uri != NULL ? mtls__strdup(ca->key_uri) : mtls__path_of(ca->dir, CA_KEY, "");
	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	ca->key = ca->key_uri != NULL
	    ? mtls__p11_load_key(ca->key_uri, pass_spec, &ca->p11, err)
	    : mtls_load_key(p, pass_spec, err);
	if (ca->key == NULL && pass_spec == NULL && err != NULL &&
	    err->code == MTLS_E_PASSWORD) {
		/* The commands that unlock the CA take its password as
		 * --ca-pass (--pass is the password of what they write). */
		mtls_err_set(err, MTLS_E_PASSWORD,
		    "the CA key %s is encrypted: give --ca-pass with pass:, "
		    "env:, file:, fd: or stdin", p);
	}
	if (ca->key != NULL && !mtls_key_matches_cert(ca->key, ca->cert)) {
		EVP_PKEY_free(ca->key);
		ca->key = NULL;
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s does not belong to the CA certificate in %s", p,
		    ca->dir);
	}
	free(p);
	if (ca->key != NULL) {
		mtls__ca_unlock_prev(ca, pass_spec);
	}
	return ca->key != NULL ? 0 : -1;
}

void
mtls_ca_free(struct mtls_ca *ca)
{
	if (ca == NULL) {
		return;
	}
	mtls_ca_release(ca);
	free(ca->recovery);
	mtls__inv_close(ca->inv);
	X509_free(ca->cert);
	X509_free(ca->prev);
	X509_free(ca->cross);
	EVP_PKEY_free(ca->prev_key);
	mtls__p11_close(ca->prev_p11);
	sk_X509_pop_free(ca->issuers, X509_free);
	EVP_PKEY_free(ca->key);
	mtls__p11_close(ca->p11); /* after the key that needs it */
	free(ca->key_uri);
	free(ca->db_url);
	free(ca->db_pass);
	free(ca->inv_path);
	X509_EXTENSION_free(ca->aki);
	X509_EXTENSION_free(ca->crl_dp);
	X509_EXTENSION_free(ca->aia);
	OPENSSL_free(ca->chain_pem);
	free(ca->crl_url);
	free(ca->prev_crl_url);
	free(ca->ocsp_url);
	free(ca->dir);
	free(ca);
}

X509 *
mtls_ca_cert(const struct mtls_ca *ca)
{
	return ca->cert;
}

X509 *
mtls_ca_root(const struct mtls_ca *ca)
{
	int n = sk_X509_num(ca->issuers);

	return n > 0 ? sk_X509_value(ca->issuers, n - 1) : ca->cert;
}

X509 *
mtls_ca_previous(const struct mtls_ca *ca)
{
	return ca->prev;
}

X509 *
mtls_ca_cross(const struct mtls_ca *ca)
{
	return ca->cross;
}

STACK_OF(X509) *
mtls_ca_issuers(const struct mtls_ca *ca)
{
	return ca->issuers;
}

const char *
mtls_ca_dir(const struct mtls_ca *ca)
{
	return ca->dir;
}

const char *
mtls_ca_crl_url(const struct mtls_ca *ca)
{
	return ca->crl_url;
}

const char *
mtls_ca_previous_crl_url(const struct mtls_ca *ca)
{
	return ca->prev_crl_url;
}

const char *
mtls_ca_ocsp_url(const struct mtls_ca *ca)
{
	return ca->ocsp_url;
}

int
mtls_ca_list(struct mtls_ca *ca, const char *name, mtls_inv_cb *cb, void *arg,
    struct mtls_err *err)
{
	return mtls__inv_list(ca->inv, name, cb, arg, err);
}

/* AKI, CRL distribution point and AIA are the same in every certificate
 * this CA signs: encode them once. */
static int
ca_prepare_exts(struct mtls_ca *ca, struct mtls_err *err)
{
	X509V3_CTX ctx;
	char buf[2100];

	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, NULL, 0);
	ca->aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	if (ca->aki == NULL) {
		return mtls_err_ssl(err, MTLS_E_FORMAT,
		    "the CA certificate in %s has no subject key identifier",
		    ca->dir);
	}
	if (ca->crl_url != NULL) {
		snprintf(buf, sizeof(buf), "URI:%s", ca->crl_url);
		ca->crl_dp = X509V3_EXT_conf_nid(NULL, &ctx,
		    NID_crl_distribution_points, buf);
	}
	if (ca->ocsp_url != NULL) {
		snprintf(buf, sizeof(buf), "OCSP;URI:%s", ca->ocsp_url);
		ca->aia = X509V3_EXT_conf_nid(NULL, &ctx, NID_info_access, buf);
	}
	if ((ca->crl_url != NULL && ca->crl_dp == NULL) ||
	    (ca->ocsp_url != NULL && ca->aia == NULL)) {
		return mtls_err_ssl(err, MTLS_E_FORMAT,
		    "bad CRL or OCSP URL in %s/" CA_CONF, ca->dir);
	}
	return 0;
}

const char *
mtls__ca_db_where(const struct mtls_ca *ca)
{
	return ca->db_url != NULL ? ca->db_url : ca->inv_path;
}

const char *
mtls__ca_db_pass(const struct mtls_ca *ca)
{
	return ca->db_pass;
}

#define SWAP(f)                                                                \
	do {                                                                   \
		__typeof__(a->f) t_ = a->f;                                    \
		a->f = b->f;                                                   \
		b->f = t_;                                                     \
	} while (0)

/* Exchanges what describes the issuer; the inventory, the lock and the
 * directory stay where they are. */
static void
ca_swap_issuer(struct mtls_ca *a, struct mtls_ca *b)
{
	char why[MTLS_ERR_MSG_MAX];

	SWAP(cert);
	SWAP(key);
	SWAP(key_uri);
	SWAP(p11);
	SWAP(crl_url);
	SWAP(prev_crl_url);
	SWAP(ocsp_url);
	SWAP(aki);
	SWAP(crl_dp);
	SWAP(aia);
	SWAP(issuers);
	SWAP(chain_pem);
	SWAP(chain_pem_len);
	SWAP(prev);
	SWAP(cross);
	SWAP(prev_key);
	SWAP(prev_p11);
	memcpy(why, a->prev_key_why, sizeof(why));
	memcpy(a->prev_key_why, b->prev_key_why, sizeof(why));
	memcpy(b->prev_key_why, why, sizeof(why));
}
#undef SWAP

struct mtls_ca *
mtls__ca_reload(struct mtls_ca *ca, const char *pass_spec, struct mtls_err *err)
{
	struct mtls_ca *n = calloc(1, sizeof(*n));

	if (n == NULL || (n->dir = strdup(ca->dir)) == NULL) {
		free(n);
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	/* Everything loaded and checked (the key matches the certificate)
	 * before anything in CA changes: a half-copied directory is refused
	 * and the CA keeps what it had. */
	if (ca_load_files(n, err) != 0 || mtls_ca_unlock(n, pass_spec, err) != 0) {
		mtls_ca_free(n);
		return NULL;
	}
	ca_swap_issuer(ca, n);
	return n;
}

void
mtls__ca_reload_undo(struct mtls_ca *ca, struct mtls_ca *old)
{
	if (old != NULL) {
		ca_swap_issuer(ca, old);
		mtls_ca_free(old);
	}
}

unsigned long long
mtls__ca_files_stamp(const struct mtls_ca *ca)
{
	static const char *const files[] = {CA_CERT, CA_KEY, CA_CONF,
	    MTLS_CA_CHAIN, MTLS_CA_ROLL_OLD, MTLS_CA_ROLL_OLDKEY,
	    MTLS_CA_ROLL_NEWOLD, MTLS_CA_ROLL_STATE};
	unsigned long long h = 14695981039346656037ULL;
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = mtls__path_of(ca->dir, files[i], "");
		unsigned long long v[4] = {0, 0, 0, 0};
		size_t k;

		/* Every write is a rename: a new inode, whatever the clock. */
		if (p != NULL && stat(p, &st) == 0) {
			v[0] = (unsigned long long)st.st_ino;
			v[1] = (unsigned long long)st.st_mtim.tv_sec;
			v[2] = (unsigned long long)st.st_mtim.tv_nsec;
			v[3] = (unsigned long long)st.st_size + 1;
		}
		free(p);
		for (k = 0; k < 4; k++) {
			h = (h ^ v[k]) * 1099511628211ULL;
		}
	}
	return h;
}
