/* principal_map: the map file parser, certificate matching and ACLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/sha.h>

#include "link/server/principal_map_int.h"
#include "serve_certs.h"

static const struct {
	const char *text;
	const char *error; /* substring; NULL = parses */
} parse_cases[] = {
	{"", NULL},
	{"# only a comment\n\n   \n", NULL},
	{"principal a cn=a allow=test:/\n", NULL},
	{"principal a cn=a allow=*:/ # trailing comment\n", NULL},
	{"principal a subject=\"CN=a, O=x\" allow=activate,deactivate:/c/\n",
	    NULL},
	{"principal a sha256=" "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	 "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n", NULL},
	{"principal a email=*@example.org uri=spiffe://x/* dns=*.x\n", NULL},
	{"user a cn=a\n", "t.map:1: a rule starts with 'principal NAME'"},
	{"principal\n", "t.map:1: principal needs a name"},
	{"principal bad/name cn=a\n", "principal needs a name"},
	{"\nprincipal a allow=test:/\n", "t.map:2: principal a has no matcher"},
	{"principal a foo=b\n", "unknown matcher 'foo='"},
	{"principal a cn=\n", "cn= is empty"},
	{"principal a cn=a nonsense\n", "expected KEY=VALUE, not 'nonsense'"},
	{"principal a cn=a allow=test\n", "allow= needs ACTIONS:/PREFIX"},
	{"principal a cn=a allow=test:relative\n", "allow= needs ACTIONS:/PREFIX"},
	{"principal a cn=a allow=publish:/\n", "unknown action"},
	{"principal a cn=a allow=test:/a/../b\n", "must not contain '..'"},
	{"principal a cn=a allow=test:/..\n", "must not contain '..'"},
	{"principal a sha256=abcd\n", "sha256= needs 64 hex digits"},
	{"principal a subject=\"CN=a\n", "unterminated quote"},
	{"principal a o=Example ou=Ops cn=a spki=" "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n", NULL},
	{"\n\nprincipal a subject=CN\n", "t.map:3: subject=: bad subject pattern"},
	{"principal a subject=\"XX=a, O=b\"\n", "unknown attribute 'XX'"},
	{"principal a spki=abcd\n", "spki= needs 64 hex digits"},
	{"principal a o=\n", "o= is empty"},
};

static void
parse_table(void **state)
{
	size_t i;
	struct mtls_err err;
	struct mtls__pmap *m;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		mtls_err_clear(&err);
		m = mtls__pmap_parse(parse_cases[i].text, "t.map", &err);
		if (parse_cases[i].error == NULL) {
			if (m == NULL) {
				fail_msg("case %zu: %s", i, err.msg);
			}
		} else {
			if (m != NULL) {
				fail_msg("case %zu parsed, wanted error '%s'", i,
				    parse_cases[i].error);
			}
			if (strstr(err.msg, parse_cases[i].error) == NULL) {
				fail_msg("case %zu: got '%s', wanted '%s'", i,
				    err.msg, parse_cases[i].error);
			}
		}
		mtls__pmap_free(m);
	}
}

static const struct {
	const char *prefix, *path;
	int covers;
} prefix_cases[] = {
	{"/", "/a", 1},
	{"/", "/", 1},
	{"/content", "/content", 1},
	{"/content", "/content/a/b", 1},
	{"/content/", "/content/a", 1},
	{"/content/", "/content", 1},
	{"/content", "/contentx", 0},
	{"/content", "/contentx/a", 0},
	{"/content/a", "/content", 0},
	{"/content", "/other/content", 0},
};

static void
prefix_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
		if (mtls__path_prefix_covers(prefix_cases[i].prefix,
			prefix_cases[i].path) != prefix_cases[i].covers) {
			fail_msg("prefix '%s' path '%s': wanted %d",
			    prefix_cases[i].prefix, prefix_cases[i].path,
			    prefix_cases[i].covers);
		}
	}
}

static void
actions(void **state)
{
	(void)state;
	assert_int_equal(mtls_action_parse("Test"), MTLS_ACTION_TEST);
	assert_int_equal(mtls_action_parse("ACTIVATE"), MTLS_ACTION_ACTIVATE);
	assert_int_equal(mtls_action_parse("deactivate"),
	    MTLS_ACTION_DEACTIVATE);
	assert_int_equal(mtls_action_parse("publish"), -1);
	assert_int_equal(mtls_action_parse(""), -1);
	assert_string_equal(mtls_action_name(MTLS_ACTION_ACTIVATE), "Activate");
}

/* Matching real certificates: first rule wins, all matchers must hit. */
static void
match_certs(void **state)
{
	EVP_PKEY *ck = tp_key(), *k = tp_key();
	X509 *ca = tp_cert("ca", ck, NULL, NULL, NULL, NULL, 0, 30);
	X509 *author = tp_cert("author-01", k, ca, ck, "clientAuth",
	    "DNS:author.example.org,URI:spiffe://example.org/author,"
	    "email:author@example.org", 0, 30);
	X509 *other = tp_cert("other", k, ca, ck, "clientAuth",
	    "DNS:other.example.org", 0, 30);
	unsigned char md[32];
	unsigned int mdlen = 0, i;
	char text[1024], fp[200] = "";
	struct mtls_err err;
	struct mtls__pmap *m;
	const struct mtls__pmap_rule *r;

	(void)state;
	X509_digest(other, EVP_sha256(), md, &mdlen);
	for (i = 0; i < mdlen; i++) {
		snprintf(fp + strlen(fp), sizeof(fp) - strlen(fp), "%s%02X",
		    i ? ":" : "", md[i]);
	}
	snprintf(text, sizeof(text),
	    "principal nobody cn=author* dns=nomatch.example.org\n"
	    "principal author subject=\"CN=author-*, O=mtls test\" "
	    "uri=spiffe://example.org/* allow=activate,deactivate:/content "
	    "allow=test:/\n"
	    "principal byfp sha256=%s allow=test:/\n"
	    "principal mail email=*@example.org allow=*:/\n", fp);
	m = mtls__pmap_parse(text, "t.map", &err);
	if (m == NULL) {
		fail_msg("%s", err.msg);
	}
	assert_int_equal(mtls__pmap_count(m), 4);
	r = mtls__pmap_match(m, author);
	assert_non_null(r);
	assert_string_equal(mtls__pmap_rule_principal(r), "author");
	assert_true(mtls__pmap_rule_allows(r, MTLS_ACTION_ACTIVATE, "/content/a"));
	assert_true(mtls__pmap_rule_allows(r, MTLS_ACTION_TEST, "/anything"));
	assert_false(mtls__pmap_rule_allows(r, MTLS_ACTION_ACTIVATE, "/etc/a"));
	assert_false(mtls__pmap_rule_allows(r, MTLS_ACTION_DEACTIVATE,
	    "/contentx"));
	r = mtls__pmap_match(m, other);
	assert_non_null(r);
	assert_string_equal(mtls__pmap_rule_principal(r), "byfp");
	assert_false(mtls__pmap_rule_allows(r, MTLS_ACTION_ACTIVATE, "/a"));
	/* A CA certificate matches none of the rules. */
	assert_null(mtls__pmap_match(m, ca));
	mtls__pmap_free(m);

	/* Case matters in globs; an unmatched SAN type never matches. */
	m = mtls__pmap_parse("principal a cn=AUTHOR-01\n"
			    "principal b email=*@example.com\n", "t", &err);
	assert_non_null(m);
	assert_null(mtls__pmap_match(m, author));
	mtls__pmap_free(m);
	X509_free(ca);
	X509_free(author);
	X509_free(other);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(k);
}

/* X with subject DN (RDNs "TYPE=value" separated by '|'; values may hold
 * ", " so the attack of a glob spanning RDNs can be built). */
static void
set_subject(X509 *x, const char *dn)
{
	X509_NAME *n = X509_NAME_new();
	char copy[512], *rdn, *save = NULL, *eq;

	snprintf(copy, sizeof(copy), "%s", dn);
	for (rdn = strtok_r(copy, "|", &save); rdn != NULL;
	     rdn = strtok_r(NULL, "|", &save)) {
		eq = strchr(rdn, '=');
		*eq = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(n, rdn, MBSTRING_UTF8,
		    (const unsigned char *)eq + 1, -1, -1, 0), 1);
	}
	assert_int_equal(X509_set_subject_name(x, n), 1);
	X509_NAME_free(n);
}

/* The mapping attacks: a glob never spans RDNs, an attribute matcher
 * wants exactly one attribute, DNS is per label and case-insensitive,
 * several matchers must all hit, SPKI pins the key. */
static void
match_exact(void **state)
{
	static const struct {
		const char *subject, *san;
		const char *want; /* principal, or NULL for none */
	} cases[] = {
	    {"CN=author-p|O=Partner|O=Example", NULL, NULL},
	    {"CN=author-p, O=Partner|O=Example", NULL, "author"},
	    {"CN=author-1|O=Example", NULL, "author"},
	    {"CN=Author-1|O=Example", NULL, NULL},
	    {"CN=admin|CN=evil|O=Example", NULL, NULL},
	    {"CN=admin|O=Example", NULL, "admin"},
	    {"CN=x|O=Example|OU=Ops", NULL, "ops"},
	    {"CN=x|O=Partner|OU=Ops", NULL, NULL},
	    {"CN=h", "DNS:Web1.Example.ORG", "web"},
	    {"CN=h", "DNS:a.web1.example.org", NULL},
	    {"CN=h", "DNS:web1.example.org.evil", NULL},
	};
	static const char map[] =
	    "principal author subject=\"CN=author*, O=Example\" allow=*:/\n"
	    "principal admin cn=admin o=Example allow=*:/\n"
	    "principal ops o=Example ou=Ops allow=test:/\n"
	    "principal web dns=*.example.org allow=test:/\n";
	EVP_PKEY *ck = tp_key(), *k = tp_key(), *k2 = tp_key();
	X509 *ca = tp_cert("ca", ck, NULL, NULL, NULL, NULL, 0, 30);
	struct mtls_err err;
	struct mtls__pmap *m = mtls__pmap_parse(map, "t.map", &err);
	const struct mtls__pmap_rule *r;
	unsigned char *der = NULL, md[32];
	char text[300];
	size_t i;
	int n;

	(void)state;
	assert_non_null(m);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x = tp_cert("tmp", k, ca, ck, "clientAuth", cases[i].san, 0, 30);

		set_subject(x, cases[i].subject);
		r = mtls__pmap_match(m, x);
		if (cases[i].want == NULL ? r != NULL
		    : r == NULL || strcmp(mtls__pmap_rule_principal(r), cases[i].want) != 0) {
			fail_msg("case %zu (%s %s): want %s, got %s", i, cases[i].subject,
			    cases[i].san ? cases[i].san : "", cases[i].want ? cases[i].want : "none",
			    r ? mtls__pmap_rule_principal(r) : "none");
		}
		X509_free(x);
	}
	mtls__pmap_free(m);

	/* spki= pins the key: any certificate for it, none for another. */
	{
		X509 *a = tp_cert("a", k, ca, ck, "clientAuth", NULL, 0, 30);
		X509 *b = tp_cert("a", k2, ca, ck, "clientAuth", NULL, 0, 30);

		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(a), &der);
		assert_true(n > 0);
		SHA256(der, (size_t)n, md);
		OPENSSL_free(der);
		n = snprintf(text, sizeof(text), "principal pinned spki=");
		for (i = 0; i < 32; i++) {
			n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", md[i]);
		}
		snprintf(text + n, sizeof(text) - (size_t)n, " allow=test:/\n");
		m = mtls__pmap_parse(text, "t.map", &err);
		assert_non_null(m);
		assert_non_null(mtls__pmap_match(m, a));
		assert_null(mtls__pmap_match(m, b));
		mtls__pmap_free(m);
		X509_free(a);
		X509_free(b);
	}
	X509_free(ca);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

static void
load_missing(void **state)
{
	struct mtls_err err;

	(void)state;
	mtls_err_clear(&err);
	assert_null(mtls__pmap_load("/nonexistent/map.txt", &err));
	assert_non_null(strstr(err.msg, "/nonexistent/map.txt"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_table),
		cmocka_unit_test(prefix_table),
		cmocka_unit_test(actions),
		cmocka_unit_test(match_certs),
		cmocka_unit_test(match_exact),
		cmocka_unit_test(load_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
