/* see bundle/bundle_int.h: staging one output file of a bundle into the
 * bundle's file set (written all at once, atomically, by bundle.c). A leaf
 * of bundle/. */
#include <limits.h>
#include <stdio.h>

#include "mtls/file.h"
#include "base/buf.h"
#include "bundle/bundle_int.h"

int
mtls__bundle_put(struct bctx *c, const char *file, const void *data, size_t len,
    mode_t mode, struct mtls_err *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", c->o->out_dir, file);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		return mtls_err_set(err, MTLS_E_USAGE, "path too long: %s/%s",
		    c->o->out_dir, file);
	}
	return mtls_fileset_add(c->fs, path, data, len, mode, err);
}

int
mtls__bundle_put_buf(struct bctx *c, const char *file, struct mtls__buf *b,
    mode_t mode, struct mtls_err *err)
{
	if (b->oom || b->p == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL,
		    "out of memory writing %s", file);
	}
	return mtls__bundle_put(c, file, mtls__buf_str(b), b->len, mode, err);
}
