/* mtls revoke, mtls crl */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "cli.h"

static const char revoke_usage[] =
    "usage: mtls revoke NAME|SERIAL|CERTFILE [--reason REASON] [--ca-dir DIR]\n"
    "\n"
    "Marks a certificate revoked in the inventory, with the time and reason.\n"
    "Then publish it: 'mtls crl', and a running 'mtls ocsp serve' answers\n"
    "revoked at once. Revoking twice or an unknown certificate is an error.\n"
    "\n"
    "  NAME       the current valid certificate of that name\n"
    "  SERIAL     hex serial as 'mtls list' prints it\n"
    "  CERTFILE   a certificate file (PEM or DER)\n"
    "  --reason R keyCompromise, superseded, cessationOfOperation,\n"
    "             affiliationChanged, cACompromise, privilegeWithdrawn,\n"
    "             certificateHold, unspecified (default)\n";

static const char crl_usage[] =
    "usage: mtls crl [--out FILE] [--days N] [--der] [--previous] [--ca-dir DIR]\n"
    "                [--ca-pass SPEC]\n"
    "\n"
    "Writes a signed X.509 v2 CRL of every revoked certificate: CRL number,\n"
    "authority key identifier, thisUpdate, nextUpdate, reason codes.\n"
    "\n"
    "  --out FILE   where to write (default CA-DIR/crl.pem, or crl.der with --der);\n"
    "               an existing CRL is replaced atomically\n"
    "  --days N     nextUpdate N days from now (default 7)\n"
    "  --der        DER instead of PEM\n"
    "  --previous   during a rollover: the retiring issuer's CRL, of the revoked\n"
    "               certificates it issued, signed by its key (default\n"
    "               CA-DIR/crl-previous.pem); without it, the CRL of the current\n"
    "               issuer lists only what that issuer signed\n"
    "\n"
    "Examples:\n"
    "  mtls crl --der --out /srv/www/crl.der\n"
    "  mtls crl --previous --out /srv/www/crl-previous.pem\n"
    "\n"
    "Exit status: 0 written, 1 error (--previous with no rollover under way), 2 usage.\n";

static int
is_hex_serial(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!isxdigit((unsigned char)*s) && *s != ':') {
			return 0;
		}
	}
	return n >= 8;
}

static int
noop_cb(const struct mtls_inv_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

static int
last_serial(const struct mtls_inv_entry *e, void *arg)
{
	snprintf(arg, 128, "%s", e->serial);
	return 0;
}

/* Creates the directory --out names a file in, as issue does for its
 * --out directory. */
static int
make_parent(const char *out, struct mtls_err *err)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", out) >= (int)sizeof(dir)) {
		return mtls_err_set(err, MTLS_E_USAGE, "--out: path too long");
	}
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir) {
		return 0;
	}
	*slash = '\0';
	return mtls_mkdir_p(dir, 0755, err);
}

/* NAME, SERIAL or CERTFILE to a serial (hex, upper case). */
static int
resolve_target(struct mtls_ca *ca, const char *t, char *serial, size_t len,
    struct mtls_err *err)
{
	struct stat st;
	size_t i, o = 0;

	/* Only a regular file is a certificate: a directory named like the
	 * identity (issue --out NAME) must not hide the inventory's NAME. */
	if (stat(t, &st) == 0 && S_ISREG(st.st_mode)) {
		X509 *x = mtls_load_cert(t, err);
		char *hex;

		if (x == NULL) {
			return -1;
		}
		hex = mtls_cert_serial_hex(x);
		snprintf(serial, len, "%s", hex ? hex : "");
		OPENSSL_free(hex);
		X509_free(x);
		return 0;
	}
	if (is_hex_serial(t)) {
		for (i = 0; t[i] != '\0' && o + 1 < len; i++) {
			if (t[i] != ':') {
				serial[o++] = (char)toupper((unsigned char)t[i]);
			}
		}
		serial[o] = '\0';
		/* Serials print without leading zero bytes: normalise. */
		while (serial[0] == '0' && serial[1] == '0' && strlen(serial) > 2) {
			memmove(serial, serial + 2, strlen(serial) - 1);
		}
		if (mtls_ca_lookup(ca, serial, noop_cb, NULL, NULL) == 0) {
			return 0;
		}
	}
	if (mtls_ca_current(ca, t, serial, len, err) == 0) {
		return 0;
	}
	/* A name held by ours and a partner's: refuse, never pick one. */
	if (err->code == MTLS_E_POLICY) {
		return -1;
	}
	mtls_err_clear(err);
	/* No current one: the newest of that name, so that revoking it
	 * again says when it was revoked. */
	serial[0] = '\0';
	if (mtls_ca_list(ca, t, last_serial, serial, err) != 0) {
		return -1;
	}
	if (serial[0] != '\0') {
		return 0;
	}
	return mtls_err_set(err, MTLS_E_NOTFOUND,
	    "'%s' is neither a certificate file, a serial nor a name in the "
	    "inventory (see 'mtls list')", t);
}

int
cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca;
	const char *dir = NULL;
	char serial[128];
	int c, reason = 0, rc;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (mtls_reason_parse(optarg, &reason, &err) != 0) {
				return cli_fail(&err);
			}
			break;
		case 'd': dir = optarg; break;
		case 'h': return cli_help(revoke_usage);
		default: return cli_bad_option("revoke");
		}
	}
	if (optind + 1 != argc) {
		return cli_usage("revoke", "give one NAME, SERIAL or CERTFILE");
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	if (ca == NULL || cli_ca_lock(ca, &err) != 0) {
		mtls_ca_free(ca);
		return cli_fail(&err);
	}
	rc = resolve_target(ca, argv[optind], serial, sizeof(serial), &err);
	if (rc == 0) {
		rc = mtls_ca_lookup(ca, serial, noop_cb, NULL, &err);
	}
	if (rc == 0) {
		rc = mtls_ca_revoke(ca, serial, reason, 0, &err);
	}
	if (rc == 0) {
		printf("revoked %s (serial %s, %s); publish with 'mtls crl'\n",
		    argv[optind], serial, mtls_reason_name(reason));
	}
	mtls_ca_free(ca);
	return rc == 0 ? 0 : cli_fail(&err);
}

int
cmd_crl(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'D'},
	    {"der", no_argument, NULL, 'r'},
	    {"previous", no_argument, NULL, 'P'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"ca-pass", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mtls_err err;
	struct mtls_ca *ca = NULL;
	const char *dir = NULL, *out = NULL, *pass = NULL;
	char path[4096];
	unsigned char *data = NULL;
	size_t len = 0;
	long days = 7, count = 0;
	int c, der = 0, prev = 0, rc = 1;

	mtls_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'D':
			if (cli_parse_int("crl", "--days", optarg, 1, 3650, &days) != 0) {
				return 2;
			}
			break;
		case 'r': der = 1; break;
		case 'P': prev = 1; break;
		case 'd': dir = optarg; break;
		case 'p': pass = optarg; break;
		case 'h': return cli_help(crl_usage);
		default: return cli_bad_option("crl");
		}
	}
	if (optind != argc) {
		return cli_usage("crl", "unexpected argument '%s'", argv[optind]);
	}
	if (out == NULL) {
		snprintf(path, sizeof(path), "%s/crl%s.%s", cli_ca_dir(dir),
		    prev ? "-previous" : "", der ? "der" : "pem");
		out = path;
	}
	ca = mtls_ca_open(cli_ca_dir(dir), &err);
	/* Under the lock, CRL numbers in the file only ever increase. */
	if (ca == NULL || mtls_ca_unlock(ca, pass, &err) != 0 ||
	    make_parent(out, &err) != 0 ||
	    cli_ca_lock(ca, &err) != 0 ||
	    (prev ? mtls_ca_crl_previous(ca, (int)days, der, &data, &len, &count, &err)
		  : mtls_ca_crl(ca, (int)days, der, &data, &len, &count, &err)) != 0 ||
	    mtls_file_write_atomic(out, data, len, MTLS_MODE_PUBLIC, 1, &err) != 0) {
		rc = cli_fail(&err);
	} else {
		printf("wrote %s: %ld revoked, next update in %ld days\n", out, count, days);
		rc = 0;
	}
	OPENSSL_free(data);
	mtls_ca_free(ca);
	return rc;
}
