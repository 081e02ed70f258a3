/* pool.c - bounded worker pool; see pool.h. */
#include "config.h"
#include "pool.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An idle worker exits after this long, so a past burst does not keep
 * thousands of threads. */
#define POOL_IDLE_EXIT_S 60

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;  /* queue non-empty or stopping */
static pthread_cond_t pool_gone = PTHREAD_COND_INITIALIZER;  /* a thread exited */
static client_t **pool_q;        /* [pool_lock] ring of waiting connections */
static int pool_qcap, pool_qhead, pool_qlen;
static int pool_max, pool_qmax;  /* limits */
static int pool_nthreads, pool_nidle, pool_stopping;
static pthread_attr_t pool_attr;
static void (*pool_serve)(client_t *c);

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (pool_qlen == 0 && !pool_stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += POOL_IDLE_EXIT_S;
			pool_nidle++;
			int rc = pthread_cond_timedwait(&pool_work, &pool_lock, &ts);
			pool_nidle--;
			if (rc == ETIMEDOUT && pool_qlen == 0)
				goto out;
		}
		if (pool_qlen == 0)
			break; /* stopping */
		client_t *c = pool_q[pool_qhead];
		pool_qhead = (pool_qhead + 1) % pool_qcap;
		pool_qlen--;
		pthread_mutex_unlock(&pool_lock);
		pool_serve(c);
		pthread_mutex_lock(&pool_lock);
	}
out:
	pool_nthreads--;
	pthread_cond_broadcast(&pool_gone);
	pthread_mutex_unlock(&pool_lock);
	return NULL;
}

int pool_start(int workers, int queue, size_t stack_size, void (*serve)(client_t *c))
{
	pool_max = workers;
	pool_qmax = queue;
	pool_serve = serve;
	pool_qcap = workers + queue + 1;
	/* the ring is bounded by the limits, but allocate it lazily in chunks */
	if (pool_qcap > 1024)
		pool_qcap = 1024;
	pool_q = calloc((size_t)pool_qcap, sizeof *pool_q);
	if (!pool_q)
		return -1;
	pthread_attr_init(&pool_attr);
	pthread_attr_setdetachstate(&pool_attr, PTHREAD_CREATE_DETACHED);
	if (pthread_attr_setstacksize(&pool_attr, stack_size) != 0) {
		log_error("worker stack size %zu bytes is not accepted", stack_size);
		return -1;
	}
	return 0;
}

static int pool_grow_queue(void)
{
	int ncap = pool_qcap * 2;
	client_t **nq = malloc((size_t)ncap * sizeof *nq);
	if (!nq)
		return -1;
	for (int i = 0; i < pool_qlen; i++)
		nq[i] = pool_q[(pool_qhead + i) % pool_qcap];
	free(pool_q);
	pool_q = nq;
	pool_qcap = ncap;
	pool_qhead = 0;
	return 0;
}

int pool_submit(client_t *c)
{
	int rc = -1;
	pthread_mutex_lock(&pool_lock);
	if (pool_stopping)
		goto out;
	/* workers that could take it: idle ones and those not yet started */
	int available = pool_nidle + (pool_max - pool_nthreads);
	if (pool_qlen >= available + pool_qmax)
		goto out;
	if (pool_qlen == pool_qcap && pool_grow_queue() < 0)
		goto out;
	if (pool_nidle <= pool_qlen && pool_nthreads < pool_max) {
		pthread_t t;
		int e = pthread_create(&t, &pool_attr, pool_main, NULL);
		if (e != 0) {
			log_warn("cannot start a worker thread: %s", strerror(e));
			if (pool_nidle <= pool_qlen && pool_qlen >= pool_qmax)
				goto out;
		} else {
			pool_nthreads++;
		}
	}
	pool_q[(pool_qhead + pool_qlen) % pool_qcap] = c;
	pool_qlen++;
	pthread_cond_signal(&pool_work);
	rc = 0;
out:
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

int pool_threads(void)
{
	pthread_mutex_lock(&pool_lock);
	int n = pool_nthreads;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

int pool_busy(void)
{
	pthread_mutex_lock(&pool_lock);
	int n = pool_nthreads - pool_nidle;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

void pool_stop(int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool_lock);
	pool_stopping = 1;
	pthread_cond_broadcast(&pool_work);
	while (pool_nthreads > 0)
		if (pthread_cond_timedwait(&pool_gone, &pool_lock, &ts) == ETIMEDOUT)
			break;
	if (pool_nthreads > 0)
		log_warn("%d worker threads still busy at shutdown", pool_nthreads);
	/* connections still queued were never served */
	while (pool_qlen > 0) {
		client_unref(pool_q[pool_qhead]);
		pool_qhead = (pool_qhead + 1) % pool_qcap;
		pool_qlen--;
	}
	pthread_mutex_unlock(&pool_lock);
}
