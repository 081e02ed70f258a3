/* cmd.h - the protocol's message handlers, one file per family:
 * cmd_account.c (hello, register, login, logout, user info, lists of users),
 * cmd_chat.c (chat messages, groups, history), cmd_admin.c (Admin's
 * commands), cmd_file.c (file transfer). Each handler receives the
 * parsed request and answers through session_reply/session_error. */
#ifndef CHATROOM_CMD_H
#define CHATROOM_CMD_H

#include <json-c/json.h>

#include "msg.h"
#include "session.h"
#include "store.h"

typedef void (*cmd_fn)(struct session *s, json_object *req);

/* The handler for a message type, and whether it needs a login; NULL when
 * the type is unknown. */
cmd_fn cmd_lookup(const char *type, int *needs_login);

void cmd_hello(struct session *s, json_object *req);
void cmd_heartbeat(struct session *s, json_object *req);
void cmd_register(struct session *s, json_object *req);
void cmd_login(struct session *s, json_object *req);
void cmd_logout(struct session *s, json_object *req);
void cmd_user_info(struct session *s, json_object *req);
void cmd_list_users(struct session *s, json_object *req);

void cmd_chat_message(struct session *s, json_object *req);
void cmd_create_chat(struct session *s, json_object *req);
void cmd_join_chat(struct session *s, json_object *req);
void cmd_enter_chat(struct session *s, json_object *req);
void cmd_list_chats(struct session *s, json_object *req);
void cmd_history(struct session *s, json_object *req);

void cmd_admin(struct session *s, json_object *req);

void cmd_file_upload(struct session *s, json_object *req);
void cmd_file_download(struct session *s, json_object *req);
void cmd_file_list(struct session *s, json_object *req);
/* Delete a file: from the data directory and from the store. */
int cmd_file_remove(const store_file_t *f);
/* Delete every file of group gid, and the group's folder. */
int cmd_file_remove_group(int64_t gid);

/* Make a new account a member of public (store and table). */
void cmd_join_public(int64_t user_id);
/* A ban refuses every action that writes: chat_message, file_upload,
 * create_chat and join_chat (see chatroom-protocol(7)). For the last two:
 * answers error 1005 and returns 1 when the user is banned. */
int cmd_refuse_banned(struct session *s, int id);

/* Logout bookkeeping shared by logout and disconnect: presence offline. */
void cmd_user_gone(int64_t user_id, const char *username);

#endif
