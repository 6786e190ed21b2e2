/* mtls token create | list | revoke, mtls audit */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/token.h"
#include "audit_verify.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls token create NAME [--profile P] [--san LIST] [--ttl D]\n"
    "                         [--cert-lifetime D] [--ca-dir DIR]\n"
    "       mtls token create --batch FILE [--profile P] [--ttl D]\n"
    "                         [--cert-lifetime D] [--ca-dir DIR]\n"
    "       mtls token list [--all] [--json] [--ca-dir DIR]\n"
    "       mtls token revoke ID|NAME [--ca-dir DIR]\n"
    "\n"
    "A token lets one node enroll once with 'mtls enroll' (EST simpleenroll,\n"
    "HTTP Basic authentication with NAME and the secret). It is bound to NAME,\n"
    "a profile, the SANs the certificate may carry and a lifetime. create\n"
    "prints the secret on standard output, once; the CA keeps only its hash.\n"
    "\n"
    "  --profile P         node (default), client or server\n"
    "  --san LIST          SANs the node may ask for (dns:..,ip:..); default\n"
    "                      dns:NAME for node and server\n"
    "  --ttl D             how long the token can be used (default 30m; 2h, 7d)\n"
    "  --cert-lifetime D   lifetime of the certificate it pays for (default:\n"
    "                      the server's --cert-lifetime)\n"
    "  --batch FILE        many tokens in one transaction: one line per token,\n"
    "                      'NAME [--san LIST] [--profile P] [--ttl D]\n"
    "                      [--cert-lifetime D]' ('#' starts a comment; the\n"
    "                      command's options are the defaults); prints one\n"
    "                      'NAME SECRET' line per token, in the file's order.\n"
    "                      A bad line stops the batch before any token is made\n"
    "  --all               list used, revoked and expired tokens too\n"
    "  --ca-dir DIR        the CA (default $MTLS_CA_DIR or ./pki)\n"
    "\n"
    "exit status: 0 made, listed or revoked; 1 failed (nothing made);\n"
    "2 usage (a bad option or batch line)\n"
    "\n"
    "examples:\n"
    "  T=$(mtls token create node1 --san dns:node1.internal,ip:10.0.0.5 --ttl 1h)\n"
    "  printf 'node1\\nnode2 --san dns:node2,ip:10.0.0.6\\n' > fleet.txt\n"
    "  mtls token create --batch fleet.txt --ttl 2h > fleet.tokens\n";

static const char audit_usage[] =
    "usage: mtls audit [--json] [--last N] [--ca-dir DIR]\n"
    "       mtls audit verify FILE...   (the receiver's audit log; see\n"
    "                                   mtls audit verify --help)\n"
    "\n"
    "Prints the CA's audit trail: every certificate the online CA issued and\n"
    "every request it refused, every token made or revoked - when, who (peer\n"
    "address and token or certificate), what, and why.\n"
    "\n"
    "  --json      one JSON array\n"
    "  --last N    only the last N events\n";

/* "operator NAME" for the audit trail: the local account running mtls. */
static void
operator_name(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	snprintf(buf, len, "operator %s", pw != NULL ? pw->pw_name : "?");
}

struct token_line {
	struct mtls_token_spec sp;
	int lineno;
};

/* One batch line: NAME and its options over the defaults in *SP. */
static int
batch_line(char *line, const char *file, int lineno,
    struct mtls_token_spec *sp, struct mtls_err *err)
{
	char *opt, *val;
	long *dur;
	struct mtls_err perr;

	sp->name = cli_next_field(&line);
	while ((opt = cli_next_field(&line)) != NULL) {
		val = cli_next_field(&line);
		if (val == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE, "%s line %d: %s "
			    "wants a value", file, lineno, opt);
		}
		if (strcmp(opt, "--san") == 0) {
			sp->sans = val;
			continue;
		}
		if (strcmp(opt, "--profile") == 0) {
			if (mtls_profile_parse(val, &sp->profile, &perr) != 0 ||
			    sp->profile == MTLS_PROFILE_OCSP) {
				return mtls_err_set(err, MTLS_E_USAGE, "%s line %d: "
				    "--profile is node, client or server, not '%s'",
				    file, lineno, val);
			}
			continue;
		}
		dur = strcmp(opt, "--ttl") == 0 ? &sp->ttl
		    : strcmp(opt, "--cert-lifetime") == 0 ? &sp->cert_lifetime
		    : NULL;
		if (dur == NULL) {
			return mtls_err_set(err, MTLS_E_USAGE, "%s line %d: unknown "
			    "option '%s' (a line is 'NAME [--san LIST] [--profile P] "
			    "[--ttl D] [--cert-lifetime D]')", file, lineno, opt);
		}
		if (cli_duration(val, dur) != 0 || (dur == &sp->ttl && *dur <= 0)) {
			return mtls_err_set(err, MTLS_E_USAGE, "%s line %d: %s wants "
			    "a duration like 30m, 12h or 7d, not '%s'", file,
			    lineno, opt, val);
		}
	}
	return 0;
}

/* Reads every line of FILE before anything is made, so a typo on line
 * 4,000 stops the batch with nothing recorded. */
static int
batch_read(const char *file, const struct mtls_token_spec *base,
    unsigned char **text, struct token_line **out, size_t *count,
    struct mtls_err *err)
{
	struct token_line *lines = NULL, *nl;
	size_t len = 0, n = 0, cap = 0;
	char *line, *next;
	int lineno = 0;

	if (mtls_file_read(file, 64u << 20, text, &len, err) != 0) {
		return -1;
	}
	for (line = (char *)*text; line != NULL; line = next) {
		struct token_line tl;
		char *cut;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		if ((cut = strchr(line, '#')) != NULL) {
			*cut = '\0';
		}
		tl.sp = *base;
		tl.lineno = lineno;
		if (batch_line(line, file, lineno, &tl.sp, err) != 0) {
			goto fail;
		}
		if (tl.sp.name == NULL) {
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			nl = realloc(lines, cap * sizeof(*nl));
			if (nl == NULL) {
				mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
				goto fail;
			}
			lines = nl;
		}
		lines[n++] = tl;
	}
	if (n == 0) {
		mtls_err_set(err, MTLS_E_USAGE, "%s has no entries (one 'NAME "
		    "[--san LIST] ...' per line)", file);
		goto fail;
	}
	*out = lines;
	*count = n;
	return 0;
fail:
	free(lines);
	return -1;
}

/* All tokens in one transaction: every one is made, or none. The
 * secrets are printed only once the transaction has committed. */
static int
token_batch(struct mtls_ca *ca, const char *file,
    const struct mtls_token_spec *base, struct mtls_err *err)
{
	struct token_line *lines = NULL;
	unsigned char *text = NULL;
	char **secrets = NULL, id[MTLS_TOKEN_ID_LEN], msg[MTLS_ERR_MSG_MAX];
	size_t i, n = 0, made = 0;
	int rc = -1;

	if (batch_read(file, base, &text, &lines, &n, err) != 0) {
		goto out;
	}
	secrets = calloc(n, sizeof(*secrets));
	if (secrets == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (mtls_ca_begin(ca, err) != 0) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (mtls_token_create(ca, &lines[i].sp, id, &secrets[i], err) != 0) {
			snprintf(msg, sizeof(msg), "%s", err->msg);
			mtls_err_set(err, err->code, "%s line %d (%s): %s; no token "
			    "was made", file, lines[i].lineno, lines[i].sp.name, msg);
			mtls_ca_rollback(ca);
			goto out;
		}
	}
	if (mtls_ca_commit(ca, err) != 0) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		printf("%s %s\n", lines[i].sp.name, secrets[i]);
	}
	made = n;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mtls_err_sys(err, MTLS_E_IO, "cannot write the secrets to "
		    "standard output (the %zu tokens are made: revoke them with "
		    "'mtls token revoke NAME')", n);
		goto out;
	}
	fprintf(stderr, "%zu tokens made from %s, each usable once\n", made, file);
	rc = 0;
out:
	for (i = 0; secrets != NULL && i < n; i++) {
		mtls_pass_free(secrets[i]);
	}
	free(secrets);
	free(lines);
	free(text);
	return rc;
}

static int
token_create(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, 'p'},
	    {"san", required_argument, NULL, 's'},
	    {"ttl", required_argument, NULL, 't'},
	    {"cert-lifetime", required_argument, NULL, 'l'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"batch", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_token_spec sp;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL, *batch = NULL;
	char id[MTLS_TOKEN_ID_LEN], who[160], until[40], *secret = NULL;
	int c, rc = 1;

	memset(&sp, 0, sizeof(sp));
	mtls_err_clear(&err);
	sp.profile = MTLS_PROFILE_NODE;
	sp.ttl = 1800;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (mtls_profile_parse(optarg, &sp.profile, &err) != 0) {
				return cli_fail(&err);
			}
			break;
		case 's': sp.sans = optarg; break;
		case 't':
			if (cli_parse_duration("token create", "--ttl", optarg, &sp.ttl) != 0) {
				return 2;
			}
			break;
		case 'l':
			if (cli_parse_duration("token create", "--cert-lifetime", optarg,
				&sp.cert_lifetime) != 0) {
				return 2;
			}
			break;
		case 'd': dir = optarg; break;
		case 'b': batch = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("token create");
		}
	}
	if (batch != NULL && (optind != argc || sp.sans != NULL)) {
		return cli_usage("token create", "with --batch, names and --san "
		    "go in the file, one token a line");
	}
	if (batch == NULL && optind + 1 != argc) {
		return cli_usage("token create", "give exactly one NAME (or "
		    "--batch FILE)");
	}
	if (sp.profile == MTLS_PROFILE_OCSP) {
		return cli_usage("token create", "--profile ocsp cannot be enrolled; "
		    "use node, client or server");
	}
	if (sp.ttl <= 0) {
		return cli_usage("token create", "--ttl must be longer than 0");
	}
	operator_name(who, sizeof(who));
	sp.created_by = who;
	if (batch != NULL) {
		ca = mtls_ca_open(cli_ca_dir(dir), &err);
		rc = ca != NULL && token_batch(ca, batch, &sp, &err) == 0 ? 0
		    : cli_fail(&err);
		mtls_ca_free(ca);
		return rc;
	}
	sp.name = argv[optind];
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL || mtls_token_create(ca, &sp, id, &secret, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	cli_utc(time(NULL) + sp.ttl, until, sizeof(until));
	fprintf(stderr, "token %s for '%s' (profile %s), usable once until %s\n",
	    id, sp.name, mtls_profile_name(sp.profile), until);
	printf("%s\n", secret);
	rc = 0;
out:
	mtls_pass_free(secret);
	mtls_ca_free(ca);
	return rc;
}

static const char *
token_state(const struct mtls_token *t, time_t now)
{
	if (t->used_at != 0) {
		return "used";
	}
	if (t->revoked_at != 0) {
		return "revoked";
	}
	return now >= t->expires_at ? "expired" : "usable";
}

struct list_ctx {
	json_t *arr; /* NULL: text */
	time_t now;
};

static int
print_token(const struct mtls_token *t, void *arg)
{
	struct list_ctx *lc = arg;
	char exp[40], used[40];
	json_t *o;

	cli_utc(t->expires_at, exp, sizeof(exp));
	cli_utc(t->used_at, used, sizeof(used));
	if (lc->arr == NULL) {
		printf("%-16s  %-20s %-7s %-8s expires %s  sans %s%s%s\n", t->id,
		    t->name, t->profile, token_state(t, lc->now), exp,
		    t->sans[0] ? t->sans : "-", t->used_serial[0] ? "  cert " : "",
		    t->used_serial);
		return 0;
	}
	o = json_object();
	json_object_set_new(o, "id", json_string(t->id));
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "profile", json_string(t->profile));
	json_object_set_new(o, "sans", cli_json_list(t->sans));
	json_object_set_new(o, "state", json_string(token_state(t, lc->now)));
	json_object_set_new(o, "created_at", cli_json_time(t->created_at));
	json_object_set_new(o, "created_by", json_string(t->created_by));
	json_object_set_new(o, "expires_at", cli_json_time(t->expires_at));
	json_object_set_new(o, "cert_lifetime_seconds", json_integer(t->cert_lifetime));
	if (t->used_at != 0) {
		json_object_set_new(o, "used_at", cli_json_time(t->used_at));
		json_object_set_new(o, "used_serial", json_string(t->used_serial));
	}
	if (t->revoked_at != 0) {
		json_object_set_new(o, "revoked_at", cli_json_time(t->revoked_at));
	}
	json_array_append_new(lc->arr, o);
	return 0;
}

static int
token_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	struct list_ctx lc = {NULL, 0};
	const char *dir = NULL;
	int c, all = 0, json = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'd': dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("token list");
		}
	}
	if (optind != argc) {
		return cli_usage("token list", "unexpected argument '%s'", argv[optind]);
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	lc.now = time(NULL);
	lc.arr = json ? json_array() : NULL;
	rc = mtls_token_list(ca, all, lc.now, print_token, &lc, &err);
	if (rc == 0 && json) {
		json_dumpf(lc.arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(lc.arr);
	mtls_ca_free(ca);
	return rc == 0 ? 0 : cli_fail(&err);
}

static int
token_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	char who[160];
	int c, n = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("token revoke");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("token revoke", "give exactly one token ID or NAME");
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	operator_name(who, sizeof(who));
	rc = mtls_token_revoke(ca, argv[optind], who, &n, &err);
	mtls_ca_free(ca);
	if (rc != 0) {
		return cli_fail(&err);
	}
	printf("revoked %d token%s for '%s'\n", n, n == 1 ? "" : "s", argv[optind]);
	return 0;
}

int
cmd_token(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		return cli_help(usage);
	}
	if (strcmp(argv[1], "create") == 0) {
		return token_create(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "list") == 0) {
		return token_list(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "revoke") == 0) {
		return token_revoke(argc - 1, argv + 1);
	}
	return cli_usage("token", "unknown action '%s' (use create, list or revoke)",
	    argv[1]);
}

static int
print_event(const struct mtls_audit_event *e, void *arg)
{
	json_t *arr = arg, *o;
	char at[40], id[32];

	cli_utc(e->at, at, sizeof(at));
	if (arr == NULL) {
		printf("%s  %-14s %-8s %-16s %s%s%s  by %s\n", at, e->action,
		    e->outcome, e->name[0] ? e->name : "-",
		    e->serial[0] ? "serial " : "", e->serial,
		    e->reason[0] ? (e->serial[0] ? "; " : "") : "", e->actor);
		if (e->reason[0] != '\0') {
			printf("    why: %s\n", e->reason);
		}
		return 0;
	}
	o = json_object();
	snprintf(id, sizeof(id), "%lld", (long long)e->id);
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "time", cli_json_time(e->at));
	json_object_set_new(o, "actor", json_string(e->actor));
	json_object_set_new(o, "action", json_string(e->action));
	json_object_set_new(o, "name", e->name[0] ? json_string(e->name) : json_null());
	json_object_set_new(o, "serial", e->serial[0] ? json_string(e->serial) : json_null());
	json_object_set_new(o, "outcome", json_string(e->outcome));
	json_object_set_new(o, "reason", e->reason[0] ? json_string(e->reason) : json_null());
	json_array_append_new(arr, o);
	return 0;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"last", required_argument, NULL, 'n'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	json_t *arr = NULL;
	long last = 0;
	int c, json = 0, rc;

	mtls_err_clear(&err);
	if (argc > 1 && strcmp(argv[1], "verify") == 0) {
		return audit_verify(argc - 1, argv + 1);
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; cli_json_errors(); break;
		case 'n':
			if (cli_parse_int("audit", "--last", optarg, 1, 100000000, &last) != 0) {
				return 2;
			}
			break;
		case 'd': dir = optarg; break;
		case 'h': return cli_help(audit_usage);
		default: return cli_bad_option("audit");
		}
	}
	if (optind != argc) {
		return cli_usage("audit", "unexpected argument '%s'", argv[optind]);
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL) {
		return cli_fail(&err);
	}
	arr = json ? json_array() : NULL;
	rc = mtls_audit_list(ca, last, print_event, arr, &err);
	if (rc == 0 && json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	mtls_ca_free(ca);
	return rc == 0 ? 0 : cli_fail(&err);
}
