/* test_pool.c - the bounded worker pool (server/pool.c) with 2 workers and
 * a queue of 1: the serve function blocks until the test lets it go, so
 * the test decides when a worker is busy and when it frees.
 *
 * The pool is process-wide and cannot be restarted after pool_stop(), so
 * the tests share one pool started by the group setup; each test leaves it
 * with no connection being served, and the stop test runs last. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "log.h"
#include "pool.h"
#include "test_slow.h"

#define WORKERS 2
#define QUEUE 1
#define MAX_SERVED 64

/* What serve() saw; guarded by lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;  /* serving, finished or tokens changed */
	int serving;             /* serve() calls in progress */
	int finished;            /* serve() calls returned */
	int tokens;              /* serve() calls allowed to return */
	int draining;            /* every serve() call may return */
	client_t *order[MAX_SERVED]; /* clients in the order serve() got them */
	int nstarted;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

static void serve(client_t *c)
{
	pthread_mutex_lock(&srv.lock);
	if (srv.nstarted < MAX_SERVED)
		srv.order[srv.nstarted] = c;
	srv.nstarted++;
	srv.serving++;
	pthread_cond_broadcast(&srv.changed);
	while (srv.tokens == 0 && !srv.draining)
		pthread_cond_wait(&srv.changed, &srv.lock);
	if (srv.tokens > 0)
		srv.tokens--;
	srv.serving--;
	srv.finished++;
	pthread_cond_broadcast(&srv.changed);
	pthread_mutex_unlock(&srv.lock);
	client_unref(c); /* serve owns the reference */
}

/* Let n serve() calls return. */
static void release(int n)
{
	pthread_mutex_lock(&srv.lock);
	srv.tokens += n;
	pthread_cond_broadcast(&srv.changed);
	pthread_mutex_unlock(&srv.lock);
}

/* Wait up to 5 s (times the slow factor) for *field to reach want. */
static int wait_for(int *field, int want)
{
	struct timespec ts;
	int ok;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += slow_ms(5000) / 1000;
	pthread_mutex_lock(&srv.lock);
	while (*field != want)
		if (pthread_cond_timedwait(&srv.changed, &srv.lock, &ts) != 0)
			break;
	ok = *field == want;
	pthread_mutex_unlock(&srv.lock);
	return ok;
}

static int get(int *field)
{
	pthread_mutex_lock(&srv.lock);
	int v = *field;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A client on one end of a fresh socket pair (the other end is closed:
 * serve() never touches the socket). */
static client_t *dummy(const char *addr)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	client_t *c = client_new(sv[0], addr);
	assert_non_null(c);
	return c;
}

static int group_setup(void **state)
{
	(void)state;
	log_init("test_pool", LOG_LVL_ERROR, 1, 0);
	return pool_start(WORKERS, QUEUE, 256 * 1024, serve);
}

/* Every test ends with nothing being served or queued. */
static int teardown(void **state)
{
	(void)state;
	pthread_mutex_lock(&srv.lock);
	srv.draining = 1;
	pthread_cond_broadcast(&srv.changed);
	pthread_mutex_unlock(&srv.lock);
	/* a worker counts as busy until it is back waiting for work */
	for (long i = 0; i < slow_ms(5000) / 10 && (pool_busy() > 0 || get(&srv.serving) > 0); i++)
		sleep_ms(10);
	pthread_mutex_lock(&srv.lock);
	srv.draining = 0;
	srv.tokens = 0;
	pthread_mutex_unlock(&srv.lock);
	return 0;
}

static void test_connections_past_workers_and_queue_are_refused(void **state)
{
	client_t *c[4];
	int base = get(&srv.nstarted);
	(void)state;

	for (int i = 0; i < 4; i++) {
		char addr[16];
		snprintf(addr, sizeof addr, "c%d", i);
		c[i] = dummy(addr);
	}
	assert_int_equal(pool_submit(c[0]), 0);
	assert_int_equal(pool_submit(c[1]), 0);
	assert_true(wait_for(&srv.serving, 2));
	assert_int_equal(pool_submit(c[2]), 0); /* waits in the queue */
	assert_int_equal(pool_submit(c[3]), -1);
	/* the refused client is untouched: still only the caller's reference */
	assert_int_equal(atomic_load(&c[3]->refs), 1);
	client_unref(c[3]);
	assert_int_equal(pool_threads(), WORKERS);
	assert_int_equal(pool_busy(), WORKERS);
	sleep_ms(50);
	assert_int_equal(get(&srv.nstarted) - base, 2); /* c[2] still waits */
}

static void test_queued_connection_runs_when_a_worker_frees(void **state)
{
	client_t *c[3];
	int base = get(&srv.nstarted), fin = get(&srv.finished);
	(void)state;

	for (int i = 0; i < 3; i++)
		c[i] = dummy("q");
	for (int i = 0; i < 3; i++)
		assert_int_equal(pool_submit(c[i]), 0);
	assert_true(wait_for(&srv.serving, 2));
	release(1);
	assert_true(wait_for(&srv.finished, fin + 1));
	assert_true(wait_for(&srv.nstarted, base + 3));
	assert_true(wait_for(&srv.serving, 2));
	pthread_mutex_lock(&srv.lock);
	assert_ptr_equal(srv.order[base + 2], c[2]); /* the queued one, last */
	pthread_mutex_unlock(&srv.lock);
	/* no third thread was needed */
	assert_int_equal(pool_threads(), WORKERS);
	/* with the queue free again, one more fits */
	client_t *d = dummy("d");
	assert_int_equal(pool_submit(d), 0);
	client_t *e = dummy("e");
	assert_int_equal(pool_submit(e), -1);
	client_unref(e);
}

static void test_idle_workers_are_reused_and_counted(void **state)
{
	int base = get(&srv.nstarted);
	(void)state;

	/* previous tests left the threads idle, not gone */
	assert_int_equal(pool_threads(), WORKERS);
	assert_int_equal(pool_busy(), 0);
	assert_int_equal(pool_submit(dummy("r")), 0);
	assert_true(wait_for(&srv.serving, 1));
	assert_int_equal(pool_busy(), 1);
	assert_int_equal(pool_threads(), WORKERS);
	release(1);
	assert_true(wait_for(&srv.nstarted, base + 1));
	assert_true(wait_for(&srv.serving, 0));
	for (long i = 0; i < slow_ms(5000) / 10 && pool_busy() > 0; i++)
		sleep_ms(10);
	assert_int_equal(pool_busy(), 0);
}

struct releaser {
	long delay_ms;
	int n;
	atomic_int released; /* set just before the workers are let go */
};

static void *release_later(void *arg)
{
	struct releaser *r = arg;
	sleep_ms(r->delay_ms);
	atomic_store(&r->released, 1);
	release(r->n);
	return NULL;
}

static void test_stop_waits_for_busy_workers_then_refuses(void **state)
{
	struct releaser r = { 300, 3, 0 }; /* the queued one is served too */
	pthread_t t;
	client_t *queued, *late;
	(void)state;

	assert_int_equal(pool_submit(dummy("s1")), 0);
	assert_int_equal(pool_submit(dummy("s2")), 0);
	assert_true(wait_for(&srv.serving, 2));
	queued = dummy("s3");
	assert_int_equal(pool_submit(queued), 0);
	int started = get(&srv.nstarted);

	assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
	pool_stop((int)slow_ms(30000));
	/* it waited for the two to finish: they were let go before it
	 * returned, and no worker is left (it did not give up at its timeout) */
	assert_int_equal(atomic_load(&r.released), 1);
	pthread_join(t, NULL);
	assert_int_equal(get(&srv.serving), 0);
	assert_int_equal(pool_threads(), 0);
	/* the queued connection is served or dropped, never left hanging */
	assert_in_range(get(&srv.nstarted), started, started + 1);

	late = dummy("late");
	assert_int_equal(pool_submit(late), -1);
	client_unref(late);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_connections_past_workers_and_queue_are_refused, teardown),
		cmocka_unit_test_teardown(test_queued_connection_runs_when_a_worker_frees, teardown),
		cmocka_unit_test_teardown(test_idle_workers_are_reused_and_counted, teardown),
		cmocka_unit_test_teardown(test_stop_waits_for_busy_workers_then_refuses, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
