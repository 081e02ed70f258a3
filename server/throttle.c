/* throttle.c - failed-login throttling; see throttle.h. */
#include "config.h"
#include "throttle.h"
#include "server.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Keys remembered at once; an attacker rotating through more addresses
 * than this only pushes out old entries. */
#define THROTTLE_SLOTS 4096

struct throttle_entry {
	char key[112];
	int failures;
	long long first_ms; /* start of the current window */
};

static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct throttle_entry throttle_tab[THROTTLE_SLOTS]; /* [throttle_lock] */

static unsigned throttle_hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The slot for key: its own, or (create) a free or expired one nearby, or
 * the oldest of the probed ones. Needs throttle_lock. */
static struct throttle_entry *throttle_slot(const char *key, int create, long long now, int window_s)
{
	unsigned h = throttle_hash(key);
	struct throttle_entry *victim = NULL;
	int victim_rank = 3;
	for (unsigned i = 0; i < 8; i++) {
		struct throttle_entry *e = &throttle_tab[(h + i) % THROTTLE_SLOTS];
		if (strcmp(e->key, key) == 0)
			return e;
		/* rank: 0 empty, 1 expired, 2 live (then the oldest goes) */
		int rank = !e->key[0] ? 0 : now - e->first_ms > (long long)window_s * 1000 ? 1 : 2;
		if (rank < victim_rank || (rank == victim_rank && e->first_ms < victim->first_ms)) {
			victim = e;
			victim_rank = rank;
		}
	}
	if (!create)
		return NULL;
	snprintf(victim->key, sizeof victim->key, "%s", key);
	victim->failures = 0;
	victim->first_ms = now;
	return victim;
}

int throttle_check(const char *key, int max, int window_s)
{
	long long now = srv_now_ms();
	int wait = 0;
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_slot(key, 0, now, window_s);
	if (e) {
		long long left = e->first_ms + (long long)window_s * 1000 - now;
		if (left <= 0)
			e->key[0] = '\0';
		else if (e->failures >= max)
			wait = (int)((left + 999) / 1000);
	}
	pthread_mutex_unlock(&throttle_lock);
	return wait;
}

void throttle_fail(const char *key, int window_s)
{
	long long now = srv_now_ms();
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_slot(key, 1, now, window_s);
	if (now - e->first_ms > (long long)window_s * 1000) {
		e->failures = 0;
		e->first_ms = now;
	}
	e->failures++;
	pthread_mutex_unlock(&throttle_lock);
}

void throttle_clear(const char *key)
{
	pthread_mutex_lock(&throttle_lock);
	struct throttle_entry *e = throttle_slot(key, 0, srv_now_ms(), 0);
	if (e)
		e->key[0] = '\0';
	pthread_mutex_unlock(&throttle_lock);
}
