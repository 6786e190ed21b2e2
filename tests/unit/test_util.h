/* Small helpers shared by the unit tests. */
#ifndef MTLS_TEST_UTIL_H
#define MTLS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh private directory under $TMPDIR; caller frees the string. */
static inline char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(512);

	snprintf(p, 512, "%s/mtls-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(p) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static inline void
test_rmrf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		/* best effort */
	}
}

/* DIR/NAME into a static ring of buffers (enough for a few at once). */
static inline const char *
test_path(const char *dir, const char *name)
{
	static char ring[8][600];
	static int next;
	char tmp[600];
	char *p = ring[next++ % 8];

	/* Via TMP: DIR may itself be an earlier result from the ring. */
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, name);
	memcpy(p, tmp, sizeof(tmp));
	return p;
}

/* Writes LEN bytes to PATH (plain fopen: test fixtures, not products). */
static inline int
test_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc;

	if (f == NULL) {
		return -1;
	}
	rc = fwrite(data, 1, len, f) == len ? 0 : -1;
	if (fclose(f) != 0) {
		rc = -1;
	}
	return rc;
}

/* Whole file into a malloc'd NUL-terminated buffer, or NULL. */
static inline unsigned char *
test_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (f == NULL) {
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf != NULL) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Permission bits of PATH, or -1. */
static inline int
test_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		return -1;
	}
	return (int)(st.st_mode & 07777);
}

static inline int
test_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

#endif
