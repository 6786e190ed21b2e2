/* see probe_int.h: client authentication - requested? required? is our
 * certificate accepted, and if not, why? */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "diag/diag_int.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "diag/probe_int.h"
#include "base/internal.h"

static int
name_advertised(STACK_OF(X509_NAME) *names, const X509_NAME *n)
{
	int i;

	for (i = 0; i < sk_X509_NAME_num(names); i++) {
		if (X509_NAME_cmp(sk_X509_NAME_value(names, i), n) == 0) {
			return 1;
		}
	}
	return 0;
}

static STACK_OF(X509_NAME) *
advertised(struct probe_ctx *pc)
{
	int i;

	if (pc->main.ca_names != NULL) {
		return pc->main.ca_names;
	}
	for (i = 0; i < 4; i++) {
		if (pc->ver[i].ca_names != NULL) {
			return pc->ver[i].ca_names;
		}
	}
	return NULL;
}

/* What the server does when we send no certificate. EVIDENCE gets the
 * observation. Returns 1 required, 0 optional, -1 cannot tell. */
static int
judge_required(const struct attempt *a, char *ev, size_t len)
{
	if (a->outcome == ATT_ALERT) {
		snprintf(ev, len, "without a certificate the handshake ends "
				  "with alert '%s'",
		    mtls_explain_alert_key(a->alert_recv));
		return 1;
	}
	if (a->outcome == ATT_EOF || a->outcome == ATT_RESET) {
		snprintf(ev, len, "without a certificate the server drops the "
				  "connection during the handshake");
		return 1;
	}
	if (a->outcome != ATT_HANDSHAKE_OK) {
		snprintf(ev, len, "the handshake without a certificate failed "
				  "for another reason");
		return -1;
	}
	switch (a->after_what) {
	case AFTER_ALERT:
		snprintf(ev, len, "without a certificate the server sends "
				  "alert '%s' after the handshake",
		    mtls_explain_alert_key(a->after_alert));
		return 1;
	case AFTER_CLOSED:
		snprintf(ev, len, "without a certificate the server closes the "
				  "connection right after the handshake");
		return 1;
	case AFTER_HTTP:
		if (a->http_cert_missing) {
			snprintf(ev, len, "the handshake completes, but HTTP "
					  "requests are refused: \"%s\"",
			    a->http_status);
			return 1;
		}
		snprintf(ev, len, "without a certificate the server answers "
				  "HTTP requests: \"%s\"",
		    a->http_status);
		return 0;
	case AFTER_NOTHING:
	default:
		snprintf(ev, len, "without a certificate the handshake "
				  "completes and the connection stays open");
		return 0;
	}
}

/* Lists the advertised CA names; returns 1 when our certificate's
 * issuer (or a CA we send) is among them, 0 when not, -1 when there is
 * nothing to compare (no names advertised, or no certificate of ours). */
static int
check_ca_names(struct mtls_report *r, struct probe_ctx *pc,
    STACK_OF(X509_NAME) *names, json_t *ja)
{
	json_t *arr = json_array();
	X509 *x = pc->peer.cert;
	int i, match;

	for (i = 0; names != NULL && i < sk_X509_NAME_num(names); i++) {
		char *s = mtls_name_format(sk_X509_NAME_value(names, i));

		mtls__report_line(r, "  acceptable client CA: %s", s ? s : "?");
		json_array_append_new(arr, json_string(s ? s : "?"));
		OPENSSL_free(s);
	}
	json_object_set_new(ja, "ca_names", arr);
	if (names == NULL || sk_X509_NAME_num(names) == 0) {
		mtls__report_line(r, "  acceptable client CA: (none advertised)");
		return -1;
	}
	if (x == NULL) {
		return -1;
	}
	match = name_advertised(names, X509_get_issuer_name(x));
	for (i = 0; !match && pc->peer.chain != NULL &&
		    i < sk_X509_num(pc->peer.chain);
	     i++) {
		X509 *c = sk_X509_value(pc->peer.chain, i);

		match = name_advertised(names, X509_get_subject_name(c)) ||
			name_advertised(names, X509_get_issuer_name(c));
	}
	return match;
}

static void
report_issuer(struct mtls_report *r, struct probe_ctx *pc, int match,
    int accepted)
{
	STACK_OF(X509_NAME) *names = advertised(pc);
	char *iss;

	if (match < 0) {
		return;
	}
	if (match) {
		mtls__report_add(r, MTLS_SEV_OK, "client_issuer_advertised",
		    pc->cert_file, NULL,
		    "our certificate's CA is among those the server accepts");
		return;
	}
	iss = mtls__cert_issuer(pc->peer.cert);
	if (accepted) {
		mtls__report_add(r, MTLS_SEV_WARN, "client_issuer_not_advertised",
		    pc->cert_file,
		    "on the server, verify client certificates against the "
		    "CA (openssl s_server -verify_return_error; nginx: "
		    "ssl_verify_client on, not optional_no_ca)",
		    "our certificate's issuer '%s' is not among the %d CA "
		    "name(s) the server advertises, yet the server accepted "
		    "it: it does not enforce client certificate verification",
		    iss, sk_X509_NAME_num(names));
	} else {
		mtls__report_add(r, MTLS_SEV_ERROR, "client_issuer_not_advertised",
		    pc->cert_file,
		    "use a certificate issued by one of the advertised CAs, "
		    "have the server trust our CA, or send our intermediate "
		    "CA certificates after the leaf in the --cert file",
		    "our certificate's issuer '%s' (and every CA we send) is "
		    "not among the %d CA name(s) the server accepts",
		    iss, sk_X509_NAME_num(names));
	}
	OPENSSL_free(iss);
}

/* With the trust we have (--ca), find intermediates of ours that we do
 * not send: a server that trusts only the root cannot verify us. */
static void
check_our_chain(struct mtls_report *r, struct probe_ctx *pc)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *built;
	int i, j, sent;

	if (ctx == NULL || X509_STORE_CTX_init(ctx, pc->store, pc->peer.cert,
			       pc->peer.chain) != 1) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return;
	}
	if (X509_verify_cert(ctx) != 1) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return; /* our CA is not in --ca: nothing to learn here */
	}
	built = X509_STORE_CTX_get0_chain(ctx);
	for (i = 1; i < sk_X509_num(built); i++) {
		X509 *c = sk_X509_value(built, i);
		char *s;

		sent = 0;
		for (j = 0; pc->peer.chain != NULL &&
			    j < sk_X509_num(pc->peer.chain);
		     j++) {
			sent |= X509_cmp(sk_X509_value(pc->peer.chain, j), c) ==
				0;
		}
		if (sent || mtls__cert_self_signed(c)) {
			continue;
		}
		s = mtls__cert_subject(c);
		mtls__report_add(r, MTLS_SEV_WARN, "client_chain_incomplete",
		    pc->cert_file,
		    "append the intermediate CA certificate(s) to the --cert "
		    "file, after our certificate",
		    "we do not send our intermediate CA '%s' (it is in %s): a "
		    "server that trusts only the root cannot verify us",
		    s, pc->ca_file != NULL ? pc->ca_file : "the system store");
		OPENSSL_free(s);
		break;
	}
	X509_STORE_CTX_free(ctx);
}

/* Local findings that explain a rejection, as "a, b". */
static void
local_causes(struct mtls_report *r, char *buf, size_t len)
{
	static const char *const keys[] = {"client_cert_revoked",
	    "client_cert_expired",
	    "client_cert_not_yet_valid", "client_cert_eku",
	    "client_issuer_not_advertised", "client_chain_incomplete",
	    "client_cert_weak_key", "client_cert_weak_signature"};
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < MTLS_ARRAY_LEN(keys) && o < len; i++) {
		if (mtls_report_find(r, keys[i], NULL) != NULL) {
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o ? ", " : "", keys[i]);
		}
	}
}

static int
ours_accepted(const struct attempt *a)
{
	return a->outcome == ATT_HANDSHAKE_OK &&
	       (a->after_what == AFTER_NOTHING ||
		   (a->after_what == AFTER_HTTP && !a->http_cert_error &&
		       !a->http_cert_missing));
}

static void
judge_ours(struct mtls_report *r, struct probe_ctx *pc, json_t *ja)
{
	struct attempt *a = &pc->withcert;
	char causes[300], *subj = mtls__cert_subject(pc->peer.cert);
	int alert = -1;

	if (a->outcome == ATT_ALERT) {
		alert = a->alert_recv;
	} else if (a->outcome == ATT_HANDSHAKE_OK &&
		   a->after_what == AFTER_ALERT) {
		alert = a->after_alert;
	}
	local_causes(r, causes, sizeof(causes));
	if (alert >= 0) {
		json_object_set_new(ja, "our_certificate", json_string("rejected"));
		json_object_set_new(ja, "rejection_alert",
		    json_string(mtls_explain_alert_key(alert)));
		mtls__report_add(r, MTLS_SEV_ERROR, "client_cert_rejected",
		    pc->target, mtls_explain_alert_fix(alert),
		    "the server rejected our certificate %s: %s%s%s", subj,
		    mtls_explain_alert(alert),
		    causes[0] ? "; local checks point to: " : "", causes);
	} else if (a->outcome == ATT_HANDSHAKE_OK &&
		   a->after_what == AFTER_HTTP &&
		   (a->http_cert_error || a->http_cert_missing)) {
		json_object_set_new(ja, "our_certificate", json_string("rejected"));
		mtls__report_add(r, MTLS_SEV_ERROR, "client_cert_rejected",
		    pc->target,
		    "have the server trust the CA that issued our certificate "
		    "(nginx: ssl_client_certificate), and read its error log",
		    "the server completed the handshake but refused our "
		    "certificate %s at HTTP level (\"%s\")%s%s",
		    subj, a->http_status,
		    causes[0] ? "; local checks point to: " : "", causes);
	} else if (a->outcome == ATT_HANDSHAKE_OK &&
		   a->after_what == AFTER_CLOSED) {
		json_object_set_new(ja, "our_certificate", json_string("unclear"));
		mtls__report_add(r, MTLS_SEV_WARN, "client_cert_unclear", pc->target,
		    "read the server's log for why it closed the connection",
		    "with our certificate the handshake completes, but the "
		    "server closes the connection at once");
	} else if (a->outcome == ATT_HANDSHAKE_OK) {
		json_object_set_new(ja, "our_certificate", json_string("accepted"));
		mtls__report_add(r, MTLS_SEV_OK, "client_cert_accepted", pc->target,
		    NULL, "the server accepts our certificate %s%s", subj,
		    a->after_what == AFTER_HTTP ? " (HTTP requests answered)"
						: "");
	} else {
		json_object_set_new(ja, "our_certificate", json_string("failed"));
		mtls__report_add(r, MTLS_SEV_ERROR, "client_cert_rejected",
		    pc->target, "read the server's error log",
		    "with our certificate the handshake fails without an alert "
		    "(%s)%s%s",
		    a->reason[0] ? a->reason : "connection closed",
		    causes[0] ? "; local checks point to: " : "", causes);
	}
	OPENSSL_free(subj);
}

static void
report_request(struct mtls_report *r, struct probe_ctx *pc, json_t *ja)
{
	char ev[400];
	int req = judge_required(&pc->main, ev, sizeof(ev));

	json_object_set_new(ja, "required",
	    req < 0 ? json_null() : json_boolean(req));
	json_object_set_new(ja, "evidence", json_string(ev));
	mtls__report_line(r, "client authentication: requested, %s (%s)",
	    req == 1 ? "required" : req == 0 ? "optional" : "unclear", ev);
	if (req == 1) {
		mtls__report_add(r, MTLS_SEV_OK, "client_auth_required", pc->target,
		    NULL, "the server requires a client certificate (%s)", ev);
	} else if (req == 0) {
		mtls__report_add(r, MTLS_SEV_WARN, "client_auth_optional", pc->target,
		    "make it mandatory unless the application checks it "
		    "(nginx: ssl_verify_client on; Tomcat: "
		    "certificateVerification=\"required\")",
		    "the server asks for a client certificate but also lets "
		    "clients in without one (%s)",
		    ev);
	} else {
		mtls__report_add(r, MTLS_SEV_INFO, "client_auth_unclear", pc->target,
		    NULL, "cannot tell whether the certificate is required (%s)",
		    ev);
	}
}

int
mtls__probe_client_auth(struct mtls_report *r, struct probe_ctx *pc)
{
	json_t *ja = json_object();
	int i, match, requested = pc->main.cert_requested;

	if (ja == NULL) {
		return -1;
	}
	for (i = 0; i < 4; i++) {
		requested |= pc->ver[i].cert_requested;
	}
	json_object_set_new(mtls__report_json(r), "client_auth", ja);
	json_object_set_new(ja, "requested", json_boolean(requested));
	if (!requested) {
		mtls__report_line(r, "client authentication: not requested");
		json_object_set_new(ja, "our_certificate",
		    json_string(pc->peer.cert ? "not_requested" : "not_given"));
		mtls__report_add(r, pc->peer.cert ? MTLS_SEV_WARN : MTLS_SEV_INFO,
		    "client_auth_not_requested", pc->target,
		    "enable client authentication on the server (nginx: "
		    "ssl_verify_client on; ssl_client_certificate ca.crt;)",
		    "the server does not ask for a client certificate: this is "
		    "not mutual TLS%s",
		    pc->peer.cert ? ", and ours is never sent" : "");
		return 0;
	}
	report_request(r, pc, ja);
	match = check_ca_names(r, pc, advertised(pc), ja);
	if (pc->peer.cert == NULL) {
		json_object_set_new(ja, "our_certificate", json_string("not_given"));
		return 0;
	}
	check_our_chain(r, pc);
	if (!pc->key_ok) {
		report_issuer(r, pc, match, 0);
		json_object_set_new(ja, "our_certificate", json_string("not_sent"));
		return 0;
	}
	pc->withcert.version = pc->best;
	pc->withcert.send_cert = 1;
	pc->withcert.after = 1;
	if (mtls__attempt_run(&pc->peer, &pc->withcert) != 0) {
		return -1;
	}
	report_issuer(r, pc, match, ours_accepted(&pc->withcert));
	judge_ours(r, pc, ja);
	return 0;
}
