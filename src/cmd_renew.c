/* mtls renew, mtls rotate */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/pass.h"
#include "cli.h"
#include "deploy.h"

static const char renew_usage[] =
    "usage: mtls renew NAME [--days N] [--reuse-key] [--revoke-old] [--out DIR]\n"
    "                  [--key-pass SPEC] [--store-pass SPEC] [--ca-dir DIR]\n"
    "                  [--ca-pass SPEC] [--json]\n"
    "\n"
    "Issues a new certificate for NAME with the same subject, SANs and profile\n"
    "(a new key unless --reuse-key), records it as superseding the old one, and\n"
    "replaces NAME.key, NAME.crt and NAME.chain.pem atomically in DIR, by\n"
    "default the directory NAME was issued into. Then every copy the inventory\n"
    "records ('mtls export' keystores and PEM/DER files, 'mtls bundle'\n"
    "directories) is written again from the new files, each atomically and\n"
    "with the options it was made with: a Tomcat or nginx bundle carries the\n"
    "new certificate as soon as renew returns. A running 'mtls serve' picks\n"
    "the new files up on SIGHUP or when they change; other servers need\n"
    "their reload (nginx -s reload, systemctl reload ...).\n"
    "\n"
    "  --days N        validity (default 397)\n"
    "  --reuse-key     keep DIR/NAME.key (must match the current certificate)\n"
    "  --revoke-old    revoke the old certificate with reason superseded\n"
    "  --out DIR       where NAME's files live (default: where NAME was issued,\n"
    "                  else .)\n"
    "  --key-pass SPEC password of an encrypted NAME.key (and of the new one)\n"
    "  --store-pass SPEC password of recorded keystores whose password was\n"
    "                  given as pass:, fd: or stdin (never recorded)\n"
    "  --json          print {name, files, certificate} on stdout, with the\n"
    "                  error object when copies kept the old certificate\n"
    "                  (docs/json.md)\n"
    "\n"
    "A certificate signed from a partner's CSR is refused: the partner holds\n"
    "its key; sign the partner's new CSR with 'mtls sign NEW.csr --name NAME\n"
    "--renew'. A name held both by one of ours and by a partner's certificate\n"
    "(an inventory from before names were unique) is refused as ambiguous.\n"
    "\n"
    "Exit status: 0 renewed and every recorded copy rewritten, 1 refused or\n"
    "failed (a copy that could not be rewritten is named with the command\n"
    "that writes it), 2 usage error.\n"
    "\n"
    "examples:\n"
    "  mtls renew publish --revoke-old\n"
    "  mtls renew publish --out /etc/mtls\n"
    "  mtls renew tomcat --store-pass env:STORE_PASS\n";

static const char rotate_usage[] =
    "usage: mtls rotate --expiring DURATION [--days N] [--revoke-old] [--out DIR]\n"
    "                   [--store-pass SPEC] [--ca-dir DIR] [--ca-pass SPEC]\n"
    "                   [--dry-run] [--json]\n"
    "\n"
    "Renews every current certificate that expires within DURATION (30d, 2w,\n"
    "12h), with new keys, writing each one's files where it was issued (or\n"
    "into DIR with --out) and rewriting every recorded copy of it, as 'mtls\n"
    "renew' does. A progress bar shows on\n"
    "a terminal. --dry-run lists what would be renewed. Certificates signed\n"
    "from a partner's CSR are skipped and listed: the partner holds their\n"
    "keys, so only a new CSR renews them ('mtls sign NEW.csr --name NAME\n"
    "--renew'); so are intermediate CAs ('mtls ca sign-intermediate').\n"
    "A copy that cannot be written again (say a keystore whose password was\n"
    "given as pass: and no --store-pass) is named with the command that\n"
    "rewrites it, and rotate goes on with the other certificates.\n"
    "\n"
    "--json prints {dry_run, due, renewed, skipped} on stdout: the names due,\n"
    "each renewed identity as 'mtls renew --json' prints it, each skipped\n"
    "one {name, reason}, and the error object when it failed (docs/json.md).\n"
    "\n"
    "Exit status: 0 when every due certificate and every recorded copy was\n"
    "renewed, 1 on an error or when some copies still hold the old\n"
    "certificate (all of them named), 2 for a usage error.\n"
    "\n"
    "examples:\n"
    "  mtls rotate --expiring 30d --dry-run\n"
    "  mtls rotate --expiring 30d --revoke-old\n";

struct renew_args {
	struct mtls_renew_opts ro;
	const char *ca_dir, *ca_pass, *key_pass_spec, *store_pass;
	long window;
	int dry_run, json;
	json_t *renewed; /* --json: the renewed identities */
};

static int
parse_common(int argc, char **argv, const char *cmd, const char *usage,
    struct renew_args *a)
{
	static const struct option opts[] = {
	    {"days", required_argument, NULL, 'D'},
	    {"reuse-key", no_argument, NULL, 'r'},
	    {"revoke-old", no_argument, NULL, 'R'},
	    {"out", required_argument, NULL, 'o'},
	    {"key-pass", required_argument, NULL, 'K'},
	    {"store-pass", required_argument, NULL, 'S'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"expiring", required_argument, NULL, 'e'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long days;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			if (cli_parse_int(cmd, "--days", optarg, 1, 36500, &days) != 0) {
				return 2;
			}
			a->ro.days = (int)days;
			break;
		case 'r': a->ro.reuse_key = 1; break;
		case 'R': a->ro.revoke_old = 1; break;
		case 'o': a->ro.out_dir = optarg; break;
		case 'K': a->key_pass_spec = optarg; break;
		case 'S': a->store_pass = optarg; break;
		case 'd': a->ca_dir = optarg; break;
		case 'p': a->ca_pass = optarg; break;
		case 'e':
			if (cli_parse_duration(cmd, "--expiring", optarg, &a->window) != 0) {
				return 2;
			}
			break;
		case 'n': a->dry_run = 1; break;
		case 'j': a->json = 1; cli_json_errors(); break;
		case 'h': cli_help(usage); return -1;
		default: return cli_bad_option(cmd);
		}
	}
	return 0;
}

/* Renews NAME and writes its recorded copies again. Returns 0; -1 when
 * the renewal itself failed (nothing changed); 1 when NAME was renewed but
 * some copies were not rewritten (each named on stderr). */
static int
renew_one(struct mtls_ca *ca, const char *name, const struct renew_args *a,
    int quiet, struct mtls_err *err)
{
	struct mtls_fileset *fs = mtls_fileset_new(1, err);
	struct mtls_renew_opts ro = a->ro;
	struct deploy_redo redo;
	X509 *cert = NULL;
	char *serial = NULL, what[256], recorded[4096];
	int rc = -1, failed, saved;

	if (fs == NULL || cli_ca_lock(ca, err) != 0 || mtls_ca_begin(ca, err) != 0) {
		mtls_fileset_free(fs);
		return -1;
	}
	/* Where NAME was issued, unless told otherwise: a guide's servers/NAME/
	 * stays servers/NAME/. */
	if (ro.out_dir == NULL && deploy_files_dir(ca, name, recorded,
	    sizeof(recorded)) == 0) {
		ro.out_dir = recorded;
	}
	snprintf(what, sizeof(what), "renew %s", name);
	cert = mtls_identity_renew(ca, name, &ro, fs, err);
	if (cert == NULL) {
		mtls_ca_rollback(ca);
		goto out;
	}
	if (mtls_ca_commit_files(ca, fs, what, err) != 0) {
		goto out;
	}
	serial = mtls_cert_serial_hex(cert);
	if (a->renewed != NULL) {
		json_array_append_new(a->renewed, cli_json_identity(name, NULL,
		    ro.out_dir ? ro.out_dir : ".", 0, cert));
	}
	if (!quiet && !a->json) {
		printf("renewed %s: new serial %s in %s/%s.crt%s\n", name,
		    serial ? serial : "?", ro.out_dir ? ro.out_dir : ".", name,
		    ro.revoke_old ? " (old one revoked: superseded)" : "");
	}
	deploy_note_ca(ca, name, ro.out_dir ? ro.out_dir : ".", "files", "");
	/* The copies are written by the export and bundle writers, which
	 * read the inventory themselves: the CA lock is not needed for them. */
	mtls_ca_release(ca);
	memset(&redo, 0, sizeof(redo));
	redo.files_dir = ro.out_dir ? ro.out_dir : ".";
	redo.key_pass = a->key_pass_spec;
	redo.store_pass = a->store_pass;
	redo.ca_dir = mtls_ca_dir(ca);
	/* The export and bundle writers print their own lines: with --json
	 * they go to stderr, stdout keeps one document. */
	saved = a->json ? cli_stdout_aside() : -1;
	failed = deploy_rewrite(ca, name, &redo);
	cli_stdout_back(saved);
	if (failed > 0) {
		mtls_err_set(err, MTLS_E_IO, "%s was renewed, but %d recorded "
		    "cop%s of it still hold%s the old certificate (see above)",
		    name, failed, failed == 1 ? "y" : "ies", failed == 1 ? "s" : "");
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(serial);
	X509_free(cert);
	mtls_fileset_free(fs);
	return rc;
}

static struct mtls_ca *
open_unlocked(struct renew_args *a, char **key_pass, struct mtls_err *err)
{
	struct mtls_ca *ca;

	if (a->key_pass_spec != NULL) {
		*key_pass = mtls_pass_get(a->key_pass_spec, NULL, 0, err);
		if (*key_pass == NULL) {
			return NULL;
		}
		a->ro.key_pass = *key_pass;
	}
	ca = mtls_ca_open(cli_ca_dir(a->ca_dir), err);
	if (ca != NULL && mtls_ca_unlock(ca, a->ca_pass, err) != 0) {
		mtls_ca_free(ca);
		ca = NULL;
	}
	return ca;
}

int
cmd_renew(int argc, char **argv)
{
	struct renew_args a;
	struct mtls_err err;
	struct mtls_ca *ca;
	char *key_pass = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_err_clear(&err);
	rc = parse_common(argc, argv, "renew", renew_usage, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	if (optind + 1 != argc) {
		return cli_usage("renew", "give exactly one NAME");
	}
	/* Like issue: --out names a directory that is created when missing. */
	if (a.ro.out_dir != NULL && mtls_mkdir_p(a.ro.out_dir, 0755, &err) != 0) {
		return cli_fail(&err);
	}
	ca = open_unlocked(&a, &key_pass, &err);
	if (a.json) {
		a.renewed = json_array();
	}
	rc = ca != NULL ? renew_one(ca, argv[optind], &a, 0, &err) : -1;
	if (a.json && json_array_size(a.renewed) == 1) {
		/* Renewed: the identity, and why copies were left behind. */
		json_t *v = json_incref(json_array_get(a.renewed, 0));

		rc = cli_json_report(v, rc != 0 ? &err : NULL);
	} else {
		rc = rc == 0 ? 0 : cli_fail(&err);
	}
	json_decref(a.renewed);
	mtls_ca_free(ca);
	mtls_pass_free(key_pass);
	return rc;
}

struct due {
	char **names;
	size_t n, cap;
	time_t limit;
	size_t partner; /* due, but signed from a partner's CSR (or an
	                   intermediate's) */
	json_t *skipped; /* --json: {name, reason} of those */
};

/* A due certificate that rotate cannot renew: said on stdout, or kept for
 * the --json report. */
static void
skip_due(struct due *d, const char *name, const char *why, const char *hint)
{
	d->partner++;
	if (d->skipped != NULL) {
		json_array_append_new(d->skipped, json_pack("{s:s, s:s}", "name",
		    name, "reason", why));
		return;
	}
	printf("skipped %s: %s; %s\n", name, why, hint);
}

static int
collect_due(const struct mtls_inv_entry *e, void *arg)
{
	struct due *d = arg;
	size_t i;

	if (strcmp(e->status, "valid") != 0 || e->superseded_by != NULL ||
	    e->not_after > d->limit) {
		return 0;
	}
	/* The partner holds that key: only a new CSR from it renews this. */
	if (e->origin != NULL && strcmp(e->origin, "partner") == 0) {
		char hint[512];

		snprintf(hint, sizeof(hint), "ask the partner for a new CSR and "
		    "run 'mtls sign NEW.csr --name %s --renew'", e->name);
		skip_due(d, e->name, "signed from a partner's CSR", hint);
		return 0;
	}
	/* An intermediate's key is on its own host: it sends a new CSR. */
	if (e->profile != NULL && strcmp(e->profile, "ca") == 0) {
		skip_due(d, e->name, "an intermediate CA", "renew it from its "
		    "new CSR with 'mtls ca sign-intermediate'");
		return 0;
	}
	for (i = 0; i < d->n; i++) {
		if (strcmp(d->names[i], e->name) == 0) {
			return 0;
		}
	}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		char **nn = realloc(d->names, nc * sizeof(*nn));

		if (nn == NULL) {
			return -1;
		}
		d->names = nn;
		d->cap = nc;
	}
	d->names[d->n] = strdup(e->name);
	return d->names[d->n++] == NULL ? -1 : 0;
}

/* rotate --json: {dry_run, due, renewed, skipped}, with the error object
 * when ERR is given; returns the exit status. */
static int
rotate_json(const struct renew_args *a, const struct due *d,
    const struct mtls_err *err)
{
	json_t *v, *due = json_array();
	size_t i;

	for (i = 0; i < d->n; i++) {
		json_array_append_new(due, json_string(d->names[i]));
	}
	v = json_pack("{s:b, s:o, s:O, s:O}", "dry_run", a->dry_run, "due", due,
	    "renewed", a->renewed, "skipped", d->skipped);
	return cli_json_report(v, err);
}

int
cmd_rotate(int argc, char **argv)
{
	struct renew_args a;
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	struct due d;
	char *key_pass = NULL;
	size_t i, stale = 0;
	int rc, r, tty = cli_is_tty();
	time_t start = time(NULL);

	memset(&a, 0, sizeof(a));
	memset(&d, 0, sizeof(d));
	mtls_err_clear(&err);
	rc = parse_common(argc, argv, "rotate", rotate_usage, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	if (a.window == 0 || optind != argc) {
		return cli_usage("rotate", "give --expiring DURATION (e.g. 30d) and no other arguments");
	}
	if (a.ro.out_dir != NULL && !a.dry_run &&
	    mtls_mkdir_p(a.ro.out_dir, 0755, &err) != 0) {
		return cli_fail(&err);
	}
	ca = open_unlocked(&a, &key_pass, &err);
	d.limit = time(NULL) + a.window;
	if (a.json) {
		a.renewed = json_array();
		d.skipped = json_array();
		tty = 0;
	}
	if (ca == NULL || mtls_ca_list(ca, NULL, collect_due, &d, &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	for (i = 0; i < d.n; i++) {
		if (a.dry_run) {
			if (!a.json) {
				printf("would renew %s\n", d.names[i]);
			}
			continue;
		}
		r = renew_one(ca, d.names[i], &a, tty, &err);
		if (r < 0) {
			if (a.json) {
				/* What was renewed before is part of the answer. */
				rc = rotate_json(&a, &d, &err);
				goto out;
			}
			fprintf(stderr, "\n");
			rc = cli_fail(&err);
			goto out;
		}
		/* A copy that could not be written (a keystore without its
		 * password, a full disk) must not leave the other names
		 * unrenewed: it is named now and counted for the exit. */
		if (r > 0) {
			if (tty) {
				fprintf(stderr, "\n");
			}
			fprintf(stderr, "mtls: %s\n", err.msg);
			mtls_err_clear(&err);
			stale++;
		}
		if (tty) {
			cli_progress(i + 1, d.n, start);
		}
	}
	if (a.json) {
		if (stale > 0) {
			mtls_err_set(&err, MTLS_E_IO, "rotate: %zu of %zu renewed "
			    "certificates still have recorded copies with the old "
			    "one (named above)", stale, d.n);
		}
		rc = rotate_json(&a, &d, stale > 0 ? &err : NULL);
		goto out;
	}
	printf("%s %zu certificate%s expiring within the window\n",
	    a.dry_run ? "would renew" : "renewed", d.n, d.n == 1 ? "" : "s");
	if (d.partner > 0) {
		printf("%zu certificate%s of a partner or an intermediate expiring "
		    "within the window need%s a new CSR\n", d.partner,
		    d.partner == 1 ? "" : "s", d.partner == 1 ? "s" : "");
	}
	rc = 0;
	if (stale > 0) {
		fprintf(stderr, "mtls: rotate: %zu of %zu renewed certificate%s "
		    "still ha%s recorded copies with the old one (named above)\n",
		    stale, d.n, d.n == 1 ? "" : "s", stale == 1 ? "s" : "ve");
		rc = 1;
	}
out:
	for (i = 0; i < d.n; i++) {
		free(d.names[i]);
	}
	free(d.names);
	json_decref(a.renewed);
	json_decref(d.skipped);
	mtls_ca_free(ca);
	mtls_pass_free(key_pass);
	return rc;
}
