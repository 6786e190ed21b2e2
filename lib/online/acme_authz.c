/* see acme_int.h: authorizations and challenges (RFC 8555 7.5), and the
 * outcome of a validation, which moves the challenge, its authorization
 * and its order on (7.1.6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/internal.h"
#include "ca/acme_store.h"
#include "online/acme_int.h"


static json_t *
chall_view(struct mtls__acme_job *j, const char *authz, int idx, json_t *c)
{
	char *u = mtls__acme_url(j, "chall/%s/%d", authz, idx);
	const char *st = mtls__acme_jstr(c, "status");
	json_t *v;

	/* 7.1.6: "processing" while a validation runs (held in memory,
	 * acme_mem.c); the inventory keeps it pending until the outcome. */
	if (strcmp(st, "pending") == 0 &&
	    mtls__acme_flight_has(j->a, authz, idx, 0)) {
		st = "processing";
	}
	v = json_pack("{s:O, s:s, s:O, s:s}", "type", json_object_get(c, "type"),
	    "url", u ? u : "", "token", json_object_get(c, "token"), "status", st);

	free(u);
	if (json_object_get(c, "validated") != NULL) {
		json_object_set_new(v, "validated", mtls__acme_time_json((time_t)
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
	json_object_set_new(v, "expires", mtls__acme_time_json((time_t)
	    json_integer_value(json_object_get(az, "expires_at"))));
	json_object_set(v, "identifier", json_object_get(az, "identifier"));
	json_array_foreach(json_object_get(az, "challenges"), i, c) {
		json_array_append_new(cs, chall_view(j, id, (int)i, c));
	}
	json_object_set_new(v, "challenges", cs);
	return v;
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
	if (strcmp(mtls__acme_jstr(az, "status"), "pending") == 0 &&
	    mtls__acme_expired(j, az)) {
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
			mtls__acme_store_problem(j, &e);
			goto out;
		}
	}
	/* 8.2: worth asking again once a validation running now ends;
	 * while none runs, the client has to act first. */
	if (strcmp(mtls__acme_jstr(az, "status"), "pending") == 0) {
		j->resp->retry_after = mtls__acme_flight_wait(j->a, id, -1,
		    (int)j->a->o.validate_timeout);
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
	size_t n = slash != NULL ? (size_t)(slash - rest) : 0;
	long idx;
	int rc = 0;
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
	if (j->payload != NULL &&
	    strcmp(mtls__acme_jstr(c, "status"), "pending") == 0 &&
	    strcmp(mtls__acme_jstr(az, "status"), "pending") == 0) {
		if (mtls__acme_expired(j, az)) {
			mtls__acme_problem(j, 403, "malformed", "the authorization "
			    "expired; start a new order");
			goto out;
		}
		rc = mtls__acme_flight_start(j->a, id, (int)idx);
		if (rc < 0) {
			mtls__acme_problem(j, 503, "serverInternal", "%d validations "
			    "are running; retry shortly", mtls__acme_flight_count(j->a));
			j->resp->retry_after = 1;
			goto out;
		}
	}
	if (rc == 1) {
		snprintf(keyauth, sizeof(keyauth), "%s.%s", mtls__acme_jstr(c, "token"),
		    j->thumb);
		memset(&chk, 0, sizeof(chk));
		chk.authz = id;
		chk.index = (int)idx;
		chk.type = mtls__acme_jstr(c, "type");
		chk.id_type = mtls__acme_jstr(json_object_get(az, "identifier"), "type");
		chk.id_value = mtls__acme_jstr(json_object_get(az, "identifier"), "value");
		chk.token = mtls__acme_jstr(c, "token");
		chk.keyauth = keyauth;
		if (j->a->validate != NULL) {
			j->a->validate(j->a->validate_arg, &chk);
		}
		if (!mtls__acme_flight_has(j->a, id, (int)idx, 0)) {
			/* Decided at once (a refused address, too many at once):
			 * answer with the recorded outcome. */
			json_decref(az);
			az = mtls__acme_load(j, "authz", id, owner, sizeof(owner));
			c = json_array_get(json_object_get(az, "challenges"),
			    (size_t)idx);
			if (c == NULL) {
				goto out;
			}
		}
	}
	mtls__acme_link(j, mtls__acme_url(j, "authz/%s", id), "up");
	j->resp->retry_after = mtls__acme_flight_wait(j->a, id, (int)idx,
	    (int)j->a->o.validate_timeout);
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
	struct mtls__acme_req rq;
	struct mtls__acme_resp r;
	struct mtls_err e;
	char owner[64], urn[96];
	json_t *az = NULL, *c, *order = NULL, *ids, *v, *err = NULL;
	const char *oid;
	size_t i;
	int all = 1;

	if (!mtls__acme_flight_has(a, authz, index, 1)) {
		return;         /* not started here, or already reported */
	}
	memset(&j, 0, sizeof(j));
	memset(&rq, 0, sizeof(rq));
	memset(&r, 0, sizeof(r));
	j.a = a;
	j.req = &rq;
	j.resp = &r;
	j.now = time(NULL);
	/* One transaction: the challenge, its authorization, its order and
	 * the audit event, read and written under the write lock. */
	if (mtls_ca_begin(a->ca, &e) != 0) {
		goto out;
	}
	az = load_quiet(a, "authz", authz, owner, sizeof(owner));
	c = az != NULL ? json_array_get(json_object_get(az, "challenges"),
	    (size_t)index) : NULL;
	if (c == NULL || strcmp(mtls__acme_jstr(c, "status"), "pending") != 0 ||
	    strcmp(mtls__acme_jstr(az, "status"), "pending") != 0) {
		mtls_ca_rollback(a->ca);        /* decided meanwhile */
		goto out;
	}
	snprintf(j.account, sizeof(j.account), "%s", owner);
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
	oid = mtls__acme_jstr(az, "order");
	order = load_quiet(a, "order", oid, NULL, 0);
	if (order != NULL &&
	    strcmp(mtls__acme_jstr(order, "status"), "pending") == 0) {
		ids = json_object_get(order, "authz");
		json_array_foreach(ids, i, v) {
			json_t *other;

			if (strcmp(json_string_value(v), authz) == 0) {
				continue;
			}
			other = load_quiet(a, "authz", json_string_value(v), NULL, 0);
			all &= other != NULL &&
			    strcmp(mtls__acme_jstr(other, "status"), "valid") == 0;
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
	mtls__acme_audit(&j, "acme-validation", mtls__acme_jstr(json_object_get(
	    az, "identifier"), "value"), NULL, ok ? "valid" : "invalid",
	    ok ? mtls__acme_jstr(c, "type") : detail);
	(void)mtls_ca_commit(a->ca, &e);
out:
	json_decref(err);
	json_decref(order);
	json_decref(az);
	mtls__acme_resp_free(&r);
}

int
mtls__acme_alpn_digest(const char *keyauth, unsigned char out[32])
{
	unsigned int n = 0;

	return EVP_Digest(keyauth, strlen(keyauth), out, &n, EVP_sha256(),
	    NULL) == 1 && n == 32 ? 0 : -1;
}
