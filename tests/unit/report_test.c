/* report: findings, severities, JSON, exit status; and the shared alert
 * table in explain.c that probe relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#include "diag/diag_int.h"
#include "mtls/explain.h"
#include "test_util.h"

static void
worst_and_exit_status(void **state)
{
	static const struct {
		enum mtls_severity add[3];
		size_t n;
		enum mtls_severity worst;
		int status;
	} rows[] = {
		{{MTLS_SEV_OK}, 0, MTLS_SEV_OK, 0},
		{{MTLS_SEV_OK, MTLS_SEV_INFO}, 2, MTLS_SEV_INFO, 0},
		{{MTLS_SEV_WARN, MTLS_SEV_OK}, 2, MTLS_SEV_WARN, 3},
		{{MTLS_SEV_INFO, MTLS_SEV_ERROR, MTLS_SEV_WARN}, 3,
		    MTLS_SEV_ERROR, 1},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mtls_report *r = mtls__report_new();

		for (j = 0; j < rows[i].n; j++) {
			mtls__report_add(r, rows[i].add[j], "k", NULL, NULL, "m%zu", j);
		}
		assert_int_equal(mtls_report_count(r), rows[i].n);
		assert_int_equal(mtls_report_worst(r), rows[i].worst);
		assert_int_equal(mtls_doctor_exit_status(r), rows[i].status);
		mtls_report_free(r);
	}
}

static void
find_by_key_and_subject(void **state)
{
	struct mtls_report *r = mtls__report_new();

	(void)state;
	mtls__report_add(r, MTLS_SEV_WARN, "key_permissions", "a.key", "chmod 600",
	    "a is %04o", 0640);
	mtls__report_add(r, MTLS_SEV_ERROR, "key_permissions", "b.key", "chmod 600",
	    "b is %04o", 0644);
	assert_string_equal(mtls_report_find(r, "key_permissions", NULL)->subject,
	    "a.key");
	assert_string_equal(
	    mtls_report_find(r, "key_permissions", "b.key")->message,
	    "b is 0644");
	assert_null(mtls_report_find(r, "key_permissions", "c.key"));
	assert_null(mtls_report_find(r, "nope", NULL));
	assert_null(mtls_report_get(r, 2));
	mtls_report_free(r);
	mtls_report_free(NULL);
}

static void
json_document(void **state)
{
	struct mtls_report *r = mtls__report_new();
	json_t *doc;
	json_error_t je;
	char *s;

	(void)state;
	json_object_set_new(mtls__report_json(r), "target", json_string("h:1"));
	mtls__report_line(r, "TLS 1.3: %s", "accepted");
	mtls__report_add(r, MTLS_SEV_ERROR, "not_tls", "h:1", "use the TLS port",
	    "it answered with \"HTTP/1.0\"");
	mtls__report_add(r, MTLS_SEV_OK, "x", NULL, NULL, "fine");
	s = mtls_report_json(r);
	doc = json_loads(s, 0, &je);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "target")),
	    "h:1");
	assert_string_equal(json_string_value(json_object_get(doc, "worst")),
	    "error");
	assert_int_equal(json_array_size(json_object_get(doc, "findings")), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(doc, "findings"), 0),
				"message")),
	    "it answered with \"HTTP/1.0\"");
	assert_true(json_is_null(json_object_get(
	    json_array_get(json_object_get(doc, "findings"), 1), "fix")));
	assert_int_equal(mtls_report_line_count(r), 1);
	assert_string_equal(mtls_report_line(r, 0), "TLS 1.3: accepted");
	json_decref(doc);
	free(s);
	mtls_report_free(r);
}

static void
alert_table(void **state)
{
	static const struct {
		int alert;
		const char *key;
	} rows[] = {
		{SSL_AD_UNKNOWN_CA, "unknown_ca"},
		{SSL_AD_CERTIFICATE_REQUIRED, "certificate_required"},
		{SSL_AD_UNSUPPORTED_CERTIFICATE, "unsupported_certificate"},
		{SSL_AD_CERTIFICATE_EXPIRED, "certificate_expired"},
		{SSL_AD_DECRYPT_ERROR, "decrypt_error"},
		{SSL_AD_HANDSHAKE_FAILURE, "handshake_failure"},
		{255, "other_alert"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_string_equal(mtls_explain_alert_key(rows[i].alert),
		    rows[i].key);
		assert_non_null(mtls_explain_alert_fix(rows[i].alert));
		assert_non_null(mtls_explain_alert(rows[i].alert));
	}
	assert_string_equal(mtls_severity_name(MTLS_SEV_WARN), "warn");
	assert_string_equal(mtls_severity_name((enum mtls_severity)9), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(worst_and_exit_status),
		cmocka_unit_test(find_by_key_and_subject),
		cmocka_unit_test(json_document),
		cmocka_unit_test(alert_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
