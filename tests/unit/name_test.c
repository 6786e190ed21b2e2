/* name.c: distinguished names and subject alternative names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/x509v3.h>

#include "mtls/pki.h"

/* The value of the IDX-th entry of NAME as UTF-8 (static buffer). */
static const char *
entry(X509_NAME *name, int idx, int *nid)
{
	static char buf[300];
	X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, idx);
	unsigned char *u = NULL;
	int n;

	assert_non_null(ne);
	*nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne));
	assert_true(n >= 0 && n < (int)sizeof(buf));
	memcpy(buf, u, (size_t)n);
	buf[n] = '\0';
	OPENSSL_free(u);
	return buf;
}

static void
dn_parse_good(void **state)
{
	static const struct {
		const char *dn;
		int count;
		int nid0;
		const char *v0;
		int nid_last;
		const char *v_last;
		const char *formatted;
	} cases[] = {
		{"CN=app,O=Example", 2, NID_commonName, "app",
		    NID_organizationName, "Example", "CN=app, O=Example"},
		{"CN=app", 1, NID_commonName, "app", NID_commonName, "app",
		    "CN=app"},
		{" CN = spaced out , O = Ex Co ", 2, NID_commonName,
		    "spaced out", NID_organizationName, "Ex Co",
		    "CN=spaced out, O=Ex Co"},
		/* A backslash escapes the separator. */
		{"CN=Doe\\, John,O=x", 2, NID_commonName, "Doe, John",
		    NID_organizationName, "x", NULL},
		{"/CN=a/O=b", 2, NID_commonName, "a", NID_organizationName, "b",
		    "CN=a, O=b"},
		{"/CN=a\\/b/OU=c,d", 2, NID_commonName, "a/b",
		    NID_organizationalUnitName, "c,d", NULL},
		{"C=DE,ST=Berlin,L=Berlin,O=Ex,OU=Ops,CN=x", 6, NID_countryName,
		    "DE", NID_commonName, "x", NULL},
		{"emailAddress=a@b.example,CN=x", 2, NID_pkcs9_emailAddress,
		    "a@b.example", NID_commonName, "x", NULL},
		/* Empty RDNs (doubled separators) are skipped. */
		{"CN=a,,O=b,", 2, NID_commonName, "a", NID_organizationName, "b",
		    NULL},
		{"CN=Grüße", 1, NID_commonName, "Grüße", NID_commonName,
		    "Grüße", "CN=Grüße"},
		{"CN=a=b", 1, NID_commonName, "a=b", NID_commonName, "a=b",
		    NULL},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = mtls_name_parse(cases[i].dn, &e);
		int nid;
		char *f;

		if (n == NULL) {
			fail_msg("'%s' refused: %s", cases[i].dn, e.msg);
		}
		assert_int_equal(X509_NAME_entry_count(n), cases[i].count);
		assert_string_equal(entry(n, 0, &nid), cases[i].v0);
		assert_int_equal(nid, cases[i].nid0);
		assert_string_equal(entry(n, cases[i].count - 1, &nid),
		    cases[i].v_last);
		assert_int_equal(nid, cases[i].nid_last);
		f = mtls_name_format(n);
		assert_non_null(f);
		if (cases[i].formatted != NULL) {
			assert_string_equal(f, cases[i].formatted);
		}
		OPENSSL_free(f);
		X509_NAME_free(n);
	}
}

static void
dn_parse_bad(void **state)
{
	static const char *bad[] = {
	    "",           /* nothing */
	    "CN",         /* no '=' */
	    "CN=",        /* empty value */
	    "CN=  ",      /* blank value */
	    "CN=a,O",     /* second RDN without '=' */
	    "XX=foo",     /* unknown attribute */
	    "C=USA",      /* country is two letters */
	    "/",          /* slash form, nothing in it */
	    ",,,",        /* separators only */
	    "=value",     /* no type */
	    "CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	                  /* 65 characters: over the CN upper bound */
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		X509_NAME *n;

		mtls_err_clear(&e);
		n = mtls_name_parse(bad[i], &e);
		if (n != NULL) {
			char *f = mtls_name_format(n);

			fail_msg("'%s' accepted as '%s'", bad[i], f);
		}
		assert_int_equal(e.code, MTLS_E_USAGE);
		assert_non_null(strstr(e.msg, "bad name"));
	}
	mtls_err_clear(&e);
	assert_null(mtls_name_parse(NULL, &e));
	assert_int_equal(e.code, MTLS_E_USAGE);
	{
		/* Far too long: refused, not truncated. */
		char *big = malloc(10000);

		memcpy(big, "CN=", 3);
		memset(big + 3, 'a', 9990);
		big[9993] = '\0';
		mtls_err_clear(&e);
		assert_null(mtls_name_parse(big, &e));
		assert_int_equal(e.code, MTLS_E_USAGE);
		free(big);
	}
}

static void
dn_cn(void **state)
{
	static const struct {
		const char *dn;
		const char *cn;
	} cases[] = {
		{"CN=app,O=x", "app"},
		{"O=x,CN=second", "second"},
		{"CN=first,CN=second", "first"},
		{"O=no cn", NULL},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = mtls_name_parse(cases[i].dn, &e);
		char *cn;

		assert_non_null(n);
		cn = mtls_name_cn(n);
		if (cases[i].cn == NULL) {
			assert_null(cn);
		} else {
			assert_non_null(cn);
			assert_string_equal(cn, cases[i].cn);
		}
		OPENSSL_free(cn);
		X509_NAME_free(n);
	}
}

static void
san_add_good(void **state)
{
	static const struct {
		const char *list;
		int count;
		int type0;
		const char *formatted; /* mtls_san_format of the result */
	} cases[] = {
		{"dns:example.com", 1, GEN_DNS, "dns:example.com"},
		{"dns:*.example.com", 1, GEN_DNS, "dns:*.example.com"},
		{"dns:a-b.c-d.example", 1, GEN_DNS, "dns:a-b.c-d.example"},
		{"dns:localhost", 1, GEN_DNS, "dns:localhost"},
		{"dns:0x.example", 1, GEN_DNS, "dns:0x.example"},
		{"DNS:Upper.Example", 1, GEN_DNS, "dns:Upper.Example"},
		{"ip:10.0.0.1", 1, GEN_IPADD, "ip:10.0.0.1"},
		{"ip:::1", 1, GEN_IPADD, "ip:::1"},
		{"ip:2001:db8::1", 1, GEN_IPADD, "ip:2001:db8::1"},
		{"ip:2001:0db8:0000:0000:0000:0000:0000:0001", 1, GEN_IPADD,
		    "ip:2001:db8::1"},
		{"uri:spiffe://example.org/ns/web", 1, GEN_URI,
		    "uri:spiffe://example.org/ns/web"},
		{"uri:https://x.example/a?b=c", 1, GEN_URI,
		    "uri:https://x.example/a?b=c"},
		{"uri:urn:uuid:123", 1, GEN_URI, "uri:urn:uuid:123"},
		{"email:ops@example.com", 1, GEN_EMAIL, "email:ops@example.com"},
		{" dns:a.example , ip:10.1.2.3 ,,", 2, GEN_DNS,
		    "dns:a.example,ip:10.1.2.3"},
		{"dns:a.example,ip:10.0.0.1,ip:2001:db8::2,uri:https://a/b,"
		 "email:x@a.example",
		    5, GEN_DNS,
		    "dns:a.example,ip:10.0.0.1,ip:2001:db8::2,uri:https://a/b,"
		    "email:x@a.example"},
		{"", 0, 0, ""},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
		char *f;
		int j;

		if (mtls_san_add(g, cases[i].list, &e) != 0) {
			fail_msg("'%s' refused: %s", cases[i].list, e.msg);
		}
		assert_int_equal(sk_GENERAL_NAME_num(g), cases[i].count);
		if (cases[i].count > 0) {
			assert_int_equal(sk_GENERAL_NAME_value(g, 0)->type,
			    cases[i].type0);
		}
		for (j = 0; j < sk_GENERAL_NAME_num(g); j++) {
			assert_int_equal(
			    mtls_san_check(sk_GENERAL_NAME_value(g, j), &e), 0);
		}
		f = mtls_san_format(g);
		assert_non_null(f);
		assert_string_equal(f, cases[i].formatted);
		/* Round trip: the formatted list parses to the same names. */
		{
			GENERAL_NAMES *g2 = sk_GENERAL_NAME_new_null();
			char *f2;

			assert_int_equal(mtls_san_add(g2, f, &e), 0);
			f2 = mtls_san_format(g2);
			assert_string_equal(f2, f);
			for (j = 0; j < sk_GENERAL_NAME_num(g); j++) {
				assert_int_equal(GENERAL_NAME_cmp(
				    sk_GENERAL_NAME_value(g, j),
				    sk_GENERAL_NAME_value(g2, j)), 0);
			}
			free(f2);
			GENERAL_NAMES_free(g2);
		}
		free(f);
		GENERAL_NAMES_free(g);
	}
}

static void
san_add_bad(void **state)
{
	static const char *bad[] = {
	    "dns:",                 /* empty */
	    "dns:-a.example",       /* label starts with '-' */
	    "dns:a-.example",       /* label ends with '-' */
	    "dns:a..example",       /* empty label */
	    "dns:.example",         /* leading dot */
	    "dns:example.",         /* trailing dot */
	    "dns:foo_bar.example",  /* underscore */
	    "dns:a b.example",      /* space */
	    "dns:*",                /* bare wildcard */
	    "dns:*.",               /* wildcard of nothing */
	    "dns:*example.com",     /* partial-label wildcard */
	    "dns:a.*.example",      /* wildcard not leftmost */
	    "dns:*.*.example",      /* two wildcards */
	    "dns:f*o.example",      /* wildcard inside a label */
	    "dns:caf\xc3\xa9.example", /* not IDNA-encoded */
	    "dns:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".example",             /* 64-letter label */
	    "ip:",                  /* empty */
	    "ip:256.1.1.1",
	    "ip:1.2.3",
	    "ip:1.2.3.4.5",
	    "ip:example.com",
	    "ip:::g",
	    "ip:2001:db8:::1",
	    "ip:10.0.0.0/8",        /* a range is not an address */
	    "uri:",
	    "uri:nocolon",
	    "uri:1http://x",        /* scheme starts with a digit */
	    "uri:http:",            /* nothing after the scheme */
	    "uri:http://a b",       /* space */
	    "uri:ht tp://a",
	    "email:",
	    "email:noat.example",
	    "email:@example.com",
	    "email:a@b@example.com",
	    "email:a@-x.example",
	    "email:a@",
	    "foo:bar",              /* unknown kind */
	    "example.com",          /* no kind */
	    "dns:ok.example,ip:bad", /* one bad item fails the list */
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();

		mtls_err_clear(&e);
		if (mtls_san_add(g, bad[i], &e) == 0) {
			fail_msg("SAN '%s' accepted", bad[i]);
		}
		assert_int_equal(e.code, MTLS_E_USAGE);
		assert_non_null(strstr(e.msg, "bad SAN"));
		GENERAL_NAMES_free(g);
	}
	{
		/* 254 characters: over the RFC 1035 limit of 253. */
		char big[300] = "dns:";
		size_t n = 4;

		while (n < 4 + 254) {
			memcpy(big + n, "abcdefghi.", 10);
			n += 10;
		}
		big[4 + 253] = 'x';
		big[4 + 254] = '\0';
		{
			GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();

			assert_int_equal(mtls_san_add(g, big, &e), -1);
			GENERAL_NAMES_free(g);
		}
	}
}

/* Names already inside a request, as a partner's CSR could carry them. */
static GENERAL_NAME *
raw_gen(int type, const void *data, int len)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new()
					   : ASN1_IA5STRING_new();

	assert_non_null(g);
	assert_non_null(s);
	assert_int_equal(ASN1_STRING_set(s, data, len), 1);
	GENERAL_NAME_set0_value(g, type, s);
	return g;
}

static void
san_check_raw(void **state)
{
	static const struct {
		int type;
		const char *data;
		int len;
		int ok;
	} cases[] = {
		{GEN_DNS, "good.example", 12, 1},
		{GEN_DNS, "evil.example\0.good.example", 26, 0}, /* NUL */
		{GEN_DNS, "-bad", 4, 0},
		{GEN_EMAIL, "a@b.example", 11, 1},
		{GEN_EMAIL, "a@b\0c.example", 13, 0},
		{GEN_URI, "https://x", 9, 1},
		{GEN_URI, "https://x\n", 10, 0},
		{GEN_IPADD, "\x0a\x00\x00\x01", 4, 1},
		{GEN_IPADD, "0123456789abcdef", 16, 1},
		{GEN_IPADD, "\x0a\x00\x00\x01\x00", 5, 0},
		{GEN_IPADD, "", 0, 0},
	};
	struct mtls_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		GENERAL_NAME *g = raw_gen(cases[i].type, cases[i].data,
		    cases[i].len);

		mtls_err_clear(&e);
		if (cases[i].ok) {
			assert_int_equal(mtls_san_check(g, &e), 0);
		} else {
			assert_int_equal(mtls_san_check(g, &e), -1);
			assert_int_equal(e.code, MTLS_E_POLICY);
			assert_non_null(strstr(e.msg, "malformed"));
		}
		GENERAL_NAME_free(g);
	}
	{
		/* A directory name is not a type we certify. */
		GENERAL_NAME *g = GENERAL_NAME_new();
		X509_NAME *n = mtls_name_parse("CN=x", &e);

		GENERAL_NAME_set0_value(g, GEN_DIRNAME, n);
		mtls_err_clear(&e);
		assert_int_equal(mtls_san_check(g, &e), -1);
		assert_int_equal(e.code, MTLS_E_POLICY);
		assert_non_null(strstr(e.msg, "unsupported"));
		GENERAL_NAME_free(g);
	}
}

static void
san_format_edge(void **state)
{
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	char *f;
	int i;

	(void)state;
	f = mtls_san_format(NULL);
	assert_string_equal(f, "");
	free(f);
	f = mtls_san_format(g);
	assert_string_equal(f, "");
	free(f);
	/* A bad IP length prints as '?', never garbage. */
	sk_GENERAL_NAME_push(g, raw_gen(GEN_IPADD, "\x01\x02\x03", 3));
	f = mtls_san_format(g);
	assert_string_equal(f, "ip:?");
	free(f);
	GENERAL_NAMES_free(g);
	/* Many names: the buffer grows. */
	g = sk_GENERAL_NAME_new_null();
	for (i = 0; i < 200; i++) {
		struct mtls_err e;
		char item[64];

		snprintf(item, sizeof(item), "dns:host-%03d.example.com", i);
		assert_int_equal(mtls_san_add(g, item, &e), 0);
	}
	f = mtls_san_format(g);
	assert_non_null(f);
	assert_int_equal(strlen(f), 200 * strlen("dns:host-000.example.com") +
	    199);
	assert_non_null(strstr(f, "dns:host-199.example.com"));
	free(f);
	GENERAL_NAMES_free(g);
}

/* An empty name formats as "" (OpenSSL leaves no buffer: UBSan caught
 * a memcpy from NULL). */
static void
empty_name_formats(void **state)
{
	X509_NAME *n = X509_NAME_new();
	char *f;

	(void)state;
	assert_non_null(n);
	f = mtls_name_format(n);
	assert_non_null(f);
	assert_string_equal(f, "");
	OPENSSL_free(f);
	X509_NAME_free(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dn_parse_good),
	    cmocka_unit_test(empty_name_formats),
	    cmocka_unit_test(dn_parse_bad),
	    cmocka_unit_test(dn_cn),
	    cmocka_unit_test(san_add_good),
	    cmocka_unit_test(san_add_bad),
	    cmocka_unit_test(san_check_raw),
	    cmocka_unit_test(san_format_edge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
