/* Private to bundle/: the context the per-target writers share.
 * Files: bundle_target.c (target table, leaf), bundle_stage.c (staging
 * files, leaf), bundle_snip.c (snippets and READMEs), bundle.c (identities,
 * checks, the whole bundle). Each calls only those before it. */
#ifndef MTLS_BUNDLE_INT_H
#define MTLS_BUNDLE_INT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "mtls/bundle.h"
#include "base/buf.h"

struct bctx {
	const struct mtls_bundle_opts *o;
	const struct mtls_bundle_id *id, *client;
	X509 *ca;
	struct mtls_fileset *fs;
	const char *name;     /* id->name */
	char alias[256];      /* key alias in Java stores (lower-case) */
	char dir[PATH_MAX];   /* directory the snippet names */
	char addr[256];       /* listen address, "" when only a port */
	char port[16];
	char backend[300];
	char *url;            /* curl default URL (malloc'd) */
};

/* Stages DATA as O->out_dir/FILE with MODE (bundle_stage.c). */
int mtls__bundle_put(struct bctx *c, const char *file, const void *data,
    size_t len, mode_t mode, struct mtls_err *err);
int mtls__bundle_put_buf(struct bctx *c, const char *file, struct mtls__buf *b,
    mode_t mode, struct mtls_err *err);

/* The target's snippet and README.txt (bundle_snip.c). */
int mtls__bundle_write_text(struct bctx *c, struct mtls_err *err);

#endif
