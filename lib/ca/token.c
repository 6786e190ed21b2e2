/* see mtls/token.h: one-time enrollment tokens and the audit trail, kept
 * in the CA's inventory (schema version 2). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mtls/pass.h"
#include "mtls/token.h"
#include "ca/ca_internal.h"
#include "base/internal.h"
#include "base/clock.h"
#include "ca/token_int.h"

static struct mtls_db_stmt *
prep(struct mtls_ca *ca, const char *sql, const char *what,
    struct mtls_err *err)
{
	return mtls__db_prepare(mtls__inv_db(ca->inv), sql, what, err);
}

static void
hex_of(const unsigned char *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The secret carries 256 random bits, so a plain SHA-256 cannot be
 * brute-forced and needs no salt or stretching (unlike a password). */
static int
secret_hash(const char *secret, char out[65], struct mtls_err *err)
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL) != 1 ||
	    n != sizeof(md)) {
		return mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot hash a token");
	}
	hex_of(md, sizeof(md), out);
	return 0;
}

/* base64url without padding (RFC 4648 section 5): safe in a URL, a shell
 * variable and an HTTP Basic password. */
static char *
new_secret(struct mtls_err *err)
{
	unsigned char raw[32];
	char *s = malloc(48);
	size_t i;

	if (s == NULL) {
		mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1 ||
	    EVP_EncodeBlock((unsigned char *)s, raw, sizeof(raw)) != 44) {
		OPENSSL_cleanse(raw, sizeof(raw));
		free(s);
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot make a token secret");
		return NULL;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	s[43] = '\0'; /* drop the one '=' of padding */
	for (i = 0; i < 43; i++) {
		s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	}
	return s;
}

/* The SANs a token allows, validated and in canonical form. */
static char *
token_sans(const struct mtls_token_spec *sp, struct mtls_err *err)
{
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	char def[300];
	char *out = NULL;

	if (g == NULL) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (sp->sans != NULL && *sp->sans != '\0') {
		if (mtls_san_add(g, sp->sans, err) != 0) {
			goto out;
		}
	} else if (sp->profile == MTLS_PROFILE_SERVER ||
		   sp->profile == MTLS_PROFILE_NODE) {
		snprintf(def, sizeof(def), "dns:%s", sp->name);
		if (mtls_san_add(g, def, err) != 0) {
			mtls_err_set(err, MTLS_E_USAGE, "'%s' is not a DNS name, "
			    "so it cannot be the default SAN: give --san", sp->name);
			goto out;
		}
	}
	out = mtls_san_format(g);
	if (out == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
out:
	GENERAL_NAMES_free(g);
	return out;
}

int
mtls_token_create(struct mtls_ca *ca, const struct mtls_token_spec *sp,
    char id[MTLS_TOKEN_ID_LEN], char **secret, struct mtls_err *err)
{
	struct mtls_db_stmt *s = NULL;
	unsigned char rid[8];
	char hash[65], why[64], *sans = NULL, *sec = NULL;
	time_t now = time(NULL);
	int rc = -1, own;
	struct mtls_audit_event ev;

	*secret = NULL;
	if (mtls__ca_check_name(sp->name, err) != 0) {
		return -1;
	}
	if (sp->ttl <= 0) {
		return mtls_err_set(err, MTLS_E_USAGE, "a token needs a lifetime "
		    "(--ttl 30m)");
	}
	sans = token_sans(sp, err);
	if (sans == NULL || (sec = new_secret(err)) == NULL ||
	    secret_hash(sec, hash, err) != 0) {
		goto out;
	}
	if (RAND_bytes(rid, sizeof(rid)) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot make a token id");
		goto out;
	}
	hex_of(rid, sizeof(rid), id);
	s = prep(ca, "INSERT INTO tokens(id,name,profile,sans,cert_lifetime,hash,"
	    "created_at,created_by,expires_at) VALUES(?,?,?,?,?,?,?,?,?)",
	    "recording a token", err);
	if (s == NULL) {
		goto out;
	}
	mtls__db_bind_text(s, 1, id);
	mtls__db_bind_text(s, 2, sp->name);
	mtls__db_bind_text(s, 3, mtls_profile_name(sp->profile));
	mtls__db_bind_text(s, 4, sans);
	mtls__db_bind_int64(s, 5, sp->cert_lifetime);
	mtls__db_bind_text(s, 6, hash);
	mtls__db_bind_int64(s, 7, (long long)now);
	mtls__db_bind_text(s, 8, sp->created_by ? sp->created_by : "");
	mtls__db_bind_int64(s, 9, (long long)now + sp->ttl);
	/* Inside the caller's transaction (a batch), or in one of its own. */
	own = !mtls__inv_in_txn(ca->inv);
	if (own && mtls__inv_begin(ca->inv, err) != 0) {
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.actor = sp->created_by ? sp->created_by : "";
	ev.action = "token-create";
	ev.name = sp->name;
	ev.outcome = "created";
	snprintf(why, sizeof(why), "token %s", id);
	ev.reason = why;
	if (mtls__db_step(s, err) != 0 || mtls__audit_add(ca, &ev, err) != 0) {
		if (own) {
			mtls__inv_rollback(ca->inv);
		}
		goto out;
	}
	if (own && mtls__inv_commit(ca->inv, err) != 0) {
		goto out;
	}
	*secret = sec;
	sec = NULL;
	rc = 0;
out:
	mtls__db_finalize(s);
	mtls_pass_free(sec);
	free(sans);
	return rc;
}

#define TOKEN_COLUMNS                                                        \
	"id,name,profile,sans,cert_lifetime,created_at,expires_at,used_at,"    \
	"used_serial,revoked_at,created_by,hash"

static void
copy_col(struct mtls_db_stmt *s, int i, char *dst, size_t len)
{
	const char *t = mtls__db_col_text(s, i);

	snprintf(dst, len, "%s", t != NULL ? t : "");
}

static void
row_to_token(struct mtls_db_stmt *s, struct mtls_token *t)
{
	memset(t, 0, sizeof(*t));
	copy_col(s, 0, t->id, sizeof(t->id));
	copy_col(s, 1, t->name, sizeof(t->name));
	copy_col(s, 2, t->profile, sizeof(t->profile));
	copy_col(s, 3, t->sans, sizeof(t->sans));
	t->cert_lifetime = (long)mtls__db_col_int64(s, 4);
	t->created_at = (time_t)mtls__db_col_int64(s, 5);
	t->expires_at = (time_t)mtls__db_col_int64(s, 6);
	t->used_at = (time_t)mtls__db_col_int64(s, 7);
	copy_col(s, 8, t->used_serial, sizeof(t->used_serial));
	t->revoked_at = (time_t)mtls__db_col_int64(s, 9);
	copy_col(s, 10, t->created_by, sizeof(t->created_by));
}

int
mtls_token_list(struct mtls_ca *ca, int all, time_t now, mtls_token_cb *cb,
    void *arg, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	struct mtls_token t;
	int rc, ret = 0;

	s = prep(ca, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE ?1 <> 0 OR "
	    "(used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2) "
	    "ORDER BY created_at DESC, rowid DESC", "listing tokens", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_int64(s, 1, all != 0);
	mtls__db_bind_int64(s, 2, (long long)now);
	while ((rc = mtls__db_step(s, err)) == 1) {
		row_to_token(s, &t);
		ret = cb(&t, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc < 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	return ret;
}

int
mtls_token_revoke(struct mtls_ca *ca, const char *which, const char *actor,
    int *count, struct mtls_err *err)
{
	struct mtls_db_stmt *s = NULL;
	struct mtls_audit_event ev;

	*count = 0;
	if (mtls__inv_begin(ca->inv, err) != 0) {
		return -1;
	}
	s = prep(ca, "UPDATE tokens SET revoked_at=?2 WHERE (id=?1 OR name=?1) "
	    "AND used_at IS NULL AND revoked_at IS NULL", "revoking tokens", err);
	if (s == NULL) {
		goto fail;
	}
	mtls__db_bind_text(s, 1, which);
	mtls__db_bind_int64(s, 2, (long long)time(NULL));
	if (mtls__db_step(s, err) != 0) {
		goto fail;
	}
	*count = (int)mtls__db_changes(s);
	mtls__db_finalize(s);
	s = NULL;
	if (*count == 0) {
		mtls_err_set(err, MTLS_E_NOTFOUND, "no unused, unrevoked token "
		    "with id or name '%s' (see 'mtls token list --all')", which);
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.actor = actor ? actor : "";
	ev.action = "token-revoke";
	ev.name = which;
	ev.outcome = "revoked";
	if (mtls__audit_add(ca, &ev, err) != 0) {
		goto fail;
	}
	return mtls__inv_commit(ca->inv, err);
fail:
	mtls__db_finalize(s);
	mtls__inv_rollback(ca->inv);
	return -1;
}

int
mtls__token_find(struct mtls_ca *ca, const char *user, const char *secret,
    struct mtls_token *out, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	char want[65];
	const char *h;
	int rc = 0, found = 0;

	if (secret_hash(secret, want, err) != 0) {
		return -1;
	}
	s = prep(ca, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id=?1 OR "
	    "name=?1", "looking up a token", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, user);
	while (!found && (rc = mtls__db_step(s, err)) == 1) {
		h = mtls__db_col_text(s, 11);
		if (h != NULL && strlen(h) == 64 &&
		    CRYPTO_memcmp(h, want, 64) == 0) {
			row_to_token(s, out);
			found = 1;
		}
	}
	mtls__db_finalize(s);
	if (!found && rc < 0) {
		return -1;
	}
	if (!found) {
		return mtls_err_set(err, MTLS_E_PASSWORD, "no token for '%s' "
		    "with this secret (mistyped, or made for another name)", user);
	}
	return 0;
}

static void
utc(time_t t, char *buf, size_t len)
{
	mtls__time_format(t, MTLS__TIME_HUMAN, buf, len);
}

int
mtls__token_usable(const struct mtls_token *t, time_t now, struct mtls_err *err)
{
	char when[64];

	if (t->used_at != 0) {
		utc(t->used_at, when, sizeof(when));
		return mtls_err_set(err, MTLS_E_POLICY, "token %s was already "
		    "used on %s (certificate %s); ask for a new token", t->id,
		    when, t->used_serial);
	}
	if (t->revoked_at != 0) {
		utc(t->revoked_at, when, sizeof(when));
		return mtls_err_set(err, MTLS_E_POLICY, "token %s was revoked on "
		    "%s; ask for a new token", t->id, when);
	}
	if (now >= t->expires_at) {
		utc(t->expires_at, when, sizeof(when));
		return mtls_err_set(err, MTLS_E_POLICY, "token %s expired on %s; "
		    "ask for a new token", t->id, when);
	}
	return 0;
}

int
mtls__token_consume(struct mtls_ca *ca, const char *id, const char *serial,
    time_t now, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	long long n;
	int rc;

	s = prep(ca, "UPDATE tokens SET used_at=?2, used_serial=upper(CAST(?3 AS "
	    "TEXT)) WHERE id=?1 AND used_at IS NULL AND revoked_at IS NULL",
	    "consuming a token", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, id);
	mtls__db_bind_int64(s, 2, (long long)now);
	mtls__db_bind_text(s, 3, serial);
	rc = mtls__db_step(s, err);
	n = mtls__db_changes(s);
	mtls__db_finalize(s);
	if (rc != 0) {
		return -1;
	}
	/* The WHERE clause is the guard: a second redemption changes nothing.
	 * On PostgreSQL the second UPDATE waits for the first one's row lock,
	 * then sees used_at set and changes no row, whichever instance ran
	 * it. */
	if (n != 1) {
		return mtls_err_set(err, MTLS_E_EXISTS, "token %s was used or "
		    "revoked meanwhile", id);
	}
	return 0;
}

int
mtls__audit_add(struct mtls_ca *ca, const struct mtls_audit_event *e,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	s = prep(ca, "INSERT INTO audit(at,actor,action,name,serial,outcome,"
	    "reason) VALUES(?,?,?,?,?,?,?)", "recording an audit event", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_int64(s, 1, (long long)(e->at ? e->at : time(NULL)));
	mtls__db_bind_text(s, 2, e->actor ? e->actor : "");
	mtls__db_bind_text(s, 3, e->action ? e->action : "");
	mtls__db_bind_text(s, 4, e->name ? e->name : "");
	mtls__db_bind_text(s, 5, e->serial ? e->serial : "");
	mtls__db_bind_text(s, 6, e->outcome ? e->outcome : "");
	mtls__db_bind_text(s, 7, e->reason ? e->reason : "");
	rc = mtls__db_step(s, err);
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

int
mtls_audit_list(struct mtls_ca *ca, long limit, mtls_audit_cb *cb, void *arg,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	struct mtls_audit_event e;
	int rc, ret = 0;

	s = prep(ca, "SELECT id,at,actor,action,name,serial,outcome,reason FROM "
	    "(SELECT * FROM audit ORDER BY id DESC LIMIT ?1) AS recent ORDER BY "
	    "id", "reading the audit trail", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_int64(s, 1, limit > 0 ? limit : LLONG_MAX);
	while ((rc = mtls__db_step(s, err)) == 1) {
		e.id = mtls__db_col_int64(s, 0);
		e.at = (time_t)mtls__db_col_int64(s, 1);
		e.actor = mtls__db_col_text(s, 2);
		e.action = mtls__db_col_text(s, 3);
		e.name = mtls__db_col_text(s, 4);
		e.serial = mtls__db_col_text(s, 5);
		e.outcome = mtls__db_col_text(s, 6);
		e.reason = mtls__db_col_text(s, 7);
		ret = cb(&e, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc < 0) {
		ret = -1;
	}
	mtls__db_finalize(s);
	return ret;
}
