/* see acme_int.h: orders (RFC 8555 7.4), authorizations and challenges
 * (7.5), certificate download (7.4.2) and revocation (7.6). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/internal.h"
#include "ca/acme_store.h"
#include "ca/ca_internal.h"
#include "mtls/acme.h"
#include "mtls/pki.h"
#include "base/clock.h"
#include "online/acme_int.h"

#define MAX_IDENTIFIERS 100

static const char *const chall_types[] = {"http-01", "tls-alpn-01"};

/* RFC 8555 7.1: timestamps are RFC 3339, in UTC (base/clock.c). */
static void
rfc3339(time_t t, char *out, size_t len)
{
	mtls__time_format(t, MTLS__TIME_RFC3339, out, len);
}

static json_t *
time_json(time_t t)
{
	char b[32];

	rfc3339(t, b, sizeof(b));
	return json_string(b);
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* ---- identifiers ---- */

/* A DNS name as RFC 1123 allows (lower case, letters, digits, hyphens,
 * no empty label), or a canonical IP address. 0 and the canonical form
 * in OUT, or -1 with WHY. */
static int
canonical_id(const char *type, const char *value, char *out, size_t len,
    const char **why)
{
	unsigned char buf[16];
	size_t i, label = 0, n = strlen(value);

	if (strcmp(type, "ip") == 0) {
		/* RFC 8738 3: the textual form; we compare canonical ones. */
		if (inet_pton(AF_INET, value, buf) == 1) {
			return inet_ntop(AF_INET, buf, out, (socklen_t)len) ? 0 : -1;
		}
		if (inet_pton(AF_INET6, value, buf) == 1) {
			return inet_ntop(AF_INET6, buf, out, (socklen_t)len) ? 0 : -1;
		}
		*why = "is not an IP address";
		return -1;
	}
	if (strcmp(type, "dns") != 0) {
		*why = "has a type other than dns and ip";
		return -1;
	}
	if (n == 0 || n > 253 || n >= len) {
		*why = "is not a DNS name of 1 to 253 characters";
		return -1;
	}
	if (value[0] == '*') {
		*why = "is a wildcard, which needs dns-01 (not offered here)";
		return -1;
	}
	for (i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || value[i - 1] == '-') {
				*why = "is not a valid DNS name";
				return -1;
			}
			label = 0;
		} else if (isalnum(c) || (c == '-' && label > 0) || c == '_') {
			label++;
		} else {
			*why = "is not a valid DNS name";
			return -1;
		}
		out[i] = (char)tolower(c);
	}
	return 0;
}

/* The order's identifiers, checked against ACCOUNT's allow list, without
 * duplicates; NULL after a problem. */
static json_t *
order_identifiers(struct mtls__acme_job *j, json_t *in)
{
	const char *allow = jstr(j->acct, "allow"), *why = NULL;
	json_t *out = json_array(), *v;
	char canon[300];
	size_t i, k;
	int dup;

	if (!json_is_array(in) || json_array_size(in) == 0 ||
	    json_array_size(in) > MAX_IDENTIFIERS) {
		mtls__acme_problem(j, 400, "malformed", "'identifiers' must be an "
		    "array of 1 to %d {type, value} objects", MAX_IDENTIFIERS);
		goto fail;
	}
	json_array_foreach(in, i, v) {
		const char *type = jstr(v, "type"), *value = jstr(v, "value");

		if (canonical_id(type, value, canon, sizeof(canon), &why) != 0) {
			mtls__acme_problem(j, 400, strcmp(type, "dns") == 0 ||
			    strcmp(type, "ip") == 0 ? "rejectedIdentifier" :
			    "unsupportedIdentifier", "identifier %.16s:%.200s %s",
			    type, value, why);
			goto fail;
		}
		if (!mtls_acme_allow_match(allow, type, canon)) {
			mtls__acme_problem(j, 403, "rejectedIdentifier", "%s:%s is not "
			    "allowed for this account (allowed: %.400s)", type, canon,
			    allow[0] ? allow : "nothing");
			goto fail;
		}
		dup = 0;
		for (k = 0; k < json_array_size(out); k++) {
			json_t *o = json_array_get(out, k);

			dup |= strcmp(jstr(o, "type"), type) == 0 &&
			    strcmp(jstr(o, "value"), canon) == 0;
		}
		if (!dup) {
			json_array_append_new(out, json_pack("{s:s, s:s}", "type", type,
			    "value", canon));
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* ---- views ---- */

static json_t *
order_view(struct mtls__acme_job *j, const char *id, json_t *o)
{
	json_t *v = json_object(), *az = json_array(), *a;
	size_t i;
	char *u;

	json_object_set(v, "status", json_object_get(o, "status"));
	json_object_set_new(v, "expires", time_json((time_t)json_integer_value(
	    json_object_get(o, "expires_at"))));
	json_object_set(v, "identifiers", json_object_get(o, "identifiers"));
	json_array_foreach(json_object_get(o, "authz"), i, a) {
		u = mtls__acme_url(j, "authz/%s", json_string_value(a));
		json_array_append_new(az, json_string(u ? u : ""));
		free(u);
	}
	json_object_set_new(v, "authorizations", az);
	u = mtls__acme_url(j, "order/%s/finalize", id);
	json_object_set_new(v, "finalize", json_string(u ? u : ""));
	free(u);
	if (json_object_get(o, "cert") != NULL) {
		u = mtls__acme_url(j, "cert/%s", jstr(o, "cert"));
		json_object_set_new(v, "certificate", json_string(u ? u : ""));
		free(u);
	}
	if (json_object_get(o, "error") != NULL) {
		json_object_set(v, "error", json_object_get(o, "error"));
	}
	return v;
}

static json_t *
chall_view(struct mtls__acme_job *j, const char *authz, int idx, json_t *c)
{
	char *u = mtls__acme_url(j, "chall/%s/%d", authz, idx);
	json_t *v = json_pack("{s:O, s:s, s:O, s:O}", "type",
	    json_object_get(c, "type"), "url", u ? u : "", "token",
	    json_object_get(c, "token"), "status", json_object_get(c, "status"));

	free(u);
	if (json_object_get(c, "validated") != NULL) {
		json_object_set_new(v, "validated", time_json((time_t)
		    json_integer_value(json_object_get(c, "validated"))));
	}
	if (json_object_get(c, "error") != NULL) {
		json_object_set(v, "error", json_object_get(c, "error"));
	}
	return v;
}

static json_t *
authz_view(struct mtls__acme_job *j, const char *id, json_t *az)
{
	json_t *v = json_object(), *cs = json_array(), *c;
	size_t i;

	json_object_set(v, "status", json_object_get(az, "status"));
	json_object_set_new(v, "expires", time_json((time_t)json_integer_value(
	    json_object_get(az, "expires_at"))));
	json_object_set(v, "identifier", json_object_get(az, "identifier"));
	json_array_foreach(json_object_get(az, "challenges"), i, c) {
		json_array_append_new(cs, chall_view(j, id, (int)i, c));
	}
	json_object_set_new(v, "challenges", cs);
	return v;
}

static int
expired(struct mtls__acme_job *j, json_t *doc)
{
	return (time_t)json_integer_value(json_object_get(doc, "expires_at")) <=
	    j->now;
}

static void
store_problem(struct mtls__acme_job *j, const struct mtls_err *e)
{
	if (e->code == MTLS_E_BUSY || strstr(e->msg, "locked") != NULL ||
	    strstr(e->msg, "busy") != NULL) {
		mtls__acme_problem(j, 503, "serverInternal", "the CA's inventory is "
		    "busy; retry later");
		j->resp->retry_after = 2;
		return;
	}
	mtls__acme_problem(j, 500, "serverInternal", "%s", e->msg);
}

/* ---- newOrder (7.4) ---- */

void
mtls__acme_new_order(struct mtls__acme_job *j)
{
	struct mtls_err e;
	json_t *ids = NULL, *order = NULL, *azs = json_array(), *v;
	char oid[40], aid[40], *tok;
	unsigned char raw[32];
	long n = 0;
	size_t i, k;
	time_t exp = j->now + j->a->o.pending_lifetime;

	if (j->payload == NULL) {
		mtls__acme_problem(j, 400, "malformed", "newOrder needs a payload "
		    "with 'identifiers'");
		goto out;
	}
	if (json_object_get(j->payload, "notBefore") != NULL ||
	    json_object_get(j->payload, "notAfter") != NULL) {
		mtls__acme_problem(j, 400, "malformed", "notBefore/notAfter are not "
		    "supported: the lifetime is the CA's (%ld s)",
		    j->a->o.cert_lifetime);
		goto out;
	}
	ids = order_identifiers(j, json_object_get(j->payload, "identifiers"));
	if (ids == NULL) {
		goto out;
	}
	if (mtls__acme_count_since(j->a->ca, "order", j->account, j->now - 3600,
		&n, &e) != 0) {
		store_problem(j, &e);
		goto out;
	}
	if (n >= j->a->o.orders_per_hour) {
		mtls__acme_problem(j, 429, "rateLimited", "this account made %ld "
		    "orders in the last hour (limit %ld)", n, j->a->o.orders_per_hour);
		goto out;
	}
	if (mtls__acme_new_id(oid, 12) != 0 || mtls_ca_begin(j->a->ca, &e) != 0) {
		mtls__acme_problem(j, 503, "serverInternal", "cannot start an order "
		    "now; retry");
		goto out;
	}
	json_array_foreach(ids, i, v) {
		json_t *cs = json_array(), *az;

		if (mtls__acme_new_id(aid, 12) != 0) {
			json_decref(cs);
			goto rollback;
		}
		for (k = 0; k < sizeof(chall_types) / sizeof(chall_types[0]); k++) {
			if (RAND_bytes(raw, sizeof(raw)) != 1 ||
			    (tok = mtls__b64url_enc(raw, sizeof(raw))) == NULL) {
				json_decref(cs);
				goto rollback;
			}
			json_array_append_new(cs, json_pack("{s:s, s:s, s:s}", "type",
			    chall_types[k], "token", tok, "status", "pending"));
			free(tok);
		}
		az = json_pack("{s:s, s:I, s:O, s:s, s:o}", "status", "pending",
		    "expires_at", (json_int_t)exp, "identifier", v, "order", oid,
		    "challenges", cs);
		if (mtls__acme_save(j, "authz", aid, j->account, az, &e) != 0) {
			json_decref(az);
			goto rollback;
		}
		json_decref(az);
		json_array_append_new(azs, json_string(aid));
	}
	order = json_pack("{s:s, s:I, s:O, s:O}", "status", "pending",
	    "expires_at", (json_int_t)exp, "identifiers", ids, "authz", azs);
	if (mtls__acme_save(j, "order", oid, j->account, order, &e) != 0) {
		goto rollback;
	}
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		store_problem(j, &e);
		goto out;
	}
	j->resp->location = mtls__acme_url(j, "order/%s", oid);
	mtls__acme_reply(j, 201, order_view(j, oid, order));
	goto out;
rollback:
	mtls_ca_rollback(j->a->ca);
	store_problem(j, &e);
out:
	json_decref(ids);
	json_decref(azs);
	json_decref(order);
}

/* ---- finalize (7.4) ---- */

/* The CSR's identifiers (SANs, and the CN when there is one) as the set
 * "type:value\n..." in canonical form; -1 when one is not dns or ip. */
static int
csr_ids(X509_REQ *req, GENERAL_NAMES *sans, json_t *set)
{
	X509_NAME *sub = X509_REQ_get_subject_name(req);
	char canon[300], buf[320];
	const char *why;
	int i, pos = -1;

	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const char *type = NULL;

		if (g->type == GEN_DNS) {
			int n = ASN1_STRING_length(g->d.dNSName);

			snprintf(buf, sizeof(buf), "%.*s", n < 299 ? n : 299,
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			type = "dns";
		} else if (g->type == GEN_IPADD) {
			int n = ASN1_STRING_length(g->d.iPAddress);

			if (inet_ntop(n == 4 ? AF_INET : AF_INET6,
				ASN1_STRING_get0_data(g->d.iPAddress), buf,
				sizeof(buf)) == NULL || (n != 4 && n != 16)) {
				return -1;
			}
			type = "ip";
		} else {
			return -1;
		}
		if (canonical_id(type, buf, canon, sizeof(canon), &why) != 0) {
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s:%s", type, canon);
		json_object_set_new(set, buf, json_true());
	}
	/* RFC 8555 7.4: a CN, when present, is one of the identifiers. */
	while ((pos = X509_NAME_get_index_by_NID(sub, NID_commonName, pos)) >= 0) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sub, pos));
		int n = ASN1_STRING_length(d);
		const char *type;

		snprintf(buf, sizeof(buf), "%.*s", n < 299 ? n : 299,
		    (const char *)ASN1_STRING_get0_data(d));
		type = mtls__is_ip_literal(buf) ? "ip" : "dns";
		if (canonical_id(type, buf, canon, sizeof(canon), &why) != 0) {
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s:%s", type, canon);
		json_object_set_new(set, buf, json_true());
	}
	return 0;
}

static json_t *
order_id_set(json_t *ids)
{
	json_t *set = json_object(), *v;
	char buf[320];
	size_t i;

	json_array_foreach(ids, i, v) {
		snprintf(buf, sizeof(buf), "%s:%s", jstr(v, "type"), jstr(v, "value"));
		json_object_set_new(set, buf, json_true());
	}
	return set;
}

static X509 *
sign_order(struct mtls__acme_job *j, json_t *order, X509_REQ *req,
    GENERAL_NAMES *sans, struct mtls_err *e)
{
	struct mtls_cert_request cr;
	json_t *first = json_array_get(json_object_get(order, "identifiers"), 0);
	const char *name = jstr(first, "value");
	X509_NAME *subj = X509_NAME_new();
	X509 *x = NULL;

	if (subj == NULL || (strlen(name) <= 64 &&
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)name, -1, -1, 0) != 1)) {
		X509_NAME_free(subj);
		mtls_err_ssl(e, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	memset(&cr, 0, sizeof(cr));
	cr.name = name;
	cr.subject = subj;
	cr.pubkey = X509_REQ_get0_pubkey(req);
	cr.profile = MTLS_PROFILE_SERVER;
	cr.sans = sans;
	cr.lifetime = j->a->o.cert_lifetime;
	x = mtls_ca_sign(j->a->ca, &cr, e);
	X509_NAME_free(subj);
	return x;
}

static void
finalize(struct mtls__acme_job *j, const char *id, json_t *order)
{
	const char *csr_b64 = jstr(j->payload, "csr");
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dl = 0;
	X509_REQ *req = NULL;
	GENERAL_NAMES *sans = NULL;
	json_t *want = NULL, *have = json_object();
	struct mtls_err e;
	char *serial = NULL;
	X509 *x = NULL;

	if (strcmp(jstr(order, "status"), "ready") != 0) {
		mtls__acme_problem(j, 403, "orderNotReady", "the order is %s, not "
		    "ready: %s", jstr(order, "status"), strcmp(jstr(order, "status"),
		    "pending") == 0 ? "validate its authorizations first" :
		    "start a new order");
		goto out;
	}
	der = mtls__b64url_dec(csr_b64, strlen(csr_b64), &dl);
	p = der;
	req = der != NULL ? d2i_X509_REQ(NULL, &p, (long)dl) : NULL;
	if (req == NULL || p != der + dl) {
		mtls__acme_problem(j, 400, "badCSR", "'csr' must be base64url of a "
		    "DER PKCS#10 request");
		goto out;
	}
	if (mtls_csr_check(req, NULL, &sans, &e) != 0) {
		mtls__acme_problem(j, 400, "badCSR", "%s", e.msg);
		goto out;
	}
	want = order_id_set(json_object_get(order, "identifiers"));
	if (csr_ids(req, sans, have) != 0 || !json_equal(want, have)) {
		mtls__acme_problem(j, 400, "badCSR", "the CSR's names (SANs and CN) "
		    "must be exactly the order's identifiers");
		goto out;
	}
	/* Certificate, its account and the order in one transaction, under
	 * the CA lock like every command that signs. */
	if (mtls__ca_begin_locked(j->a->ca, MTLS__CA_WRITE_WAIT_MS, &e) != 0) {
		store_problem(j, &e);
		goto out;
	}
	x = sign_order(j, order, req, sans, &e);
	serial = x != NULL ? mtls_cert_serial_hex(x) : NULL;
	if (serial != NULL) {
		json_object_set_new(order, "status", json_string("valid"));
		json_object_set_new(order, "cert", json_string(serial));
	}
	if (serial == NULL || mtls__acme_cert_add(j->a->ca, serial, j->account,
		id, &e) != 0 || mtls__acme_save(j, "order", id, j->account, order,
		&e) != 0) {
		mtls_ca_rollback(j->a->ca);
		store_problem(j, &e);
		goto out;
	}
	mtls__acme_audit(j, "acme-finalize", jstr(json_array_get(
	    json_object_get(order, "identifiers"), 0), "value"), serial, "issued",
	    "");
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		store_problem(j, &e);
		goto out;
	}
	j->a->issued++;
	j->resp->issued = 1;
	j->resp->location = mtls__acme_url(j, "order/%s", id);
	mtls__acme_reply(j, 200, order_view(j, id, order));
out:
	OPENSSL_free(serial);
	X509_free(x);
	json_decref(want);
	json_decref(have);
	GENERAL_NAMES_free(sans);
	X509_REQ_free(req);
	free(der);
	ERR_clear_error();
}

void
mtls__acme_order(struct mtls__acme_job *j, const char *id, int fin)
{
	char owner[64];
	json_t *o = mtls__acme_load(j, "order", id, owner, sizeof(owner));
	const char *st;
	struct mtls_err e;

	if (o == NULL) {
		return;
	}
	if (strcmp(owner, j->account) != 0) {
		mtls__acme_problem(j, 403, "unauthorized", "not your order");
		goto out;
	}
	st = jstr(o, "status");
	/* 7.1.6: an order that expires unfinished becomes invalid. */
	if (strcmp(st, "valid") != 0 && strcmp(st, "invalid") != 0 &&
	    expired(j, o)) {
		json_object_set_new(o, "status", json_string("invalid"));
		json_object_set_new(o, "error", json_pack("{s:s, s:s}", "type",
		    "urn:ietf:params:acme:error:malformed", "detail", "the order "
		    "expired"));
		(void)mtls__acme_save(j, "order", id, owner, o, &e);
	}
	if (fin) {
		if (j->payload == NULL) {
			mtls__acme_problem(j, 400, "malformed", "finalize needs a "
			    "payload with 'csr'");
			goto out;
		}
		finalize(j, id, o);
		goto out;
	}
	if (strcmp(jstr(o, "status"), "processing") == 0) {
		j->resp->retry_after = 1;
	}
	mtls__acme_reply(j, 200, order_view(j, id, o));
out:
	json_decref(o);
}

void
mtls__acme_orders_list(struct mtls__acme_job *j)
{
	/* 7.1.2.1: the list may be empty; we do not page it. Orders are
	 * found by their URLs, which every client keeps. */
	mtls__acme_reply(j, 200, json_pack("{s:[]}", "orders"));
}

/* ---- authorizations and challenges (7.5) ---- */

void
mtls__acme_authz(struct mtls__acme_job *j, const char *id)
{
	char owner[64];
	json_t *az = mtls__acme_load(j, "authz", id, owner, sizeof(owner));
	struct mtls_err e;

	if (az == NULL) {
		return;
	}
	if (strcmp(owner, j->account) != 0) {
		mtls__acme_problem(j, 403, "unauthorized", "not your authorization");
		goto out;
	}
	if (strcmp(jstr(az, "status"), "pending") == 0 && expired(j, az)) {
		json_object_set_new(az, "status", json_string("expired"));
	}
	if (j->payload != NULL && json_object_get(j->payload, "status") != NULL) {
		/* 7.5.2: the client may deactivate an authorization. */
		if (!json_equal(json_object_get(j->payload, "status"),
			json_string("deactivated"))) {
			mtls__acme_problem(j, 400, "malformed", "an authorization's "
			    "status can only become \"deactivated\"");
			goto out;
		}
		json_object_set_new(az, "status", json_string("deactivated"));
		if (mtls__acme_save(j, "authz", id, owner, az, &e) != 0) {
			store_problem(j, &e);
			goto out;
		}
	}
	if (strcmp(jstr(az, "status"), "pending") == 0) {
		j->resp->retry_after = 1;
	}
	mtls__acme_reply(j, 200, authz_view(j, id, az));
out:
	json_decref(az);
}

void
mtls__acme_chall(struct mtls__acme_job *j, const char *rest)
{
	char id[64], owner[64], keyauth[128];
	const char *slash = strchr(rest, '/');
	json_t *az = NULL, *c;
	struct mtls__acme_check chk;
	struct mtls_err e;
	size_t n = slash != NULL ? (size_t)(slash - rest) : 0;
	long idx;
	char *end = NULL;

	idx = slash != NULL ? strtol(slash + 1, &end, 10) : -1;
	if (n == 0 || n >= sizeof(id) || end == NULL || *end != '\0' ||
	    end == slash + 1 || idx < 0 || idx > 9) {
		mtls__acme_problem(j, 404, "malformed", "no such challenge");
		return;
	}
	snprintf(id, sizeof(id), "%.*s", (int)n, rest);
	az = mtls__acme_load(j, "authz", id, owner, sizeof(owner));
	if (az == NULL) {
		return;
	}
	c = json_array_get(json_object_get(az, "challenges"), (size_t)idx);
	if (strcmp(owner, j->account) != 0 || c == NULL) {
		mtls__acme_problem(j, c ? 403 : 404, c ? "unauthorized" : "malformed",
		    c ? "not your challenge" : "no such challenge");
		goto out;
	}
	/* 7.5.1: an empty object asks to validate; POST-as-GET only reads. */
	if (j->payload != NULL && strcmp(jstr(c, "status"), "pending") == 0 &&
	    strcmp(jstr(az, "status"), "pending") == 0) {
		if (expired(j, az)) {
			mtls__acme_problem(j, 403, "malformed", "the authorization "
			    "expired; start a new order");
			goto out;
		}
		json_object_set_new(c, "status", json_string("processing"));
		if (mtls__acme_save(j, "authz", id, owner, az, &e) != 0) {
			store_problem(j, &e);
			goto out;
		}
		snprintf(keyauth, sizeof(keyauth), "%s.%s", jstr(c, "token"),
		    j->thumb);
		memset(&chk, 0, sizeof(chk));
		chk.authz = id;
		chk.index = (int)idx;
		chk.type = jstr(c, "type");
		chk.id_type = jstr(json_object_get(az, "identifier"), "type");
		chk.id_value = jstr(json_object_get(az, "identifier"), "value");
		chk.token = jstr(c, "token");
		chk.keyauth = keyauth;
		if (j->a->validate != NULL) {
			j->a->validate(j->a->validate_arg, &chk);
		}
	}
	mtls__acme_link(j, mtls__acme_url(j, "authz/%s", id), "up");
	if (strcmp(jstr(c, "status"), "processing") == 0) {
		j->resp->retry_after = 1;
	}
	mtls__acme_reply(j, 200, chall_view(j, id, (int)idx, c));
out:
	json_decref(az);
}

/* Loads a document outside a request (validation results). */
static json_t *
load_quiet(struct mtls__acme *a, const char *kind, const char *id,
    char *owner, size_t len)
{
	struct mtls_err e;
	json_error_t je;
	char *doc = mtls__acme_get(a->ca, kind, id, owner, len, &e);
	json_t *o = doc != NULL ? json_loads(doc, 0, &je) : NULL;

	free(doc);
	return o;
}

void
mtls__acme_check_done(struct mtls__acme *a, const char *authz, int index,
    int ok, const char *problem, const char *detail)
{
	struct mtls__acme_job j;
	struct mtls__acme_resp r;
	struct mtls_err e;
	char owner[64], urn[96];
	json_t *az, *c, *order = NULL, *ids, *v, *err = NULL;
	const char *oid;
	size_t i;
	int all = 1;

	memset(&j, 0, sizeof(j));
	memset(&r, 0, sizeof(r));
	j.a = a;
	j.resp = &r;
	az = load_quiet(a, "authz", authz, owner, sizeof(owner));
	c = az != NULL ? json_array_get(json_object_get(az, "challenges"),
	    (size_t)index) : NULL;
	if (c == NULL || strcmp(jstr(c, "status"), "processing") != 0) {
		json_decref(az);
		return;
	}
	j.now = time(NULL);
	if (ok) {
		json_object_set_new(c, "status", json_string("valid"));
		json_object_set_new(c, "validated", json_integer((json_int_t)j.now));
		json_object_set_new(az, "status", json_string("valid"));
	} else {
		snprintf(urn, sizeof(urn), "urn:ietf:params:acme:error:%s", problem);
		err = json_pack("{s:s, s:s, s:i}", "type", urn, "detail", detail,
		    "status", 403);
		json_object_set(c, "error", err);
		json_object_set_new(c, "status", json_string("invalid"));
		json_object_set_new(az, "status", json_string("invalid"));
	}
	oid = jstr(az, "order");
	order = load_quiet(a, "order", oid, owner, sizeof(owner));
	if (mtls_ca_begin(a->ca, &e) != 0) {
		goto out;
	}
	if (order != NULL && strcmp(jstr(order, "status"), "pending") == 0) {
		ids = json_object_get(order, "authz");
		json_array_foreach(ids, i, v) {
			json_t *other;

			if (strcmp(json_string_value(v), authz) == 0) {
				continue;
			}
			other = load_quiet(a, "authz", json_string_value(v), NULL, 0);
			all &= other != NULL && strcmp(jstr(other, "status"), "valid") == 0;
			json_decref(other);
		}
		/* 7.1.6: all valid makes it ready; one invalid makes it invalid. */
		if (!ok) {
			json_object_set_new(order, "status", json_string("invalid"));
			json_object_set(order, "error", err);
		} else if (all) {
			json_object_set_new(order, "status", json_string("ready"));
		}
		if (mtls__acme_save(&j, "order", oid, owner, order, &e) != 0) {
			mtls_ca_rollback(a->ca);
			goto out;
		}
	}
	if (mtls__acme_save(&j, "authz", authz, owner, az, &e) != 0) {
		mtls_ca_rollback(a->ca);
		goto out;
	}
	(void)mtls_ca_commit(a->ca, &e);
out:
	json_decref(err);
	json_decref(order);
	json_decref(az);
	mtls__acme_resp_free(&r);
}

/* ---- certificates (7.4.2) and revocation (7.6) ---- */

struct found {
	char *pem;
	char status[16];
};

static int
take_pem(const struct mtls_inv_entry *e, void *arg)
{
	struct found *f = arg;

	f->pem = strdup(e->pem);
	snprintf(f->status, sizeof(f->status), "%s", e->status);
	return 0;
}

void
mtls__acme_cert(struct mtls__acme_job *j, const char *serial)
{
	struct found f = {NULL, ""};
	struct mtls_err e;
	char owner[64];
	size_t n;
	int rc;

	rc = mtls__acme_cert_account(j->a->ca, serial, owner, sizeof(owner), &e);
	if (rc != 0 || strcmp(owner, j->account) != 0) {
		mtls__acme_problem(j, rc < 0 ? 500 : 404, rc < 0 ? "serverInternal" :
		    "malformed", "%s", rc < 0 ? e.msg : "no certificate of yours "
		    "with that serial");
		return;
	}
	if (mtls_ca_lookup(j->a->ca, serial, take_pem, &f, &e) != 0 ||
	    f.pem == NULL) {
		mtls__acme_problem(j, 500, "serverInternal", "the certificate is "
		    "not in the inventory");
		free(f.pem);
		return;
	}
	/* application/pem-certificate-chain: the leaf, then the CA. */
	n = strlen(f.pem) + strlen(j->a->ca_pem) + 2;
	free(j->resp->body);
	j->resp->body = malloc(n);
	if (j->resp->body == NULL) {
		free(f.pem);
		mtls__acme_problem(j, 500, "serverInternal", "out of memory");
		return;
	}
	snprintf(j->resp->body, n, "%s%s%s", f.pem, f.pem[0] && f.pem[strlen(
	    f.pem) - 1] == '\n' ? "" : "\n", j->a->ca_pem);
	j->resp->len = strlen(j->resp->body);
	j->resp->status = 200;
	j->resp->content_type = "application/pem-certificate-chain";
	free(f.pem);
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

void
mtls__acme_revoke(struct mtls__acme_job *j)
{
	const char *b64 = jstr(j->payload, "certificate");
	json_t *jr = json_object_get(j->payload, "reason");
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dl = 0;
	X509 *x = NULL, *ours = NULL;
	struct found f = {NULL, ""};
	struct mtls_err e;
	char owner[64], *serial = NULL;
	int reason = jr != NULL ? (int)json_integer_value(jr) : 0, rc;

	der = mtls__b64url_dec(b64, strlen(b64), &dl);
	p = der;
	x = der != NULL ? d2i_X509(NULL, &p, (long)dl) : NULL;
	if (x == NULL || p != der + dl) {
		mtls__acme_problem(j, 400, "malformed", "'certificate' must be "
		    "base64url of a DER certificate");
		goto out;
	}
	/* RFC 5280 5.3.1 codes a subscriber may give. */
	if ((jr != NULL && !json_is_integer(jr)) || reason < 0 || reason > 10 ||
	    reason == 2 || reason == 6 || reason == 7 || reason == 8 ||
	    reason == 10) {
		mtls__acme_problem(j, 400, "badRevocationReason", "reason %d is not "
		    "accepted (0, 1, 3, 4, 5 or 9)", reason);
		goto out;
	}
	serial = mtls_cert_serial_hex(x);
	if (serial == NULL || mtls_ca_lookup(j->a->ca, serial, take_pem, &f,
		&e) != 0 || f.pem == NULL ||
	    (ours = pem_cert(f.pem)) == NULL || X509_cmp(x, ours) != 0) {
		mtls__acme_problem(j, 404, "malformed", "this CA did not issue that "
		    "certificate");
		goto out;
	}
	/* 7.6: the account that got it, or the certificate's own key. */
	if (j->account[0] != '\0') {
		rc = mtls__acme_cert_account(j->a->ca, serial, owner, sizeof(owner),
		    &e);
		if (rc != 0 || strcmp(owner, j->account) != 0) {
			mtls__acme_problem(j, 403, "unauthorized", "this account did not "
			    "get that certificate; sign with its key instead");
			goto out;
		}
	} else if (EVP_PKEY_eq(j->key, X509_get0_pubkey(x)) != 1) {
		mtls__acme_problem(j, 403, "unauthorized", "the JWS key is not the "
		    "certificate's key");
		goto out;
	}
	if (strcmp(f.status, "valid") != 0) {
		mtls__acme_problem(j, 400, "alreadyRevoked", "the certificate is "
		    "already %s", f.status);
		goto out;
	}
	if (mtls__ca_begin_locked(j->a->ca, MTLS__CA_WRITE_WAIT_MS, &e) != 0) {
		store_problem(j, &e);
		goto out;
	}
	if (mtls_ca_revoke(j->a->ca, serial, reason, 0, &e) != 0 ||
	    mtls_ca_commit(j->a->ca, &e) != 0) {
		mtls_ca_rollback(j->a->ca);
		mtls__acme_problem(j, e.code == MTLS_E_EXISTS ? 400 : 500,
		    e.code == MTLS_E_EXISTS ? "alreadyRevoked" : "serverInternal",
		    "%s", e.msg);
		goto out;
	}
	mtls__acme_audit(j, "acme-revoke", "", serial, "revoked",
	    mtls_reason_name(reason));
	j->resp->status = 200;
	j->resp->content_type = NULL;
out:
	free(f.pem);
	OPENSSL_free(serial);
	X509_free(x);
	X509_free(ours);
	free(der);
	ERR_clear_error();
}

int
mtls__acme_alpn_digest(const char *keyauth, unsigned char out[32])
{
	unsigned int n = 0;

	return EVP_Digest(keyauth, strlen(keyauth), out, &n, EVP_sha256(),
	    NULL) == 1 && n == 32 ? 0 : -1;
}
