/* Layer online: the node side of EST - first enrollment with a token and
 * a pinned CA, renewal with the current certificate, and installing every
 * format the node's software reads. See mtls/online.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mtls/bundle.h"
#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/online.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "ca/ca_internal.h"
#include "online/est_int.h"

#define MAX_ANSWER (256 * 1024)

struct http {
	long status;
	char *body;
	size_t len;
	char retry_after[16];
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct http *h = arg;
	size_t add = sz * n;
	char *nb;

	if (h->len + add > MAX_ANSWER) {
		return 0;
	}
	nb = realloc(h->body, h->len + add + 1);
	if (nb == NULL) {
		return 0;
	}
	memcpy(nb + h->len, p, add);
	h->body = nb;
	h->len += add;
	h->body[h->len] = '\0';
	return add;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct http *h = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		snprintf(h->retry_after, sizeof(h->retry_after), "%.*s",
		    (int)(len - 12 < 15 ? len - 12 : 15), p + 12);
	}
	return len;
}

/* Where the request goes and how it is authenticated. */
struct est_call {
	const char *url;       /* base URL */
	const char *op;        /* "cacerts", ... */
	const char *ca_pem;    /* pinned trust anchors (PEM), NULL: none yet */
	const char *user, *pass; /* HTTP Basic */
	const char *cert_pem, *key_pem; /* client certificate */
	const char *body;      /* POST body (base64 CSR) or NULL: GET */
	long timeout_ms;
};

static int
est_http(const struct est_call *c, struct http *h, struct mtls_err *err)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[2048], cerr[CURL_ERROR_SIZE] = "";
	struct curl_blob ca, crt, key;
	CURLcode rc;
	size_t ul = strlen(c->url);

	memset(h, 0, sizeof(*h));
	if (cu == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "cannot start libcurl");
	}
	snprintf(url, sizeof(url), "%.*s%s%s", (int)(ul > 0 && c->url[ul - 1] == '/'
	    ? ul - 1 : ul), c->url, c->op[0] == '/' ? "" : "/.well-known/est/", c->op);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, c->timeout_ms > 0 ? c->timeout_ms : 10000L);
	curl_easy_setopt(cu, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	if (c->ca_pem != NULL) {
		ca.data = (void *)c->ca_pem;
		ca.len = strlen(c->ca_pem);
		ca.flags = CURL_BLOB_COPY;
		curl_easy_setopt(cu, CURLOPT_CAINFO_BLOB, &ca);
		curl_easy_setopt(cu, CURLOPT_CAPATH, NULL);
	} else {
		/* Bootstrap (RFC 7030 4.1.1): nothing is trusted yet; the
		 * answer is accepted only if it holds the pinned CA. */
		curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->user != NULL) {
		curl_easy_setopt(cu, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(cu, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(cu, CURLOPT_PASSWORD, c->pass);
	}
	if (c->cert_pem != NULL) {
		crt.data = (void *)c->cert_pem;
		crt.len = strlen(c->cert_pem);
		crt.flags = CURL_BLOB_COPY;
		key.data = (void *)c->key_pem;
		key.len = strlen(c->key_pem);
		key.flags = CURL_BLOB_COPY;
		curl_easy_setopt(cu, CURLOPT_SSLCERT_BLOB, &crt);
		curl_easy_setopt(cu, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(cu, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(cu, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->body != NULL) {
		hdrs = curl_slist_append(NULL, "Content-Type: application/pkcs10");
		curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	}
	rc = curl_easy_perform(cu);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &h->status);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(cu);
	if (rc != CURLE_OK) {
		free(h->body);
		h->body = NULL;
		return mtls_err_set(err, MTLS_E_PEER, "cannot reach %s: %s", url,
		    cerr[0] ? cerr : curl_easy_strerror(rc));
	}
	return 0;
}

/* The certificates of a base64 PKCS#7 certs-only answer. */
static STACK_OF(X509) *
p7_certs(const struct http *h, struct mtls_err *err)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t n = 0;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *out = NULL, *in;
	int i;

	der = h->body != NULL ? mtls__est_b64_decode((unsigned char *)h->body, h->len, &n)
			      : NULL;
	p = der;
	p7 = der != NULL ? d2i_PKCS7(NULL, &p, (long)n) : NULL;
	free(der);
	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    (in = p7->d.sign->cert) == NULL || sk_X509_num(in) == 0) {
		ERR_clear_error();
		mtls_err_set(err, MTLS_E_PEER, "the CA's answer is not a base64 "
		    "PKCS#7 with certificates");
		goto out;
	}
	out = sk_X509_new_null();
	for (i = 0; out != NULL && i < sk_X509_num(in); i++) {
		X509 *x = sk_X509_value(in, i);

		if (X509_up_ref(x) != 1 || sk_X509_push(out, x) <= 0) {
			sk_X509_pop_free(out, X509_free);
			out = NULL;
		}
	}
	if (out == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
out:
	PKCS7_free(p7);
	return out;
}

/* "AB:CD.." or "abcd.." into 64 upper-case hex digits. */
static int
norm_fp(const char *in, char out[65], struct mtls_err *err)
{
	size_t n = 0;

	for (; in != NULL && *in != '\0'; in++) {
		if (*in == ':' || *in == ' ') {
			continue;
		}
		if (!isxdigit((unsigned char)*in) || n == 64) {
			n = 65;
			break;
		}
		out[n++] = (char)toupper((unsigned char)*in);
	}
	out[n < 65 ? n : 64] = '\0';
	if (n != 64) {
		return mtls_err_set(err, MTLS_E_USAGE, "--ca-fingerprint wants the "
		    "CA certificate's SHA-256 (64 hex digits, colons allowed), as "
		    "'mtls ca show' prints it");
	}
	return 0;
}

static void
cert_fp(X509 *x, char out[65])
{
	char colon[200];
	size_t i, n = 0;

	mtls_cert_fingerprint(x, EVP_sha256(), colon, sizeof(colon));
	for (i = 0; colon[i] != '\0' && n < 64; i++) {
		if (colon[i] != ':') {
			out[n++] = colon[i];
		}
	}
	out[n] = '\0';
}

/* Fetches cacerts (over a verified connection when CA_PEM is known) and
 * keeps the certificate whose SHA-256 is PIN: it alone is trusted. */
static X509 *
pinned_ca(const char *url, const char *pin_in, const char *ca_pem,
    long timeout, struct mtls_err *err)
{
	struct est_call c;
	struct http h;
	STACK_OF(X509) *certs = NULL;
	char pin[65], fp[65], seen[600] = "";
	X509 *ca = NULL;
	int i;

	if (norm_fp(pin_in, pin, err) != 0) {
		return NULL;
	}
	memset(&c, 0, sizeof(c));
	c.url = url;
	c.op = "cacerts";
	c.ca_pem = ca_pem;
	c.timeout_ms = timeout;
	if (est_http(&c, &h, err) != 0) {
		return NULL;
	}
	if (h.status != 200) {
		mtls_err_set(err, MTLS_E_PEER, "%s answered %ld to cacerts: %.200s",
		    url, h.status, h.body ? h.body : "");
		goto out;
	}
	certs = p7_certs(&h, err);
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
		cert_fp(sk_X509_value(certs, i), fp);
		if (strcmp(fp, pin) == 0) {
			ca = sk_X509_value(certs, i);
			X509_up_ref(ca);
			break;
		}
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%.64s",
		    i ? ", " : "", fp);
	}
	if (certs != NULL && ca == NULL) {
		mtls_err_set(err, MTLS_E_VERIFY, "the CA at %s is not the one you "
		    "pinned: it sent %s, not %s; check --ca-fingerprint with the "
		    "CA's operator ('mtls ca show')", url, seen, pin);
	}
out:
	sk_X509_pop_free(certs, X509_free);
	free(h.body);
	return ca;
}

static char *
pem_of(X509 *x)
{
	char *p = NULL;
	size_t n = 0;

	return mtls_cert_append_pem(x, &p, &n, NULL) == 0 ? p : NULL;
}

/* Base64 DER CSR for KEY: CN=NAME, and SANS when given (renewal). */
static char *
make_csr(EVP_PKEY *key, const X509_NAME *subj, const GENERAL_NAMES *sans,
    struct mtls_err *err)
{
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *der = NULL;
	char *b64 = NULL;
	size_t blen = 0;
	int n;

	if (r == NULL || X509_REQ_set_version(r, 0) != 1 ||
	    X509_REQ_set_subject_name(r, subj) != 1 ||
	    X509_REQ_set_pubkey(r, key) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot build the CSR");
		goto out;
	}
	if (sans != NULL && sk_GENERAL_NAME_num(sans) > 0) {
		exts = sk_X509_EXTENSION_new_null();
		if (exts == NULL || X509V3_add1_i2d(&exts, NID_subject_alt_name,
			(void *)sans, 0, X509V3_ADD_DEFAULT) != 1 ||
		    X509_REQ_add_extensions(r, exts) != 1) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot add SANs to the CSR");
			goto out;
		}
	}
	if (X509_REQ_sign(r, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519
		? NULL : EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(r, &der)) <= 0) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot sign the CSR");
		goto out;
	}
	b64 = mtls__est_b64_encode(der, (size_t)n, &blen);
	if (b64 == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	OPENSSL_free(der);
	X509_REQ_free(r);
	return b64;
}

/* Posts CALL (simpleenroll or simplereenroll), honouring Retry-After of
 * a 202 or 503 a few times; returns the new certificate. */
static X509 *
post_csr(struct est_call *call, EVP_PKEY *key, X509 *ca, struct mtls_err *err)
{
	struct http h;
	STACK_OF(X509) *certs = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *xs = NULL;
	X509 *x = NULL;
	int tries;
	long wait;

	memset(&h, 0, sizeof(h));
	for (tries = 0; tries < 4; tries++) {
		free(h.body);
		if (est_http(call, &h, err) != 0) {
			return NULL;
		}
		if (h.status != 202 && h.status != 503) {
			break;
		}
		wait = strtol(h.retry_after, NULL, 10);
		wait = wait > 0 && wait < 60 ? wait : 5;
		fprintf(stderr, "mtls: the CA answered %ld: retrying in %ld s\n",
		    h.status, wait);
		sleep((unsigned)wait);
	}
	if (h.status != 200) {
		size_t l = h.len;

		while (l > 0 && (h.body[l - 1] == '\n' || h.body[l - 1] == '\r')) {
			l--;
		}
		mtls_err_set(err, h.status == 401 || h.status == 403 ? MTLS_E_POLICY
		    : MTLS_E_PEER, "the CA refused %s (HTTP %ld): %.*s", call->op,
		    h.status, (int)(l < 600 ? l : 600), h.body ? h.body : "");
		goto out;
	}
	certs = p7_certs(&h, err);
	if (certs == NULL) {
		goto out;
	}
	x = sk_X509_value(certs, 0);
	X509_up_ref(x);
	/* What came back must be for our key and from the pinned CA. */
	st = X509_STORE_new();
	xs = X509_STORE_CTX_new();
	if (!mtls_key_matches_cert(key, x)) {
		mtls_err_set(err, MTLS_E_PEER, "the CA returned a certificate for "
		    "another key");
	} else if (st == NULL || xs == NULL || X509_STORE_add_cert(st, ca) != 1 ||
	    X509_STORE_CTX_init(xs, st, x, NULL) != 1 ||
	    X509_verify_cert(xs) != 1) {
		mtls_err_set(err, MTLS_E_VERIFY, "the certificate the CA returned "
		    "does not verify against the pinned CA: %s",
		    xs ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs))
		       : "out of memory");
	} else {
		goto out;
	}
	X509_free(x);
	x = NULL;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(xs);
	X509_STORE_free(st);
	sk_X509_pop_free(certs, X509_free);
	free(h.body);
	return x;
}

/* ---- installing ---- */

struct install {
	const char *dir, *name;
	EVP_PKEY *key;
	X509 *cert, *ca;
	unsigned formats;
	const char *bundle;
	const char *store_pass; /* resolved */
	const char *crl_pem;    /* or NULL */
	size_t crl_len;
};

static char *
path_in(const char *dir, const char *name, const char *ext)
{
	size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
	char *p = malloc(n);

	if (p != NULL) {
		snprintf(p, n, "%s/%s%s", dir, name, ext);
	}
	return p;
}

static int
stage(struct mtls_fileset *fs, const char *dir, const char *name,
    const char *ext, const void *d, size_t n, mode_t mode, struct mtls_err *err)
{
	char *p = path_in(dir, name, ext);
	int rc;

	if (p == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	rc = mtls_fileset_add(fs, p, d, n, mode, err);
	free(p);
	return rc;
}

static int
stage_stores(const struct install *in, STACK_OF(X509) *chain,
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
		    stage(fs, in->dir, in->name, kinds[i].ext, kb, kl,
			MTLS_MODE_SECRET, err) != 0 ||
		    stage(fs, in->dir, "truststore", kinds[i].ext, tb, tl,
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
stage_bundle(const struct install *in, STACK_OF(X509) *chain,
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
	out = path_in(in->dir, "bundle-", in->bundle);
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

/* Stages every file of the identity into FS: PEM always (the renewal
 * agent reads it), then stores, bundle, CRL. */
static int
stage_all(const struct install *in, struct mtls_fileset *fs, struct mtls_err *err)
{
	char *key_pem = NULL, *crt = NULL, *chain_pem = NULL, *ca_pem = NULL;
	size_t key_len = 0, crt_len = 0, chain_len = 0, ca_len = 0;
	STACK_OF(X509) *chain = sk_X509_new_null();
	int rc = -1;

	if (chain == NULL || sk_X509_push(chain, in->cert) <= 0 ||
	    sk_X509_push(chain, in->ca) <= 0) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls_key_to_pem(in->key, NULL, &key_pem, &key_len, err) != 0 ||
	    mtls_cert_append_pem(in->cert, &crt, &crt_len, err) != 0 ||
	    mtls_cert_append_pem(in->cert, &chain_pem, &chain_len, err) != 0 ||
	    mtls_cert_append_pem(in->ca, &chain_pem, &chain_len, err) != 0 ||
	    mtls_cert_append_pem(in->ca, &ca_pem, &ca_len, err) != 0) {
		goto out;
	}
	if (stage(fs, in->dir, in->name, ".key", key_pem, key_len, MTLS_MODE_SECRET, err) != 0 ||
	    stage(fs, in->dir, in->name, ".crt", crt, crt_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    stage(fs, in->dir, in->name, ".chain.pem", chain_pem, chain_len,
		MTLS_MODE_PUBLIC, err) != 0 ||
	    stage(fs, in->dir, "ca", ".pem", ca_pem, ca_len, MTLS_MODE_PUBLIC, err) != 0 ||
	    (in->crl_pem != NULL && stage(fs, in->dir, "crl", ".pem", in->crl_pem,
		in->crl_len, MTLS_MODE_PUBLIC, err) != 0) ||
	    stage_stores(in, chain, fs, err) != 0 ||
	    (in->bundle != NULL && stage_bundle(in, chain, fs, err) != 0)) {
		goto out;
	}
	rc = 0;
out:
	sk_X509_free(chain); /* borrowed certificates */
	mtls_secret_free(key_pem, key_len);
	OPENSSL_free(crt);
	OPENSSL_free(chain_pem);
	OPENSSL_free(ca_pem);
	return rc;
}

/* The CA's current CRL (PEM), best effort: a node without it still has
 * its identity; the agent fetches it again next time. */
static char *
fetch_crl(const char *url, const char *ca_pem, long timeout, size_t *len)
{
	struct est_call c;
	struct http h;
	struct mtls_err ignore;

	memset(&c, 0, sizeof(c));
	c.url = url;
	c.op = "/crl.pem";
	c.ca_pem = ca_pem;
	c.timeout_ms = timeout;
	if (est_http(&c, &h, &ignore) != 0) {
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

static int
write_state(const struct mtls_enroll_opts *o, struct mtls_fileset *fs,
    const char *fp, struct mtls_err *err)
{
	json_t *j = json_object(), *f = json_array();
	char *txt;
	int rc;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "url", json_string(o->url));
	json_object_set_new(j, "name", json_string(o->name));
	json_object_set_new(j, "ca_fingerprint", json_string(fp));
	if (o->formats & MTLS_ENROLL_P12) {
		json_array_append_new(f, json_string("p12"));
	}
	if (o->formats & MTLS_ENROLL_JKS) {
		json_array_append_new(f, json_string("jks"));
	}
	json_object_set_new(j, "formats", f);
	if (o->bundle != NULL) {
		json_object_set_new(j, "for", json_string(o->bundle));
	}
	if (o->store_pass != NULL) {
		json_object_set_new(j, "store_pass", json_string(o->store_pass));
	}
	if (o->exec != NULL) {
		json_object_set_new(j, "exec", json_string(o->exec));
	}
	json_object_set_new(j, "key_type", json_string(mtls_keytype_name(
	    (enum mtls_keytype)o->key_type)));
	txt = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (txt == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* 0600: it may name a password file or hold a pass: spec. */
	rc = stage(fs, o->dir, o->name, ".enroll.json", txt, strlen(txt),
	    MTLS_MODE_SECRET, err);
	free(txt);
	return rc;
}

static int
in_the_way(const struct mtls_enroll_opts *o, struct mtls_err *err)
{
	static const char *const exts[] = {".key", ".crt", ".chain.pem",
	    ".enroll.json", ".p12", ".jks"};
	size_t i;
	char *p;
	int there;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		p = path_in(o->dir, o->name, exts[i]);
		there = p != NULL && access(p, F_OK) == 0;
		if (there) {
			mtls_err_set(err, MTLS_E_EXISTS, "%s exists: this node is "
			    "enrolled already (renew with 'mtls renew-agent'), or "
			    "use --force to enroll again", p);
		}
		free(p);
		if (there) {
			return -1;
		}
	}
	return 0;
}

int
mtls_enroll(const struct mtls_enroll_opts *o, struct mtls_err *err)
{
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	X509_NAME *subj = NULL;
	char *ca_pem = NULL, *csr = NULL, *pass = NULL, *crl = NULL;
	char fp[65];
	size_t crl_len = 0;
	struct mtls_fileset *fs = NULL;
	struct est_call call;
	struct install in;
	int rc = -1;

	if (o->url == NULL || strncmp(o->url, "https://", 8) != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "the CA URL must be https://");
	}
	if (o->token == NULL || o->ca_fingerprint == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "first enrollment needs "
		    "--token and --ca-fingerprint (there is no trust on first use)");
	}
	if (mtls__ca_check_name(o->name, err) != 0 ||
	    mtls_mkdir_p(o->dir, 0755, err) != 0) {
		return -1;
	}
	/* Refuse before the token is spent if the files are in the way. */
	if (!o->force && in_the_way(o, err) != 0) {
		return -1;
	}
	if (o->store_pass != NULL && (pass = mtls_pass_get(o->store_pass, NULL, 0,
		err)) == NULL) {
		goto out;
	}
	if ((o->formats & (MTLS_ENROLL_P12 | MTLS_ENROLL_JKS)) != 0 && pass == NULL) {
		mtls_err_set(err, MTLS_E_USAGE, "--format p12/jks needs --store-pass "
		    "SPEC");
		goto out;
	}
	ca = pinned_ca(o->url, o->ca_fingerprint, NULL, o->timeout_ms, err);
	if (ca == NULL || (ca_pem = pem_of(ca)) == NULL) {
		goto out;
	}
	key = mtls_key_generate((enum mtls_keytype)o->key_type, err);
	subj = X509_NAME_new();
	if (key == NULL || subj == NULL ||
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)o->name, -1, -1, 0) != 1) {
		if (err->code == MTLS_OK) {
			mtls_err_ssl(err, MTLS_E_USAGE, "'%s' cannot be a common name",
			    o->name);
		}
		goto out;
	}
	csr = make_csr(key, subj, NULL, err);
	if (csr == NULL) {
		goto out;
	}
	memset(&call, 0, sizeof(call));
	call.url = o->url;
	call.op = "simpleenroll";
	call.ca_pem = ca_pem;
	call.user = o->name;
	call.pass = o->token;
	call.body = csr;
	call.timeout_ms = o->timeout_ms;
	cert = post_csr(&call, key, ca, err);
	if (cert == NULL) {
		goto out;
	}
	crl = fetch_crl(o->url, ca_pem, o->timeout_ms, &crl_len);
	cert_fp(ca, fp);
	memset(&in, 0, sizeof(in));
	in.dir = o->dir;
	in.name = o->name;
	in.key = key;
	in.cert = cert;
	in.ca = ca;
	in.formats = o->formats;
	in.bundle = o->bundle;
	in.store_pass = pass;
	in.crl_pem = crl;
	in.crl_len = crl_len;
	fs = mtls_fileset_new(o->force, err);
	if (fs == NULL || stage_all(&in, fs, err) != 0 ||
	    write_state(o, fs, fp, err) != 0 || mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	rc = 0;
out:
	mtls_fileset_free(fs);
	mtls_pass_free(pass);
	free(crl);
	free(csr);
	OPENSSL_free(ca_pem);
	X509_NAME_free(subj);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return rc;
}

/* ---- renewal ---- */

struct state {
	json_t *j;
	const char *url, *name, *fp, *bundle, *store_pass, *exec;
	unsigned formats;
	enum mtls_keytype kt;
	char dir[4096];
};

static int
read_state(const char *path, struct state *st, struct mtls_err *err)
{
	json_error_t je;
	json_t *f;
	size_t i;
	const char *slash;
	struct mtls_err ignore;

	memset(st, 0, sizeof(*st));
	st->j = json_load_file(path, 0, &je);
	if (st->j == NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "cannot read %s: %s",
		    path, je.text);
	}
	st->url = json_string_value(json_object_get(st->j, "url"));
	st->name = json_string_value(json_object_get(st->j, "name"));
	st->fp = json_string_value(json_object_get(st->j, "ca_fingerprint"));
	st->bundle = json_string_value(json_object_get(st->j, "for"));
	st->store_pass = json_string_value(json_object_get(st->j, "store_pass"));
	st->exec = json_string_value(json_object_get(st->j, "exec"));
	if (st->url == NULL || st->name == NULL || st->fp == NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "%s lacks url, name or "
		    "ca_fingerprint: was it written by 'mtls enroll'?", path);
	}
	st->formats = MTLS_ENROLL_PEM;
	f = json_object_get(st->j, "formats");
	for (i = 0; i < json_array_size(f); i++) {
		const char *v = json_string_value(json_array_get(f, i));

		if (v != NULL && strcmp(v, "p12") == 0) {
			st->formats |= MTLS_ENROLL_P12;
		} else if (v != NULL && strcmp(v, "jks") == 0) {
			st->formats |= MTLS_ENROLL_JKS;
		}
	}
	if (mtls_keytype_parse(json_string_value(json_object_get(st->j,
		"key_type")) ? json_string_value(json_object_get(st->j,
		"key_type")) : "ec-p256", &st->kt, &ignore) != 0) {
		st->kt = MTLS_KEY_EC_P256;
	}
	slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(st->dir, sizeof(st->dir), ".");
	} else {
		snprintf(st->dir, sizeof(st->dir), "%.*s", (int)(slash - path), path);
	}
	return 0;
}

/* When two thirds of X's lifetime have passed, less up to JITTER seconds
 * at random (so a fleet enrolled at once does not renew at once). */
static time_t
due_time(X509 *x, long jitter)
{
	struct tm a, b;
	time_t nb, na;
	unsigned int r = 0;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) != 1) {
		return 0;
	}
	nb = timegm(&a);
	na = timegm(&b);
	if (jitter > 0 && RAND_bytes((unsigned char *)&r, sizeof(r)) == 1) {
		jitter = (long)(r % (unsigned long)(jitter + 1));
	} else {
		jitter = 0;
	}
	if (jitter > (na - nb) / 6) {
		jitter = (long)((na - nb) / 6);
	}
	return nb + (na - nb) * 2 / 3 - jitter;
}

static int
run_hook(const char *cmd, const char *name, const char *dir,
    struct mtls_err *err)
{
	pid_t pid;
	int status = 0;

	pid = fork();
	if (pid < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot run the hook");
	}
	if (pid == 0) {
		setenv("MTLS_NAME", name, 1);
		setenv("MTLS_DIR", dir, 1);
		/* The hook runs beside the files it is about. */
		if (chdir(dir) != 0) {
			_exit(126);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return mtls_err_sys(err, MTLS_E_IO, "waiting for the hook");
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		return mtls_err_set(err, MTLS_E_IO, "renewed '%s', but the hook "
		    "'%s' failed (status %d): the new files are in place", name,
		    cmd, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return 0;
}

static char *
read_text(const char *dir, const char *name, const char *ext,
    struct mtls_err *err)
{
	char *p = path_in(dir, name, ext);
	unsigned char *d = NULL;
	size_t n = 0;

	if (p == NULL || mtls_file_read(p, 1 << 20, &d, &n, err) != 0) {
		free(p);
		return NULL;
	}
	free(p);
	return (char *)d;
}

int
mtls_renew_identity(const char *state_file, int force, long jitter,
    int *renewed, time_t *next, struct mtls_err *err)
{
	struct state st;
	X509 *cur = NULL, *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL, *oldkey = NULL;
	GENERAL_NAMES *sans = NULL;
	char *cur_pem = NULL, *key_pem = NULL, *ca_file = NULL, *ca_pem = NULL;
	char *csr = NULL, *pass = NULL, *crl = NULL, *p = NULL;
	size_t crl_len = 0, key_len = 0;
	struct mtls_fileset *fs = NULL;
	struct est_call call;
	struct install in;
	int rc = -1;

	*renewed = 0;
	*next = 0;
	if (read_state(state_file, &st, err) != 0) {
		goto out;
	}
	p = path_in(st.dir, st.name, ".crt");
	cur = p != NULL ? mtls_load_cert(p, err) : NULL;
	free(p);
	p = path_in(st.dir, st.name, ".key");
	oldkey = p != NULL && cur != NULL ? mtls_load_key(p, NULL, err) : NULL;
	free(p);
	p = NULL;
	if (cur == NULL || oldkey == NULL) {
		goto out;
	}
	*next = due_time(cur, jitter);
	if (!force && time(NULL) < *next) {
		rc = 0;
		goto out;
	}
	ca_file = read_text(st.dir, "ca", ".pem", err);
	if (ca_file == NULL) {
		goto out;
	}
	/* The pinned CA, fetched over a connection verified by it. */
	ca = pinned_ca(st.url, st.fp, ca_file, 0, err);
	if (ca == NULL || (ca_pem = pem_of(ca)) == NULL ||
	    (cur_pem = pem_of(cur)) == NULL ||
	    mtls_key_to_pem(oldkey, NULL, &key_pem, &key_len, err) != 0) {
		goto out;
	}
	if (st.store_pass != NULL &&
	    (pass = mtls_pass_get(st.store_pass, NULL, 0, err)) == NULL) {
		goto out;
	}
	key = mtls_key_generate(st.kt, err);
	sans = X509_get_ext_d2i(cur, NID_subject_alt_name, NULL, NULL);
	if (key == NULL || (csr = make_csr(key, X509_get_subject_name(cur), sans,
		err)) == NULL) {
		goto out;
	}
	memset(&call, 0, sizeof(call));
	call.url = st.url;
	call.op = "simplereenroll";
	call.ca_pem = ca_pem;
	call.cert_pem = cur_pem;
	call.key_pem = key_pem;
	call.body = csr;
	cert = post_csr(&call, key, ca, err);
	if (cert == NULL) {
		goto out;
	}
	crl = fetch_crl(st.url, ca_pem, 0, &crl_len);
	memset(&in, 0, sizeof(in));
	in.dir = st.dir;
	in.name = st.name;
	in.key = key;
	in.cert = cert;
	in.ca = ca;
	in.formats = st.formats;
	in.bundle = st.bundle;
	in.store_pass = pass;
	in.crl_pem = crl;
	in.crl_len = crl_len;
	fs = mtls_fileset_new(1, err);
	if (fs == NULL || stage_all(&in, fs, err) != 0 ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	*renewed = 1;
	*next = due_time(cert, jitter);
	rc = st.exec != NULL ? run_hook(st.exec, st.name, st.dir, err) : 0;
out:
	mtls_fileset_free(fs);
	mtls_pass_free(pass);
	mtls_secret_free(key_pem, key_len);
	free(crl);
	free(csr);
	OPENSSL_free(ca_file); /* from mtls_file_read */
	OPENSSL_free(ca_pem);
	OPENSSL_free(cur_pem);
	GENERAL_NAMES_free(sans);
	EVP_PKEY_free(key);
	EVP_PKEY_free(oldkey);
	X509_free(cert);
	X509_free(cur);
	X509_free(ca);
	json_decref(st.j);
	return rc;
}
