/* see ca/acme_store.h and mtls/acme.h */
#include "ca/acme_store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/internal.h"
#include "ca/ca_internal.h"
#include "mtls/pass.h"

static struct mtls_db_stmt *
prep(struct mtls_ca *ca, const char *sql, const char *what,
    struct mtls_err *err)
{
	return mtls__db_prepare(mtls__inv_db(ca->inv), sql, what, err);
}

static void
copy_col(struct mtls_db_stmt *s, int i, char *dst, size_t len)
{
	const char *t = mtls__db_col_text(s, i);

	snprintf(dst, len, "%s", t != NULL ? t : "");
}

/* ---- allow lists ---- */

/* ADDR/BITS of family AF into NET; -1 when malformed. */
static int
parse_cidr(const char *s, int *af, unsigned char net[16], int *bits)
{
	char buf[64], *slash, *end = NULL;
	long b;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash++ = '\0';
	}
	if (inet_pton(AF_INET, buf, net) == 1) {
		*af = AF_INET;
		*bits = 32;
	} else if (inet_pton(AF_INET6, buf, net) == 1) {
		*af = AF_INET6;
		*bits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		b = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || b < 0 || b > *bits) {
			return -1;
		}
		*bits = (int)b;
	}
	return 0;
}

static int
cidr_match(const char *pattern, const char *value)
{
	unsigned char net[16], addr[16];
	int af, bits, i;

	if (parse_cidr(pattern, &af, net, &bits) != 0 ||
	    inet_pton(af, value, addr) != 1) {
		return 0;
	}
	for (i = 0; i < bits; i++) {
		int m = 0x80 >> (i % 8);

		if ((net[i / 8] & m) != (addr[i / 8] & m)) {
			return 0;
		}
	}
	return 1;
}

/* Calls FN for each entry "type:pattern" of LIST; stops at a non-zero. */
static int
each_entry(const char *list, int (*fn)(const char *type, const char *pat,
    void *arg), void *arg)
{
	char e[512];
	const char *p = list;
	size_t n;
	int rc;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, ", ");
		if (n > 0) {
			char *colon;

			snprintf(e, sizeof(e), "%.*s", (int)(n < sizeof(e) ? n :
			    sizeof(e) - 1), p);
			colon = strchr(e, ':');
			if (colon == NULL) {
				rc = fn("", e, arg);
			} else {
				*colon = '\0';
				rc = fn(e, colon + 1, arg);
			}
			if (rc != 0) {
				return rc;
			}
		}
		p += n;
		p += strspn(p, ", ");
	}
	return 0;
}

struct check_arg {
	struct mtls_err *err;
};

static int
check_one(const char *type, const char *pat, void *arg)
{
	struct check_arg *c = arg;
	unsigned char net[16];
	int af, bits;
	const char *q;

	if (strcmp(type, "dns") == 0) {
		for (q = pat; *q != '\0'; q++) {
			if (!isalnum((unsigned char)*q) && strchr("-.*?[]_", *q) == NULL) {
				break;
			}
		}
		if (*pat != '\0' && *q == '\0') {
			return 0;
		}
	} else if (strcmp(type, "ip") == 0 &&
	    parse_cidr(pat, &af, net, &bits) == 0) {
		return 0;
	}
	return mtls_err_set(c->err, MTLS_E_USAGE, "allow entry '%s%s%s' is "
	    "neither dns:PATTERN (e.g. dns:*.internal.example) nor ip:ADDR[/BITS] "
	    "(e.g. ip:10.0.0.0/8)", type, *type ? ":" : "", pat);
}

int
mtls_acme_allow_check(const char *allow, struct mtls_err *err)
{
	struct check_arg c = {err};

	return each_entry(allow, check_one, &c) != 0 ? -1 : 0;
}

struct match_arg {
	const char *type;
	char value[300];
};

static int
match_one(const char *type, const char *pat, void *arg)
{
	struct match_arg *m = arg;

	if (strcmp(type, m->type) != 0) {
		return 0;
	}
	if (strcmp(type, "ip") == 0) {
		return cidr_match(pat, m->value);
	}
	{
		char low[512];
		size_t i;

		for (i = 0; pat[i] != '\0' && i + 1 < sizeof(low); i++) {
			low[i] = (char)tolower((unsigned char)pat[i]);
		}
		low[i] = '\0';
		return fnmatch(low, m->value, 0) == 0;
	}
}

int
mtls_acme_allow_match(const char *allow, const char *type, const char *value)
{
	struct match_arg m;
	size_t i;

	if (allow == NULL || type == NULL || value == NULL ||
	    strlen(value) >= sizeof(m.value)) {
		return 0;
	}
	m.type = type;
	for (i = 0; value[i] != '\0'; i++) {
		m.value[i] = (char)tolower((unsigned char)value[i]);
	}
	m.value[i] = '\0';
	/* A wildcard identifier is matched literally: "*.a.example" needs a
	 * pattern that itself matches the string "*.a.example". */
	return each_entry(allow, match_one, &m) == 1;
}

/* ---- EAB keys ---- */

static void
b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	int i;

	while (len > 0 && out[len - 1] == '=') {
		len--;
	}
	out[len] = '\0';
	for (i = 0; i < len; i++) {
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
}

int
mtls_acme_eab_create(struct mtls_ca *ca, const char *name, const char *allow,
    char kid[MTLS_ACME_KID_LEN], char **hmac, struct mtls_err *err)
{
	unsigned char raw[32], rid[10];
	char *key = NULL;
	struct mtls_db_stmt *s = NULL;
	size_t i;
	int rc = -1;

	*hmac = NULL;
	if (name == NULL || *name == '\0' || strlen(name) > 200) {
		return mtls_err_set(err, MTLS_E_USAGE, "an EAB key needs a name "
		    "(up to 200 characters)");
	}
	if (allow == NULL || *allow == '\0') {
		return mtls_err_set(err, MTLS_E_USAGE, "an EAB key needs at least "
		    "one --allow (e.g. --allow 'dns:*.internal.example')");
	}
	if (mtls_acme_allow_check(allow, err) != 0) {
		return -1;
	}
	key = malloc(48);
	if (key == NULL) {
		return mtls_err_sys(err, MTLS_E_INTERNAL, "out of memory");
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(rid, sizeof(rid)) != 1) {
		mtls_err_ssl(err, MTLS_E_INTERNAL, "cannot make an EAB key");
		goto out;
	}
	b64url(raw, sizeof(raw), key);
	memcpy(kid, "eab-", 4);
	for (i = 0; i < sizeof(rid); i++) {
		snprintf(kid + 4 + 2 * i, 3, "%02x", rid[i]);
	}
	s = prep(ca, "INSERT INTO acme_eab(kid,name,hmac,allow,created_at) "
	    "VALUES(?,?,?,?,?)", "recording an EAB key", err);
	if (s == NULL) {
		goto out;
	}
	mtls__db_bind_text(s, 1, kid);
	mtls__db_bind_text(s, 2, name);
	mtls__db_bind_text(s, 3, key);
	mtls__db_bind_text(s, 4, allow);
	mtls__db_bind_int64(s, 5, (long long)time(NULL));
	if (mtls__db_step(s, err) != 0) {
		goto out;
	}
	*hmac = key;
	key = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	mtls__db_finalize(s);
	mtls_pass_free(key);
	return rc;
}

int
mtls_acme_eab_list(struct mtls_ca *ca, mtls_acme_eab_cb *cb, void *arg,
    struct mtls_err *err)
{
	struct mtls_acme_eab e;
	struct mtls_db_stmt *s;
	int rc, ret = 0;

	s = prep(ca, "SELECT kid,name,allow,created_at,account,revoked_at FROM "
	    "acme_eab ORDER BY created_at DESC, rowid DESC", "listing EAB keys",
	    err);
	if (s == NULL) {
		return -1;
	}
	while ((rc = mtls__db_step(s, err)) == 1) {
		memset(&e, 0, sizeof(e));
		copy_col(s, 0, e.kid, sizeof(e.kid));
		copy_col(s, 1, e.name, sizeof(e.name));
		copy_col(s, 2, e.allow, sizeof(e.allow));
		e.created_at = (time_t)mtls__db_col_int64(s, 3);
		copy_col(s, 4, e.account, sizeof(e.account));
		e.revoked_at = (time_t)mtls__db_col_int64(s, 5);
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

int
mtls_acme_eab_revoke(struct mtls_ca *ca, const char *kid, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int n;

	s = prep(ca, "UPDATE acme_eab SET revoked_at=?2 WHERE kid=?1 AND "
	    "revoked_at IS NULL", "revoking an EAB key", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, kid);
	mtls__db_bind_int64(s, 2, (long long)time(NULL));
	if (mtls__db_step(s, err) != 0) {
		mtls__db_finalize(s);
		return -1;
	}
	n = (int)mtls__db_changes(s);
	mtls__db_finalize(s);
	if (n == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no usable EAB key '%s' "
		    "(see 'mtls acme eab list')", kid);
	}
	return 0;
}

int
mtls__acme_eab_get(struct mtls_ca *ca, const char *kid, unsigned char *key,
    size_t *klen, char *allow, size_t alen, char *account, size_t aclen,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	const char *k;
	unsigned char dec[128];
	char b64[200];
	size_t i, n;
	int rc, len;

	s = prep(ca, "SELECT hmac,allow,account FROM acme_eab WHERE kid=? AND "
	    "revoked_at IS NULL", "reading an EAB key", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, kid);
	rc = mtls__db_step(s, err);
	if (rc != 1) {
		mtls__db_finalize(s);
		if (rc < 0) {
			return -1;
		}
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no usable EAB key "
		    "'%s'", kid);
	}
	k = mtls__db_col_text(s, 0);
	n = k != NULL ? strlen(k) : 0;
	if (n == 0 || n + 4 >= sizeof(b64)) {
		mtls__db_finalize(s);
		return mtls_err_set(err, MTLS_E_FORMAT, "EAB key '%s' is damaged",
		    kid);
	}
	for (i = 0; i < n; i++) {
		b64[i] = k[i] == '-' ? '+' : k[i] == '_' ? '/' : k[i];
	}
	while (n % 4 != 0) {
		b64[n++] = '=';
	}
	b64[n] = '\0';
	len = EVP_DecodeBlock(dec, (unsigned char *)b64, (int)n);
	if (len < 0 || (size_t)len > *klen) {
		mtls__db_finalize(s);
		return mtls_err_set(err, MTLS_E_FORMAT, "EAB key '%s' is damaged",
		    kid);
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	len -= (int)(strlen(b64) - strcspn(b64, "="));
	memcpy(key, dec, (size_t)len);
	*klen = (size_t)len;
	OPENSSL_cleanse(dec, sizeof(dec));
	OPENSSL_cleanse(b64, sizeof(b64));
	copy_col(s, 1, allow, alen);
	copy_col(s, 2, account, aclen);
	mtls__db_finalize(s);
	return 0;
}

/* Runs S (a write) and finalizes it; *CHANGES, when non-NULL, gets the
 * rows it changed. A constraint violation is MTLS_E_EXISTS. */
static int
run1(struct mtls_db_stmt *s, long long *changes, struct mtls_err *err)
{
	int rc = mtls__db_step(s, err);

	if (changes != NULL) {
		*changes = mtls__db_changes(s);
	}
	mtls__db_finalize(s);
	return rc == 0 ? 0 : -1;
}

int
mtls__acme_eab_bind(struct mtls_ca *ca, const char *kid, const char *account,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	long long n = 0;

	s = prep(ca, "UPDATE acme_eab SET account=?2 WHERE kid=?1 AND account "
	    "IS NULL AND revoked_at IS NULL", "binding an EAB key", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, kid);
	mtls__db_bind_text(s, 2, account);
	if (run1(s, &n, err) != 0) {
		return -1;
	}
	if (n != 1) {
		return mtls_err_set(err, MTLS_E_EXISTS, "EAB key '%s' already "
		    "made an account", kid);
	}
	return 0;
}

/* ---- documents ---- */

int
mtls__acme_put(struct mtls_ca *ca, const char *kind, const char *id,
    const char *account, const char *status, time_t expires, const char *doc,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;

	/* created_at survives updates: rate limits count creations. */
	s = prep(ca, "INSERT INTO acme_objects(kind,id,account,status,"
	    "created_at,expires_at,doc) VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT"
	    "(kind,id) DO UPDATE SET status=excluded.status, expires_at="
	    "excluded.expires_at, doc=excluded.doc",
	    "recording ACME state", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, kind);
	mtls__db_bind_text(s, 2, id);
	mtls__db_bind_text(s, 3, account ? account : "");
	mtls__db_bind_text(s, 4, status);
	mtls__db_bind_int64(s, 5, (long long)time(NULL));
	mtls__db_bind_int64(s, 6, (long long)expires);
	mtls__db_bind_text(s, 7, doc);
	return run1(s, NULL, err);
}

char *
mtls__acme_get(struct mtls_ca *ca, const char *kind, const char *id,
    char *account, size_t aclen, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	char *doc;
	int rc;

	s = prep(ca, "SELECT doc,account FROM acme_objects WHERE kind=? AND id=?",
	    "reading ACME state", err);
	if (s == NULL) {
		return NULL;
	}
	mtls__db_bind_text(s, 1, kind);
	mtls__db_bind_text(s, 2, id);
	rc = mtls__db_step(s, err);
	if (rc != 1) {
		if (rc == 0) {
			mtls_err_set(err, MTLS_E_NOTFOUND, "no %s '%s'", kind, id);
		}
		mtls__db_finalize(s);
		return NULL;
	}
	doc = mtls__strdup(mtls__db_col_text(s, 0));
	if (account != NULL) {
		copy_col(s, 1, account, aclen);
	}
	mtls__db_finalize(s);
	if (doc == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	return doc;
}

int
mtls__acme_count_since(struct mtls_ca *ca, const char *kind,
    const char *account, time_t since, long *n, struct mtls_err *err)
{
	struct mtls_db_stmt *s;

	s = prep(ca, "SELECT count(*) FROM acme_objects WHERE account=? AND "
	    "kind=? AND created_at>=?", "counting ACME requests", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, account);
	mtls__db_bind_text(s, 2, kind);
	mtls__db_bind_int64(s, 3, (long long)since);
	if (mtls__db_step(s, err) != 1) {
		mtls__db_finalize(s);
		return -1;
	}
	*n = (long)mtls__db_col_int64(s, 0);
	mtls__db_finalize(s);
	return 0;
}

int
mtls__acme_nth_since(struct mtls_ca *ca, const char *kind,
    const char *account, time_t since, long skip, time_t *at,
    struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	s = prep(ca, "SELECT created_at FROM acme_objects WHERE account=?1 AND "
	    "kind=?2 AND created_at>=?3 ORDER BY created_at, id LIMIT 1 OFFSET ?4",
	    "reading ACME requests", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, account);
	mtls__db_bind_text(s, 2, kind);
	mtls__db_bind_int64(s, 3, (long long)since);
	mtls__db_bind_int64(s, 4, (long long)(skip > 0 ? skip : 0));
	rc = mtls__db_step(s, err);
	if (rc == 1) {
		*at = (time_t)mtls__db_col_int64(s, 0);
	}
	mtls__db_finalize(s);
	return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

int
mtls__acme_list(struct mtls_ca *ca, const char *kind, const char *account,
    time_t now, long skip, long limit, int (*fn)(const char *id, void *arg),
    void *arg, struct mtls_err *err)
{
	struct mtls_db_stmt *s;
	int rc;

	s = prep(ca, "SELECT id FROM acme_objects WHERE account=?1 AND kind=?2 "
	    "AND status<>'invalid' AND (status NOT IN ('pending','ready') OR "
	    "expires_at>?3) ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5",
	    "listing ACME orders", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, account);
	mtls__db_bind_text(s, 2, kind);
	mtls__db_bind_int64(s, 3, (long long)now);
	mtls__db_bind_int64(s, 4, (long long)limit);
	mtls__db_bind_int64(s, 5, (long long)skip);
	while ((rc = mtls__db_step(s, err)) == 1) {
		if (fn(mtls__db_col_text(s, 0), arg) != 0) {
			break;
		}
	}
	mtls__db_finalize(s);
	return rc < 0 ? -1 : 0;
}

/* Looks up one text column by one text key: 0 found, 1 none, -1 error. */
static int
lookup1(struct mtls_ca *ca, const char *sql, const char *key, char *out,
    size_t len, struct mtls_err *err)
{
	struct mtls_db_stmt *s = prep(ca, sql, "reading ACME state", err);
	int rc;

	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, key);
	rc = mtls__db_step(s, err);
	if (rc == 1) {
		copy_col(s, 0, out, len);
	}
	mtls__db_finalize(s);
	return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

int
mtls__acme_key_find(struct mtls_ca *ca, const char *thumbprint, char *account,
    size_t aclen, struct mtls_err *err)
{
	return lookup1(ca, "SELECT account FROM acme_keys WHERE thumbprint=?",
	    thumbprint, account, aclen, err);
}

int
mtls__acme_key_set(struct mtls_ca *ca, const char *thumbprint,
    const char *old_thumbprint, const char *account, struct mtls_err *err)
{
	struct mtls_db_stmt *s;

	if (old_thumbprint != NULL) {
		s = prep(ca, "DELETE FROM acme_keys WHERE thumbprint=? AND account=?",
		    "replacing an account key", err);
		if (s == NULL) {
			return -1;
		}
		mtls__db_bind_text(s, 1, old_thumbprint);
		mtls__db_bind_text(s, 2, account);
		if (run1(s, NULL, err) != 0) {
			return -1;
		}
	}
	s = prep(ca, "INSERT INTO acme_keys(thumbprint,account) VALUES(?,?)",
	    "recording an account key", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, thumbprint);
	mtls__db_bind_text(s, 2, account);
	return run1(s, NULL, err);
}

int
mtls__acme_cert_add(struct mtls_ca *ca, const char *serial,
    const char *account, const char *order, struct mtls_err *err)
{
	struct mtls_db_stmt *s;

	s = prep(ca, "INSERT INTO acme_certs(serial,account,order_id) "
	    "VALUES(?,?,?)", "recording an ACME certificate", err);
	if (s == NULL) {
		return -1;
	}
	mtls__db_bind_text(s, 1, serial);
	mtls__db_bind_text(s, 2, account);
	mtls__db_bind_text(s, 3, order);
	return run1(s, NULL, err);
}

int
mtls__acme_cert_account(struct mtls_ca *ca, const char *serial, char *account,
    size_t aclen, struct mtls_err *err)
{
	return lookup1(ca, "SELECT account FROM acme_certs WHERE serial=?",
	    serial, account, aclen, err);
}
