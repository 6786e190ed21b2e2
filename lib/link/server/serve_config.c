/* see mtls/serve.h: the receiver's configuration, its setters and their
 * ranges. A leaf: calls only base/ and pki/ (the policy OID rule). */
#include <stdlib.h>
#include <string.h>

#include "mtls/pki.h"
#include "base/internal.h"
#include "link/server/serve_config_int.h"

#define SECONDS_MAX 86400

void
mtls__serve_opts_init(struct mtls__serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->workers = 1;
	o->max_body = 64u * 1024 * 1024;
	o->max_conns = 1024;
	o->handshake_timeout = 10;
	o->idle_timeout = 60;
	o->header_timeout = 10;
	o->body_timeout = 120;
	o->drain_timeout = 10;
}

const struct mtls__serve_opts *
mtls__serve_config_opts(const struct mtls_serve_config *cfg)
{
	return &cfg->o;
}

struct mtls_serve_config *
mtls_serve_config_new(struct mtls_err *err)
{
	struct mtls_serve_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	mtls__serve_opts_init(&cfg->o);
	cfg->o.crl = cfg->crl;
	cfg->o.policies = cfg->policies;
	return cfg;
}

void
mtls_serve_config_free(struct mtls_serve_config *cfg)
{
	struct mtls__serve_opts *o;
	size_t i;

	if (cfg == NULL) {
		return;
	}
	o = &cfg->o;
	mtls__setting_free(o->listen, 0);
	mtls__setting_free(o->cert, 0);
	mtls__setting_free(o->key, 0);
	mtls__setting_free(o->key_pass, 1);
	mtls__setting_free(o->ca, 0);
	mtls__setting_free(o->root, 0);
	mtls__setting_free(o->state_dir, 0);
	mtls__setting_free(o->map, 0);
	mtls__setting_free(o->ocsp_url, 0);
	mtls__setting_free(o->audit_log, 0);
	for (i = 0; i < o->ncrl; i++) {
		mtls__setting_free(cfg->crl[i], 0);
	}
	for (i = 0; i < o->npolicies; i++) {
		mtls__setting_free(cfg->policies[i], 0);
	}
	free(cfg);
}

int
mtls_serve_config_set_listen(struct mtls_serve_config *cfg, const char *addr,
    struct mtls_err *err)
{
	if (addr == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the listen "
		    "address is required (\"127.0.0.1:8443\", \"[::1]:8443\")");
	}
	return mtls__setting_str(&cfg->o.listen, addr, 0, "listen address", err);
}

int
mtls_serve_config_set_cert_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.cert, path, 0, "certificate file", err);
}

int
mtls_serve_config_set_key_file(struct mtls_serve_config *cfg,
    const char *path, const char *pass_spec, struct mtls_err *err)
{
	const char *old = cfg->o.key;

	/* Both or neither: copy the key's path aside first, so a refused
	 * password spec leaves the config as it was. */
	cfg->o.key = NULL;
	if (mtls__setting_str(&cfg->o.key, path, 0, "key file", err) != 0) {
		cfg->o.key = old;
		return -1;
	}
	if (mtls__setting_str(&cfg->o.key_pass, pass_spec, 1, "key password spec",
		err) != 0) {
		mtls__setting_free(cfg->o.key, 0);
		cfg->o.key = old;
		return -1;
	}
	mtls__setting_free(old, 0);
	return 0;
}

int
mtls_serve_config_set_ca_file(struct mtls_serve_config *cfg, const char *path,
    struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.ca, path, 0, "CA file", err);
}

int
mtls_serve_config_set_root(struct mtls_serve_config *cfg, const char *dir,
    struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.root, dir, 0, "root directory", err);
}

int
mtls_serve_config_set_state_dir(struct mtls_serve_config *cfg,
    const char *dir, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.state_dir, dir, 0, "state directory", err);
}

int
mtls_serve_config_set_map_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.map, path, 0, "map file", err);
}

void
mtls_serve_config_insecure_no_map(struct mtls_serve_config *cfg)
{
	cfg->o.insecure_no_map = 1;
}

int
mtls_serve_config_set_workers(struct mtls_serve_config *cfg, int n,
    struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 64, "workers", err) != 0) {
		return -1;
	}
	cfg->o.workers = n;
	return 0;
}

int
mtls_serve_config_set_max_conns(struct mtls_serve_config *cfg, int n,
    struct mtls_err *err)
{
	if (mtls__setting_range(n, 1, 1000000, "max connections", err) != 0) {
		return -1;
	}
	cfg->o.max_conns = n;
	return 0;
}

int
mtls_serve_config_set_max_body(struct mtls_serve_config *cfg, size_t bytes,
    struct mtls_err *err)
{
	if (bytes > ((size_t)1 << 40)) {
		return mtls_err_set(err, MTLS_E_USAGE, "max body "
		    "must be from 0 to %zu bytes, not %zu", (size_t)1 << 40,
		    bytes);
	}
	cfg->o.max_body = bytes;
	return 0;
}

void
mtls_serve_config_set_log_json(struct mtls_serve_config *cfg, int on)
{
	cfg->o.log_json = on != 0;
}

static int
set_seconds(double *slot, double s, const char *what, struct mtls_err *err)
{
	if (mtls__setting_seconds(s, SECONDS_MAX, what, err) != 0) {
		return -1;
	}
	*slot = s;
	return 0;
}

int
mtls_serve_config_set_handshake_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.handshake_timeout, seconds,
	    "handshake timeout", err);
}

int
mtls_serve_config_set_idle_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.idle_timeout, seconds, "idle timeout", err);
}

int
mtls_serve_config_set_header_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.header_timeout, seconds, "header timeout",
	    err);
}

int
mtls_serve_config_set_body_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.body_timeout, seconds, "body timeout", err);
}

int
mtls_serve_config_set_drain_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.drain_timeout, seconds, "drain timeout",
	    err);
}

int
mtls_serve_config_add_crl_file(struct mtls_serve_config *cfg,
    const char *path, struct mtls_err *err)
{
	if (cfg->o.ncrl == MTLS__SERVE_CRL_MAX) {
		return mtls_err_set(err, MTLS_E_USAGE, "at most "
		    "%d CRL files", MTLS__SERVE_CRL_MAX);
	}
	if (path == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "a CRL "
		    "file needs a path");
	}
	if (mtls__setting_str(&cfg->crl[cfg->o.ncrl], path, 0, "CRL file", err) != 0) {
		return -1;
	}
	cfg->o.ncrl++;
	return 0;
}

void
mtls_serve_config_set_crl_stale_reject(struct mtls_serve_config *cfg, int on)
{
	cfg->o.crl_stale_reject = on != 0;
}

int
mtls_serve_config_set_ocsp(struct mtls_serve_config *cfg, const char *url,
    struct mtls_err *err)
{
	if (url != NULL && strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "the OCSP "
		    "URL must start with http:// or https://, not '%.64s'", url);
	}
	if (mtls__setting_str(&cfg->o.ocsp_url, url, 0, "OCSP URL", err) != 0) {
		return -1;
	}
	cfg->o.ocsp = 1;
	return 0;
}

void
mtls_serve_config_insecure_ocsp_fail_open(struct mtls_serve_config *cfg)
{
	cfg->o.insecure_ocsp_fail_open = 1;
}

int
mtls_serve_config_set_ocsp_timeout(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	return set_seconds(&cfg->o.ocsp_timeout, seconds, "OCSP timeout", err);
}

int
mtls_serve_config_set_ocsp_max_age(struct mtls_serve_config *cfg,
    long seconds, struct mtls_err *err)
{
	if (mtls__setting_range(seconds, 1, SECONDS_MAX, "OCSP max age (seconds)",
		err) != 0) {
		return -1;
	}
	cfg->o.ocsp_max_age = seconds;
	return 0;
}

int
mtls_serve_config_set_ocsp_clock_skew(struct mtls_serve_config *cfg,
    long seconds, struct mtls_err *err)
{
	if (mtls__setting_range(seconds, 1, SECONDS_MAX, "OCSP clock skew (seconds)",
		err) != 0) {
		return -1;
	}
	cfg->o.ocsp_clock_skew = seconds;
	return 0;
}

void
mtls_serve_config_insecure_revocation_leaf_only(struct mtls_serve_config *cfg)
{
	cfg->o.insecure_revocation_leaf_only = 1;
}

int
mtls_serve_config_add_required_policy(struct mtls_serve_config *cfg,
    const char *oid, struct mtls_err *err)
{
	if (cfg->o.npolicies == MTLS__SERVE_POLICY_MAX) {
		return mtls_err_set(err, MTLS_E_USAGE, "at most "
		    "%d required policies", MTLS__SERVE_POLICY_MAX);
	}
	if (oid == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "a "
		    "required policy needs an OID");
	}
	if (mtls_policy_oid_check(oid, err) != 0 ||
	    mtls__setting_str(&cfg->policies[cfg->o.npolicies], oid, 0, "policy OID",
		err) != 0) {
		return -1;
	}
	cfg->o.npolicies++;
	return 0;
}

void
mtls_serve_config_set_require_explicit_policy(struct mtls_serve_config *cfg,
    int on)
{
	cfg->o.require_explicit_policy = on != 0;
}

int
mtls_serve_config_set_watch_interval(struct mtls_serve_config *cfg,
    double seconds, struct mtls_err *err)
{
	if (seconds < 0) {
		cfg->o.watch_interval = -1;
		return 0;
	}
	return set_seconds(&cfg->o.watch_interval, seconds, "watch interval",
	    err);
}

int
mtls_serve_config_set_audit_log(struct mtls_serve_config *cfg,
    const char *path, long long max_bytes, struct mtls_err *err)
{
	if (max_bytes != 0 &&
	    mtls__setting_range(max_bytes, 4096, 1LL << 50, "audit log max bytes",
		err) != 0) {
		return -1;
	}
	if (mtls__setting_str(&cfg->o.audit_log, path, 0, "audit log", err) != 0) {
		return -1;
	}
	cfg->o.audit_max_bytes = max_bytes;
	return 0;
}
