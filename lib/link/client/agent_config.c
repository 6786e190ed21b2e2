/* see mtls/replicate.h: the delivery agent's configuration and its
 * setters. A leaf: calls only base/. */
#include <stdlib.h>

#include "base/internal.h"
#include "link/client/agent_config_int.h"

const struct mtls__agent_opts *
mtls__agent_config_opts(const struct mtls_agent_config *cfg)
{
	return &cfg->o;
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
