/* cluster.h - keeping this node's client table in step with PostgreSQL in
 * cluster mode: groups (created, renamed, banned, deleted), memberships
 * (added, removed), kinds, and accounts (banned, deleted, renamed) changed
 * on other nodes. A node that changes any of them says so on the bus:
 * cluster_changed() for additions and bans, a sync notice
 * (cluster_sync.h) applied at once for removals, deletions and renames.
 * Every node also reads them again from the store (cluster_refresh()) on
 * a "changed" notice and every SweepInterval, so a lost notice delays a
 * change and never loses it; the refresh makes the table exactly the
 * store's view, removals included, and reads everything only when the
 * store's count of changes (store_pg_changes) moved since it last did.
 *
 * A login on one node ends the user's session on any other
 * (cluster_logged_in(), cluster_login_elsewhere()), as a second login on
 * one node ends the first.
 *
 * Presence: cluster_presence.h. */
#ifndef CHATROOM_CLUSTER_H
#define CHATROOM_CLUSTER_H

#include <stdint.h>

/* Cluster mode on (at start, before any thread uses the table). */
void cluster_enable(void);

/* Tell the other nodes that groups, memberships or bans changed (after the
 * store took the change). Nothing outside cluster mode. Takes no lock of
 * the table's. */
void cluster_changed(void);
/* Whether cluster mode is on (set once at start). */
int cluster_enabled(void);

/* User uid logged in here: tell the other nodes (nothing outside cluster
 * mode). Takes no lock of the table's. */
void cluster_logged_in(int64_t uid);

/* User uid logged in on node `node`: end its session here, if any, as a
 * second login does (the bus thread calls it). Takes the table write lock. */
void cluster_login_elsewhere(int64_t uid, const char *node);

/* When the store's count of changes moved since the table last became the
 * store's view (or cannot be read): read groups, memberships, kinds and
 * accounts from the store and make the table that view: groups added,
 * renamed, banned and deleted (their present clients move to public,
 * told), memberships added and removed (a session in a group it is no
 * longer a member of moves to public), bans set and lifted, and sessions
 * of accounts deleted or renamed ended as Admin's change ends them. A
 * pass during which the table changed here is read again (up to
 * CLUSTER_REFRESH_TRIES times, then at the next call). Takes the refresh
 * lock (see table.h), then the store's and the table's locks, never
 * together. 0, or -1 when the store could not be read (logged). */
int cluster_refresh(void);

#endif
