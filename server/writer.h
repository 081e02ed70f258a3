/* writer.h - the writer thread: persists accepted messages to SQLite in
 * batches (one transaction per batch, prepared statements, WAL).
 *
 * Group commit: the writer commits as soon as it has a message and no
 * commit is in flight; what arrives during a commit forms the next batch
 * (at most batch_size), so a message waits for one commit, not for a
 * timer, and batches grow only with the load. batch_ms > 0 adds a wait
 * for a batch to fill (at most batch_ms from its oldest message).
 *
 * After a batch commits, on_stored() is called once with its messages, in
 * queue order (id order within each group), from the writer thread: this
 * is where messages are delivered and acknowledged, so nobody sees a
 * message that is not on disk.
 *
 * When a commit fails (disk full, read-only or locked database) the batch is
 * kept, the error logged once per kind of fault, and the commit retried with
 * backoff until it succeeds; meanwhile new messages queue up to max_queue,
 * past which writer_submit() refuses them. Nothing of them is delivered
 * meanwhile.
 *
 * Locking: one mutex (writer lock) guards the queue; it is a leaf: no other
 * lock is taken while it is held, and callbacks run without it. */
#ifndef CHATROOM_WRITER_H
#define CHATROOM_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define WRITER_DUPLICATE 2 /* on_stored's dropped[i]: a resend, stored before */

struct writer_opts {
	const char *db_path;  /* the writer opens its own connection */
	/* Cluster mode: a libpq connection string. The writer then stores
	 * into PostgreSQL (store_pg.h), which takes each message's id and seq
	 * in the batch's transaction (the writer sets m->id and m->seq), and
	 * db_path is not used. A lost connection keeps the batch and is
	 * retried with backoff (logged once), under the batch's token
	 * (store_pg_batch_append()): a batch that committed but lost its
	 * reply is answered, not stored again. A deadlock or serialization
	 * failure is retried at once. dedup_window holds there too. */
	const char *pg_conninfo;
	int batch_size;       /* >= 1 */
	int batch_ms;         /* >= 0: extra wait for a batch to fill; 0: none */
	size_t max_queue;     /* messages accepted but not yet stored */
	int dedup_window;     /* client_msg_ids kept per user */
	/* Synchronous = normal (SQLite only): > 0, commits do not wait for
	 * the disk, and a checkpoint thread syncs them every sync_interval_ms
	 * (store_sync_background); on_stored() then means stored as far as a
	 * crash of the process goes, not yet a power loss. 0: every commit
	 * syncs (Synchronous = full). */
	int sync_interval_ms;
	/* v[0..n) in queue order; dropped[i] is 1 for a message that could
	 * not be stored and never will be (its id taken, or given up on at
	 * writer_stop()), WRITER_DUPLICATE (cluster mode) for a resend of a
	 * message stored before, maybe by another node: nothing was added,
	 * m->id is the stored message's. The messages are referenced until it
	 * returns. */
	void (*on_stored)(msg_t *const *v, const unsigned char *dropped, size_t n, void *ctx);
	void *ctx;
};

/* Opens the database and starts the thread. 0, or -1 with a reason in err.
 * The database is not integrity-checked again (STORE_OPEN_NO_CHECK): open
 * it with store_open() (state_open) first. */
int writer_start(const struct writer_opts *o, char *err, size_t errlen);

/* Queue m for storing; the writer takes its own reference. Returns 0, or -1
 * when max_queue messages are already waiting, or the writer is not
 * running or stopping (nothing is queued). Within a group, messages must
 * be submitted in increasing id order (assign the id and submit under the
 * group's lock): the queue is FIFO, and on_stored() follows queue order. A message may be queued
 * only once at a time (it is linked through m->wnext). */
int writer_submit(msg_t *m);

/* The queued message with this (sender_id, client_msg_id), referenced, or
 * NULL. A resend that arrives before the commit is dropped: on_stored()
 * acknowledges it to the sender's current session. A message is unlinked
 * from the queue after its commit and before on_stored(): in between it
 * is found in the database (state_message_sent). */
msg_t *writer_pending_find(int64_t sender_id, const char *client_msg_id);

size_t writer_depth(void);           /* messages waiting */
uint64_t writer_stored_total(void);  /* messages committed since start */
int writer_healthy(void);            /* 0 while commits are failing */

/* Stop accepting, commit everything queued (retrying for at most
 * a few seconds on faults), close the database, join the thread. */
void writer_stop(void);

#endif
