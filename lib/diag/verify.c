/* see mtls/inspect.h: mtls_verify_cert */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/explain.h"
#include "mtls/inspect.h"
#include "mtls/pki.h"
#include "mtls/revocation.h"
#include "diag/revcheck.h"

struct first_failure {
	long code;
	int depth;
	X509 *cert;
};

static int first_failure_idx = -1;

/* Keeps verifying after an error so that we report the first (deepest
 * meaningful) failure with its certificate, not just a code. */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct first_failure *ff;

	if (ok) {
		return 1;
	}
	ff = X509_STORE_CTX_get_ex_data(ctx, first_failure_idx);
	if (ff != NULL && ff->code == X509_V_OK) {
		ff->code = X509_STORE_CTX_get_error(ctx);
		ff->depth = X509_STORE_CTX_get_error_depth(ctx);
		ff->cert = X509_STORE_CTX_get_current_cert(ctx);
		if (ff->cert != NULL) {
			X509_up_ref(ff->cert);
		}
	}
	return 0;
}

/* "certificate CN=x (serial S) revoked on DATE (reason)" from whichever
 * loaded CRL lists CERT (mtls_explain_revoked: OCSP reads the same). */
static int
revocation_sentence(X509_STORE *st, X509 *cert, char *buf, size_t len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	int i;

	for (i = 0; cert != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
		X509_REVOKED *r = NULL;
		ASN1_ENUMERATED *reason;
		struct tm tm;
		long code = 0;

		if (crl == NULL || X509_CRL_get0_by_cert(crl, &r, cert) != 1 || r == NULL) {
			continue;
		}
		reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		if (reason != NULL) {
			code = ASN1_ENUMERATED_get(reason);
			ASN1_ENUMERATED_free(reason);
		}
		if (ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(r), &tm) != 1) {
			continue;
		}
		mtls_explain_revoked(cert, timegm(&tm), (int)code, buf, len);
		return 1;
	}
	return 0;
}

static int
load_crls(X509_STORE *st, const char *file, struct mtls_err *err)
{
	STACK_OF(X509_CRL) *crls = NULL;
	int i;

	if (mtls_load_crls(file, &crls, err) != 0) {
		return -1;
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_STORE_add_crl(st, sk_X509_CRL_value(crls, i));
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

static X509_STORE *
make_store(const struct mtls_verify_opts *o, struct mtls_err *err)
{
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *cas = NULL;
	int i;

	if (st == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (o->ca_file == NULL) {
		if (X509_STORE_set_default_paths(st) != 1) {
			mtls_err_ssl(err, MTLS_E_IO, "cannot load the system trust store");
			goto fail;
		}
	} else {
		if (mtls_load_certs(o->ca_file, &cas, err) != 0) {
			goto fail;
		}
		for (i = 0; i < sk_X509_num(cas); i++) {
			X509_STORE_add_cert(st, sk_X509_value(cas, i));
		}
		sk_X509_pop_free(cas, X509_free);
	}
	if (o->crl_file != NULL && load_crls(st, o->crl_file, err) != 0) {
		goto fail;
	}
	return st;
fail:
	X509_STORE_free(st);
	return NULL;
}

static int
set_params(X509_STORE_CTX *ctx, const struct mtls_verify_opts *o,
    struct mtls_err *err)
{
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	int purpose = o->purpose == MTLS_PURPOSE_CLIENT ? X509_PURPOSE_SSL_CLIENT
	    : o->purpose == MTLS_PURPOSE_SERVER ? X509_PURPOSE_SSL_SERVER : 0;

	if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx, purpose) != 1) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set purpose");
	}
	/* The same profile as serve's, so the two never disagree. */
	mtls_chain_profile_apply(vp);
	if (mtls_chain_profile_policies(vp, o->policies, o->npolicies,
		o->require_explicit_policy, err) != 0) {
		return -1;
	}
	if (o->at != 0) {
		X509_VERIFY_PARAM_set_time(vp, o->at);
	}
	if (o->host != NULL) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(o->host);

		ERR_clear_error();
		if (ip != NULL) {
			ASN1_OCTET_STRING_free(ip);
			X509_VERIFY_PARAM_set1_ip_asc(vp, o->host);
		} else {
			/* RFC 6125 6.4.4: match SANs only, never fall back to the
			 * subject CN, as browsers and curl do today. */
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
			X509_VERIFY_PARAM_set1_host(vp, o->host, 0);
		}
	}
	return 0;
}

/* The verified CHAIN's revocation under R, with the one walk serve, push,
 * test and doctor use (diag/revcheck.c). */
static int
chain_revocation(const struct mtls_revocation_opts *r, STACK_OF(X509) *chain,
    struct mtls_err *err)
{
	struct mtls__revcheck *rc = mtls__revcheck_new(r, chain, err);
	int ret;

	if (rc == NULL) {
		return -1;
	}
	ret = mtls__revcheck_chain(rc, chain, NULL, 0, err);
	mtls__revcheck_free(rc);
	return ret;
}

int
mtls_verify_cert(X509 *leaf, STACK_OF(X509) *untrusted,
    const struct mtls_verify_opts *o, long *code, struct mtls_err *err)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	struct first_failure ff = {X509_V_OK, 0, NULL};
	char sentence[700];
	const char *fix, *why;
	int rc = -1;

	if (code != NULL) {
		*code = X509_V_OK;
	}
	if (first_failure_idx < 0) {
		first_failure_idx = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	}
	st = make_store(o, err);
	ctx = X509_STORE_CTX_new();
	if (st == NULL || ctx == NULL ||
	    X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
		if (st != NULL) {
			mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot set up verification");
		}
		goto out;
	}
	if (set_params(ctx, o, err) != 0) {
		goto out;
	}
	X509_STORE_CTX_set_ex_data(ctx, first_failure_idx, &ff);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (X509_verify_cert(ctx) == 1) {
		const char *rule = o->purpose == MTLS_PURPOSE_ANY ? NULL
		    : mtls_leaf_profile_check(leaf, o->purpose == MTLS_PURPOSE_CLIENT
			    ? MTLS_LEAF_CLIENT : MTLS_LEAF_SERVER);

		if (rule == NULL) {
			rule = mtls_chain_names_check(X509_STORE_CTX_get0_chain(ctx));
		}
		if (rule == NULL) {
			rc = o->revocation == NULL ? 0 : chain_revocation(
			    o->revocation, X509_STORE_CTX_get0_chain(ctx), err);
			if (rc != 0 && code != NULL) {
				*code = X509_V_ERR_CERT_REVOKED;
			}
			goto out;
		}
		if (code != NULL) {
			*code = X509_V_ERR_INVALID_PURPOSE;
		}
		mtls_leaf_profile_sentence(leaf, rule, sentence, sizeof(sentence));
		mtls_err_set(err, MTLS_E_VERIFY, "%s", sentence);
		goto out;
	}
	if (ff.code == X509_V_OK) {
		ff.code = X509_STORE_CTX_get_error(ctx);
	}
	if (code != NULL) {
		*code = ff.code;
	}
	if (ff.code == X509_V_ERR_INVALID_PURPOSE && o->purpose != MTLS_PURPOSE_ANY &&
	    (why = mtls_chain_purpose_why(ff.cert ? ff.cert : leaf, ff.depth,
		o->purpose == MTLS_PURPOSE_CLIENT ? MTLS_LEAF_CLIENT
						  : MTLS_LEAF_SERVER)) != NULL) {
		/* Key usage, extended key usage or a CA's restriction: say
		 * which, not OpenSSL's one "unsupported certificate purpose". */
		mtls_leaf_profile_sentence(ff.cert ? ff.cert : leaf, why,
		    sentence, sizeof(sentence));
		mtls_err_set(err, MTLS_E_VERIFY, "%s", sentence);
		goto out;
	}
	if (ff.code != X509_V_ERR_CERT_REVOKED ||
	    !revocation_sentence(st, ff.cert ? ff.cert : leaf, sentence,
		sizeof(sentence))) {
		mtls_explain_verify_failure(ff.code, ff.cert ? ff.cert : leaf,
		    ff.depth, sentence, sizeof(sentence));
	}
	fix = mtls_cert_malformed_why(ff.cert ? ff.cert : leaf) != NULL
	    ? "re-issue the certificate" : mtls_explain_verify_fix(ff.code);
	mtls_err_set(err, MTLS_E_VERIFY, "%s%s%s", sentence, fix ? "; " : "",
	    fix ? fix : "");
out:
	ERR_clear_error();
	X509_free(ff.cert);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}
