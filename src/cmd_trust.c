/* mtls trust install|uninstall|status: our CA in the stores other
 * programs read (in the spirit of mkcert -install): the system store
 * (update-ca-certificates), an NSS database (certutil) and a Java
 * truststore (our JKS/PKCS#12 writer). Removal takes out exactly the
 * certificate we put in, found by content, nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mtls/file.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "mtls/store.h"
#include "cli.h"

static const char usage[] =
    "usage: mtls trust install|uninstall|status [--system [--system-dir DIR]]\n"
    "                  [--nss DB] [--java STORE [--java-pass SPEC]]\n"
    "                  [--ca FILE] [--ca-dir DIR] [--json]\n"
    "\n"
    "Puts our CA certificate into the trust stores other programs read, takes\n"
    "it out again, or says where it is (in the spirit of 'mkcert -install'):\n"
    "  --system        the system store: DIR/mtls-FPR.crt, then\n"
    "                  update-ca-certificates (curl, wget, Python, OpenSSL\n"
    "                  programs; Java's cacerts too when ca-certificates-java\n"
    "                  is installed)\n"
    "  --system-dir DIR  where the system store's local anchors live\n"
    "                  (default /usr/local/share/ca-certificates)\n"
    "  --nss DB        an NSS database (Firefox/Chromium profile, sql:DB), via\n"
    "                  certutil, trusted for TLS servers and clients (C,,)\n"
    "  --java STORE    a Java truststore or cacerts (JKS or PKCS#12, kept in\n"
    "                  its format; created as a truststore when missing)\n"
    "  --java-pass SPEC its password (default pass:changeit, Java's own)\n"
    "  --ca FILE       the certificate (default: the CA's root.crt, else\n"
    "                  ca.crt, of --ca-dir, $MTLS_CA_DIR or ./pki)\n"
    "  --json          status as JSON: one object per store\n"
    "\n"
    "The entry is named mtls-FPR (FPR: the first 16 hex digits of the\n"
    "certificate's SHA-256). uninstall removes only entries holding exactly\n"
    "this certificate, whatever their name; other CAs stay untouched.\n"
    "Installing twice changes nothing. Give at least one store.\n"
    "\n"
    "Exit status: 0 done (status: installed in every store given), 1 failed\n"
    "(status: missing from a store), 2 usage error.\n"
    "\n"
    "examples:\n"
    "  sudo mtls trust install --system\n"
    "  mtls trust install --nss ~/.pki/nssdb\n"
    "  mtls trust install --java /etc/ssl/certs/java/cacerts --java-pass env:CACERTS_PASS\n"
    "  mtls trust status --system --nss ~/.pki/nssdb --json\n"
    "  sudo mtls trust uninstall --system\n";

enum verb { V_INSTALL, V_UNINSTALL, V_STATUS };

struct trust {
	enum verb verb;
	const char *ca_file, *ca_dir, *system_dir, *nss, *java, *java_pass;
	int system, json;
	X509 *ca;
	char fpr[17];      /* first 16 hex digits of the SHA-256 */
	char nick[32];     /* mtls-FPR */
	json_t *out;
	int missing;
};

/* Runs ARGV (PATH lookup), its stdin from /dev/null; its stdout into OUT
 * (up to LEN-1 bytes, NUL-terminated) when OUT is set, else to ours.
 * Returns its exit status, 127 when it could not start, -1 on error. */
static int
run(char *const argv[], char *out, size_t len, int quiet)
{
	int fds[2] = {-1, -1}, st = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (out != NULL && pipe(fds) != 0) {
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			if (quiet) {
				dup2(null, STDERR_FILENO);
			}
		}
		if (out != NULL) {
			dup2(fds[1], STDOUT_FILENO);
			close(fds[0]);
			close(fds[1]);
		} else if (quiet && null >= 0) {
			dup2(null, STDOUT_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out != NULL) {
		close(fds[1]);
		while ((n = read(fds[0], out + got, len - 1 - got)) > 0) {
			got += (size_t)n;
			if (got == len - 1) {
				break;
			}
		}
		out[got] = '\0';
		close(fds[0]);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			return -1;
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
tool_missing(const char *tool, const char *pkg, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_IO, "%s is not installed: install "
	    "Debian's %s (apt-get install %s)", tool, pkg, pkg);
}

/* Whether PEM (one certificate) is our CA. */
static int
pem_is_ours(const struct trust *t, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int same = x != NULL && X509_cmp(x, t->ca) == 0;

	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return same;
}

static void
report(struct trust *t, const char *store, const char *where, int present,
    const char *what)
{
	if (t->verb == V_STATUS) {
		t->missing += !present;
	}
	if (t->out != NULL) {
		json_t *o = json_object();

		json_object_set_new(o, "store", json_string(store));
		json_object_set_new(o, "path", json_string(where));
		json_object_set_new(o, "name", json_string(t->nick));
		json_object_set_new(o, "sha256_prefix", json_string(t->fpr));
		json_object_set_new(o, "installed", json_boolean(present));
		json_array_append_new(t->out, o);
		return;
	}
	printf("%s %s: %s\n", store, where, what);
}

/* --- the system store (Debian's update-ca-certificates) ---------------- */

static int
system_store(struct trust *t, struct mtls_err *err)
{
	char path[4200], *argv[] = {"update-ca-certificates", NULL};
	unsigned char *d = NULL;
	size_t n = 0;
	int present = 0, rc;
	BIO *b = NULL;
	char *pem = NULL;
	long plen;

	snprintf(path, sizeof(path), "%s/%s.crt", t->system_dir, t->nick);
	if (mtls_file_read(path, 1 << 20, &d, &n, NULL) == 0) {
		present = pem_is_ours(t, (const char *)d);
		mtls_file_free(d, n);
	}
	if (t->verb == V_STATUS) {
		report(t, "system", path, present, present ? "installed" : "not installed");
		return 0;
	}
	/* Nothing to change: do not rebuild the store (its hooks, such as
	 * Java's cacerts, take seconds). */
	if ((t->verb == V_INSTALL && present) || (t->verb == V_UNINSTALL && !present)) {
		report(t, "system", path, present, present ? "already installed"
		    : "was not installed");
		return 0;
	}
	if (t->verb == V_INSTALL) {
		b = BIO_new(BIO_s_mem());
		if (b == NULL || PEM_write_bio_X509(b, t->ca) != 1 ||
		    (plen = BIO_get_mem_data(b, &pem)) <= 0) {
			BIO_free(b);
			return mtls_err_ssl(err, MTLS_E_FORMAT, "encoding the CA certificate");
		}
		if (mtls_mkdir_p(t->system_dir, 0755, err) != 0 ||
		    mtls_file_write_atomic(path, pem, (size_t)plen, MTLS_MODE_PUBLIC,
			1, err) != 0) {
			BIO_free(b);
			return -1;
		}
		BIO_free(b);
	} else if (present && unlink(path) != 0) {
		return mtls_err_sys(err, MTLS_E_IO, "removing %s", path);
	}
	rc = run(argv, NULL, 0, 1);
	if (rc == 127) {
		return tool_missing("update-ca-certificates", "ca-certificates", err);
	}
	if (rc != 0) {
		return mtls_err_set(err, MTLS_E_IO, "update-ca-certificates failed "
		    "(exit %d); run it by hand to see why (as root?)", rc);
	}
	report(t, "system", path, t->verb == V_INSTALL,
	    t->verb == V_INSTALL ? "installed (update-ca-certificates ran)"
	    : "removed (update-ca-certificates ran)");
	return 0;
}

/* --- an NSS database (certutil) ----------------------------------------- */

static int
nss_store(struct trust *t, const char *tmp_pem, struct mtls_err *err)
{
	char db[4200], probe[4300], out[65536];
	char *list[] = {"certutil", "-L", "-d", db, "-n", t->nick, "-a", NULL};
	char *add[] = {"certutil", "-A", "-d", db, "-n", t->nick, "-t", "C,C,",
	    "-i", (char *)tmp_pem, NULL};
	char *del[] = {"certutil", "-D", "-d", db, "-n", t->nick, NULL};
	int present, rc;

	snprintf(db, sizeof(db), "%s%s", strncmp(t->nss, "sql:", 4) == 0 ? ""
	    : "sql:", t->nss);
	snprintf(probe, sizeof(probe), "%s/cert9.db", db + 4);
	if (access(probe, F_OK) != 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no NSS database in %s "
		    "(no cert9.db): create one with 'certutil -N -d %s "
		    "--empty-password' or give a browser profile's directory",
		    db + 4, db);
	}
	rc = run(list, out, sizeof(out), 1);
	if (rc == 127) {
		return tool_missing("certutil", "libnss3-tools", err);
	}
	present = rc == 0 && pem_is_ours(t, out);
	if (rc == 0 && !present) {
		return mtls_err_set(err, MTLS_E_EXISTS, "%s in %s holds another "
		    "certificate; leaving it alone (remove it with 'certutil -D "
		    "-d %s -n %s')", t->nick, db, db, t->nick);
	}
	if (t->verb == V_STATUS) {
		report(t, "nss", db, present, present ? "installed" : "not installed");
		return 0;
	}
	if (t->verb == V_INSTALL && !present && run(add, NULL, 0, 0) != 0) {
		return mtls_err_set(err, MTLS_E_IO, "certutil could not add the CA "
		    "to %s (see above)", db);
	}
	if (t->verb == V_UNINSTALL && present && run(del, NULL, 0, 0) != 0) {
		return mtls_err_set(err, MTLS_E_IO, "certutil could not remove "
		    "%s from %s (see above)", t->nick, db);
	}
	report(t, "nss", db, t->verb == V_INSTALL,
	    t->verb == V_INSTALL ? (present ? "already installed" : "installed")
	    : present ? "removed" : "was not installed");
	return 0;
}

/* --- a Java truststore (our JKS/PKCS#12 code) -------------------------- */

static int
java_store(struct trust *t, struct mtls_err *err)
{
	unsigned char *d = NULL, *buf = NULL;
	size_t n = 0, blen = 0, i;
	struct mtls_store *s = NULL;
	enum mtls_store_format fmt = MTLS_STORE_JKS;
	char *pass = NULL;
	int rc = -1, found = 0, exists = access(t->java, F_OK) == 0;

	pass = mtls_pass_get(t->java_pass ? t->java_pass : "pass:changeit",
	    NULL, 0, err);
	if (pass == NULL) {
		return -1;
	}
	if (exists) {
		if (mtls_file_read(t->java, 64 << 20, &d, &n, err) != 0) {
			goto out;
		}
		s = mtls_store_parse(d, n, t->java, pass, NULL, err);
		if (s == NULL) {
			goto out;
		}
		fmt = mtls_store_format(s);
	} else if (t->verb != V_INSTALL) {
		report(t, "java", t->java, 0, "no such store");
		rc = 0;
		goto out;
	} else {
		size_t l = strlen(t->java);

		s = mtls_store_new();
		fmt = l > 4 && (strcmp(t->java + l - 4, ".p12") == 0 ||
		    strcmp(t->java + l - 4, ".pfx") == 0) ? MTLS_STORE_P12
							  : MTLS_STORE_JKS;
		if (s == NULL) {
			mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	/* Every trusted entry holding exactly our certificate, by content. */
	for (i = mtls_store_count(s); i-- > 0;) {
		const struct mtls_store_entry *e = mtls_store_get(s, i);
		char alias[512];

		if (e->type != MTLS_ENTRY_TRUSTED ||
		    X509_cmp(sk_X509_value(e->certs, 0), t->ca) != 0) {
			continue;
		}
		found++;
		if (t->verb == V_UNINSTALL) {
			snprintf(alias, sizeof(alias), "%s", e->alias);
			if (mtls_store_remove(s, alias, err) != 0) {
				goto out;
			}
		}
	}
	if (t->verb == V_STATUS) {
		report(t, "java", t->java, found > 0, found ? "installed" : "not installed");
		rc = 0;
		goto out;
	}
	if ((t->verb == V_INSTALL && found) || (t->verb == V_UNINSTALL && !found)) {
		report(t, "java", t->java, found > 0, found ? "already installed"
		    : "was not installed");
		rc = 0;
		goto out;
	}
	if (t->verb == V_INSTALL &&
	    mtls_store_add_trusted(s, t->nick, t->ca, 0, 0, err) != 0) {
		goto out;
	}
	if (mtls_store_serialize(s, fmt, pass, NULL, &buf, &blen, err) != 0 ||
	    mtls_file_write_atomic(t->java, buf, blen, MTLS_MODE_PUBLIC, 1,
		err) != 0) {
		goto out;
	}
	report(t, "java", t->java, t->verb == V_INSTALL,
	    t->verb == V_INSTALL ? "installed" : "removed");
	rc = 0;
out:
	mtls_store_buf_free(buf, blen);
	mtls_store_free(s);
	mtls_file_free(d, n);
	mtls_pass_free(pass);
	return rc;
}

static int
load_ca(struct trust *t, struct mtls_err *err)
{
	char path[4200], hex[EVP_MAX_MD_SIZE * 3 + 1];
	const char *dir = cli_ca_dir(t->ca_dir);
	size_t i, j;

	if (t->ca_file == NULL) {
		snprintf(path, sizeof(path), "%s/root.crt", dir);
		if (access(path, F_OK) != 0) {
			snprintf(path, sizeof(path), "%s/ca.crt", dir);
		}
		t->ca_file = path;
	}
	t->ca = mtls_load_cert(t->ca_file, err);
	if (t->ca == NULL ||
	    mtls_cert_fingerprint(t->ca, EVP_sha256(), hex, sizeof(hex)) != 0) {
		return -1;
	}
	for (i = j = 0; hex[i] != '\0' && j < 16; i++) {
		if (hex[i] != ':') {
			t->fpr[j++] = (char)(hex[i] >= 'A' && hex[i] <= 'F'
			    ? hex[i] - 'A' + 'a' : hex[i]);
		}
	}
	t->fpr[j] = '\0';
	snprintf(t->nick, sizeof(t->nick), "mtls-%s", t->fpr);
	return 0;
}

int
cmd_trust(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"system", no_argument, NULL, 's'},
	    {"system-dir", required_argument, NULL, 'S'},
	    {"nss", required_argument, NULL, 'n'},
	    {"java", required_argument, NULL, 'j'},
	    {"java-pass", required_argument, NULL, 'P'},
	    {"ca", required_argument, NULL, 'c'},
	    {"ca-dir", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct trust t;
	struct mtls_err err;
	char tmp[] = "/tmp/mtls-trust-XXXXXX";
	int c, rc = 1, fd = -1;
	FILE *f;

	memset(&t, 0, sizeof(t));
	mtls_err_clear(&err);
	t.system_dir = "/usr/local/share/ca-certificates";
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		return argc < 2 ? cli_usage("trust", "give install, uninstall or "
		    "status") : cli_help(usage);
	}
	if (strcmp(argv[1], "install") == 0) {
		t.verb = V_INSTALL;
	} else if (strcmp(argv[1], "uninstall") == 0) {
		t.verb = V_UNINSTALL;
	} else if (strcmp(argv[1], "status") == 0) {
		t.verb = V_STATUS;
	} else {
		return cli_usage("trust", "unknown verb '%s': give install, "
		    "uninstall or status", argv[1]);
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': t.system = 1; break;
		case 'S': t.system_dir = optarg; t.system = 1; break;
		case 'n': t.nss = optarg; break;
		case 'j': t.java = optarg; break;
		case 'P': t.java_pass = optarg; break;
		case 'c': t.ca_file = optarg; break;
		case 'd': t.ca_dir = optarg; break;
		case 'J': t.json = 1; cli_json_errors(); break;
		case 'h': return cli_help(usage);
		default: return cli_bad_option("trust");
		}
	}
	if (optind != argc) {
		return cli_usage("trust", "unexpected argument '%s'", argv[optind]);
	}
	if (!t.system && t.nss == NULL && t.java == NULL) {
		return cli_usage("trust", "give at least one store: --system, "
		    "--nss DB or --java STORE");
	}
	if (t.java_pass != NULL && t.java == NULL) {
		return cli_usage("trust", "--java-pass goes with --java");
	}
	if (t.json && t.verb != V_STATUS) {
		return cli_usage("trust", "--json goes with status");
	}
	if (load_ca(&t, &err) != 0) {
		return cli_fail(&err);
	}
	t.out = t.json ? json_array() : NULL;
	/* certutil reads the certificate from a file: one we write (the CA
	 * may be given in DER or with a chain). */
	if (t.nss != NULL && t.verb == V_INSTALL) {
		fd = mkstemp(tmp);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f == NULL || PEM_write_X509(f, t.ca) != 1 || fclose(f) != 0) {
			mtls_err_sys(&err, MTLS_E_IO, "writing %s", tmp);
			goto out;
		}
		fd = -2; /* closed, file to remove */
	}
	if ((t.system && system_store(&t, &err) != 0) ||
	    (t.nss != NULL && nss_store(&t, tmp, &err) != 0) ||
	    (t.java != NULL && java_store(&t, &err) != 0)) {
		goto out;
	}
	if (t.out != NULL) {
		json_dumpf(t.out, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	rc = t.verb == V_STATUS && t.missing > 0 ? 1 : 0;
out:
	if (fd != -1) {
		unlink(tmp);
	}
	if (rc != 0 && err.msg[0] != '\0') {
		rc = cli_fail(&err);
	}
	json_decref(t.out);
	X509_free(t.ca);
	return rc;
}
