/*
 * Private to libmtls (lib/link/server/): from a verified client certificate to a principal
 * and what that principal may do (the receiver's "map certificate to user").
 *
 * The file format is documented in docs/map-format.md. In short, one rule a
 * line, first match wins:
 *
 *   principal NAME MATCHER... allow=ACTIONS:PREFIX ...
 *
 *   MATCHER  subject=GLOB | cn=GLOB | dns=GLOB | uri=GLOB | email=GLOB |
 *            sha256=HEX   (all matchers on a line must match)
 *   ACTIONS  test,activate,deactivate or * (comma separated)
 *   PREFIX   absolute path; matches itself and everything below it
 */
#ifndef MTLS_PRINCIPAL_MAP_INT_H
#define MTLS_PRINCIPAL_MAP_INT_H

#include <openssl/x509.h>

#include "mtls/err.h"
#include "mtls/replicate.h"

struct mtls__pmap;
struct mtls__pmap_rule;

/* Parses the map in TEXT; NAME ("map.txt") is used in messages, which name
 * the line at fault: "map.txt:3: unknown matcher 'foo='". */
struct mtls__pmap *mtls__pmap_parse(const char *text, const char *name,
    struct mtls_err *err);

/* Reads and parses the map file PATH. */
struct mtls__pmap *mtls__pmap_load(const char *path, struct mtls_err *err);

/* NULL-safe. */
void mtls__pmap_free(struct mtls__pmap *map);

/* Number of rules. */
size_t mtls__pmap_count(const struct mtls__pmap *map);

/* The first rule whose matchers all match CERT, or NULL (unmapped). The
 * rule is borrowed from MAP. */
const struct mtls__pmap_rule *mtls__pmap_match(const struct mtls__pmap *map,
    X509 *cert);

/* The rule's principal name (borrowed). */
const char *mtls__pmap_rule_principal(const struct mtls__pmap_rule *rule);

/* 1 when RULE allows ACTION on PATH (a normalised absolute path), else 0.
 * Prefixes match whole components: "/content" covers "/content" and
 * "/content/a" but not "/contentx". */
int mtls__pmap_rule_allows(const struct mtls__pmap_rule *rule,
    enum mtls_action action, const char *path);

/* Same rule on its own, for tests: does PREFIX cover PATH? */
int mtls__path_prefix_covers(const char *prefix, const char *path);

#endif
