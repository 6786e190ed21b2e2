/* see acme_int.h: what the ACME server keeps in memory between requests -
 * accounts' decoded keys, and the validations in flight. Both are
 * caches of what the inventory says, never the other way round: a lost
 * entry costs one rebuilt key or one repeated validation. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "online/acme_int.h"

static unsigned long
hash(const char *s)
{
	unsigned long h = 5381;

	for (; *s != '\0'; s++) {
		h = h * 33 + (unsigned char)*s;
	}
	return h;
}

/* ---- accounts' keys ---- */

static struct mtls__acme_keyslot *
key_slot(struct mtls__acme *a, const char *account)
{
	if (a->keys == NULL || account[0] == '\0' || strlen(account) >= 64) {
		return NULL;
	}
	return &a->keys[hash(account) % MTLS__ACME_KEY_SLOTS];
}

EVP_PKEY *
mtls__acme_key_cached(struct mtls__acme *a, const char *account,
    const char *thumb)
{
	struct mtls__acme_keyslot *k = key_slot(a, account);

	if (k == NULL || k->key == NULL || strcmp(k->account, account) != 0 ||
	    thumb == NULL || strcmp(k->thumb, thumb) != 0 ||
	    EVP_PKEY_up_ref(k->key) != 1) {
		return NULL;
	}
	return k->key;
}

void
mtls__acme_key_keep(struct mtls__acme *a, const char *account,
    const char *thumb, EVP_PKEY *key)
{
	struct mtls__acme_keyslot *k = key_slot(a, account);

	if (k == NULL || strlen(thumb) >= sizeof(k->thumb) ||
	    EVP_PKEY_up_ref(key) != 1) {
		return;
	}
	/* A collision evicts the older account: it is rebuilt next time. */
	EVP_PKEY_free(k->key);
	snprintf(k->account, sizeof(k->account), "%s", account);
	snprintf(k->thumb, sizeof(k->thumb), "%s", thumb);
	k->key = key;
}

void
mtls__acme_key_forget(struct mtls__acme *a, const char *account)
{
	struct mtls__acme_keyslot *k = key_slot(a, account);

	if (k != NULL && strcmp(k->account, account) == 0) {
		EVP_PKEY_free(k->key);
		memset(k, 0, sizeof(*k));
	}
}

/* ---- order ids ---- */

int
mtls__acme_order_id(struct mtls__acme *a, char out[33])
{
	unsigned long long us = (unsigned long long)mtls__now_ms() * 1000;
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
		us = (unsigned long long)ts.tv_sec * 1000000ULL +
		    (unsigned long long)ts.tv_nsec / 1000;
	}
	if (us <= a->last_us) {
		us = a->last_us + 1;    /* the clock stepped back, or the same us */
	}
	a->last_us = us;
	snprintf(out, 17, "%016llx", us);
	return mtls__acme_new_id(out + 16, 8);
}

/* ---- validations in flight ---- */

/* INDEX -1: any challenge of AUTHZ. */
static struct mtls__acme_inflight *
flight_find(struct mtls__acme *a, const char *authz, int index)
{
	int i, seen = 0;

	for (i = 0; a->flight != NULL && i < MTLS__ACME_INFLIGHT &&
	    seen < a->nflight; i++) {
		if (a->flight[i].authz[0] == '\0') {
			continue;
		}
		seen++;
		if ((index < 0 || a->flight[i].index == index) &&
		    strcmp(a->flight[i].authz, authz) == 0) {
			return &a->flight[i];
		}
	}
	return NULL;
}

int
mtls__acme_flight_start(struct mtls__acme *a, const char *authz, int index)
{
	int i;

	if (flight_find(a, authz, index) != NULL) {
		return 0;
	}
	for (i = 0; a->flight != NULL && i < MTLS__ACME_INFLIGHT; i++) {
		if (a->flight[i].authz[0] == '\0') {
			snprintf(a->flight[i].authz, sizeof(a->flight[i].authz), "%s",
			    authz);
			a->flight[i].index = index;
			a->flight[i].since_ms = (long long)mtls__mono_ms();
			a->nflight++;
			return 1;
		}
	}
	return -1;
}

int
mtls__acme_flight_has(struct mtls__acme *a, const char *authz, int index,
    int take)
{
	struct mtls__acme_inflight *f = flight_find(a, authz, index);

	if (f == NULL) {
		return 0;
	}
	if (take) {
		double took = (double)((long long)mtls__mono_ms() - f->since_ms);

		/* A moving average over about the last eight. */
		a->flight_ms = a->flight_ms > 0 ? a->flight_ms * 0.875 + took *
		    0.125 : took;
		memset(f, 0, sizeof(*f));
		a->nflight--;
	}
	return 1;
}

int
mtls__acme_flight_count(const struct mtls__acme *a)
{
	return a->nflight;
}

int
mtls__acme_flight_wait(struct mtls__acme *a, const char *authz, int index,
    int max)
{
	struct mtls__acme_inflight *f = flight_find(a, authz, index);
	double left;
	int s;

	if (f == NULL) {
		return 0;
	}
	left = a->flight_ms - (double)((long long)mtls__mono_ms() - f->since_ms);
	s = left > 1000 ? (int)((left + 999) / 1000) : 1;
	s += a->nflight / 100;
	return s < max ? s : max;
}
