/* history.h - reading a group's chat history: the newest stored messages
 * come from the group's cache (table.h, filled by the writer thread after
 * commit), older ones from the database. Only stored messages are ever
 * returned. */
#ifndef CHATROOM_HISTORY_H
#define CHATROOM_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* History of group gid: messages oldest first, referenced, in *out (free
 * with history_free). after/before/limit as history_request; after is -1
 * when not given (0 means from the first message), before 0. Takes the
 * table read lock and the group's seq_lock itself, and reads the database
 * without them. 0, or -1 when the group is unknown or the database failed. */
int history_get(int64_t gid, int64_t after, int64_t before, int limit, msg_t ***out, size_t *n);
void history_free(msg_t **v, size_t n);

#endif
