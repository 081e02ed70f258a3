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

/* Create a group whose kind the store records: invite_only, made by
 * creator (who may remove members), with its first members (ids, n of
 * them: the creator among them). As state_group_create(). */
int state_chat_create(const char *name, int invite_only, int64_t creator, const int64_t *ids,
                      size_t n, int64_t *gid);

/* Adding a member (an invitation) is state_join(). */

/* User uid is no longer a member of group gid (leaving, or removed): the
 * store, then the table; a session of uid whose current group it was is
 * moved to public (*moved 1). The group and its history stay, also when
 * it has no member left. */
int state_member_remove(int64_t gid, int64_t uid, int *moved);

#endif
