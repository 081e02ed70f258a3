/* waiter.c - the thread that watches parked connections; see waiter.h. */
#include "config.h"
#include "waiter.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per epoll_wait(). */
#define WAITER_EVENTS 256

static int waiter_epfd = -1;
static int waiter_evfd = -1;
static pthread_t waiter_thread;
static int waiter_running;
static atomic_long waiter_registered;

/* [waiter_lock] clients to flush and clients to forget, each referenced */
static pthread_mutex_t waiter_lock = PTHREAD_MUTEX_INITIALIZER;
struct waiter_list {
	client_t **v;
	size_t n, cap;
};
static struct waiter_list waiter_flushes, waiter_forgets;
/* [waiter_lock] deadlines (waiter_at): a min-heap on due, each client
 * referenced */
struct waiter_timer {
	long long due;
	client_t *c;
};
static struct waiter_timer *waiter_heap;
static size_t waiter_nheap, waiter_capheap;
static int waiter_stopping; /* [waiter_lock] */
static int waiter_woken;    /* [waiter_lock] the eventfd has been written */

static int waiter_list_add(struct waiter_list *l, client_t *c)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		client_t **nv = realloc(l->v, ncap * sizeof *nv);
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = c;
	return 0;
}

/* Needs waiter_lock. */
static void waiter_wake(void)
{
	if (waiter_woken || waiter_evfd < 0)
		return;
	uint64_t one = 1;
	if (write(waiter_evfd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("cannot wake the waiter: %s", strerror(errno));
	else
		waiter_woken = 1;
}

int waiter_arm(client_t *c, int want_in, int want_out)
{
	if (waiter_epfd < 0)
		return -1;
	struct epoll_event ev = {
		.events = EPOLLONESHOT | EPOLLRDHUP | (want_in ? EPOLLIN : 0) |
		          (want_out ? EPOLLOUT : 0),
		.data.ptr = c,
	};
	if (c->registered)
		return epoll_ctl(waiter_epfd, EPOLL_CTL_MOD, c->fd, &ev);
	client_ref(c);
	if (epoll_ctl(waiter_epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		log_error("%s: cannot watch the connection: %s", c->addr, strerror(errno));
		atomic_fetch_sub(&c->refs, 1); /* the caller still holds one */
		return -1;
	}
	c->registered = 1;
	atomic_fetch_add_explicit(&waiter_registered, 1, memory_order_relaxed);
	return 0;
}

void waiter_flush(client_t *c)
{
	int ok;
	client_ref(c);
	pthread_mutex_lock(&waiter_lock);
	ok = !waiter_stopping && waiter_evfd >= 0 && waiter_list_add(&waiter_flushes, c) == 0;
	if (ok)
		waiter_wake();
	pthread_mutex_unlock(&waiter_lock);
	if (!ok) {
		/* not written now; its next turn (or close) writes it */
		pthread_mutex_lock(&c->out_lock);
		c->flush_pending = 0;
		pthread_mutex_unlock(&c->out_lock);
		client_unref(c);
	}
}

static long long waiter_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Needs waiter_lock. */
static void waiter_heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < waiter_nheap && waiter_heap[l].due < waiter_heap[m].due)
			m = l;
		if (l + 1 < waiter_nheap && waiter_heap[l + 1].due < waiter_heap[m].due)
			m = l + 1;
		if (m == i)
			return;
		struct waiter_timer t = waiter_heap[i];
		waiter_heap[i] = waiter_heap[m];
		waiter_heap[m] = t;
		i = m;
	}
}

void waiter_at(client_t *c, long long due_ns)
{
	pthread_mutex_lock(&waiter_lock);
	if (waiter_stopping || waiter_evfd < 0)
		goto out;
	if (waiter_nheap == waiter_capheap) {
		size_t ncap = waiter_capheap ? waiter_capheap * 2 : 64;
		struct waiter_timer *nh = realloc(waiter_heap, ncap * sizeof *nh);
		if (!nh) {
			/* written at its next turn (or by the next broadcast) */
			log_error("%s: out of memory keeping a deadline", c->addr);
			goto out;
		}
		waiter_heap = nh;
		waiter_capheap = ncap;
	}
	size_t i = waiter_nheap++;
	while (i > 0 && waiter_heap[(i - 1) / 2].due > due_ns) {
		waiter_heap[i] = waiter_heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	waiter_heap[i] = (struct waiter_timer){ due_ns, client_ref(c) };
	if (i == 0) /* the first deadline now: the waiter sleeps too long */
		waiter_wake();
out:
	pthread_mutex_unlock(&waiter_lock);
}

long waiter_timers(void)
{
	pthread_mutex_lock(&waiter_lock);
	long n = (long)waiter_nheap;
	pthread_mutex_unlock(&waiter_lock);
	return n;
}

/* Move the clients whose deadline has passed to l; returns the ms to wait
 * for the next one (-1: none). Needs waiter_lock. */
static int waiter_due(struct waiter_list *l)
{
	long long now = waiter_now_ns();
	while (waiter_nheap > 0 && waiter_heap[0].due <= now) {
		if (waiter_list_add(l, waiter_heap[0].c) < 0)
			return 1; /* out of memory: try again soon */
		waiter_heap[0] = waiter_heap[--waiter_nheap];
		waiter_heap_down(0);
	}
	if (waiter_nheap == 0)
		return -1;
	long long ms = (waiter_heap[0].due - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void waiter_forget(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	int reg = c->registered;
	pthread_mutex_unlock(&c->out_lock);
	if (!reg)
		return;
	/* The waiter may hold an event for c from its last epoll_wait():
	 * it removes c itself, after that batch. */
	pthread_mutex_lock(&waiter_lock);
	if (waiter_list_add(&waiter_forgets, c) == 0) {
		waiter_wake();
		c = NULL;
	}
	pthread_mutex_unlock(&waiter_lock);
	if (c) /* out of memory: leave it registered (a leak, never a crash) */
		log_error("%s: out of memory forgetting the connection", c->addr);
}

long waiter_count(void)
{
	return atomic_load_explicit(&waiter_registered, memory_order_relaxed);
}

/* Take the lists (flush, forget) out from under the lock, and the
 * clients whose deadline has passed (dl); *wait_ms: how long the waiter
 * may sleep (-1: until woken). */
static int waiter_take(struct waiter_list *fl, struct waiter_list *fg, struct waiter_list *dl,
                       int *wait_ms)
{
	pthread_mutex_lock(&waiter_lock);
	uint64_t v;
	if (waiter_woken && read(waiter_evfd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_warn("waiter: reading its wake descriptor failed: %s", strerror(errno));
	waiter_woken = 0;
	struct waiter_list t = *fl;
	*fl = waiter_flushes;
	waiter_flushes = t;
	waiter_flushes.n = 0;
	t = *fg;
	*fg = waiter_forgets;
	waiter_forgets = t;
	waiter_forgets.n = 0;
	*wait_ms = waiter_due(dl);
	int stop = waiter_stopping;
	pthread_mutex_unlock(&waiter_lock);
	return stop;
}

static void waiter_drop(struct waiter_list *fg)
{
	for (size_t i = 0; i < fg->n; i++) {
		client_t *c = fg->v[i];
		if (epoll_ctl(waiter_epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
			log_debug("%s: waiter: removing it: %s", c->addr, strerror(errno));
		atomic_fetch_sub_explicit(&waiter_registered, 1, memory_order_relaxed);
		client_unref(c);
	}
	fg->n = 0;
}

static void *waiter_main(void *arg)
{
	(void)arg;
	srv_thread_name("waiter");
	struct epoll_event ev[WAITER_EVENTS];
	struct waiter_list fl = { 0 }, fg = { 0 }, dl = { 0 };
	int wait_ms = -1;
	for (;;) {
		int n = epoll_wait(waiter_epfd, ev, WAITER_EVENTS, wait_ms);
		if (n < 0 && errno != EINTR) {
			log_error("waiter: epoll_wait failed: %s", strerror(errno));
			continue;
		}
		for (int i = 0; i < n; i++)
			if (ev[i].data.ptr)
				client_ready(ev[i].data.ptr);
		/* after the batch: no event left for a client dropped here */
		int stop = waiter_take(&fl, &fg, &dl, &wait_ms);
		for (size_t i = 0; i < fl.n; i++) {
			client_flush_other(fl.v[i]);
			client_unref(fl.v[i]);
		}
		fl.n = 0;
		/* a deadline is work like a readable socket: its session writes
		 * what waited and decides what to wait for next */
		for (size_t i = 0; i < dl.n; i++) {
			client_ready(dl.v[i]);
			client_unref(dl.v[i]);
		}
		dl.n = 0;
		waiter_drop(&fg);
		if (stop)
			break;
	}
	free(fl.v);
	free(fg.v);
	free(dl.v);
	return NULL;
}

int waiter_start(void)
{
	waiter_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (waiter_epfd < 0)
		return -1;
	waiter_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (waiter_evfd < 0 || epoll_ctl(waiter_epfd, EPOLL_CTL_ADD, waiter_evfd, &ev) < 0)
		return -1;
	if (pthread_create(&waiter_thread, NULL, waiter_main, NULL) != 0)
		return -1;
	waiter_running = 1;
	return 0;
}

void waiter_stop(void)
{
	if (!waiter_running)
		return;
	pthread_mutex_lock(&waiter_lock);
	waiter_stopping = 1;
	waiter_woken = 0;
	waiter_wake();
	pthread_mutex_unlock(&waiter_lock);
	pthread_join(waiter_thread, NULL);
	waiter_running = 0;
	/* what was queued after its last turn */
	struct waiter_list fl = { 0 }, fg = { 0 }, dl = { 0 };
	int wait_ms;
	waiter_take(&fl, &fg, &dl, &wait_ms);
	for (size_t i = 0; i < dl.n; i++)
		client_unref(dl.v[i]);
	free(dl.v);
	for (size_t i = 0; i < fl.n; i++) {
		pthread_mutex_lock(&fl.v[i]->out_lock);
		fl.v[i]->flush_pending = 0;
		pthread_mutex_unlock(&fl.v[i]->out_lock);
		client_unref(fl.v[i]);
	}
	waiter_drop(&fg);
	free(fl.v);
	free(fg.v);
	/* deadlines not yet due: their output is left to the session's end */
	pthread_mutex_lock(&waiter_lock);
	for (size_t i = 0; i < waiter_nheap; i++)
		client_unref(waiter_heap[i].c);
	free(waiter_heap);
	waiter_heap = NULL;
	waiter_nheap = waiter_capheap = 0;
	pthread_mutex_unlock(&waiter_lock);
	free(waiter_flushes.v);
	free(waiter_forgets.v);
	waiter_flushes = (struct waiter_list){ 0 };
	waiter_forgets = (struct waiter_list){ 0 };
	/* the epoll and wake descriptors stay open: a session that outlived
	 * the shutdown wait may still arm (and then never be woken) */
}
