/* see link/server/principal_map_int.h; the format is documented in docs/map-format.md */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "mtls/file.h"
#include "mtls/pki.h"
#include "link/server/principal_map_int.h"
#include "base/internal.h"

#define PMAP_MAX_FILE (1024 * 1024)
#define PMAP_MAX_TOKENS 64
#define PMAP_MAX_LINE 4096

enum matcher_kind {
	M_SUBJECT, M_CN, M_O, M_OU, M_DNS, M_URI, M_EMAIL, M_SHA256, M_SPKI
};

static const struct {
	const char *key;
	enum matcher_kind kind;
} matcher_keys[] = {
	{"subject", M_SUBJECT}, {"cn", M_CN}, {"o", M_O}, {"ou", M_OU},
	{"dns", M_DNS}, {"uri", M_URI}, {"email", M_EMAIL},
	{"sha256", M_SHA256}, {"spki", M_SPKI},
};

struct matcher {
	enum matcher_kind kind;
	char *value; /* glob, or the fingerprint as 64 lower-case hex digits */
};

struct grant {
	unsigned actions;
	char *prefix;
};

struct mtls__pmap_rule {
	char *principal;
	struct matcher *m;
	size_t nm;
	struct grant *g;
	size_t ng;
};

struct mtls__pmap {
	struct mtls__pmap_rule *rules;
	size_t n;
};

static void
rule_clear(struct mtls__pmap_rule *r)
{
	size_t i;

	free(r->principal);
	for (i = 0; i < r->nm; i++) {
		free(r->m[i].value);
	}
	for (i = 0; i < r->ng; i++) {
		free(r->g[i].prefix);
	}
	free(r->m);
	free(r->g);
	memset(r, 0, sizeof(*r));
}

void
mtls__pmap_free(struct mtls__pmap *map)
{
	size_t i;

	if (map == NULL) {
		return;
	}
	for (i = 0; i < map->n; i++) {
		rule_clear(&map->rules[i]);
	}
	free(map->rules);
	free(map);
}

size_t
mtls__pmap_count(const struct mtls__pmap *map)
{
	return map->n;
}

/*
 * Splits LINE in place into whitespace-separated tokens. A token may hold a
 * double-quoted part ("CN=a, O=b"), in which \" and \\ escape. A token that
 * starts with '#' ends the line. Returns the count or -1 (unterminated
 * quote).
 */
static int
tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line, *out;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
		}
		if (*p == '\0' || *p == '#') {
			return n;
		}
		if (n == max) {
			return -2;
		}
		tok[n++] = out = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r') {
			if (*p != '"') {
				*out++ = *p++;
				continue;
			}
			p++;
			while (*p != '"') {
				if (*p == '\0') {
					return -1;
				}
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
					p++;
				}
				*out++ = *p++;
			}
			p++;
		}
		if (*p != '\0') {
			p++;
		}
		*out = '\0';
	}
}

static int
name_ok(const char *s)
{
	if (*s == '\0') {
		return 0;
	}
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr("._@-", *s) == NULL) {
			return 0;
		}
	}
	return 1;
}

/* "AB:CD:.." or "abcd.." to 64 lower-case hex digits; NULL if malformed. */
static char *
fingerprint_norm(const char *s)
{
	char *out = malloc(65);
	size_t n = 0;

	if (out == NULL) {
		return NULL;
	}
	for (; *s != '\0'; s++) {
		if (*s == ':') {
			continue;
		}
		if (!isxdigit((unsigned char)*s) || n == 64) {
			free(out);
			return NULL;
		}
		out[n++] = (char)tolower((unsigned char)*s);
	}
	out[n] = '\0';
	if (n != 64) {
		free(out);
		return NULL;
	}
	return out;
}

static int
parse_actions(char *list, unsigned *out)
{
	char *a, *save = NULL;
	int v;

	*out = 0;
	for (a = strtok_r(list, ",", &save); a != NULL;
	     a = strtok_r(NULL, ",", &save)) {
		if (strcmp(a, "*") == 0 || strcasecmp(a, "all") == 0) {
			*out |= MTLS_ACTION_ALL;
			continue;
		}
		v = mtls_action_parse(a);
		if (v < 0) {
			return -1;
		}
		*out |= (unsigned)v;
	}
	return *out == 0 ? -1 : 0;
}

/* True when a component of PATH is "..". */
static int
has_dotdot(const char *path)
{
	const char *p = path;
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			return 1;
		}
		p += n;
		p += strspn(p, "/");
	}
	return 0;
}

static int
add_grant(struct mtls__pmap_rule *r, char *val, const char *where,
    struct mtls_err *err)
{
	char *colon = strchr(val, ':');
	struct grant *g;
	unsigned actions;

	if (colon == NULL || colon[1] != '/') {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: allow= needs ACTIONS:/PREFIX (e.g. "
		    "allow=activate,deactivate:/content), not '%s'", where, val);
	}
	*colon = '\0';
	if (parse_actions(val, &actions) != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: unknown action in allow=%s (use test, activate, "
		    "deactivate or *)", where, val);
	}
	if (has_dotdot(colon + 1)) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: prefix '%s' must not contain '..'", where, colon + 1);
	}
	g = realloc(r->g, (r->ng + 1) * sizeof(*g));
	if (g == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	r->g = g;
	g[r->ng].actions = actions;
	g[r->ng].prefix = mtls__strdup(colon + 1);
	if (g[r->ng].prefix == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	r->ng++;
	return 0;
}

static int
add_matcher(struct mtls__pmap_rule *r, const char *key, const char *val,
    const char *where, struct mtls_err *err)
{
	struct matcher *m;
	size_t i;

	for (i = 0; i < MTLS_ARRAY_LEN(matcher_keys); i++) {
		if (strcmp(key, matcher_keys[i].key) == 0) {
			break;
		}
	}
	if (i == MTLS_ARRAY_LEN(matcher_keys)) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: unknown matcher '%s=' (use subject=, cn=, o=, ou=, dns=, "
		    "uri=, email=, sha256=, spki= or allow=)", where, key);
	}
	if (*val == '\0') {
		return mtls_err_set(err, MTLS_E_FORMAT, "%s: %s= is empty",
		    where, key);
	}
	m = realloc(r->m, (r->nm + 1) * sizeof(*m));
	if (m == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	r->m = m;
	m[r->nm].kind = matcher_keys[i].kind;
	if (matcher_keys[i].kind == M_SUBJECT) {
		struct mtls_err why;

		mtls_err_clear(&why);
		if (mtls_name_pattern_check(val, &why) != 0) {
			return mtls_err_set(err, MTLS_E_FORMAT, "%s: subject=: %s",
			    where, why.msg);
		}
	}
	if (matcher_keys[i].kind == M_SHA256 || matcher_keys[i].kind == M_SPKI) {
		m[r->nm].value = fingerprint_norm(val);
		if (m[r->nm].value == NULL) {
			return mtls_err_set(err, MTLS_E_FORMAT,
			    "%s: %s= needs 64 hex digits (colons allowed), as "
			    "'mtls inspect' prints them", where, key);
		}
	} else {
		m[r->nm].value = mtls__strdup(val);
		if (m[r->nm].value == NULL) {
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
	}
	r->nm++;
	return 0;
}

/* Parses one rule from TOK[0..N); returns 0 or -1. */
static int
parse_rule(char **tok, int n, struct mtls__pmap_rule *r, const char *where,
    struct mtls_err *err)
{
	int i;
	char *eq;

	if (strcmp(tok[0], "principal") != 0) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: a rule starts with 'principal NAME', not '%s'", where,
		    tok[0]);
	}
	if (n < 2 || !name_ok(tok[1])) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: principal needs a name of letters, digits, '.', '_', "
		    "'@' or '-'", where);
	}
	r->principal = mtls__strdup(tok[1]);
	if (r->principal == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 2; i < n; i++) {
		eq = strchr(tok[i], '=');
		if (eq == NULL) {
			return mtls_err_set(err, MTLS_E_FORMAT,
			    "%s: expected KEY=VALUE, not '%s'", where, tok[i]);
		}
		*eq = '\0';
		if (strcmp(tok[i], "allow") == 0) {
			if (add_grant(r, eq + 1, where, err) != 0) {
				return -1;
			}
		} else if (add_matcher(r, tok[i], eq + 1, where, err) != 0) {
			return -1;
		}
	}
	if (r->nm == 0) {
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: principal %s has no matcher (subject=, cn=, o=, ou=, "
		    "dns=, uri=, email=, sha256= or spki=)", where, r->principal);
	}
	return 0;
}

struct mtls__pmap *
mtls__pmap_parse(const char *text, const char *name, struct mtls_err *err)
{
	struct mtls__pmap *map = calloc(1, sizeof(*map));
	struct mtls__pmap_rule *rules;
	char line[PMAP_MAX_LINE], where[300], *tok[PMAP_MAX_TOKENS];
	const char *p = text, *nl;
	size_t len;
	int lineno = 0, n;

	if (map == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		snprintf(where, sizeof(where), "%s:%d", name, lineno);
		if (len >= sizeof(line)) {
			mtls_err_set(err, MTLS_E_FORMAT, "%s: line too long",
			    where);
			goto fail;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl != NULL ? 1 : 0);
		n = tokenize(line, tok, PMAP_MAX_TOKENS);
		if (n < 0) {
			mtls_err_set(err, MTLS_E_FORMAT, "%s: %s", where,
			    n == -1 ? "unterminated quote" : "too many fields");
			goto fail;
		}
		if (n == 0) {
			continue;
		}
		rules = realloc(map->rules, (map->n + 1) * sizeof(*rules));
		if (rules == NULL) {
			mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
			goto fail;
		}
		map->rules = rules;
		memset(&rules[map->n], 0, sizeof(*rules));
		map->n++;
		if (parse_rule(tok, n, &rules[map->n - 1], where, err) != 0) {
			goto fail;
		}
	}
	return map;
fail:
	mtls__pmap_free(map);
	return NULL;
}

struct mtls__pmap *
mtls__pmap_load(const char *path, struct mtls_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct mtls__pmap *map;

	if (mtls_file_read(path, PMAP_MAX_FILE, &data, &len, err) != 0) {
		return NULL;
	}
	if (memchr(data, '\0', len) != NULL) {
		mtls_err_set(err, MTLS_E_FORMAT,
		    "%s: not a text file (NUL byte)", path);
		mtls_file_free(data, len);
		return NULL;
	}
	map = mtls__pmap_parse((const char *)data, path, err);
	mtls_file_free(data, len);
	return map;
}

/* Does any SAN of TYPE in CERT match GLOB? DNS names label by label and
 * case-insensitively (mtls_dns_match); URIs and emails as written. */
static int
san_matches(X509 *cert, int type, const char *glob)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	const GENERAL_NAME *g;
	const ASN1_IA5STRING *s;
	char buf[1024];
	int i, hit = 0;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && !hit;
	     i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != type) {
			continue;
		}
		s = g->d.ia5;
		if (s->length <= 0 || (size_t)s->length >= sizeof(buf) ||
		    memchr(s->data, '\0', (size_t)s->length) != NULL) {
			continue;
		}
		memcpy(buf, s->data, (size_t)s->length);
		buf[s->length] = '\0';
		hit = type == GEN_DNS ? mtls_dns_match(glob, buf)
				      : fnmatch(glob, buf, 0) == 0;
	}
	GENERAL_NAMES_free(gens);
	return hit;
}

/* Lazily computed facts about the certificate being matched. */
struct certinfo {
	X509 *cert;
	char sha256[65];
	char spki[65];
};

/* SHA-256 of the certificate (SPKI: of its SubjectPublicKeyInfo, which
 * survives renewal with the same key) as 64 lower-case hex digits. */
static int
digest_hex(X509 *cert, int spki, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0, i;
	int n, ok;

	if (out[0] != '\0') {
		return 1;
	}
	if (spki) {
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
		ok = n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(),
		    NULL) == 1;
		OPENSSL_free(der);
	} else {
		ok = X509_digest(cert, EVP_sha256(), md, &mdlen) == 1;
	}
	if (!ok || mdlen != 32) {
		return 0;
	}
	for (i = 0; i < mdlen; i++) {
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
	return 1;
}

static int
matcher_hits(const struct matcher *m, struct certinfo *ci)
{
	const X509_NAME *subj = X509_get_subject_name(ci->cert);

	switch (m->kind) {
	case M_SUBJECT:
		/* Per RDN: a '*' never crosses into the next attribute. */
		return mtls_name_match(subj, m->value, NULL) == 1;
	case M_CN:
		return mtls_name_attr_match(subj, NID_commonName, m->value);
	case M_O:
		return mtls_name_attr_match(subj, NID_organizationName, m->value);
	case M_OU:
		return mtls_name_attr_match(subj, NID_organizationalUnitName, m->value);
	case M_DNS:
		return san_matches(ci->cert, GEN_DNS, m->value);
	case M_URI:
		return san_matches(ci->cert, GEN_URI, m->value);
	case M_EMAIL:
		return san_matches(ci->cert, GEN_EMAIL, m->value);
	case M_SHA256:
		return digest_hex(ci->cert, 0, ci->sha256) &&
		    strcmp(ci->sha256, m->value) == 0;
	case M_SPKI:
		return digest_hex(ci->cert, 1, ci->spki) &&
		    strcmp(ci->spki, m->value) == 0;
	default:
		return 0;
	}
}

const struct mtls__pmap_rule *
mtls__pmap_match(const struct mtls__pmap *map, X509 *cert)
{
	struct certinfo ci = {cert, "", ""};
	const struct mtls__pmap_rule *hit = NULL;
	size_t i, j;

	for (i = 0; i < map->n && hit == NULL; i++) {
		for (j = 0; j < map->rules[i].nm; j++) {
			if (!matcher_hits(&map->rules[i].m[j], &ci)) {
				break;
			}
		}
		if (j == map->rules[i].nm) {
			hit = &map->rules[i];
		}
	}
	return hit;
}

const char *
mtls__pmap_rule_principal(const struct mtls__pmap_rule *rule)
{
	return rule->principal;
}

int
mtls__path_prefix_covers(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	/* Compare whole components: "/content" covers "/content/x", not
	 * "/contentx"; a prefix ending in '/' covers what is below it. */
	while (n > 1 && prefix[n - 1] == '/') {
		n--;
	}
	if (n == 1 && prefix[0] == '/') {
		return path[0] == '/';
	}
	return strncmp(prefix, path, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

int
mtls__pmap_rule_allows(const struct mtls__pmap_rule *rule,
    enum mtls_action action, const char *path)
{
	size_t i;

	for (i = 0; i < rule->ng; i++) {
		if ((rule->g[i].actions & (unsigned)action) != 0 &&
		    mtls__path_prefix_covers(rule->g[i].prefix, path)) {
			return 1;
		}
	}
	return 0;
}
