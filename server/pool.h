/* pool.h - the bounded pool of worker threads. Each worker serves one
 * connection at a time, for the connection's whole life, with blocking
 * poll(). Threads are started on demand up to `workers` and leave after a
 * minute idle; accepted connections wait in a queue of at most `queue`
 * when every worker is busy, and past that pool_submit() refuses them.
 *
 * Locking: pool lock (a leaf) guards the queue and the counters. */
#ifndef CHATROOM_POOL_H
#define CHATROOM_POOL_H

#include <stddef.h>

#include "client.h"

/* serve: called in a worker for each connection; owns the reference. */
int pool_start(int workers, int queue, size_t stack_size, void (*serve)(client_t *c));

/* Hand c (its reference) to a worker. 0, or -1 when no worker is free and
 * the queue is full (c is untouched: the caller answers 1013). */
int pool_submit(client_t *c);

int pool_threads(void); /* threads alive */
int pool_busy(void);    /* threads serving a connection */

/* Refuse new work, wait (up to timeout_ms) for the workers to finish their
 * connections (the caller has asked them to close). */
void pool_stop(int timeout_ms);

#endif
