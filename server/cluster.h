/* cluster.h - keeping this node's client table in step with PostgreSQL in
 * cluster mode: groups (created, renamed, banned), memberships and banned
 * accounts changed on other nodes. A node that changes any of them says so
 * on the bus (cluster_changed()), and every node reads them again from the
 * store (cluster_refresh()) on that notice and every SweepInterval, so a
 * lost notice delays a change and never loses it.
 *
 * Not yet carried across nodes: deleted groups and accounts, removed
 * memberships, renamed accounts, presence, login takeover. */
#ifndef CHATROOM_CLUSTER_H
#define CHATROOM_CLUSTER_H

/* Cluster mode on (at start, before any thread uses the table). */
void cluster_enable(void);

/* Tell the other nodes that groups, memberships or bans changed (after the
 * store took the change). Nothing outside cluster mode. Takes no lock of
 * the table's. */
void cluster_changed(void);

/* Read groups, memberships and banned accounts from the store and add to
 * the table what it lacks (and the groups' names and bans). Takes the table
 * write lock, never while the store's lock is held. 0, or -1 when the store
 * could not be read (logged). */
int cluster_refresh(void);

#endif
