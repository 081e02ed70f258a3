/* presence.h - telling protocol-2 users who shares their groups and is
 * online (user_status_update). Called on login, logout, disconnect and when
 * Admin ends a session. In a cluster, presence_announce() first tells the
 * other nodes (cluster_presence.h), and a user still online on another
 * node does not go offline. */
#ifndef CHATROOM_PRESENCE_H
#define CHATROOM_PRESENCE_H

#include <stdint.h>

/* User uid came online or went offline on this node: tell protocol-2
 * users who share a group with uid (groups of at most PresenceMaxGroup
 * members), a user sharing several groups once, unless uid is online on
 * another node of the cluster. Takes the table read lock itself, and in a
 * cluster the presence lock before it (cluster_presence.h): call with
 * neither. */
void presence_announce(int64_t uid, const char *uname, int online);

/* presence_announce's part for this node's clients alone, whatever other
 * nodes say: for a change of presence on another node of a cluster
 * (cluster_presence.c). Takes the table read lock: call without it. */
void presence_tell(int64_t uid, const char *uname, int online);

#endif
