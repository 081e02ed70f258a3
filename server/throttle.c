/* throttle.c - failed-login throttling; see throttle.h. */
#include "config.h"
#include "throttle.h"
#include "server.h"
#include "tunables.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Slots a key may occupy from its home slot on: a new key that finds all of
 * them live is not counted. */
#define THROTTLE_PROBE 16

struct throttle_entry {
	uint64_t h;         /* keyed hash of the key, 0: empty */
	int failures;
	long long first_ms; /* start of the current window */
};

struct throttle_tab {
	struct throttle_entry *e;
	size_t mask; /* slots - 1 */
};

static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct throttle_tab throttle_tabs[2];                   /* [throttle_lock] */
static unsigned char throttle_key[crypto_shorthash_KEYBYTES];  /* [throttle_lock] */
static unsigned long long throttle_overflow;                   /* [throttle_lock] */

/* Needs throttle_lock. */
static int throttle_alloc(size_t entries)
{
	size_t n = 64;
	while (n < entries)
		n <<= 1;
	if (sodium_init() < 0)
		return -1;
	for (int t = 0; t < 2; t++) {
		struct throttle_entry *e = calloc(n, sizeof *e);
		if (!e)
			return -1;
		free(throttle_tabs[t].e);
		throttle_tabs[t].e = e;
		throttle_tabs[t].mask = n - 1;
	}
	/* a secret hash key: nobody can choose names that collide */
	randombytes_buf(throttle_key, sizeof throttle_key);
	return 0;
}

int throttle_init(size_t entries)
{
	pthread_mutex_lock(&throttle_lock);
	int rc = throttle_alloc(entries);
	pthread_mutex_unlock(&throttle_lock);
	return rc;
}

/* Needs throttle_lock. */
static uint64_t throttle_hash(const char *key)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;
	crypto_shorthash(out, (const unsigned char *)key, strlen(key), throttle_key);
	memcpy(&h, out, sizeof h);
	return h ? h : 1;
}

static int throttle_live(const struct throttle_entry *e, long long now, int window_s)
{
	return e->h && now - e->first_ms <= (long long)window_s * 1000;
}

/* The entry of key, or (create) a new one in an empty or expired slot of its
 * neighbourhood; NULL when absent (or, creating, when none is free). Needs
 * throttle_lock. */
static struct throttle_entry *throttle_slot(enum throttle_table t, const char *key, int create,
                                            long long now, int window_s)
{
	if (!throttle_tabs[0].e && throttle_alloc(CR_DEFAULT_LOGIN_THROTTLE_ENTRIES) < 0)
		return NULL;
	struct throttle_tab *tab = &throttle_tabs[t];
	uint64_t h = throttle_hash(key);
	struct throttle_entry *free_slot = NULL;
	for (size_t i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_entry *e = &tab->e[(h + i) & tab->mask];
		if (e->h == h)
			return e;
		if (!free_slot && !throttle_live(e, now, window_s))
			free_slot = e;
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		throttle_overflow++;
		return NULL;
	}
	free_slot->h = h;
	free_slot->failures = 0;
	free_slot->first_ms = now;
	return free_slot;
}

int throttle_check(enum throttle_table t, const char *key, int max, int window_s)
{
	long long now = srv_now_ms();
	int wait = 0;
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_slot(t, key, 0, now, window_s);
	if (e) {
		long long left = e->first_ms + (long long)window_s * 1000 - now;
		if (left <= 0)
			e->h = 0;
		else if (e->failures >= max)
			wait = (int)((left + 999) / 1000);
	}
	pthread_mutex_unlock(&throttle_lock);
	return wait;
}

int throttle_count(enum throttle_table t, const char *key, int window_s)
{
	long long now = srv_now_ms();
	int n = 0;
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_slot(t, key, 0, now, window_s);
	if (e && throttle_live(e, now, window_s))
		n = e->failures;
	pthread_mutex_unlock(&throttle_lock);
	return n;
}

/* The live entry of key, found or made (a window that has ended starts
 * again at now); NULL when the table has no room. Needs throttle_lock. */
static struct throttle_entry *throttle_live_slot(enum throttle_table t, const char *key,
                                                 long long now, int window_s)
{
	struct throttle_entry *e = throttle_slot(t, key, 1, now, window_s);
	if (e && !throttle_live(e, now, window_s)) {
		e->failures = 0;
		e->first_ms = now;
	}
	return e;
}

void throttle_fail(enum throttle_table t, const char *key, int window_s)
{
	long long now = srv_now_ms();
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_live_slot(t, key, now, window_s);
	if (e)
		e->failures++;
	pthread_mutex_unlock(&throttle_lock);
}

int throttle_take(enum throttle_table t, const char *key, int max, int window_s)
{
	long long now = srv_now_ms();
	int wait = 0;
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_live_slot(t, key, now, window_s);
	if (e) {
		if (e->failures >= max)
			wait = (int)((e->first_ms + (long long)window_s * 1000 - now + 999) / 1000);
		else
			e->failures++;
	}
	pthread_mutex_unlock(&throttle_lock);
	return wait;
}

void throttle_clear(enum throttle_table t, const char *key)
{
	pthread_mutex_lock(&throttle_lock);
	/* window 0: an entry of key is found whatever its age */
	struct throttle_entry *e = throttle_slot(t, key, 0, srv_now_ms(), 0);
	if (e)
		e->h = 0;
	pthread_mutex_unlock(&throttle_lock);
}

unsigned long long throttle_overflows(void)
{
	pthread_mutex_lock(&throttle_lock);
	unsigned long long n = throttle_overflow;
	pthread_mutex_unlock(&throttle_lock);
	return n;
}

void throttle_source(const char *ip, char *out, size_t outlen)
{
	struct in6_addr a;
	if (inet_pton(AF_INET6, ip, &a) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], out, (socklen_t)outlen);
			return;
		}
		memset(&a.s6_addr[8], 0, 8);
		char buf[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a, buf, sizeof buf);
		snprintf(out, outlen, "%s/64", buf);
		return;
	}
	snprintf(out, outlen, "%s", ip);
}
