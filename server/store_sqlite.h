/* store_sqlite.h - the SQLite backend of store.h, private to its files:
 * store_sqlite.c (the connection, its statements, the helpers and the
 * table of entry points, store_sqlite_backend), store_schema.c
 * (schema and migrations), store_account.c (accounts, groups, memberships,
 * bans), store_chat.c (direct chats, invite-only groups), store_message.c
 * (message batches, history, de-duplication rows),
 * store_file.c (files' metadata), store_checkpoint.c (the checkpoint
 * thread of Synchronous = normal). Nothing else includes it, and nothing
 * outside these files speaks SQL.
 *
 * Functions named store__*() are the backend's own helpers. Every entry
 * point (store_sqlite_*()) takes st->lock for the whole call (see
 * store_sqlite.c). */
#ifndef CHATROOM_STORE_SQLITE_H
#define CHATROOM_STORE_SQLITE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

/* Bump when the schema changes, and add the step from the previous version
 * where store_schema_init() meets an older version. */
#define STORE_SCHEMA_VERSION 2

#define STORE_FILE_COLS "id, group_id, uploader_id, uploader_name, filename, stored_name, size, uploaded_at"

/* Every statement of the backend, compiled on first use and kept for the
 * life of the connection (SQLITE_PREPARE_PERSISTENT): store__stmt(). */
enum store_stmt_id {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_USER_INSERT,
	Q_USER_BY_NAME,
	Q_USER_NAME_TAKEN,
	Q_USER_BY_ID,
	Q_USER_SET_PWHASH,
	Q_USER_SET_BANNED,
	Q_USER_RENAME,
	Q_USER_DELETE,
	Q_USER_DELETE_MEMBERS,
	Q_USER_DELETE_DEDUP,
	Q_USER_COUNT,
	Q_USERS_ALL,
	Q_GROUP_INSERT,
	Q_GROUP_BY_NAME,
	Q_GROUP_BY_ID,
	Q_GROUP_SET_BANNED,
	Q_GROUP_RENAME,
	Q_GROUP_DELETE,
	Q_GROUP_DELETE_MEMBERS,
	Q_GROUP_DELETE_MESSAGES,
	Q_GROUP_DELETE_DEDUP,
	Q_GROUPS_ALL,
	Q_MEMBER_ADD,
	Q_MEMBER_REMOVE,
	Q_MEMBERS_ALL,
	Q_MSG_INSERT,
	Q_DEDUP_INSERT,
	Q_DEDUP_TRIM,
	Q_DEDUP_GET,
	Q_META_LAST_ID_RAISE,
	Q_META_LAST_ID,
	Q_MSG_MAX_ID,
	Q_MSG_COUNT_GROUP,
	Q_MSG_COUNT_ALL,
	Q_HIST_AFTER,
	Q_HIST_BEFORE,
	Q_HIST_NEWEST,
	Q_HIST_RANGE,
	Q_FILE_INSERT,
	Q_FILE_GET,
	Q_FILE_DELETE,
	Q_FILES_GROUP,
	Q_FILES_ALL,
	Q_CHAT_META_INSERT,
	Q_CHAT_META_ALL,
	Q_COUNT
};

/* A sender's client_msg_id rows added since its last trim on this
 * connection (open addressing, keyed by user id). */
struct store_trim_slot {
	int64_t user;
	uint32_t since;    /* rows committed since the last trim */
	uint32_t batch;    /* rows in the batch being stored */
	uint8_t used;
	uint8_t known;     /* trimmed at least once on this connection */
	uint8_t decided;   /* trim decision made for the current batch */
	uint8_t trim_now;  /* ... and it was: trim */
};

/* A connection: store.h's store_t first, so that a store_t * the interface
 * passes in is one of these (store_sqlite_of()). */
/* How long a statement waits for another connection's lock before it gives
 * up with STORE_BUSY. The writer's commits are short, so this is generous. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Checkpoint the WAL into the database file once it holds this many pages
 * (about 40 MB) rather than SQLite's 1000: a page rewritten by many
 * batches (indexes keyed by sender) is then copied back once, which halves
 * the writer's I/O under load. The checkpoint thread (store_checkpoint.c)
 * starts the log over past the same size. */
#define STORE_WAL_AUTOCHECKPOINT 10000

struct store_ckpt;

typedef struct store_sqlite {
	struct store base;    /* base.be is &store_sqlite_backend */
	pthread_mutex_t lock; /* guards everything below; a leaf lock */
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_COUNT];
	char *path;
	struct store_trim_slot *trim; /* trim counters, trim_cap slots */
	size_t trim_cap, trim_len;
	struct store_ckpt *ckpt; /* store_sync_background()'s thread, or NULL */
} store_sqlite_t;

static inline store_sqlite_t *store_sqlite_of(store_t *base)
{
	return (store_sqlite_t *)base;
}

/* Helpers (store_sqlite.c). */
double store__now(void);
int store__status_of(int rc);
/* Log a failure of what; returns the STORE_* status for rc. */
int store__fail(store_sqlite_t *st, int rc, const char *what);
/* The prepared statement id (compiled once), or NULL (logged). */
sqlite3_stmt *store__stmt(store_sqlite_t *st, enum store_stmt_id id);
/* Reset and unbind a statement after use. */
void store__stmt_done(sqlite3_stmt *s);
/* Step a statement that returns no rows, then reset it; the SQLite code. */
int store__step_done(sqlite3_stmt *s);
void store__copy(char *dst, size_t dstlen, const unsigned char *src);
int store__txn_begin(store_sqlite_t *st);
int store__txn_commit(store_sqlite_t *st);
void store__txn_rollback(store_sqlite_t *st);
void store__errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int store__open_fail(store_sqlite_t *st, int rc, const char *what, char *err, size_t errlen);
int store__exec(store_sqlite_t *st, const char *sql);
int store__pragma_text(store_sqlite_t *st, const char *sql, char *out, size_t outlen);
/* Run a statement that returns no rows; fmt says the parameters' types
 * (see store_sqlite.c). */
int store__run(store_sqlite_t *st, enum store_stmt_id id, int must_change, const char *what,
               const char *fmt, ...);
int store__scalar(store_sqlite_t *st, enum store_stmt_id id, int nparams, int64_t p1, int64_t *out,
                  const char *what);
/* One row by a text key (key != NULL) or an int64 id, decoded by row();
 * STORE_NOTFOUND when there is none. Takes st->lock (an entry point's). */
int store__row_get(store_sqlite_t *st, enum store_stmt_id id, const char *key, int64_t n,
                   void (*row)(sqlite3_stmt *s, void *out), void *out, const char *what);

/* Schema (store_schema.c), all on a connection being opened. */
int store__user_version(store_sqlite_t *st, int *version);
int store__schema_init(store_sqlite_t *st, char *err, size_t errlen);
int store__files_init(store_sqlite_t *st, char *err, size_t errlen);
void store__names_check(store_sqlite_t *st);


/* The backend's entry points (store_backend's entries, store.h). */
int store_sqlite_user_create(store_t *base, const char *username, const char *pwhash, int64_t *id);
int store_sqlite_user_by_name(store_t *base, const char *username, store_user_t *out);
int store_sqlite_user_name_taken(store_t *base, const char *username);
int store_sqlite_user_by_id(store_t *base, int64_t id, store_user_t *out);
int store_sqlite_user_set_pwhash(store_t *base, int64_t id, const char *pwhash);
int store_sqlite_user_set_banned(store_t *base, int64_t id, int banned);
int store_sqlite_user_rename(store_t *base, int64_t id, const char *username);
int store_sqlite_user_delete(store_t *base, int64_t id);
int store_sqlite_user_count(store_t *base, int64_t *n);
int store_sqlite_users_foreach(store_t *base, int (*cb)(void *ctx, const store_user_t *u),
                               void *ctx);
int store_sqlite_group_create(store_t *base, const char *name, int is_private, int64_t *id);
int store_sqlite_group_by_name(store_t *base, const char *name, store_group_t *out);
int store_sqlite_group_by_id(store_t *base, int64_t id, store_group_t *out);
int store_sqlite_group_set_banned(store_t *base, int64_t id, int banned);
int store_sqlite_group_rename(store_t *base, int64_t id, const char *name);
int store_sqlite_group_delete(store_t *base, int64_t id);
int store_sqlite_groups_foreach(store_t *base, int (*cb)(void *ctx, const store_group_t *g),
                                void *ctx);
int store_sqlite_member_add(store_t *base, int64_t group_id, int64_t user_id);
int store_sqlite_member_remove(store_t *base, int64_t group_id, int64_t user_id);
int store_sqlite_members_foreach(store_t *base, int (*cb)(void *ctx, int64_t group_id,
                                 int64_t user_id), void *ctx);
int store_sqlite_messages_append(store_t *base, const store_msg_t *msgs, size_t n,
                                 int dedup_window);
int store_sqlite_history(store_t *base, int64_t group_id, int64_t after_id, int64_t before_id,
                         int limit, int (*cb)(void *ctx, const store_msg_t *m), void *ctx);
int store_sqlite_last_message_id(store_t *base, int64_t *id);
int store_sqlite_reserve_message_ids(store_t *base, int64_t upto);
int store_sqlite_message_count(store_t *base, int64_t group_id, int64_t *n);
int store_sqlite_dedup_get(store_t *base, int64_t user_id, const char *client_msg_id,
                           int64_t *message_id, int64_t *group_id);
int store_sqlite_file_add(store_t *base, const store_file_t *f, int64_t *id);
int store_sqlite_file_get(store_t *base, int64_t id, store_file_t *out);
int store_sqlite_file_delete(store_t *base, int64_t id);
int store_sqlite_files_foreach(store_t *base, int64_t group_id, int (*cb)(void *ctx,
                               const store_file_t *f), void *ctx);
int store_sqlite_chat_create(store_t *base, const char *name, const store_chat_meta_t *meta,
                             const int64_t *members, size_t n, int64_t *id);
int store_sqlite_chat_meta_foreach(store_t *base, int (*cb)(void *ctx, const store_chat_meta_t *m),
                                   void *ctx);
void store_sqlite_close(store_t *base);

/* store_checkpoint.c: the checkpoint thread of a connection whose commits
 * do not sync (store_sync_background); stopped before it closes. */
int store__ckpt_start(store_sqlite_t *st, int interval_ms, int wal_limit);
void store__ckpt_stop(store_sqlite_t *st);

#endif
