/* waiter.h - parked connections: one thread in epoll_wait() over every
 * connection no thread holds, handing each back to the pool when it is
 * readable, writable with output pending, or asked to close (a close
 * shuts the socket's read side down, which epoll reports). It also writes
 * output other threads queued for parked clients (client_push outside a
 * deferral), so a broadcast needs no thread per recipient. One wake
 * descriptor (an eventfd) for the waiter, none per connection.
 *
 * The waiter holds a reference to every connection registered with its
 * epoll and drops it in its own thread after the session ended
 * (waiter_forget), so an event it already received never names freed
 * memory.
 *
 * It also keeps the deadlines of output that must wait (waiter_at: the
 * legacy reply floor), in a heap, and sleeps in epoll_wait() no longer
 * than until the first.
 *
 * Locking: the waiter lock (a leaf) guards the flush and forget lists and
 * the deadlines; waiter_arm and waiter_at run under the client's out_lock
 * (waiter_at takes the waiter lock inside it). */
#ifndef CHATROOM_WAITER_H
#define CHATROOM_WAITER_H

#include "client.h"

int waiter_start(void);
/* Stop the thread and drop the references it holds. Only once every
 * session has ended or will never run again. */
void waiter_stop(void);

/* Under c->out_lock, by c's holder letting it go: report c once when it
 * is readable (want_in; closing is always reported) or writable
 * (want_out). 0, or -1 when it cannot be watched (then keep serving). */
int waiter_arm(client_t *c, int want_in, int want_out);

/* Have the waiter thread write c's queue (client_flush_other). */
void waiter_flush(client_t *c);

/* Under c->out_lock: report c (client_ready: a worker's turn) once due_ns
 * (CLOCK_MONOTONIC) has passed, as when it becomes readable. */
void waiter_at(client_t *c, long long due_ns);

/* Deadlines set with waiter_at that have not passed yet, for the tests. */
long waiter_timers(void);

/* c's session is over: stop watching it. */
void waiter_forget(client_t *c);

/* Connections registered (parked or held), for the statistics. */
long waiter_count(void);

#endif
