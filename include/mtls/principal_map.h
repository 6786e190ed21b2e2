/*
 * mtls/principal_map.h - from a verified client certificate to a principal
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
#ifndef MTLS_PRINCIPAL_MAP_H
#define MTLS_PRINCIPAL_MAP_H

#include <openssl/x509.h>

#include "mtls/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Replication actions, usable as a bit set. */
enum mtls_action {
	MTLS_ACTION_TEST = 1,
	MTLS_ACTION_ACTIVATE = 2,
	MTLS_ACTION_DEACTIVATE = 4,
};
#define MTLS_ACTION_ALL \
	(MTLS_ACTION_TEST | MTLS_ACTION_ACTIVATE | MTLS_ACTION_DEACTIVATE)

/* "Test"/"activate"/"DEACTIVATE" (any case) to an action; -1 if unknown. */
int mtls_action_parse(const char *s);

/* "Test", "Activate", "Deactivate" (the protocol's spelling). */
const char *mtls_action_name(enum mtls_action a);

struct mtls_pmap;
struct mtls_pmap_rule;

/* Parses the map in TEXT; NAME ("map.txt") is used in messages, which name
 * the line at fault: "map.txt:3: unknown matcher 'foo='". */
struct mtls_pmap *mtls_pmap_parse(const char *text, const char *name,
    struct mtls_err *err);

/* Reads and parses the map file PATH. */
struct mtls_pmap *mtls_pmap_load(const char *path, struct mtls_err *err);

/* NULL-safe. */
void mtls_pmap_free(struct mtls_pmap *map);

/* Number of rules. */
size_t mtls_pmap_count(const struct mtls_pmap *map);

/* The first rule whose matchers all match CERT, or NULL (unmapped). The
 * rule is borrowed from MAP. */
const struct mtls_pmap_rule *mtls_pmap_match(const struct mtls_pmap *map,
    X509 *cert);

/* The rule's principal name (borrowed). */
const char *mtls_pmap_rule_principal(const struct mtls_pmap_rule *rule);

/* 1 when RULE allows ACTION on PATH (a normalised absolute path), else 0.
 * Prefixes match whole components: "/content" covers "/content" and
 * "/content/a" but not "/contentx". */
int mtls_pmap_rule_allows(const struct mtls_pmap_rule *rule,
    enum mtls_action action, const char *path);

/* Same rule on its own, for tests: does PREFIX cover PATH? */
int mtls_path_prefix_covers(const char *prefix, const char *path);

#ifdef __cplusplus
}
#endif
#endif
