/* see probe_int.h: what probe concludes about the server's chain and
 * about client authentication */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtls/ca.h"
#include "mtls/inspect.h"
#include "diag/diag_int.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "diag/probe_int.h"
#include "base/internal.h"

struct revoked {
	int revoked;
	time_t at;
	char reason[64];
};

static int
revoked_cb(const struct mtls_inv_entry *e, void *arg)
{
	struct revoked *rv = arg;

	if (strcmp(e->status, "revoked") == 0) {
		rv->revoked = 1;
		rv->at = e->revoked_at;
		snprintf(rv->reason, sizeof(rv->reason), "%s",
		    e->reason ? e->reason : "unspecified");
	}
	return 0;
}

/* A server refusing a revoked certificate sends only "certificate
 * unknown" (or "bad certificate"): the CA's inventory, when we have it,
 * names the real cause. */
static void
check_inventory(struct mtls_report *r, struct probe_ctx *pc, X509 *x,
    const char *subj)
{
	struct mtls_err err;
	struct mtls_ca *ca;
	struct revoked rv = {0, 0, ""};
	char *serial = mtls_cert_serial_hex(x);
	char when[32];

	mtls_err_clear(&err);
	ca = serial != NULL ? mtls_ca_open(pc->ca_dir, &err) : NULL;
	if (ca != NULL && mtls_ca_lookup(ca, serial, revoked_cb, &rv, &err) == 0 &&
	    rv.revoked) {
		struct tm tm;

		gmtime_r(&rv.at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		mtls__report_add(r, MTLS_SEV_ERROR, "client_cert_revoked",
		    pc->cert_file,
		    "issue a new certificate ('mtls issue NAME --profile client "
		    "--force') and install it",
		    "our certificate %s (serial %s) is revoked in the CA's "
		    "inventory since %s (%s): servers that check the CRL or OCSP "
		    "refuse it",
		    subj, serial, when, rv.reason);
	}
	mtls_ca_free(ca);
	OPENSSL_free(serial);
}

int
mtls__check_identity(struct mtls_report *r, struct probe_ctx *pc)
{
	X509 *x = pc->peer.cert;
	char *subj;
	char what[600];

	if (x == NULL) {
		return 0;
	}
	subj = mtls__cert_subject(x);
	json_object_set_new(mtls__report_json(r), "client_certificate", mtls_cert_to_json(x));
	mtls__report_line(r, "our certificate (%s):", pc->cert_file);
	mtls__cert_lines(r, x, "  ");
	pc->key_ok = mtls_key_matches_cert(pc->peer.key, x);
	if (!pc->key_ok) {
		mtls__report_add(r, MTLS_SEV_ERROR, "client_key_mismatch",
		    pc->cert_file,
		    "use the private key generated with this certificate "
		    "('mtls doctor' pairs them); it was not sent",
		    "the private key given with --key does not belong to our "
		    "certificate %s",
		    subj);
	}
	snprintf(what, sizeof(what), "our certificate %s", subj);
	mtls__check_validity(r, x, pc->cert_file, what, "client_cert", pc->warn_days);
	if ((mtls__cert_eku_roles(x) & 2) == 0) {
		char eku[256];

		mtls__cert_eku_describe(x, eku, sizeof(eku));
		mtls__report_add(r, MTLS_SEV_ERROR, "client_cert_eku", pc->cert_file,
		    "issue a client (or node) certificate: 'mtls issue NAME "
		    "--profile client'",
		    "our certificate %s lacks the clientAuth extended key "
		    "usage (it has %s): servers reject it as the wrong purpose",
		    subj, eku);
	}
	mtls__check_weak(r, x, pc->cert_file, what, "client_cert");
	if (pc->ca_dir != NULL) {
		check_inventory(r, pc, x, subj);
	}
	OPENSSL_free(subj);
	return 0;
}

static int
in_stack(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++) {
		if (X509_cmp(sk_X509_value(sk, i), x) == 0) {
			return 1;
		}
	}
	return 0;
}

static const char *
trust_name(const struct probe_ctx *pc)
{
	return pc->ca_file != NULL ? pc->ca_file : "the system trust store";
}

static void
chain_verify_failed(struct mtls_report *r, struct probe_ctx *pc,
    STACK_OF(X509) *chain, X509_STORE_CTX *ctx)
{
	int code = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *last = sk_X509_value(chain, sk_X509_num(chain) - 1);
	char *ls = mtls__cert_subject(last), *li = mtls__cert_issuer(last);
	char buf[600];

	if (mtls__cert_self_signed(last) &&
	    (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
		code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		code == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)) {
		code = X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
	}
	switch (code) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		{
			mtls__report_add(r, MTLS_SEV_ERROR, "chain_incomplete",
			    pc->target,
			    "on the server, configure the leaf followed by its "
			    "intermediate CA certificates (nginx: ssl_certificate "
			    "fullchain.pem; Java: import the chain into the key "
			    "entry); or, if you trust that CA, pass it with --ca",
			    "the server sends %d certificate(s) ending at '%s', "
			    "whose issuer '%s' is neither sent nor in %s: the "
			    "chain is incomplete (missing intermediate) or its "
			    "CA is not trusted",
			    sk_X509_num(chain), ls, li, trust_name(pc));
			break;
		}
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		mtls__report_add(r, MTLS_SEV_ERROR, "server_untrusted", pc->target,
		    "pass the server's CA certificate with --ca if you trust "
		    "it; otherwise the server uses the wrong certificate",
		    "the server's chain ends at '%s', a self-signed CA that %s "
		    "does not contain",
		    ls, trust_name(pc));
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		mtls__report_add(r, MTLS_SEV_ERROR, "server_cert_eku", pc->target,
		    "issue the server a server (or node) certificate: "
		    "'mtls issue NAME --profile server'",
		    "the server's certificate lacks the serverAuth extended key "
		    "usage: clients reject it (%s)",
		    mtls_explain_verify_code(code));
		break;
	default:
		mtls_explain_verify_failure(code,
		    X509_STORE_CTX_get_current_cert(ctx), depth, buf,
		    sizeof(buf));
		mtls__report_add(r, MTLS_SEV_ERROR, "server_verify_failed",
		    pc->target, mtls_explain_verify_fix(code),
		    "the server's chain does not verify against %s: %s",
		    trust_name(pc), buf);
		break;
	}
	OPENSSL_free(ls);
	OPENSSL_free(li);
}

static int
verify_server_chain(struct mtls_report *r, struct probe_ctx *pc,
    STACK_OF(X509) *chain)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *built;
	int i;

	if (ctx == NULL ||
	    X509_STORE_CTX_init(ctx, pc->store, sk_X509_value(chain, 0),
		chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return -1;
	}
	X509_STORE_CTX_set_verify_cb(ctx, mtls__verify_ignore_time_cb);
	if (X509_verify_cert(ctx) != 1) {
		chain_verify_failed(r, pc, chain, ctx);
		json_object_set_new(mtls__report_json(r), "chain_verified",
		    json_false());
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return 0;
	}
	json_object_set_new(mtls__report_json(r), "chain_verified", json_true());
	mtls__report_add(r, MTLS_SEV_OK, "server_chain_verified", pc->target, NULL,
	    "the server's chain verifies against %s", trust_name(pc));
	built = X509_STORE_CTX_get0_chain(ctx);
	for (i = 1; i < sk_X509_num(built); i++) {
		X509 *x = sk_X509_value(built, i);
		char *s;

		if (mtls__cert_self_signed(x) || in_stack(chain, x)) {
			continue;
		}
		s = mtls__cert_subject(x);
		mtls__report_add(r, MTLS_SEV_WARN, "chain_incomplete", pc->target,
		    "on the server, send the intermediate after the leaf "
		    "(nginx: ssl_certificate fullchain.pem)",
		    "the server does not send its intermediate CA '%s'; it "
		    "verified only because %s holds it, clients that trust "
		    "only the root will fail",
		    s, trust_name(pc));
		OPENSSL_free(s);
		break;
	}
	X509_STORE_CTX_free(ctx);
	return 0;
}

static void
check_order(struct mtls_report *r, struct probe_ctx *pc, STACK_OF(X509) *ch)
{
	int i, j, n = sk_X509_num(ch), found;

	for (i = 1; i < n; i++) {
		X509 *prev = sk_X509_value(ch, i - 1);
		char *s;

		if (X509_check_issued(sk_X509_value(ch, i), prev) == X509_V_OK) {
			continue;
		}
		found = 0;
		for (j = 0; j < n; j++) {
			if (j != i - 1 && X509_check_issued(sk_X509_value(ch, j),
					      prev) == X509_V_OK) {
				found = 1;
			}
		}
		s = mtls__cert_subject(sk_X509_value(ch, i));
		if (found) {
			mtls__report_add(r, MTLS_SEV_WARN, "chain_order", pc->target,
			    "order the server's certificate file: leaf first, "
			    "then each issuer in turn",
			    "the server sends its chain out of order: [%d] "
			    "'%s' does not issue [%d]",
			    i, s, i - 1);
		} else {
			mtls__report_add(r, MTLS_SEV_WARN, "chain_unrelated",
			    pc->target,
			    "remove certificates that do not belong to the "
			    "chain from the server's certificate file",
			    "the server sends '%s' at [%d], which does not "
			    "issue the certificate before it",
			    s, i);
		}
		OPENSSL_free(s);
		ERR_clear_error();
		return;
	}
	ERR_clear_error();
	if (n > 1 && mtls__cert_self_signed(sk_X509_value(ch, n - 1))) {
		mtls__report_add(r, MTLS_SEV_INFO, "chain_root_sent", pc->target,
		    NULL,
		    "the server also sends its root CA: harmless, but clients "
		    "must have it in their truststore anyway");
	}
}

static void
check_server_certs(struct mtls_report *r, struct probe_ctx *pc,
    STACK_OF(X509) *ch)
{
	X509 *leaf = sk_X509_value(ch, 0);
	char what[600], prefix[16], *s;
	int i, cn_only;
	json_t *arr = json_array();

	mtls__report_line(r, "server chain as sent (%d certificate%s):",
	    sk_X509_num(ch), sk_X509_num(ch) == 1 ? "" : "s");
	for (i = 0; i < sk_X509_num(ch); i++) {
		X509 *x = sk_X509_value(ch, i);

		snprintf(prefix, sizeof(prefix), "  [%d] ", i);
		mtls__cert_lines(r, x, prefix);
		json_array_append_new(arr, mtls_cert_to_json(x));
		s = mtls__cert_subject(x);
		snprintf(what, sizeof(what), "%s %s",
		    i == 0 ? "the server's certificate" : "the server's CA",
		    s);
		mtls__check_validity(r, x, pc->target, what,
		    i == 0 ? "server_cert" : "server_chain_cert",
		    pc->warn_days);
		mtls__check_weak(r, x, pc->target, what,
		    i == 0 ? "server_cert" : "server_chain_cert");
		OPENSSL_free(s);
	}
	json_object_set_new(mtls__report_json(r), "chain", arr);
	s = mtls__cert_sans(leaf);
	if (!mtls__cert_name_matches(leaf, pc->name, &cn_only)) {
		mtls__report_add(r, MTLS_SEV_ERROR, "server_name_mismatch", pc->target,
		    "connect with one of its names (--servername NAME), or "
		    "re-issue the server's certificate with --san dns:NAME",
		    "the server's certificate is not valid for '%s': its names "
		    "are %s",
		    pc->name, s[0] ? s : "(no SANs)");
	} else if (cn_only) {
		mtls__report_add(r, MTLS_SEV_WARN, "server_name_cn_only", pc->target,
		    "re-issue the server's certificate with --san dns:NAME",
		    "'%s' matches only the certificate's subject CN, not a SAN: "
		    "browsers, Go and newer Java clients reject it",
		    pc->name);
	} else {
		mtls__report_add(r, MTLS_SEV_OK, "server_name_ok", pc->target, NULL,
		    "the server's certificate is valid for '%s'", pc->name);
	}
	free(s);
	if ((mtls__cert_eku_roles(leaf) & 1) == 0) {
		mtls__report_add(r, MTLS_SEV_ERROR, "server_cert_eku", pc->target,
		    "issue the server a server (or node) certificate",
		    "the server's certificate lacks the serverAuth extended "
		    "key usage: clients reject it as the wrong purpose");
	}
}

static struct attempt *
best_attempt(struct probe_ctx *pc)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (pc->ver[i].version == pc->best) {
			return &pc->ver[i];
		}
	}
	return &pc->ver[0];
}

int
mtls__probe_server(struct mtls_report *r, struct probe_ctx *pc)
{
	STACK_OF(X509) *ch;

	pc->main.version = pc->best;
	pc->main.after = 1;
	if (mtls__attempt_run(&pc->peer, &pc->main) != 0) {
		return -1;
	}
	ch = pc->main.chain != NULL ? pc->main.chain : best_attempt(pc)->chain;
	if (pc->main.outcome == ATT_HANDSHAKE_OK) {
		mtls__report_line(r, "negotiated %s, cipher %s (handshake %ld ms)",
		    pc->main.protocol, pc->main.cipher, pc->main.handshake_ms);
		json_object_set_new(mtls__report_json(r), "cipher",
		    json_string(pc->main.cipher));
	} else if (pc->main.protocol[0] != '\0') {
		mtls__report_line(r, "negotiated %s; the handshake without a client "
			       "certificate did not complete",
		    pc->main.protocol);
	}
	if (pc->main.protocol[0] != '\0') {
		json_object_set_new(mtls__report_json(r), "protocol",
		    json_string(pc->main.protocol));
	}
	if (ch == NULL || sk_X509_num(ch) == 0) {
		mtls__report_add(r, MTLS_SEV_ERROR, "no_server_cert", pc->target,
		    "read the server's error log",
		    "the server sent no certificate");
		return 0;
	}
	check_server_certs(r, pc, ch);
	check_order(r, pc, ch);
	return verify_server_chain(r, pc, ch);
}
