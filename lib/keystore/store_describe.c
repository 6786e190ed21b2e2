/* see mtls/store.h: mtls_store_describe, the listing behind `inspect` and
 * `keystore list` */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/internal.h"
#include "base/clock.h"
#include "keystore/p12_algs.h"

static void
fmt_asn1_time(const ASN1_TIME *t, char *buf, size_t len)
{
	if (t == NULL || mtls__time_of_asn1(t) == 0) {
		snprintf(buf, len, "?");
		return;
	}
	mtls__time_format_asn1(t, MTLS__TIME_RFC3339, buf, len);
}

static void
fmt_ms(int64_t ms, char *buf, size_t len)
{
	if (ms == 0 || mtls__time_format(ms / 1000, MTLS__TIME_RFC3339, buf,
	    len) == 0) {
		snprintf(buf, len, "unknown");
	}
}

static int
has_upper(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z') {
			return 1;
		}
	}
	return 0;
}

struct certinfo {
	char *subject, *issuer, *serial;
	char nb[32], na[32], fp[3 * EVP_MAX_MD_SIZE + 1];
};

static void
certinfo_get(X509 *x, struct certinfo *ci)
{
	ci->subject = mtls_name_format(X509_get_subject_name(x));
	ci->issuer = mtls_name_format(X509_get_issuer_name(x));
	ci->serial = mtls_cert_serial_hex(x);
	fmt_asn1_time(X509_get0_notBefore(x), ci->nb, sizeof(ci->nb));
	fmt_asn1_time(X509_get0_notAfter(x), ci->na, sizeof(ci->na));
	if (mtls_cert_fingerprint(x, EVP_sha256(), ci->fp, sizeof(ci->fp)) !=
	    0) {
		ci->fp[0] = '\0';
	}
}

static void
certinfo_free(struct certinfo *ci)
{
	OPENSSL_free(ci->subject);
	OPENSSL_free(ci->issuer);
	OPENSSL_free(ci->serial);
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "?";
}

static void
print_text(FILE *out, const struct mtls_store *s, const char *name,
    const struct mtls__p12_algs *algs)
{
	size_t i, n = mtls_store_count(s);
	int j;

	fprintf(out, "%s: %s keystore, %zu entr%s (%s)\n", name,
	    mtls_store_format_name(mtls_store_format(s)), n,
	    n == 1 ? "y" : "ies",
	    mtls_store_verified(s) ? "integrity verified"
				   : "integrity NOT verified: no password given or no MAC");
	if (algs != NULL) {
		fprintf(out, "  MAC:          %s\n", algs->mac);
		if (algs->key[0] != '\0') {
			fprintf(out, "  Key:          %s\n", algs->key);
		}
		fprintf(out, "  Certificates: %s\n", algs->certs);
	}
	for (i = 0; i < n; i++) {
		const struct mtls_store_entry *e = mtls_store_get(s, i);
		char when[32], kd[64] = "";

		fmt_ms(e->created, when, sizeof(when));
		if (e->key != NULL) {
			mtls_key_describe(e->key, kd, sizeof(kd));
		}
		fprintf(out, "\nAlias: %s%s\n", e->alias,
		    has_upper(e->alias) ? "  (upper-case: Java cannot look "
					  "it up; rewrite the store with mtls)"
					: "");
		fprintf(out, "  Created: %s\n", when);
		if (e->type == MTLS_ENTRY_KEY) {
			fprintf(out, "  Entry type: PrivateKeyEntry%s%s%s\n",
			    kd[0] ? " (" : "", kd, kd[0] ? ")" : "");
			if (e->flags & MTLS_ENTRY_LOCKED) {
				fprintf(out, "  Key: not decrypted (no password "
					     "given, or its own key password)\n");
			}
			fprintf(out, "  Certificate chain length: %d\n",
			    sk_X509_num(e->certs));
		} else {
			fprintf(out, "  Entry type: trustedCertEntry%s\n",
			    (e->flags & MTLS_ENTRY_NOTRUST)
				? "  (no Java trust attribute: Java ignores "
				  "it; rewrite with 'mtls convert')"
				: "");
		}
		for (j = 0; j < sk_X509_num(e->certs); j++) {
			struct certinfo ci;

			certinfo_get(sk_X509_value(e->certs, j), &ci);
			fprintf(out,
			    "  Certificate[%d]:\n"
			    "    Subject: %s\n    Issuer:  %s\n"
			    "    Serial:  %s\n    Valid:   %s to %s\n"
			    "    SHA-256: %s\n",
			    j + 1, nz(ci.subject), nz(ci.issuer), nz(ci.serial),
			    ci.nb, ci.na, ci.fp);
			certinfo_free(&ci);
		}
	}
}

/* A date of certinfo_get for JSON: "?" (unreadable) becomes null. */
static json_t *
time_or_null(const char *s)
{
	return strcmp(s, "?") == 0 ? json_null() : json_string(s);
}

static json_t *
entry_json(const struct mtls_store_entry *e)
{
	json_t *o = json_object(), *certs = json_array();
	char when[32], kd[64] = "";
	int j;

	fmt_ms(e->created, when, sizeof(when));
	json_object_set_new(o, "alias", json_string(e->alias));
	json_object_set_new(o, "type",
	    json_string(e->type == MTLS_ENTRY_KEY ? "key" : "trusted"));
	json_object_set_new(o, "created_at",
	    e->created ? json_string(when) : json_null());
	if (e->type == MTLS_ENTRY_KEY) {
		if (e->key != NULL) {
			mtls_key_describe(e->key, kd, sizeof(kd));
			json_object_set_new(o, "key", json_string(kd));
		}
		json_object_set_new(o, "locked",
		    json_boolean(e->flags & MTLS_ENTRY_LOCKED));
	} else {
		json_object_set_new(o, "java_trusted",
		    json_boolean(!(e->flags & MTLS_ENTRY_NOTRUST)));
	}
	for (j = 0; j < sk_X509_num(e->certs); j++) {
		struct certinfo ci;
		json_t *c = json_object();

		certinfo_get(sk_X509_value(e->certs, j), &ci);
		json_object_set_new(c, "subject", json_string(nz(ci.subject)));
		json_object_set_new(c, "issuer", json_string(nz(ci.issuer)));
		json_object_set_new(c, "serial", json_string(nz(ci.serial)));
		json_object_set_new(c, "not_before", time_or_null(ci.nb));
		json_object_set_new(c, "not_after", time_or_null(ci.na));
		/* JSON fingerprints are lower-case hex (docs/json.md). */
		json_object_set_new(c, "sha256",
		    mtls_fingerprint_hex(ci.fp, ci.fp, sizeof(ci.fp)) == 0 &&
			ci.fp[0] != '\0' ? json_string(ci.fp) : json_null());
		json_array_append_new(certs, c);
		certinfo_free(&ci);
	}
	json_object_set_new(o, "certificates", certs);
	return o;
}

static int
print_json(FILE *out, const struct mtls_store *s, const char *name,
    const struct mtls__p12_algs *algs)
{
	json_t *root = json_object(), *entries = json_array();
	size_t i;
	int rc;

	json_object_set_new(root, "file", json_string(name));
	json_object_set_new(root, "format",
	    json_string(mtls_store_format_name(mtls_store_format(s))));
	json_object_set_new(root, "verified",
	    json_boolean(mtls_store_verified(s)));
	if (algs != NULL) {
		json_t *a = json_object();

		json_object_set_new(a, "mac", json_string(algs->mac));
		json_object_set_new(a, "key_encryption",
		    algs->key[0] ? json_string(algs->key) : json_null());
		json_object_set_new(a, "cert_encryption", json_string(algs->certs));
		json_object_set_new(root, "pkcs12", a);
	}
	for (i = 0; i < mtls_store_count(s); i++) {
		json_array_append_new(entries, entry_json(mtls_store_get(s, i)));
	}
	json_object_set_new(root, "entries", entries);
	rc = json_dumpf(root, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(root);
	return rc;
}

int
mtls_store_describe(FILE *out, const unsigned char *data, size_t len,
    const char *name, const char *pass_spec, int json, struct mtls_err *err)
{
	enum mtls_store_format fmt = mtls_store_detect(data, len);
	struct mtls_store *s = NULL;
	struct mtls_err e;
	struct mtls__p12_algs algs, *ap = NULL;
	char *pass = NULL;

	if (fmt == MTLS_STORE_NONE) {
		return 0;
	}
	mtls_err_clear(&e);
	if (pass_spec != NULL) {
		pass = mtls_pass_get(pass_spec, NULL, 0, &e);
		if (pass == NULL) {
			goto fail;
		}
	}
	s = mtls_store_parse(data, len, name, pass, NULL, &e);
	if (s == NULL && pass == NULL && e.code == MTLS_E_PASSWORD &&
	    mtls__pass_can_prompt()) {
		char prompt[300];

		snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
		pass = mtls_pass_get(NULL, prompt, 0, &e);
		if (pass == NULL) {
			goto fail;
		}
		s = mtls_store_parse(data, len, name, pass, NULL, &e);
	}
	mtls_pass_free(pass);
	if (s == NULL) {
		goto fail;
	}
	if (fmt == MTLS_STORE_P12 && mtls__p12_algs(data, len, &algs) == 0) {
		ap = &algs;
	}
	if (json) {
		print_json(out, s, name, ap);
	} else {
		print_text(out, s, name, ap);
	}
	mtls_store_free(s);
	return 1;
fail:
	if (err != NULL) {
		*err = e;
	}
	return -1;
}
