/* Layer online, node side: the EST client - requests to the CA, the
 * pinned CA, CSRs and checking what comes back. See enroll_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "mtls/pki.h"
#include "online/enroll_int.h"
#include "online/est_int.h"

#define MAX_ANSWER (256 * 1024)

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct est_answer *h = arg;
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
	struct est_answer *h = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		snprintf(h->retry_after, sizeof(h->retry_after), "%.*s",
		    (int)(len - 12 < 15 ? len - 12 : 15), p + 12);
	}
	return len;
}

/* "H:P:A, H:P:A" (commas or spaces) as a curl list, or NULL. */
static struct curl_slist *
resolve_list(const char *env)
{
	struct curl_slist *l = NULL, *n;
	char one[512];
	size_t len;

	while (env != NULL && *env != '\0') {
		env += strspn(env, ", ");
		len = strcspn(env, ", ");
		if (len > 0 && len < sizeof(one)) {
			memcpy(one, env, len);
			one[len] = '\0';
			n = curl_slist_append(l, one);
			if (n == NULL) {
				break;
			}
			l = n;
		}
		env += len;
	}
	return l;
}

int
mtls__est_client_http(const struct est_call *c, struct est_answer *h, struct mtls_err *err)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hdrs = NULL, *res = NULL;
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
	/* $MTLS_RESOLVE (HOST:PORT:ADDR, curl's --resolve form), as push and
	 * test honour it: the name is still what the certificate must match. */
	res = resolve_list(getenv("MTLS_RESOLVE"));
	if (res != NULL) {
		curl_easy_setopt(cu, CURLOPT_RESOLVE, res);
	}
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
	curl_slist_free_all(res);
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
STACK_OF(X509) *
mtls__est_client_p7_certs(const struct est_answer *h, struct mtls_err *err)
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

void
mtls__est_client_ca_fp(X509 *x, char out[65])
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

/* Under an intermediate the pin may name the intermediate: climb the
 * signatures through CERTS to the self-signed root, the anchor peers
 * need. Stops where no verified issuer is found (that is the anchor). */
static X509 *
climb_to_root(STACK_OF(X509) *certs, X509 *x)
{
	int hops, i, n = sk_X509_num(certs);

	for (hops = 0; hops < 8; hops++) {
		X509 *up = NULL;

		if (X509_check_issued(x, x) == X509_V_OK) {
			break; /* self-issued: the root */
		}
		for (i = 0; i < n && up == NULL; i++) {
			X509 *c = sk_X509_value(certs, i);

			if (c != x && X509_check_issued(c, x) == X509_V_OK &&
			    X509_verify(x, X509_get0_pubkey(c)) == 1) {
				up = c;
			}
		}
		if (up == NULL) {
			break;
		}
		x = up;
	}
	ERR_clear_error();
	return x;
}

/* Fetches cacerts (over a verified connection when CA_PEM is known),
 * finds the certificate whose SHA-256 is PIN and returns the anchor it
 * leads to (itself, or the root above a pinned intermediate); *OTHERS
 * gets the rest of cacerts, untrusted, for building chains. */
X509 *
mtls__est_client_pinned_ca(const char *url, const char *pin_in, const char *ca_pem,
    long timeout, STACK_OF(X509) **others, struct mtls_err *err)
{
	struct est_call c;
	struct est_answer h;
	STACK_OF(X509) *certs = NULL;
	char pin[65], fp[65], seen[600] = "";
	X509 *ca = NULL;
	int i;

	*others = NULL;
	if (norm_fp(pin_in, pin, err) != 0) {
		return NULL;
	}
	memset(&c, 0, sizeof(c));
	c.url = url;
	c.op = "cacerts";
	c.ca_pem = ca_pem;
	c.timeout_ms = timeout;
	if (mtls__est_client_http(&c, &h, err) != 0) {
		return NULL;
	}
	if (h.status != 200) {
		mtls_err_set(err, MTLS_E_PEER, "%s answered %ld to cacerts: %.200s",
		    url, h.status, h.body ? h.body : "");
		goto out;
	}
	certs = mtls__est_client_p7_certs(&h, err);
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
		mtls__est_client_ca_fp(sk_X509_value(certs, i), fp);
		if (strcmp(fp, pin) == 0) {
			ca = sk_X509_value(certs, i);
			break;
		}
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%.64s",
		    i ? ", " : "", fp);
	}
	if (certs != NULL && ca == NULL) {
		mtls_err_set(err, MTLS_E_VERIFY, "the CA at %s is not the one you "
		    "pinned: it sent %s, not %s; check --ca-fingerprint with the "
		    "CA's operator ('mtls ca show')", url, seen, pin);
		goto out;
	}
	if (ca != NULL) {
		ca = climb_to_root(certs, ca);
		/* The stack's reference becomes the caller's. */
		(void)sk_X509_delete_ptr(certs, ca);
		*others = certs;
		certs = NULL;
	}
out:
	sk_X509_pop_free(certs, X509_free);
	free(h.body);
	return ca;
}

char *
mtls__est_client_pem(X509 *x)
{
	char *p = NULL;
	size_t n = 0;

	return mtls_cert_append_pem(x, &p, &n, NULL) == 0 ? p : NULL;
}

/* Base64 DER CSR for KEY: CN=NAME, and SANS when given (renewal). */
char *
mtls__est_client_csr(EVP_PKEY *key, const X509_NAME *subj, const GENERAL_NAMES *sans,
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
X509 *
mtls__est_client_post_csr(struct est_call *call, EVP_PKEY *key, X509 *ca,
    STACK_OF(X509) *untrusted, struct mtls_err *err)
{
	struct est_answer h;
	STACK_OF(X509) *certs = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *xs = NULL;
	X509 *x = NULL;
	int tries;
	long wait;

	memset(&h, 0, sizeof(h));
	for (tries = 0; tries < 4; tries++) {
		free(h.body);
		if (mtls__est_client_http(call, &h, err) != 0) {
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
	certs = mtls__est_client_p7_certs(&h, err);
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
	    X509_STORE_CTX_init(xs, st, x, untrusted) != 1 ||
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