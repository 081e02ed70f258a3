/* state.h - changes to chat state that live both in the database (store.h)
 * and in the client table (table.h), made in one place with one rule:
 *
 *   the store first, then memory; no SQLite call under the table lock. If
 *   the store refuses, nothing changed. If memory then fails (out of
 *   memory), the store write is undone, so both tell the same story.
 *
 * This is the first part of the state layer: bans and the membership of
 * public. Accounts, groups and the other memberships are still changed by
 * the handlers (cmd_*.c), store and table side by side. */
#ifndef CHATROOM_STATE_H
#define CHATROOM_STATE_H

#include <stdint.h>

enum state_status {
	STATE_OK = 0,
	STATE_DB = -1,    /* the database refused; nothing changed */
	STATE_NOMEM = -2, /* out of memory after the store write, which was undone */
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

#endif
