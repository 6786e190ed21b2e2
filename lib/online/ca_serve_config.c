/* see mtls/online.h: the online CA's configuration and its setters. A
 * leaf: calls only base/. */
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "online/ca_serve_config_int.h"

/* 100 years: longer is a typing mistake, not a lifetime. */
#define LIFETIME_MAX (100LL * 365 * 86400)

void
mtls__ca_serve_opts_init(struct mtls__ca_serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cert_lifetime = MTLS_ENROLL_DEFAULT_LIFETIME;
	o->crl_days = 1;
	o->idle_timeout = 15;
	o->fail_limit = 5;
	o->max_conns = 512;
	o->request_timeout = 30;
	o->max_lifetime = MTLS_ENROLL_MAX_LIFETIME;
}

const struct mtls__ca_serve_opts *
mtls__ca_serve_config_opts(const struct mtls_ca_serve_config *cfg)
{
	return &cfg->o;
}

struct mtls_ca_serve_config *
mtls_ca_serve_config_new(struct mtls_err *err)
{
	struct mtls_ca_serve_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	mtls__ca_serve_opts_init(&cfg->o);
	return cfg;
}

void
mtls_ca_serve_config_free(struct mtls_ca_serve_config *cfg)
{
	struct mtls__ca_serve_opts *o;

	if (cfg == NULL) {
		return;
	}
	o = &cfg->o;
	mtls__setting_free(o->ca_dir, 0);
	mtls__setting_free(o->ca_pass, 1);
	mtls__setting_free(o->listen, 0);
	mtls__setting_free(o->cert, 0);
	mtls__setting_free(o->key, 0);
	mtls__setting_free(o->key_pass, 1);
	mtls__setting_free(o->sans, 0);
	mtls__setting_free(o->acme_allow, 0);
	mtls__setting_free(o->acme_resolve, 0);
	mtls__setting_free(o->acme_validate_allow, 0);
	mtls__setting_free(o->acme_dns_resolver, 0);
	free(cfg);
}

int
mtls_ca_serve_config_set_ca_dir(struct mtls_ca_serve_config *cfg,
    const char *dir, struct mtls_err *err)
{
	if (dir == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the CA directory is "
		    "required");
	}
	return mtls__setting_str(&cfg->o.ca_dir, dir, 0, "CA directory", err);
}

int
mtls_ca_serve_config_set_ca_pass(struct mtls_ca_serve_config *cfg,
    const char *pass_spec, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.ca_pass, pass_spec, 1,
	    "CA password spec", err);
}

int
mtls_ca_serve_config_set_listen(struct mtls_ca_serve_config *cfg,
    const char *addr, struct mtls_err *err)
{
	if (addr == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the listen address is "
		    "required (\"127.0.0.1:8443\")");
	}
	return mtls__setting_str(&cfg->o.listen, addr, 0, "listen address",
	    err);
}

int
mtls_ca_serve_config_set_identity(struct mtls_ca_serve_config *cfg,
    const char *cert, const char *key, const char *key_pass,
    struct mtls_err *err)
{
	const char *c = NULL, *k = NULL, *p = NULL;

	if ((cert == NULL) != (key == NULL) || (cert == NULL && key_pass)) {
		return mtls_err_set(err, MTLS_E_USAGE, "give the TLS certificate "
		    "and key together, or neither (the CA then issues its own)");
	}
	/* All three copied before any replaces the old ones. */
	if (mtls__setting_str(&c, cert, 0, "TLS certificate file", err) != 0 ||
	    mtls__setting_str(&k, key, 0, "TLS key file", err) != 0 ||
	    mtls__setting_str(&p, key_pass, 1, "TLS key password spec",
		err) != 0) {
		mtls__setting_free(c, 0);
		mtls__setting_free(k, 0);
		return -1;
	}
	mtls__setting_free(cfg->o.cert, 0);
	mtls__setting_free(cfg->o.key, 0);
	mtls__setting_free(cfg->o.key_pass, 1);
	cfg->o.cert = c;
	cfg->o.key = k;
	cfg->o.key_pass = p;
	return 0;
}

int
mtls_ca_serve_config_set_sans(struct mtls_ca_serve_config *cfg,
    const char *sans, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.sans, sans, 0, "SAN list", err);
}

static int
set_lifetime(long *slot, long seconds, const char *what,
    struct mtls_err *err)
{
	if (mtls__setting_range(seconds, 60, LIFETIME_MAX, what, err) != 0) {
		return -1;
	}
	*slot = seconds;
	return 0;
}

int
mtls_ca_serve_config_set_cert_lifetime(struct mtls_ca_serve_config *cfg,
    long seconds, struct mtls_err *err)
{
	return set_lifetime(&cfg->o.cert_lifetime, seconds,
	    "certificate lifetime (seconds)", err);
}

int
mtls_ca_serve_config_set_max_lifetime(struct mtls_ca_serve_config *cfg,
    long seconds, struct mtls_err *err)
{
	return set_lifetime(&cfg->o.max_lifetime, seconds,
	    "longest lifetime a token may ask for (seconds)", err);
}

int
mtls_ca_serve_config_set_crl_days(struct mtls_ca_serve_config *cfg, int days,
    struct mtls_err *err)
{
	if (mtls__setting_range(days, 1, 365, "CRL days", err) != 0) {
		return -1;
	}
	cfg->o.crl_days = days;
	return 0;
}

int
mtls_ca_serve_config_set_idle_timeout(struct mtls_ca_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	if (mtls__setting_seconds(seconds, 3600, "idle timeout", err) != 0) {
		return -1;
	}
	cfg->o.idle_timeout = seconds;
	return 0;
}

int
mtls_ca_serve_config_set_request_timeout(struct mtls_ca_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	if (mtls__setting_seconds(seconds, 3600, "request timeout", err) != 0) {
		return -1;
	}
	cfg->o.request_timeout = seconds;
	return 0;
}

int
mtls_ca_serve_config_set_max_conns(struct mtls_ca_serve_config *cfg, int n,
    struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 100000, "max connections", err) != 0) {
		return -1;
	}
	cfg->o.max_conns = n;
	return 0;
}

int
mtls_ca_serve_config_set_fail_limit(struct mtls_ca_serve_config *cfg, int n,
    struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 1000, "fail limit", err) != 0) {
		return -1;
	}
	cfg->o.fail_limit = n;
	return 0;
}

void
mtls_ca_serve_config_set_log_quiet(struct mtls_ca_serve_config *cfg, int on)
{
	cfg->o.log_quiet = on != 0;
}

void
mtls_ca_serve_config_insecure_acme_no_eab(struct mtls_ca_serve_config *cfg)
{
	cfg->o.insecure_acme_no_eab = 1;
}

int
mtls_ca_serve_config_set_acme_allow(struct mtls_ca_serve_config *cfg,
    const char *list, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.acme_allow, list, 0, "ACME allow list",
	    err);
}

int
mtls_ca_serve_config_set_acme_cert_lifetime(struct mtls_ca_serve_config *cfg,
    long seconds, struct mtls_err *err)
{
	return set_lifetime(&cfg->o.acme_cert_lifetime, seconds,
	    "ACME certificate lifetime (seconds)", err);
}

static int
set_port(int *slot, int port, const char *what, struct mtls_err *err)
{
	if (mtls__setting_range(port, 1, 65535, what, err) != 0) {
		return -1;
	}
	*slot = port;
	return 0;
}

int
mtls_ca_serve_config_set_acme_http_port(struct mtls_ca_serve_config *cfg,
    int port, struct mtls_err *err)
{
	return set_port(&cfg->o.acme_http_port, port, "ACME http-01 port", err);
}

int
mtls_ca_serve_config_set_acme_tls_port(struct mtls_ca_serve_config *cfg,
    int port, struct mtls_err *err)
{
	return set_port(&cfg->o.acme_tls_port, port, "ACME tls-alpn-01 port",
	    err);
}

int
mtls_ca_serve_config_set_acme_resolve(struct mtls_ca_serve_config *cfg,
    const char *list, struct mtls_err *err)
{
	if (list != NULL && mtls__resolve_check(list, err) != 0) {
		return -1;
	}
	return mtls__setting_str(&cfg->o.acme_resolve, list, 0,
	    "ACME resolve list", err);
}

int
mtls_ca_serve_config_set_acme_dns_resolver(struct mtls_ca_serve_config *cfg,
    const char *addr, struct mtls_err *err)
{
	if (addr != NULL && mtls__dns_server_check(addr, NULL, 0, err) != 0) {
		return -1;
	}
	return mtls__setting_str(&cfg->o.acme_dns_resolver, addr, 0,
	    "ACME dns-01 resolver", err);
}

int
mtls_ca_serve_config_set_acme_validate_allow(struct mtls_ca_serve_config *cfg,
    const char *list, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.acme_validate_allow, list, 0,
	    "ACME validation address list", err);
}

int
mtls_ca_serve_config_set_acme_validate_timeout(
    struct mtls_ca_serve_config *cfg, double seconds, struct mtls_err *err)
{
	if (mtls__setting_seconds(seconds, 300, "ACME validation timeout",
		err) != 0) {
		return -1;
	}
	cfg->o.acme_validate_timeout = seconds;
	return 0;
}

int
mtls_ca_serve_config_set_acme_orders_per_hour(
    struct mtls_ca_serve_config *cfg, long n, struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 1000000, "ACME orders per hour",
		err) != 0) {
		return -1;
	}
	cfg->o.acme_orders_per_hour = n;
	return 0;
}

int
mtls_ca_serve_config_set_acme_accounts_per_ip(
    struct mtls_ca_serve_config *cfg, long n, struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 1000000, "ACME accounts per address "
	    "and hour", err) != 0) {
		return -1;
	}
	cfg->o.acme_accounts_per_ip = n;
	return 0;
}
