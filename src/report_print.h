/* Printing a diagnostics report (probe, doctor). */
#ifndef MTLS_REPORT_PRINT_H
#define MTLS_REPORT_PRINT_H

#include <stdio.h>

#include "mtls/diag.h"

/* Details, then the findings (worst first), then a one-line verdict; or
 * the JSON document when JSON. VERBOSE also prints ok findings. Returns 0,
 * or 1 when the JSON could not be produced. */
int report_print(FILE *f, const struct mtls_report *r, int json, int verbose);

#endif
