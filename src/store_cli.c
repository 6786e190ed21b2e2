#include "store_cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtls/file.h"
#include "mtls/pass.h"

#define STORE_READ_MAX (256u * 1024 * 1024)

enum sc_out
sc_kind_parse(const char *s)
{
	if (strcasecmp(s, "pem") == 0) {
		return SC_PEM;
	}
	if (strcasecmp(s, "der") == 0) {
		return SC_DER;
	}
	if (strcasecmp(s, "p12") == 0 || strcasecmp(s, "pkcs12") == 0 ||
	    strcasecmp(s, "pfx") == 0) {
		return SC_P12;
	}
	if (strcasecmp(s, "jks") == 0) {
		return SC_JKS;
	}
	return SC_NONE;
}

int
sc_has_ext(const char *path, const char *ext)
{
	size_t n = strlen(path), e = strlen(ext);

	return n > e && strcasecmp(path + n - e, ext) == 0;
}

enum sc_out
sc_kind_from_ext(const char *path)
{
	static const struct {
		const char *ext;
		enum sc_out kind;
	} map[] = {
	    {".pem", SC_PEM}, {".crt", SC_PEM}, {".key", SC_PEM},
	    {".der", SC_DER}, {".cer", SC_DER},
	    {".p12", SC_P12}, {".pfx", SC_P12}, {".pkcs12", SC_P12},
	    {".jks", SC_JKS}, {".ts", SC_JKS}, {".ks", SC_JKS},
	    {".truststore", SC_JKS}, {".keystore", SC_JKS},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (sc_has_ext(path, map[i].ext)) {
			return map[i].kind;
		}
	}
	return SC_NONE;
}

char *
sc_pass(const char *spec, const char *opt, const char *what, int confirm,
    struct mtls_err *err)
{
	char prompt[512];
	char *p;

	snprintf(prompt, sizeof(prompt), "Password for %s: ", what);
	p = mtls_pass_get(spec, prompt, confirm, err);
	if (p == NULL && spec == NULL && err->code == MTLS_E_PASSWORD) {
		mtls_err_set(err, MTLS_E_PASSWORD,
		    "a password is needed for %s: give %s with pass:, env:, "
		    "file:, fd: or stdin", what, opt);
	}
	return p;
}

void
sc_pass_warn(const char *pass, enum sc_out kind)
{
	const unsigned char *p = (const unsigned char *)pass;

	if (pass == NULL) {
		return;
	}
	if (strlen(pass) < 6) {
		fprintf(stderr, "mtls: warning: keytool refuses passwords "
				"shorter than 6 characters\n");
	}
	if (kind == SC_P12) {
		for (; *p != '\0'; p++) {
			if (*p >= 0x80) {
				fprintf(stderr, "mtls: warning: Java 17 cannot "
						"open a PKCS#12 file whose "
						"password is not ASCII\n");
				break;
			}
		}
	}
}

struct mtls_store *
sc_store_load(const char *path, const char *pass, const char *key_pass,
    int *exists, struct mtls_err *err)
{
	unsigned char *d = NULL;
	size_t n = 0;
	struct mtls_store *s;
	struct stat st;

	*exists = stat(path, &st) == 0;
	if (!*exists) {
		if (errno != ENOENT) {
			mtls_err_sys(err, MTLS_E_IO, "cannot open %s", path);
			return NULL;
		}
		s = mtls_store_new();
		if (s == NULL) {
			mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		return s;
	}
	if (mtls_file_read(path, STORE_READ_MAX, &d, &n, err) != 0) {
		return NULL;
	}
	s = mtls_store_parse(d, n, path, pass, key_pass, err);
	mtls_file_free(d, n);
	return s;
}

static int
store_has_key(const struct mtls_store *s)
{
	size_t i;

	for (i = 0; i < mtls_store_count(s); i++) {
		if (mtls_store_get(s, i)->type == MTLS_ENTRY_KEY) {
			return 1;
		}
	}
	return 0;
}

int
sc_store_save(struct mtls_store *s, const char *path, enum sc_out kind,
    const char *pass, const struct mtls_store_opts *opts, int force,
    struct mtls_err *err)
{
	unsigned char *out = NULL;
	size_t len = 0;
	struct mtls_fileset *fs;
	int rc = -1;

	if (mtls_store_serialize(s, kind == SC_JKS ? MTLS_STORE_JKS
	    : MTLS_STORE_P12, pass, opts, &out, &len, err) != 0) {
		return -1;
	}
	fs = mtls_fileset_new(force, err);
	if (fs != NULL &&
	    mtls_fileset_add(fs, path, out, len,
		store_has_key(s) ? MTLS_MODE_SECRET : MTLS_MODE_PUBLIC,
		err) == 0 &&
	    mtls_fileset_commit(fs, err) == 0) {
		rc = 0;
	}
	mtls_fileset_free(fs);
	mtls_store_buf_free(out, len);
	return rc;
}

int
sc_store_lock(const char *path, int *fd, struct mtls_err *err)
{
	char *copy = strdup(path);
	const char *env = getenv("MTLS_LOCK_WAIT");
	long wait = env != NULL && *env != '\0' ? strtol(env, NULL, 10) : 30;
	struct timespec pause = {0, 50 * 1000000L};
	long waited_ms = 0;
	int failed = 0;

	*fd = -1;
	if (copy == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	*fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		mtls_err_sys(err, MTLS_E_IO, "cannot open the directory of %s", path);
		free(copy);
		return -1;
	}
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			failed = mtls_err_sys(err, MTLS_E_IO, "cannot lock the "
			    "directory of %s", path);
			break;
		}
		if (waited_ms >= wait * 1000) {
			failed = mtls_err_set(err, MTLS_E_IO, "%s is busy: another "
			    "mtls keystore or convert command is writing a store "
			    "beside it; "
			    "waited %ld s (set MTLS_LOCK_WAIT=SECONDS to wait "
			    "longer)", path, wait);
			break;
		}
		nanosleep(&pause, NULL);
		waited_ms += 50;
	}
	free(copy);
	if (failed) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/* 1 when NAME is BASE.tmp-XXXXXX, the temporary name of a file set. */
static int
store_tmp_name(const char *name, const char *base)
{
	size_t b = strlen(base), i;

	if (strncmp(name, base, b) != 0 || strncmp(name + b, ".tmp-", 5) != 0 ||
	    strlen(name + b + 5) != 6) {
		return 0;
	}
	for (i = b + 5; name[i] != '\0'; i++) {
		if (!isalnum((unsigned char)name[i])) {
			return 0;
		}
	}
	return 1;
}

void
sc_store_sweep(int dirfd, const char *path)
{
	char *copy = strdup(path);
	const char *base = copy != NULL ? basename(copy) : NULL;
	struct dirent *de;
	struct stat sb;
	DIR *d = NULL;
	int fd;

	fd = base != NULL ? dup(dirfd) : -1;
	if (fd >= 0 && (d = fdopendir(fd)) == NULL) {
		close(fd);
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (store_tmp_name(de->d_name, base) &&
		    fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && unlinkat(dirfd, de->d_name, 0) == 0) {
			fprintf(stderr, "mtls: removed %s, left by an interrupted "
					"write of %s (the store is as it was before "
					"it)\n", de->d_name, path);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
	free(copy);
}

void
sc_store_unlock(int fd)
{
	if (fd >= 0) {
		close(fd);
	}
}
