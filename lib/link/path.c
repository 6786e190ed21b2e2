/* see link/path_int.h: the one Path validator, shared by the receiver
 * (every request) and the push agent (every item, at enqueue). */
#include <string.h>

#include "mtls/replicate.h"
#include "link/path_int.h"
#include "base/internal.h"

int
mtls__content_store_path_reserved(const char *path)
{
	const char *p = path;
	size_t n;

	while (*p != '\0') {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n >= strlen(MTLS__CONTENT_RESERVED) &&
		    strncmp(p, MTLS__CONTENT_RESERVED, strlen(MTLS__CONTENT_RESERVED)) == 0) {
			return 1;
		}
		p += n;
	}
	return 0;
}

int
mtls__content_store_path_check(const char *path, char *out, size_t outlen,
    struct mtls_err *err)
{
	const char *p = path;
	size_t n, o = 0;

	if (strlen(path) > MTLS__CONTENT_PATH_MAX || outlen < 2) {
		return mtls_err_set(err, MTLS_E_POLICY,
		    "path is longer than %d bytes", MTLS__CONTENT_PATH_MAX);
	}
	for (n = 0; path[n] != '\0'; n++) {
		const unsigned char b = (unsigned char)path[n];

		/* C0, DEL, and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
		if (b < 0x20 || b == 0x7f || b == '\\' ||
		    (b == 0xc2 && (unsigned char)path[n + 1] >= 0x80 &&
			(unsigned char)path[n + 1] <= 0x9f)) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "path has a control character or backslash");
		}
	}
	/* The path names a file and goes into the access log: text only,
	 * so what the log shows is what was written. */
	if (!mtls__utf8_valid(path, n)) {
		return mtls_err_set(err, MTLS_E_POLICY,
		    "path is not valid UTF-8");
	}
	if (path[0] != '/') {
		return mtls_err_set(err, MTLS_E_POLICY,
		    "path '%s' is not absolute (it must start with '/')", path);
	}
	while (*p != '\0') {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 0) {
			break;
		}
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "path '%s' has a '%.*s' component; only plain "
			    "names are allowed", path, (int)n, p);
		}
		if (strncmp(p, MTLS__CONTENT_RESERVED,
			strlen(MTLS__CONTENT_RESERVED)) == 0) {
			return mtls_err_set(err, MTLS_E_POLICY,
			    "path '%s': names starting with '%s' are reserved "
			    "for the receiver", path, MTLS__CONTENT_RESERVED);
		}
		if (o + 1 + n >= outlen) {
			return mtls_err_set(err, MTLS_E_POLICY, "path too long");
		}
		out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	if (o == 0) {
		return mtls_err_set(err, MTLS_E_POLICY,
		    "path '%s' names the root itself, not a file", path);
	}
	out[o] = '\0';
	return 0;
}

int
mtls_path_reserved(const char *path)
{
	return mtls__content_store_path_reserved(path);
}
