/* store.h - chatroomd's SQLite database: accounts, groups, memberships,
 * messages, the client_msg_id de-duplication window and uploaded files.
 *
 * Thread safety: one store_t is one SQLite connection, guarded by a mutex
 * inside it (store_t.lock, a leaf in the lock order: nothing else is locked
 * while holding it). The writer thread opens its own store_t on the same
 * file so that message batches never wait behind account queries; WAL mode
 * lets readers run while it commits.
 *
 * Every function returns STORE_OK (0) or a negative STORE_* code, and logs
 * the SQLite error text on STORE_ERR. The *_foreach() and store_history()
 * callbacks run with store_t.lock held: they must not call back into the
 * same store_t (it would deadlock) and should be quick. */
#ifndef CHATROOM_STORE_H
#define CHATROOM_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_status {
	STORE_OK = 0,
	STORE_ERR = -1,      /* SQLite failure (logged) */
	STORE_NOTFOUND = -2,
	STORE_EXISTS = -3,   /* unique constraint (name taken) */
	STORE_FULL = -4,     /* disk full (SQLITE_FULL) */
	STORE_READONLY = -5, /* read-only database or file */
	STORE_BUSY = -6,     /* locked by another process past the busy timeout */
	STORE_CORRUPT = -7,  /* not a database / integrity check failed */
};

#define STORE_ADMIN_ID 0 /* the Admin account is user_id 0, as in the reference */

typedef struct store store_t;

typedef struct store_user {
	int64_t id;
	char username[96];  /* up to 20 characters of UTF-8 */
	char pwhash[256];   /* crypto_pwhash_str() output; "" when no password is set */
	int banned;
	double created_at;
} store_user_t;

typedef struct store_group {
	int64_t id;
	char name[160];     /* up to 30 characters of UTF-8 */
	int is_private;     /* 1: a private chat (reference: two members) */
	int banned;
	double created_at;
} store_group_t;

typedef struct store_msg {
	int64_t id;           /* message_id, assigned by the server before storing */
	int64_t group_id;
	int64_t sender_id;
	double ts;            /* seconds since the epoch */
	const char *sender_name;
	const char *content;
	const char *client_msg_id; /* NULL when the client sent none */
} store_msg_t;

/* Open (creating with the schema when absent) the database at path; sets
 * WAL, synchronous=FULL, a busy timeout, foreign keys. On a new database
 * creates the Admin account (id 0, no password) and the group "public".
 * A file that is not a database or fails "PRAGMA quick_check" gives
 * STORE_CORRUPT with a message in err saying what to do. */
int store_open(const char *path, store_t **out, char *err, size_t errlen);
/* store_open() with flags: STORE_OPEN_NO_CHECK skips "PRAGMA quick_check"
 * (it reads the whole file), for another connection to a database that was
 * just checked. */
#define STORE_OPEN_NO_CHECK 0x1u
int store_open_ex(const char *path, unsigned flags, store_t **out, char *err, size_t errlen);
void store_close(store_t *st);

/* Accounts */
/* STORE_EXISTS when the name is taken in any case. */
int store_user_create(store_t *st, const char *username, const char *pwhash, int64_t *id);
int store_user_by_name(store_t *st, const char *username, store_user_t *out);
/* STORE_EXISTS when an account has username in any case (letters differing
 * only by case are one name for new accounts), else STORE_OK. */
int store_user_name_taken(store_t *st, const char *username);
int store_user_by_id(store_t *st, int64_t id, store_user_t *out);
int store_user_set_pwhash(store_t *st, int64_t id, const char *pwhash);
int store_user_set_banned(store_t *st, int64_t id, int banned);
int store_user_rename(store_t *st, int64_t id, const char *username); /* STORE_EXISTS if taken */
int store_user_delete(store_t *st, int64_t id);   /* and its memberships */
int store_user_count(store_t *st, int64_t *n);
/* Calls cb for every user, ordered by id; stops early when cb returns non-zero. */
int store_users_foreach(store_t *st, int (*cb)(void *ctx, const store_user_t *u), void *ctx);

/* Groups and memberships */
int store_group_create(store_t *st, const char *name, int is_private, int64_t *id);
/* A group and its n members in one transaction (one commit, not one per
 * member): all of it is stored or nothing. STORE_EXISTS when the name is
 * taken, STORE_NOTFOUND when a member does not exist. */
int store_group_create_with(store_t *st, const char *name, int is_private, const int64_t *members,
                            size_t n, int64_t *id);
int store_group_by_name(store_t *st, const char *name, store_group_t *out);
int store_group_by_id(store_t *st, int64_t id, store_group_t *out);
int store_group_set_banned(store_t *st, int64_t id, int banned);
int store_group_rename(store_t *st, int64_t id, const char *name);
int store_group_delete(store_t *st, int64_t id);  /* and its memberships and messages */
int store_groups_foreach(store_t *st, int (*cb)(void *ctx, const store_group_t *g), void *ctx);
int store_member_add(store_t *st, int64_t group_id, int64_t user_id); /* already a member: STORE_OK */
int store_member_remove(store_t *st, int64_t group_id, int64_t user_id);
int store_members_foreach(store_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t user_id),
                          void *ctx);

/* Messages */
/* Store n messages and their client_msg_ids in one transaction (prepared
 * statements). Either all are stored or none (returns the failure code:
 * STORE_FULL, STORE_READONLY, STORE_BUSY, STORE_CORRUPT, STORE_ERR; or
 * STORE_EXISTS when a message id is already stored, which no retry fixes).
 * The newest dedup_window client_msg_ids of each sender are always kept;
 * older ones are deleted in bulk, once a sender has dedup_window/8 (at
 * least 1) more. dedup_window <= 0: none are ever deleted. A repeated
 * (sender, client_msg_id) keeps its first message. */
int store_messages_append(store_t *st, const store_msg_t *msgs, size_t n, int dedup_window);
/* Messages of a group, oldest first, passed to cb (strings valid during the
 * call only). after_id > 0: the oldest `limit` with id > after_id
 * (STORE_FROM_START: the oldest `limit` of all).
 * before_id > 0: the newest `limit` with id < before_id. Neither (both 0):
 * the newest `limit`. */
#define STORE_FROM_START (-1) /* after_id: the oldest messages of the group */
int store_history(store_t *st, int64_t group_id, int64_t after_id, int64_t before_id, int limit,
                  int (*cb)(void *ctx, const store_msg_t *m), void *ctx);
int store_last_message_id(store_t *st, int64_t *id); /* 0 when there are none */
/* Record that message ids up to `upto` may be in use (handed out, maybe not
 * stored): store_last_message_id() never returns less afterwards, so ids
 * seen live before a crash are not given to other messages after it. */
int store_reserve_message_ids(store_t *st, int64_t upto);
int store_message_count(store_t *st, int64_t group_id, int64_t *n); /* group_id 0: all */
/* The message stored earlier under (user_id, client_msg_id). */
int store_dedup_get(store_t *st, int64_t user_id, const char *client_msg_id, int64_t *message_id,
                    int64_t *group_id);

/* Files (uploads). The bytes live in the data directory, under
 * <DataDir>/<group_id>/<stored_name>; the store keeps what describes them.
 * stored_name is generated by the server, never taken from the client. */
typedef struct store_file {
	int64_t id;
	int64_t group_id;
	int64_t uploader_id;
	char uploader_name[96];
	char filename[1024];   /* the name the client gave, shown in lists */
	char stored_name[80];  /* the file's name inside the group's folder */
	int64_t size;
	double uploaded_at;
} store_file_t;

/* Record an uploaded file (f->id is ignored); its new id in *id. */
int store_file_add(store_t *st, const store_file_t *f, int64_t *id);
int store_file_get(store_t *st, int64_t id, store_file_t *out);
int store_file_delete(store_t *st, int64_t id); /* STORE_NOTFOUND if absent */
/* Calls cb for the files of group_id (0: of every group), oldest first;
 * stops early when cb returns non-zero. */
int store_files_foreach(store_t *st, int64_t group_id,
                        int (*cb)(void *ctx, const store_file_t *f), void *ctx);

/* Direct chats and invite-only groups (store_chat.c). What a group is
 * besides its name and members; groups without such a row are plain. */
typedef struct store_chat_meta {
	int64_t group_id;
	int invite_only;      /* join_chat refused to non-members */
	int64_t creator_id;   /* -1: none recorded */
	int64_t direct[2];    /* a direct chat's two users, lower id first; -1, -1 otherwise */
} store_chat_meta_t;

/* A group (is_private when meta->direct[0] >= 0), its n members and its
 * meta row in one transaction; meta->group_id is ignored, the new id is in
 * *id. STORE_EXISTS when the name is taken or the pair already has a
 * direct chat, STORE_NOTFOUND when a member does not exist. */
int store_chat_create(store_t *st, const char *name, const store_chat_meta_t *meta,
                      const int64_t *members, size_t n, int64_t *id);
/* Calls cb for every meta row, ordered by group id; stops early when cb
 * returns non-zero. */
int store_chat_meta_foreach(store_t *st, int (*cb)(void *ctx, const store_chat_meta_t *m),
                            void *ctx);

#endif
