/* presence.h - telling protocol-2 users who shares their groups and is
 * online (user_status_update). Called on login, logout, disconnect and when
 * Admin ends a session. */
#ifndef CHATROOM_PRESENCE_H
#define CHATROOM_PRESENCE_H

#include <stdint.h>

/* Tell protocol-2 users who share a group with uid (groups of at most
 * PresenceMaxGroup members) that uid came online or went offline; a user
 * sharing several groups hears it once. Takes the table read lock itself:
 * call without it. */
void presence_announce(int64_t uid, const char *uname, int online);

#endif
