/* state.h - the state layer: users, groups, memberships, bans, files'
 * metadata and who is logged in where. It alone calls the database (the
 * store) for them and for stored messages read back, and keeps the client
 * table (table.h) telling the same story, with one rule for every change:
 *
 *   the store first, then memory; no database call under the table lock.
 *   If the store refuses, nothing changed. If memory or a later check then
 *   fails (out of memory, a login overtaken), the store write is undone,
 *   so both tell the same story. (Two memberships of public are left
 *   rather than undone, as every login makes one again: a registration's
 *   and an out-of-memory at login, both logged.) A
 *   change that ends sessions (deleting, renaming an account, a new
 *   password) ends them after the store write, under the table write lock,
 *   and bumps the accounts' generation there (table_accounts_changed), so
 *   a login that read the account before the change reads it again.
 *
 * state.c: opening and loading, bans, memberships, groups; state_chat.c:
 * creating groups, direct chats, removing members; state_account.c:
 * accounts and logins; state_file.c: files' metadata (and their bytes
 * in cluster mode). The handlers
 * (cmd_*.c) parse a request, call these, and answer: they never see the
 * database. Every function takes the locks it needs itself: call it with
 * none held. */
#ifndef CHATROOM_STATE_H
#define CHATROOM_STATE_H

#include <stddef.h>
#include <stdint.h>

enum state_status {
	STATE_OK = 0,
	STATE_DB = -1,    /* the database refused; nothing changed */
	STATE_NOMEM = -2, /* out of memory after the store write, which was undone */
	STATE_EXISTS = -3, /* the name is taken; nothing changed */
};

/* Ban (banned 1) or free (0) user uid: the flag in the store, then the
 * table's set of banned users, which chat sending reads. */
int state_user_set_banned(int64_t uid, int banned);

/* Ban or free group gid: the flag in the store, then the table's group
 * (if loaded). */
int state_group_set_banned(int64_t gid, int banned);

/* Make user uid a member of public: the store, then the table. Quietly
 * nothing when there is no public group. */
int state_join_public(int64_t uid);

/* Make user uid a member of group gid: the store, then the table. */
int state_join(int64_t gid, int64_t uid);

/* Create a group with its first members (ids, n of them) and its kind in
 * one store transaction, then in the table; *gid is its id. invite_only:
 * join_chat is refused to non-members; creator (-1: none) may remove
 * members. STATE_EXISTS when the name is taken. (state_chat.c) */
int state_group_create(const char *name, int invite_only, int64_t creator, const int64_t *ids,
                       size_t n, int64_t *gid);

/* Rename group gid: the store (which refuses a name taken), then the table. */
int state_group_rename(int64_t gid, const char *name);

/* Direct chats, invite-only groups, removing members (state_chat.c). */

#define STATE_DIRECT_NAME_TRIES 20 /* "a_b", "a_b_2", ... before giving up */

/* The direct chat of users a and b (a != b), named aname_bname when made:
 * the pair's existing chat (either order), with whichever of the two had
 * left it made a member again, or a new private chat whose members are
 * exactly a and b. Its id in *gid, its name in name (namelen bytes), and
 * *created 1 when it is new. A taken name gets a suffix (_2, _3, ...).
 * Openings are serialized (state_direct_lock, taken with no other lock
 * held), so two at once for one pair make one chat. */
int state_direct_open(int64_t a, const char *aname, int64_t b, const char *bname, int64_t *gid,
                      char *name, size_t namelen, int *created);

/* The id of the direct chat of users a and b (either order), or -1. */
int64_t state_direct_find(int64_t a, int64_t b);

/* Adding a member (an invitation) is state_join(). */

/* User uid is no longer a member of group gid (leaving, or removed): the
 * store, then the table; a session of uid whose current group it was is
 * moved to public (*moved 1). The group and its history stay, also when
 * it has no member left. The other nodes of a cluster hear of it
 * (cluster_sync.h), with by: who removed uid (NULL: uid left). */
int state_member_remove(int64_t gid, int64_t uid, const char *by, int *moved);

/* ---- more of the state layer: accounts, logins, lookups --------------- */

#define STATE_ADMIN_ID 0       /* the Admin account's user id */
#define STATE_NOTFOUND (-4)    /* no such account, group or file; nothing changed */

struct client; /* client.h */
struct outbuf; /* client.h */

typedef struct state_user {
	int64_t id;
	char username[96];
	int banned;
} state_user_t;

typedef struct state_group {
	int64_t id;
	char name[160];
	int is_private;
	int banned;
} state_group_t;

/* Open the database (srv_store); load the groups with their kinds,
 * memberships and banned users into the table (table_init() first; at
 * start, before any other thread uses the table) and give the highest message id stored or
 * reserved in *last_id. 0, or -1 (state_open: with what to do in err). */
int state_open(const char *path, char *err, size_t errlen);
int state_load(int64_t *last_id);
void state_close(void);
/* Admin's password hash: whether it has one (1, 0, -1: no Admin account or
 * the database failed), and setting it (STATE_*), for the start only: no
 * session is ended. */
int state_admin_has_password(void);
int state_admin_set_pwhash(const char *hash);

/* Lookups: STATE_OK, STATE_NOTFOUND, or STATE_DB. */
int state_user_by_id(int64_t uid, state_user_t *out);
int state_user_by_name(const char *name, state_user_t *out);
int state_group_by_id(int64_t gid, state_group_t *out);
int state_group_by_name(const char *name, state_group_t *out);
int state_user_count(int64_t *n);
/* The groups in the store, direct chats included: in a cluster the
 * record every node shares, ahead of a table that has not heard of the
 * newest. */
int state_group_count(int64_t *n);
/* Every user (group), ordered by id, until cb returns non-zero. cb runs
 * under the database's lock: it must not call the state layer. */
int state_users_foreach(int (*cb)(void *ctx, const state_user_t *u), void *ctx);
int state_groups_foreach(int (*cb)(void *ctx, const state_group_t *g), void *ctx);

/* Registration: whether the name is free (STATE_OK, STATE_EXISTS for a
 * name taken in any case, STATE_DB), then the account with its password
 * hash, made a member of public. The membership is not part of the account
 * (a failure is logged, not undone): every login makes its user a member
 * of public again. */
int state_user_name_taken(const char *name);
int state_register(const char *name, const char *pwhash, int64_t *uid);

/* A login, in two steps around the password check (which takes long and
 * is the caller's): state_login_read() notes the accounts' generation and
 * reads the account; state_login() then logs connection c in as it. It
 * reads the account again once it holds the table write lock if anything
 * changed accounts meanwhile, and refuses (STATE_NOTFOUND) when it was
 * deleted, renamed or given a new password. Otherwise, under that lock, an
 * older session of the user is ended (told catalog entry notice, closed
 * with reason for the log), c becomes the user's session, a member of
 * public and enters public, and reply(ctx, public's id or -1) runs before
 * the lock is let go, so that the reply is queued before any chat of
 * public reaches c.
 * A user not yet a member of public becomes one in the store before the
 * lock is taken; a refusal after that undoes it. Who went offline (c's
 * previous account) and came online is announced (presence.h).
 * STATE_OK, STATE_NOTFOUND, or STATE_DB (nobody logged in). */
struct state_login {
	int64_t id;
	char username[96];
	char pwhash[256];  /* "" when the account has no password */
	uint64_t gen;      /* the accounts' generation before the read */
};
int state_login_read(const char *name, struct state_login *l);
/* Store a new hash of the account's password (a raised cost), keeping l
 * in step. */
int state_login_rehash(struct state_login *l, const char *hash);
int state_login(struct client *c, const struct state_login *l, int notice, const char *reason,
                void (*reply)(void *ctx, int64_t public_id), void *ctx);
/* c logs out: no longer its user's session; announced. */
void state_logout(struct client *c);

/* Changes to accounts that end the user's session: its client hears catalog
 * entry notice (with arg) and is closed with reason; announced offline.
 * STATE_OK, STATE_NOTFOUND, STATE_DB (nothing changed), STATE_EXISTS
 * (rename: the name is taken). */
int state_user_delete(int64_t uid, int notice, const char *reason);
int state_user_rename(int64_t uid, const char *name, int notice, const char *reason);
/* A new password hash; keep_session: the user's session stays (Admin
 * changing its own password from it), else it is ended. */
int state_user_set_pwhash(int64_t uid, const char *hash, int keep_session, int notice,
                          const char *reason);

/* Delete group gid: the store (with its memberships and messages), then the
 * table. Clients in it move to public, each queued notice[its language]
 * first (NULL entries: nothing). Its files are the caller's (state_file_*). */
int state_group_delete(int64_t gid, struct outbuf *const *notice);

/* ---- changes made on another node of a cluster ------------------------ */

/* The store took them there; these make the table (and the sessions) here
 * follow, as the local change does after its store write
 * (cluster_sync.c, the bus thread). Each takes the locks it needs. */

/* Account uid changed: logins that read it read it again, and its session
 * here ends (told catalog entry notice with arg, closed with reason, a
 * constant); deleted: its memberships and ban go from the table too. */
void state_account_changed_elsewhere(int64_t uid, int deleted, int notice, const char *arg,
                                     const char *reason);
/* User uid is no longer a member of group gid; its session here, if in
 * that group, moves to public (*moved 1). */
void state_member_removed_elsewhere(int64_t gid, int64_t uid, int *moved);
/* Group gid was deleted: as state_group_delete() after its store write. */
void state_group_deleted_elsewhere(int64_t gid, struct outbuf *const *notice);

/* Record that message ids up to upto may be in use (the store's
 * reservation: ids seen live before a crash are not reused after it). 0,
 * or -1 when the database refused. */
int state_reserve_message_ids(int64_t upto);

/* Stored messages of group gid (named gname), oldest first, each passed to
 * cb as a new msg_t whose reference cb takes; cb runs under the database's
 * lock and stops the reading by returning non-zero. after: -1 not given,
 * 0 from the first message, else the oldest `limit` after it; before: 0
 * not given, else the newest `limit` before it; neither: the newest
 * `limit`. STATE_OK or STATE_DB. */
struct msg;
int state_messages_read(int64_t gid, const char *gname, int64_t after, int64_t before, int limit,
                        int (*cb)(void *ctx, struct msg *m), void *ctx);
/* The message user uid sent earlier with client_msg_id cmid, once stored:
 * STATE_OK with its id and group, STATE_NOTFOUND, or STATE_DB. */
int state_message_sent(int64_t uid, const char *cmid, int64_t *message_id, int64_t *group_id);

/* ---- files' metadata (state_file.c) ----------------------------------- */

typedef struct state_file {
	int64_t id;
	int64_t group_id;
	int64_t uploader_id;
	char uploader_name[96];
	char filename[1024];   /* the name the client gave, shown in lists */
	char stored_name[80];  /* the file's name inside the group's folder */
	int64_t size;
	double uploaded_at;
} state_file_t;

int state_file_add(const state_file_t *f, int64_t *id);
int state_file_get(int64_t id, state_file_t *out);
int state_file_delete(int64_t id);
/* The files of group gid (0: every group), oldest first, until cb returns
 * non-zero; cb runs under the database's lock (see above). */
int state_files_foreach(int64_t gid, int (*cb)(void *ctx, const state_file_t *f), void *ctx);

/* Files' bytes kept by the database (cluster mode: every node serves every
 * file), in chunks of state_file_chunk_size() bytes; 0 when the database
 * keeps none and the data directory holds them. An upload puts chunks 0,
 * 1, 2... of its stored_name, then state_file_add() records the file, which
 * succeeds only when the chunks hold exactly its size (STATE_NOTFOUND
 * otherwise); an abandoned upload drops its chunks. state_file_delete()
 * deletes a file's chunks with it. STATE_OK, STATE_NOTFOUND (no such chunk)
 * or STATE_DB. */
size_t state_file_chunk_size(void);
int state_file_chunk_put(const char *stored_name, int64_t idx, const void *data, size_t len);
int state_file_chunk_get(const char *stored_name, int64_t idx, void *buf, size_t cap,
                         size_t *len);
int state_file_chunks_drop(const char *stored_name);

#endif
