/* see link/server/content_store_priv.h: removing what killed receivers left */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "link/server/content_store_priv.h"

/* Deeper than any path the receiver accepts can reach. */
#define SWEEP_DEPTH (MTLS__CONTENT_PATH_MAX / 2)

/* 1 when NAME is PREFIX-PID-N of a receiver that is gone: its process no
 * longer exists, or its number is ours (a restarted container reuses its
 * number; our own stores are all opened before the first body). */
static int
stale(const char *name, const char *prefix)
{
	const size_t n = strlen(prefix);
	long pid;
	char *end;

	if (strncmp(name, prefix, n) != 0) {
		return 0;
	}
	pid = strtol(name + n, &end, 10);
	if (end == name + n || *end != '-' || pid <= 0) {
		return 0;
	}
	return pid == (long)getpid() ||
	    (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

/* Removes the spools of receivers that were killed while a body arrived.
 * Only the root holds spools. */
void
mtls__content_sweep_spools(int rootfd)
{
	int fd = dup(rootfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	const struct dirent *e;

	if (d == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	rewinddir(d); /* a dup shares the offset of earlier reads */
	while ((e = readdir(d)) != NULL) {
		if (stale(e->d_name, SPOOL_PREFIX)) {
			(void)unlinkat(rootfd, e->d_name, 0);
		}
	}
	closedir(d);
}

/* Removes the temporary files of killed receivers in DFD (which it
 * closes) and the directories below it, never following a link. */
static void
sweep_dir(int dfd, int depth, unsigned *removed)
{
	DIR *d = fdopendir(dfd);
	const struct dirent *e;
	struct stat st;
	int sub;

	if (d == NULL) {
		close(dfd);
		return;
	}
	rewinddir(d); /* the root's fd is a dup: its offset is shared */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (stale(e->d_name, TMP_PREFIX)) {
			if (unlinkat(dfd, e->d_name, 0) == 0) {
				(*removed)++;
			}
			continue;
		}
		if (depth >= SWEEP_DEPTH || (e->d_type != DT_DIR &&
		    (e->d_type != DT_UNKNOWN ||
			fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			!S_ISDIR(st.st_mode)))) {
			continue;
		}
		sub = openat(dfd, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			sweep_dir(sub, depth + 1, removed);
		}
	}
	closedir(d);
}

unsigned
mtls__content_store_sweep(struct mtls__content_store *s)
{
	unsigned removed = 0;
	int fd = dup(s->rootfd);

	if (fd >= 0) {
		sweep_dir(fd, 0, &removed);
	}
	return removed;
}
