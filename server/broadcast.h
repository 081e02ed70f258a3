/* broadcast.h - delivering to many clients: chat messages and notices to
 * the clients in a group, and the message ids. A broadcast serializes once
 * (per protocol) and queues the same bytes for every recipient. Presence
 * (presence.h) and history (history.h) have their own files.
 *
 * A chat message is accepted by bcast_chat() (an id, the writer's queue)
 * and delivered by bcast_stored(), which the writer thread calls after the
 * message's transaction committed: what a member sees live, and what the
 * group's history cache holds, is always in the database. */
#ifndef CHATROOM_BROADCAST_H
#define CHATROOM_BROADCAST_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "msg.h"
#include "table.h"

/* The chat_message object for m (the reference's fields); history: the
 * chat_history form instead, whose timestamp is "YYYY-MM-DD HH:MM:SS".
 * For protocol 2, also the sender's client_msg_id when it gave one. */
json_object *bcast_chat_json(const msg_t *m, int history, int protocol);

/* Accept content from user (uid, uname) into g: assign the next message id
 * and queue it for storage; it is delivered once stored (bcast_stored).
 * Needs the table read lock. Returns the message (referenced), or NULL when
 * the writer queue is full or no id is free. */
msg_t *bcast_chat(group_t *g, int64_t uid, const char *uname, const char *content,
                  const char *client_msg_id);

/* The writer's on_stored callback (writer.h), in the writer thread after a
 * batch committed: each stored message goes into its group's history
 * cache, to every client whose current group it is (the sender's own
 * session included), in queue order (and a direct chat's message, as a
 * direct_message_notice, to its protocol-2 member whose current group is
 * another), then its chat_ack to the sender's current session; the sender
 * of a dropped message gets error 1011. In cluster mode the ack comes at
 * once, the delivery (notice included) through the order, and a resend
 * stored before (WRITER_DUPLICATE) is acknowledged only.
 * Takes the table read lock and the groups' seq_locks; writes to sockets
 * only without them and without blocking (client_defer_end). */
void bcast_stored(msg_t *const *v, const unsigned char *dropped, size_t n, void *ctx);

/* Queue a chat_ack for c. wake: as client_push(). */
void bcast_ack(client_t *c, const char *cmid, int64_t message_id, int64_t gid, int wake);

/* Queue for every client of group g the object o[lang] in its language
 * (catalog.h; a notice with text). Needs the table read lock. */
void bcast_group(group_t *g, json_object *const o[CAT_NLANGS]);

/* Cluster mode (PostgreSQL and the bus), set once at start before any
 * message: ids and seqs come from the writer's commit, each stored message
 * is published on the bus, and every message, this node's or another's, is
 * delivered through the delivery order (order.h), whose deliver function
 * this sets. */
void bcast_cluster_start(void);

/* Around a run of work in a thread that is not a worker (the bus thread's
 * messages from other nodes): the deliveries made in between are queued,
 * and written by this thread at bcast_batch_end(), one write per
 * recipient, instead of each waking the waiter. */
void bcast_batch_begin(void);
void bcast_batch_end(void);

/* The highest message id in use; set once at start from the database. */
void bcast_set_last_id(int64_t id);

/* Ids are handed out only below a mark recorded in the database ahead of
 * use (BCAST_ID_BLOCK at a time), so that an id is never given to two
 * messages, not even across a crash that lost messages not yet stored:
 * nobody saw those, but the log may name them, and chatroom-protocol(7)
 * promises ids are never reused. Call without locks held
 * (it may write to the database); cheap when the mark is far enough ahead.
 * Returns 0, or -1 when the mark could not be recorded (messages past it
 * are then refused). */
int bcast_reserve_ids(void);

#endif
