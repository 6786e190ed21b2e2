/* libFuzzer target: the audit log checker (mtls_audit_verify), which reads
 * files an attacker may have edited. Never a crash; a chain it accepts has
 * at least one record and a 64-digit head. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtls/auditlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct mtls_audit_summary s;
	struct mtls_err err;
	const char *p[1];
	FILE *f;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz-audit-%ld.log", (long)getpid());
	}
	if ((f = fopen(path, "w")) == NULL) {
		abort();
	}
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		abort();
	}
	fclose(f);
	p[0] = path;
	if (mtls_audit_verify(p, 1, &s, &err) == 0 &&
	    (s.records == 0 || strlen(s.last_hash) != 64)) {
		__builtin_trap();
	}
	return 0;
}
