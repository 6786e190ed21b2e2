/* A TLS identity on an SSL_CTX: the one rule for what a server or client
 * of ours sends as its chain (RFC 8446 4.4.2: the leaf, then the
 * certificates that certify it; a self-signed root "MAY be omitted" and
 * we always omit it, since a peer must already trust it and sending it
 * only costs bytes and invites trusting what the peer sent). The file
 * must hold the intermediates, as our NAME.chain.pem files do. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtls/err.h"
#include "pki/tlsid_int.h"

int
mtls__ctx_use_chain(SSL_CTX *ctx, STACK_OF(X509) *chain, const char *what,
    struct mtls_err *err)
{
	int i;

	/* Without this OpenSSL completes an empty chain from the trust store,
	 * root included: what is sent is what the file holds, less roots. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (sk_X509_num(chain) < 1 ||
	    SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)) != 1) {
		return mtls_err_ssl(err, MTLS_E_FORMAT, "cannot use the "
		    "certificate of %s", what);
	}
	for (i = 1; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_self_signed(x, 0) == 1) {
			continue;
		}
		if (SSL_CTX_add1_chain_cert(ctx, x) != 1) {
			return mtls_err_ssl(err, MTLS_E_FORMAT, "cannot use chain "
			    "certificate %d of %s", i, what);
		}
	}
	return 0;
}
