/* test_client.c - output queues (server/client.c) over a real non-blocking
 * AF_UNIX socket pair: pushing and flushing, ring growth, the max_output
 * limit, partial writes to a small socket buffer, parking in the waiter and
 * being handed back to the pool (readable, writable, closing), flushes by
 * the waiter and deferred flushes (to many clients: one batch through
 * io_uring, with full sockets, dead peers, long queues, TLS recipients, the
 * ring turned off, and the waiter's workers writing alongside), holding
 * the queue, and closing; and a
 * TLS connection parked with decrypted input left inside OpenSSL, which
 * epoll cannot see, handed back all the same.
 *
 * The test thread holds each new client as its worker would; tests that
 * park it run a real waiter and a pool of two workers whose serve()
 * writes what is queued, reads what arrived and parks the client again. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

#include <openssl/ssl.h>

#include "client.h"
#include "log.h"
#include "pool.h"
#include "tls.h"
#include "uring.h"
#include "waiter.h"
#include "test_certs.h"
#include "test_slow.h"

#define BIG (1 << 20) /* max_output that is never reached */

struct fixture {
	client_t *c;
	int peer; /* the other end: what the user would receive */
};

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_int_not_equal(fl, -1);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	int sv[2];
	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	nonblock(sv[0]);
	nonblock(sv[1]);
	f->c = client_new(sv[0], "127.0.0.1:4242");
	assert_non_null(f->c);
	f->peer = sv[1];
	*state = f;
	return 0;
}

/* What the pool's serve() did; guarded by served.lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int turns;        /* serve() calls */
	char in[256];     /* bytes it read from the client */
	size_t nin;
	int saw_closing;  /* a turn found the client closing */
} served = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

/* A worker's turn, as session.c takes it: read, write, park. */
static void serve(client_t *c)
{
	char buf[64];
	ssize_t r = 0;
	int closing = atomic_load(&c->closing);
	if (closing) {
		/* a closing client is left held, its output unwritten: the test
		 * takes it back and ends it */
		pthread_mutex_lock(&served.lock);
		served.turns++;
		served.saw_closing = 1;
		pthread_cond_broadcast(&served.changed);
		pthread_mutex_unlock(&served.lock);
		return;
	}
	while ((r = client_read(c, buf, sizeof buf)) > 0) {
		pthread_mutex_lock(&served.lock);
		for (ssize_t i = 0; i < r && served.nin + 1 < sizeof served.in; i++)
			served.in[served.nin++] = buf[i];
		pthread_mutex_unlock(&served.lock);
	}
	int rc = client_flush(c);
	pthread_mutex_lock(&served.lock);
	served.turns++;
	pthread_cond_broadcast(&served.changed);
	pthread_mutex_unlock(&served.lock);
	while (!client_park(c, r != 0, rc == 1))
		rc = client_flush(c);
}

static int served_turns(void)
{
	pthread_mutex_lock(&served.lock);
	int n = served.turns;
	pthread_mutex_unlock(&served.lock);
	return n;
}

/* Wait up to 5 s (slow_ms) until serve() ran more than
 * `after` times. */
static int wait_turns(int after)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += slow_ms(5000) / 1000;
	pthread_mutex_lock(&served.lock);
	while (served.turns <= after)
		if (pthread_cond_timedwait(&served.changed, &served.lock, &ts) != 0)
			break;
	int ok = served.turns > after;
	pthread_mutex_unlock(&served.lock);
	return ok;
}

/* Take the client back from the waiter (as its next worker would); one
 * never parked is still held by the test. */
static void take_back(client_t *c)
{
	for (long i = 0; i < slow_ms(5000); i++) {
		pthread_mutex_lock(&served.lock);
		int closed_turn = served.saw_closing;
		pthread_mutex_unlock(&served.lock);
		pthread_mutex_lock(&c->out_lock);
		int got = !c->registered || !c->owned || (atomic_load(&c->closing) && closed_turn);
		if (got)
			c->owned = 1;
		pthread_mutex_unlock(&c->out_lock);
		if (got)
			return;
		poll(NULL, 0, 1);
	}
	fail_msg("the client stayed held by another thread");
}

static int group_setup(void **state)
{
	(void)state;
	log_init("test_client", LOG_LVL_ERROR, 1, 0);
	if (pool_start(2, 8, 256 * 1024, serve) < 0 || waiter_start() < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	client_defer_free();
	take_back(f->c);
	client_retire(f->c);
	pthread_mutex_lock(&served.lock);
	served.nin = 0;
	served.saw_closing = 0;
	pthread_mutex_unlock(&served.lock);
	client_unref(f->c);
	close(f->peer);
	free(f);
	return 0;
}

/* Shrink both ends' buffers so that a few kilobytes fill the socket. */
static void small_buffers(struct fixture *f)
{
	int sz = 4096;
	assert_int_equal(setsockopt(f->c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
	assert_int_equal(setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
}

/* Everything the peer can read now, NUL-terminated, in a malloc'd buffer. */
static char *drain(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void assert_received(struct fixture *f, const char *want)
{
	size_t n;
	char *got = drain(f->peer, &n);
	assert_int_equal(n, strlen(want));
	assert_string_equal(got, want);
	free(got);
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int push_str(client_t *c, const char *s, int wake, size_t max)
{
	outbuf_t *b = outbuf_new(s, strlen(s));
	assert_non_null(b);
	int rc = client_push(c, b, wake, max);
	outbuf_unref(b);
	return rc;
}

/* Line i of a numbered stream, exactly `len` bytes including its newline. */
static void line(char *out, size_t len, int i)
{
	memset(out, 'a' + i % 26, len - 1);
	char head[16];
	int h = snprintf(head, sizeof head, "%06d ", i);
	memcpy(out, head, (size_t)h);
	out[len - 1] = '\n';
}

/* ---- pushing and flushing ---- */

static void test_flush_delivers_queued_messages_in_order(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(push_str(f->c, "one\n", 0, BIG), 0);
	assert_int_equal(push_str(f->c, "two\n", 0, BIG), 0);
	assert_int_equal(push_str(f->c, "three\n", 0, BIG), 0);
	assert_int_equal(client_queued(f->c), 14);
	assert_false(readable(f->peer)); /* pushing never writes */
	assert_int_equal(client_flush(f->c), 0);
	assert_int_equal(client_queued(f->c), 0);
	assert_received(f, "one\ntwo\nthree\n");
	/* flushing an empty queue is fine */
	assert_int_equal(client_flush(f->c), 0);
}

static void test_queue_holds_its_own_reference_until_sent(void **state)
{
	struct fixture *f = *state;
	outbuf_t *b = outbuf_new("shared\n", 7);

	assert_int_equal(client_push(f->c, b, 0, BIG), 0);
	assert_int_equal(client_push(f->c, b, 0, BIG), 0); /* the same buffer twice */
	assert_int_equal(atomic_load(&b->refs), 3);
	assert_int_equal(client_flush(f->c), 0);
	assert_int_equal(atomic_load(&b->refs), 1);
	outbuf_unref(b);
	assert_received(f, "shared\nshared\n");
}

static void test_send_serializes_json_as_one_line(void **state)
{
	struct fixture *f = *state;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "message_type", json_object_new_string("heartbeat"));
	json_object_object_add(o, "path", json_object_new_string("a/b"));
	assert_int_equal(client_send(f->c, o, BIG), 0);
	json_object_put(o);
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "{\"message_type\":\"heartbeat\",\"path\":\"a/b\"}\n");
}

static void test_ring_grows_for_many_messages_and_keeps_order(void **state)
{
	struct fixture *f = *state;
	char want[1000 * 8 + 1] = "", l[9];
	size_t wl = 0;

	for (int i = 0; i < 1000; i++) {
		line(l, 8, i);
		l[8] = '\0';
		assert_int_equal(push_str(f->c, l, 0, BIG), 0);
		memcpy(want + wl, l, 8);
		wl += 8;
	}
	want[wl] = '\0';
	assert_true(f->c->qcap >= 1000);
	assert_int_equal(client_queued(f->c), 8000);
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, want);
	/* an emptied queue gives its large ring back */
	assert_null(f->c->q);
	assert_int_equal(f->c->qcap, 0);
}

/* Reads what the peer can, then flushes, until the queue is empty;
 * returns everything received (malloc'd, NUL-terminated). */
static char *flush_all(struct fixture *f, int rc, size_t *got)
{
	size_t cap = 1 << 20;
	char *all = malloc(cap + 1);
	int rounds = 0;
	assert_non_null(all);
	*got = 0;
	for (;;) {
		size_t n;
		char *part = drain(f->peer, &n);
		assert_true(*got + n <= cap);
		memcpy(all + *got, part, n);
		*got += n;
		free(part);
		if (rc == 0)
			break;
		rc = client_flush(f->c);
		assert_true(rc == 0 || rc == 1);
		assert_true(++rounds < 100000);
	}
	all[*got] = '\0';
	return all;
}

static void test_pushes_during_a_partial_send_keep_order(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 3000 };
	static char want[20 * LEN + 1];
	char l[LEN + 1];
	size_t got;

	small_buffers(f);
	/* half sent, then more queued behind the remainder: the ring wraps
	 * and grows while its head is not at slot 0 */
	for (int i = 0; i < 7; i++) {
		line(l, LEN, i);
		l[LEN] = '\0';
		assert_int_equal(push_str(f->c, l, 0, BIG), 0);
	}
	assert_int_equal(client_flush(f->c), 1);
	assert_true(f->c->qhead > 0 || f->c->qoff > 0);
	for (int i = 7; i < 20; i++) {
		line(l, LEN, i);
		l[LEN] = '\0';
		assert_int_equal(push_str(f->c, l, 0, BIG), 0);
	}
	for (int i = 0; i < 20; i++)
		line(want + i * LEN, LEN, i);
	want[20 * LEN] = '\0';
	char *all = flush_all(f, 1, &got);
	assert_int_equal(got, 20 * LEN);
	assert_string_equal(all, want);
	free(all);
}

static void test_message_larger_than_the_socket_buffer_arrives_whole(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 100000 };
	static char big[LEN + 1];
	size_t got;

	small_buffers(f);
	for (int i = 0; i < LEN; i++)
		big[i] = (char)('0' + (i * 7 + i / 10) % 75);
	big[LEN] = '\0';
	assert_int_equal(push_str(f->c, big, 0, BIG), 0);
	assert_int_equal(push_str(f->c, "after\n", 0, BIG), 0);
	/* many writes, each ending inside the same buffer */
	char *all = flush_all(f, client_flush(f->c), &got);
	assert_int_equal(got, LEN + 6);
	assert_memory_equal(all, big, LEN);
	assert_string_equal(all + LEN, "after\n");
	free(all);
}

/* ---- limits ---- */

static void test_output_over_the_limit_closes_as_slow_consumer(void **state)
{
	struct fixture *f = *state;
	char buf[61];

	memset(buf, 'x', 60);
	buf[60] = '\0';
	assert_int_equal(push_str(f->c, buf, 0, 100), 0);
	assert_int_equal(push_str(f->c, buf, 0, 100), -1);
	assert_true(atomic_load(&f->c->closing));
	const char *why = atomic_load(&f->c->close_reason);
	assert_non_null(why);
	assert_non_null(strstr(why, "slow consumer"));
	/* the refused message is not queued; nothing more is accepted */
	assert_int_equal(client_queued(f->c), 60);
	assert_int_equal(push_str(f->c, "x", 0, 100), -1);
	assert_int_equal(client_queued(f->c), 60);
}

static void test_output_exactly_at_the_limit_is_accepted(void **state)
{
	struct fixture *f = *state;
	char buf[51];

	memset(buf, 'y', 50);
	buf[50] = '\0';
	assert_int_equal(push_str(f->c, buf, 0, 100), 0);
	assert_int_equal(push_str(f->c, buf, 0, 100), 0);
	assert_false(atomic_load(&f->c->closing));
	/* once sent, the limit applies to what is unsent only */
	assert_int_equal(client_flush(f->c), 0);
	assert_int_equal(push_str(f->c, buf, 0, 100), 0);
	assert_false(atomic_load(&f->c->closing));
	free(drain(f->peer, NULL));
}

static void test_full_socket_keeps_the_rest_queued_until_read(void **state)
{
	struct fixture *f = *state;
	enum { N = 64, LEN = 1000 };
	static char want[N * LEN + 1];
	char l[LEN + 1];
	size_t got = 0;
	int rounds = 0, rc;

	small_buffers(f);
	for (int i = 0; i < N; i++) {
		line(l, LEN, i);
		l[LEN] = '\0';
		assert_int_equal(push_str(f->c, l, 0, BIG), 0);
		memcpy(want + i * LEN, l, LEN);
	}
	want[N * LEN] = '\0';
	char *all = malloc(N * LEN + 1);
	assert_non_null(all);

	/* the first flush cannot send everything */
	assert_int_equal(client_flush(f->c), 1);
	size_t left = client_queued(f->c);
	assert_true(left > 0 && left < (size_t)N * LEN);

	/* read what arrived, flush again, until the queue is empty */
	do {
		size_t n;
		char *part = drain(f->peer, &n);
		memcpy(all + got, part, n);
		got += n;
		free(part);
		rc = client_flush(f->c);
		assert_true(rc == 0 || rc == 1);
		assert_true(++rounds < 10000);
	} while (rc == 1);
	size_t n;
	char *part = drain(f->peer, &n);
	memcpy(all + got, part, n);
	got += n;
	free(part);
	all[got] = '\0';
	assert_int_equal(got, (size_t)N * LEN);
	assert_int_equal(client_queued(f->c), 0);
	assert_true(rounds > 1);
	assert_string_equal(all, want); /* no byte lost or repeated at the cuts */
	free(all);
}

static void test_flush_reports_a_socket_error(void **state)
{
	struct fixture *f = *state;

	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY); /* for teardown */
	assert_int_equal(push_str(f->c, "lost\n", 0, BIG), 0);
	assert_int_equal(client_flush(f->c), -1);
}

/* Whether a thread holds c, read as the other threads do. */
static int held(client_t *c)
{
	pthread_mutex_lock(&c->out_lock);
	int h = c->owned;
	pthread_mutex_unlock(&c->out_lock);
	return h;
}

/* Wait up to 5 s until no thread holds c. Another thread writing c's
 * queue (the waiter, a worker) learns how much the socket took only when
 * its write returns, when the peer may have read the bytes already; it
 * takes them off the queue (client_queued) after that, under out_lock,
 * and lets c go after that. So a test that saw the bytes arrive waits for
 * this before it looks at the queue. */
static int wait_let_go(client_t *c)
{
	for (long i = 0; i < slow_ms(5000) && held(c); i++)
		poll(NULL, 0, 1);
	return !held(c);
}

/* Wait up to 5 s for the peer to receive exactly want. */
static void assert_arrives(struct fixture *f, const char *want)
{
	size_t n = 0, len = strlen(want);
	char got[4096];
	assert_true(len < sizeof got);
	for (long i = 0; i < slow_ms(5000) / 10 && n < len; i++) {
		struct pollfd p = { .fd = f->peer, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(f->peer, got + n, sizeof got - 1 - n);
		if (r > 0)
			n += (size_t)r;
	}
	got[n] = '\0';
	assert_string_equal(got, want);
}

/* ---- parking, the waiter and the pool ---- */

static void test_push_to_a_held_client_is_left_to_its_holder(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(push_str(f->c, "a\n", 1, BIG), 0);
	assert_false(readable(f->peer));
	assert_int_equal(f->c->flush_pending, 0);
	/* the holder cannot park it with output it has not written */
	assert_int_equal(client_park(f->c, 1, 0), 0);
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "a\n");
	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_false(held(f->c));
}

static void test_parked_client_is_written_by_the_waiter(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();

	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_int_equal(push_str(f->c, "from afar\n", 1, BIG), 0);
	assert_arrives(f, "from afar\n");
	assert_true(wait_let_go(f->c));
	assert_int_equal(client_queued(f->c), 0);
	/* written without a worker's turn */
	assert_int_equal(served_turns(), before);
}

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The waiter's deadlines all fired (each holds a client reference). */
static void assert_no_deadline_left(void)
{
	for (long i = 0; i < slow_ms(5000) && waiter_timers() > 0; i++)
		poll(NULL, 0, 1);
	assert_int_equal(waiter_timers(), 0);
}

static void test_delayed_reply_is_written_by_a_worker_when_its_time_comes(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();
	long long due = mono_ns() + 200 * 1000000LL;

	/* the holder queues a reply that must wait (the legacy floor) */
	client_delay(f->c, due);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "k", json_object_new_int(1));
	assert_int_equal(client_send(f->c, o, BIG), 0);
	json_object_put(o);
	assert_int_equal(client_flush(f->c), 1);
	assert_false(readable(f->peer));
	/* parked, not waiting for room (no turn before `due`): the waiter
	 * hands it to a worker at `due`, whose turn writes it */
	assert_int_equal(client_park(f->c, 1, 1), 1);
	assert_arrives(f, "{\"k\":1}\n");
	assert_true(mono_ns() >= due);
	assert_true(wait_turns(before));
	assert_int_equal(client_queued(f->c), 0);
	assert_no_deadline_left();
}

static void test_push_to_a_parked_client_waits_for_its_delay(void **state)
{
	struct fixture *f = *state;
	long long due = mono_ns() + 200 * 1000000LL;

	client_delay(f->c, due);
	assert_int_equal(client_park(f->c, 1, 0), 1);
	/* a broadcast for it is queued at once but leaves after the reply's
	 * floor, as everything queued behind that reply */
	assert_int_equal(push_str(f->c, "behind the reply\n", 1, BIG), 0);
	assert_arrives(f, "behind the reply\n");
	assert_true(mono_ns() >= due);
	assert_no_deadline_left();
}

static void test_earlier_delay_does_not_shorten_a_later_one(void **state)
{
	struct fixture *f = *state;
	long long due = mono_ns() + 200 * 1000000LL;

	client_delay(f->c, due);
	client_delay(f->c, due - 150 * 1000000LL);
	assert_int_equal(push_str(f->c, "late\n", 0, BIG), 0);
	assert_int_equal(client_park(f->c, 1, 1), 1);
	assert_arrives(f, "late\n");
	assert_true(mono_ns() >= due);
	assert_no_deadline_left();
}

static void test_parked_client_is_handed_to_a_worker_when_readable(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();

	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_int_equal(write(f->peer, "hello\n", 6), 6);
	assert_true(wait_turns(before));
	pthread_mutex_lock(&served.lock);
	served.in[served.nin] = '\0';
	assert_string_equal(served.in, "hello\n");
	pthread_mutex_unlock(&served.lock);
}

static void test_parked_client_is_woken_by_a_close(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();

	assert_int_equal(client_park(f->c, 1, 0), 1);
	client_close(f->c, "asked to close");
	assert_true(wait_turns(before));
	pthread_mutex_lock(&served.lock);
	assert_true(served.saw_closing);
	pthread_mutex_unlock(&served.lock);
}

static void test_parked_client_waiting_for_room_is_woken_when_the_peer_reads(void **state)
{
	struct fixture *f = *state;
	char l[1001];
	int before = served_turns();

	small_buffers(f);
	line(l, 1000, 0);
	l[1000] = '\0';
	for (int i = 0; i < 64; i++)
		assert_int_equal(push_str(f->c, l, 0, BIG), 0);
	assert_int_equal(client_flush(f->c), 1);
	assert_int_equal(client_park(f->c, 1, 1), 1);
	/* the peer reads: room again, a worker writes the rest */
	size_t got = 0, n;
	for (long i = 0; i < slow_ms(5000) / 10 && got < 64 * 1000; i++) {
		free(drain(f->peer, &n));
		got += n;
		poll(NULL, 0, 10);
	}
	assert_int_equal(got, 64 * 1000);
	assert_true(wait_let_go(f->c));
	assert_true(served_turns() > before);
	assert_int_equal(client_queued(f->c), 0);
}

static void test_flush_other_takes_a_parked_client_and_lets_it_go(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_int_equal(push_str(f->c, "hello\n", 0, BIG), 0);
	assert_int_equal(client_flush_other(f->c), 0);
	assert_received(f, "hello\n");
	assert_int_equal(client_queued(f->c), 0);
	assert_false(held(f->c));
}

/* Pushed by another thread just as client_flush_other() found the queue
 * empty: the pusher saw the client held and left the write to its holder. */
static void push_while_letting_go(client_t *c)
{
	client_let_go_test_hook = NULL; /* once */
	assert_int_equal(push_str(c, "meanwhile\n", 1, BIG), 0);
}

static void test_push_during_flush_others_let_go_is_written(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();

	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_int_equal(push_str(f->c, "first\n", 0, BIG), 0);
	client_let_go_test_hook = push_while_letting_go;
	assert_int_equal(client_flush_other(f->c), 0);
	assert_null(client_let_go_test_hook);
	/* written by the thread that held it, not left until the next event */
	assert_received(f, "first\nmeanwhile\n");
	assert_int_equal(client_queued(f->c), 0);
	assert_false(held(f->c));
	assert_int_equal(served_turns(), before);
}

static void test_flush_other_leaves_a_held_client_alone(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(push_str(f->c, "mine\n", 0, BIG), 0);
	assert_int_equal(client_flush_other(f->c), 1);
	assert_false(readable(f->peer));
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "mine\n");
}

static void test_flush_other_leaves_a_closing_client_to_its_session(void **state)
{
	struct fixture *f = *state;

	int before = served_turns();
	assert_int_equal(client_park(f->c, 0, 0), 1);
	assert_int_equal(push_str(f->c, "bye\n", 0, BIG), 0);
	client_close(f->c, "test");
	assert_int_equal(client_flush_other(f->c), 1);
	/* the close woke it: a worker's turn ends the session */
	assert_true(wait_turns(before));
	take_back(f->c);
	/* its session still sends the last message */
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "bye\n");
}

/* ---- deferred flushes ---- */

static void test_deferred_pushes_are_written_at_defer_end(void **state)
{
	struct fixture *f = *state;
	int before = served_turns();

	assert_int_equal(client_park(f->c, 1, 0), 1);
	client_defer_begin(NULL);
	assert_int_equal(push_str(f->c, "x\n", 1, BIG), 0);
	assert_int_equal(push_str(f->c, "y\n", 1, BIG), 0);
	assert_int_equal(push_str(f->c, "z\n", 1, BIG), 0);
	assert_false(readable(f->peer));
	client_defer_end();
	/* written by the deferring thread itself */
	assert_received(f, "x\ny\nz\n");
	assert_int_equal(client_queued(f->c), 0);
	assert_int_equal(served_turns(), before);
}

static void test_deferring_thread_never_flushes_its_own_client(void **state)
{
	struct fixture *f = *state;

	client_defer_begin(f->c);
	assert_int_equal(push_str(f->c, "self\n", 1, BIG), 0);
	client_defer_end();
	assert_false(readable(f->peer));
	/* left for its own flush after the batch */
	assert_int_equal(client_queued(f->c), 5);
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "self\n");
}

/* ---- deferred flushes to many clients: one batch (uring.h) ---- */

#define MANY 12

struct many {
	client_t *c[MANY];
	int peer[MANY];
};

/* MANY parked clients, each over its own socket pair. */
static void many_open(struct many *m)
{
	for (int i = 0; i < MANY; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		nonblock(sv[0]);
		nonblock(sv[1]);
		m->c[i] = client_new(sv[0], "127.0.0.1:4243");
		assert_non_null(m->c[i]);
		m->peer[i] = sv[1];
		assert_int_equal(client_park(m->c[i], 1, 0), 1);
	}
}

static void many_close(struct many *m)
{
	for (int i = 0; i < MANY; i++) {
		take_back(m->c[i]);
		client_retire(m->c[i]);
		client_unref(m->c[i]);
		close(m->peer[i]);
	}
}

/* Whether this thread's batches go through io_uring here (the kernel may
 * refuse it): then each deferral's flush is counted in uring_batches(). */
static int have_ring(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct iovec iov = { "?", 1 };
	struct uring_send s = { .fd = sv[0], .iov = &iov, .iovcnt = 1 };
	int ok = uring_sendv(&s, 1) == 1;
	close(sv[0]);
	close(sv[1]);
	if (!ok)
		print_message("io_uring is not available here: the batch is written with writev()\n");
	return ok;
}

/* Read want bytes from fd into buf, giving up after 5 s (slow_ms) without
 * any; returns how many arrived. */
static size_t read_upto(int fd, char *buf, size_t want)
{
	size_t n = 0;
	for (long idle = 0; n < want && idle < slow_ms(5000);) {
		ssize_t r = read(fd, buf + n, want - n);
		if (r > 0) {
			n += (size_t)r;
			idle = 0;
		} else {
			poll(NULL, 0, 1);
			idle++;
		}
	}
	return n;
}

/* Read fd until it holds want's length or 5 s (slow_ms) pass; compare. */
static void assert_stream(int fd, const char *want)
{
	size_t len = strlen(want);
	char *got = malloc(len + 1);
	assert_non_null(got);
	size_t n = read_upto(fd, got, len);
	got[n] = '\0';
	assert_string_equal(got, want);
	free(got);
	assert_false(readable(fd)); /* and nothing more */
}

static void test_deferred_pushes_to_many_clients_go_out_in_one_batch(void **state)
{
	(void)state;
	struct many m;
	many_open(&m);
	int ring = have_ring();
	unsigned long long before = uring_batches();
	int turns = served_turns();

	client_defer_begin(NULL);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(push_str(m.c[i], "a\n", 1, BIG), 0);
		assert_int_equal(push_str(m.c[i], "b\n", 1, BIG), 0);
	}
	for (int i = 0; i < MANY; i++)
		assert_false(readable(m.peer[i]));
	client_defer_end();
	for (int i = 0; i < MANY; i++) {
		assert_stream(m.peer[i], "a\nb\n");
		assert_int_equal(client_queued(m.c[i]), 0);
	}
	if (ring) /* one system call for all of them */
		assert_int_equal(uring_batches(), before + 1);
	/* written by the deferring thread, no worker involved */
	assert_int_equal(served_turns(), turns);
	many_close(&m);
}

/* A recipient with more buffers queued than one batched write takes gets
 * the first ones in the batch and the rest right after, in order. */
static void test_batch_writes_a_long_queue_whole_and_in_order(void **state)
{
	(void)state;
	struct many m;
	many_open(&m);
	char want[512] = "";
	client_defer_begin(NULL);
	for (int k = 0; k < 3 * CLIENT_BATCH_IOV + 1; k++) {
		char l[16];
		snprintf(l, sizeof l, "line %d\n", k);
		strcat(want, l);
		for (int i = 0; i < MANY; i++)
			assert_int_equal(push_str(m.c[i], l, 1, BIG), 0);
	}
	client_defer_end();
	for (int i = 0; i < MANY; i++) {
		assert_stream(m.peer[i], want);
		assert_int_equal(client_queued(m.c[i]), 0);
	}
	many_close(&m);
}

/* A recipient whose socket is full keeps its output queued and waits for
 * room in the waiter; the others get theirs at once. */
static void test_batch_leaves_a_full_socket_waiting_for_room(void **state)
{
	(void)state;
	struct many m;
	many_open(&m);
	static char junk[1 << 16], buf[1 << 21];
	memset(junk, 'j', sizeof junk);
	size_t filled = 0;
	ssize_t w;
	while ((w = write(m.c[3]->fd, junk, sizeof junk)) > 0)
		filled += (size_t)w;
	while ((w = write(m.c[3]->fd, junk, 1)) > 0)
		filled += (size_t)w;

	client_defer_begin(NULL);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(push_str(m.c[i], "news\n", 1, BIG), 0);
	client_defer_end();
	for (int i = 0; i < MANY; i++)
		if (i != 3)
			assert_stream(m.peer[i], "news\n");
	assert_int_equal(client_queued(m.c[3]), 5);

	/* the reader catches up: the waiter hands the client to a worker,
	 * which writes what was left */
	assert_int_equal(read_upto(m.peer[3], buf, filled + 5), filled + 5);
	assert_memory_equal(buf + filled, "news\n", 5);
	assert_false(readable(m.peer[3])); /* and nothing more */
	assert_int_equal(client_queued(m.c[3]), 0);
	many_close(&m);
}

/* A recipient whose peer is gone is closed for it; the batch goes on. */
static void test_batch_closes_a_recipient_whose_peer_is_gone(void **state)
{
	(void)state;
	struct many m;
	many_open(&m);
	/* the peer reads no more: writes fail with EPIPE, and epoll has
	 * nothing to report that would hand the client to a worker first */
	assert_int_equal(shutdown(m.peer[5], SHUT_RD), 0);

	client_defer_begin(NULL);
	for (int i = 0; i < MANY; i++)
		push_str(m.c[i], "x\n", 1, BIG);
	client_defer_end();
	for (int i = 0; i < MANY; i++)
		if (i != 5)
			assert_stream(m.peer[i], "x\n");
	assert_true(atomic_load(&m.c[5]->closing));
	assert_string_equal(atomic_load(&m.c[5]->close_reason), "connection error while writing");
	many_close(&m);
}

struct batch_thread {
	struct many *m;
	unsigned long long batches_before, batches_after;
};

static void *batch_in_thread(void *arg)
{
	struct batch_thread *t = arg;
	t->batches_before = uring_batches();
	client_defer_begin(NULL);
	for (int i = 0; i < MANY; i++)
		push_str(t->m->c[i], "plain\n", 1, BIG);
	client_defer_end();
	t->batches_after = uring_batches();
	client_defer_free();
	return NULL;
}

/* IoUring = no: the same batch, one writev() per recipient. */
static void test_batch_without_io_uring_writes_each_recipient(void **state)
{
	(void)state;
	struct many m;
	many_open(&m);
	uring_configure(0);
	struct batch_thread t = { .m = &m };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, batch_in_thread, &t), 0);
	pthread_join(th, NULL);
	uring_configure(1);
	assert_int_equal(t.batches_after, t.batches_before);
	for (int i = 0; i < MANY; i++)
		assert_stream(m.peer[i], "plain\n");
	many_close(&m);
}

/* ---- concurrency ---- */

#define CONC_LINES 20000
#define CONC_LEN 16

struct conc {
	struct fixture *f;
	atomic_int done;
	int defer;           /* the pusher batches with client_defer_begin/end */
	atomic_int refused;  /* pushes that failed (cmocka asserts only in the main thread) */
};

static void *conc_pusher(void *arg)
{
	struct conc *k = arg;
	char l[CONC_LEN + 1];
	for (int i = 0; i < CONC_LINES; i++) {
		if (k->defer && i % 10 == 0)
			client_defer_begin(NULL);
		line(l, CONC_LEN, i);
		l[CONC_LEN] = '\0';
		if (push_str(k->f->c, l, 1, BIG) != 0)
			atomic_fetch_add(&k->refused, 1);
		if (k->defer && i % 10 == 9)
			client_defer_end();
	}
	client_defer_free();
	return NULL;
}

/* Read the whole stream; returns the bytes received. */
static size_t conc_read(struct fixture *f, char *got, size_t want)
{
	size_t n = 0;
	long idle_ms = 0;
	while (n < want && idle_ms < slow_ms(5000)) {
		struct pollfd p = { .fd = f->peer, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0) {
			idle_ms += 10;
			continue;
		}
		ssize_t r = read(f->peer, got + n, want - n);
		if (r > 0) {
			n += (size_t)r;
			idle_ms = 0;
		}
	}
	return n;
}

/* A parked client fed by another thread, through a socket that fills up:
 * the waiter, the pool's workers and the pusher all write it, one at a
 * time; no flush is lost (the reader would time out) and no byte is
 * repeated or reordered. */
static void run_concurrent(struct fixture *f, int defer)
{
	static char want[CONC_LINES * CONC_LEN], got[CONC_LINES * CONC_LEN];
	struct conc k = { .f = f, .defer = defer };
	pthread_t pusher;

	small_buffers(f);
	for (int i = 0; i < CONC_LINES; i++)
		line(want + i * CONC_LEN, CONC_LEN, i);
	assert_int_equal(client_park(f->c, 1, 0), 1);
	assert_int_equal(pthread_create(&pusher, NULL, conc_pusher, &k), 0);
	size_t n = conc_read(f, got, sizeof got);
	pthread_join(pusher, NULL);
	assert_int_equal(atomic_load(&k.refused), 0);
	if (n != sizeof got)
		fail_msg("received %zu of %zu bytes: output left unsent (%zu queued)", n, sizeof got,
		         client_queued(f->c));
	assert_memory_equal(got, want, sizeof got);
}

static void *conc_flusher(void *arg)
{
	struct conc *k = arg;
	while (!atomic_load(&k->done))
		client_flush_other(k->f->c);
	return NULL;
}

/* Only one thread writes a socket at a time: with two threads flushing as
 * fast as they can while a third pushes, every byte arrives once, in
 * order. */
static void test_concurrent_flushes_never_duplicate_or_reorder_bytes(void **state)
{
	struct fixture *f = *state;
	static char want[CONC_LINES * CONC_LEN], got[CONC_LINES * CONC_LEN + 1];
	struct conc k = { .f = f };
	pthread_t flusher[2], pusher;

	for (int i = 0; i < CONC_LINES; i++)
		line(want + i * CONC_LEN, CONC_LEN, i);
	assert_int_equal(client_park(f->c, 1, 0), 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&flusher[i], NULL, conc_flusher, &k), 0);
	assert_int_equal(pthread_create(&pusher, NULL, conc_pusher, &k), 0);
	size_t n = conc_read(f, got, sizeof want);
	pthread_join(pusher, NULL);
	atomic_store(&k.done, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(flusher[i], NULL);
	assert_int_equal(atomic_load(&k.refused), 0);
	/* nothing more than the stream may arrive */
	ssize_t extra = read(f->peer, got + n, sizeof got - n);
	assert_true(extra <= 0);
	assert_int_equal(n, sizeof want);
	assert_memory_equal(got, want, sizeof want);
}

static void test_flushes_are_never_lost_for_a_parked_client(void **state)
{
	run_concurrent(*state, 0);
}

static void test_deferred_writes_and_the_workers_never_interleave_bytes(void **state)
{
	run_concurrent(*state, 1);
}

/* ---- holding ---- */

static void test_held_queue_is_not_written(void **state)
{
	struct fixture *f = *state;

	client_hold(f->c, 1);
	assert_int_equal(push_str(f->c, "later\n", 0, BIG), 0);
	assert_int_equal(client_flush(f->c), 1);
	assert_false(readable(f->peer));
	assert_int_equal(client_queued(f->c), 6);
	/* raw bytes go out meanwhile, untouched by the queue */
	assert_int_equal(write(f->c->fd, "RAW", 3), 3);
	client_hold(f->c, 0);
	assert_int_equal(client_flush(f->c), 0);
	assert_received(f, "RAWlater\n");
}

static void test_held_empty_queue_flushes_as_empty(void **state)
{
	struct fixture *f = *state;

	client_hold(f->c, 1);
	assert_int_equal(client_flush(f->c), 0);
	client_hold(f->c, 0);
}

/* ---- closing ---- */

static void test_close_is_idempotent_and_the_first_reason_wins(void **state)
{
	struct fixture *f = *state;
	char c;

	client_close(f->c, "first reason");
	client_close(f->c, "second reason");
	assert_true(atomic_load(&f->c->closing));
	assert_string_equal(atomic_load(&f->c->close_reason), "first reason");
	/* the worker's reads end... */
	assert_int_equal(read(f->c->fd, &c, 1), 0);
	/* ...pushes are refused... */
	assert_int_equal(push_str(f->c, "late\n", 1, BIG), -1);
	assert_int_equal(client_queued(f->c), 0);
	/* ...but the write side stays open for a last message */
	assert_int_equal(write(f->c->fd, "last\n", 5), 5);
	assert_received(f, "last\n");
}

static void test_slow_consumer_reason_is_not_replaced_by_a_later_close(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(push_str(f->c, "0123456789", 0, 5), -1);
	client_close(f->c, "other");
	assert_non_null(strstr(atomic_load(&f->c->close_reason), "slow consumer"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ---- TLS ---- */

/* Make f's client a TLS connection with the handshake done, and *peer the
 * other end's TLS. */
static void tls_pair(struct fixture *f, SSL_CTX **cctx, SSL **peer)
{
	char dir[] = "/tmp/test_client_tls.XXXXXX", cert[128], key[128], err[512], why[256];
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	test_make_cert(cert, key, "localhost", 1, time(NULL) + 86400);
	assert_int_equal(tls_init(cert, key, err, sizeof err), 0);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	f->c->tls_port = 1;
	*cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(*cctx);
	*peer = SSL_new(*cctx);
	assert_non_null(*peer);
	SSL_set_fd(*peer, f->peer);
	SSL_set_connect_state(*peer);
	int done = 0, peer_done = 0;
	for (int i = 0; (done != 1 || peer_done != 1) && i < slow_ms(5000); i++) {
		if (peer_done != 1)
			peer_done = SSL_do_handshake(*peer);
		if (done != 1)
			done = client_tls_step(f->c, why, sizeof why);
		assert_int_not_equal(done, -1);
		if (done != 1 || peer_done != 1)
			poll(NULL, 0, 1);
	}
	assert_int_equal(done, 1);
	assert_int_equal(peer_done, 1);
}

/* The peer's TLS reads want within 5 s (slow_ms). */
static void assert_tls_received(SSL *peer, const char *want)
{
	char got[64] = "";
	int r = 0;
	for (int i = 0; i < slow_ms(5000) && r <= 0; i++) {
		r = SSL_read(peer, got, sizeof got - 1);
		if (r <= 0)
			poll(NULL, 0, 1);
	}
	assert_int_equal(r, (int)strlen(want));
	assert_string_equal(got, want);
}

static void test_tls_client_with_decrypted_input_left_is_handed_back(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx;
	SSL *peer;
	tls_pair(f, &cctx, &peer);
	/* one record; the holder reads 10 bytes of it: the other 30 are
	 * decrypted inside OpenSSL, and the socket has nothing left */
	const char *rec = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
	assert_int_equal(SSL_write(peer, rec, 40), 40);
	char buf[10];
	for (int i = 0; i < slow_ms(5000) && !readable(f->c->fd); i++)
		poll(NULL, 0, 1);
	assert_int_equal(client_read(f->c, buf, sizeof buf), 10);
	assert_memory_equal(buf, rec, 10);
	assert_false(readable(f->c->fd));

	int before = served_turns();
	assert_int_equal(client_park(f->c, 1, 0), 1);
	/* epoll has nothing to report: the waiter hands it back regardless */
	assert_true(wait_turns(before));
	pthread_mutex_lock(&served.lock);
	served.in[served.nin] = '\0';
	assert_string_equal(served.in, rec + 10);
	pthread_mutex_unlock(&served.lock);

	/* and the reply goes back over TLS */
	take_back(f->c);
	assert_int_equal(push_str(f->c, "answer\n", 0, BIG), 0);
	assert_int_equal(client_flush(f->c), 0);
	assert_tls_received(peer, "answer\n");
	assert_int_equal(client_park(f->c, 1, 0), 1); /* for teardown's take_back */
	SSL_free(peer);
	SSL_CTX_free(cctx);
	tls_shutdown();
}

/* A TLS recipient in a batch writes through OpenSSL, after the others
 * went out together. */
static void test_batch_with_a_tls_recipient_reaches_everyone(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx;
	SSL *peer;
	tls_pair(f, &cctx, &peer);
	assert_int_equal(client_park(f->c, 1, 0), 1);
	struct many m;
	many_open(&m);

	client_defer_begin(NULL);
	assert_int_equal(push_str(f->c, "sealed\n", 1, BIG), 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(push_str(m.c[i], "sealed\n", 1, BIG), 0);
	client_defer_end();
	for (int i = 0; i < MANY; i++)
		assert_stream(m.peer[i], "sealed\n");
	assert_tls_received(peer, "sealed\n");
	many_close(&m);
	SSL_free(peer);
	SSL_CTX_free(cctx);
	tls_shutdown();
}

#define CONC_MANY 6
#define CONC_MANY_LINES 5000

struct conc_many {
	struct many *m;
	atomic_int refused;
};

/* Numbered lines to CONC_MANY clients, in deferrals of 10 lines each. */
static void *conc_many_pusher(void *arg)
{
	struct conc_many *k = arg;
	char l[CONC_LEN + 1];
	for (int i = 0; i < CONC_MANY_LINES; i++) {
		if (i % 10 == 0)
			client_defer_begin(NULL);
		line(l, CONC_LEN, i);
		l[CONC_LEN] = '\0';
		for (int j = 0; j < CONC_MANY; j++)
			if (push_str(k->m->c[j], l, 1, BIG) != 0)
				atomic_fetch_add(&k->refused, 1);
		if (i % 10 == 9)
			client_defer_end();
	}
	client_defer_free();
	return NULL;
}

/* Batches to clients whose small sockets keep filling up, while the
 * waiter and the pool's workers write what the batches left: every
 * client's stream arrives whole, once and in order. */
static void test_batches_and_the_workers_never_interleave_bytes(void **state)
{
	(void)state;
	static char want[CONC_MANY_LINES * CONC_LEN], got[CONC_MANY][CONC_MANY_LINES * CONC_LEN];
	struct many m;
	many_open(&m);
	for (int j = 0; j < CONC_MANY; j++) {
		int sz = 4096;
		assert_int_equal(setsockopt(m.c[j]->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
		assert_int_equal(setsockopt(m.peer[j], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
	}
	for (int i = 0; i < CONC_MANY_LINES; i++)
		line(want + i * CONC_LEN, CONC_LEN, i);
	struct conc_many k = { .m = &m };
	pthread_t pusher;
	assert_int_equal(pthread_create(&pusher, NULL, conc_many_pusher, &k), 0);
	size_t n[CONC_MANY] = { 0 }, all = 0;
	for (long idle = 0; all < sizeof got && idle < slow_ms(5000);) {
		int any = 0;
		for (int j = 0; j < CONC_MANY; j++) {
			ssize_t r = read(m.peer[j], got[j] + n[j], sizeof want - n[j]);
			if (r > 0) {
				n[j] += (size_t)r;
				all += (size_t)r;
				any = 1;
			}
		}
		if (any) {
			idle = 0;
		} else {
			poll(NULL, 0, 1);
			idle++;
		}
	}
	pthread_join(pusher, NULL);
	assert_int_equal(atomic_load(&k.refused), 0);
	for (int j = 0; j < CONC_MANY; j++) {
		if (n[j] != sizeof want)
			fail_msg("client %d received %zu of %zu bytes (%zu queued)", j, n[j], sizeof want,
			         client_queued(m.c[j]));
		assert_memory_equal(got[j], want, sizeof want);
	}
	many_close(&m);
}

int main(void)
{
	/* as in the server: a write to a closed peer is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		T(test_tls_client_with_decrypted_input_left_is_handed_back),
		T(test_flush_delivers_queued_messages_in_order),
		T(test_queue_holds_its_own_reference_until_sent),
		T(test_send_serializes_json_as_one_line),
		T(test_ring_grows_for_many_messages_and_keeps_order),
		T(test_pushes_during_a_partial_send_keep_order),
		T(test_message_larger_than_the_socket_buffer_arrives_whole),
		T(test_output_over_the_limit_closes_as_slow_consumer),
		T(test_output_exactly_at_the_limit_is_accepted),
		T(test_full_socket_keeps_the_rest_queued_until_read),
		T(test_flush_reports_a_socket_error),
		T(test_push_to_a_held_client_is_left_to_its_holder),
		T(test_parked_client_is_written_by_the_waiter),
		T(test_delayed_reply_is_written_by_a_worker_when_its_time_comes),
		T(test_push_to_a_parked_client_waits_for_its_delay),
		T(test_earlier_delay_does_not_shorten_a_later_one),
		T(test_parked_client_is_handed_to_a_worker_when_readable),
		T(test_parked_client_is_woken_by_a_close),
		T(test_parked_client_waiting_for_room_is_woken_when_the_peer_reads),
		T(test_flush_other_takes_a_parked_client_and_lets_it_go),
		T(test_push_during_flush_others_let_go_is_written),
		T(test_flush_other_leaves_a_held_client_alone),
		T(test_flush_other_leaves_a_closing_client_to_its_session),
		T(test_deferred_pushes_are_written_at_defer_end),
		T(test_deferring_thread_never_flushes_its_own_client),
		T(test_deferred_pushes_to_many_clients_go_out_in_one_batch),
		T(test_batch_writes_a_long_queue_whole_and_in_order),
		T(test_batch_leaves_a_full_socket_waiting_for_room),
		T(test_batch_closes_a_recipient_whose_peer_is_gone),
		T(test_batch_without_io_uring_writes_each_recipient),
		T(test_batch_with_a_tls_recipient_reaches_everyone),
		T(test_batches_and_the_workers_never_interleave_bytes),
		T(test_concurrent_flushes_never_duplicate_or_reorder_bytes),
		T(test_flushes_are_never_lost_for_a_parked_client),
		T(test_deferred_writes_and_the_workers_never_interleave_bytes),
		T(test_held_queue_is_not_written),
		T(test_held_empty_queue_flushes_as_empty),
		T(test_close_is_idempotent_and_the_first_reason_wins),
		T(test_slow_consumer_reason_is_not_replaced_by_a_later_close),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
