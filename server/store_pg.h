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
 *  - De-duplication is a unique constraint on (sender, client_msg_id): a
 *    resend, to this node or another, is answered with the stored id.
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
#define STORE_PG_SCHEMA_VERSION 1

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

/* Messages of a group with seq > after_seq, oldest first, at most limit,
 * with their seq: what a node missed from the bus. */
int store_pg_since_seq(store_pg_t *st, int64_t group_id, int64_t after_seq, int limit,
                       int (*cb)(void *ctx, const store_msg_t *m, int64_t seq), void *ctx);
/* The newest seq of a group (0: none yet). */
int store_pg_last_seq(store_pg_t *st, int64_t group_id, int64_t *seq);

/* Every group's newest seq, ordered by id (cb stops early with non-zero). */
int store_pg_groups_seq(store_pg_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t seq),
                        void *ctx);

/* As the store.h functions of the same names. */
int store_pg_history(store_pg_t *st, int64_t group_id, int64_t after_id, int64_t before_id,
                     int limit, int (*cb)(void *ctx, const store_msg_t *m), void *ctx);
int store_pg_last_message_id(store_pg_t *st, int64_t *id);
int store_pg_reserve_message_ids(store_pg_t *st, int64_t upto);
int store_pg_message_count(store_pg_t *st, int64_t group_id, int64_t *n);
int store_pg_dedup_get(store_pg_t *st, int64_t user_id, const char *client_msg_id,
                       int64_t *message_id, int64_t *group_id);

int store_pg_user_create(store_pg_t *st, const char *username, const char *pwhash, int64_t *id);
int store_pg_user_by_name(store_pg_t *st, const char *username, store_user_t *out);
int store_pg_user_name_taken(store_pg_t *st, const char *username);
int store_pg_user_by_id(store_pg_t *st, int64_t id, store_user_t *out);
int store_pg_user_set_pwhash(store_pg_t *st, int64_t id, const char *pwhash);
int store_pg_user_set_banned(store_pg_t *st, int64_t id, int banned);
int store_pg_user_rename(store_pg_t *st, int64_t id, const char *username);
int store_pg_user_delete(store_pg_t *st, int64_t id);
int store_pg_user_count(store_pg_t *st, int64_t *n);
int store_pg_users_foreach(store_pg_t *st, int (*cb)(void *ctx, const store_user_t *u), void *ctx);

int store_pg_group_create(store_pg_t *st, const char *name, int is_private, int64_t *id);
int store_pg_group_create_with(store_pg_t *st, const char *name, int is_private,
                               const int64_t *members, size_t n, int64_t *id);
int store_pg_group_by_name(store_pg_t *st, const char *name, store_group_t *out);
int store_pg_group_by_id(store_pg_t *st, int64_t id, store_group_t *out);
int store_pg_group_set_banned(store_pg_t *st, int64_t id, int banned);
int store_pg_group_rename(store_pg_t *st, int64_t id, const char *name);
int store_pg_group_delete(store_pg_t *st, int64_t id);
int store_pg_groups_foreach(store_pg_t *st, int (*cb)(void *ctx, const store_group_t *g),
                            void *ctx);
int store_pg_member_add(store_pg_t *st, int64_t group_id, int64_t user_id);
int store_pg_member_remove(store_pg_t *st, int64_t group_id, int64_t user_id);
int store_pg_members_foreach(store_pg_t *st,
                             int (*cb)(void *ctx, int64_t group_id, int64_t user_id), void *ctx);

int store_pg_file_add(store_pg_t *st, const store_file_t *f, int64_t *id);
int store_pg_file_get(store_pg_t *st, int64_t id, store_file_t *out);
int store_pg_file_delete(store_pg_t *st, int64_t id);
int store_pg_files_foreach(store_pg_t *st, int64_t group_id,
                           int (*cb)(void *ctx, const store_file_t *f), void *ctx);

#endif
