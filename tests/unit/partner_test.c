/* partner.c: a partner's CSR is signed under our policy, never its own
 * (subject, SANs, names, origin, renewal by CSR only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/file.h"
#include "test_pki.h"

struct fx {
	struct test_ca_fx base;
	X509 *ours; /* "publish", issued here */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	void *b = NULL;

	if (f == NULL || test_ca_fx_setup(&b, "CN=Partner Test CA") != 0) {
		return -1;
	}
	f->base = *(struct test_ca_fx *)b;
	free(b);
	f->ours = test_sign(f->base.ca, "publish", MTLS_PROFILE_SERVER,
	    "dns:publish.example", f->base.key, 0, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct test_ca_fx *b = malloc(sizeof(*b));

	*b = f->base;
	X509_free(f->ours);
	free(f);
	return test_ca_fx_teardown((void **)&b);
}

static void
sign_table(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *csr_subject, *csr_sans; /* OpenSSL SAN syntax */
		enum mtls_profile profile;
		const char *subject, *subject_allow, *sans, *san_allow;
		const char *name;
		const char *want;      /* NULL: signed; else part of the refusal */
		const char *want_subj; /* the subject signed */
		const char *want_sans;
	} cases[] = {
	    /* The reproduced attack: a partner CSR with CN=publish. */
	    {"CN=publish,O=Partner", NULL, MTLS_PROFILE_CLIENT, NULL, NULL, NULL,
		NULL, NULL, "belongs to an identity of ours", NULL, NULL},
	    {"CN=p1", "DNS:x.partner.example", MTLS_PROFILE_CLIENT, NULL, NULL,
		NULL, NULL, NULL, "closed by default", NULL, NULL},
	    {"CN=p2", "DNS:x.partner.example", MTLS_PROFILE_CLIENT, NULL, NULL,
		NULL, "dns:*.partner.example", NULL, NULL, "CN=p2",
		"dns:x.partner.example"},
	    {"CN=p3", "DNS:*.example.com", MTLS_PROFILE_CLIENT, NULL, NULL, NULL,
		"dns:*", NULL, "does not permit", NULL, NULL},
	    {"CN=p4", "DNS:*.partner.example", MTLS_PROFILE_CLIENT, NULL, NULL,
		NULL, "dns:*.partner.example", NULL, NULL, "CN=p4",
		"dns:*.partner.example"},
	    /* Our subject, not theirs, unless a per-RDN pattern admits it. */
	    {"CN=p5,O=Partner,O=Example", NULL, MTLS_PROFILE_CLIENT, NULL, NULL,
		NULL, NULL, NULL, NULL, "CN=p5", ""},
	    {"CN=author-p,O=Partner,O=Example", NULL, MTLS_PROFILE_CLIENT, NULL,
		"CN=author*,O=Example", NULL, NULL, "p6", "matches no", NULL, NULL},
	    {"CN=api.partner.example,O=Partner", NULL, MTLS_PROFILE_CLIENT, NULL,
		"CN=nope\nCN=*.partner.example,O=Partner", NULL, NULL, "p7", NULL,
		"CN=api.partner.example, O=Partner", ""},
	    {"CN=p8", "DNS:p8.partner.example", MTLS_PROFILE_SERVER,
		"CN=p8,O=Partner", NULL, "dns:p8.partner.example", NULL, NULL, NULL,
		"CN=p8, O=Partner", "dns:p8.partner.example"},
	    {"CN=p9", "DNS:other.example", MTLS_PROFILE_SERVER, NULL, NULL,
		"dns:p9.partner.example", NULL, NULL, "closed by default", NULL, NULL},
	    {"CN=p10", NULL, MTLS_PROFILE_SERVER, NULL, NULL, NULL, NULL, NULL,
		"needs subject alternative names", NULL, NULL},
	    {"CN=p11", NULL, MTLS_PROFILE_NODE, NULL, NULL, "dns:p11.partner.example",
		NULL, NULL, NULL, "CN=p11", "dns:p11.partner.example"},
	    {"CN=p12", NULL, MTLS_PROFILE_OCSP, NULL, NULL, NULL, NULL, NULL,
		"ocsp profile", NULL, NULL},
	    {"O=Partner", NULL, MTLS_PROFILE_CLIENT, NULL, NULL, NULL, NULL, NULL,
		"no CN", NULL, NULL},
	    {"CN=bad/name", NULL, MTLS_PROFILE_CLIENT, NULL, NULL, NULL, NULL, NULL,
		"bad name", NULL, NULL},
	    {"CN=x", NULL, MTLS_PROFILE_CLIENT, NULL, NULL, NULL, NULL,
		"a-name-that-is-far-too-long-to-be-a-common-name-of-sixty-four-chars",
		"64 characters", NULL, NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_REQ *csr = test_csr(f->base.key, cases[i].csr_subject,
		    cases[i].csr_sans, 0);
		struct mtls_sign_policy pol;
		struct mtls_sign_result res;
		struct mtls_err e;
		int rc;

		memset(&pol, 0, sizeof(pol));
		pol.profile = cases[i].profile;
		pol.subject = cases[i].subject;
		pol.subject_allow = cases[i].subject_allow;
		pol.sans = cases[i].sans;
		pol.san_allow = cases[i].san_allow;
		mtls_err_clear(&e);
		rc = mtls_ca_sign_partner(f->base.ca, csr, cases[i].name, &pol, 0,
		    &res, &e);
		if (cases[i].want != NULL) {
			if (rc == 0 || strstr(e.msg, cases[i].want) == NULL) {
				fail_msg("case %zu: want '%s', got %d '%s'", i,
				    cases[i].want, rc, e.msg);
			}
			assert_null(res.cert);
		} else {
			char *subj, *sans;
			GENERAL_NAMES *g;

			if (rc != 0) {
				fail_msg("case %zu refused: %s", i, e.msg);
			}
			subj = mtls_name_format(X509_get_subject_name(res.cert));
			g = X509_get_ext_d2i(res.cert, NID_subject_alt_name, NULL, NULL);
			sans = mtls_san_format(g);
			assert_string_equal(subj, cases[i].want_subj);
			assert_string_equal(sans, cases[i].want_sans);
			OPENSSL_free(subj);
			free(sans);
			GENERAL_NAMES_free(g);
			X509_free(res.cert);
		}
		X509_REQ_free(csr);
	}
}

static int
note_origin(const struct mtls_inv_entry *e, void *arg)
{
	snprintf(arg, 16, "%s", e->origin);
	return 0;
}

/* Names are unique across origins; a partner's name is renewed from a new
 * CSR with RENEW only, and never re-keyed here. */
static void
names_and_renewal(void **state)
{
	struct fx *f = *state;
	struct mtls_sign_policy pol;
	struct mtls_sign_result r1, r2;
	struct mtls_renew_opts ro;
	struct mtls_identity_opts io;
	struct mtls_fileset *fs;
	struct mtls_err e;
	char origin[16] = "", serial[80];
	X509_REQ *csr = test_csr(f->base.key, "CN=acme", NULL, 0);

	memset(&pol, 0, sizeof(pol));
	pol.profile = MTLS_PROFILE_CLIENT;
	assert_int_equal(mtls_ca_sign_partner(f->base.ca, csr, NULL, &pol, 0, &r1, &e), 0);
	assert_string_equal(r1.name, "acme");
	assert_string_equal(r1.supersedes, "");
	assert_int_equal(mtls_ca_list(f->base.ca, "acme", note_origin, origin, &e), 0);
	assert_string_equal(origin, "partner");
	/* Again without RENEW: refused, naming the current serial. */
	assert_int_equal(mtls_ca_sign_partner(f->base.ca, csr, NULL, &pol, 0, &r2, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_non_null(strstr(e.msg, "--renew"));
	/* RENEW of a name never used: refused (a typo must not create one). */
	assert_int_equal(mtls_ca_sign_partner(f->base.ca, csr, "acme2", &pol, 1, &r2, &e), -1);
	assert_int_equal(e.code, MTLS_E_NOTFOUND);
	/* RENEW: the new certificate supersedes the old. */
	assert_int_equal(mtls_ca_sign_partner(f->base.ca, csr, NULL, &pol, 1, &r2, &e), 0);
	assert_string_not_equal(r2.supersedes, "");
	assert_int_equal(mtls_ca_current(f->base.ca, "acme", serial, sizeof(serial), &e), 0);
	{
		char *hex = mtls_cert_serial_hex(r2.cert);

		assert_string_equal(serial, hex);
		OPENSSL_free(hex);
	}
	/* renew (re-keying here) refuses a partner's identity... */
	memset(&ro, 0, sizeof(ro));
	ro.out_dir = f->base.dir;
	fs = mtls_fileset_new(1, &e);
	assert_null(mtls_identity_renew(f->base.ca, "acme", &ro, fs, &e));
	assert_non_null(strstr(e.msg, "partner holds its key"));
	mtls_fileset_free(fs);
	/* ...and a local identity cannot take the partner's name. */
	memset(&io, 0, sizeof(io));
	io.name = "acme";
	io.profile = MTLS_PROFILE_CLIENT;
	io.out_dir = f->base.dir;
	fs = mtls_fileset_new(1, &e);
	assert_null(mtls_identity_issue(f->base.ca, &io, fs, &e));
	assert_int_equal(e.code, MTLS_E_EXISTS);
	mtls_fileset_free(fs);
	X509_free(r1.cert);
	X509_free(r2.cert);
	X509_REQ_free(csr);
}

static int
count_policy(const struct mtls_sign_policy *p, void *arg)
{
	int *n = arg;

	assert_string_equal(p->name, "acme");
	assert_int_equal(p->profile, MTLS_PROFILE_NODE);
	assert_string_equal(p->subject_allow, "CN=*.a.example\nCN=b");
	assert_null(p->subject);
	assert_int_equal(p->days, 30);
	(*n)++;
	return 0;
}

static void
stored_policies(void **state)
{
	struct fx *f = *state;
	struct mtls_sign_policy pol;
	struct mtls_err e;
	int n = 0;

	memset(&pol, 0, sizeof(pol));
	pol.name = "acme";
	pol.profile = MTLS_PROFILE_NODE;
	pol.subject_allow = "CN=*.a.example\nCN=b";
	pol.san_allow = "dns:*.a.example";
	pol.days = 30;
	assert_int_equal(mtls_policy_save(f->base.ca, &pol, 0, &e), 0);
	assert_int_equal(mtls_policy_save(f->base.ca, &pol, 0, &e), -1);
	assert_int_equal(e.code, MTLS_E_EXISTS);
	assert_int_equal(mtls_policy_save(f->base.ca, &pol, 1, &e), 0);
	assert_int_equal(mtls_policy_get(f->base.ca, "acme", count_policy, &n, &e), 0);
	assert_int_equal(mtls_policy_get(f->base.ca, NULL, count_policy, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mtls_policy_get(f->base.ca, "nope", count_policy, &n, &e), -1);
	assert_int_equal(e.code, MTLS_E_NOTFOUND);
	pol.profile = MTLS_PROFILE_OCSP;
	assert_int_equal(mtls_policy_save(f->base.ca, &pol, 1, &e), -1);
	assert_int_equal(mtls_policy_remove(f->base.ca, "acme", &e), 0);
	assert_int_equal(mtls_policy_remove(f->base.ca, "acme", &e), -1);
	assert_int_equal(e.code, MTLS_E_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(sign_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(names_and_renewal, setup, teardown),
	    cmocka_unit_test_setup_teardown(stored_policies, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
