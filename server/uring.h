/* uring.h - a batch of socket writes in one system call.
 *
 * A broadcast writes a little to many sockets. With one writev() each, the
 * system call itself is much of the cost of such a small write (more so in
 * a virtual machine), and the fan-out thread spends it once per recipient.
 * uring_sendv() hands the whole batch to the calling thread's own io_uring
 * instead: one io_uring_enter() sends to all of them.
 *
 * Nothing is left in flight: every send is non-blocking (MSG_DONTWAIT, so
 * a full socket answers EAGAIN at once instead of waiting inside the
 * kernel), and uring_sendv() returns only when each one has completed. So
 * the caller's buffers, and its hold on each connection (client.h: only
 * the holder writes a socket), are exactly as they would be around a
 * writev() of its own.
 *
 * A ring belongs to one thread: made at its first batch, freed when the
 * thread exits, never used by another. At most URING_THREADS_MAX threads
 * have one (each costs a descriptor). Without a ring (IoUring = no, a
 * kernel without io_uring, io_uring disabled by its sysctl or a seccomp
 * filter, the thread limit reached) entries come back URING_UNSENT and the
 * caller writes them itself, one writev() each. */
#ifndef CHATROOM_URING_H
#define CHATROOM_URING_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A batch smaller than this is written one writev() at a time: a ring
 * saves nothing on one or two sockets. */
#define URING_BATCH_MIN 4
/* Sends per io_uring_enter(); a larger batch takes several. */
#define URING_ENTRIES 64
/* Threads that may have a ring at once (the writer, the cluster's bus,
 * and workers whose turn broadcast to many). */
#define URING_THREADS_MAX 32

#define URING_UNSENT ((ssize_t)-1000000)

struct uring_send {
	int fd;
	const struct iovec *iov;
	int iovcnt;
	ssize_t result; /* out: bytes sent, -errno, or URING_UNSENT */
};

/* At start, before any thread sends: whether to use io_uring at all. */
void uring_configure(int enabled);

/* Send each entry's iovecs on its socket, all in as few system calls as
 * the ring allows. Returns how many were sent through the ring (each has
 * its result); the others are URING_UNSENT. */
size_t uring_sendv(struct uring_send *v, size_t n);

/* Threads holding a ring now, and batches sent through rings so far (for
 * the statistics and the tests). */
int uring_threads(void);
unsigned long long uring_batches(void);

#endif
