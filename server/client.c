/* client.c - connections and their output queues; see client.h. */
#include "config.h"
#include "client.h"
#include "log.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Buffers handed to one writev(); more wait for the next call. */
#define CLIENT_IOV_MAX 128
/* An empty queue keeps no ring: idle clients cost no queue memory. */
#define CLIENT_QINIT 8

outbuf_t *outbuf_new(const char *data, size_t len)
{
	outbuf_t *b = malloc(sizeof *b + len);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	memcpy(b->data, data, len);
	return b;
}

outbuf_t *outbuf_json(json_object *o)
{
	size_t l = 0;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &l);
	if (!s)
		return NULL;
	outbuf_t *b = malloc(sizeof *b + l + 1);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	memcpy(b->data, s, l);
	b->data[l] = '\n';
	b->len = l + 1;
	return b;
}

void outbuf_unref(outbuf_t *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

client_t *client_new(int fd, const char *addr)
{
	client_t *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->evfd < 0) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->fd = fd;
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->user_id = -1;
	c->protocol = 1;
	pthread_mutex_init(&c->out_lock, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->anon_since_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	atomic_init(&c->last_rx_ms, c->anon_since_ms);
	return c;
}

client_t *client_ref(client_t *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void client_unref(client_t *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned i = 0; i < c->qlen; i++)
		outbuf_unref(c->q[(c->qhead + i) % c->qcap]);
	free(c->q);
	pthread_mutex_destroy(&c->out_lock);
	close(c->evfd);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* Grow the ring; needs out_lock. */
static int client_grow(client_t *c)
{
	unsigned ncap = c->qcap ? c->qcap * 2 : CLIENT_QINIT;
	outbuf_t **nq = malloc(ncap * sizeof *nq);
	if (!nq)
		return -1;
	for (unsigned i = 0; i < c->qlen; i++)
		nq[i] = c->q[(c->qhead + i) % c->qcap];
	free(c->q);
	c->q = nq;
	c->qcap = ncap;
	c->qhead = 0;
	return 0;
}

/* Clients to wake at client_defer_end(), referenced. [this thread only] */
static __thread struct {
	int active;
	client_t *self;
	client_t **v;
	size_t n, cap;
} client_deferred;

static void client_wake(client_t *c)
{
	uint64_t one = 1;
	if (write(c->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd write failed: %s", c->addr, strerror(errno));
}

void client_defer_begin(client_t *self)
{
	client_deferred.active = 1;
	client_deferred.self = self;
}

void client_defer_end(void)
{
	/* Write for the recipients ourselves; wake only those whose socket
	 * is full (their worker then waits for room). */
	for (size_t i = 0; i < client_deferred.n; i++) {
		if (client_flush_other(client_deferred.v[i]))
			client_wake(client_deferred.v[i]);
		client_unref(client_deferred.v[i]);
	}
	client_deferred.n = 0;
	client_deferred.active = 0;
	client_deferred.self = NULL;
	if (client_deferred.cap > 1024) { /* do not keep a burst's array */
		free(client_deferred.v);
		client_deferred.v = NULL;
		client_deferred.cap = 0;
	}
}

void client_defer_free(void)
{
	free(client_deferred.v);
	client_deferred.v = NULL;
	client_deferred.cap = 0;
}

/* Wake c now, or at client_defer_end() when deferring. */
static void client_wake_or_defer(client_t *c)
{
	if (!client_deferred.active) {
		client_wake(c);
		return;
	}
	if (c == client_deferred.self)
		return;
	if (client_deferred.n == client_deferred.cap) {
		size_t ncap = client_deferred.cap ? client_deferred.cap * 2 : 64;
		client_t **nv = realloc(client_deferred.v, ncap * sizeof *nv);
		if (!nv) {
			client_wake(c);
			return;
		}
		client_deferred.v = nv;
		client_deferred.cap = ncap;
	}
	client_deferred.v[client_deferred.n++] = client_ref(c);
}

int client_push(client_t *c, outbuf_t *b, int wake, size_t max_output)
{
	int do_wake = 0, over = 0;
	if (atomic_load_explicit(&c->closing, memory_order_relaxed))
		return -1;
	pthread_mutex_lock(&c->out_lock);
	if (c->qbytes + b->len > max_output) {
		over = 1;
	} else if (c->qlen == c->qcap && client_grow(c) < 0) {
		over = 1;
	} else {
		c->q[(c->qhead + c->qlen) % c->qcap] = b;
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		c->qlen++;
		c->qbytes += b->len;
		if (wake && !c->wake_pending) {
			c->wake_pending = 1;
			do_wake = 1;
		}
	}
	pthread_mutex_unlock(&c->out_lock);
	if (over) {
		client_close(c, "slow consumer: unsent output over the limit");
		return -1;
	}
	if (do_wake)
		client_wake_or_defer(c);
	return 0;
}

int client_send(client_t *c, json_object *o, size_t max_output)
{
	outbuf_t *b = outbuf_json(o);
	if (!b)
		return -1;
	int rc = client_push(c, b, 0, max_output);
	outbuf_unref(b);
	return rc;
}

void client_clear_wake(client_t *c)
{
	uint64_t v;
	/* wake_pending stays set: client_flush() clears it once the queue is
	 * empty, so pushes until then need not wake us again */
	if (read(c->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd read failed: %s", c->addr, strerror(errno));
}

/* Write the queue until it is empty or the socket is full. Returns 0
 * (empty, or another thread is writing and will empty it), 1 (socket full),
 * -1 (socket error). */
static int client_write_queue(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->writing || c->hold) {
		int held = c->hold && c->qlen > 0;
		pthread_mutex_unlock(&c->out_lock);
		return held;
	}
	c->writing = 1;
	for (;;) {
		struct iovec iov[CLIENT_IOV_MAX];
		int n = 0;
		size_t total = 0;
		if (c->qlen == 0 || c->hold) {
			int empty = c->qlen == 0;
			if (empty) {
				c->wake_pending = 0; /* the next push must wake us */
				if (c->qcap > CLIENT_QINIT) {
					free(c->q);
					c->q = NULL;
					c->qcap = c->qhead = 0;
				}
			}
			c->writing = 0;
			pthread_mutex_unlock(&c->out_lock);
			return empty ? 0 : 1;
		}
		/* Buffers stay referenced by the ring while we write outside the
		 * lock; only the thread with `writing` removes them. */
		for (unsigned i = 0; i < c->qlen && n < CLIENT_IOV_MAX; i++) {
			outbuf_t *b = c->q[(c->qhead + i) % c->qcap];
			size_t off = i == 0 ? c->qoff : 0;
			iov[n].iov_base = b->data + off;
			iov[n].iov_len = b->len - off;
			total += iov[n].iov_len;
			n++;
		}
		pthread_mutex_unlock(&c->out_lock);

		ssize_t w;
		do
			w = writev(c->fd, iov, n);
		while (w < 0 && errno == EINTR);

		pthread_mutex_lock(&c->out_lock);
		if (w < 0) {
			int full = errno == EAGAIN || errno == EWOULDBLOCK;
			c->writing = 0;
			pthread_mutex_unlock(&c->out_lock);
			return full ? 1 : -1;
		}
		size_t left = (size_t)w;
		c->qbytes -= left;
		while (left > 0) {
			outbuf_t *b = c->q[c->qhead];
			size_t rest = b->len - c->qoff;
			if (left < rest) {
				c->qoff += left;
				break;
			}
			left -= rest;
			c->qoff = 0;
			c->qhead = (c->qhead + 1) % c->qcap;
			c->qlen--;
			outbuf_unref(b);
		}
		if ((size_t)w < total && c->qlen > 0) {
			/* a short write means the socket buffer is full */
			c->writing = 0;
			pthread_mutex_unlock(&c->out_lock);
			return 1;
		}
	}
}

int client_flush(client_t *c)
{
	return client_write_queue(c);
}

int client_flush_other(client_t *c)
{
	if (atomic_load_explicit(&c->closing, memory_order_relaxed))
		return 1; /* let its worker finish it */
	return client_write_queue(c) != 0;
}

void client_hold(client_t *c, int on)
{
	pthread_mutex_lock(&c->out_lock);
	c->hold = on;
	while (on && c->writing) {
		pthread_mutex_unlock(&c->out_lock);
		sched_yield();
		pthread_mutex_lock(&c->out_lock);
	}
	pthread_mutex_unlock(&c->out_lock);
}

void client_close(client_t *c, const char *reason)
{
	/* The reason is set first and once, then `closing`: whoever sees
	 * closing set also sees why. */
	const char *none = NULL;
	if (!atomic_compare_exchange_strong(&c->close_reason, &none, reason))
		return;
	atomic_store(&c->closing, 1);
	/* Wakes the worker's poll() (reads return 0) while leaving the write
	 * side open, so the worker can still send a last message. */
	shutdown(c->fd, SHUT_RD);
}

size_t client_queued(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	size_t n = c->qbytes;
	pthread_mutex_unlock(&c->out_lock);
	return n;
}
