/* passwd.c - password hashing with libsodium's crypto_pwhash (Argon2id),
 * at most `concurrency` hashes at a time; see passwd.h. */
#include "config.h"
#include "passwd.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "log.h"

/* The prefix of the strings crypto_pwhash_str() makes with Argon2id; a
 * hash of another algorithm (argon2i) always needs a rehash. */
#define PASSWD_PREFIX "$argon2id$"

/* The semaphore is created once and never resized: a second passwd_init()
 * (a configuration reload) changes the cost parameters only, since threads
 * may be waiting on it. */
static sem_t passwd_slots;
static atomic_int passwd_ready;
static pthread_mutex_t passwd_init_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long long passwd_ops;
static _Atomic size_t passwd_mem; /* bytes */
static unsigned passwd_concurrency; /* guarded by passwd_init_lock */
/* A hash of a random password at the current cost, verified in place of a
 * missing one; remade when the cost changes. [passwd_init_lock] */
static char passwd_dummy[crypto_pwhash_STRBYTES];

int passwd_init(unsigned opslimit, size_t memlimit_kb, unsigned concurrency)
{
	size_t mem = memlimit_kb * 1024;
	int ret = 0;

	if (opslimit < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN ||
	    concurrency < 1) {
		log_error("passwd: hash parameters out of range (opslimit %u >= %llu, memlimit "
		          "%zu KiB >= %zu KiB, concurrency %u >= 1)",
		          opslimit, (unsigned long long)crypto_pwhash_OPSLIMIT_MIN, memlimit_kb,
		          (size_t)crypto_pwhash_MEMLIMIT_MIN / 1024, concurrency);
		return -1;
	}
	pthread_mutex_lock(&passwd_init_lock);
	if (!atomic_load(&passwd_ready)) {
		if (sodium_init() < 0) {
			log_error("passwd: libsodium cannot start");
			ret = -1;
			goto out;
		}
		if (sem_init(&passwd_slots, 0, concurrency) != 0) {
			log_error("passwd: sem_init: %s", strerror(errno));
			ret = -1;
			goto out;
		}
		passwd_concurrency = concurrency;
	} else if (concurrency != passwd_concurrency) {
		log_warn("passwd: hash_concurrency stays %u until chatroomd restarts",
		         passwd_concurrency);
	}
	if (!passwd_dummy[0] || atomic_load(&passwd_ops) != opslimit ||
	    atomic_load(&passwd_mem) != mem) {
		unsigned char pw[16];
		randombytes_buf(pw, sizeof pw);
		if (crypto_pwhash_str_alg(passwd_dummy, (const char *)pw, sizeof pw, opslimit, mem,
		                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
			log_error("passwd: hashing failed (out of memory?)");
			ret = -1;
			goto out;
		}
	}
	atomic_store(&passwd_ops, opslimit);
	atomic_store(&passwd_mem, mem);
	atomic_store(&passwd_ready, 1);
out:
	pthread_mutex_unlock(&passwd_init_lock);
	return ret;
}

/* Sources hashing now and how many hashes each holds or waits for. */
struct passwd_source {
	char src[64];
	int n;
};
static pthread_mutex_t passwd_src_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t passwd_src_cond = PTHREAD_COND_INITIALIZER;
static struct passwd_source *passwd_srcs; /* [passwd_src_lock] */
static size_t passwd_nsrcs, passwd_srcs_cap; /* [passwd_src_lock] */
static _Atomic unsigned long long passwd_count;

/* Needs passwd_src_lock. */
static struct passwd_source *passwd_source_find(const char *source)
{
	for (size_t i = 0; i < passwd_nsrcs; i++)
		if (strcmp(passwd_srcs[i].src, source) == 0)
			return &passwd_srcs[i];
	return NULL;
}

static int passwd_source_share(void)
{
	pthread_mutex_lock(&passwd_init_lock);
	int share = (int)(passwd_concurrency + 1) / 2;
	pthread_mutex_unlock(&passwd_init_lock);
	return share > 0 ? share : 1;
}

static int passwd_source_take(const char *source, int wait)
{
	int share = passwd_source_share();
	pthread_mutex_lock(&passwd_src_lock);
	struct passwd_source *p;
	while ((p = passwd_source_find(source)) && p->n >= share) {
		if (!wait) {
			pthread_mutex_unlock(&passwd_src_lock);
			return -1;
		}
		pthread_cond_wait(&passwd_src_cond, &passwd_src_lock);
	}
	if (!p) {
		if (passwd_nsrcs == passwd_srcs_cap) {
			size_t cap = passwd_srcs_cap ? passwd_srcs_cap * 2 : 16;
			struct passwd_source *n = realloc(passwd_srcs, cap * sizeof *n);
			if (!n) {
				/* out of memory: hash unshared rather than not at all */
				pthread_mutex_unlock(&passwd_src_lock);
				return 0;
			}
			passwd_srcs = n;
			passwd_srcs_cap = cap;
		}
		p = &passwd_srcs[passwd_nsrcs++];
		snprintf(p->src, sizeof p->src, "%s", source);
		p->n = 0;
	}
	p->n++;
	pthread_mutex_unlock(&passwd_src_lock);
	return 0;
}

int passwd_source_enter(const char *source)
{
	return passwd_source_take(source, 1);
}

int passwd_source_tryenter(const char *source)
{
	return passwd_source_take(source, 0);
}

void passwd_source_leave(const char *source)
{
	pthread_mutex_lock(&passwd_src_lock);
	struct passwd_source *p = passwd_source_find(source);
	if (p && --p->n <= 0)
		*p = passwd_srcs[--passwd_nsrcs];
	pthread_cond_broadcast(&passwd_src_cond);
	pthread_mutex_unlock(&passwd_src_lock);
}

unsigned long long passwd_hashes(void)
{
	return atomic_load(&passwd_count);
}

static int passwd_acquire(void)
{
	if (!atomic_load(&passwd_ready)) {
		log_error("passwd: used before passwd_init()");
		return -1;
	}
	while (sem_wait(&passwd_slots) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void passwd_release(void)
{
	atomic_fetch_add(&passwd_count, 1);
	sem_post(&passwd_slots);
}

int passwd_hash(const char *password, char *out, size_t outlen)
{
	int rc;

	if (outlen < crypto_pwhash_STRBYTES || passwd_acquire() != 0)
		return -1;
	rc = crypto_pwhash_str_alg(out, password, strlen(password), atomic_load(&passwd_ops),
	                           atomic_load(&passwd_mem), crypto_pwhash_ALG_ARGON2ID13);
	passwd_release();
	if (rc != 0) {
		log_error("passwd: hashing failed (out of memory?)");
		return -1;
	}
	return 0;
}

int passwd_dummy_hash(char *out, size_t outlen)
{
	pthread_mutex_lock(&passwd_init_lock);
	int ok = passwd_dummy[0] && outlen > strlen(passwd_dummy);
	if (ok)
		memcpy(out, passwd_dummy, strlen(passwd_dummy) + 1);
	pthread_mutex_unlock(&passwd_init_lock);
	return ok ? 0 : -1;
}

int passwd_verify(const char *hash, const char *password)
{
	int rc;

	if (!password)
		return 0;
	if (!hash || !hash[0]) {
		char dummy[crypto_pwhash_STRBYTES];
		if (passwd_dummy_hash(dummy, sizeof dummy) == 0)
			passwd_verify(dummy, password);
		return 0;
	}
	/* the stored string must be terminated within the size libsodium reads */
	if (strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
		return 0;
	if (passwd_acquire() != 0)
		return 0;
	rc = crypto_pwhash_str_verify(hash, password, strlen(password));
	passwd_release();
	return rc == 0;
}

int passwd_needs_rehash(const char *hash)
{
	if (!hash || !hash[0])
		return 0; /* no password set: nothing to rehash */
	if (strncmp(hash, PASSWD_PREFIX, strlen(PASSWD_PREFIX)) != 0)
		return 1;
	/* 0: same parameters; 1: other parameters; -1: not a valid hash */
	return crypto_pwhash_str_needs_rehash(hash, atomic_load(&passwd_ops),
	                                      atomic_load(&passwd_mem)) != 0;
}
