/* Layer online, node side: renewal of an enrolled identity by EST
 * simplereenroll with its current certificate (mtls renew-agent). See
 * mtls/online.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/file.h"
#include "mtls/online.h"
#include "mtls/pass.h"
#include "mtls/pki.h"
#include "base/internal.h"
#include "online/enroll_int.h"

struct state {
	json_t *j;
	const char *url, *name, *fp, *bundle, *store_pass, *exec;
	const char *next; /* the successor root's fingerprint (CA rollover) */
	unsigned formats;
	enum mtls_keytype kt;
	char dir[4096];
};

/* The state names a hook this agent runs: a file that someone else may
 * change would let them run commands as this user. */
static int
state_is_private(const char *path, struct mtls_err *err)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot read %s", path);
	}
	if (!S_ISREG(sb.st_mode)) {
		return mtls_err_set(err, MTLS_E_IO, "%s is not a file", path);
	}
	if ((sb.st_mode & 022) != 0 || (sb.st_uid != geteuid() && sb.st_uid != 0)) {
		return mtls_err_set(err, MTLS_E_POLICY, "%s may be changed by others "
		    "(mode %03o, owner uid %lu): its hook would run as this user; "
		    "make it yours and 0600 (chmod 600 %s)", path,
		    (unsigned)(sb.st_mode & 0777), (unsigned long)sb.st_uid, path);
	}
	return 0;
}

static int
read_state(const char *path, struct state *st, struct mtls_err *err)
{
	json_error_t je;
	json_t *f;
	size_t i;
	const char *slash;
	struct mtls_err ignore;

	memset(st, 0, sizeof(*st));
	if (state_is_private(path, err) != 0) {
		return -1;
	}
	st->j = json_load_file(path, 0, &je);
	if (st->j == NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "cannot read %s: %s",
		    path, je.text);
	}
	st->url = json_string_value(json_object_get(st->j, "url"));
	st->name = json_string_value(json_object_get(st->j, "name"));
	st->fp = json_string_value(json_object_get(st->j, "ca_fingerprint"));
	st->bundle = json_string_value(json_object_get(st->j, "for"));
	st->store_pass = json_string_value(json_object_get(st->j, "store_pass"));
	st->exec = json_string_value(json_object_get(st->j, "exec"));
	st->next = json_string_value(json_object_get(st->j, "ca_next_fingerprint"));
	if (st->url == NULL || st->name == NULL || st->fp == NULL) {
		return mtls_err_set(err, MTLS_E_FORMAT, "%s lacks url, name or "
		    "ca_fingerprint: was it written by 'mtls enroll'?", path);
	}
	st->formats = MTLS_ENROLL_PEM;
	f = json_object_get(st->j, "formats");
	for (i = 0; i < json_array_size(f); i++) {
		const char *v = json_string_value(json_array_get(f, i));

		if (v != NULL && strcmp(v, "p12") == 0) {
			st->formats |= MTLS_ENROLL_P12;
		} else if (v != NULL && strcmp(v, "jks") == 0) {
			st->formats |= MTLS_ENROLL_JKS;
		}
	}
	if (mtls_keytype_parse(json_string_value(json_object_get(st->j,
		"key_type")) ? json_string_value(json_object_get(st->j,
		"key_type")) : "ec-p256", &st->kt, &ignore) != 0) {
		st->kt = MTLS_KEY_EC_P256;
	}
	slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(st->dir, sizeof(st->dir), ".");
	} else {
		snprintf(st->dir, sizeof(st->dir), "%.*s", (int)(slash - path), path);
	}
	return 0;
}

/* When two thirds of X's lifetime have passed, less up to JITTER seconds
 * at random (so a fleet enrolled at once does not renew at once). */
static time_t
due_time(X509 *x, long jitter)
{
	struct tm a, b;
	time_t nb, na;
	unsigned int r = 0;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) != 1) {
		return 0;
	}
	nb = timegm(&a);
	na = timegm(&b);
	if (jitter > 0 && RAND_bytes((unsigned char *)&r, sizeof(r)) == 1) {
		jitter = (long)(r % (unsigned long)(jitter + 1));
	} else {
		jitter = 0;
	}
	if (jitter > (na - nb) / 6) {
		jitter = (long)((na - nb) / 6);
	}
	return nb + (na - nb) * 2 / 3 - jitter;
}

static int
run_hook(const char *cmd, const char *name, const char *dir,
    struct mtls_err *err)
{
	pid_t pid;
	int status = 0;

	pid = fork();
	if (pid < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "cannot run the hook");
	}
	if (pid == 0) {
		setenv("MTLS_NAME", name, 1);
		setenv("MTLS_DIR", dir, 1);
		/* The hook runs beside the files it is about. */
		if (chdir(dir) != 0) {
			_exit(126);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return mtls_err_sys(err, MTLS_E_IO, "waiting for the hook");
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		return mtls_err_set(err, MTLS_E_IO, "renewed '%s', but the hook "
		    "'%s' failed (status %d): the new files are in place", name,
		    cmd, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return 0;
}

static char *
read_text(const char *dir, const char *name, const char *ext,
    struct mtls_err *err)
{
	char *p = mtls__path_of(dir, name, ext);
	unsigned char *d = NULL;
	size_t n = 0;

	if (p == NULL || mtls_file_read(p, 1 << 20, &d, &n, err) != 0) {
		free(p);
		return NULL;
	}
	free(p);
	return (char *)d;
}

/* During a CA rollover cacerts holds the new root (NewWithNew) and the
 * new root signed by the old key (NewWithOld, RFC 4210 4.4): a
 * self-signed certificate whose name and key are those of one that CA
 * signed is CA's successor, as trustworthy as CA itself. NULL: none. */
static X509 *
successor(X509 *ca, STACK_OF(X509) *others)
{
	int i, k;

	for (i = 0; i < sk_X509_num(others); i++) {
		X509 *r = sk_X509_value(others, i);

		if (X509_cmp(r, ca) == 0 || X509_check_issued(r, r) != X509_V_OK) {
			continue;
		}
		for (k = 0; k < sk_X509_num(others); k++) {
			X509 *x = sk_X509_value(others, k);

			if (x != r && X509_check_issued(ca, x) == X509_V_OK &&
			    X509_verify(x, X509_get0_pubkey(ca)) == 1 &&
			    X509_NAME_cmp(X509_get_subject_name(x),
				X509_get_subject_name(r)) == 0 &&
			    EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(r)) == 1 &&
			    X509_verify(r, X509_get0_pubkey(r)) == 1) {
				ERR_clear_error();
				return r;
			}
		}
	}
	ERR_clear_error();
	return NULL;
}

/* The state with the pin moved to PIN (after the old root was retired)
 * and the successor NEXT remembered (or forgotten when NULL). */
static int
stage_state(struct mtls_fileset *fs, const char *path, struct state *st,
    const char *pin, const char *next, struct mtls_err *err)
{
	char *txt;
	int rc;

	json_object_set_new(st->j, "ca_fingerprint", json_string(pin));
	if (next != NULL) {
		json_object_set_new(st->j, "ca_next_fingerprint", json_string(next));
	} else {
		json_object_del(st->j, "ca_next_fingerprint");
	}
	txt = json_dumps(st->j, JSON_INDENT(2));
	if (txt == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	rc = mtls_fileset_add(fs, path, txt, strlen(txt), MTLS_MODE_SECRET, err);
	free(txt);
	return rc;
}

int
mtls_renew_identity(const char *state_file, int force, long jitter,
    int *renewed, time_t *next, struct mtls_err *err)
{
	struct state st;
	X509 *cur = NULL, *ca = NULL, *cert = NULL;
	STACK_OF(X509) *others = NULL;
	EVP_PKEY *key = NULL, *oldkey = NULL;
	GENERAL_NAMES *sans = NULL;
	char *cur_pem = NULL, *key_pem = NULL, *ca_file = NULL, *ca_pem = NULL;
	char *csr = NULL, *pass = NULL, *crl = NULL, *p = NULL;
	size_t crl_len = 0, key_len = 0;
	struct mtls_fileset *fs = NULL;
	struct est_call call;
	struct enroll_install in;
	const char *pin = NULL;
	char next_fp[65];
	int rc = -1;

	*renewed = 0;
	*next = 0;
	if (read_state(state_file, &st, err) != 0) {
		goto out;
	}
	p = mtls__path_of(st.dir, st.name, ".crt");
	cur = p != NULL ? mtls_load_cert(p, err) : NULL;
	free(p);
	p = mtls__path_of(st.dir, st.name, ".key");
	oldkey = p != NULL && cur != NULL ? mtls_load_key(p, NULL, err) : NULL;
	free(p);
	p = NULL;
	if (cur == NULL || oldkey == NULL) {
		goto out;
	}
	*next = due_time(cur, jitter);
	if (!force && time(NULL) < *next) {
		rc = 0;
		goto out;
	}
	ca_file = read_text(st.dir, "ca", ".pem", err);
	if (ca_file == NULL) {
		goto out;
	}
	/* The pinned CA, fetched over a connection verified by it. Once a
	 * rollover has retired it, the successor learned during the overlap
	 * (ca.pem holds both) becomes the pin. */
	ca = mtls__est_client_pinned_ca(st.url, st.fp, ca_file, 0, &others, err);
	if (ca == NULL && st.next != NULL && err != NULL &&
	    err->code == MTLS_E_VERIFY) {
		mtls_err_clear(err);
		ca = mtls__est_client_pinned_ca(st.url, st.next, ca_file, 0, &others, err);
		pin = st.next;
	}
	if (ca == NULL || (ca_pem = mtls__est_client_pem(ca)) == NULL ||
	    (cur_pem = mtls__est_client_pem(cur)) == NULL ||
	    mtls_key_to_pem(oldkey, NULL, &key_pem, &key_len, err) != 0) {
		goto out;
	}
	if (st.store_pass != NULL &&
	    (pass = mtls_pass_get(st.store_pass, NULL, 0, err)) == NULL) {
		goto out;
	}
	key = mtls_key_generate(st.kt, err);
	sans = X509_get_ext_d2i(cur, NID_subject_alt_name, NULL, NULL);
	if (key == NULL || (csr = mtls__est_client_csr(key, X509_get_subject_name(cur), sans,
		err)) == NULL) {
		goto out;
	}
	memset(&call, 0, sizeof(call));
	call.url = st.url;
	call.op = "simplereenroll";
	call.ca_pem = ca_pem;
	call.cert_pem = cur_pem;
	call.key_pem = key_pem;
	call.body = csr;
	cert = mtls__est_client_post_csr(&call, key, ca, others, err);
	if (cert == NULL) {
		goto out;
	}
	crl = mtls__enroll_fetch_crl(st.url, ca_pem, 0, &crl_len);
	memset(&in, 0, sizeof(in));
	in.dir = st.dir;
	in.name = st.name;
	in.key = key;
	in.cert = cert;
	in.ca = ca;
	in.ca_next = successor(ca, others);
	in.untrusted = others;
	in.formats = st.formats;
	if (in.ca_next != NULL) {
		mtls__est_client_ca_fp(in.ca_next, next_fp);
	}
	in.bundle = st.bundle;
	in.store_pass = pass;
	in.crl_pem = crl;
	in.crl_len = crl_len;
	fs = mtls_fileset_new(1, err);
	if (fs == NULL || mtls__enroll_stage_all(&in, fs, err) != 0 ||
	    ((pin != NULL || in.ca_next != NULL || st.next != NULL) &&
		stage_state(fs, state_file, &st, pin != NULL ? pin : st.fp,
		    in.ca_next != NULL ? next_fp : NULL, err) != 0) ||
	    mtls_fileset_commit(fs, err) != 0) {
		goto out;
	}
	*renewed = 1;
	*next = due_time(cert, jitter);
	rc = st.exec != NULL ? run_hook(st.exec, st.name, st.dir, err) : 0;
out:
	mtls_fileset_free(fs);
	mtls_pass_free(pass);
	mtls_secret_free(key_pem, key_len);
	free(crl);
	free(csr);
	OPENSSL_free(ca_file); /* from mtls_file_read */
	OPENSSL_free(ca_pem);
	OPENSSL_free(cur_pem);
	GENERAL_NAMES_free(sans);
	EVP_PKEY_free(key);
	EVP_PKEY_free(oldkey);
	X509_free(cert);
	X509_free(cur);
	X509_free(ca);
	sk_X509_pop_free(others, X509_free);
	json_decref(st.j);
	return rc;
}
