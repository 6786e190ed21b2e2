/* see mtls/err.h (mtls_init, mtls_cleanup) and base/internal.h */
#include <pthread.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "mtls/err.h"
#include "base/internal.h"

/* RC2-40 and other algorithms of old PKCS#12 files live in OpenSSL's
 * legacy provider. Loading it into the default library context would
 * enable them for the whole process, behind the application's back; they
 * are loaded into a context of our own instead, used only where the
 * keystore decrypts such files. */
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *legacy_ctx;
static OSSL_PROVIDER *legacy_default, *legacy_legacy;

static void
legacy_unload(void)
{
	if (legacy_legacy != NULL) {
		OSSL_PROVIDER_unload(legacy_legacy);
	}
	if (legacy_default != NULL) {
		OSSL_PROVIDER_unload(legacy_default);
	}
	OSSL_LIB_CTX_free(legacy_ctx);
	legacy_ctx = NULL;
	legacy_default = legacy_legacy = NULL;
}

static void
legacy_load(void)
{
	legacy_ctx = OSSL_LIB_CTX_new();
	if (legacy_ctx == NULL) {
		ERR_clear_error();
		return;
	}
	legacy_default = OSSL_PROVIDER_load(legacy_ctx, "default");
	legacy_legacy = OSSL_PROVIDER_load(legacy_ctx, "legacy");
	if (legacy_default == NULL || legacy_legacy == NULL) {
		/* Without the legacy module (a minimal OpenSSL) old files
		 * fail to decrypt with the usual message; nothing else. */
		legacy_unload();
	}
	ERR_clear_error();
}

OSSL_LIB_CTX *
mtls__legacy_libctx(void)
{
	if (pthread_once(&legacy_once, legacy_load) != 0) {
		return NULL;
	}
	return legacy_ctx;
}

int
mtls_init(struct mtls_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "cannot initialise libcurl");
	}
	return 0;
}

void
mtls_cleanup(void)
{
	legacy_unload();
	curl_global_cleanup();
}
