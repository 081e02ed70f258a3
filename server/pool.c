/* pool.c - bounded worker pool; see pool.h. */
#include "config.h"
#include "pool.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An idle worker exits after this long, so a past burst does not keep
 * threads. */
#define POOL_IDLE_EXIT_S 60

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* Both wait with monotonic deadlines (srv_cond_init, in pool_start). */
static pthread_cond_t pool_work;  /* queue non-empty or stopping */
static pthread_cond_t pool_gone;  /* a thread exited */
/* [pool_lock] connections waiting for a worker, linked through pool_next:
 * no allocation, so resuming a parked connection cannot fail */
static client_t *pool_qhead, *pool_qtail;
static int pool_qlen;            /* [pool_lock] all waiting */
static int pool_qnew;            /* [pool_lock] of which new connections */
static int pool_max, pool_qmax;  /* limits */
static int pool_nthreads, pool_nidle, pool_stopping; /* [pool_lock] */
static int pool_qmost;           /* [pool_lock] longest queue so far */
static unsigned long long pool_nwaited; /* [pool_lock] connections that waited */
static long long pool_longest_ms;       /* [pool_lock] */
static unsigned pool_serial;            /* [pool_lock] workers started: their names */
static pthread_attr_t pool_attr;
static void (*pool_serve)(client_t *c);

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_lock);
	srv_thread_name("worker %u", ++pool_serial);
	for (;;) {
		while (pool_qlen == 0 && !pool_stopping) {
			struct timespec ts;
			srv_deadline(&ts, POOL_IDLE_EXIT_S * 1000LL);
			pool_nidle++;
			int rc = pthread_cond_timedwait(&pool_work, &pool_lock, &ts);
			pool_nidle--;
			if (rc == ETIMEDOUT && pool_qlen == 0)
				goto out;
		}
		if (pool_qlen == 0)
			break; /* stopping */
		client_t *c = pool_qhead;
		pool_qhead = c->pool_next;
		if (!pool_qhead)
			pool_qtail = NULL;
		c->pool_next = NULL;
		pool_qlen--;
		if (c->pool_since_ms < 0) {
			pool_qnew--;
			c->pool_since_ms = -c->pool_since_ms;
		}
		long long waited = srv_now_ms() - c->pool_since_ms;
		if (waited > 0)
			pool_nwaited++;
		if (waited > pool_longest_ms)
			pool_longest_ms = waited;
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
	if (srv_cond_init(&pool_work) != 0 || srv_cond_init(&pool_gone) != 0)
		return -1;
	pthread_attr_init(&pool_attr);
	pthread_attr_setdetachstate(&pool_attr, PTHREAD_CREATE_DETACHED);
	if (pthread_attr_setstacksize(&pool_attr, stack_size) != 0) {
		log_error("worker stack size %zu bytes is not accepted", stack_size);
		return -1;
	}
	return 0;
}

/* Queue c; needs pool_lock. isnew: a new connection (counted apart, and
 * marked by a negative pool_since_ms). */
static void pool_enqueue(client_t *c, int isnew)
{
	long long now = srv_now_ms();
	c->pool_since_ms = isnew ? -now : now;
	c->pool_next = NULL;
	if (pool_qtail)
		pool_qtail->pool_next = c;
	else
		pool_qhead = c;
	pool_qtail = c;
	pool_qlen++;
	if (isnew)
		pool_qnew++;
	if (pool_qlen > pool_qmost)
		pool_qmost = pool_qlen;
	if (pool_nidle < pool_qlen && pool_nthreads < pool_max) {
		pthread_t t;
		int e = pthread_create(&t, &pool_attr, pool_main, NULL);
		if (e != 0)
			log_warn("cannot start a worker thread: %s", strerror(e));
		else
			pool_nthreads++;
	}
	pthread_cond_signal(&pool_work);
}

int pool_submit(client_t *c)
{
	int rc = -1;
	pthread_mutex_lock(&pool_lock);
	if (pool_stopping)
		goto out;
	/* workers that could take it: idle ones and those not yet started */
	int available = pool_nidle + (pool_max - pool_nthreads) - (pool_qlen - pool_qnew);
	if (available < 0)
		available = 0;
	if (pool_qnew >= available + pool_qmax)
		goto out;
	pool_enqueue(c, 1);
	rc = 0;
out:
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

void pool_resume(client_t *c)
{
	pthread_mutex_lock(&pool_lock);
	/* also while stopping: the workers still drain the queue, so a
	 * connection asked to close gets to its session's end */
	pool_enqueue(c, 0);
	pthread_mutex_unlock(&pool_lock);
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

void pool_queue_stats(struct pool_queue_stats *out)
{
	pthread_mutex_lock(&pool_lock);
	out->now = pool_qlen;
	out->most = pool_qmost;
	out->waited = pool_nwaited;
	out->longest_ms = pool_longest_ms;
	pthread_mutex_unlock(&pool_lock);
}

int pool_stop(int timeout_ms)
{
	struct timespec ts;
	srv_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&pool_lock);
	pool_stopping = 1;
	pthread_cond_broadcast(&pool_work);
	while (pool_nthreads > 0)
		if (pthread_cond_timedwait(&pool_gone, &pool_lock, &ts) == ETIMEDOUT)
			break;
	int busy = pool_nthreads;
	if (busy > 0)
		log_warn("%d worker threads still busy at shutdown", busy);
	/* connections still queued were never served (only when no worker is
	 * left: a busy one may still take them) */
	while (busy == 0 && pool_qhead) {
		client_t *c = pool_qhead;
		pool_qhead = c->pool_next;
		pool_qlen--;
		client_unref(c);
	}
	if (busy == 0)
		pool_qtail = NULL;
	pthread_mutex_unlock(&pool_lock);
	return busy;
}
