/* see mtls/replicate.h: the delivery agent's configuration and its
 * setters. A leaf: calls only base/. */
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "link/client/agent_config_int.h"

const struct mtls__agent_opts *
mtls__agent_config_opts(const struct mtls_agent_config *cfg)
{
	return &cfg->o;
}

static void
revocation_clear(struct mtls_agent_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->o.rev.ncrl; i++) {
		mtls__setting_free(cfg->crl[i], 0);
		cfg->crl[i] = NULL;
	}
	mtls__setting_free(cfg->o.rev.ocsp_url, 0);
	memset(&cfg->o.rev, 0, sizeof(cfg->o.rev));
}

int
mtls_agent_config_set_revocation(struct mtls_agent_config *cfg,
    const struct mtls_revocation_opts *rev, struct mtls_err *err)
{
	struct mtls_agent_config n;
	size_t i;

	memset(&n, 0, sizeof(n));
	if (rev == NULL) {
		revocation_clear(cfg);
		return 0;
	}
	if (rev->ncrl > MTLS_ARRAY_LEN(cfg->crl)) {
		return mtls_err_set(err, MTLS_E_USAGE, "at most %zu CRL files",
		    MTLS_ARRAY_LEN(cfg->crl));
	}
	if (rev->insecure_no_revocation && (rev->ncrl > 0 || rev->ocsp ||
		rev->insecure_soft_fail)) {
		return mtls_err_set(err, MTLS_E_USAGE, "no revocation check "
		    "(insecure_no_revocation) goes with no CRL, OCSP or soft "
		    "fail");
	}
	n.o.rev = *rev;
	n.o.rev.crl = NULL;
	n.o.rev.ncrl = 0;
	n.o.rev.ocsp_url = NULL;
	for (i = 0; i < rev->ncrl; i++) {
		if (mtls__setting_str(&n.crl[i], rev->crl[i], 0, "CRL file",
			err) != 0) {
			revocation_clear(&n);
			return -1;
		}
		n.o.rev.ncrl = i + 1;
	}
	if (mtls__setting_str(&n.o.rev.ocsp_url, rev->ocsp_url, 0, "OCSP URL",
		err) != 0) {
		revocation_clear(&n);
		return -1;
	}
	revocation_clear(cfg);
	cfg->o.rev = n.o.rev;
	memcpy(cfg->crl, n.crl, sizeof(cfg->crl));
	cfg->o.rev.crl = cfg->crl;
	return 0;
}

struct mtls_agent_config *
mtls_agent_config_new(struct mtls_err *err)
{
	struct mtls_agent_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	return cfg;
}

void
mtls_agent_config_free(struct mtls_agent_config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	mtls__setting_free(cfg->o.state, 0);
	mtls__setting_free(cfg->o.id.cert, 0);
	mtls__setting_free(cfg->o.id.key, 0);
	mtls__setting_free(cfg->o.id.key_pass, 1);
	mtls__setting_free(cfg->o.id.ca, 0);
	mtls__setting_free(cfg->o.resolve, 0);
	revocation_clear(cfg);
	free(cfg);
}

int
mtls_agent_config_set_state_dir(struct mtls_agent_config *cfg,
    const char *dir, struct mtls_err *err)
{
	if (dir == NULL) {
		return mtls_err_set(err, MTLS_E_USAGE, "the agent's state "
		    "directory is required");
	}
	return mtls__setting_str(&cfg->o.state, dir, 0, "state directory",
	    err);
}

int
mtls_agent_config_set_cert_file(struct mtls_agent_config *cfg,
    const char *path, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.id.cert, path, 0, "certificate file",
	    err);
}

int
mtls_agent_config_set_key_file(struct mtls_agent_config *cfg,
    const char *path, const char *pass_spec, struct mtls_err *err)
{
	const char *old = cfg->o.id.key;

	/* Both or neither: a refused password spec leaves the key as it
	 * was. */
	cfg->o.id.key = NULL;
	if (mtls__setting_str(&cfg->o.id.key, path, 0, "key file", err) != 0) {
		cfg->o.id.key = old;
		return -1;
	}
	if (mtls__setting_str(&cfg->o.id.key_pass, pass_spec, 1,
		"key password spec", err) != 0) {
		mtls__setting_free(cfg->o.id.key, 0);
		cfg->o.id.key = old;
		return -1;
	}
	mtls__setting_free(old, 0);
	return 0;
}

int
mtls_agent_config_set_ca_file(struct mtls_agent_config *cfg,
    const char *path, struct mtls_err *err)
{
	return mtls__setting_str(&cfg->o.id.ca, path, 0, "CA file", err);
}

void
mtls_agent_config_set_wait(struct mtls_agent_config *cfg, int on)
{
	cfg->o.wait = on != 0;
}

int
mtls_agent_config_set_deadline(struct mtls_agent_config *cfg,
    double seconds, struct mtls_err *err)
{
	if (mtls__setting_seconds(seconds, MTLS__AGENT_SECONDS_MAX, "deadline",
		err) != 0) {
		return -1;
	}
	cfg->o.deadline_s = seconds;
	return 0;
}

int
mtls_agent_config_set_retry_max(struct mtls_agent_config *cfg,
    double seconds, struct mtls_err *err)
{
	if (mtls__setting_seconds(seconds, MTLS__AGENT_SECONDS_MAX,
		"longest retry delay", err) != 0) {
		return -1;
	}
	cfg->o.retry_max_s = seconds;
	return 0;
}

void
mtls_agent_config_set_log(struct mtls_agent_config *cfg, FILE *log,
    int verbose)
{
	cfg->o.log = log;
	cfg->o.verbose = verbose != 0;
}

int
mtls_agent_config_set_resolve(struct mtls_agent_config *cfg,
    const char *list, struct mtls_err *err)
{
	if (list != NULL && mtls__resolve_check(list, err) != 0) {
		return -1;
	}
	return mtls__setting_str(&cfg->o.resolve, list, 0, "resolve list",
	    err);
}
