#include "report_print.h"

#include <stdlib.h>

static void
print_findings(FILE *f, const struct mtls_report *r, int verbose)
{
	int sev;
	size_t i;

	/* Worst first: the reader's first line is the thing to fix. */
	for (sev = MTLS_SEV_ERROR; sev >= MTLS_SEV_OK; sev--) {
		if (sev == MTLS_SEV_OK && !verbose) {
			break;
		}
		for (i = 0; i < mtls_report_count(r); i++) {
			const struct mtls_finding *x = mtls_report_get(r, i);

			if ((int)x->sev != sev) {
				continue;
			}
			fprintf(f, "%-5s %s: %s\n", mtls_severity_name(x->sev),
			    x->key, x->message);
			if (x->fix != NULL && x->sev >= MTLS_SEV_WARN) {
				fprintf(f, "      fix: %s\n", x->fix);
			}
		}
	}
}

int
report_print(FILE *f, const struct mtls_report *r, int json, int verbose)
{
	size_t i, n[4] = {0, 0, 0, 0};

	if (json) {
		char *s = mtls_report_json(r);

		if (s == NULL) {
			fprintf(stderr, "mtls: out of memory writing JSON\n");
			return 1;
		}
		fprintf(f, "%s\n", s);
		free(s);
		return 0;
	}
	for (i = 0; i < mtls_report_line_count(r); i++) {
		fprintf(f, "%s\n", mtls_report_line(r, i));
	}
	if (mtls_report_line_count(r) > 0) {
		fputc('\n', f);
	}
	print_findings(f, r, verbose);
	for (i = 0; i < mtls_report_count(r); i++) {
		n[mtls_report_get(r, i)->sev]++;
	}
	fprintf(f, "verdict: %s (%zu error%s, %zu warning%s, %zu ok)\n",
	    mtls_severity_name(mtls_report_worst(r)), n[MTLS_SEV_ERROR],
	    n[MTLS_SEV_ERROR] == 1 ? "" : "s", n[MTLS_SEV_WARN],
	    n[MTLS_SEV_WARN] == 1 ? "" : "s", n[MTLS_SEV_OK]);
	return 0;
}
