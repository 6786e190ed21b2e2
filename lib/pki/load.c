/* see mtls/pki.h: loading and encoding keys and certificates */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "base/internal.h"

#define INPUT_MAX (64u * 1024 * 1024)

int
mtls__looks_pem(const unsigned char *d, size_t n)
{
	/* PEM may follow human-readable text (openssl x509 -text output). */
	return n >= 11 && memmem(d, n, "-----BEGIN ", 11) != NULL;
}

static int
certs_from_pem(const unsigned char *d, size_t n, STACK_OF(X509) *sk)
{
	BIO *b = BIO_new_mem_buf(d, (int)n);
	X509 *x;

	if (b == NULL) {
		return -1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			break;
		}
	}
	BIO_free(b);
	ERR_clear_error(); /* the end of input reads as "no start line" */
	return 0;
}

int
mtls_load_certs(const char *path, STACK_OF(X509) **out, struct mtls_err *err)
{
	unsigned char *d = NULL;
	size_t n = 0;
	STACK_OF(X509) *sk = NULL;

	*out = NULL;
	if (mtls_file_read(path, INPUT_MAX, &d, &n, err) != 0) {
		return -1;
	}
	sk = sk_X509_new_null();
	if (sk == NULL) {
		mtls_file_free(d, n);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (mtls__looks_pem(d, n)) {
		certs_from_pem(d, n, sk);
	} else {
		const unsigned char *p = d;
		X509 *x = d2i_X509(NULL, &p, (long)n);

		if (x != NULL && sk_X509_push(sk, x) <= 0) {
			X509_free(x);
		}
		ERR_clear_error();
	}
	mtls_file_free(d, n);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s holds no certificate (expected PEM or DER X.509; try "
		    "'mtls inspect %s')",
		    path, path);
	}
	*out = sk;
	return 0;
}

int
mtls_load_crls(const char *path, STACK_OF(X509_CRL) **out, struct mtls_err *err)
{
	unsigned char *d = NULL;
	size_t n = 0;
	STACK_OF(X509_CRL) *sk = NULL;
	X509_CRL *crl;

	*out = NULL;
	if (mtls_file_read(path, INPUT_MAX, &d, &n, err) != 0) {
		return -1;
	}
	sk = sk_X509_CRL_new_null();
	if (sk == NULL) {
		mtls_file_free(d, n);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (mtls__looks_pem(d, n)) {
		BIO *b = BIO_new_mem_buf(d, (int)n);

		while (b != NULL && (crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_CRL_push(sk, crl) <= 0) {
				X509_CRL_free(crl);
				break;
			}
		}
		BIO_free(b);
	} else {
		const unsigned char *p = d;

		crl = d2i_X509_CRL(NULL, &p, (long)n);
		if (crl != NULL && sk_X509_CRL_push(sk, crl) <= 0) {
			X509_CRL_free(crl);
		}
	}
	ERR_clear_error();
	mtls_file_free(d, n);
	if (sk_X509_CRL_num(sk) == 0) {
		sk_X509_CRL_free(sk);
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s holds no CRL (PEM or DER); give the file written by "
		    "'mtls crl'", path);
	}
	*out = sk;
	return 0;
}

X509 *
mtls_load_cert(const char *path, struct mtls_err *err)
{
	STACK_OF(X509) *sk = NULL;
	X509 *x;

	if (mtls_load_certs(path, &sk, err) != 0) {
		return NULL;
	}
	x = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return x;
}

struct pass_cb {
	const char *spec;
	const char *name;
	int asked;
	int failed;
	struct mtls_err *err;
};

/* OpenSSL calls this only for encrypted keys, so a plain key never needs
 * a password. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_cb *pc = u;
	char prompt[512];
	char *p;
	size_t n;

	(void)rwflag;
	pc->asked = 1;
	snprintf(prompt, sizeof(prompt), "Password for %s: ", pc->name);
	p = mtls_pass_get(pc->spec, prompt, 0, pc->err);
	if (p == NULL) {
		pc->failed = 1;
		return -1;
	}
	n = strlen(p);
	if (n > (size_t)size) {
		n = (size_t)size;
	}
	memcpy(buf, p, n);
	mtls_pass_free(p);
	return (int)n;
}

static EVP_PKEY *
key_from_der(const unsigned char *d, size_t n, struct pass_cb *pc)
{
	BIO *b = BIO_new_mem_buf(d, (int)n);
	EVP_PKEY *k = NULL;

	if (b == NULL) {
		return NULL;
	}
	/* Encrypted PKCS#8 first, then plain PKCS#8 / traditional. */
	k = d2i_PKCS8PrivateKey_bio(b, NULL, pass_cb, pc);
	if (k == NULL && !pc->asked) {
		const unsigned char *p = d;

		ERR_clear_error();
		k = d2i_AutoPrivateKey(NULL, &p, (long)n);
	}
	BIO_free(b);
	return k;
}

EVP_PKEY *
mtls_parse_key(const unsigned char *d, size_t n, const char *name,
    const char *pass_spec, struct mtls_err *err)
{
	struct pass_cb pc = {pass_spec, name, 0, 0, err};
	EVP_PKEY *k = NULL;

	if (mtls__looks_pem(d, n)) {
		BIO *b = BIO_new_mem_buf(d, (int)n);

		if (b != NULL) {
			k = PEM_read_bio_PrivateKey(b, NULL, pass_cb, &pc);
			BIO_free(b);
		}
	} else {
		k = key_from_der(d, n, &pc);
	}
	if (k != NULL) {
		ERR_clear_error();
		return k;
	}
	if (pc.failed) {
		ERR_clear_error();
		return NULL; /* the password source already said why */
	}
	if (pc.asked) {
		ERR_clear_error();
		mtls_err_set(err, MTLS_E_PASSWORD, "wrong password for %s", name);
		return NULL;
	}
	ERR_clear_error();
	mtls_err_set(err, MTLS_E_FORMAT,
	    "%s holds no private key (expected PEM or DER, PKCS#8 or "
	    "traditional; try 'mtls inspect %s')",
	    name, name);
	return NULL;
}

EVP_PKEY *
mtls_load_key(const char *path, const char *pass_spec, struct mtls_err *err)
{
	unsigned char *d = NULL;
	size_t n = 0;
	EVP_PKEY *k;

	if (mtls_file_read(path, INPUT_MAX, &d, &n, err) != 0) {
		return NULL;
	}
	k = mtls_parse_key(d, n, path, pass_spec, err);
	mtls_file_free(d, n);
	return k;
}

static int
bio_take(BIO *b, char **out, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	*out = OPENSSL_malloc((size_t)n + 1);
	if (*out == NULL) {
		return -1;
	}
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

int
mtls_key_to_pem(EVP_PKEY *key, const char *pass, char **pem, size_t *len,
    struct mtls_err *err)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int ok;

	*pem = NULL;
	if (b == NULL) {
		b = BIO_new(BIO_s_mem());
	}
	if (b == NULL) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (pass != NULL && *pass == '\0') {
		/* An empty password encrypts nothing an attacker cannot try
		 * first: refuse rather than write a key that looks protected. */
		BIO_free(b);
		return mtls_err_set(err, MTLS_E_PASSWORD, "the password for the "
		    "private key is empty: give a non-empty one, or none to "
		    "write the key unencrypted (mode 0600)");
	}
	if (pass != NULL) {
		/* PKCS#8 v2: AES-256-CBC with PBKDF2-HMAC-SHA256. */
		ok = PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(),
		    pass, (int)strlen(pass), NULL, NULL);
	} else {
		ok = PEM_write_bio_PKCS8PrivateKey(b, key, NULL, NULL, 0, NULL,
		    NULL);
	}
	if (ok != 1 || bio_take(b, pem, len) != 0) {
		BIO_free(b);
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot encode the private key");
	}
	BIO_free(b);
	return 0;
}

void
mtls_secret_free(char *p, size_t len)
{
	if (p != NULL) {
		OPENSSL_clear_free(p, len + 1);
	}
}

int
mtls_pem_append(const char *label, const unsigned char *der, size_t dlen,
    char **buf, size_t *len, struct mtls_err *err)
{
	size_t b64len = 4 * ((dlen + 2) / 3), need, i, o;
	unsigned char *b64;
	char *nb;

	/* Direct base64 into one exactly sized buffer: several times faster
	 * than PEM_write_bio's growing memory BIO, which matters for
	 * thousands of certificates or a CRL of millions of entries. */
	b64 = OPENSSL_malloc(b64len + 1);
	need = *len + b64len + b64len / 64 + 2 * strlen(label) + 64;
	nb = OPENSSL_realloc(*buf, need + 1);
	if (b64 == NULL || nb == NULL) {
		OPENSSL_free(b64);
		if (nb != NULL) {
			*buf = nb;
		}
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	*buf = nb;
	EVP_EncodeBlock(b64, der, (int)dlen);
	o = *len;
	o += (size_t)snprintf(nb + o, need + 1 - o, "-----BEGIN %s-----\n", label);
	for (i = 0; i < b64len; i += 64) {
		size_t chunk = b64len - i < 64 ? b64len - i : 64;

		memcpy(nb + o, b64 + i, chunk);
		o += chunk;
		nb[o++] = '\n';
	}
	o += (size_t)snprintf(nb + o, need + 1 - o, "-----END %s-----\n", label);
	nb[o] = '\0';
	*len = o;
	OPENSSL_free(b64);
	return 0;
}

int
mtls_cert_append_pem(X509 *cert, char **buf, size_t *len, struct mtls_err *err)
{
	unsigned char *der = NULL;
	int dlen = i2d_X509(cert, &der);
	int rc;

	if (dlen <= 0) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL,
		    "cannot encode a certificate");
	}
	rc = mtls_pem_append("CERTIFICATE", der, (size_t)dlen, buf, len, err);
	OPENSSL_free(der);
	return rc;
}

int
mtls_cert_fingerprint(X509 *cert, const EVP_MD *md, char *buf, size_t len)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t o = 0;

	if (X509_digest(cert, md, dig, &n) != 1 || len < (size_t)n * 3) {
		ERR_clear_error();
		if (len > 0) {
			buf[0] = '\0';
		}
		return -1;
	}
	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(buf + o, len - o, i ? ":%02X" : "%02X",
		    dig[i]);
	}
	return 0;
}

int
mtls_fingerprint_hex(const char *fp, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0) {
		return -1;
	}
	for (; fp != NULL && *fp != '\0'; fp++) {
		if (*fp == ':') {
			continue;
		}
		if (!isxdigit((unsigned char)*fp) || o + 1 >= len) {
			buf[0] = '\0';
			return -1;
		}
		buf[o++] = (char)tolower((unsigned char)*fp);
	}
	buf[o] = '\0';
	return 0;
}

char *
mtls_cert_serial_hex(const X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return hex;
}
