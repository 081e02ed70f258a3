/* order.h - per-group delivery order in cluster mode. Every node delivers
 * a group's messages strictly by their seq (1, 2, 3... as the PostgreSQL
 * store handed them out in commit order), whether they were committed here
 * (the writer) or on another node (the bus): a message that arrives ahead
 * of a missing one is held back until the gap is filled, from the bus or
 * from PostgreSQL (order_gaps() says which groups wait too long), and one
 * that arrives again is ignored. So a lost or late notification delays a
 * message, never loses or reorders it.
 *
 * Locking: one mutex (order lock) guards every group's state, and is held
 * while deliver() runs, so that one group's messages are delivered one
 * after another and in order even when the writer thread and the bus
 * thread offer them at once. In the lock order it comes before the table
 * lock (deliver() takes the table, seq and client locks). */
#ifndef CHATROOM_ORDER_H
#define CHATROOM_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Called for each message in its group's order, under the order lock. */
typedef void (*order_deliver_fn)(msg_t *m, int64_t seq, void *ctx);

void order_init(order_deliver_fn deliver, void *ctx);
/* Forget every group and held message (at stop). */
void order_reset(void);

/* Group gid has delivered (or, at start, stored) everything up to
 * last_seq: the next message to deliver is last_seq + 1. A group never
 * told is new: its first message is seq 1. */
void order_set_last(int64_t gid, int64_t last_seq);

/* Offer m with its seq at time now_ms (any monotonic clock, in ms):
 * delivered at once with whatever it unblocks, held back (referenced)
 * when a seq before it is missing, or ignored when already delivered.
 * Returns how many messages were delivered. */
size_t order_offer(msg_t *m, int64_t seq, int64_t now_ms);

/* Up to max groups holding a message back for at least wait_ms: their ids
 * in gids[], and in after[] the last seq delivered (fetch what follows).
 * Returns the count. */
size_t order_gaps(int64_t now_ms, int64_t wait_ms, int64_t *gids, int64_t *after, size_t max);

/* Every group known, with the last seq delivered (for a periodic check
 * against the store): up to max, returns the count. */
size_t order_groups(int64_t *gids, int64_t *after, size_t max);

/* The last seq delivered in group gid (0 for a group never seen). */
int64_t order_last(int64_t gid);

/* Messages held back in all groups. */
size_t order_held(void);

#endif
