/* state.h - changes to chat state that live both in the database (store.h)
 * and in the client table (table.h), made in one place with one rule:
 *
 *   the store first, then memory; no SQLite call under the table lock. If
 *   the store refuses, nothing changed. If memory then fails (out of
 *   memory), the store write is undone, so both tell the same story.
 *
 * This is the first part of the state layer: bans, memberships, creating
 * and renaming groups. The deletion of accounts and groups and the renaming
 * of accounts, which also end sessions, are still done by cmd_admin.c,
 * store and table side by side (store first). */
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

/* Create a group with its first members (ids, n of them) in one store
 * transaction, then in the table; *gid is its id. */
int state_group_create(const char *name, int is_private, const int64_t *ids, size_t n,
                       int64_t *gid);

/* Rename group gid: the store (which refuses a name taken), then the table. */
int state_group_rename(int64_t gid, const char *name);

#endif
