/* uring.c - a batch of socket writes in one system call (see uring.h). */
#include "config.h"
#include "uring.h"
#include "log.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct uring_state {
	struct io_uring uring;
	struct msghdr mh[URING_ENTRIES];
};

/* Set once at start, before any thread sends. */
static int uring_enabled = 1;
/* io_uring refused by the kernel: nobody tries again. */
static atomic_int uring_refused;
static atomic_int uring_count;
static atomic_ullong uring_batch_count;

/* [this thread only] its ring; tried: it asked for one (once is enough) */
static __thread struct uring_state *uring_self;
static __thread int uring_tried;

static pthread_key_t uring_key;
static pthread_once_t uring_once = PTHREAD_ONCE_INIT;

static void uring_free(void *p)
{
	struct uring_state *r = p;
	io_uring_queue_exit(&r->uring);
	free(r);
	atomic_fetch_sub(&uring_count, 1);
}

static void uring_key_init(void)
{
	if (pthread_key_create(&uring_key, uring_free) != 0)
		atomic_store(&uring_refused, 1); /* no ring could be freed: use none */
}

void uring_configure(int enabled)
{
	uring_enabled = enabled;
}

int uring_threads(void)
{
	return atomic_load(&uring_count);
}

unsigned long long uring_batches(void)
{
	return atomic_load(&uring_batch_count);
}

/* This thread's ring, made at its first batch; NULL without one. */
static struct uring_state *uring_get(void)
{
	if (uring_self || uring_tried)
		return uring_self;
	uring_tried = 1;
	if (!uring_enabled || atomic_load(&uring_refused))
		return NULL;
	pthread_once(&uring_once, uring_key_init);
	if (atomic_load(&uring_refused))
		return NULL;
	if (atomic_fetch_add(&uring_count, 1) >= URING_THREADS_MAX) {
		atomic_fetch_sub(&uring_count, 1);
		return NULL;
	}
	struct uring_state *r = calloc(1, sizeof *r);
	int rc = r ? io_uring_queue_init(URING_ENTRIES, &r->uring, 0) : -ENOMEM;
	if (rc < 0) {
		free(r);
		atomic_fetch_sub(&uring_count, 1);
		if (rc != -ENOMEM && rc != -EMFILE && rc != -ENFILE) {
			/* the kernel will not give one to anybody: say so once */
			if (atomic_exchange(&uring_refused, 1) == 0)
				log_warn("io_uring is not available (%s): broadcasts write one socket "
				         "per system call", strerror(-rc));
		}
		return NULL;
	}
	if (pthread_setspecific(uring_key, r) != 0) {
		uring_free(r);
		return NULL;
	}
	uring_self = r;
	return r;
}

/* Give the ring up after an error it should never have: its entries that
 * did not complete are written by the caller. */
static void uring_drop(struct uring_state *r, int err)
{
	log_warn("io_uring failed (%s): this thread writes one socket per system call from now on",
	         strerror(err));
	pthread_setspecific(uring_key, NULL);
	uring_free(r);
	uring_self = NULL;
}

/* One chunk of at most URING_ENTRIES sends: submitted together, then every
 * completion collected. Returns 0, or -errno when the ring broke. */
static int uring_chunk(struct uring_state *r, struct uring_send *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
		/* the queue has URING_ENTRIES entries and is empty between chunks */
		memset(&r->mh[i], 0, sizeof r->mh[i]);
		r->mh[i].msg_iov = (struct iovec *)v[i].iov;
		r->mh[i].msg_iovlen = (size_t)v[i].iovcnt;
		/* MSG_DONTWAIT: a full socket completes at once with EAGAIN
		 * instead of being left in flight until there is room */
		io_uring_prep_sendmsg(sqe, v[i].fd, &r->mh[i], MSG_DONTWAIT | MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, i);
	}
	size_t done = 0;
	while (done < n) {
		/* submits what the kernel has not taken yet, waits for the rest */
		int rc = io_uring_submit_and_wait(&r->uring, (unsigned)(n - done));
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&r->uring, head, cqe) {
			size_t i = (size_t)io_uring_cqe_get_data64(cqe);
			if (i < n && v[i].result == URING_UNSENT) {
				v[i].result = cqe->res;
				done++;
			}
			seen++;
		}
		io_uring_cq_advance(&r->uring, seen);
	}
	return 0;
}

size_t uring_sendv(struct uring_send *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i].result = URING_UNSENT;
	struct uring_state *r = n ? uring_get() : NULL;
	if (!r)
		return 0;
	size_t sent = 0;
	for (size_t at = 0; at < n; at += URING_ENTRIES) {
		size_t k = n - at < URING_ENTRIES ? n - at : URING_ENTRIES;
		int rc = uring_chunk(r, v + at, k);
		for (size_t i = at; i < at + k; i++)
			sent += v[i].result != URING_UNSENT;
		if (rc < 0) {
			/* what did not complete is URING_UNSENT: the caller writes it */
			uring_drop(r, -rc);
			return sent;
		}
	}
	atomic_fetch_add_explicit(&uring_batch_count, 1, memory_order_relaxed);
	return sent;
}
