/* mtls queue: what the replication agent has pending, delivered, failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "mtls/clock.h"
#include "mtls/replicate.h"
#include "state_dir.h"

static const char usage[] =
    "usage: mtls queue [--state DIR] [--json]\n"
    "\n"
    "Shows the replication queue of 'mtls push': per receiver, how many\n"
    "items are pending (and of those, failing: at least one attempt failed\n"
    "and a retry is scheduled), delivered and failed for good, with the last\n"
    "error and the next retry; then the items that failed for good, with\n"
    "their reasons. It only reads the queue.\n"
    "\n"
    "Options:\n"
    "  --state DIR   queue directory (default $XDG_STATE_HOME/mtls or\n"
    "                ~/.local/state/mtls)\n"
    "  --json        one JSON object: {\"state_dir\", \"targets\": [...],\n"
    "                \"failed_items\": [...]} (docs/json.md)\n"
    "  -h, --help    this help\n"
    "\n"
    "Examples:\n"
    "  mtls queue\n"
    "  mtls queue --state /var/lib/mtls/agent --json | jq '.targets[].pending'\n";

#define FAILED_SHOWN 50

static void
fmt_ms(int64_t ms, char *buf, size_t len)
{
	mtls_time_utc(ms / 1000, MTLS_TIME_HUMAN, buf, len);
}

static void
print_failure(void *arg, const char *target, const char *id,
    const char *action, const char *path, const char *why)
{
	json_t *arr = arg;

	if (arr != NULL) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}",
		    "target", target, "id", id, "action", action, "path", path,
		    "last_error", why));
		return;
	}
	printf("  %s %s %s (item %s): %s\n", target, action, path, id, why);
}

static int
show_json(struct mtls_queue *q, const char *state,
    const struct mtls_queue_stat *s, size_t n, struct mtls_err *err)
{
	json_t *root = json_object(), *ts = json_array(), *fs = json_array();
	size_t i;
	int rc = -1;

	if (root == NULL || ts == NULL || fs == NULL) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I}", "target",
		    s[i].target, "pending", (json_int_t)s[i].pending, "failing",
		    (json_int_t)s[i].failing, "delivered",
		    (json_int_t)s[i].delivered, "failed", (json_int_t)s[i].failed);

		if (o == NULL) {
			goto out;
		}
		if (s[i].last_error != NULL) {
			json_object_set_new(o, "last_error",
			    json_string(s[i].last_error));
		}
		if (s[i].next_at_ms > 0) {
			json_object_set_new(o, "next_retry_at",
			    cli_json_time((time_t)(s[i].next_at_ms / 1000)));
		}
		json_array_append_new(ts, o);
	}
	if (mtls_queue_failures(q, FAILED_SHOWN, print_failure, fs, err) != 0) {
		goto out;
	}
	json_object_set_new(root, "state_dir", json_string(state));
	json_object_set(root, "targets", ts);
	json_object_set(root, "failed_items", fs);
	json_dumpf(root, stdout, JSON_INDENT(2));
	putchar('\n');
	rc = 0;
out:
	if (rc != 0 && err->msg[0] == '\0') {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	json_decref(ts);
	json_decref(fs);
	json_decref(root);
	return rc;
}

static int
show_text(struct mtls_queue *q, const char *state,
    const struct mtls_queue_stat *s, size_t n, struct mtls_err *err)
{
	char when[64];
	long failed = 0;
	size_t i;

	printf("queue %s\n", state);
	if (n == 0) {
		printf("  (empty)\n");
	}
	for (i = 0; i < n; i++) {
		printf("%s\n  pending %ld (failing %ld), delivered %ld, failed %ld\n",
		    s[i].target, s[i].pending, s[i].failing, s[i].delivered,
		    s[i].failed);
		if (s[i].next_at_ms > 0) {
			fmt_ms(s[i].next_at_ms, when, sizeof(when));
			printf("  next retry: %s\n", when);
		}
		if (s[i].last_error != NULL) {
			printf("  last error: %s\n", s[i].last_error);
		}
		failed += s[i].failed;
	}
	if (failed > 0) {
		printf("failed for good (newest first, at most %d):\n",
		    FAILED_SHOWN);
		return mtls_queue_failures(q, FAILED_SHOWN, print_failure, NULL,
		    err);
	}
	return 0;
}

int
cmd_queue(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mtls_queue *q = NULL;
	struct mtls_queue_stat *s = NULL;
	struct mtls_err err;
	char statebuf[4096], db[4200];
	const char *state = NULL, *opt = NULL;
	size_t n = 0;
	int c, json = 0, rc = 1;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': opt = optarg; break;
		case 'j': json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("queue");
		}
	}
	if (optind != argc) {
		return cli_usage("queue", "unexpected argument '%s'", argv[optind]);
	}
	state = cli_state_dir(opt, statebuf, sizeof(statebuf));
	if (state == NULL) {
		return cli_usage("queue", "give --state DIR");
	}
	snprintf(db, sizeof(db), "%s/queue.db", state);
	if (access(db, F_OK) != 0) {
		mtls_err_set(&err, MTLS_E_NOTFOUND, "no queue at %s (nothing was "
		    "pushed with this --state)", db);
		return cli_fail(&err);
	}
	q = mtls_queue_open(state, 0, &err);
	if (q == NULL || mtls_queue_stats(q, &s, &n, &err) != 0) {
		goto out;
	}
	rc = json ? show_json(q, state, s, n, &err)
		  : show_text(q, state, s, n, &err);
	rc = rc == 0 ? 0 : 1;
out:
	if (rc != 0) {
		rc = cli_fail(&err);
	}
	mtls_queue_stats_free(s, n);
	mtls_queue_close(q);
	return rc;
}
