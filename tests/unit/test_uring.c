/* test_uring.c - a batch of socket writes in one system call
 * (server/uring.c), over real non-blocking AF_UNIX socket pairs: every
 * entry sent and reported, a full socket answering EAGAIN at once and
 * never written later, errors per entry, batches larger than one ring,
 * io_uring turned off, one ring per thread freed when the thread exits,
 * and the limit on threads holding one.
 *
 * A kernel that refuses io_uring (its sysctl, a seccomp filter) is tested
 * too: the last test denies io_uring_setup() to one thread with a seccomp
 * filter and checks that every entry comes back for the caller to write.
 * Where the kernel refuses io_uring altogether, the tests that need a ring
 * check that same contract instead and say so. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "uring.h"

#define NPAIRS 150 /* more than two rings' worth of entries */

static int pair_w[NPAIRS], pair_r[NPAIRS];

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_int_not_equal(fl, -1);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < NPAIRS; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		nonblock(sv[0]);
		nonblock(sv[1]);
		pair_w[i] = sv[0];
		pair_r[i] = sv[1];
	}
	uring_configure(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NPAIRS; i++) {
		close(pair_w[i]);
		close(pair_r[i]);
	}
	uring_configure(1);
	return 0;
}

/* Whether this thread has a ring. Where the kernel refuses one, the entry
 * must have come back unsent and nothing may have been written: the test
 * has checked that contract and ends there, saying so. */
static int have_ring(void)
{
	char b = 'x';
	struct iovec iov = { &b, 1 };
	struct uring_send s = { .fd = pair_w[0], .iov = &iov, .iovcnt = 1 };
	char got;
	if (uring_sendv(&s, 1) != 1) {
		assert_int_equal(s.result, URING_UNSENT);
		assert_int_equal(read(pair_r[0], &got, 1), -1);
		assert_int_equal(errno, EAGAIN);
		print_message("io_uring is refused by this kernel: checked that every entry "
		              "is left to the caller\n");
		return 0;
	}
	assert_int_equal(read(pair_r[0], &got, 1), 1);
	return 1;
}

static size_t readall(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

static void test_every_entry_is_sent_and_reported(void **state)
{
	(void)state;
	if (!have_ring())
		return;
	struct uring_send s[NPAIRS];
	struct iovec iov[NPAIRS][2];
	char text[NPAIRS][32];
	unsigned long long before = uring_batches();
	for (int i = 0; i < NPAIRS; i++) {
		snprintf(text[i], sizeof text[i], "to %d\n", i);
		iov[i][0] = (struct iovec){ "hello ", 6 };
		iov[i][1] = (struct iovec){ text[i], strlen(text[i]) };
		s[i] = (struct uring_send){ .fd = pair_w[i], .iov = iov[i], .iovcnt = 2 };
	}
	/* NPAIRS entries: three io_uring_enter() calls of at most URING_ENTRIES */
	assert_int_equal(uring_sendv(s, NPAIRS), NPAIRS);
	assert_int_equal(uring_batches(), before + 1);
	for (int i = 0; i < NPAIRS; i++) {
		char want[64], got[64];
		snprintf(want, sizeof want, "hello %s", text[i]);
		assert_int_equal(s[i].result, (ssize_t)strlen(want));
		size_t n = readall(pair_r[i], got, sizeof got - 1);
		got[n] = '\0';
		assert_string_equal(got, want);
	}
}

/* Fill a socket; returns how many bytes it took. */
static size_t fill(int fd)
{
	static char junk[65536];
	size_t total = 0;
	ssize_t w;
	while ((w = write(fd, junk, sizeof junk)) > 0)
		total += (size_t)w;
	/* and what room a small write would still find */
	while ((w = write(fd, junk, 1)) > 0)
		total += (size_t)w;
	assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	return total;
}

/* A full socket completes at once with EAGAIN: the send is not left in
 * the kernel to go out when there is room (the caller writes it later
 * from its queue, and a second copy would corrupt the stream). */
static void test_full_socket_answers_eagain_and_is_never_written_later(void **state)
{
	(void)state;
	if (!have_ring())
		return;
	size_t filled = fill(pair_w[0]);
	struct iovec iov[2] = { { "late\n", 5 }, { "ok\n", 3 } };
	struct uring_send s[2] = {
		{ .fd = pair_w[0], .iov = &iov[0], .iovcnt = 1 },
		{ .fd = pair_w[1], .iov = &iov[1], .iovcnt = 1 },
	};
	assert_int_equal(uring_sendv(s, 2), 2);
	assert_int_equal(s[0].result, -EAGAIN);
	assert_int_equal(s[1].result, 3);
	/* drain: exactly what fill() wrote, and nothing after it */
	static char buf[1 << 20];
	size_t got = 0;
	for (int tries = 0; tries < 50; tries++) {
		got += readall(pair_r[0], buf, sizeof buf);
		usleep(2000);
	}
	assert_int_equal(got, filled);
	char ok[8];
	assert_int_equal(readall(pair_r[1], ok, sizeof ok), 3);
}

static void test_errors_are_reported_per_entry(void **state)
{
	(void)state;
	if (!have_ring())
		return;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	close(pair_r[2]); /* the peer of pair 2 is gone */
	pair_r[2] = open("/dev/null", O_RDONLY | O_CLOEXEC); /* for teardown */
	struct iovec iov = { "x\n", 2 };
	struct uring_send s[4] = {
		{ .fd = pair_w[0], .iov = &iov, .iovcnt = 1 },
		{ .fd = devnull, .iov = &iov, .iovcnt = 1 },    /* not a socket */
		{ .fd = pair_w[2], .iov = &iov, .iovcnt = 1 },  /* peer closed */
		{ .fd = pair_w[3], .iov = &iov, .iovcnt = 1 },
	};
	assert_int_equal(uring_sendv(s, 4), 4);
	assert_int_equal(s[0].result, 2);
	assert_int_equal(s[1].result, -ENOTSOCK);
	assert_int_equal(s[2].result, -EPIPE); /* and no SIGPIPE: we are still here */
	assert_int_equal(s[3].result, 2);
	close(devnull);
}

static void test_empty_batch_sends_nothing(void **state)
{
	(void)state;
	unsigned long long before = uring_batches();
	assert_int_equal(uring_sendv(NULL, 0), 0);
	assert_int_equal(uring_batches(), before);
}

struct thread_send {
	int fd;
	size_t sent;
	ssize_t result;
	pthread_barrier_t *hold; /* wait here after sending, ring still held */
	int threads_seen;
};

static void *send_in_thread(void *arg)
{
	struct thread_send *t = arg;
	struct iovec iov = { "t\n", 2 };
	struct uring_send s = { .fd = t->fd, .iov = &iov, .iovcnt = 1 };
	t->sent = uring_sendv(&s, 1);
	t->result = s.result;
	if (t->hold) {
		pthread_barrier_wait(t->hold);
		pthread_barrier_wait(t->hold);
	}
	return NULL;
}

/* A new thread running fn sends to the first `pairs` sockets: nothing went
 * through a ring, every entry came back unsent, nothing was written. */
static void left_to_caller(void *(*fn)(void *), int pairs)
{
	struct thread_send t = { .fd = pair_w[0] };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fn, &t), 0);
	pthread_join(th, NULL);
	assert_int_equal(t.sent, 0);
	assert_int_equal(t.result, URING_UNSENT);
	for (int i = 0; i < pairs; i++) {
		char b[4];
		assert_int_equal(read(pair_r[i], b, sizeof b), -1);
		assert_int_equal(errno, EAGAIN);
	}
}

/* Off: nothing goes through a ring, every entry comes back unsent for the
 * caller to write; a thread asking for its first ring gets none. */
static void test_turned_off_leaves_every_entry_to_the_caller(void **state)
{
	(void)state;
	uring_configure(0);
	left_to_caller(send_in_thread, 1);
}

/* Each thread has its own ring, freed when it exits; at most
 * URING_THREADS_MAX at once, and a thread past the limit writes itself. */
static void test_rings_are_per_thread_bounded_and_freed_at_exit(void **state)
{
	(void)state;
	if (!have_ring())
		return;
	int base = uring_threads(); /* this thread's */
	enum { N = URING_THREADS_MAX + 2 };
	struct thread_send t[N];
	pthread_t th[N];
	pthread_barrier_t hold;
	assert_int_equal(pthread_barrier_init(&hold, NULL, N + 1), 0);
	for (int i = 0; i < N; i++) {
		t[i] = (struct thread_send){ .fd = pair_w[i], .hold = &hold };
		assert_int_equal(pthread_create(&th[i], NULL, send_in_thread, &t[i]), 0);
	}
	pthread_barrier_wait(&hold); /* every thread has sent and keeps its ring */
	assert_int_equal(uring_threads(), URING_THREADS_MAX);
	int with = 0, without = 0;
	for (int i = 0; i < N; i++) {
		if (t[i].sent == 1) {
			with++;
			assert_int_equal(t[i].result, 2);
		} else {
			without++;
			assert_int_equal(t[i].result, URING_UNSENT);
		}
	}
	assert_int_equal(with, URING_THREADS_MAX - base);
	assert_int_equal(without, N - (URING_THREADS_MAX - base));
	pthread_barrier_wait(&hold);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&hold);
	assert_int_equal(uring_threads(), base);
}

/* io_uring_setup() fails with ENOSYS for the calling thread (and threads
 * it starts), as under a container's seccomp profile. It reports failure
 * instead of asserting: it runs in a thread of its own, where a CMocka
 * assertion cannot end the test. */
static int deny_io_uring(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void *refused_thread(void *arg)
{
	struct thread_send *t = arg;
	/* this thread only: the others keep their rings */
	if (deny_io_uring() != 0) {
		t->sent = (size_t)-1; /* fails the test's check that none was sent */
		return NULL;
	}
	struct iovec iov = { "r\n", 2 };
	struct uring_send s[URING_BATCH_MIN];
	for (int i = 0; i < URING_BATCH_MIN; i++)
		s[i] = (struct uring_send){ .fd = pair_w[i], .iov = &iov, .iovcnt = 1 };
	t->sent = uring_sendv(s, URING_BATCH_MIN);
	t->result = URING_UNSENT;
	for (int i = 0; i < URING_BATCH_MIN; i++)
		if (s[i].result != URING_UNSENT)
			t->result = s[i].result;
	return NULL;
}

/* The kernel refuses io_uring: every entry comes back unsent for the
 * caller to write, nothing is written twice, no ring is counted, and the
 * refusal holds for every thread after it (nobody asks the kernel again).
 * Last in the group: after it no thread of this process gets a ring. */
static void test_refused_by_the_kernel_leaves_every_entry_to_the_caller(void **state)
{
	(void)state;
	int rings = uring_threads();
	unsigned long long batches = uring_batches();
	left_to_caller(refused_thread, URING_BATCH_MIN);
	assert_int_equal(uring_threads(), rings);
	assert_int_equal(uring_batches(), batches);
	/* a new thread without the filter does not ask again */
	left_to_caller(send_in_thread, 1);
	assert_int_equal(uring_threads(), rings);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	log_init("test_uring", LOG_LVL_ERROR, 1, 0);
	const struct CMUnitTest tests[] = {
		T(test_every_entry_is_sent_and_reported),
		T(test_full_socket_answers_eagain_and_is_never_written_later),
		T(test_errors_are_reported_per_entry),
		T(test_empty_batch_sends_nothing),
		T(test_turned_off_leaves_every_entry_to_the_caller),
		T(test_rings_are_per_thread_bounded_and_freed_at_exit),
		T(test_refused_by_the_kernel_leaves_every_entry_to_the_caller), /* last */
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
