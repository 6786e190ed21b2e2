/* Private to libmtls (lib/link/client/): checks shared by the connection
 * test and the delivery agent. */
#ifndef MTLS_REPLICATE_INT_H
#define MTLS_REPLICATE_INT_H

#include "mtls/replicate.h"

/* Checks that CERT, KEY and CA load, that the key belongs to the
 * certificate and that the certificate is within its validity period;
 * every message names the file at fault. */
int mtls__credentials_check(const struct mtls_credentials *id, struct mtls_err *err);

/* Fails (MTLS_E_VERIFY) when CERT (read from PATH) is expired or not yet
 * valid, saying since or until when. */
int mtls__cert_check_dates(X509 *cert, const char *path,
    struct mtls_err *err);

#endif
