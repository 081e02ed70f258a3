/* store_pg_private.h - what the files of the PostgreSQL store share
 * (store_pg.c: connection, schema, messages; store_pg_account.c:
 * accounts, groups, memberships; store_pg_file.c: files and their bytes). Nothing else includes it, and
 * nothing outside these files speaks SQL to PostgreSQL.
 *
 * Every public function takes st->lock for the whole call; the helpers
 * below expect it held. */
#ifndef CHATROOM_STORE_PG_PRIVATE_H
#define CHATROOM_STORE_PG_PRIVATE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store_pg.h"

#define STORE_PG_MAX_PARAMS 8

/* A statement run on its own (not inside an explicit transaction) that
 * PostgreSQL refused for a deadlock or a serialization failure is run again
 * up to this many times in all, waiting a little longer each time: the
 * count of changes (schema version 5) makes two changes to accounts and
 * groups meet on one row, and the one refused usually goes through at once
 * when run again. A multi-statement transaction is retried whole by its
 * caller (store_pg_group_insert). */
#define STORE_PG_BUSY_TRIES 4
#define STORE_PG_BUSY_PAUSE_MS 2

struct store_pg {
	struct store base;    /* first: a store_t * of this backend is one of these */
	pthread_mutex_t lock; /* guards everything below; a leaf lock */
	PGconn *conn;
	int down;             /* the connection was lost: logged once, reconnect on use */
	double orphans_swept; /* when this connection last swept orphan chunks */
	int dedup_window;     /* client_msg_ids kept per sender; 0: all */
	uint64_t token_rand[2]; /* store_pg_batch_token(): random per open ... */
	uint64_t token_next;    /* ... and a counter */
};

static inline store_pg_t *store_pg_of(store_t *base)
{
	return (store_pg_t *)base;
}

double store_pg__now(void);
/* Run sql with text parameters (none: several statements may be given);
 * *out gets the result (PQclear it) when it succeeded. A STORE_* status:
 * STORE_EXISTS for a unique violation, STORE_NOTFOUND for a foreign key
 * one, STORE_BUSY for a deadlock or serialization failure (a statement
 * run on its own has been run again a few times first), STORE_ERR
 * (logged) for anything else, a lost connection included. */
int store_pg__run(store_pg_t *st, const char *what, PGresult **out, const char *sql, int n,
                  const char *const *params);
/* store_pg__run() with parameters given by fmt: 'i' int64_t, 'd' double,
 * 's' string. must_change: STORE_NOTFOUND when no row was changed or
 * returned. */
int store_pg__q(store_pg_t *st, const char *what, PGresult **out, int must_change,
                const char *sql, const char *fmt, ...);
/* store_pg__run() with parameters of the given lengths, each in text
 * (formats[i] 0) or binary (1) form, and the result in text (0) or binary
 * (1) form. */
int store_pg__run_bin(store_pg_t *st, const char *what, PGresult **out, const char *sql, int n,
                      const char *const *params, const int *lengths, const int *formats,
                      int result_binary);
/* Sleep ms milliseconds (between attempts of a refused transaction). */
void store_pg__pause_ms(int ms);
/* Column col of row as an integer (0 when NULL). */
int64_t store_pg__int(PGresult *r, int row, int col);

/* The backend's entries: the store.h functions of the same names. */
int store_pg_history(store_t *st, int64_t group_id, int64_t after_id, int64_t before_id,
                     int limit, int (*cb)(void *ctx, const store_msg_t *m), void *ctx);
int store_pg_last_message_id(store_t *st, int64_t *id);
int store_pg_reserve_message_ids(store_t *st, int64_t upto);
int store_pg_message_count(store_t *st, int64_t group_id, int64_t *n);
int store_pg_dedup_get(store_t *st, int64_t user_id, const char *client_msg_id,
                       int64_t *message_id, int64_t *group_id);

int store_pg_user_create(store_t *st, const char *username, const char *pwhash, int64_t *id);
int store_pg_user_by_name(store_t *st, const char *username, store_user_t *out);
int store_pg_user_name_taken(store_t *st, const char *username);
int store_pg_user_by_id(store_t *st, int64_t id, store_user_t *out);
int store_pg_user_set_pwhash(store_t *st, int64_t id, const char *pwhash);
int store_pg_user_set_banned(store_t *st, int64_t id, int banned);
int store_pg_user_rename(store_t *st, int64_t id, const char *username);
int store_pg_user_delete(store_t *st, int64_t id);
int store_pg_user_count(store_t *st, int64_t *n);
int store_pg_users_foreach(store_t *st, int (*cb)(void *ctx, const store_user_t *u), void *ctx);

int store_pg_group_create(store_t *st, const char *name, int is_private, int64_t *id);
int store_pg_chat_create(store_t *st, const char *name, const store_chat_meta_t *meta,
                         const int64_t *members, size_t n, int64_t *id);
int store_pg_chat_meta_foreach(store_t *st, int (*cb)(void *ctx, const store_chat_meta_t *m),
                               void *ctx);
int store_pg_group_by_name(store_t *st, const char *name, store_group_t *out);
int store_pg_group_by_id(store_t *st, int64_t id, store_group_t *out);
int store_pg_group_set_banned(store_t *st, int64_t id, int banned);
int store_pg_group_rename(store_t *st, int64_t id, const char *name);
int store_pg_group_delete(store_t *st, int64_t id);
int store_pg_groups_foreach(store_t *st, int (*cb)(void *ctx, const store_group_t *g),
                            void *ctx);
int store_pg_member_add(store_t *st, int64_t group_id, int64_t user_id);
int store_pg_member_remove(store_t *st, int64_t group_id, int64_t user_id);
int store_pg_members_foreach(store_t *st,
                             int (*cb)(void *ctx, int64_t group_id, int64_t user_id), void *ctx);

int store_pg_file_add(store_t *st, const store_file_t *f, int64_t *id);
int store_pg_file_get(store_t *st, int64_t id, store_file_t *out);
int store_pg_file_delete(store_t *st, int64_t id);
int store_pg_files_foreach(store_t *st, int64_t group_id,
                           int (*cb)(void *ctx, const store_file_t *f), void *ctx);
int store_pg_file_chunk_put(store_t *st, const char *stored_name, int64_t idx, const void *data,
                           size_t len);
int store_pg_file_chunk_get(store_t *st, const char *stored_name, int64_t idx, void *buf,
                           size_t cap, size_t *len);
int store_pg_file_chunks_drop(store_t *st, const char *stored_name);
/* Delete the chunks no file owns whose newest is older than
 * STORE_PG_ORPHAN_CHUNK_AGE seconds (left by a node killed mid-upload).
 * Takes st->lock. */
int store_pg__file_orphans_sweep(store_pg_t *st);

#endif
