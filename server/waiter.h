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
 * Locking: the waiter lock (a leaf) guards the flush and forget lists;
 * waiter_arm runs under the client's out_lock. */
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

/* c's session is over: stop watching it. */
void waiter_forget(client_t *c);

/* Connections registered (parked or held), for the statistics. */
long waiter_count(void);

#endif
