/* see pki/p11.h: private keys that live in a PKCS#11 token (an HSM,
 * SoftHSM2, a smart card), addressed by an RFC 7512 URI.
 *
 * Debian 12's OpenSSL 3.0 reaches PKCS#11 through libp11's "pkcs11"
 * engine (package libengine-pkcs11-openssl); no PKCS#11 provider is
 * packaged for it. Engines are deprecated in OpenSSL 3 but supported,
 * and an engine key is an ordinary EVP_PKEY to X509_sign, X509_CRL_sign
 * and OCSP_basic_sign, so nothing else in the CA knows where its key is. */
#include <stdlib.h>
#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>

#include "mtls/pass.h"
#include "base/internal.h"
#include "pki/p11.h"

int
mtls__p11_is_uri(const char *s)
{
	return s != NULL && strncmp(s, "pkcs11:", 7) == 0;
}

/* The engine, with the module from $MTLS_PKCS11_MODULE when set (else
 * libp11's default, p11-kit's proxy, which finds registered modules such
 * as SoftHSM2's). */
static ENGINE *
p11_engine(struct mtls_err *err)
{
	const char *module = getenv("MTLS_PKCS11_MODULE");
	ENGINE *e = ENGINE_by_id("pkcs11");

	if (e == NULL) {
		mtls_err_ssl(err, MTLS_E_USAGE, "PKCS#11 keys need OpenSSL's "
		    "pkcs11 engine (Debian: apt install libengine-pkcs11-openssl)");
		return NULL;
	}
	if (module != NULL && *module != '\0' &&
	    ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1) {
		mtls_err_ssl(err, MTLS_E_USAGE, "the pkcs11 engine refused the "
		    "module %s ($MTLS_PKCS11_MODULE)", module);
		ENGINE_free(e);
		return NULL;
	}
	if (ENGINE_init(e) != 1) {
		mtls_err_ssl(err, MTLS_E_IO, "cannot start the pkcs11 engine "
		    "(is a PKCS#11 module installed and registered with p11-kit, or "
		    "$MTLS_PKCS11_MODULE set?)");
		ENGINE_free(e);
		return NULL;
	}
	return e;
}

EVP_PKEY *
mtls__p11_load_key(const char *uri, const char *pin_spec,
    struct mtls_p11 **handle, struct mtls_err *err)
{
	struct mtls_p11 *h = calloc(1, sizeof(*h));
	char *pin = NULL;
	EVP_PKEY *key = NULL;

	*handle = NULL;
	if (h == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (strstr(uri, "pin-value=") != NULL) {
		mtls_err_set(err, MTLS_E_USAGE, "keep the PIN out of the key URI "
		    "(it ends up in ca.json and process lists): give it with "
		    "--pass/--ca-pass env:VAR, file:PATH, fd:N or stdin");
		goto fail;
	}
	h->engine = p11_engine(err);
	if (h->engine == NULL) {
		goto fail;
	}
	if (pin_spec != NULL) {
		pin = mtls_pass_get(pin_spec, "PIN of the token: ", 0, err);
		if (pin == NULL) {
			goto fail;
		}
		if (ENGINE_ctrl_cmd_string(h->engine, "PIN", pin, 0) != 1) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot give the PIN to "
			    "the pkcs11 engine");
			goto fail;
		}
	}
	key = ENGINE_load_private_key(h->engine, uri, NULL, NULL);
	if (key == NULL) {
		mtls_err_ssl(err, MTLS_E_NOTFOUND, "no usable private key at %s "
		    "(wrong URI, wrong PIN, or a token that is not present; "
		    "list its objects with 'pkcs11-tool --list-objects --login')",
		    uri);
		goto fail;
	}
	mtls_pass_free(pin);
	*handle = h;
	return key;
fail:
	mtls_pass_free(pin);
	mtls__p11_close(h);
	return NULL;
}

void
mtls__p11_close(struct mtls_p11 *h)
{
	if (h == NULL) {
		return;
	}
	if (h->engine != NULL) {
		ENGINE_finish(h->engine);
		ENGINE_free(h->engine);
	}
	free(h);
}
