/* client.c - connections and their output queues; see client.h. */
#include "config.h"
#include "client.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "server.h"
#include "tls.h"
#include "uring.h"
#include "waiter.h"

#include <errno.h>
#include <poll.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	const char *s = proto_text(o, &l);
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
	atomic_init(&c->refs, 1);
	c->owned = 1; /* a new connection belongs to whoever serves it first */
	c->fd = fd;
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->user_id = -1;
	c->protocol = 1;
	pthread_mutex_init(&c->out_lock, NULL);
	c->anon_since_ms = srv_now_ms();
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
	if (c->tls)
		tls_conn_free(c->tls);
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

/* Clients to flush at client_defer_end(), referenced. [this thread only] */
static __thread struct {
	int active;
	client_t *self;
	client_t **v;
	size_t n, cap;
} client_deferred;

/* A worker thread keeps its deferral array from turn to turn; this key's
 * destructor frees it when the thread exits. */
static pthread_key_t client_defer_key;
static pthread_once_t client_defer_once = PTHREAD_ONCE_INIT;

static void client_defer_exit(void *unused)
{
	(void)unused;
	client_defer_free();
}

static void client_defer_key_init(void)
{
	if (pthread_key_create(&client_defer_key, client_defer_exit) != 0)
		log_warn("cannot register the deferral cleanup: a thread's array may leak");
}

static void client_flush_batch(client_t **v, size_t n);

void client_defer_begin(client_t *self)
{
	client_deferred.active = 1;
	client_deferred.self = self;
}

void client_defer_end(void)
{
	/* Write for the recipients ourselves, now that no lock is held: no
	 * thread switch, and one system call for many recipients (uring.h).
	 * Those whose socket is full are parked waiting for room. */
	client_flush_batch(client_deferred.v, client_deferred.n);
	for (size_t i = 0; i < client_deferred.n; i++)
		client_unref(client_deferred.v[i]);
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

/* Get c's queue written: at client_defer_end() when deferring, else by the
 * waiter (the caller may hold the table lock: no socket write here). */
static void client_flush_later(client_t *c)
{
	if (!client_deferred.active) {
		waiter_flush(c);
		return;
	}
	if (client_deferred.n == client_deferred.cap) {
		size_t ncap = client_deferred.cap ? client_deferred.cap * 2 : 64;
		client_t **nv = realloc(client_deferred.v, ncap * sizeof *nv);
		if (!nv) {
			waiter_flush(c);
			return;
		}
		if (!client_deferred.v) {
			pthread_once(&client_defer_once, client_defer_key_init);
			pthread_setspecific(client_defer_key, nv);
		}
		client_deferred.v = nv;
		client_deferred.cap = ncap;
	}
	client_deferred.v[client_deferred.n++] = client_ref(c);
}

/* Queue b; self: the holder queues its own reply (see client_send). */
static int client_queue(client_t *c, outbuf_t *b, int flush, size_t max_output, int self)
{
	int do_flush = 0, over = 0;
	if (atomic_load_explicit(&c->closing, memory_order_relaxed))
		return -1;
	pthread_mutex_lock(&c->out_lock);
	if (!self && c->qbytes + b->len > max_output) {
		over = 1;
	} else if (c->qlen == c->qcap && client_grow(c) < 0) {
		over = 1;
	} else {
		c->q[(c->qhead + c->qlen) % c->qcap] = b;
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		c->qlen++;
		c->qbytes += b->len;
		/* a held client is flushed by its holder before it parks */
		if (flush && !c->flush_pending && !c->owned &&
		    !(client_deferred.active && c == client_deferred.self)) {
			c->flush_pending = 1;
			do_flush = 1;
		}
	}
	pthread_mutex_unlock(&c->out_lock);
	if (over) {
		client_close(c, "slow consumer: unsent output over the limit");
		return -1;
	}
	if (do_flush)
		client_flush_later(c);
	return 0;
}

int client_push(client_t *c, outbuf_t *b, int flush, size_t max_output)
{
	return client_queue(c, b, flush, max_output, 0);
}

int client_send(client_t *c, json_object *o, size_t max_output)
{
	outbuf_t *b = outbuf_json(o);
	if (!b)
		return -1;
	int rc = client_queue(c, b, 0, max_output, 1);
	outbuf_unref(b);
	return rc;
}

static long long client_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The connection's I/O ----------------------------------------------------- */

ssize_t client_read(client_t *c, void *buf, size_t n)
{
	ssize_t r;
	if (!c->tls) {
		do
			r = read(c->fd, buf, n);
		while (r < 0 && errno == EINTR);
		return r;
	}
	int want;
	r = tls_read(c->tls, buf, n, &want);
	c->io_rd_wants_out = r < 0 && errno == EAGAIN && want == TLS_WANT_OUT;
	return r;
}

ssize_t client_write(client_t *c, const void *buf, size_t n)
{
	ssize_t w;
	if (!c->tls) {
		do
			w = write(c->fd, buf, n);
		while (w < 0 && errno == EINTR);
		return w;
	}
	int want;
	w = tls_write(c->tls, buf, n, &want);
	c->io_wr_wants_in = w < 0 && errno == EAGAIN && want == TLS_WANT_IN;
	return w;
}

/* Several buffers at once: one writev() on a plain socket; over TLS, as
 * many as fill one record, copied together so that a burst of small
 * messages becomes one record rather than one each. A write that could not
 * finish is retried from the same queue position, so the same bytes come
 * first again (tls.h). */
static ssize_t client_writev(client_t *c, const struct iovec *iov, int n)
{
	if (!c->tls) {
		ssize_t w;
		do
			w = writev(c->fd, iov, n);
		while (w < 0 && errno == EINTR);
		return w;
	}
	if (n == 1)
		return client_write(c, iov[0].iov_base, iov[0].iov_len);
	char rec[TLS_RECORD_MAX];
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof rec; i++) {
		size_t k = iov[i].iov_len < sizeof rec - len ? iov[i].iov_len : sizeof rec - len;
		memcpy(rec + len, iov[i].iov_base, k);
		len += k;
	}
	return client_write(c, rec, len);
}

short client_poll_events(const client_t *c, int in, int out)
{
	short ev = 0;
	if (in)
		ev |= c->io_rd_wants_out ? POLLOUT : POLLIN;
	if (out)
		ev |= c->io_wr_wants_in ? POLLIN : POLLOUT;
	return ev;
}

int client_tls_step(client_t *c, char *why, size_t whylen)
{
	if (!c->tls) {
		c->tls = tls_conn_new(c->fd);
		if (!c->tls) {
			snprintf(why, whylen, "out of memory for its TLS state");
			return -1;
		}
	}
	int want;
	int r = tls_handshake(c->tls, &want, why, whylen);
	c->io_rd_wants_out = r == 0 && want == TLS_WANT_OUT;
	if (r == 1) {
		/* under out_lock: client_flush_other() reads it */
		pthread_mutex_lock(&c->out_lock);
		c->tls_ready = 1;
		pthread_mutex_unlock(&c->out_lock);
	}
	return r;
}

void client_tls_bye(client_t *c)
{
	if (c->tls && c->tls_ready)
		tls_bye(c->tls);
}

/* Whether queued output may be written now: not before the TLS handshake
 * is done, nor during a raw transfer. Needs out_lock (hold). */
static int client_can_write(const client_t *c)
{
	return !c->hold && (!c->tls_port || c->tls_ready);
}

/* The next write of c's queue: up to max buffers from its head, as iovecs
 * that stay valid until client_wrote() (the queue keeps the buffers
 * referenced, and only the holder removes them). The caller holds c.
 * Returns 0 (queue empty), 1 (output held back by a raw transfer, the TLS
 * handshake or a delay), or 2 (iov filled: *n buffers, *total bytes). */
static int client_next_write(client_t *c, struct iovec *iov, int max, int *n, size_t *total)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->due_ns && client_now_ns() >= c->due_ns)
		c->due_ns = 0;
	if (c->qlen == 0 || !client_can_write(c) || c->due_ns) {
		int empty = c->qlen == 0;
		if (empty && c->qcap > CLIENT_QINIT) {
			free(c->q);
			c->q = NULL;
			c->qcap = c->qhead = 0;
		}
		pthread_mutex_unlock(&c->out_lock);
		return empty ? 0 : 1;
	}
	*n = 0;
	*total = 0;
	for (unsigned i = 0; i < c->qlen && *n < max; i++) {
		outbuf_t *b = c->q[(c->qhead + i) % c->qcap];
		size_t off = i == 0 ? c->qoff : 0;
		iov[*n].iov_base = b->data + off;
		iov[*n].iov_len = b->len - off;
		*total += iov[*n].iov_len;
		(*n)++;
	}
	pthread_mutex_unlock(&c->out_lock);
	return 2;
}

/* Account for a write of total bytes from the queue's head that wrote w
 * (or failed with err, w < 0). Returns -1 (socket error), 1 (socket full),
 * or 2 (all written: there may be more). */
static int client_wrote(client_t *c, ssize_t w, int err, size_t total)
{
	if (w < 0)
		return err == EAGAIN || err == EWOULDBLOCK ? 1 : -1;
	pthread_mutex_lock(&c->out_lock);
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
	int full = !c->tls && (size_t)w < total && c->qlen > 0;
	pthread_mutex_unlock(&c->out_lock);
	/* a short write means the socket buffer is full (over TLS, one
	 * record went out: the next write finds out) */
	return full ? 1 : 2;
}

/* Write the queue until it is empty or the socket is full; the caller
 * holds c. Returns 0 (empty), 1 (socket full, or output held back by a
 * raw transfer or a delay), -1 (socket error). */
static int client_write_queue(client_t *c)
{
	for (;;) {
		struct iovec iov[CLIENT_IOV_MAX];
		int n;
		size_t total;
		int rc = client_next_write(c, iov, CLIENT_IOV_MAX, &n, &total);
		if (rc != 2)
			return rc;
		ssize_t w = client_writev(c, iov, n);
		rc = client_wrote(c, w, w < 0 ? errno : 0, total);
		if (rc != 2)
			return rc;
	}
}

int client_flush(client_t *c)
{
	return client_write_queue(c);
}

void client_delay(client_t *c, long long due_ns)
{
	pthread_mutex_lock(&c->out_lock);
	if (due_ns > c->due_ns)
		c->due_ns = due_ns;
	pthread_mutex_unlock(&c->out_lock);
}

void client_wait_delay(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	long long due = c->due_ns;
	pthread_mutex_unlock(&c->out_lock);
	if (due <= 0)
		return;
	struct timespec ts = { (time_t)(due / 1000000000LL), (long)(due % 1000000000LL) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Watch c in the waiter as its holder lets it go; needs out_lock. Output
 * that waits for a delay (client_delay) is not a reason to wait for room
 * in the socket: the waiter hands c to a worker when the delay is over,
 * whose turn writes it (and waits for room, or reads again, as usual). */
static int client_arm(client_t *c, int want_in, int want_out)
{
	/* TLS: a read that must write first waits for room (not for input,
	 * which is there already and would wake it again at once), a write
	 * that must read first waits for input */
	if (want_in && c->io_rd_wants_out) {
		want_in = 0;
		want_out = 1;
	}
	if (want_out && c->io_wr_wants_in) {
		want_out = 0;
		want_in = 1;
	}
	/* decrypted input inside OpenSSL: epoll would never report it, so
	 * have the waiter hand the connection back now */
	if (want_in && c->tls && tls_pending(c->tls)) {
		if (waiter_arm(c, want_in, want_out) < 0)
			return -1;
		waiter_at(c, 0);
		return 0;
	}
	if (!c->due_ns || c->qlen == 0 || c->hold)
		return waiter_arm(c, want_in, want_out);
	if (waiter_arm(c, want_in, 0) < 0)
		return -1;
	waiter_at(c, c->due_ns);
	return 0;
}

void (*client_let_go_test_hook)(client_t *c);

/* Output queued for c while this thread held it and found the queue empty:
 * its pusher saw c held and left the write to the holder, so nobody else
 * writes it. Needs out_lock. */
static int client_queued_meanwhile(const client_t *c)
{
	return c->qlen > 0 && client_can_write(c) && !c->due_ns && !c->gone &&
	       !atomic_load_explicit(&c->closing, memory_order_relaxed);
}

/* The thread that took c in client_flush_other() lets it go again, rc being
 * what client_write_queue() returned. Returns 1 when output was pushed
 * meanwhile: c stays held and the caller writes again. */
static int client_let_go(client_t *c, int rc)
{
	int resume = 0, again = 0;
	if (client_let_go_test_hook)
		client_let_go_test_hook(c);
	pthread_mutex_lock(&c->out_lock);
	if (c->kick && !c->gone) {
		/* the waiter reported it meanwhile: serve it now */
		c->kick = 0;
		resume = 1;
	} else if (rc == 0 && client_queued_meanwhile(c)) {
		again = 1;
	} else {
		if (rc == 1 && !c->gone)
			client_arm(c, 1, 1);
		c->owned = 0;
	}
	pthread_mutex_unlock(&c->out_lock);
	if (resume)
		pool_resume(c);
	return again;
}

/* Take c to write what was queued for it; 1 when this thread now holds
 * it. 0 when somebody else writes it: its holder, the worker a close
 * wakes, or the turn that finishes the TLS handshake (*left: whether
 * output is queued). */
static int client_take(client_t *c, int *left)
{
	pthread_mutex_lock(&c->out_lock);
	c->flush_pending = 0;
	if (c->owned || c->gone || atomic_load_explicit(&c->closing, memory_order_relaxed) ||
	    (c->tls_port && !c->tls_ready)) {
		*left = c->qlen > 0;
		pthread_mutex_unlock(&c->out_lock);
		return 0;
	}
	c->owned = 1;
	pthread_mutex_unlock(&c->out_lock);
	return 1;
}

/* c taken with client_take() was written, rc being what
 * client_write_queue() returns: let it go, writing first what was queued
 * meanwhile. Returns whether output is left for the waiter. */
static int client_done_writing(client_t *c, int rc)
{
	for (;;) {
		if (rc < 0) /* its session notices and ends it */
			client_close(c, "connection error while writing");
		if (!client_let_go(c, rc))
			return rc != 0;
		rc = client_write_queue(c);
	}
}

int client_flush_other(client_t *c)
{
	int left;
	if (!client_take(c, &left))
		return left;
	return client_done_writing(c, client_write_queue(c));
}

/* The deferred recipients' queues, written with one system call for many
 * sockets (uring.h) when there are enough of them: each taken as
 * client_flush_other() takes it, its first write sent in the batch, the
 * rest of its queue (past CLIENT_BATCH_IOV buffers) written right after as
 * before. TLS connections, which write through OpenSSL, are written as
 * before once the batch is out. Entries the io_uring could not send are
 * written here with writev(). */
static void client_flush_batch(client_t **v, size_t n)
{
	if (n < URING_BATCH_MIN) {
		for (size_t i = 0; i < n; i++)
			client_flush_other(v[i]);
		return;
	}
	for (size_t at = 0; at < n; at += URING_ENTRIES) {
		size_t k = n - at < URING_ENTRIES ? n - at : URING_ENTRIES, m = 0;
		size_t ntls = 0;
		struct iovec iov[URING_ENTRIES][CLIENT_BATCH_IOV];
		struct uring_send snd[URING_ENTRIES];
		size_t total[URING_ENTRIES];
		client_t *who[URING_ENTRIES], *tls[URING_ENTRIES];
		for (size_t i = at; i < at + k; i++) {
			client_t *c = v[i];
			int left, cnt;
			if (!client_take(c, &left))
				continue;
			if (c->tls) { /* held, written after the batch */
				tls[ntls++] = c;
				continue;
			}
			int rc = client_next_write(c, iov[m], CLIENT_BATCH_IOV, &cnt, &total[m]);
			if (rc != 2) {
				client_done_writing(c, rc);
				continue;
			}
			snd[m] = (struct uring_send){ .fd = c->fd, .iov = iov[m], .iovcnt = cnt };
			who[m++] = c;
		}
		uring_sendv(snd, m);
		for (size_t j = 0; j < m; j++) {
			client_t *c = who[j];
			ssize_t w = snd[j].result;
			int err = 0;
			if (w == URING_UNSENT) {
				w = client_writev(c, snd[j].iov, snd[j].iovcnt);
				err = w < 0 ? errno : 0;
			} else if (w < 0) {
				err = (int)-w;
				w = -1;
			}
			int rc = err == EINTR ? 2 : client_wrote(c, w, err, total[j]);
			if (rc == 2)
				rc = client_write_queue(c);
			client_done_writing(c, rc);
		}
		/* encrypting does not hold up the plain recipients */
		for (size_t j = 0; j < ntls; j++)
			client_done_writing(tls[j], client_write_queue(tls[j]));
	}
}

int client_park(client_t *c, int want_in, int want_out)
{
	int parked = 0;
	pthread_mutex_lock(&c->out_lock);
	if (c->kick) {
		c->kick = 0;
	} else if (atomic_load_explicit(&c->closing, memory_order_acquire)) {
		/* serve on: the session ends it */
	} else if (c->qlen > 0 && !want_out && client_can_write(c)) {
		/* queued while we were busy and not written yet */
	} else if (client_arm(c, want_in, want_out) == 0) {
		c->owned = 0;
		parked = 1;
	}
	pthread_mutex_unlock(&c->out_lock);
	return parked;
}

void client_ready(client_t *c)
{
	int take = 0;
	pthread_mutex_lock(&c->out_lock);
	if (!c->gone) {
		if (c->owned) {
			c->kick = 1;
		} else {
			c->owned = 1;
			take = 1;
		}
	}
	pthread_mutex_unlock(&c->out_lock);
	if (take)
		pool_resume(c);
}

void client_retire(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	c->gone = 1;
	c->kick = 0;
	pthread_mutex_unlock(&c->out_lock);
	waiter_forget(c);
}

void client_hold(client_t *c, int on)
{
	pthread_mutex_lock(&c->out_lock);
	c->hold = on;
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
	/* Wakes the holder's poll() or the waiter (reads return 0, POLLRDHUP)
	 * while leaving the write side open, so the session can still send a
	 * last message. */
	shutdown(c->fd, SHUT_RD);
}

size_t client_queued(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	size_t n = c->qbytes;
	pthread_mutex_unlock(&c->out_lock);
	return n;
}
