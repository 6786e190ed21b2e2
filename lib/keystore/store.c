/* see mtls/store.h: the in-memory keystore model (entries, aliases,
 * editing). The codecs that read and write it live in store_codec.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "mtls/pki.h"
#include "mtls/store.h"
#include "base/internal.h"
#include "base/clock.h"
#include "keystore/store_int.h"

struct mtls_store_entry *
mtls__store_entry_new(enum mtls_entry_type type)
{
	struct mtls_store_entry *e = OPENSSL_zalloc(sizeof(*e));

	if (e == NULL) {
		return NULL;
	}
	e->type = type;
	e->certs = sk_X509_new_null();
	if (e->certs == NULL) {
		OPENSSL_free(e);
		return NULL;
	}
	return e;
}

void
mtls__store_entry_free(struct mtls_store_entry *e)
{
	if (e == NULL) {
		return;
	}
	OPENSSL_free(e->alias);
	EVP_PKEY_free(e->key);
	sk_X509_pop_free(e->certs, X509_free);
	OPENSSL_clear_free(e->sealed, e->sealed_len);
	OPENSSL_free(e);
}

int
mtls__store_push(struct mtls_store *s, struct mtls_store_entry *e,
    struct mtls_err *err)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct mtls_store_entry **ne =
		    OPENSSL_realloc(s->e, cap * sizeof(*ne));

		if (ne == NULL) {
			mtls__store_entry_free(e);
			return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		}
		s->e = ne;
		s->cap = cap;
	}
	s->e[s->n++] = e;
	return 0;
}

struct mtls_store *
mtls_store_new(void)
{
	return OPENSSL_zalloc(sizeof(struct mtls_store));
}

void
mtls_store_free(struct mtls_store *s)
{
	size_t i;

	if (s == NULL) {
		return;
	}
	for (i = 0; i < s->n; i++) {
		mtls__store_entry_free(s->e[i]);
	}
	OPENSSL_free(s->e);
	OPENSSL_free(s);
}

enum mtls_store_format
mtls_store_format(const struct mtls_store *s)
{
	return s->format;
}

int
mtls_store_verified(const struct mtls_store *s)
{
	return s->verified;
}

void
mtls_store_buf_free(unsigned char *buf, size_t len)
{
	OPENSSL_clear_free(buf, len);
}

size_t
mtls_store_count(const struct mtls_store *s)
{
	return s->n;
}

const struct mtls_store_entry *
mtls_store_get(const struct mtls_store *s, size_t i)
{
	return i < s->n ? s->e[i] : NULL;
}

/* ---- aliases ----------------------------------------------------------- */

char *
mtls_store_alias_norm(const char *alias, struct mtls_err *err)
{
	size_t n = strlen(alias), i = 0, mlen = 0;
	unsigned char *o;

	if (n == 0) {
		mtls_err_set(err, MTLS_E_USAGE, "an alias must not be empty");
		return NULL;
	}
	o = OPENSSL_malloc(n + 1);
	if (o == NULL) {
		mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
		return NULL;
	}
	while (i < n) {
		const unsigned char *s = (const unsigned char *)alias + i;
		size_t take, j;

		if (s[0] < 0x80) {
			take = 1;
		} else if (s[0] == 0xC0 && n - i >= 2 && s[1] == 0x80) {
			take = 2; /* Java's NUL */
		} else if (s[0] >= 0xC2 && s[0] < 0xE0) {
			take = 2;
		} else if (s[0] >= 0xE0 && s[0] < 0xF0) {
			take = 3;
		} else if (s[0] >= 0xF0 && s[0] < 0xF5) {
			take = 4;
		} else {
			goto bad;
		}
		if (n - i < take) {
			goto bad;
		}
		for (j = 1; j < take; j++) {
			if ((s[j] & 0xC0) != 0x80) {
				goto bad;
			}
		}
		memcpy(o + i, s, take);
		/* Java lower-cases with Locale.ENGLISH; ASCII and Latin-1
		 * capitals (U+00C0..U+00DE but U+00D7) are the common cases. */
		if (take == 1 && s[0] >= 'A' && s[0] <= 'Z') {
			o[i] = (unsigned char)(s[0] + 32);
		} else if (take == 2 && s[0] == 0xC3 && s[1] >= 0x80 &&
		    s[1] <= 0x9E && s[1] != 0x97) {
			o[i + 1] = (unsigned char)(s[1] + 32);
		}
		mlen += take == 4 ? 6 : take;
		i += take;
	}
	o[n] = '\0';
	if (mlen > 0xFFFF) {
		OPENSSL_free(o);
		mtls_err_set(err, MTLS_E_USAGE,
		    "alias is longer than Java allows (65535 bytes)");
		return NULL;
	}
	return (char *)o;
bad:
	OPENSSL_free(o);
	mtls_err_set(err, MTLS_E_USAGE, "alias '%s' is not valid UTF-8", alias);
	return NULL;
}

long
mtls_store_find(const struct mtls_store *s, const char *alias)
{
	char *want = mtls_store_alias_norm(alias, NULL);
	long found = -1;
	size_t i;

	if (want == NULL) {
		return -1;
	}
	for (i = 0; i < s->n && found < 0; i++) {
		char *have = mtls_store_alias_norm(s->e[i]->alias, NULL);

		if (have != NULL && strcmp(have, want) == 0) {
			found = (long)i;
		}
		OPENSSL_free(have);
	}
	OPENSSL_free(want);
	return found;
}

char *
mtls_store_alias_for(const struct mtls_store *s, X509 *cert, const char *base)
{
	char *cn = cert != NULL ? mtls_name_cn(X509_get_subject_name(cert))
	    : NULL;
	char *stem = mtls_store_alias_norm(cn != NULL ? cn : base, NULL);
	char *out = NULL;
	int i;

	OPENSSL_free(cn);
	if (stem == NULL) {
		stem = mtls__strdup(base);
	}
	if (stem == NULL) {
		return NULL;
	}
	if (mtls_store_find(s, stem) < 0) {
		return stem;
	}
	for (i = 2; i < 100000 && out == NULL; i++) {
		size_t n = strlen(stem) + 16;
		char *c = OPENSSL_malloc(n);

		if (c == NULL) {
			break;
		}
		snprintf(c, n, "%s-%d", stem, i);
		if (mtls_store_find(s, c) < 0) {
			out = c;
		} else {
			OPENSSL_free(c);
		}
	}
	OPENSSL_free(stem);
	return out;
}

/* ---- editing ----------------------------------------------------------- */

static int
make_room(struct mtls_store *s, const char *alias, int replace, char **norm,
    struct mtls_err *err)
{
	long at;

	*norm = mtls_store_alias_norm(alias, err);
	if (*norm == NULL) {
		return -1;
	}
	at = mtls_store_find(s, *norm);
	if (at < 0) {
		return 0;
	}
	if (!replace) {
		mtls_err_set(err, MTLS_E_EXISTS,
		    "alias '%s' already exists; remove it first or use --force",
		    *norm);
		OPENSSL_free(*norm);
		*norm = NULL;
		return -1;
	}
	mtls__store_entry_free(s->e[at]);
	memmove(&s->e[at], &s->e[at + 1],
	    (s->n - (size_t)at - 1) * sizeof(s->e[0]));
	s->n--;
	return 0;
}

static X509 *
take_issuer(STACK_OF(X509) *pool, X509 *child)
{
	int i;

	if (X509_check_issued(child, child) == X509_V_OK) {
		return NULL; /* self-signed: the chain ends here */
	}
	for (i = 0; i < sk_X509_num(pool); i++) {
		if (X509_check_issued(sk_X509_value(pool, i), child) ==
		    X509_V_OK) {
			return sk_X509_delete(pool, i);
		}
	}
	return NULL;
}

int
mtls_store_add_key(struct mtls_store *s, const char *alias, EVP_PKEY *key,
    STACK_OF(X509) *chain, int64_t created, int replace,
    struct mtls_err *err)
{
	STACK_OF(X509) *pool = NULL;
	struct mtls_store_entry *e = NULL;
	X509 *x = NULL;
	char *norm = NULL;
	int i;

	if (chain == NULL || sk_X509_num(chain) == 0) {
		return mtls_err_set(err, MTLS_E_USAGE,
		    "a key entry needs its certificate (give --cert)");
	}
	pool = sk_X509_dup(chain);
	if (pool == NULL) {
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	for (i = 0; i < sk_X509_num(pool) && x == NULL; i++) {
		if (mtls_key_matches_cert(key, sk_X509_value(pool, i))) {
			x = sk_X509_delete(pool, i);
		}
	}
	if (x == NULL) {
		sk_X509_free(pool);
		return mtls_err_set(err, MTLS_E_FORMAT,
		    "no certificate given for alias '%s' belongs to its private "
		    "key (check --key and --cert name the same identity)", alias);
	}
	if (make_room(s, alias, replace, &norm, err) != 0) {
		sk_X509_free(pool);
		return -1;
	}
	e = mtls__store_entry_new(MTLS_ENTRY_KEY);
	if (e == NULL) {
		goto oom;
	}
	e->alias = norm;
	norm = NULL;
	e->created = created != 0 ? created : mtls__now_ms();
	e->key = key;
	EVP_PKEY_up_ref(key);
	/* Leaf first, then each issuer found among the rest (Java sends the
	 * chain in stored order). Certificates outside the path follow. */
	while (x != NULL) {
		if (X509_up_ref(x) != 1 || sk_X509_push(e->certs, x) <= 0) {
			goto oom;
		}
		x = take_issuer(pool, x);
	}
	for (i = 0; i < sk_X509_num(pool); i++) {
		x = sk_X509_value(pool, i);
		if (X509_up_ref(x) != 1 || sk_X509_push(e->certs, x) <= 0) {
			goto oom;
		}
	}
	sk_X509_free(pool);
	return mtls__store_push(s, e, err);
oom:
	sk_X509_free(pool);
	OPENSSL_free(norm);
	mtls__store_entry_free(e);
	return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
}

int
mtls_store_add_trusted(struct mtls_store *s, const char *alias, X509 *cert,
    int64_t created, int replace, struct mtls_err *err)
{
	struct mtls_store_entry *e;
	char *norm = NULL;

	if (make_room(s, alias, replace, &norm, err) != 0) {
		return -1;
	}
	e = mtls__store_entry_new(MTLS_ENTRY_TRUSTED);
	if (e == NULL || X509_up_ref(cert) != 1) {
		OPENSSL_free(norm);
		mtls__store_entry_free(e);
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	e->alias = norm;
	e->created = created != 0 ? created : mtls__now_ms();
	if (sk_X509_push(e->certs, cert) <= 0) {
		X509_free(cert);
		mtls__store_entry_free(e);
		return mtls_err_set(err, MTLS_E_INTERNAL, "out of memory");
	}
	return mtls__store_push(s, e, err);
}

int
mtls_store_remove(struct mtls_store *s, const char *alias,
    struct mtls_err *err)
{
	long at = mtls_store_find(s, alias);
	char list[256] = "";
	size_t i, o = 0;

	if (at >= 0) {
		mtls__store_entry_free(s->e[at]);
		memmove(&s->e[at], &s->e[at + 1],
		    (s->n - (size_t)at - 1) * sizeof(s->e[0]));
		s->n--;
		return 0;
	}
	for (i = 0; i < s->n && o < sizeof(list) - 1; i++) {
		int w = snprintf(list + o, sizeof(list) - o, "%s%s",
		    i ? ", " : "", s->e[i]->alias);

		if (w < 0) {
			break;
		}
		o += (size_t)w;
	}
	return mtls_err_set(err, MTLS_E_NOTFOUND,
	    "no entry '%s' in the store (it holds: %s)", alias,
	    s->n ? list : "nothing");
}
