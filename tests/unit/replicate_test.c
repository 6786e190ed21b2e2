#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/replicate.h"
#include "link/client/replicate_int.h"

static void
url_parse_table(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *host, *port, *path, *norm;
		int is_ip;
	} cases[] = {
		{"https://publish:8443", 1, "publish", "8443", "/bin/receive",
		    "https://publish:8443/bin/receive", 0},
		{"https://127.0.0.1:8443/", 1, "127.0.0.1", "8443", "/bin/receive",
		    "https://127.0.0.1:8443/bin/receive", 1},
		{"HTTPS://h/x/y", 1, "h", "443", "/x/y", "https://h:443/x/y", 0},
		{"https://[::1]:9/bin/receive", 1, "::1", "9", "/bin/receive",
		    "https://[::1]:9/bin/receive", 1},
		{"http://h:1", 0, NULL, NULL, NULL, NULL, 0},
		{"https://", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h:0", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h:65536", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h:12x/", 0, NULL, NULL, NULL, NULL, 0},
		{"https://user@h/", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h/a?b=1", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h/a b", 0, NULL, NULL, NULL, NULL, 0},
		{"https://[h]:1/", 0, NULL, NULL, NULL, NULL, 0},
		{"https://[::1/", 0, NULL, NULL, NULL, NULL, 0},
		{"https://h!x/", 0, NULL, NULL, NULL, NULL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtls_url u;
		struct mtls_err e;
		char norm[1400];
		int rc;

		mtls_err_clear(&e);
		rc = mtls_url_parse(cases[i].in, &u, &e);
		if (!cases[i].ok) {
			if (rc != -1 || e.code != MTLS_E_USAGE ||
			    strstr(e.msg, cases[i].in) == NULL) {
				fail_msg("case %zu (%s) accepted or unnamed: %s", i,
				    cases[i].in, e.msg);
			}
			continue;
		}
		if (rc != 0) {
			fail_msg("case %zu (%s): %s", i, cases[i].in, e.msg);
		}
		assert_string_equal(u.host, cases[i].host);
		assert_string_equal(u.port, cases[i].port);
		assert_string_equal(u.path, cases[i].path);
		assert_int_equal(u.host_is_ip, cases[i].is_ip);
		mtls_url_format(&u, norm, sizeof(norm));
		assert_string_equal(norm, cases[i].norm);
	}
}

static void
identity_requires_all_files(void **state)
{
	struct mtls_credentials id = {"/nonexistent/c.pem", "/nonexistent/k.pem",
	    NULL, "/nonexistent/ca.pem"};
	struct mtls_err e;

	(void)state;
	assert_int_equal(mtls__credentials_check(&id, &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/c.pem"));
	id.ca = NULL;
	assert_int_equal(mtls__credentials_check(&id, &e), -1);
	assert_int_equal(e.code, MTLS_E_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_parse_table),
	    cmocka_unit_test(identity_requires_all_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
