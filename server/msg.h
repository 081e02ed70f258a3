/* msg.h - a chat message accepted by the server, shared (reference counted)
 * between the worker that accepted it, the writer thread and the history
 * cache. Immutable after msg_new() except for the writer link and, in
 * cluster mode, id and seq, which the writer thread sets at commit before
 * anyone else reads them (on_stored, or a resend that finds the ack owed
 * already taken). */
#ifndef CHATROOM_MSG_H
#define CHATROOM_MSG_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct msg {
	atomic_int refs;
	int64_t id;            /* message_id: strictly increasing, assigned on accept;
	                        * in cluster mode 0 until the writer's commit sets it */
	int64_t seq;           /* cluster mode: its place in its group (1, 2, ...), set
	                        * by the writer's commit; 0 otherwise */
	int64_t group_id;
	int64_t sender_id;
	double ts;             /* seconds since the epoch */
	char *sender_name;
	char *group_name;
	char *content;
	char *client_msg_id;   /* NULL when the client sent none */
	atomic_int acks_owed;  /* chat_acks to send when stored: 1 + resends meanwhile;
	                        * taken (set to 0) by the writer's on_stored */
	struct msg *wnext;     /* writer queue link: guarded by the writer's lock */
} msg_t;

/* Copies the strings. The message starts with one reference. */
msg_t *msg_new(int64_t id, int64_t group_id, int64_t sender_id, double ts, const char *sender_name,
               const char *group_name, const char *content, const char *client_msg_id);
msg_t *msg_ref(msg_t *m);
void msg_unref(msg_t *m);

#endif
