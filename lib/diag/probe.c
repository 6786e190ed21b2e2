/* see mtls/diag.h: `probe` - connect, observe, explain */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "diag/diag_int.h"
#include "mtls/explain.h"
#include "mtls/pki.h"
#include "diag/probe_int.h"
#include "base/internal.h"

int
mtls_probe_parse_target(const char *t, char *host, size_t hl, char *port,
    size_t pl, struct mtls_err *err)
{
	const char *colon, *hs = t, *he;

	if (t == NULL || *t == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "give HOST:PORT to probe");
	}
	if (t[0] == '[') {
		he = strchr(t, ']');
		if (he == NULL || he[1] != ':') {
			goto bad;
		}
		hs = t + 1;
		colon = he + 1;
	} else {
		colon = strrchr(t, ':');
		if (colon == NULL || strchr(t, ':') != colon) {
			goto bad;
		}
		he = colon;
	}
	if (he == hs || colon[1] == '\0' || (size_t)(he - hs) >= hl ||
	    strlen(colon + 1) >= pl ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atol(colon + 1) < 1 || atol(colon + 1) > 65535) {
		goto bad;
	}
	snprintf(host, hl, "%.*s", (int)(he - hs), hs);
	snprintf(port, pl, "%s", colon + 1);
	return 0;
bad:
	return mtls_err_set(err, MTLS_E_USAGE,
	    "'%s' is not HOST:PORT (e.g. broker.example:8443 or "
	    "[2001:db8::1]:443; port 1-65535)",
	    t);
}

static int
is_ip_literal(const char *h)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(h);

	ERR_clear_error();
	ASN1_OCTET_STRING_free(ip);
	return ip != NULL;
}

/* Loads --cert/--key/--ca. Unreadable files are the caller's mistake
 * (exit 1 with the file named); a key that does not match is a finding. */
static int
load_identity(const struct mtls_probe_opts *o, struct probe_ctx *pc,
    struct mtls_err *err)
{
	STACK_OF(X509) *sk = NULL;

	if ((o->cert_file == NULL) != (o->key_file == NULL)) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "--cert and --key go together: give both or neither");
	}
	if (o->cert_file == NULL) {
		return 0;
	}
	if (mtls_load_certs(o->cert_file, &sk, err) != 0) {
		return -1;
	}
	pc->peer.cert = sk_X509_shift(sk);
	pc->peer.chain = sk;
	pc->peer.key = mtls_load_key(o->key_file, o->key_pass, err);
	if (pc->peer.key == NULL) {
		return -1;
	}
	return 0;
}

static X509_STORE *
load_store(const char *ca_file, struct mtls_err *err)
{
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *sk = NULL;
	int i;

	if (st == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (ca_file == NULL) {
		if (X509_STORE_set_default_paths(st) != 1) {
			ERR_clear_error(); /* an empty system store: reported
					    * as untrusted later */
		}
		return st;
	}
	if (mtls_load_certs(ca_file, &sk, err) != 0) {
		X509_STORE_free(st);
		return NULL;
	}
	for (i = 0; i < sk_X509_num(sk); i++) {
		if (X509_STORE_add_cert(st, sk_X509_value(sk, i)) != 1) {
			ERR_clear_error(); /* a duplicate is harmless */
		}
	}
	sk_X509_pop_free(sk, X509_free);
	return st;
}

static void
probe_ctx_free(struct probe_ctx *pc)
{
	int i;

	for (i = 0; i < 4; i++) {
		mtls__attempt_clear(&pc->ver[i]);
	}
	mtls__attempt_clear(&pc->main);
	mtls__attempt_clear(&pc->withcert);
	if (pc->peer.ai != NULL) {
		freeaddrinfo(pc->peer.ai);
	}
	X509_free(pc->peer.cert);
	sk_X509_pop_free(pc->peer.chain, X509_free);
	EVP_PKEY_free(pc->peer.key);
	X509_STORE_free(pc->store);
}

static const char *
plain_kind(const unsigned char *b, size_t n)
{
	if (n >= 6 && b[0] == SSL3_RT_HANDSHAKE && b[5] == SSL3_MT_CLIENT_HELLO) {
		return "our own ClientHello (an echo service, not TLS)";
	}
	if (n >= 5 && memcmp(b, "HTTP/", 5) == 0) {
		return "plain HTTP";
	}
	if (n >= 1 && b[0] == '<') {
		return "plain HTTP (an HTML page)";
	}
	if (n >= 4 && memcmp(b, "SSH-", 4) == 0) {
		return "an SSH banner";
	}
	if (n >= 4 && memcmp(b, "220", 3) == 0) {
		return "a plain-text banner (SMTP or FTP; STARTTLS is not "
		       "direct TLS)";
	}
	return "plain data";
}

static void
report_reach(struct mtls_report *r, const struct probe_ctx *pc,
    const struct attempt *a)
{
	const char *t = pc->target;
	char first[64];
	size_t i;

	switch (a->outcome) {
	case ATT_REFUSED:
		mtls__report_add(r, MTLS_SEV_ERROR, "connect_refused", t,
		    "start the server, or check the host and port (on the "
		    "server: ss -ltnp); a firewall may also refuse",
		    "could not connect to %s: connection refused (nothing "
		    "listens on that port)",
		    t);
		return;
	case ATT_CONNECT_TIMEOUT:
		mtls__report_add(r, MTLS_SEV_ERROR, "connect_timeout", t,
		    "check the address, that the host is up, and the firewalls "
		    "in between",
		    "could not connect to %s: no answer within %d ms (host down "
		    "or packets dropped by a firewall)",
		    t, pc->peer.timeout_ms);
		return;
	case ATT_UNREACHABLE:
		mtls__report_add(r, MTLS_SEV_ERROR, "connect_failed", t,
		    "check the address and the network route",
		    "could not connect to %s: %s", t, strerror(a->sys_errno));
		return;
	case ATT_NOT_TLS:
		for (i = 0; i < a->nfirst && i < sizeof(first) - 1; i++) {
			unsigned char c = a->first[i];

			first[i] = (c >= 32 && c < 127) ? (char)c : '.';
		}
		first[i] = '\0';
		mtls__report_add(r, MTLS_SEV_ERROR, "not_tls", t,
		    "use the TLS port of this service, or enable TLS on this one",
		    "%s does not speak TLS: it answered with %s (\"%s\")", t,
		    plain_kind(a->first, a->nfirst), first);
		return;
	case ATT_TLS_TIMEOUT:
		mtls__report_add(r, MTLS_SEV_ERROR, "no_tls_answer", t,
		    "check that this port serves TLS (not a plain protocol "
		    "that waits for the client, or STARTTLS)",
		    "%s accepted the connection but did not answer the TLS "
		    "ClientHello within %d ms",
		    t, pc->peer.timeout_ms);
		return;
	case ATT_EOF:
		mtls__report_add(r, MTLS_SEV_ERROR, "closed_by_server", t,
		    "check the server's error log; check --servername, TLS "
		    "versions, and that this port serves TLS",
		    "%s closed the connection without a TLS answer or alert",
		    t);
		return;
	case ATT_RESET:
		mtls__report_add(r, MTLS_SEV_ERROR, "reset_by_server", t,
		    "check the server's error log and any proxy or firewall "
		    "in between",
		    "%s reset the connection during the handshake", t);
		return;
	case ATT_ALERT:
		mtls__report_add(r, MTLS_SEV_ERROR, "handshake_refused", t,
		    mtls_explain_alert_fix(a->alert_recv),
		    "%s refused the handshake: %s", t,
		    mtls_explain_alert(a->alert_recv));
		return;
	case ATT_HANDSHAKE_OK:
	case ATT_WE_ABORTED:
	case ATT_LOCAL:
	case ATT_TLS_ERROR:
	default:
		mtls__report_add(r, MTLS_SEV_ERROR, "handshake_failed", t,
		    "read the server's error log; try 'openssl s_client "
		    "-connect' for the raw exchange",
		    "the TLS handshake with %s failed: %s", t,
		    a->reason[0] ? a->reason : "no reason given");
		return;
	}
}

static int
version_accepted(const struct attempt *a)
{
	/* A ServerHello with the version we asked for is acceptance, even
	 * when the handshake fails later (e.g. for lack of a certificate). */
	return a->server_hello && a->negotiated == a->version &&
	       a->outcome != ATT_WE_ABORTED;
}

static const int versions[4] = {TLS1_3_VERSION, TLS1_2_VERSION,
    TLS1_1_VERSION, TLS1_VERSION};

static void
describe_version(struct mtls_report *r, json_t *jv, const struct attempt *a)
{
	const char *name = mtls__probe_version_name(a->version);

	if (version_accepted(a)) {
		mtls__report_line(r, "%s: accepted", name);
		json_object_set_new(jv, name, json_string("accepted"));
	} else if (a->outcome == ATT_LOCAL) {
		mtls__report_line(r, "%s: not tested (this OpenSSL cannot offer it: "
			       "%s)",
		    name, a->reason);
		json_object_set_new(jv, name, json_string("untested"));
	} else {
		mtls__report_line(r, "%s: refused%s%s%s", name,
		    a->alert_recv >= 0 ? " (alert: " : "",
		    a->alert_recv >= 0 ? mtls_explain_alert_key(a->alert_recv)
				       : "",
		    a->alert_recv >= 0 ? ")" : "");
		json_object_set_new(jv, name, json_string("refused"));
	}
}

static int
scan_versions(struct mtls_report *r, struct probe_ctx *pc)
{
	json_t *jv = json_object();
	int i, best = 0;

	for (i = 0; i < 4; i++) {
		pc->ver[i].version = versions[i];
		if (mtls__attempt_run(&pc->peer, &pc->ver[i]) != 0) {
			json_decref(jv);
			return -1;
		}
		/* TCP failures, plain-text answers and silence do not depend
		 * on the TLS version: one attempt tells, and waiting for the
		 * timeout four times would only slow the answer down. */
		if (i == 0 && ((pc->ver[0].outcome >= ATT_REFUSED &&
				   pc->ver[0].outcome <= ATT_UNREACHABLE) ||
				  pc->ver[0].outcome == ATT_NOT_TLS ||
				  pc->ver[0].outcome == ATT_TLS_TIMEOUT)) {
			json_decref(jv);
			report_reach(r, pc, &pc->ver[0]);
			return 0; /* TCP failed: nothing more to learn */
		}
		if (version_accepted(&pc->ver[i]) && best == 0) {
			best = versions[i];
		}
	}
	pc->best = best;
	for (i = 0; i < 4; i++) {
		describe_version(r, jv, &pc->ver[i]);
	}
	json_object_set_new(mtls__report_json(r), "versions", jv);
	if (best == 0) {
		/* The most telling failure is the one for TLS 1.2. */
		report_reach(r, pc, &pc->ver[1]);
		return 0;
	}
	if (version_accepted(&pc->ver[2]) || version_accepted(&pc->ver[3])) {
		if (best <= TLS1_1_VERSION) {
			mtls__report_add(r, MTLS_SEV_ERROR, "old_tls_only", pc->target,
			    "enable TLS 1.2 and 1.3 on the server",
			    "%s accepts only %s: OpenSSL 3, Java 17+ and "
			    "curl refuse such servers at their defaults",
			    pc->target, mtls__probe_version_name(best));
		} else {
			mtls__report_add(r, MTLS_SEV_WARN, "old_tls", pc->target,
			    "disable TLS 1.0 and 1.1 (nginx: ssl_protocols "
			    "TLSv1.2 TLSv1.3;)",
			    "%s still accepts TLS 1.0 or 1.1, deprecated since "
			    "2021 (RFC 8996)",
			    pc->target);
		}
	} else {
		mtls__report_add(r, MTLS_SEV_OK, "tls_versions", pc->target, NULL,
		    "%s accepts only TLS 1.2 or newer", pc->target);
	}
	return 0;
}

struct mtls_report *
mtls_probe(const struct mtls_probe_opts *o, struct mtls_err *err)
{
	struct probe_ctx pc;
	struct mtls_report *r = NULL;
	struct addrinfo hints;
	char forced[64];
	int rc;

	memset(&pc, 0, sizeof(pc));
	if (mtls_probe_parse_target(o->target, pc.host, sizeof(pc.host),
		pc.port, sizeof(pc.port), err) != 0) {
		return NULL;
	}
	pc.target = o->target;
	pc.name = o->servername != NULL ? o->servername : pc.host;
	pc.warn_days = o->warn_days > 0 ? o->warn_days : 30;
	pc.ca_file = o->ca_file;
	pc.ca_dir = o->ca_dir;
	pc.cert_file = o->cert_file;
	pc.peer.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	pc.peer.sni = is_ip_literal(pc.name) ? NULL : pc.name;
	pc.peer.host_header = pc.name;
	pc.peer.http = !o->no_http;
	if (load_identity(o, &pc, err) != 0) {
		goto fail;
	}
	pc.store = load_store(o->ca_file, err);
	if (pc.store == NULL) {
		goto fail;
	}
	r = mtls__report_new();
	if (r == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		goto fail;
	}
	json_object_set_new(mtls__report_json(r), "target", json_string(o->target));
	json_object_set_new(mtls__report_json(r), "servername", json_string(pc.name));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = mtls__resolve_find(o->resolve, pc.host, pc.port, forced,
	    sizeof(forced), err);
	if (rc < 0) {
		goto fail;
	}
	if (rc == 1) {
		hints.ai_flags = AI_NUMERICHOST;
	}
	rc = getaddrinfo(rc == 1 ? forced : pc.host, pc.port, &hints,
	    &pc.peer.ai);
	if (rc != 0) {
		mtls__report_add(r, MTLS_SEV_ERROR, "dns_failed", pc.host,
		    "check the host name (typo? /etc/hosts? DNS server?)",
		    "could not connect: cannot resolve '%s': %s", pc.host,
		    gai_strerror(rc));
		probe_ctx_free(&pc);
		return r;
	}
	json_object_set_new(mtls__report_json(r), "reachable", json_false());
	if (mtls__check_identity(r, &pc) != 0 || scan_versions(r, &pc) != 0) {
		goto nomem;
	}
	if (pc.best != 0) {
		json_object_set_new(mtls__report_json(r), "reachable", json_true());
		if (mtls__probe_server(r, &pc) != 0 || mtls__probe_client_auth(r, &pc) != 0) {
			goto nomem;
		}
	}
	probe_ctx_free(&pc);
	return r;
nomem:
	mtls_err_set(err, MTLS_E_INTERNAL, "out of memory while probing");
fail:
	mtls_report_free(r);
	probe_ctx_free(&pc);
	return NULL;
}
