/* mtls enroll, mtls renew-agent */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtls/clock.h"
#include "mtls/online.h"
#include "mtls/pki.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls enroll URL --token SECRET --ca-fingerprint SHA256 NAME\n"
    "                   [--dir DIR] [--format pem|p12|jks]... [--for TARGET]\n"
    "                   [--store-pass SPEC] [--exec CMD] [--key-type T] [--force]\n"
    "\n"
    "Enrolls this node with the online CA at URL ('mtls ca serve') by EST\n"
    "(RFC 7030): the key is made here and never sent; the CA is accepted only\n"
    "if its certificate has the SHA-256 fingerprint you give (from 'mtls ca\n"
    "show' on the CA host) - there is no silent trust on first use; the token\n"
    "('mtls token create' on the CA host) pays for one certificate.\n"
    "\n"
    "Writes into DIR (default .): NAME.key (0600), NAME.crt, NAME.chain.pem,\n"
    "ca.pem (trust anchor), crl.pem, NAME.enroll.json (for 'mtls renew-agent'),\n"
    "and with --format p12/jks NAME.p12/NAME.jks plus truststore.p12/.jks;\n"
    "with --for nginx|apache|haproxy|stunnel|tomcat|activemq|java|curl a whole\n"
    "bundle in DIR/bundle-TARGET/. Everything atomically; nothing is replaced\n"
    "without --force.\n"
    "\n"
    "  --store-pass SPEC   password of p12/jks stores: env:VAR or file:PATH\n"
    "                      (the spec, never the secret, is kept for renewals)\n"
    "  --exec CMD          hook the renewal agent runs after each renewal\n"
    "                      (e.g. 'systemctl reload nginx')\n"
    "  --key-type T        ec-p256 (default), ec-p384, rsa-2048, ed25519, ...\n"
    "\n"
    "Exit status: 0 enrolled; 1 refused or failed (the CA's reason is\n"
    "printed; nothing is written and a refused token is not spent); 2 usage.\n"
    "\n"
    "examples:\n"
    "  mtls enroll https://ca.internal:8443 --token \"$T\" \\\n"
    "      --ca-fingerprint 3A:9F:...:C1 --dir /etc/mtls node1 --for nginx \\\n"
    "      --exec 'systemctl reload nginx'\n"
    "  STOREPASS=... mtls enroll https://ca.internal:8443 --token \"$T\" \\\n"
    "      --ca-fingerprint 3A:9F:...:C1 --dir /opt/app/tls replica1 \\\n"
    "      --format jks --store-pass env:STOREPASS\n";

static const char agent_usage[] =
    "usage: mtls renew-agent [--once] [--force] [--jitter S] STATE...\n"
    "\n"
    "Keeps enrolled identities fresh. Each STATE is a NAME.enroll.json that\n"
    "'mtls enroll' wrote, or a directory holding some. An identity is renewed\n"
    "through EST simplereenroll with its current certificate when two thirds\n"
    "of its lifetime have passed (less a random jitter); every format it was\n"
    "installed in is rewritten, ca.pem and crl.pem are refreshed, then its\n"
    "--exec hook runs.\n"
    "\n"
    "  --once       one pass, for timers and cron: exit 0 when nothing needed\n"
    "               renewing or every renewal succeeded, 1 otherwise\n"
    "  --force      renew now, whatever the lifetime\n"
    "  --jitter S   renew up to S seconds early at random (default 300, at\n"
    "               most a sixth of the lifetime)\n"
    "\n"
    "Without --once it runs as a daemon, logging to stderr (journald under\n"
    "systemd), and retries with backoff (30 s doubling to 1 h) while the CA\n"
    "is unreachable. See dist/systemd/ for unit and timer files. A state\n"
    "file that others may change (group- or world-writable, or owned by\n"
    "another user than this one or root) is refused: it names the hook.\n"
    "\n"
    "Exit status: 0 nothing was due or every renewal succeeded (the daemon:\n"
    "a clean stop); 1 a renewal or its hook failed; 2 usage.\n"
    "\n"
    "examples:\n"
    "  mtls renew-agent --once /etc/mtls        # from a timer or cron\n"
    "  mtls renew-agent /etc/mtls /opt/app/tls  # a daemon for two places\n"
    "  mtls renew-agent --once --force /etc/mtls/node1.enroll.json\n";

int
cmd_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"token", required_argument, NULL, 't'},
	    {"ca-fingerprint", required_argument, NULL, 'F'},
	    {"dir", required_argument, NULL, 'd'},
	    {"format", required_argument, NULL, 'f'},
	    {"for", required_argument, NULL, 'b'},
	    {"store-pass", required_argument, NULL, 'p'},
	    {"exec", required_argument, NULL, 'x'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"force", no_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_enroll_opts o;
	struct mtls_err err;
	enum mtls_keytype kt = MTLS_KEY_EC_P256;
	int c;

	memset(&o, 0, sizeof(o));
	mtls_err_clear(&err);
	o.dir = ".";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.token = optarg; break;
		case 'F': o.ca_fingerprint = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'f':
			if (strcmp(optarg, "pem") == 0) {
				o.formats |= MTLS_ENROLL_PEM;
			} else if (strcmp(optarg, "p12") == 0) {
				o.formats |= MTLS_ENROLL_P12;
			} else if (strcmp(optarg, "jks") == 0) {
				o.formats |= MTLS_ENROLL_JKS;
			} else {
				return cli_usage("enroll", "--format is pem, p12 or jks, "
				    "not '%s'", optarg);
			}
			break;
		case 'b': o.bundle = optarg; break;
		case 'p': o.store_pass = optarg; break;
		case 'x': o.exec = optarg; break;
		case 'k':
			if (mtls_keytype_parse(optarg, &kt, &err) != 0) {
				return cli_fail(&err);
			}
			break;
		case 'o': o.force = 1; break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("enroll");
		}
	}
	if (optind + 2 != argc) {
		return cli_usage("enroll", "give the CA's URL and this node's NAME");
	}
	if (o.token == NULL || o.ca_fingerprint == NULL) {
		return cli_usage("enroll", "give --token and --ca-fingerprint (ask "
		    "the CA's operator: 'mtls token create', 'mtls ca show')");
	}
	o.url = argv[optind];
	o.name = argv[optind + 1];
	o.key_type = (int)kt;
	if (mtls_enroll(&o, &err) != 0) {
		return cli_fail(&err);
	}
	fprintf(stderr, "enrolled '%s' with %s: files in %s (renew with "
	    "'mtls renew-agent %s/%s.enroll.json')\n", o.name, o.url, o.dir,
	    o.dir, o.name);
	return 0;
}

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Expands directories into their *.enroll.json files. */
static int
collect(int n, char **args, char ***out)
{
	char **list = NULL, **nl;
	int count = 0, i;
	DIR *d;
	struct dirent *de;
	size_t l;

	for (i = 0; i < n; i++) {
		d = opendir(args[i]);
		if (d == NULL) {
			nl = realloc(list, sizeof(*list) * (size_t)(count + 1));
			if (nl == NULL) {
				break;
			}
			list = nl;
			list[count++] = strdup(args[i]);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			l = strlen(de->d_name);
			if (l <= 12 || strcmp(de->d_name + l - 12, ".enroll.json") != 0) {
				continue;
			}
			nl = realloc(list, sizeof(*list) * (size_t)(count + 1));
			if (nl == NULL) {
				break;
			}
			list = nl;
			list[count] = malloc(strlen(args[i]) + l + 2);
			if (list[count] != NULL) {
				snprintf(list[count], strlen(args[i]) + l + 2, "%s/%s",
				    args[i], de->d_name);
				count++;
			}
		}
		closedir(d);
	}
	*out = list;
	return count;
}

static void
stamp(char *buf, size_t len, time_t t)
{
	mtls_time_utc((int64_t)t, MTLS_TIME_RFC3339, buf, len);
}

/* One pass over every identity; *WAKE gets the earliest next event. */
static int
pass(char **files, int n, int force, long jitter, time_t *wake,
    long *backoff)
{
	struct mtls_err err;
	time_t next, now;
	char when[32];
	int i, renewed, failed = 0;

	*wake = 0;
	for (i = 0; i < n; i++) {
		mtls_err_clear(&err);
		if (mtls_renew_identity(files[i], force, jitter, &renewed, &next,
			&err) != 0) {
			failed++;
			fprintf(stderr, "mtls renew-agent: %s: %s\n", files[i], err.msg);
			now = time(NULL);
			next = now + backoff[i];
			backoff[i] = backoff[i] * 2 < 3600 ? backoff[i] * 2 : 3600;
		} else {
			backoff[i] = 30;
			stamp(when, sizeof(when), next);
			if (renewed) {
				fprintf(stderr, "mtls renew-agent: %s: renewed; next "
				    "renewal due %s\n", files[i], when);
			} else if (force) {
				fprintf(stderr, "mtls renew-agent: %s: nothing done\n",
				    files[i]);
			}
		}
		if (*wake == 0 || (next != 0 && next < *wake)) {
			*wake = next;
		}
	}
	return failed;
}

int
cmd_renew_agent(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"jitter", required_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char **files = NULL;
	long *backoff = NULL, jitter = 300, sleep_s;
	time_t wake;
	int c, n, i, once = 0, force = 0, failed;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': once = 1; break;
		case 'f': force = 1; break;
		case 'j':
			if (cli_parse_duration("renew-agent", "--jitter", optarg, &jitter) != 0) {
				return 2;
			}
			break;
		case 'h': return cli_help(agent_usage);
		default: return cli_bad_option("renew-agent");
		}
	}
	if (optind == argc) {
		return cli_usage("renew-agent", "give the NAME.enroll.json files "
		    "or directories to look after");
	}
	n = collect(argc - optind, argv + optind, &files);
	if (n == 0) {
		fprintf(stderr, "mtls renew-agent: no NAME.enroll.json in the "
		    "given places: enroll first with 'mtls enroll'\n");
		return 1;
	}
	backoff = calloc((size_t)n, sizeof(*backoff));
	if (backoff == NULL) {
		return 1;
	}
	for (i = 0; i < n; i++) {
		backoff[i] = 30;
	}
	if (once) {
		failed = pass(files, n, force, jitter, &wake, backoff);
	} else {
		signal(SIGTERM, on_stop);
		signal(SIGINT, on_stop);
		fprintf(stderr, "mtls renew-agent: looking after %d identit%s\n", n,
		    n == 1 ? "y" : "ies");
		failed = 0;
		while (!stop) {
			(void)pass(files, n, force, jitter, &wake, backoff);
			force = 0;
			sleep_s = (long)(wake - time(NULL));
			/* Look again at least hourly: files may be replaced. */
			sleep_s = sleep_s < 1 ? 1 : sleep_s > 3600 ? 3600 : sleep_s;
			while (sleep_s-- > 0 && !stop) {
				sleep(1);
			}
		}
		fprintf(stderr, "mtls renew-agent: stopping\n");
	}
	for (i = 0; i < n; i++) {
		free(files[i]);
	}
	free(files);
	free(backoff);
	return failed == 0 ? 0 : 1;
}
