/* subject.c: the rules a subject must meet, per-RDN subject patterns and
 * the SAN allow list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_pki.h"

/* A name of single-valued RDNs "TYPE=value" with raw value bytes (a value
 * may hold NUL: LEN counts it), or a multi-valued last RDN when MULTI. */
struct rdn {
	const char *type;
	const char *value;
	int len; /* 0: strlen */
};

static X509_NAME *
make_name(const struct rdn *r, int multi)
{
	X509_NAME *n = X509_NAME_new();
	int i;

	assert_non_null(n);
	for (i = 0; r[i].type != NULL; i++) {
		int len = r[i].len ? r[i].len : (int)strlen(r[i].value);
		int set = multi && r[i + 1].type == NULL && i > 0 ? -1 : 0;

		assert_int_equal(X509_NAME_add_entry_by_txt(n, r[i].type,
		    MBSTRING_UTF8, (const unsigned char *)r[i].value, len, -1, set), 1);
	}
	return n;
}

static void
name_check_table(void **state)
{
	static const char long65[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const struct {
		struct rdn rdns[4];
		int have_sans;
		const char *want; /* NULL: accepted; else a part of the refusal */
	} cases[] = {
	    {{{"CN", "api.partner.example", 0}, {"O", "Partner", 0}}, 0, NULL},
	    {{{"CN", "M\xc3\xbcller GmbH", 0}}, 0, NULL},
	    {{{0}}, 1, NULL},
	    {{{0}}, 0, "name no one"},
	    {{{"CN", "a\x07" "b", 0}}, 0, "control character"},
	    {{{"CN", "a\nO=Admin", 0}}, 0, "control character"},
	    {{{"CN", "a\0b", 3}}, 0, "control character"},
	    {{{"O", "x\x7f", 0}}, 0, "control character"},
	    {{{"CN", "x\xc2\x85y", 0}}, 0, "control character"},
	    {{{"CN", long65 + 1, 0}}, 0, NULL},
	    {{{"CN", long65, 0}}, 0, "65 characters"},
	    {{{"OU", long65, 0}}, 0, "more than the 64"},
	    {{{"C", "DE", 0}, {"CN", "x", 0}}, 0, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = X509_NAME_new();
		struct mtls_err e;
		int j, rc;

		mtls_err_clear(&e);
		/* Raw entries: OpenSSL's own bound checks would refuse some of
		 * them, and a CSR can carry anything. */
		for (j = 0; cases[i].rdns[j].type != NULL; j++) {
			const struct rdn *r = &cases[i].rdns[j];
			ASN1_STRING *s = ASN1_UTF8STRING_new();
			X509_NAME_ENTRY *ne;

			ASN1_STRING_set(s, r->value, r->len ? r->len : (int)strlen(r->value));
			ne = X509_NAME_ENTRY_create_by_txt(NULL, r->type, V_ASN1_UTF8STRING,
			    ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
			assert_non_null(ne);
			assert_int_equal(X509_NAME_add_entry(n, ne, -1, 0), 1);
			X509_NAME_ENTRY_free(ne);
			ASN1_STRING_free(s);
		}
		rc = mtls_name_check(n, cases[i].have_sans, &e);
		if (cases[i].want == NULL) {
			if (rc != 0) {
				fail_msg("case %zu refused: %s", i, e.msg);
			}
		} else if (rc == 0 || strstr(e.msg, cases[i].want) == NULL) {
			fail_msg("case %zu: want '%s', got rc %d '%s'", i, cases[i].want,
			    rc, e.msg);
		} else {
			assert_int_equal(e.code, MTLS_E_POLICY);
		}
		X509_NAME_free(n);
	}
}

static void
name_match_table(void **state)
{
	static const struct {
		struct rdn rdns[4];
		int multi;
		const char *pattern;
		int want;
	} cases[] = {
	    /* The documented attack: '*' must not swallow "O=Partner, ". */
	    {{{"CN", "author-p", 0}, {"O", "Partner", 0}, {"O", "Example", 0}}, 0,
		"CN=author*,O=Example", 0},
	    {{{"CN", "author-p, O=Partner", 0}, {"O", "Example", 0}}, 0,
		"CN=author*,O=Example", 1},
	    {{{"CN", "author-x", 0}, {"O", "Example", 0}}, 0, "CN=author*,O=Example", 1},
	    {{{"CN", "author", 0}, {"O", "Example", 0}}, 0, "cn=author, o=Example", 1},
	    {{{"CN", "author", 0}, {"O", "Example", 0}}, 0, "CN=AUTHOR,O=Example", 0},
	    {{{"CN", "a", 0}, {"O", "b", 0}}, 0, "CN=*", 0},
	    {{{"CN", "a", 0}}, 0, "CN=*,O=*", 0},
	    {{{"CN", "a", 0}, {"O", "Example", 0}}, 0, "O=Example,CN=a", 0},
	    {{{"CN", "a,b", 0}, {"O", "x", 0}}, 0, "CN=a\\,b,O=x", 1},
	    {{{"CN", "a", 0}, {"O", "b", 0}}, 1, "CN=a,O=b", 0},
	    {{{"OU", "a", 0}}, 0, "CN=a", 0},
	    {{{"CN", "a", 0}}, 0, "XX=a", -1},
	    {{{"CN", "a", 0}}, 0, "CN", -1},
	    {{{"CN", "a", 0}}, 0, "", -1},
	    {{{"emailAddress", "ops@p.example", 0}}, 0, "emailAddress=*@p.example", 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = make_name(cases[i].rdns, cases[i].multi);
		struct mtls_err e;
		int r = mtls_name_match(n, cases[i].pattern, &e);

		if (r != cases[i].want) {
			fail_msg("case %zu '%s': want %d, got %d", i, cases[i].pattern,
			    cases[i].want, r);
		}
		X509_NAME_free(n);
	}
}

static void
san_allowed_table(void **state)
{
	static const struct {
		const char *text, *allow;
		int want;
	} cases[] = {
	    {"dns:a.partner.example", "dns:*.partner.example", 1},
	    {"dns:A.Partner.Example", "dns:*.partner.example", 1},
	    {"dns:a.partner.example.evil", "dns:*.partner.example", 0},
	    {"dns:*.example.com", "dns:*", 0},
	    {"dns:*.example.com", "dns:*example*", 0},
	    {"dns:*.partner.example", "dns:*.partner.example", 1},
	    {"ip:10.0.3.4", "dns:*.p.example, ip:10.0.*", 1},
	    {"ip:10.1.3.4", "ip:10.0.*", 0},
	    {"dns:a.partner.example", NULL, 0},
	    {NULL, "dns:*", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (mtls_san_allowed(cases[i].text, cases[i].allow) != cases[i].want) {
			fail_msg("case %zu: %s vs %s", i, cases[i].text, cases[i].allow);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(name_check_table),
	    cmocka_unit_test(name_match_table),
	    cmocka_unit_test(san_allowed_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
