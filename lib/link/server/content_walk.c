/* see link/server/content_store_priv.h: walking a checked path inside the root */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "link/server/content_store_priv.h"

/*
 * Walks the directories of PATH from the root with O_NOFOLLOW, creating
 * them when CREATE. On success *DIRFD is the parent directory of the leaf
 * and *LEAF points into BUF. Returns 0, 1 when a directory is missing
 * (and not CREATE), or -1.
 */
int
mtls__content_walk(struct mtls__content_store *s, const char *path, int create, char *buf,
    size_t buflen, int *dirfd, const char **leaf, struct mtls_err *err)
{
	char *comp, *slash;
	int cur, next;
	struct stat st;

	snprintf(buf, buflen, "%s", path + 1);
	cur = dup(s->rootfd);
	if (cur < 0) {
		return mtls_err_sys(err, MTLS_E_IO, "dup");
	}
	comp = buf;
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		next = openat(cur, comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
				mtls_err_sys(err, MTLS_E_IO,
				    "cannot create directory for %s", path);
				close(cur);
				return -1;
			}
			next = openat(cur, comp,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			if (e == ENOENT || (e == ENAMETOOLONG && !create)) {
				close(cur); /* absent: that name cannot exist */
				return 1;
			}
			if (e == ELOOP ||
			    (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISLNK(st.st_mode))) {
				mtls_err_set(err, MTLS_E_POLICY,
				    "path %s: '%s' is a symbolic link; the "
				    "receiver never follows links", path, comp);
			} else if (e == ENAMETOOLONG) {
				mtls_err_set(err, MTLS_E_POLICY,
				    "path %s: a name is too long", path);
			} else if (e == ENOTDIR) {
				mtls_err_set(err, MTLS_E_EXISTS,
				    "path %s: '%s' is a file, not a directory",
				    path, comp);
			} else {
				errno = e;
				mtls_err_sys(err, MTLS_E_IO, "cannot open %s/%s",
				    s->root, comp);
			}
			close(cur);
			return -1;
		}
		close(cur);
		cur = next;
		comp = slash + 1;
	}
	*dirfd = cur;
	*leaf = comp;
	return 0;
}
