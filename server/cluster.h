/* cluster.h - keeping this node's client table in step with PostgreSQL in
 * cluster mode: groups (created, renamed, banned), memberships and banned
 * accounts changed on other nodes. A node that changes any of them says so
 * on the bus (cluster_changed()), and every node reads them again from the
 * store (cluster_refresh()) on that notice and every SweepInterval, so a
 * lost notice delays a change and never loses it.
 *
 * A login on one node ends the user's session on any other
 * (cluster_logged_in(), cluster_login_elsewhere()), as a second login on
 * one node ends the first.
 *
 * Not yet carried across nodes: deleted groups and accounts, removed
 * memberships, renamed accounts. Presence: cluster_presence.h. */
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

/* Read groups, memberships and banned accounts from the store and add to
 * the table what it lacks (and the groups' names and bans). Takes the table
 * write lock, never while the store's lock is held. 0, or -1 when the store
 * could not be read (logged). */
int cluster_refresh(void);

#endif
