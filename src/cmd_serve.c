/* mtls serve: options only; the receiver is lib/serve*.c (mtls/serve.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mtls/file.h"
#include "mtls/pki.h"
#include "mtls/serve.h"
#include "state_dir.h"

static const char usage[] =
    "usage: mtls serve --listen ADDR:PORT --cert FILE --key FILE --ca FILE\n"
    "                  --root DIR [options]\n"
    "\n"
    "Runs the replication receiver: HTTPS with required client certificates.\n"
    "Clients POST /bin/receive with headers Action (Test, Activate or\n"
    "Deactivate), Path (/abs/path) and optionally Item-Id; Activate's body is\n"
    "stored at ROOT/PATH atomically, Deactivate removes it, a repeated\n"
    "Item-Id is acknowledged without being applied again.\n"
    "GET /healthz and GET /metrics (Prometheus) are served too.\n"
    "\n"
    "Options:\n"
    "  --listen ADDR:PORT       address to listen on (127.0.0.1:8443, [::1]:8443)\n"
    "  --cert FILE              server certificate, then its chain (PEM)\n"
    "  --key FILE               its private key\n"
    "  --key-pass SPEC          password of an encrypted key (pass:, env:, file:,\n"
    "                           fd:, stdin)\n"
    "  --ca FILE                CA certificate(s) that issue client certificates\n"
    "  --root DIR               content directory (created when missing)\n"
    "  --map FILE               certificate -> principal map with ACLs (see\n"
    "                           docs/map-format.md); required, unless\n"
    "  --insecure-no-map        run without a map: any client certificate of\n"
    "                           the CA (partners' too) is its CN with full\n"
    "                           access; logged at start, mtls_insecure_no_map 1\n"
    "                           in /metrics (config file: insecure-no-map = yes)\n"
    "  --state-dir DIR          where the item-id database lives (default\n"
    "                           $STATE_DIRECTORY, else ~/.local/state/mtls/\n"
    "                           receiver/ROOT-PATH: never inside ROOT)\n"
    "  --workers N              threads, each with its own listener (default 1)\n"
    "  --config FILE            read options from FILE: one 'name = value' a line,\n"
    "                           names as the long options; the command line wins\n"
    "  --log-format text|json   access and event log on stderr (default text)\n"
    "  --max-body BYTES         largest request body (default 67108864; 413 above);\n"
    "                           a body goes to a spool file in ROOT as it\n"
    "                           arrives, never to memory: a connection holds\n"
    "                           one head (16 KiB) and TLS buffers (tens of KiB)\n"
    "  --max-conns N            connections open at once (default 1024)\n"
    "  --handshake-timeout S    seconds to finish the TLS handshake (default 10)\n"
    "  --idle-timeout S         seconds a connection may stay idle (default 60)\n"
    "  --header-timeout S       seconds for a whole request head, counted from\n"
    "                           its first byte; trickling cannot extend it\n"
    "                           (default 10; 408 after)\n"
    "  --body-timeout S         seconds for a whole request body (default 120;\n"
    "                           408 after)\n"
    "  --drain-timeout S        on SIGTERM, seconds to let requests under way\n"
    "                           finish (idle connections close at once)\n"
    "                           (default 10)\n"
    "  --crl FILE               refuse client certificates this CRL revokes\n"
    "                           (repeatable; a file may hold several CRLs,\n"
    "                           each must be signed by a --ca CA); reloaded\n"
    "                           when the file changes and on SIGHUP\n"
    "  --crl-stale keep|reject  a CRL past its nextUpdate: keep enforcing it\n"
    "                           and warn (log, mtls_crl_stale 1 in /metrics;\n"
    "                           default), or refuse every client until a\n"
    "                           fresh CRL is published\n"
    "  --ocsp [URL]             ask OCSP about every client certificate: the\n"
    "                           URL in the certificate (AIA), or URL; answers\n"
    "                           are cached until their nextUpdate\n"
    "  --ocsp-policy closed     responder unreachable or failing: refuse the\n"
    "                           client (the default and only policy)\n"
    "  --insecure-ocsp-fail-open  responder unreachable: accept the client\n"
    "                           unchecked and warn (a stale or forged answer\n"
    "                           is still refused)\n"
    "  --ocsp-timeout S         seconds per OCSP query (default 2); the worker\n"
    "                           waits that long at most (docs/revocation.md)\n"
    "  --ocsp-max-age S         seconds an OCSP answer is kept at most; when\n"
    "                           given, also the oldest thisUpdate accepted\n"
    "                           (default 3600, applied by age only to\n"
    "                           answers without nextUpdate)\n"
    "  --ocsp-clock-skew S      seconds of clock skew allowed on an answer's\n"
    "                           thisUpdate/nextUpdate (default 300)\n"
    "  --insecure-revocation-leaf-only  check only the client certificate,\n"
    "                           not its intermediate CAs (default: every\n"
    "                           certificate of the chain but the root)\n"
    "  --require-policy OID     a client chain must be valid for this\n"
    "                           certificate policy (RFC 5280 6.1): every\n"
    "                           certificate from the CA down asserts it (or\n"
    "                           anyPolicy, where no CA inhibits it);\n"
    "                           repeatable (any one of them); in a config\n"
    "                           file, OIDs separated by commas\n"
    "  --require-explicit-policy  a client chain must be valid for some\n"
    "                           policy asserted from the CA down (malformed\n"
    "                           policy extensions and a CA's policy\n"
    "                           constraints are always checked)\n"
    "  --watch-interval S       seconds between checks of the CRL files; the\n"
    "                           certificate and key are checked every 2*S and\n"
    "                           reloaded when a matching pair appears\n"
    "                           (default 1; 0 turns file watching off)\n"
    "  --audit-log FILE         append a hash-chained audit record (mtls\n"
    "                           audit verify FILE checks it) for every\n"
    "                           accepted or refused connection and every\n"
    "                           write and delete: time, peer, certificate\n"
    "                           SHA-256 and subject, path, bytes, result.\n"
    "                           Write and delete records are on disk\n"
    "                           (fdatasync) before the client is answered\n"
    "  --audit-max-bytes N      rotate the audit log past N bytes: it becomes\n"
    "                           FILE.SEQ (never overwritten, never deleted)\n"
    "                           and FILE goes on with the same chain\n"
    "  -h, --help               this help\n"
    "\n"
    "Signals: SIGHUP reloads certificate, key, CA, map and CRLs (open\n"
    "connections continue; new ones use the new files); a renewed certificate\n"
    "and key, or a rewritten CRL, are picked up without SIGHUP too. SIGTERM or\n"
    "SIGINT drain and exit. A resumed session is checked again (expiry,\n"
    "chain, revocation); a client that fails is made to do a full handshake.\n"
    "\n"
    "Examples:\n"
    "  mtls serve --listen 127.0.0.1:8443 --cert publish.crt --key publish.key \\\n"
    "      --ca ca.crt --root /srv/content --map map.txt\n"
    "  mtls serve --config /etc/mtls/serve.conf --map /etc/mtls/map.txt \\\n"
    "      --log-format json --workers 2\n"
    "  mtls serve --config serve.conf --crl /etc/mtls/ca.crl --crl-stale reject\n"
    "  mtls serve --config serve.conf --ocsp --ocsp-max-age 600\n"
    "  mtls serve --config serve.conf --require-policy 1.3.6.1.4.1.99999.1\n"
    "  curl --cert author.crt --key author.key --cacert ca.crt \\\n"
    "      -H 'Action: Activate' -H 'Path: /content/a.html' --data-binary @a.html \\\n"
    "      https://127.0.0.1:8443/bin/receive\n";

enum {
	O_LISTEN, O_CERT, O_KEY, O_KEY_PASS, O_CA, O_ROOT, O_MAP, O_STATE,
	O_WORKERS, O_CONFIG, O_LOG, O_MAX_BODY, O_MAX_CONNS, O_HS_TIMEOUT,
	O_IDLE_TIMEOUT, O_HEADER_TIMEOUT, O_BODY_TIMEOUT, O_DRAIN_TIMEOUT, O_CRL,
	O_CRL_STALE, O_OCSP, O_OCSP_POLICY, O_OCSP_TIMEOUT, O_OCSP_MAX_AGE, O_WATCH,
	O_NO_MAP, O_AUDIT, O_AUDIT_MAX, O_OCSP_SKEW, O_LEAF_ONLY, O_FAIL_OPEN,
	O_REQ_POLICY, O_EXPLICIT_POLICY,
	O_COUNT
};

static const struct option longopts[] = {
	{"listen", required_argument, NULL, O_LISTEN},
	{"cert", required_argument, NULL, O_CERT},
	{"key", required_argument, NULL, O_KEY},
	{"key-pass", required_argument, NULL, O_KEY_PASS},
	{"ca", required_argument, NULL, O_CA},
	{"root", required_argument, NULL, O_ROOT},
	{"map", required_argument, NULL, O_MAP},
	{"state-dir", required_argument, NULL, O_STATE},
	{"workers", required_argument, NULL, O_WORKERS},
	{"config", required_argument, NULL, O_CONFIG},
	{"log-format", required_argument, NULL, O_LOG},
	{"max-body", required_argument, NULL, O_MAX_BODY},
	{"max-conns", required_argument, NULL, O_MAX_CONNS},
	{"handshake-timeout", required_argument, NULL, O_HS_TIMEOUT},
	{"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
	{"header-timeout", required_argument, NULL, O_HEADER_TIMEOUT},
	{"body-timeout", required_argument, NULL, O_BODY_TIMEOUT},
	{"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
	{"crl", required_argument, NULL, O_CRL},
	{"crl-stale", required_argument, NULL, O_CRL_STALE},
	{"ocsp", optional_argument, NULL, O_OCSP},
	{"ocsp-policy", required_argument, NULL, O_OCSP_POLICY},
	{"ocsp-timeout", required_argument, NULL, O_OCSP_TIMEOUT},
	{"ocsp-max-age", required_argument, NULL, O_OCSP_MAX_AGE},
	{"watch-interval", required_argument, NULL, O_WATCH},
	{"insecure-no-map", no_argument, NULL, O_NO_MAP},
	{"audit-log", required_argument, NULL, O_AUDIT},
	{"audit-max-bytes", required_argument, NULL, O_AUDIT_MAX},
	{"ocsp-clock-skew", required_argument, NULL, O_OCSP_SKEW},
	{"insecure-revocation-leaf-only", no_argument, NULL, O_LEAF_ONLY},
	{"insecure-ocsp-fail-open", no_argument, NULL, O_FAIL_OPEN},
	{"require-policy", required_argument, NULL, O_REQ_POLICY},
	{"require-explicit-policy", no_argument, NULL, O_EXPLICIT_POLICY},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
		*--e = '\0';
	}
	return s;
}

/* Fills the still-unset VAL[] from the config file PATH; keeps its text
 * alive in *KEEP. */
static int
read_config(const char *path, char **val, unsigned char **keep, size_t *klen)
{
	struct mtls_err err = {MTLS_OK, ""};
	char *line, *save = NULL, *eq, *k;
	int lineno = 0, i;

	if (mtls_file_read(path, 1024 * 1024, keep, klen, &err) != 0) {
		return cli_fail(&err);
	}
	for (line = strtok_r((char *)*keep, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#') {
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL) {
			mtls_err_set(&err, MTLS_E_FORMAT, "%s: line %d '%s': "
			    "expected 'name = value'", path, lineno, line);
			return cli_fail(&err);
		}
		*eq = '\0';
		k = trim(line);
		for (i = 0; longopts[i].name != NULL; i++) {
			if (strcmp(longopts[i].name, k) == 0) {
				break;
			}
		}
		if (longopts[i].name == NULL || longopts[i].val == 'h' ||
		    longopts[i].val == O_CONFIG) {
			mtls_err_set(&err, MTLS_E_FORMAT, "%s: line %d: unknown "
			    "option '%s' (names are the long options of 'mtls "
			    "serve --help')", path, lineno, k);
			return cli_fail(&err);
		}
		if (val[longopts[i].val] == NULL) {
			val[longopts[i].val] = trim(eq + 1);
		}
	}
	return 0;
}

/* The number in S (a decimal); the range is the setter's to check. */
static int
parse_long(const char *opt, const char *s, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0) {
		return cli_usage("serve", "%s must be a number, not '%s'", opt, s);
	}
	*out = v;
	return 0;
}

static int
parse_seconds(const char *opt, const char *s, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) || v > 86400) {
		return cli_usage("serve", "%s must be seconds between 0 and "
		    "86400, not '%s'", opt, s);
	}
	*out = v;
	return 0;
}

/* N as an int; out of range stays out of range for the setter. */
static int
clamp_int(long n)
{
	return n > INT_MAX ? INT_MAX : n < INT_MIN ? INT_MIN : (int)n;
}

/* A setter's refusal, named by the option that gave the value. */
static int
refused(const char *opt, const struct mtls_err *err)
{
	if (err->code != MTLS_E_USAGE) {
		return cli_fail(err);
	}
	return cli_usage("serve", "%s: %s", opt, err->msg);
}

/* A flag that a config file spells "NAME = yes" (or true). */
static int
yes_flag(const char *name, const char *v, int *out)
{
	if (v == NULL) {
		return 0;
	}
	if (strcmp(v, "yes") != 0 && strcmp(v, "true") != 0) {
		return cli_usage("serve", "%s is yes or true, not '%s'", name, v);
	}
	*out = 1;
	return 0;
}

/* Seconds from VAL (when given) into SET. */
static int
set_seconds(struct mtls_serve_config *cfg, const char *opt, const char *val,
    int (*set)(struct mtls_serve_config *, double, struct mtls_err *))
{
	struct mtls_err err = {MTLS_OK, ""};
	double d = 0;

	if (val == NULL) {
		return 0;
	}
	if (parse_seconds(opt, val, &d) != 0) {
		return 2;
	}
	return set(cfg, d, &err) == 0 ? 0 : refused(opt, &err);
}

/* --crl (repeatable on the command line; one in a config file) */
#define CRL_MAX 32
static const char *crl_files[CRL_MAX];
static size_t ncrl_files;

static int
ocsp_opts(char **val, struct mtls_serve_config *cfg)
{
	struct mtls_err err = {MTLS_OK, ""};
	const char *url = val[O_OCSP];
	double d = 0;
	int fail_open = 0;

	if (url != NULL && mtls_serve_config_set_ocsp(cfg,
		url[0] != '\0' ? url : NULL, &err) != 0) {
		return refused("--ocsp", &err);
	}
	if (val[O_OCSP_POLICY] != NULL) {
		if (strcmp(val[O_OCSP_POLICY], "closed") != 0 &&
		    strcmp(val[O_OCSP_POLICY], "open") != 0) {
			return cli_usage("serve", "--ocsp-policy is closed or "
			    "open, not '%s'", val[O_OCSP_POLICY]);
		}
		if (strcmp(val[O_OCSP_POLICY], "open") == 0) {
			return cli_usage("serve", "--ocsp-policy open is spelled "
			    "--insecure-ocsp-fail-open: it admits clients whose "
			    "revocation could not be checked");
		}
	}
	if (yes_flag("insecure-ocsp-fail-open", val[O_FAIL_OPEN],
		&fail_open) != 0) {
		return 2;
	}
	if ((val[O_OCSP_POLICY] != NULL || val[O_OCSP_TIMEOUT] != NULL ||
		val[O_OCSP_SKEW] != NULL || fail_open) && url == NULL) {
		return cli_usage("serve", "--ocsp-policy, --ocsp-timeout, "
		    "--ocsp-clock-skew and --insecure-ocsp-fail-open need --ocsp");
	}
	if (fail_open) {
		mtls_serve_config_insecure_ocsp_fail_open(cfg);
	}
	if (val[O_OCSP_SKEW] != NULL) {
		if (parse_seconds("--ocsp-clock-skew", val[O_OCSP_SKEW], &d) != 0) {
			return 2;
		}
		if (mtls_serve_config_set_ocsp_clock_skew(cfg, (long)d,
			&err) != 0) {
			return refused("--ocsp-clock-skew", &err);
		}
	}
	if (val[O_OCSP_MAX_AGE] != NULL) {
		if (parse_seconds("--ocsp-max-age", val[O_OCSP_MAX_AGE], &d) != 0) {
			return 2;
		}
		if (mtls_serve_config_set_ocsp_max_age(cfg, (long)d, &err) != 0) {
			return refused("--ocsp-max-age", &err);
		}
	}
	return set_seconds(cfg, "--ocsp-timeout", val[O_OCSP_TIMEOUT],
	    mtls_serve_config_set_ocsp_timeout);
}

static int
revocation_opts(char **val, struct mtls_serve_config *cfg)
{
	struct mtls_err err = {MTLS_OK, ""};
	int leaf_only = 0;
	size_t i;

	if (ncrl_files == 0 && val[O_CRL] != NULL) {
		crl_files[ncrl_files++] = val[O_CRL];
	}
	for (i = 0; i < ncrl_files; i++) {
		if (mtls_serve_config_add_crl_file(cfg, crl_files[i], &err) != 0) {
			return refused("--crl", &err);
		}
	}
	if (val[O_CRL_STALE] != NULL) {
		if (strcmp(val[O_CRL_STALE], "keep") != 0 &&
		    strcmp(val[O_CRL_STALE], "reject") != 0) {
			return cli_usage("serve", "--crl-stale is keep or reject, "
			    "not '%s'", val[O_CRL_STALE]);
		}
		mtls_serve_config_set_crl_stale_reject(cfg,
		    strcmp(val[O_CRL_STALE], "reject") == 0);
	}
	if (ocsp_opts(val, cfg) != 0 ||
	    yes_flag("insecure-revocation-leaf-only", val[O_LEAF_ONLY],
		&leaf_only) != 0) {
		return 2;
	}
	if (leaf_only) {
		if (ncrl_files == 0 && val[O_OCSP] == NULL) {
			return cli_usage("serve", "--insecure-revocation-leaf-only "
			    "needs --crl or --ocsp");
		}
		mtls_serve_config_insecure_revocation_leaf_only(cfg);
	}
	if (val[O_WATCH] != NULL && strcmp(val[O_WATCH], "0") == 0) {
		return mtls_serve_config_set_watch_interval(cfg, -1, &err);
	}
	return set_seconds(cfg, "--watch-interval", val[O_WATCH],
	    mtls_serve_config_set_watch_interval);
}

/* --require-policy (repeatable; in a config file, OIDs separated by
 * commas) and --require-explicit-policy. The OIDs are checked when added
 * to the configuration. */
#define POLICY_MAX 16
static char *policy_lists[POLICY_MAX];
static size_t npolicy_lists;

static int
add_policies(struct mtls_serve_config *cfg, char *list)
{
	struct mtls_err err = {MTLS_OK, ""};
	char *save = NULL, *oid;

	for (oid = strtok_r(list, ",", &save); oid != NULL;
	     oid = strtok_r(NULL, ",", &save)) {
		if (mtls_serve_config_add_required_policy(cfg, trim(oid),
			&err) != 0) {
			return refused("--require-policy", &err);
		}
	}
	return 0;
}

static int
policy_opts(char **val, struct mtls_serve_config *cfg)
{
	int explicit = 0;
	size_t i;

	if (npolicy_lists == 0 && val[O_REQ_POLICY] != NULL) {
		policy_lists[npolicy_lists++] = val[O_REQ_POLICY];
	}
	for (i = 0; i < npolicy_lists; i++) {
		if (add_policies(cfg, policy_lists[i]) != 0) {
			return 2;
		}
	}
	if (yes_flag("require-explicit-policy", val[O_EXPLICIT_POLICY],
		&explicit) != 0) {
		return 2;
	}
	mtls_serve_config_set_require_explicit_policy(cfg, explicit);
	return 0;
}

/* The item-id database stays out of the content root by default, where a
 * web server publishing ROOT would expose it and 'push --dir ROOT' would
 * carry it: $STATE_DIRECTORY (systemd's StateDirectory=), else the user's
 * state directory, receiver/ROOT-PATH ('/' written '_', one per root so two
 * receivers never share item ids). A database already in ROOT (the old
 * default) keeps being used, with a warning, so no applied id is forgotten. */
static int
default_state_dir(const char *root, char *buf, size_t len)
{
	char real[PATH_MAX], base[PATH_MAX], legacy[PATH_MAX + 32];
	const char *sd = getenv("STATE_DIRECTORY");
	struct mtls_err err = {MTLS_OK, ""};
	size_t i, n;

	snprintf(legacy, sizeof(legacy), "%s/%s", root, MTLS_RECEIVER_DB);
	if (access(legacy, F_OK) == 0) {
		fprintf(stderr, "mtls serve: warning: the item-id database is "
		    "inside the content root (%s); move it out with --state-dir\n",
		    legacy);
		snprintf(buf, len, "%s", root);
		return 0;
	}
	if (sd != NULL && sd[0] == '/') {
		snprintf(buf, len, "%.*s", (int)strcspn(sd, ":"), sd);
		return 0;
	}
	if (mtls_mkdir_p(root, 0755, &err) != 0 || realpath(root, real) == NULL) {
		return cli_usage("serve", "--root %s: %s", root,
		    err.msg[0] ? err.msg : strerror(errno));
	}
	if (cli_state_dir(NULL, base, sizeof(base)) == NULL) {
		return cli_usage("serve", "give --state-dir (neither "
		    "$XDG_STATE_HOME nor $HOME is set)");
	}
	n = (size_t)snprintf(buf, len, "%s/receiver/%s", base, real + 1);
	for (i = strlen(base) + sizeof("/receiver/") - 1; i < n && i < len; i++) {
		if (buf[i] == '/') {
			buf[i] = '_';
		}
	}
	if (real[1] == '\0') {
		snprintf(buf, len, "%s/receiver/_", base);
	}
	return 0;
}

/* The paths and the map, each copied into CFG. */
static int
file_opts(char **val, struct mtls_serve_config *cfg)
{
	static char state[PATH_MAX + 64];
	static const int required[] = {O_LISTEN, O_CERT, O_KEY, O_CA, O_ROOT};
	struct mtls_err err = {MTLS_OK, ""};
	const char *state_dir = val[O_STATE];
	size_t i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (val[required[i]] == NULL) {
			return cli_usage("serve", "--%s is required",
			    longopts[required[i]].name);
		}
	}
	if (val[O_NO_MAP] != NULL) {
		/* In a config file: "insecure-no-map = yes". */
		if (strcmp(val[O_NO_MAP], "yes") != 0 &&
		    strcmp(val[O_NO_MAP], "true") != 0) {
			return cli_usage("serve", "insecure-no-map is yes or true, "
			    "not '%s'", val[O_NO_MAP]);
		}
		if (val[O_MAP] != NULL) {
			return cli_usage("serve", "--insecure-no-map and --map "
			    "contradict each other");
		}
		mtls_serve_config_insecure_no_map(cfg);
	}
	if (state_dir == NULL) {
		if (default_state_dir(val[O_ROOT], state, sizeof(state)) != 0) {
			return 2;
		}
		state_dir = state;
	}
	if (mtls_serve_config_set_listen(cfg, val[O_LISTEN], &err) != 0) {
		return refused("--listen", &err);
	}
	if (mtls_serve_config_set_cert_file(cfg, val[O_CERT], &err) != 0) {
		return refused("--cert", &err);
	}
	if (mtls_serve_config_set_key_file(cfg, val[O_KEY], val[O_KEY_PASS],
		&err) != 0) {
		return refused("--key", &err);
	}
	if (mtls_serve_config_set_ca_file(cfg, val[O_CA], &err) != 0) {
		return refused("--ca", &err);
	}
	if (mtls_serve_config_set_root(cfg, val[O_ROOT], &err) != 0) {
		return refused("--root", &err);
	}
	if (mtls_serve_config_set_state_dir(cfg, state_dir, &err) != 0) {
		return refused("--state-dir", &err);
	}
	if (mtls_serve_config_set_map_file(cfg, val[O_MAP], &err) != 0) {
		return refused("--map", &err);
	}
	if (mtls_serve_config_set_audit_log(cfg, val[O_AUDIT], 0, &err) != 0) {
		return refused("--audit-log", &err);
	}
	return 0;
}

/* Numbers and the log format. */
static int
limit_opts(char **val, struct mtls_serve_config *cfg)
{
	struct mtls_err err = {MTLS_OK, ""};
	long n = 0;

	if (val[O_WORKERS] != NULL) {
		if (parse_long("--workers", val[O_WORKERS], &n) != 0) {
			return 2;
		}
		if (mtls_serve_config_set_workers(cfg, clamp_int(n), &err) != 0) {
			return refused("--workers", &err);
		}
	}
	if (val[O_MAX_CONNS] != NULL) {
		if (parse_long("--max-conns", val[O_MAX_CONNS], &n) != 0) {
			return 2;
		}
		if (mtls_serve_config_set_max_conns(cfg, clamp_int(n),
			&err) != 0) {
			return refused("--max-conns", &err);
		}
	}
	if (val[O_AUDIT_MAX] != NULL) {
		if (parse_long("--audit-max-bytes", val[O_AUDIT_MAX], &n) != 0) {
			return 2;
		}
		if (mtls_serve_config_set_audit_log(cfg, val[O_AUDIT], n,
			&err) != 0) {
			return refused("--audit-max-bytes", &err);
		}
	}
	if (val[O_MAX_BODY] != NULL) {
		if (parse_long("--max-body", val[O_MAX_BODY], &n) != 0) {
			return 2;
		}
		if (n < 0) {
			return cli_usage("serve", "--max-body cannot be "
			    "negative ('%s')", val[O_MAX_BODY]);
		}
		if (mtls_serve_config_set_max_body(cfg, (size_t)n, &err) != 0) {
			return refused("--max-body", &err);
		}
	}
	if (val[O_LOG] != NULL) {
		if (strcmp(val[O_LOG], "json") != 0 &&
		    strcmp(val[O_LOG], "text") != 0) {
			return cli_usage("serve", "--log-format is text or json, "
			    "not '%s'", val[O_LOG]);
		}
		mtls_serve_config_set_log_json(cfg,
		    strcmp(val[O_LOG], "json") == 0);
	}
	return 0;
}

static int
build_config(char **val, struct mtls_serve_config *cfg)
{
	if (file_opts(val, cfg) != 0 || limit_opts(val, cfg) != 0 ||
	    revocation_opts(val, cfg) != 0 || policy_opts(val, cfg) != 0) {
		return 2;
	}
	if (set_seconds(cfg, "--handshake-timeout", val[O_HS_TIMEOUT],
		mtls_serve_config_set_handshake_timeout) != 0 ||
	    set_seconds(cfg, "--idle-timeout", val[O_IDLE_TIMEOUT],
		mtls_serve_config_set_idle_timeout) != 0 ||
	    set_seconds(cfg, "--header-timeout", val[O_HEADER_TIMEOUT],
		mtls_serve_config_set_header_timeout) != 0 ||
	    set_seconds(cfg, "--body-timeout", val[O_BODY_TIMEOUT],
		mtls_serve_config_set_body_timeout) != 0 ||
	    set_seconds(cfg, "--drain-timeout", val[O_DRAIN_TIMEOUT],
		mtls_serve_config_set_drain_timeout) != 0) {
		return 2;
	}
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	char *val[O_COUNT] = {NULL};
	unsigned char *conf = NULL;
	size_t conflen = 0;
	struct mtls_serve_config *cfg = NULL;
	struct mtls_err err = {MTLS_OK, ""};
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			return cli_help(usage);
		}
		if (c < 0 || c >= O_COUNT) {
			return cli_bad_option("serve");
		}
		if (c == O_OCSP && optarg == NULL) {
			/* "--ocsp URL" as well as "--ocsp=URL" */
			optarg = optind < argc && (strncmp(argv[optind],
						       "http://", 7) == 0 ||
						      strncmp(argv[optind],
							  "https://", 8) == 0)
			    ? argv[optind++] : "";
		}
		if (c == O_CRL) {
			if (ncrl_files == CRL_MAX) {
				return cli_usage("serve", "at most %d --crl "
				    "files", CRL_MAX);
			}
			crl_files[ncrl_files++] = optarg;
		}
		if (c == O_REQ_POLICY) {
			if (npolicy_lists == POLICY_MAX) {
				return cli_usage("serve", "at most %d "
				    "--require-policy", POLICY_MAX);
			}
			policy_lists[npolicy_lists++] = optarg;
		}
		val[c] = c == O_NO_MAP || c == O_LEAF_ONLY || c == O_FAIL_OPEN ||
		    c == O_EXPLICIT_POLICY ? "yes" : optarg;
	}
	if (optind != argc) {
		return cli_usage("serve", "unexpected argument '%s'",
		    argv[optind]);
	}
	if (val[O_CONFIG] != NULL &&
	    (rc = read_config(val[O_CONFIG], val, &conf, &conflen)) != 0) {
		goto out;
	}
	cfg = mtls_serve_config_new(&err);
	if (cfg == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	rc = build_config(val, cfg);
	if (rc != 0) {
		goto out;
	}
	rc = mtls_serve_run(cfg, &err) == 0 ? 0 : cli_fail(&err);
out:
	mtls_serve_config_free(cfg);
	mtls_file_free(conf, conflen);
	return rc;
}
