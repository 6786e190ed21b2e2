/* `mtls ocsp serve`: the HTTP side of the OCSP responder (libevent). */
#ifndef MTLS_OCSP_SERVE_H
#define MTLS_OCSP_SERVE_H

#include "mtls/ocsp.h"

/* Serves R on HOST:PORT until SIGTERM or SIGINT; SIGHUP empties the
 * response cache. Returns the exit status. */
int ocsp_serve_run(struct mtls_ocsp_responder *r, const char *host,
    int port);

#endif
