/* table.h - the client table: every connection, the logged-in users, the
 * groups with their memberships, and which clients are currently in which
 * group (the broadcast lists). One rwlock guards it all: readers are chat
 * fan-out and queries; writers are connects, logins, enters and changes to
 * groups.
 *
 * LOCK ORDER - the one order for all of chatroomd. A thread holding a lock
 * may only take locks further down this list:
 *   1. table lock          (rwlock, here: table_rdlock/table_wrlock)
 *   2. group->seq_lock     (mutex per group: orders message ids and fan-out)
 *   3. client->out_lock    (mutex per client: its output queue)
 * One lock comes before all three: the order lock (order.c, cluster mode),
 * held while a message is delivered in its group's order, which takes 1,
 * 2 and 3 as bcast_stored does; nobody takes it holding 1, 2 or 3.
 * One more comes before the table lock: the presence write lock
 * (cluster_presence.c), held while the table is read for this node's
 * users and they are written to Redis (which takes the bus lock); nobody
 * takes it holding any other lock.
 * Apart from these, two locks are held while taking others:
 *   bcast_reserve_lock (broadcast.c) -> the store's lock, to record a block
 *   of message ids; it is taken with none of 1-3 held.
 *   state_direct_lock (state_chat.c) -> the table lock, then (after letting
 *   it go) the store's lock, then the table lock again: the opening of a
 *   direct chat, taken with no other lock held.
 *   cluster_refresh_lock (cluster.c) -> the store's lock, then (after
 *   letting it go) the table lock: a refresh from the store in cluster
 *   mode, taken with no other lock held but state_direct_lock.
 * Leaves, never held while taking any other lock: the bus lock (bus.c:
 * the publishing connection), the presence lock (cluster_presence.c: the
 * users online on other nodes), the writer lock
 * (writer.c), each store connection's lock (the backend's: store_sqlite.c,
 * store_pg.c), the pool lock (pool.c), the
 * waiter lock (waiter.c), addr_lock (listener.c: connections per address),
 * throttle_lock (throttle.c: failed logins per address), passwd_init_lock
 * and the hashing semaphore (passwd.c), tls_lock (tls.c: the TLS context
 * for new connections). No socket write
 * and no database call happens while holding 1 or 2: queues are appended to,
 * never flushed, under them (the flush happens at client_defer_end or in
 * the waiter). Under 3 a thread may re-arm the connection in the waiter's
 * epoll (a system call, no lock) and give the waiter a deadline for its
 * output (waiter_at, which takes the waiter lock, a leaf, inside 3); the
 * pool lock and otherwise the waiter lock are taken only after 3 is
 * released. The writer thread delivers stored messages
 * (bcast_stored) taking 1, then each message's 2, then 3, after its commit
 * and without the writer lock; it writes to sockets only after letting them
 * go, and never blocks. */
#ifndef CHATROOM_TABLE_H
#define CHATROOM_TABLE_H

#include <pthread.h>
#include <stdint.h>

#include "client.h"
#include "msg.h"

#define TABLE_CACHE 64 /* recent messages kept per group for history */

typedef struct chatgroup {
	int64_t id;                 /* [table] */
	char name[160];             /* [table] changed by table_group_rename only */
	int is_private;             /* [table] a direct chat (direct[] says whose) */
	int invite_only;            /* [table] join_chat refused to non-members */
	int64_t creator_id;         /* [table] -1: none recorded */
	int64_t direct[2];          /* [table] a direct chat's two users, lower id
	                             * first; -1, -1 for other groups. Set by
	                             * table_group_set_kind only */
	int banned;                 /* [table] */
	double created_at;          /* [table] */
	int64_t *members;           /* [table] sorted user ids */
	size_t nmembers, capmembers;
	client_t *present;          /* [table] clients whose current group this is */
	size_t npresent;
	struct chatgroup *next;         /* [table] hash chain by id */
	struct chatgroup *name_next;    /* [table] hash chain by name */
	struct chatgroup *pair_next;    /* [table] hash chain by direct[] (direct chats only) */
	unsigned name_bucket;           /* [table] the chains it is in: those of the name */
	int pair_bucket;                /* and pair it was indexed under; -1: no pair */

	pthread_mutex_t seq_lock;
	msg_t *cache[TABLE_CACHE];  /* [seq_lock] ring of the newest stored messages, oldest
	                             * first: filled by the writer thread after commit */
	unsigned chead, clen;
} group_t;

void table_init(void);
void table_destroy(void);

void table_rdlock(void);
void table_wrlock(void);
void table_unlock(void);

/* All of these need the table lock (read for lookups, write for changes). */
void table_add_client(client_t *c);     /* write */
void table_remove_client(client_t *c);  /* write: logs out, leaves the group */
client_t *table_user_client(int64_t user_id); /* read: the session of a user or NULL */
/* c's identity (client.h) changes: only its holder calls these. */
void table_set_user(client_t *c, int64_t user_id, const char *username); /* write */
void table_clear_user(client_t *c);     /* write: logout */
/* c is no longer its user's session (logged_in 0, out of its group), its
 * identity unchanged: another thread ending c's session (session_kick). */
void table_unlink_user(client_t *c);    /* write */
void table_enter(client_t *c, group_t *g); /* write: move c to g's broadcast list */

/* Groups are found by id, by name and (direct chats) by their two users
 * through hash indexes that table_group_add, table_group_remove,
 * table_group_rename and table_group_set_kind keep: a group's name and
 * direct[] are written by these alone (a name or pair written around them
 * would not be found). */
group_t *table_group_add(int64_t id, const char *name, int is_private, int banned,
                         double created_at); /* write */
void table_group_remove(group_t *g);          /* write */
/* g's kind, what it is besides its name and members (the store's chat
 * meta row, which table.h knows nothing of): invite-only or not, its
 * creator (-1: none), and for a direct chat its two users (in either
 * order; kept lower id first), -1, -1 for other groups. */
void table_group_set_kind(group_t *g, int invite_only, int64_t creator_id,
                          const int64_t direct[2]); /* write */
group_t *table_group(int64_t id);             /* read */
group_t *table_group_by_name(const char *name); /* read */
void table_group_rename(group_t *g, const char *name); /* write */
/* The direct chat of users a and b (in either order), or NULL. */
group_t *table_group_by_pair(int64_t a, int64_t b); /* read */
int table_is_member(const group_t *g, int64_t user_id); /* read */
int table_member_add(group_t *g, int64_t user_id);      /* write; 0 or -1 (OOM) */
void table_member_remove(group_t *g, int64_t user_id);  /* write */
/* Iterate every group (read). */
void table_groups_foreach(void (*cb)(void *ctx, group_t *g), void *ctx);
/* Iterate every connection (read). */
void table_clients_foreach(void (*cb)(void *ctx, client_t *c), void *ctx);
size_t table_count_clients(void); /* read */
size_t table_count_online(void);  /* read */

/* Accounts' generation: a count of the deletions, renames and password
 * resets of accounts done so far. Whoever makes one in the store calls
 * table_accounts_changed() (write lock) afterwards, when it ends the
 * account's session. A login reads the generation before it reads the
 * account from the store and compares it once it holds the write lock: if
 * it moved, the account it read may be gone, and it reads it again. So a
 * login that read an account before its deletion never logs in after the
 * deletion's sessions were ended. */
uint64_t table_accounts_gen(void);   /* no lock needed */
void table_accounts_changed(void);   /* write */

/* Groups' generation: a count of the changes to the groups, their names,
 * bans and memberships and to the banned users, bumped by table_group_add,
 * _remove, table_member_add, _remove and table_set_user_banned when they
 * change something, by table_group_rename and table_group_set_kind, and
 * by table_groups_changed() (write lock) for a group's ban set directly. cluster_refresh() compares it before
 * reading the store and before applying what it read: a change made here
 * in between is newer than what it read. */
uint64_t table_groups_gen(void);     /* read */
void table_groups_changed(void);     /* write */

/* Banned users, kept in memory so that sending needs no database read. */
int table_user_banned(int64_t user_id);              /* read */
int table_set_user_banned(int64_t user_id, int banned); /* write; 0 or -1 (OOM) */

/* Message cache of a group: needs g->seq_lock. */
void table_cache_add(group_t *g, msg_t *m);

#endif
