/* Private to the bundle module: a growing text buffer and the context the
 * per-target writers share. */
#ifndef MTLS_BUNDLE_INT_H
#define MTLS_BUNDLE_INT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "mtls/bundle.h"

/* Text that may hold a password: wiped when freed. A failed allocation
 * sets OOM and later appends do nothing. */
struct bbuf {
	char *p;
	size_t len, cap;
	int oom;
};

void mtls__bb_printf(struct bbuf *b, const char *fmt, ...) MTLS_PRINTF(2, 3);
/* Appends S escaped for an XML attribute value. */
void mtls__bb_xml(struct bbuf *b, const char *s);
/* Appends S as one argument of a Java @argfile (double-quoted). */
void mtls__bb_jarg(struct bbuf *b, const char *s);
void mtls__bb_free(struct bbuf *b);

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

/* Stages DATA as O->out_dir/FILE with MODE. */
int mtls__bundle_put(struct bctx *c, const char *file, const void *data,
    size_t len, mode_t mode, struct mtls_err *err);
int mtls__bundle_put_buf(struct bctx *c, const char *file, struct bbuf *b,
    mode_t mode, struct mtls_err *err);

/* The target's snippet and README.txt (bundle_snip.c). */
int mtls__bundle_write_text(struct bctx *c, struct mtls_err *err);

#endif
