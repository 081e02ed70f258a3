/* store_pg.h - the PostgreSQL store of chatroomd's cluster mode
 * (--postgres CONNINFO): the record shared by every node. Same status codes
 * as store.h; the SQL lives in store_pg.c only.
 *
 * What differs from the SQLite store, and why:
 *  - Message ids are taken in the batch's transaction, not before it: the
 *    batch first locks the rows of its groups in ascending id order (so
 *    two nodes' batches cannot deadlock), and a group's ids and its
 *    per-group sequence number (seq: 1, 2, 3... with no gap) are then
 *    handed out in commit order. A node that receives messages of a group
 *    from the others can tell by seq that one is missing.
 *  - De-duplication is a unique constraint on (sender, client_msg_id) in
 *    the dedup table: a resend, to this node or another, is answered with
 *    the stored id. A sender's newest DedupWindow ids are kept (older ones
 *    are deleted in bulk, as in SQLite).
 *  - A batch carries a token (store_pg_batch_token()), recorded with its
 *    outcome in the batch's transaction: when its COMMIT succeeded but the
 *    reply was lost with the connection, the writer's retry is answered
 *    with that outcome, so no message is stored twice.
 *  - Uploaded files' bytes are in the database too (file_chunks), so that
 *    any node serves any file; the data directory holds none.
 *
 * Thread safety: one store_pg_t is one libpq connection, guarded by its
 * mutex (a leaf lock, as store_t.lock). Callbacks run with it held. */
#ifndef CHATROOM_STORE_PG_H
#define CHATROOM_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Bump when the schema changes, and add the step from the previous version
 * in store_pg.c (store_pg_schema). */
#define STORE_PG_SCHEMA_VERSION 5

/* Uploaded files' bytes are stored in chunks of this many bytes (the last
 * may be shorter): one chunk is one row and one transaction, and what a
 * transfer holds in memory. */
#define STORE_PG_FILE_CHUNK (256 * 1024)
/* Chunks that no file owns, the newest of them older than this many
 * seconds, are deleted (a node killed mid-upload left them): when a node
 * starts, and when an upload begins if its connection has not looked for
 * them for STORE_PG_ORPHAN_SWEEP_EVERY seconds. The age is far longer than
 * any upload that still makes progress. */
#define STORE_PG_ORPHAN_CHUNK_AGE (24 * 3600)
#define STORE_PG_ORPHAN_SWEEP_EVERY 3600

typedef struct store_pg store_pg_t;

/* Connect, and create the schema (Admin, "public") in an empty database or
 * check its version. STORE_ERR with a reason in err: unreachable, refused,
 * a schema newer than this chatroomd, or a database that is not ours. */
int store_pg_open(const char *conninfo, store_pg_t **out, char *err, size_t errlen);
void store_pg_close(store_pg_t *st);

/* For chatroomd -t: the server answers and the schema's version fits (or
 * the database is empty and will be created). Changes nothing. STORE_OK, or
 * STORE_ERR with what is wrong in err. */
int store_pg_check(const char *conninfo, char *err, size_t errlen);

/* What the store made of one message of a batch. */
struct store_pg_stored {
	int64_t id;     /* message_id (the earlier one for a resend) */
	int64_t seq;    /* its place in its group: 1, 2, ...; 0 if the group is gone */
	int duplicate;  /* 1: (sender, client_msg_id) was stored before; nothing added */
};

/* Store msgs[0..n) (their id fields are ignored) in one transaction and say
 * in out[i] what each became. STORE_OK; STORE_BUSY when the transaction met
 * a deadlock, a serialization failure or a concurrent resend (retry it:
 * nothing was stored); STORE_ERR when the server is unreachable (logged
 * once per outage; the next call reconnects) or refused it. */
int store_pg_messages_append(store_pg_t *st, const store_msg_t *msgs, size_t n,
                             struct store_pg_stored *out);

/* store_pg_messages_append() made safe to repeat: token (from
 * store_pg_batch_token(), the same for every attempt at one batch) is
 * recorded with the batch's outcome, and an attempt after one that
 * committed (its reply lost with the connection: STORE_ERR) is answered
 * with that outcome, storing nothing. Only the last committed batch of a
 * connection's tokens is remembered: retry a batch before storing the
 * next (the writer does). token NULL: no such record. */
int store_pg_batch_append(store_pg_t *st, const store_msg_t *msgs, size_t n, const char *token,
                          struct store_pg_stored *out);
/* A new batch token: unique to this connection's start (random bits from
 * the operating system) and counted. */
#define STORE_PG_TOKEN_LEN 64
void store_pg_batch_token(store_pg_t *st, char *buf, size_t len);
/* The number of client_msg_ids kept per sender ([Store] DedupWindow):
 * the newest window are always kept, older ones deleted by the batches of
 * this connection (in bulk: at most about window/8 more stay). 0 (the
 * default): none deleted. */
void store_pg_set_dedup_window(store_pg_t *st, int window);
/* Tests only: the next n batches that commit lose their reply, as when
 * the connection dies after COMMIT: the connection is ended and the call
 * returns STORE_ERR. */
void store_pg_test_lose_replies(int n);

/* Messages of a group with seq > after_seq, oldest first, at most limit,
 * with their seq: what a node missed from the bus. */
int store_pg_since_seq(store_pg_t *st, int64_t group_id, int64_t after_seq, int limit,
                       int (*cb)(void *ctx, const store_msg_t *m, int64_t seq), void *ctx);
/* The newest seq of a group (0: none yet). */
int store_pg_last_seq(store_pg_t *st, int64_t group_id, int64_t *seq);

/* Every group's newest seq, ordered by id (cb stops early with non-zero). */
int store_pg_groups_seq(store_pg_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t seq),
                        void *ctx);

/* The count of changes to accounts, groups, memberships and groups' kinds
 * committed so far (it only grows): a node that read them all when it was
 * n need not read them again while it is n. */
int store_pg_changes(store_pg_t *st, int64_t *count);

/* The store.h handle of st (store_close(it) closes st), and back: NULL
 * when st is not a PostgreSQL connection. */
store_t *store_pg_store(store_pg_t *st);
store_pg_t *store_pg_from(store_t *st);

/* The backend of store.h (store.c asks it first): it claims the names
 * STORE_PG_PREFIX + a libpq connection string, and postgresql:// or
 * postgres:// URIs. Its messages_append() entry refuses (STORE_ERR): in
 * cluster mode the writer stores through store_pg_messages_append(),
 * which takes the ids itself. */
#define STORE_PG_PREFIX "postgresql:"
extern const struct store_backend store_pg_backend;

#endif
