/* libFuzzer target: the receiver's request-head judge (mtls__serve_head_check)
 * and the log escaper, on bytes a client sends before any check. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "link/server/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serve_head h;
	const char *why = NULL;
	char text[512], out[2100];
	size_t n;
	int rc;

	rc = mtls__serve_head_check((const char *)data, size, SERVE_HEAD_MAX,
	    1000, &h, &why);
	if (rc == 0) {
		/* Accepted: the head lies within the input and the limits. */
		if (h.len == 0 || h.len > size || h.content_length > 1000) {
			__builtin_trap();
		}
	} else if (rc == 1) {
		if (size >= SERVE_HEAD_MAX) {
			__builtin_trap();
		}
	} else if (why == NULL || rc < 400 || rc > 599) {
		__builtin_trap();
	}
	n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	mtls__serve_log_escape(text, SERVE_ESC_FIELD, out, sizeof(out));
	if (!mtls__utf8_valid(out, strlen(out)) || strchr(out, '\n') != NULL ||
	    strchr(out, ' ') != NULL) {
		__builtin_trap();
	}
	return 0;
}
