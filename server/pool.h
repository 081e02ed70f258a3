/* pool.h - the bounded pool of worker threads. A worker serves one
 * connection while it has work (session_serve), then takes the next from
 * the queue of connections waiting for a worker: new ones from the accept
 * thread (pool_submit) and parked ones the waiter found ready
 * (pool_resume). Threads are started on demand up to `workers` and leave
 * after a minute idle. New connections are refused when `queue` of them
 * already wait; a parked connection is never refused, so the queue holds
 * at most one entry per connection.
 *
 * Locking: pool lock (a leaf) guards the queue and the counters. */
#ifndef CHATROOM_POOL_H
#define CHATROOM_POOL_H

#include <stddef.h>

#include "client.h"

/* serve: called in a worker each time a connection has work. */
int pool_start(int workers, int queue, size_t stack_size, void (*serve)(client_t *c));

/* Hand a new connection c to a worker. 0, or -1 when no worker is free
 * and `queue` connections already wait (c is untouched: the caller
 * answers 1013). */
int pool_submit(client_t *c);

/* Hand a parked connection that has work back to a worker; never refused. */
void pool_resume(client_t *c);

int pool_threads(void); /* threads alive */
int pool_busy(void);    /* threads serving a connection */

/* The queue of connections waiting for a worker: now, at most so far,
 * how many had to wait at all, and the longest wait in ms. */
struct pool_queue_stats {
	int now, most;
	unsigned long long waited;
	long long longest_ms;
};
void pool_queue_stats(struct pool_queue_stats *out);

/* Refuse new work, wait (up to timeout_ms) for the workers to finish their
 * connections (the caller has asked them to close). Returns the threads
 * still busy (0: all have exited and nothing of the pool is in use). */
int pool_stop(int timeout_ms);

#endif
