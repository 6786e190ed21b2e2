/* see acme_int.h: orders (RFC 8555 7.4): identifiers, newOrder, the
 * order view, finalize with the CSR. Authorizations and challenges are in
 * acme_authz.c, certificates and revocation in acme_cert.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/internal.h"
#include "ca/acme_store.h"
#include "ca/ca_internal.h"
#include "mtls/acme.h"
#include "mtls/pki.h"
#include "online/acme_int.h"
#include "pki/csr_int.h"

#define MAX_IDENTIFIERS 100

/* dns-01 (RFC 8555 8.4) last, for DNS names only (RFC 8738 7: not for IP
 * addresses), and only where a resolver is configured. */
static const char *const chall_types[] = {"http-01", "tls-alpn-01", "dns-01"};

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
	const char *allow = mtls__acme_jstr(j->acct, "allow"), *why = NULL;
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
		const char *type = mtls__acme_jstr(v, "type");
		const char *value = mtls__acme_jstr(v, "value");

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

			dup |= strcmp(mtls__acme_jstr(o, "type"), type) == 0 &&
			    strcmp(mtls__acme_jstr(o, "value"), canon) == 0;
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
	json_object_set_new(v, "expires", mtls__acme_time_json((time_t)
	    json_integer_value(json_object_get(o, "expires_at"))));
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
		u = mtls__acme_url(j, "cert/%s", mtls__acme_jstr(o, "cert"));
		json_object_set_new(v, "certificate", json_string(u ? u : ""));
		free(u);
	}
	if (json_object_get(o, "error") != NULL) {
		json_object_set(v, "error", json_object_get(o, "error"));
	}
	return v;
}
/* ---- newOrder (7.4) ---- */

void
mtls__acme_new_order(struct mtls__acme_job *j)
{
	struct mtls_err e;
	json_t *ids = NULL, *order = NULL, *azs = json_array(), *v;
	char oid[40], aid[40], why[64], *tok;
	unsigned char raw[32];
	long n = 0;
	size_t i, k;
	time_t exp = j->now + j->a->o.pending_lifetime, first = 0, wait;

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
		mtls__acme_store_problem(j, &e);
		goto out;
	}
	if (n >= j->a->o.orders_per_hour) {
		/* The count falls under the limit when the (n - limit + 1)th
		 * oldest order of the hour leaves it. */
		if (mtls__acme_nth_since(j->a->ca, "order", j->account, j->now -
			3600, n - j->a->o.orders_per_hour, &first, &e) < 0) {
			mtls__acme_store_problem(j, &e);
			goto out;
		}
		wait = first > 0 && first + 3600 > j->now ? first + 3600 - j->now : 1;
		mtls__acme_problem(j, 429, "rateLimited", "this account made %ld "
		    "orders in the last hour (limit %ld); retry in %ld s", n,
		    j->a->o.orders_per_hour, (long)wait);
		j->resp->retry_after = (int)wait;
		goto out;
	}
	if (mtls__acme_order_id(j->a, oid) != 0 ||
	    mtls_ca_begin(j->a->ca, &e) != 0) {
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
			if (strcmp(chall_types[k], "dns-01") == 0 && (!j->a->o.dns01 ||
			    strcmp(mtls__acme_jstr(v, "type"), "dns") != 0)) {
				continue;
			}
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
	snprintf(why, sizeof(why), "order %s", oid);
	mtls__acme_audit(j, "acme-order", mtls__acme_jstr(json_array_get(ids, 0),
	    "value"), NULL, "created", why);
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		mtls__acme_store_problem(j, &e);
		goto out;
	}
	j->resp->location = mtls__acme_url(j, "order/%s", oid);
	mtls__acme_reply(j, 201, order_view(j, oid, order));
	goto out;
rollback:
	mtls_ca_rollback(j->a->ca);
	mtls__acme_store_problem(j, &e);
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
		snprintf(buf, sizeof(buf), "%s:%s", mtls__acme_jstr(v, "type"),
		    mtls__acme_jstr(v, "value"));
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
	const char *name = mtls__acme_jstr(first, "value");
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
	/* Re-read as a key OpenSSL writes into the certificate without the
	 * provider encoders' round trip (pki/csr_int.h). */
	cr.pubkey = mtls__csr_pubkey(req);
	if (cr.pubkey == NULL) {
		X509_NAME_free(subj);
		mtls_err_ssl(e, MTLS_E_FORMAT, "the CSR has no usable key");
		return NULL;
	}
	cr.profile = MTLS_PROFILE_SERVER;
	cr.sans = sans;
	cr.lifetime = j->a->o.cert_lifetime;
	x = mtls_ca_sign(j->a->ca, &cr, e);
	EVP_PKEY_free(cr.pubkey);
	X509_NAME_free(subj);
	return x;
}

static void
finalize(struct mtls__acme_job *j, const char *id, json_t *order)
{
	const char *csr_b64 = mtls__acme_jstr(j->payload, "csr");
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dl = 0;
	X509_REQ *req = NULL;
	GENERAL_NAMES *sans = NULL;
	json_t *want = NULL, *have = json_object();
	struct mtls_err e;
	char *serial = NULL;
	X509 *x = NULL;
	const char *st = mtls__acme_jstr(order, "status");

	if (strcmp(st, "ready") != 0) {
		mtls__acme_problem(j, 403, "orderNotReady", "the order is %s, not "
		    "ready: %s", st, strcmp(st, "pending") == 0 ?
		    "validate its authorizations first" : "start a new order");
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
		mtls__acme_store_problem(j, &e);
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
		mtls__acme_store_problem(j, &e);
		goto out;
	}
	mtls__acme_audit(j, "acme-finalize", mtls__acme_jstr(json_array_get(
	    json_object_get(order, "identifiers"), 0), "value"), serial, "issued",
	    "");
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		mtls__acme_store_problem(j, &e);
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

/* RFC 8555 7.1.6 and 8.2: when to ask about order O again. Pending with
 * one of its challenges being validated: when that validation is likely
 * done (acme_mem.c). Processing (being issued): a second. Otherwise
 * nothing will change without the client, so no Retry-After. */
static void
order_retry(struct mtls__acme_job *j, json_t *o)
{
	const char *st = mtls__acme_jstr(o, "status");
	json_t *v;
	size_t i;
	int w;

	if (strcmp(st, "processing") == 0) {
		j->resp->retry_after = 1;
		return;
	}
	if (strcmp(st, "pending") != 0) {
		return;
	}
	json_array_foreach(json_object_get(o, "authz"), i, v) {
		w = mtls__acme_flight_wait(j->a, json_string_value(v), -1,
		    (int)j->a->o.validate_timeout);
		if (w > j->resp->retry_after) {
			j->resp->retry_after = w;
		}
	}
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
	st = mtls__acme_jstr(o, "status");
	/* 7.1.6: an order that expires unfinished becomes invalid. */
	if (strcmp(st, "valid") != 0 && strcmp(st, "invalid") != 0 &&
	    mtls__acme_expired(j, o)) {
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
	order_retry(j, o);
	mtls__acme_reply(j, 200, order_view(j, id, o));
out:
	json_decref(o);
}

struct orders_arg {
	struct mtls__acme_job *j;
	json_t *urls;
};

static int
orders_add(const char *id, void *arg)
{
	struct orders_arg *o = arg;
	char *u = mtls__acme_url(o->j, "order/%s", id);

	if (u == NULL || json_array_append_new(o->urls, json_string(u)) != 0) {
		free(u);
		return -1;
	}
	free(u);
	return 0;
}

/* 7.1.2.1: the account's live orders (not invalid, not expired while
 * pending), newest first, a page at a time with a Link rel="next". */
#define ORDERS_PAGE 100

void
mtls__acme_orders_list(struct mtls__acme_job *j, long page)
{
	struct orders_arg o = {j, json_array()};
	struct mtls_err e;

	mtls_err_clear(&e);
	if (o.urls == NULL || mtls__acme_list(j->a->ca, "order", j->account,
		j->now, (page - 1) * ORDERS_PAGE, ORDERS_PAGE + 1, orders_add, &o,
		&e) != 0) {
		json_decref(o.urls);
		mtls__acme_store_problem(j, &e);
		return;
	}
	if (json_array_size(o.urls) > ORDERS_PAGE) {
		json_array_remove(o.urls, ORDERS_PAGE);
		mtls__acme_link(j, mtls__acme_url(j, "acct/%s/orders/%ld",
		    j->account, page + 1), "next");
	}
	mtls__acme_reply(j, 200, json_pack("{s:o}", "orders", o.urls));
}
