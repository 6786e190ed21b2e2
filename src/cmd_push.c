/* mtls push: enqueue content durably and deliver it to receivers. */
#define _GNU_SOURCE
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "mtls/file.h"
#include "rev_opts.h"
#include "mtls/replicate.h"
#include "state_dir.h"

static const char usage[] =
    "usage: mtls push [URL...] --cert FILE --key FILE --ca FILE [options]\n"
    "                 [PATH=FILE... | PATH... | --dir DIR]\n"
    "\n"
    "Replicates content to one or more receivers (mtls serve) over mutual\n"
    "TLS. Each item is first stored in a durable queue (SQLite, in the state\n"
    "directory), with a snapshot of its content, one queue per receiver;\n"
    "then it is delivered with POST /bin/receive (Action, Path and a unique\n"
    "Item-Id header, so a resent item is never applied twice). Nothing\n"
    "enqueued is lost if the agent or a receiver dies: running 'mtls push'\n"
    "again with the same --state resumes whatever is pending, for every\n"
    "receiver in the queue. The receiver's certificate is always verified\n"
    "against --ca and the URL's host name, and then its revocation, as\n"
    "'mtls serve' checks its clients' (see --crl, --ocsp), in the handshake:\n"
    "a revoked receiver gets nothing and its items stay queued.\n"
    "\n"
    "Arguments:\n"
    "  URL               https://HOST[:PORT][/PATH] of a receiver (path\n"
    "                    defaults to /bin/receive); several fan out\n"
    "  PATH=FILE         activate: store FILE's content at PATH\n"
    "  PATH              with --action deactivate: remove PATH\n"
    "\n"
    "Options:\n"
    "  --cert FILE       our client certificate (PEM; may hold the chain)\n"
    "  --key FILE        its private key\n"
    "  --key-pass SPEC   password of an encrypted key (pass:, env:, file:,\n"
    "                    fd:, stdin)\n"
    "  --ca FILE         CA certificate(s) that issued the receivers'\n"
    "                    certificates\n"
    "  --state DIR       queue directory (default $XDG_STATE_HOME/mtls or\n"
    "                    ~/.local/state/mtls)\n"
    "  --action A        activate (default) or deactivate\n"
    "  --dir DIR         every regular file under DIR, as PREFIX/relative\n"
    "                    (symbolic links are not followed)\n"
    "  --prefix P        path prefix for --dir (default /content)\n"
    "  --mirror          with --dir: a file pushed from DIR by an earlier\n"
    "                    --mirror run (same DIR, --prefix and receivers)\n"
    "                    that is gone from DIR now is deleted on the\n"
    "                    receivers (a Deactivate item). Only what this\n"
    "                    sender pushed is ever deleted; the list of it is\n"
    "                    kept in the state directory. An empty DIR is\n"
    "                    refused (an unmounted disk must not empty the\n"
    "                    receivers)\n"
    "  --wait            retry (exponential backoff with jitter) until all\n"
    "                    is delivered or the deadline; without it, each\n"
    "                    receiver gets one attempt per run and what fails\n"
    "                    temporarily stays queued for the next run\n"
    "  --deadline S      with --wait: give up waiting after S seconds\n"
    "  --retry-max S     longest pause between retries (default 60)\n"
    "  --resolve HOST:PORT:ADDR\n"
    "                    connect to ADDR for URLs naming HOST:PORT, still\n"
    "                    checking the certificate against HOST (as curl\n"
    "                    --resolve; repeatable; also $MTLS_RESOLVE)\n"
    "  -v, --verbose     one line per delivered item\n"
    REV_HELP
    "  -h, --help        this help\n"
    "\n"
    "A 2xx answer means applied; 5xx, 408, 429 and connection or TLS\n"
    "failures are retried; any other 4xx fails the item for good, with its\n"
    "reason (see 'mtls queue').\n"
    "\n"
    "Exit status: 0 when everything was enqueued and nothing failed for\n"
    "good (with --wait: and everything was delivered); 1 otherwise; 2 for\n"
    "usage errors.\n"
    "\n"
    "Examples:\n"
    "  mtls push https://publish:8443 --cert author.pem --key author.key \\\n"
    "      --ca ca.pem /content/index.html=site/index.html --wait\n"
    "  mtls push https://p1:8443 https://p2:8443 --cert a.pem --key a.key \\\n"
    "      --ca ca.pem --dir site --prefix /content --wait --deadline 300\n"
    "  mtls push https://p1:8443 --cert a.pem --key a.key --ca ca.pem \\\n"
    "      --action deactivate /content/old.html\n"
    "  mtls push https://s2:8443 --cert s1.pem --key s1.key --ca ca.pem \\\n"
    "      --dir data --prefix / --mirror --wait   # deletions follow\n"
    "  mtls push --cert a.pem --key a.key --ca ca.pem --wait   # resume\n";

struct push {
	struct mtls_queue *q;
	const char *const *targets;
	size_t ntargets;
	enum mtls_action action;
	const char *dir;
	const char *prefix;
	long count;
	long skipped;
	long deleted;       /* --mirror: Deactivate items enqueued */
	int mirror;
	char **seen;        /* --mirror: the receiver paths found under dir */
	size_t nseen, capseen;
	char manifest[4400]; /* --mirror: where the list of them is kept */
	struct mtls_err err;
};

static struct push *walk_ctx; /* nftw has no user argument */

static int
seen_add(struct push *p, const char *path)
{
	if (p->nseen == p->capseen) {
		size_t nc = p->capseen ? p->capseen * 2 : 256;
		char **n = realloc(p->seen, nc * sizeof(*n));

		if (n == NULL) {
			mtls_err_set(&p->err, MTLS_E_INTERNAL, "out of memory");
			return 1;
		}
		p->seen = n;
		p->capseen = nc;
	}
	p->seen[p->nseen] = strdup(path);
	if (p->seen[p->nseen] == NULL) {
		mtls_err_set(&p->err, MTLS_E_INTERNAL, "out of memory");
		return 1;
	}
	p->nseen++;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --mirror's list of what it pushed from DIR: one per DIR (resolved),
 * prefix and set of receivers, named by their SHA-256, in the state
 * directory. Another set of receivers has its own list: a receiver is
 * only told to delete what it was sent from here. */
static int
mirror_manifest_path(struct push *p, const char *state)
{
	char real[4096], hex[65];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char **t = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	if (realpath(p->dir, real) == NULL) {
		return mtls_err_sys(&p->err, MTLS_E_IO, "cannot resolve %s", p->dir);
	}
	t = calloc(p->ntargets + 1, sizeof(*t));
	ctx = EVP_MD_CTX_new();
	if (t == NULL || ctx == NULL) {
		mtls_err_set(&p->err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(t, p->targets, p->ntargets * sizeof(*t));
	qsort(t, p->ntargets, sizeof(*t), str_cmp);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, real, strlen(real) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, p->prefix, strlen(p->prefix) + 1) != 1) {
		mtls_err_ssl(&p->err, MTLS_E_INTERNAL, "hashing the mirror's name");
		goto out;
	}
	for (i = 0; i < p->ntargets; i++) {
		if (EVP_DigestUpdate(ctx, t[i], strlen(t[i]) + 1) != 1) {
			mtls_err_ssl(&p->err, MTLS_E_INTERNAL, "hashing the mirror's name");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32) {
		mtls_err_ssl(&p->err, MTLS_E_INTERNAL, "hashing the mirror's name");
		goto out;
	}
	for (i = 0; i < 32; i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	snprintf(p->manifest, sizeof(p->manifest), "%s/mirror", state);
	if (mtls_mkdir_p(p->manifest, 0700, &p->err) != 0) {
		goto out;
	}
	snprintf(p->manifest, sizeof(p->manifest), "%s/mirror/%s.list", state, hex);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(t);
	return rc;
}

/* --mirror, after the walk: every path of the previous list that the walk
 * did not find is enqueued as a Deactivate, in the same transaction. */
static int
mirror_deletions(struct push *p)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char *line, *save = NULL, *key;
	long before = 0;

	if (access(p->manifest, F_OK) != 0) {
		return 0; /* the first run: nothing was pushed from here yet */
	}
	if (mtls_file_read(p->manifest, 256u << 20, &data, &len, &p->err) != 0) {
		return -1;
	}
	qsort(p->seen, p->nseen, sizeof(*p->seen), str_cmp);
	for (line = strtok_r((char *)data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *one = NULL;

		before++;
		key = line;
		if (p->nseen > 0) {
			char **hit = bsearch(&key, p->seen, p->nseen,
			    sizeof(*p->seen), str_cmp);

			one = hit != NULL ? *hit : NULL;
		}
		if (one != NULL || p->nseen == 0) {
			continue;
		}
		if (mtls_queue_enqueue(p->q, p->targets, p->ntargets,
			MTLS_ACTION_DEACTIVATE, line, NULL, NULL, &p->err) != 0) {
			mtls_file_free(data, len);
			return -1;
		}
		p->deleted++;
	}
	mtls_file_free(data, len);
	/* An empty DIR (a disk not mounted, a wrong path) must not delete
	 * everything it pushed before. */
	if (p->nseen == 0 && before > 0) {
		return mtls_err_set(&p->err, MTLS_E_USAGE, "%s holds no files: "
		    "--mirror would delete the %ld file(s) pushed from it "
		    "before; nothing was enqueued (delete them with --action "
		    "deactivate if that is meant)", p->dir, before);
	}
	return 0;
}

/* --mirror, once the items are committed: the list for the next run. */
static int
mirror_save(struct push *p)
{
	size_t i, len = 0;
	char *buf;
	int rc;

	for (i = 0; i < p->nseen; i++) {
		len += strlen(p->seen[i]) + 1;
	}
	buf = malloc(len + 1);
	if (buf == NULL) {
		return mtls_err_set(&p->err, MTLS_E_INTERNAL, "out of memory");
	}
	len = 0;
	for (i = 0; i < p->nseen; i++) {
		size_t n = strlen(p->seen[i]);

		memcpy(buf + len, p->seen[i], n);
		buf[len + n] = '\n';
		len += n + 1;
	}
	rc = mtls_file_write_atomic(p->manifest, buf, len, MTLS_MODE_SECRET, 1,
	    &p->err);
	free(buf);
	return rc;
}

static int
walk_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	char path[2048];
	const char *rel = fpath + strlen(walk_ctx->dir);
	size_t plen = strlen(walk_ctx->prefix);

	(void)sb;
	(void)ftw;
	if (type != FTW_F) {
		return 0;
	}
	while (*rel == '/') {
		rel++;
	}
	while (plen > 0 && walk_ctx->prefix[plen - 1] == '/') {
		plen--;
	}
	snprintf(path, sizeof(path), "%.*s/%s", (int)plen, walk_ctx->prefix, rel);
	/* A receiver's own files (its database when --dir is a receiver's
	 * root) are never content: skip them, as the receiver would refuse. */
	if (mtls_path_reserved(path)) {
		walk_ctx->skipped++;
		return 0;
	}
	if (mtls_queue_enqueue(walk_ctx->q, walk_ctx->targets,
		walk_ctx->ntargets, walk_ctx->action, path, fpath, NULL,
		&walk_ctx->err) != 0) {
		return 1;
	}
	walk_ctx->count++;
	return walk_ctx->mirror ? seen_add(walk_ctx, path) : 0;
}

static int
enqueue_args(struct push *p, char **items, int nitems)
{
	int i;

	for (i = 0; i < nitems; i++) {
		char *eq = strchr(items[i], '=');
		const char *file = NULL;

		if (p->action == MTLS_ACTION_ACTIVATE) {
			if (eq == NULL) {
				return mtls_err_set(&p->err, MTLS_E_USAGE,
				    "'%s': activate items are PATH=FILE", items[i]);
			}
			*eq = '\0';
			file = eq + 1;
		} else if (eq != NULL) {
			return mtls_err_set(&p->err, MTLS_E_USAGE,
			    "'%s': deactivate items are just PATH", items[i]);
		}
		if (mtls_queue_enqueue(p->q, p->targets, p->ntargets, p->action,
			items[i], file, NULL, &p->err) != 0) {
			return -1;
		}
		p->count++;
	}
	if (p->dir != NULL) {
		walk_ctx = p;
		if (nftw(p->dir, walk_one, 32, FTW_PHYS) != 0) {
			if (p->err.msg[0] == '\0') {
				mtls_err_sys(&p->err, MTLS_E_IO, "cannot walk %s",
				    p->dir);
			}
			return -1;
		}
	}
	if (p->mirror && mirror_deletions(p) != 0) {
		return -1;
	}
	return 0;
}

/* Stores every item in one transaction: all or none are enqueued. */
static int
enqueue_all(struct push *p, const char *state, char **items, int nitems)
{
	if (p->mirror && mirror_manifest_path(p, state) != 0) {
		return -1;
	}
	p->q = mtls_queue_open(state, 1, &p->err);
	if (p->q == NULL) {
		return -1;
	}
	if (mtls_queue_begin(p->q, &p->err) != 0) {
		goto fail;
	}
	if (enqueue_args(p, items, nitems) != 0) {
		mtls_queue_rollback(p->q);
		goto fail;
	}
	if (mtls_queue_commit(p->q, &p->err) != 0) {
		goto fail;
	}
	mtls_queue_close(p->q);
	p->q = NULL;
	/* After the commit: a run killed in between enqueues the same
	 * Deactivate items again, which receivers apply once. */
	return p->mirror ? mirror_save(p) : 0;
fail:
	mtls_queue_close(p->q);
	p->q = NULL;
	return -1;
}

static int
parse_seconds(const char *opt, const char *val, double *out)
{
	char *end = NULL;
	double v = strtod(val, &end);

	if (end == val || *end != '\0' || !(v > 0) || v > 1e7) {
		return cli_usage("push", "%s must be a positive number of seconds, "
					 "not '%s'", opt, val);
	}
	*out = v;
	return 0;
}

/* What the command gives the agent, kept to report on the run. */
struct agent_args {
	const char *state;
	const char *cert, *key, *key_pass, *ca;
	int wait, verbose;
	double deadline_s, retry_max_s;
	const char *resolve;
	struct mtls_revocation_opts rev;
};

static int
report(const struct agent_args *ao, const struct mtls_agent_result *r)
{
	if (r->other_agent) {
		fprintf(stderr, "mtls push: another agent is delivering from %s; "
				"%ld item(s) pending\n", ao->state, r->pending);
	} else {
		fprintf(stderr, "mtls push: delivered %ld, failed %ld, pending "
				"%ld\n", r->delivered, r->failed, r->pending);
	}
	if (r->failed > 0) {
		fprintf(stderr, "mtls push: %ld item(s) failed for good; see "
				"'mtls queue --state %s'\n", r->failed, ao->state);
		return 1;
	}
	if (r->pending > 0 && ao->wait) {
		fprintf(stderr, "mtls push: deadline reached with %ld item(s) "
				"pending; they stay queued in %s\n", r->pending,
		    ao->state);
		return 1;
	}
	if (r->pending > 0) {
		fprintf(stderr, "mtls push: %ld item(s) stay queued in %s; run "
				"'mtls push' again, or use --wait\n", r->pending,
		    ao->state);
	}
	return 0;
}

/* The agent's configuration from AO; NULL with ERR when a setter refuses. */
static struct mtls_agent_config *
agent_config(const struct agent_args *ao, struct mtls_err *err)
{
	struct mtls_agent_config *cfg = mtls_agent_config_new(err);

	if (cfg == NULL ||
	    mtls_agent_config_set_state_dir(cfg, ao->state, err) != 0 ||
	    mtls_agent_config_set_cert_file(cfg, ao->cert, err) != 0 ||
	    mtls_agent_config_set_key_file(cfg, ao->key, ao->key_pass,
		err) != 0 ||
	    mtls_agent_config_set_ca_file(cfg, ao->ca, err) != 0 ||
	    mtls_agent_config_set_resolve(cfg, ao->resolve, err) != 0 ||
	    mtls_agent_config_set_revocation(cfg, &ao->rev, err) != 0 ||
	    (ao->deadline_s > 0 &&
		mtls_agent_config_set_deadline(cfg, ao->deadline_s, err) != 0) ||
	    (ao->retry_max_s > 0 &&
		mtls_agent_config_set_retry_max(cfg, ao->retry_max_s,
		    err) != 0)) {
		mtls_agent_config_free(cfg);
		return NULL;
	}
	mtls_agent_config_set_wait(cfg, ao->wait);
	mtls_agent_config_set_log(cfg, stderr, ao->verbose);
	return cfg;
}

/* The --resolve list; static so no exit path leaks it. */
static char *resolve_list;

int
cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"key-pass", required_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'a'},
		{"state", required_argument, NULL, 's'},
		{"action", required_argument, NULL, 'A'},
		{"dir", required_argument, NULL, 'd'},
		{"prefix", required_argument, NULL, 'P'},
		{"mirror", no_argument, NULL, 'M'},
		{"wait", no_argument, NULL, 'w'},
		{"deadline", required_argument, NULL, 'D'},
		{"retry-max", required_argument, NULL, 'R'},
		{"verbose", no_argument, NULL, 'v'},
		{"resolve", required_argument, NULL, 'r'},
		REV_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct agent_args ao;
	struct mtls_agent_config *cfg = NULL;
	struct mtls_agent_result res;
	struct push p;
	char statebuf[4096], **targets = NULL, **items = NULL;
	const char *state_opt = NULL;
	int c, i, a, ntargets = 0, nitems = 0, rc = 1;

	memset(&ao, 0, sizeof(ao));
	memset(&p, 0, sizeof(p));
	p.prefix = "/content";
	p.action = MTLS_ACTION_ACTIVATE;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		int r = rev_opt("push", c, optarg, &ao.rev);

		if (r != 1) {
			if (r != 0) {
				return r;
			}
			continue;
		}
		switch (c) {
		case 'c': ao.cert = optarg; break;
		case 'k': ao.key = optarg; break;
		case 'p': ao.key_pass = optarg; break;
		case 'a': ao.ca = optarg; break;
		case 's': state_opt = optarg; break;
		case 'A':
			a = mtls_action_parse(optarg);
			if (a != MTLS_ACTION_ACTIVATE &&
			    a != MTLS_ACTION_DEACTIVATE) {
				return cli_usage("push", "--action is activate or "
							 "deactivate, not '%s'", optarg);
			}
			p.action = (enum mtls_action)a;
			break;
		case 'd': p.dir = optarg; break;
		case 'P': p.prefix = optarg; break;
		case 'M': p.mirror = 1; break;
		case 'w': ao.wait = 1; break;
		case 'D':
			if (parse_seconds("--deadline", optarg, &ao.deadline_s) != 0) {
				return 2;
			}
			break;
		case 'R':
			if (parse_seconds("--retry-max", optarg, &ao.retry_max_s) != 0) {
				return 2;
			}
			break;
		case 'v': ao.verbose = 1; break;
		case 'r':
			if (cli_resolve_add("push", &resolve_list, optarg) != 0) {
				return 2;
			}
			break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("push");
		}
	}
	if (ao.cert == NULL || ao.key == NULL || ao.ca == NULL) {
		return cli_usage("push", "--cert, --key and --ca are required");
	}
	if (cli_resolve_env("push", &resolve_list) != 0 ||
	    rev_opts_done("push", &ao.rev) != 0) {
		return 2;
	}
	ao.resolve = resolve_list;
	if (ao.deadline_s > 0 && !ao.wait) {
		return cli_usage("push", "--deadline needs --wait");
	}
	if (p.mirror && (p.dir == NULL || p.action != MTLS_ACTION_ACTIVATE)) {
		return cli_usage("push", "--mirror goes with --dir (and the "
		    "default --action activate)");
	}
	if (p.prefix[0] != '/') {
		return cli_usage("push", "--prefix must be absolute, not '%s'",
		    p.prefix);
	}
	ao.state = cli_state_dir(state_opt, statebuf, sizeof(statebuf));
	if (ao.state == NULL) {
		return cli_usage("push", "give --state DIR (neither XDG_STATE_HOME "
					 "nor HOME is set)");
	}
	targets = calloc((size_t)argc + 1, sizeof(*targets));
	items = calloc((size_t)argc + 1, sizeof(*items));
	if (targets == NULL || items == NULL) {
		fprintf(stderr, "mtls push: out of memory\n");
		goto out;
	}
	for (i = optind; i < argc; i++) {
		if (strncasecmp(argv[i], "https://", 8) == 0 ||
		    strncasecmp(argv[i], "http://", 7) == 0) {
			struct mtls_url u;
			char norm[1400];

			if (mtls_url_parse(argv[i], &u, &p.err) != 0) {
				rc = cli_fail(&p.err);
				goto out;
			}
			mtls_url_format(&u, norm, sizeof(norm));
			targets[ntargets++] = strdup(norm);
			if (targets[ntargets - 1] == NULL) {
				goto out;
			}
		} else {
			items[nitems++] = argv[i];
		}
	}
	if ((nitems > 0 || p.dir != NULL) && ntargets == 0) {
		rc = cli_usage("push", "items need at least one receiver URL");
		goto out;
	}
	p.targets = (const char *const *)targets;
	p.ntargets = (size_t)ntargets;
	if ((nitems > 0 || p.dir != NULL) &&
	    enqueue_all(&p, ao.state, items, nitems) != 0) {
		rc = cli_fail(&p.err);
		goto out;
	}
	if (p.count > 0) {
		fprintf(stderr, "mtls push: enqueued %ld item(s) for %d "
				"receiver(s) in %s\n", p.count, ntargets, ao.state);
	}
	if (p.deleted > 0) {
		fprintf(stderr, "mtls push: --mirror: %ld file(s) gone from %s "
				"will be deleted on the receivers\n", p.deleted,
		    p.dir);
	}
	if (p.skipped > 0) {
		fprintf(stderr, "mtls push: skipped %ld file(s) named .mtls* "
				"(a receiver's own state, never content)\n", p.skipped);
	}
	cfg = agent_config(&ao, &p.err);
	if (cfg == NULL) {
		rc = p.err.code == MTLS_E_USAGE ? cli_usage("push", "%s",
		    p.err.msg) : cli_fail(&p.err);
		goto out;
	}
	/* A receiver that rejects us may close the socket while we write:
	 * that must be an error we explain, not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (mtls_agent_run(cfg, &res, &p.err) != 0) {
		rc = cli_fail(&p.err);
		goto out;
	}
	rc = report(&ao, &res);
out:
	mtls_agent_config_free(cfg);
	for (i = 0; targets != NULL && i < ntargets; i++) {
		free(targets[i]);
	}
	free(targets);
	free(items);
	for (i = 0; i < (int)p.nseen; i++) {
		free(p.seen[i]);
	}
	free(p.seen);
	return rc;
}
