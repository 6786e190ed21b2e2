/* see acme_int.h: the ACME server's routing, request authentication
 * (RFC 8555 6.2-6.5), accounts (7.3) and problem documents (6.7).
 * Orders, authorizations, challenges and certificates: acme_order.c;
 * replies, problem documents, URLs and stored objects: acme_job.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ca/acme_store.h"
#include "mtls/acme.h"
#include "mtls/token.h"
#include "online/acme_int.h"

int
mtls__acme_init(struct mtls__acme *a, struct mtls_ca *ca,
    const struct mtls__acme_opts *o, struct mtls_err *err)
{
	BIO *b = NULL;
	char *p = NULL;
	long n;
	int i, ok;

	memset(a, 0, sizeof(*a));
	a->ca = ca;
	a->o = *o;
	if (a->o.orders_per_hour <= 0) {
		a->o.orders_per_hour = 300;
	}
	if (a->o.accounts_per_ip <= 0) {
		a->o.accounts_per_ip = 20;
	}
	if (a->o.pending_lifetime <= 0) {
		a->o.pending_lifetime = 86400;
	}
	if (a->o.validate_timeout <= 0) {
		a->o.validate_timeout = 10;
	}
	if (a->o.no_eab && a->o.allow != NULL &&
	    mtls_acme_allow_check(a->o.allow, err) != 0) {
		return -1;
	}
	if (mtls__nonce_init(&a->nonces, err) != 0) {
		return -1;
	}
	a->ipc = calloc(MTLS__ACME_IP_SLOTS, sizeof(*a->ipc));
	a->keys = calloc(MTLS__ACME_KEY_SLOTS, sizeof(*a->keys));
	a->flight = calloc(MTLS__ACME_INFLIGHT, sizeof(*a->flight));
	if (a->ipc == NULL || a->keys == NULL || a->flight == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	/* What follows the leaf in a download: the CA's chain, as its own
	 * chain files carry it (during a rollover the new issuer signed by
	 * the old, so a client trusting only the old root verifies it). */
	b = BIO_new(BIO_s_mem());
	ok = b != NULL && PEM_write_bio_X509(b, mtls_ca_cross(ca) != NULL
	    ? mtls_ca_cross(ca) : mtls_ca_cert(ca)) == 1;
	for (i = 0; ok && i < sk_X509_num(mtls_ca_issuers(ca)); i++) {
		ok = PEM_write_bio_X509(b, sk_X509_value(mtls_ca_issuers(ca), i)) == 1;
	}
	if (!ok || (n = BIO_get_mem_data(b, &p)) <= 0 ||
	    (a->ca_pem = malloc((size_t)n + 1)) == NULL) {
		BIO_free(b);
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot encode the CA "
		    "certificate");
	}
	memcpy(a->ca_pem, p, (size_t)n);
	a->ca_pem[n] = '\0';
	BIO_free(b);
	return 0;
}

void
mtls__acme_clear(struct mtls__acme *a)
{
	int i;

	for (i = 0; a->keys != NULL && i < MTLS__ACME_KEY_SLOTS; i++) {
		EVP_PKEY_free(a->keys[i].key);
	}
	free(a->keys);
	free(a->flight);
	free(a->ca_pem);
	free(a->ipc);
	mtls__nonce_clear(&a->nonces);
	memset(a, 0, sizeof(*a));
}

static void
directory(struct mtls__acme_job *j)
{
	json_t *d = json_object();
	static const char *const rows[][2] = {
	    {"newNonce", "new-nonce"}, {"newAccount", "new-account"},
	    {"newOrder", "new-order"}, {"revokeCert", "revoke-cert"},
	    {"keyChange", "key-change"},
	};
	size_t i;
	char *u;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		u = mtls__acme_url(j, "%s", rows[i][1]);
		json_object_set_new(d, rows[i][0], json_string(u ? u : ""));
		free(u);
	}
	json_object_set_new(d, "meta", json_pack("{s:b}",
	    "externalAccountRequired", !j->a->o.no_eab));
	mtls__acme_reply(j, 200, d);
}

/* ---- authentication (RFC 8555 6.2, 6.3, 6.4, 6.5) ---- */

/* The account id in KID, a URL of ours ("BASE/acme/acct/ID"). */
static int
kid_account(struct mtls__acme_job *j, const char *kid, char *out, size_t len)
{
	char *prefix = mtls__acme_url(j, "acct/");
	size_t n = prefix != NULL ? strlen(prefix) : 0;
	int ok;

	ok = prefix != NULL && strncmp(kid, prefix, n) == 0 &&
	    strlen(kid + n) > 0 && strlen(kid + n) < len &&
	    strspn(kid + n, "0123456789abcdef") == strlen(kid + n);
	if (ok) {
		snprintf(out, len, "%s", kid + n);
	}
	free(prefix);
	return ok ? 0 : -1;
}

/* Parses, checks the url, finds the key (jwk only where JWK_OK), verifies
 * the signature and then takes the nonce. 0 when J may go on. */
static int
authenticate(struct mtls__acme_job *j, int jwk_ok)
{
	struct mtls_err e;
	char *url = NULL;
	const char *st;
	json_error_t je;
	int rc;

	if (j->req->content_type == NULL ||
	    strncmp(j->req->content_type, "application/jose+json", 21) != 0) {
		/* RFC 8555 6.2: a 415 with a problem document. */
		mtls__acme_problem(j, 415, "malformed", "POST bodies are JWS with "
		    "Content-Type application/jose+json");
		return -1;
	}
	if (mtls__jws_parse(j->req->body, j->req->len, &j->jws, &e) != 0) {
		mtls__acme_problem(j, 400, j->jws.problem ? j->jws.problem :
		    "malformed", "%s", e.msg);
		return -1;
	}
	url = mtls__acme_url(j, "%s", j->req->path);
	rc = url != NULL && strcmp(url, j->jws.url) == 0;
	free(url);
	if (!rc) {
		mtls__acme_problem(j, 401, "unauthorized", "the JWS 'url' (%.200s) "
		    "is not the URL this request was sent to (RFC 8555 6.4)",
		    j->jws.url);
		return -1;
	}
	if (j->jws.jwk != NULL) {
		if (!jwk_ok) {
			mtls__acme_problem(j, 400, "malformed", "this request must be "
			    "signed by an account ('kid'), not a bare 'jwk' (RFC "
			    "8555 6.2)");
			return -1;
		}
		j->key = mtls__jwk_key(j->jws.jwk, j->thumb, &e);
		if (j->key == NULL) {
			mtls__acme_problem(j, 400, "badPublicKey", "%s", e.msg);
			return -1;
		}
	} else {
		if (kid_account(j, j->jws.kid, j->account, sizeof(j->account)) != 0) {
			mtls__acme_problem(j, 400, "accountDoesNotExist", "'kid' %.200s "
			    "is not an account URL of this server", j->jws.kid);
			return -1;
		}
		j->acct = mtls__acme_load(j, "account", j->account, NULL, 0);
		if (j->acct == NULL) {
			if (j->resp->status == 404) {
				mtls__acme_problem(j, 400, "accountDoesNotExist", "no "
				    "account %.64s", j->account);
			}
			return -1;
		}
		/* The key decoded once per account (acme_mem.c), while the
		 * stored account still names its thumbprint. */
		st = mtls__acme_jstr(j->acct, "thumbprint");
		j->key = mtls__acme_key_cached(j->a, j->account, st);
		if (j->key != NULL) {
			snprintf(j->thumb, sizeof(j->thumb), "%s", st);
		} else {
			j->key = mtls__jwk_key(json_object_get(j->acct, "key"), j->thumb,
			    &e);
			if (j->key == NULL) {
				mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
				return -1;
			}
			if (strcmp(j->thumb, st) == 0) {
				mtls__acme_key_keep(j->a, j->account, j->thumb, j->key);
			}
		}
	}
	if (mtls__jws_verify(&j->jws, j->key, &e) != 0) {
		mtls__acme_problem(j, 401, "unauthorized", "%s", e.msg);
		return -1;
	}
	if (!mtls__nonce_take(&j->a->nonces, j->jws.nonce)) {
		mtls__acme_problem(j, 400, "badNonce", "the nonce is unknown, "
		    "expired or used; retry with the one in Replay-Nonce");
		return -1;
	}
	if (j->acct != NULL) {
		st = json_string_value(json_object_get(j->acct, "status"));
		if (st == NULL || strcmp(st, "valid") != 0) {
			mtls__acme_problem(j, 401, "unauthorized", "account %s is %s",
			    j->account, st ? st : "unusable");
			return -1;
		}
	}
	if (j->jws.payload_len > 0) {
		j->payload = json_loadb((const char *)j->jws.payload,
		    j->jws.payload_len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(j->payload)) {
			mtls__acme_problem(j, 400, "malformed", "the JWS payload is "
			    "not a JSON object");
			return -1;
		}
	}
	return 0;
}

/* ---- accounts (RFC 8555 7.3) ---- */

static json_t *
account_view(struct mtls__acme_job *j, const char *id, json_t *acct)
{
	json_t *v = json_object();
	char *u = mtls__acme_url(j, "acct/%s/orders", id);

	json_object_set(v, "status", json_object_get(acct, "status"));
	json_object_set(v, "contact", json_object_get(acct, "contact"));
	json_object_set(v, "key", json_object_get(acct, "key"));
	json_object_set_new(v, "orders", json_string(u ? u : ""));
	if (json_object_get(acct, "eab") != NULL) {
		json_object_set_new(v, "externalAccountBinding", json_pack("{s:O}",
		    "kid", json_object_get(acct, "eab")));
	}
	free(u);
	return v;
}

/* RFC 8555 7.3.4: the binding's MAC by the key the operator made, its
 * url, and its payload the account key itself. *ALLOW gets the key's
 * allow list; KID its id. */
static int
check_eab(struct mtls__acme_job *j, json_t *eab, char *kid, size_t klen,
    char *allow, size_t alen)
{
	struct mtls__jws inner;
	struct mtls_err e;
	unsigned char key[128];
	size_t kl = sizeof(key);
	char bound[64], thumb[48], *url = NULL;
	json_t *pj = NULL;
	json_error_t je;
	int rc = -1;

	if (mtls__jws_parse_json(eab, MTLS__JWS_EAB, &inner, &e) != 0) {
		mtls__acme_problem(j, 400, "malformed", "externalAccountBinding: "
		    "%s", e.msg);
		goto out;
	}
	url = mtls__acme_url(j, "new-account");
	if (url == NULL || strcmp(url, inner.url) != 0) {
		mtls__acme_problem(j, 400, "malformed", "externalAccountBinding: "
		    "its 'url' must be the newAccount URL");
		goto out;
	}
	pj = json_loadb((const char *)inner.payload, inner.payload_len, 0, &je);
	if (pj == NULL || mtls__jwk_thumbprint(pj, thumb, &e) != 0 ||
	    strcmp(thumb, j->thumb) != 0) {
		mtls__acme_problem(j, 400, "malformed", "externalAccountBinding: "
		    "its payload must be the account key (the outer 'jwk')");
		goto out;
	}
	if (mtls__acme_eab_get(j->a->ca, inner.kid, key, &kl, allow, alen, bound,
		sizeof(bound), &e) != 0) {
		mtls__acme_problem(j, e.code == MTLS_E_NOTFOUND ? 401 : 500,
		    e.code == MTLS_E_NOTFOUND ? "unauthorized" : "serverInternal",
		    "externalAccountBinding: %s", e.msg);
		goto out;
	}
	rc = mtls__jws_verify_mac(&inner, key, kl, &e);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0) {
		mtls__acme_problem(j, 401, "unauthorized", "%s", e.msg);
		goto out;
	}
	if (bound[0] != '\0') {
		rc = -1;
		mtls__acme_problem(j, 401, "unauthorized", "externalAccountBinding: "
		    "key %s already made account %s; ask the CA operator for a "
		    "new one", inner.kid, bound);
		goto out;
	}
	snprintf(kid, klen, "%s", inner.kid);
out:
	json_decref(pj);
	free(url);
	mtls__jws_clear(&inner);
	return rc;
}

long
mtls__acme_account_rate(struct mtls__acme *a, const char *addr, time_t now)
{
	struct mtls__acme_ipcount *c, *slot = NULL;
	unsigned long h = 5381;
	const char *p;
	size_t i;

	for (p = addr; *p != '\0'; p++) {
		h = h * 33 + (unsigned char)*p;
	}
	/* Eight slots per address; a new address takes a free or stale one,
	 * else the one whose hour began first. */
	for (i = 0; i < 8; i++) {
		c = &a->ipc[(h + i) % MTLS__ACME_IP_SLOTS];
		if (strcmp(c->addr, addr) == 0) {
			if (now - c->start >= 3600) {
				c->start = now;
				c->n = 0;
			}
			if (c->n >= a->o.accounts_per_ip) {
				return (long)(c->start + 3600 - now);
			}
			c->n++;
			return 0;
		}
		if (slot == NULL || c->addr[0] == '\0' || c->start < slot->start) {
			slot = c;
		}
	}
	snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
	slot->start = now;
	slot->n = 1;
	return 0;
}

static void
new_account(struct mtls__acme_job *j)
{
	struct mtls_err e;
	char id[64], kid[64] = "", allow[2048] = "";
	json_t *p = j->payload, *eab, *acct = NULL, *contact;
	long wait;
	int rc;

	if (p == NULL) {
		mtls__acme_problem(j, 400, "malformed", "newAccount needs a JSON "
		    "object payload");
		return;
	}
	rc = mtls__acme_key_find(j->a->ca, j->thumb, id, sizeof(id), &e);
	if (rc < 0) {
		mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
		return;
	}
	if (rc == 0) {
		/* RFC 8555 7.3.1: the existing account, 200 and Location. */
		snprintf(j->account, sizeof(j->account), "%s", id);
		acct = mtls__acme_load(j, "account", id, NULL, 0);
		if (acct != NULL) {
			j->resp->location = mtls__acme_url(j, "acct/%s", id);
			mtls__acme_reply(j, 200, account_view(j, id, acct));
		}
		json_decref(acct);
		return;
	}
	if (json_is_true(json_object_get(p, "onlyReturnExisting"))) {
		mtls__acme_problem(j, 400, "accountDoesNotExist", "no account has "
		    "this key");
		return;
	}
	/* Every attempt to make an account counts, refused ones too: an
	 * address guessing MACs is stopped like one making accounts. */
	wait = mtls__acme_account_rate(j->a, j->req->peer_addr ?
	    j->req->peer_addr : "-", j->now);
	if (wait > 0) {
		mtls__acme_problem(j, 429, "rateLimited", "this address asked for "
		    "%ld new accounts in the last hour; retry in %ld s",
		    j->a->o.accounts_per_ip, wait);
		j->resp->retry_after = (int)wait;
		return;
	}
	contact = json_object_get(p, "contact");
	if (contact != NULL && !json_is_array(contact)) {
		mtls__acme_problem(j, 400, "malformed", "'contact' must be an array "
		    "of URLs");
		return;
	}
	eab = json_object_get(p, "externalAccountBinding");
	if (eab == NULL && !j->a->o.no_eab) {
		mtls__acme_problem(j, 400, "externalAccountRequired", "this CA "
		    "makes accounts with an external account binding only: ask the "
		    "operator for a key id and HMAC key ('mtls acme eab create')");
		return;
	}
	if (eab != NULL && check_eab(j, eab, kid, sizeof(kid), allow,
		sizeof(allow)) != 0) {
		return;
	}
	if (eab == NULL) {
		snprintf(allow, sizeof(allow), "%s", j->a->o.allow ? j->a->o.allow : "");
	}
	if (mtls__acme_new_id(id, 8) != 0) {
		mtls__acme_problem(j, 500, "serverInternal", "no randomness");
		return;
	}
	acct = json_pack("{s:s, s:O, s:s, s:s, s:I}", "status", "valid", "key",
	    j->jws.jwk, "thumbprint", j->thumb, "allow", allow, "created_at",
	    (json_int_t)j->now);
	json_object_set_new(acct, "contact",
	    contact != NULL ? json_incref(contact) : json_array());
	if (kid[0] != '\0') {
		json_object_set_new(acct, "eab", json_string(kid));
	}
	/* Account, key and binding in one transaction: all or none. */
	if (mtls_ca_begin(j->a->ca, &e) != 0) {
		goto fail;
	}
	if (mtls__acme_save(j, "account", id, id, acct, &e) != 0 ||
	    mtls__acme_key_set(j->a->ca, j->thumb, NULL, id, &e) != 0 ||
	    (kid[0] != '\0' && mtls__acme_eab_bind(j->a->ca, kid, id, &e) != 0)) {
		mtls_ca_rollback(j->a->ca);
		goto fail;
	}
	snprintf(j->account, sizeof(j->account), "%s", id);
	mtls__acme_audit(j, "acme-account", kid, NULL, "created", allow);
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		goto fail;
	}
	j->resp->location = mtls__acme_url(j, "acct/%s", id);
	mtls__acme_reply(j, 201, account_view(j, id, acct));
	json_decref(acct);
	return;
fail:
	json_decref(acct);
	mtls__acme_problem(j, e.code == MTLS_E_EXISTS ? 409 : 500,
	    e.code == MTLS_E_EXISTS ? "malformed" : "serverInternal", "%s", e.msg);
}

/* V is the JSON string S (a json_string() made for json_equal would be
 * one more object to free). */
static int
json_is_text(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* POST to the account URL: POST-as-GET, contact update or deactivation
 * (RFC 8555 7.3.2, 7.3.6). */
static void
account_update(struct mtls__acme_job *j, const char *id)
{
	struct mtls_err e;
	json_t *st, *contact;

	if (strcmp(id, j->account) != 0) {
		mtls__acme_problem(j, 403, "unauthorized", "this is not your "
		    "account");
		return;
	}
	if (j->payload != NULL) {
		st = json_object_get(j->payload, "status");
		contact = json_object_get(j->payload, "contact");
		if (st != NULL && !json_is_text(st, "deactivated")) {
			mtls__acme_problem(j, 400, "malformed", "an account's status "
			    "can only become \"deactivated\"");
			return;
		}
		if (contact != NULL && !json_is_array(contact)) {
			mtls__acme_problem(j, 400, "malformed", "'contact' must be an "
			    "array of URLs");
			return;
		}
		if (st != NULL) {
			json_object_set_new(j->acct, "status", json_string("deactivated"));
			mtls__acme_key_forget(j->a, id);
		}
		if (contact != NULL) {
			json_object_set(j->acct, "contact", contact);
		}
		if (mtls__acme_save(j, "account", id, id, j->acct, &e) != 0) {
			mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
			return;
		}
		if (st != NULL) {
			mtls__acme_audit(j, "acme-account", "", NULL, "deactivated", "");
		}
	}
	mtls__acme_reply(j, 200, account_view(j, id, j->acct));
}

/* RFC 8555 7.3.5: the outer JWS by the account, the inner by the new key
 * over {account, oldKey}. */
static void
key_change(struct mtls__acme_job *j)
{
	struct mtls__jws in;
	struct mtls_err e;
	char nthumb[48], othumb[48], other[64], *acct_url = NULL;
	EVP_PKEY *nk = NULL;
	json_t *ip = NULL;
	json_error_t je;
	int rc;

	memset(&in, 0, sizeof(in));
	if (j->payload == NULL || mtls__jws_parse_json(j->payload,
		MTLS__JWS_INNER, &in, &e) != 0) {
		mtls__acme_problem(j, 400, "malformed", "keyChange: the payload "
		    "must be a JWS signed by the new key: %s", j->payload ? e.msg :
		    "empty");
		goto out;
	}
	if (strcmp(in.url, j->jws.url) != 0) {
		mtls__acme_problem(j, 400, "malformed", "keyChange: the inner and "
		    "outer 'url' differ");
		goto out;
	}
	nk = mtls__jwk_key(in.jwk, nthumb, &e);
	if (nk == NULL || mtls__jws_verify(&in, nk, &e) != 0) {
		mtls__acme_problem(j, 400, nk ? "malformed" : "badPublicKey",
		    "keyChange: %s", e.msg);
		goto out;
	}
	ip = json_loadb((const char *)in.payload, in.payload_len, 0, &je);
	acct_url = mtls__acme_url(j, "acct/%s", j->account);
	if (ip == NULL || acct_url == NULL ||
	    !json_is_text(json_object_get(ip, "account"), acct_url) ||
	    mtls__jwk_thumbprint(json_object_get(ip, "oldKey"), othumb, &e) != 0 ||
	    strcmp(othumb, j->thumb) != 0) {
		mtls__acme_problem(j, 400, "malformed", "keyChange: the inner "
		    "payload must name this account and its current key");
		goto out;
	}
	rc = mtls__acme_key_find(j->a->ca, nthumb, other, sizeof(other), &e);
	if (rc == 0) {
		j->resp->location = mtls__acme_url(j, "acct/%s", other);
		mtls__acme_problem(j, 409, "malformed", "keyChange: the new key "
		    "already belongs to an account");
		goto out;
	}
	json_object_set(j->acct, "key", in.jwk);
	json_object_set_new(j->acct, "thumbprint", json_string(nthumb));
	mtls__acme_key_forget(j->a, j->account);
	if (rc < 0 || mtls_ca_begin(j->a->ca, &e) != 0) {
		mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
		goto out;
	}
	if (mtls__acme_key_set(j->a->ca, nthumb, j->thumb, j->account, &e) != 0 ||
	    mtls__acme_save(j, "account", j->account, j->account, j->acct,
		&e) != 0) {
		mtls_ca_rollback(j->a->ca);
		mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
		goto out;
	}
	mtls__acme_audit(j, "acme-key-change", "", NULL, "changed", nthumb);
	if (mtls_ca_commit(j->a->ca, &e) != 0) {
		mtls__acme_problem(j, 500, "serverInternal", "%s", e.msg);
		goto out;
	}
	mtls__acme_reply(j, 200, account_view(j, j->account, j->acct));
out:
	json_decref(ip);
	free(acct_url);
	EVP_PKEY_free(nk);
	mtls__jws_clear(&in);
}

/* ---- routing ---- */

/* "acct/ID" and "acct/ID/orders" etc.: copies ID (hex) after PREFIX and
 * returns the rest, or NULL when PATH does not start so. */
static const char *
path_id(const char *path, const char *prefix, char *id, size_t len)
{
	size_t n = strlen(prefix), k;

	if (strncmp(path, prefix, n) != 0) {
		return NULL;
	}
	k = strspn(path + n, "0123456789abcdefABCDEF");
	if (k == 0 || k >= len) {
		return NULL;
	}
	memcpy(id, path + n, k);
	id[k] = '\0';
	return path + n + k;
}

/* "/orders" is page 1, "/orders/N" page N (1..100000); else 0. */
static long
orders_page(const char *rest)
{
	char *end;
	long n;

	if (strcmp(rest, "/orders") == 0) {
		return 1;
	}
	if (strncmp(rest, "/orders/", 8) != 0 || rest[8] < '1' || rest[8] > '9' ||
	    strspn(rest + 8, "0123456789") > 6) {
		return 0;
	}
	n = strtol(rest + 8, &end, 10);
	return *end == '\0' && n <= 100000 ? n : 0;
}

static void
route_post(struct mtls__acme_job *j)
{
	const char *p = j->req->path, *rest;
	char id[80];
	long page = 0;
	int jwk_ok = strcmp(p, "new-account") == 0 || strcmp(p, "revoke-cert") == 0;

	if (authenticate(j, jwk_ok) != 0) {
		return;
	}
	if (strcmp(p, "new-account") == 0) {
		new_account(j);
	} else if (strcmp(p, "new-order") == 0) {
		mtls__acme_new_order(j);
	} else if (strcmp(p, "revoke-cert") == 0) {
		mtls__acme_revoke(j);
	} else if (strcmp(p, "key-change") == 0) {
		key_change(j);
	} else if ((rest = path_id(p, "acct/", id, sizeof(id))) != NULL &&
	    (*rest == '\0' || (page = orders_page(rest)) > 0)) {
		if (*rest == '\0') {
			account_update(j, id);
		} else if (strcmp(id, j->account) != 0) {
			mtls__acme_problem(j, 403, "unauthorized", "not your account");
		} else {
			mtls__acme_orders_list(j, page);
		}
	} else if ((rest = path_id(p, "order/", id, sizeof(id))) != NULL &&
	    (*rest == '\0' || strcmp(rest, "/finalize") == 0)) {
		mtls__acme_order(j, id, *rest != '\0');
	} else if ((rest = path_id(p, "authz/", id, sizeof(id))) != NULL &&
	    *rest == '\0') {
		mtls__acme_authz(j, id);
	} else if (strncmp(p, "chall/", 6) == 0) {
		mtls__acme_chall(j, p + 6);
	} else if ((rest = path_id(p, "cert/", id, sizeof(id))) != NULL &&
	    *rest == '\0') {
		mtls__acme_cert(j, id);
	} else {
		mtls__acme_problem(j, 404, "malformed", "no ACME resource at "
		    "/acme/%.100s", p);
	}
}

void
mtls__acme_handle(struct mtls__acme *a, const struct mtls__acme_req *req,
    struct mtls__acme_resp *resp)
{
	struct mtls__acme_job j;

	memset(resp, 0, sizeof(*resp));
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.req = req;
	j.resp = resp;
	j.now = req->now ? req->now : time(NULL);
	/* RFC 8555 6.5: every answer carries a fresh nonce. */
	mtls__nonce_new(&a->nonces, resp->nonce);
	mtls__acme_link(&j, mtls__acme_url(&j, "directory"), "index");
	if (!req->post) {
		if (strcmp(req->path, "directory") == 0 || req->path[0] == '\0') {
			directory(&j);
		} else if (strcmp(req->path, "new-nonce") == 0) {
			/* 7.2: 200 for HEAD, 204 for GET. */
			mtls__acme_set_body(resp, req->head ? 200 : 204, NULL, NULL);
		} else {
			mtls__acme_problem(&j, 405, "malformed", "use POST (or "
			    "POST-as-GET, RFC 8555 6.3) for /acme/%.100s", req->path);
		}
	} else if (strcmp(req->path, "directory") == 0 ||
	    strcmp(req->path, "new-nonce") == 0) {
		mtls__acme_problem(&j, 405, "malformed", "use GET for /acme/%s",
		    req->path);
	} else {
		route_post(&j);
	}
	json_decref(j.payload);
	json_decref(j.acct);
	EVP_PKEY_free(j.key);
	mtls__jws_clear(&j.jws);
	ERR_clear_error();
}
