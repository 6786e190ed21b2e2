/* The entry point shared by the libFuzzer targets whose input is text:
 * the bytes copied and NUL-terminated (an embedded NUL ends the text
 * early, as it would for any caller passing a C string), handed to the
 * target's FN, then freed. FN may modify the copy. */
#ifndef MTLS_FUZZ_TEXT_H
#define MTLS_FUZZ_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline int
mtls_fuzz_text(const uint8_t *data, size_t size, void (*fn)(char *text))
{
	char *text = malloc(size + 1);

	if (text == NULL) {
		return 0;
	}
	if (size > 0) {
		memcpy(text, data, size);
	}
	text[size] = '\0';
	fn(text);
	free(text);
	return 0;
}

#endif
