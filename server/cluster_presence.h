/* cluster_presence.h - presence across the nodes of a cluster, and the
 * online users counted across the cluster (stats, user_info).
 *
 * Each node keeps the users online on it in Redis, in a hash
 * chatroom:online:NODE (user id -> name) that expires NodeTimeout after
 * the node last wrote it, as its node key does (bus.h), and tells the other
 * nodes of each change at once with a notice on the bus:
 * {"node", "type": "presence", "user", "name", "online"}. Every node keeps
 * the other nodes' online users in memory: from those notices, and from a
 * full read of every node's hash every third of NodeTimeout, which also
 * writes its own hash again. So a lost notice, a restarted Redis and a
 * node that died (its hash expires) are made good within NodeTimeout and
 * a third of it.
 *
 * A user is online when it is online on any node: list_users, user_info
 * and the users_online counter of stats say so on every node, and each
 * node sends user_status_update (presence.h) to its own clients when that
 * changes, not when a user moves from one node to another (a second login
 * elsewhere).
 *
 * Redis lost: this node's own presence works as without a cluster, and
 * the other nodes' users keep the presence last known here. When Redis is
 * back the node writes its hash again at once and reads the others',
 * taking nobody offline for one NodeTimeout (the time the others have to
 * write theirs again after a restart of Redis).
 *
 * Threads and locks: cpres_local() runs in the thread that changed a
 * session (a worker, the bus thread); notices, the periodic read and
 * cpres_login_elsewhere() in the bus thread only. The presence write lock
 * orders this node's writes of its hash: it is held while the table is
 * read for the full write and while Redis is written, so it comes before
 * the table lock (table.h); the bus lock is taken under it. The other
 * nodes' users are guarded by the presence lock, a leaf, taken under the
 * table lock or with no lock held. */
#ifndef CHATROOM_CLUSTER_PRESENCE_H
#define CHATROOM_CLUSTER_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Presence across nodes on, as node `node`, hashes living ttl_s seconds
 * (NodeTimeout). After bus_start(): bus_run() must work. */
void cpres_start(const char *node, int ttl_s);

/* Drop this node's hash (shutdown, before bus_stop()): the other nodes
 * take its users offline at their next read. */
void cpres_stop(void);

/* User uid (name) came online (online = 1) or went offline on this node:
 * write it to Redis and tell the other nodes. Returns whether this node's
 * clients are to be told (presence_tell): 0 when the user is online on
 * another node too. Outside a cluster: 1 and nothing else. Takes the
 * presence write lock, then the bus lock; call with no lock held. */
int cpres_local(int64_t uid, const char *name, int online);

/* User uid (name), whose session here was just ended because it logged in
 * on node `node`: online there from now (its notice may still be on its
 * way), offline here; nobody is told it went offline. The bus thread. */
void cpres_login_elsewhere(int64_t uid, const char *name, const char *node);

/* Whether uid is online on another node (0 outside a cluster). Takes the
 * presence lock: with the table lock held or none. */
int cpres_online_elsewhere(int64_t uid);

/* Users online on any node, each once (this node's alone outside a
 * cluster). Call with the table lock held (read or write). */
size_t cpres_count_online(void);

/* bus_opts.notice: a "presence" notice from another node. */
void cpres_notice(const char *node, const char *type, struct json_object *o);

/* bus_opts.tick: write this node's hash and read the others' every third
 * of NodeTimeout, and at once when Redis is back. */
void cpres_tick(int back);

#endif
