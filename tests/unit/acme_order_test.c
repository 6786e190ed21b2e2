/* ACME server (RFC 8555) without transport: identifier policy, orders,
 * challenges, finalize (the CSR's names against the order's), download and
 * revocation, each refusal with the RFC's problem type and nothing issued
 * on a refusal. The client and fixture are in acme_client.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme_client.h"

/* Makes an order for dns:NAME; *ORDER gets its path, *CHALL the path of
 * its http-01 challenge. */
static void
make_order(struct fx *f, struct client *c, const char *name, char *order,
    char *chall)
{
	struct req_out o, a;
	json_t *p = order_for("dns", name), *az;

	post(f, c, "new-order", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 201);
	snprintf(order, 300, "%s", path_of(o.location));
	az = json_array_get(json_object_get(o.body, "authorizations"), 0);
	post(f, c, path_of(json_string_value(az)), NULL, &a);
	assert_int_equal(a.status, 200);
	snprintf(chall, 300, "%s", path_of(json_string_value(json_object_get(
	    json_array_get(json_object_get(a.body, "challenges"), 0), "url"))));
	out_clear(&a);
	out_clear(&o);
}

static const char *
status_of(struct fx *f, struct client *c, const char *path)
{
	static char st[32];
	struct req_out o;

	post(f, c, path, NULL, &o);
	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(o.body,
	    "status")) ? json_string_value(json_object_get(o.body, "status")) : "?");
	out_clear(&o);
	return st;
}

static void
finalize(struct fx *f, struct client *c, const char *order, EVP_PKEY *k,
    const char *subject, const char *sans, struct req_out *o)
{
	X509_REQ *r = test_csr(k, subject, sans, 0);
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(r, &der);
	char *b = b64u(der, (size_t)n), path[320];
	json_t *p = json_pack("{s:s}", "csr", b);

	snprintf(path, sizeof(path), "%s/finalize", order);
	post(f, c, path, p, o);
	json_decref(p);
	free(b);
	OPENSSL_free(der);
	X509_REQ_free(r);
}

/* The account's orders URL (RFC 8555 7.1.2.1), as a path. */
static void
orders_path(struct client *c, char *out, size_t len)
{
	snprintf(out, len, "%s/orders", path_of(c->kid));
}

/* Limits: newAccount per address (refused attempts count, an existing
 * account is still found), orders per account, each 429 rateLimited with
 * Retry-After; the orders list: the account's live orders only, newest
 * first (by the second), paged, not another account's, no malformed
 * page. */
static void
test_limits_and_orders_list(void **state)
{
	struct fx *f = *state;
	struct client c[4], other;
	struct req_out o;
	char path[320], order[300], chall[300], first[300];
	json_t *p, *list;
	size_t i;

	f->a.o.accounts_per_ip = 3;
	for (i = 0; i < 4; i++) {
		client_init(&c[i], MTLS_KEY_EC_P256);
	}
	new_account(f, &c[0]);
	new_account(f, &c[1]);
	p = json_pack("{s:s}", "contact", "mailto:x@ok.test");   /* not an array */
	post(f, &c[2], "new-account", p, &o);
	assert_int_equal(o.status, 400);
	out_clear(&o);
	post(f, &c[2], "new-account", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 429);
	assert_string_equal(o.type, "rateLimited");
	assert_true(o.retry_after > 3500 && o.retry_after <= 3600);
	out_clear(&o);
	p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	post(f, &c[0], "new-account", p, &o);        /* its key: found, 200 */
	assert_int_equal(o.status, 200);
	out_clear(&o);
	/* Another address is not limited by this one. */
	for (i = 0; i < MTLS__ACME_IP_SLOTS; i++) {
		if (strcmp(f->a.ipc[i].addr, "192.0.2.1") == 0) {
			f->a.ipc[i].start -= 3600;           /* its hour is over */
		}
	}
	post(f, &c[3], "new-account", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 201);
	snprintf(c[3].kid, sizeof(c[3].kid), "%s", o.location);
	out_clear(&o);

	/* Orders per account per hour. */
	f->a.o.orders_per_hour = 2;
	make_order(f, &c[0], "a.ok.test", first, chall);
	make_order(f, &c[0], "b.ok.test", order, chall);
	p = order_for("dns", "c.ok.test");
	post(f, &c[0], "new-order", p, &o);
	assert_int_equal(o.status, 429);
	assert_string_equal(o.type, "rateLimited");
	/* Until the older of the two leaves the hour: made just now. */
	assert_true(o.retry_after > 3500 && o.retry_after <= 3600);
	out_clear(&o);
	post(f, &c[1], "new-order", p, &o);          /* another account may */
	json_decref(p);
	assert_int_equal(o.status, 201);
	out_clear(&o);

	/* The list: newest first, only the account's own. */
	orders_path(&c[0], path, sizeof(path));
	post(f, &c[0], path, NULL, &o);
	assert_int_equal(o.status, 200);
	list = json_object_get(o.body, "orders");
	assert_int_equal(json_array_size(list), 2);
	/* Newest first, also within one second (these two share one, most
	 * likely). */
	assert_string_equal(path_of(json_string_value(json_array_get(list, 0))),
	    order);
	assert_string_equal(path_of(json_string_value(json_array_get(list, 1))),
	    first);
	assert_string_equal(o.link, "");
	out_clear(&o);
	post(f, &c[1], path, NULL, &o);
	assert_int_equal(o.status, 403);
	assert_string_equal(o.type, "unauthorized");
	out_clear(&o);
	snprintf(path, sizeof(path), "%s/orders/0", path_of(c[0].kid));
	post(f, &c[0], path, NULL, &o);
	assert_int_equal(o.status, 404);
	out_clear(&o);
	snprintf(path, sizeof(path), "%s/orders/1x", path_of(c[0].kid));
	post(f, &c[0], path, NULL, &o);
	assert_int_equal(o.status, 404);
	out_clear(&o);

	/* A failed challenge makes its order invalid: off the list. */
	p = json_object();
	post(f, &c[0], chall, p, &o);
	json_decref(p);
	out_clear(&o);
	mtls__acme_check_done(&f->a, f->authz, 0, 0, "connection", "refused");
	assert_string_equal(status_of(f, &c[0], order), "invalid");
	orders_path(&c[0], path, sizeof(path));
	post(f, &c[0], path, NULL, &o);
	list = json_object_get(o.body, "orders");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(path_of(json_string_value(json_array_get(list, 0))), first);
	out_clear(&o);

	/* Pages of 100 with rel="next". */
	f->a.o.orders_per_hour = 1000;
	client_init(&other, MTLS_KEY_EC_P256);
	f->a.o.accounts_per_ip = 100;
	new_account(f, &other);
	p = order_for("dns", "d.ok.test");
	for (i = 0; i < 101; i++) {
		post(f, &other, "new-order", p, &o);
		assert_int_equal(o.status, 201);
		out_clear(&o);
	}
	json_decref(p);
	orders_path(&other, path, sizeof(path));
	post(f, &other, path, NULL, &o);
	assert_int_equal(json_array_size(json_object_get(o.body, "orders")), 100);
	assert_non_null(strstr(o.link, "/orders/2>;rel=\"next\""));
	out_clear(&o);
	snprintf(path, sizeof(path), "%s/orders/2", path_of(other.kid));
	post(f, &other, path, NULL, &o);
	assert_int_equal(json_array_size(json_object_get(o.body, "orders")), 1);
	assert_string_equal(o.link, "");
	out_clear(&o);
	client_free(&other);
	for (i = 0; i < 4; i++) {
		client_free(&c[i]);
	}
}

/* A validation in flight: "processing" for the client, one validation
 * however often the challenge is posted, and nothing written until its
 * outcome, so a restarted server shows the challenge pending and
 * validates it when asked again. */
static void
test_validation_in_flight(void **state)
{
	struct fx *f = *state;
	struct mtls__acme_opts opts;
	struct client c;
	struct req_out o;
	struct mtls_err e;
	char order[300], chall[300], authz[300];
	json_t *p = json_object();

	client_init(&c, MTLS_KEY_EC_P256);
	new_account(f, &c);
	make_order(f, &c, "a.ok.test", order, chall);
	snprintf(authz, sizeof(authz), "%s", chall);
	*strrchr(authz, '/') = '\0';
	memcpy(authz, "authz", 5);                  /* chall/ID/0 -> authz/ID */
	/* Nothing runs: no Retry-After (the client has to act first). */
	post(f, &c, order, NULL, &o);
	assert_int_equal(o.retry_after, 0);
	out_clear(&o);
	post(f, &c, authz, NULL, &o);
	assert_int_equal(o.status, 200);
	assert_int_equal(o.retry_after, 0);
	out_clear(&o);
	post(f, &c, chall, p, &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(json_string_value(json_object_get(o.body, "status")),
	    "processing");
	assert_int_equal(o.retry_after, 1);
	out_clear(&o);
	post(f, &c, chall, p, &o);
	assert_int_equal(f->checks, 1);
	out_clear(&o);
	/* Retry-After: what recent validations took (4.5 s here), on the
	 * challenge, its authorization and its order; capped. */
	f->a.flight_ms = 4500;
	post(f, &c, chall, NULL, &o);
	assert_int_equal(o.retry_after, 5);
	out_clear(&o);
	post(f, &c, authz, NULL, &o);
	assert_int_equal(o.retry_after, 5);
	out_clear(&o);
	post(f, &c, order, NULL, &o);
	assert_int_equal(o.retry_after, 5);
	out_clear(&o);
	f->a.flight_ms = 600000;
	post(f, &c, order, NULL, &o);
	assert_int_equal(o.retry_after, (int)f->a.o.validate_timeout);
	out_clear(&o);
	assert_string_equal(status_of(f, &c, chall), "processing");
	assert_string_equal(status_of(f, &c, order), "pending");
	/* Restarted: nothing in flight; pending, and validated again. */
	opts = f->a.o;
	mtls__acme_clear(&f->a);
	assert_int_equal(mtls__acme_init(&f->a, f->ca.ca, &opts, &e), 0);
	f->a.validate = record_check;
	f->a.validate_arg = f;
	assert_string_equal(status_of(f, &c, chall), "pending");
	post(f, &c, chall, p, &o);
	assert_int_equal(f->checks, 2);
	out_clear(&o);
	/* Not in flight here: an outcome for it is not recorded. */
	mtls__acme_check_done(&f->a, f->authz, 1, 0, "connection", "stray");
	assert_string_equal(status_of(f, &c, order), "pending");
	mtls__acme_check_done(&f->a, f->authz, 0, 1, NULL, "ok");
	assert_string_equal(status_of(f, &c, chall), "valid");
	assert_string_equal(status_of(f, &c, order), "ready");
	/* Reported twice: the second changes nothing. */
	mtls__acme_check_done(&f->a, f->authz, 0, 0, "connection", "again");
	assert_string_equal(status_of(f, &c, order), "ready");
	json_decref(p);
	client_free(&c);
}

/* The challenge types of the first authorization of a new order for
 * TYPE:VALUE, as "http-01,tls-alpn-01,...". */
static void
chall_types_of(struct fx *f, struct client *c, const char *type,
    const char *value, char *out, size_t len)
{
	struct req_out o, a;
	json_t *p = order_for(type, value), *ch;
	size_t i;

	post(f, c, "new-order", p, &o);
	json_decref(p);
	assert_int_equal(o.status, 201);
	post(f, c, path_of(json_string_value(json_array_get(json_object_get(
	    o.body, "authorizations"), 0))), NULL, &a);
	out[0] = '\0';
	json_array_foreach(json_object_get(a.body, "challenges"), i, ch) {
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "",
		    json_string_value(json_object_get(ch, "type")));
	}
	out_clear(&a);
	out_clear(&o);
}

/* dns-01 (RFC 8555 8.4) only where a resolver is configured, and only
 * for DNS names (RFC 8738 7: IP addresses have none). */
static void
test_dns01_offered(void **state)
{
	struct fx *f = *state;
	struct client c;
	char types[128];

	client_init(&c, MTLS_KEY_EC_P256);
	new_account(f, &c);
	chall_types_of(f, &c, "dns", "a.ok.test", types, sizeof(types));
	assert_string_equal(types, "http-01,tls-alpn-01");
	f->a.o.dns01 = 1;
	chall_types_of(f, &c, "dns", "a.ok.test", types, sizeof(types));
	assert_string_equal(types, "http-01,tls-alpn-01,dns-01");
	chall_types_of(f, &c, "ip", "10.1.2.3", types, sizeof(types));
	assert_string_equal(types, "http-01,tls-alpn-01");
	client_free(&c);
}

static void
test_order_policy(void **state)
{
	struct fx *f = *state;
	struct client c;
	struct req_out o;
	json_t *p;
	size_t i;
	static const struct {
		const char *type, *value;
		int status;
		const char *problem;
	} rows[] = {
	    {"dns", "www.ok.test", 201, ""},
	    {"dns", "WWW.OK.TEST", 201, ""},
	    {"ip", "10.1.2.3", 201, ""},
	    {"dns", "www.other.test", 403, "rejectedIdentifier"},
	    {"ip", "192.0.2.1", 403, "rejectedIdentifier"},
	    {"dns", "*.ok.test", 400, "rejectedIdentifier"},
	    {"dns", "bad..ok.test", 400, "rejectedIdentifier"},
	    {"dns", "-a.ok.test", 400, "rejectedIdentifier"},
	    {"ip", "10.1.2", 400, "rejectedIdentifier"},
	    {"email", "a@ok.test", 400, "unsupportedIdentifier"},
	};

	client_init(&c, MTLS_KEY_EC_P256);
	new_account(f, &c);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		p = order_for(rows[i].type, rows[i].value);
		post(f, &c, "new-order", p, &o);
		json_decref(p);
		if (o.status != rows[i].status || strcmp(o.type, rows[i].problem) != 0) {
			fail_msg("%s:%s: got %d %s", rows[i].type, rows[i].value,
			    o.status, o.type);
		}
		out_clear(&o);
	}
	p = json_pack("{s:[], s:s}", "identifiers", "notAfter", "2030-01-01T00:00:00Z");
	post(f, &c, "new-order", p, &o);
	assert_int_equal(o.status, 400);
	json_decref(p);
	out_clear(&o);
	client_free(&c);
}

static void
test_order_flow(void **state)
{
	struct fx *f = *state;
	struct client c, other;
	struct req_out o;
	char order[300], chall[300], cert[300];
	EVP_PKEY *k = mtls_key_generate(MTLS_KEY_EC_P256, NULL);
	int rows = test_inventory_rows(f->ca.ca, NULL);
	json_t *p;
	X509 *x;
	char *b;
	unsigned char *der = NULL;
	int n;

	client_init(&c, MTLS_KEY_EC_P256);
	client_init(&other, MTLS_KEY_EC_P256);
	new_account(f, &c);
	new_account(f, &other);

	/* A failed challenge makes the authorization and order invalid. */
	make_order(f, &c, "a.ok.test", order, chall);
	finalize(f, &c, order, k, "CN=a.ok.test", "DNS:a.ok.test", &o);
	assert_int_equal(o.status, 403);
	assert_string_equal(o.type, "orderNotReady");
	out_clear(&o);
	p = json_object();
	post(f, &c, chall, p, &o);
	assert_int_equal(o.status, 200);
	assert_int_equal(f->checks, 1);
	assert_string_equal(f->last.type, "http-01");
	assert_string_equal(f->last.id_value, "a.ok.test");
	assert_non_null(strstr(f->last.keyauth, f->last.token));
	out_clear(&o);
	mtls__acme_check_done(&f->a, f->authz, f->last.index, 0, "connection",
	    "refused");
	assert_string_equal(status_of(f, &c, order), "invalid");

	/* Another account sees none of it. */
	post(f, &other, order, NULL, &o);
	assert_int_equal(o.status, 403);
	out_clear(&o);

	/* A passed challenge makes it ready; finalize with other names is a
	 * badCSR and issues nothing. */
	make_order(f, &c, "b.ok.test", order, chall);
	post(f, &c, chall, p, &o);
	out_clear(&o);
	mtls__acme_check_done(&f->a, f->authz, f->last.index, 1, NULL, "ok");
	assert_string_equal(status_of(f, &c, order), "ready");
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test,DNS:c.ok.test", &o);
	assert_string_equal(o.type, "badCSR");
	out_clear(&o);
	finalize(f, &c, order, k, "CN=evil.test", "DNS:b.ok.test", &o);
	assert_string_equal(o.type, "badCSR");
	out_clear(&o);
	assert_int_equal(test_inventory_rows(f->ca.ca, NULL), rows);
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test", &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(json_string_value(json_object_get(o.body, "status")),
	    "valid");
	snprintf(cert, sizeof(cert), "%s", path_of(json_string_value(
	    json_object_get(o.body, "certificate"))));
	out_clear(&o);
	assert_int_equal(test_inventory_rows(f->ca.ca, NULL), rows + 1);
	/* Finalizing twice issues nothing more. */
	finalize(f, &c, order, k, "CN=b.ok.test", "DNS:b.ok.test", &o);
	assert_string_equal(o.type, "orderNotReady");
	out_clear(&o);

	/* Download: the leaf then the CA; the other account cannot. */
	post(f, &other, cert, NULL, &o);
	assert_int_equal(o.status, 404);
	out_clear(&o);
	post(f, &c, cert, NULL, &o);
	assert_int_equal(o.status, 200);
	assert_non_null(strstr(json_string_value(o.body), "BEGIN CERTIFICATE"));
	{
		BIO *bio = BIO_new_mem_buf(json_string_value(o.body), -1);

		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	out_clear(&o);
	assert_non_null(x);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);

	/* Revocation: not by another account; by the certificate's key; not
	 * twice; not with a reason subscribers may not give. */
	n = i2d_X509(x, &der);
	b = b64u(der, (size_t)n);
	json_decref(p); /* the empty challenge answer */
	p = json_pack("{s:s, s:i}", "certificate", b, "reason", 6);
	post(f, &c, "revoke-cert", p, &o);
	assert_string_equal(o.type, "badRevocationReason");
	out_clear(&o);
	json_object_set_new(p, "reason", json_integer(1));
	post(f, &other, "revoke-cert", p, &o);
	assert_int_equal(o.status, 403);
	out_clear(&o);
	{
		struct client ck;

		memset(&ck, 0, sizeof(ck));
		ck.key = k;
		ck.alg = "ES256";
		ck.jwk = jwk_of(k);
		post_as(f, &ck, "revoke-cert", p, 1, OK, &o);
		assert_int_equal(o.status, 200);
		out_clear(&o);
		post_as(f, &ck, "revoke-cert", p, 1, OK, &o);
		assert_string_equal(o.type, "alreadyRevoked");
		out_clear(&o);
		json_decref(ck.jwk);
	}
	json_decref(p);
	free(b);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
	client_free(&c);
	client_free(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_flow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns01_offered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validation_in_flight, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_limits_and_orders_list, setup,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
