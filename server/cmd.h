/* cmd.h - the protocol's message handlers, one file per family:
 * cmd_account.c (hello, register, login, logout, user info, lists of users),
 * cmd_chat.c (chat messages, groups, history), cmd_member.c (direct
 * chats, adding and removing members, leaving), cmd_admin.c (Admin's
 * commands), cmd_file.c (file transfer), and the dispatcher that calls
 * them (cmd.c). Each handler receives the parsed request, already checked
 * against its entry in the dispatcher's table, reads and changes chat
 * state through the state layer (state.h; never the database itself), and
 * answers through session_reply/session_error. */
#ifndef CHATROOM_CMD_H
#define CHATROOM_CMD_H

#include <json-c/json.h>

#include "msg.h"
#include "session.h"
#include "state.h"

typedef void (*cmd_fn)(struct session *s, json_object *req);

/* Who may send a message type. */
enum cmd_access {
	CMD_ANYONE, /* before login too */
	CMD_USER,   /* a logged-in user: 1004 "log in first" otherwise */
	CMD_ADMIN,  /* Admin: 1006 otherwise (after the login check) */
};

enum cmd_kind { CMD_STRING = 1, CMD_INT, CMD_BOOL };

/* A field a message type takes: its JSON type, whether it must be there
 * (absent or null is then an error; an optional field may be absent or
 * null but not of another type), and the catalog entry of the 1008 answer
 * when it is wrong. */
struct cmd_field {
	const char *name;
	enum cmd_kind kind;
	int required;
	int error;
};

#define CMD_MAX_FIELDS 4

/* One entry of the dispatcher's table. Fields are checked in this order,
 * so the first wrong one is the one answered. */
struct cmd_spec {
	const char *type;
	cmd_fn fn;
	enum cmd_access access;
	struct cmd_field fields[CMD_MAX_FIELDS];
};

/* Handle one parsed request: find its type in the table, enforce who may
 * send it and its fields' types, note its client_msg_id for errors, and
 * call its handler. Answers unknown types and failed checks itself. */
void cmd_dispatch(struct session *s, const char *type, json_object *req);

/* The table entry of a message type, or NULL when the type is unknown. */
const struct cmd_spec *cmd_find(const char *type);
/* The dispatcher's checks of req, sent by user_id (-1: not logged in):
 * 0, or -1 with the error code and catalog entry of the answer. */
int cmd_check(const struct cmd_spec *spec, int64_t user_id, json_object *req, int *code, int *id);

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

/* cmd_member.c: direct chats and members of groups */
void cmd_open_direct(struct session *s, json_object *req);
void cmd_invite_member(struct session *s, json_object *req);
void cmd_remove_member(struct session *s, json_object *req);
void cmd_leave_chat(struct session *s, json_object *req);

void cmd_admin(struct session *s, json_object *req);

/* Changes made on another node of a cluster, applied here
 * (cluster_sync.c, the bus thread, no lock held): Admin's announcement to
 * every user online here but the operator (messages: its text in each
 * language of the catalog); group gid, named name, deleted (its present
 * clients move to public, told); user uid no longer a member of group gid,
 * removed by the user named by (its session here is told) or left (by
 * NULL). */
void cmd_admin_notify_here(const char *operation, int64_t operator_id, const char *operator_name,
                           const char *target_type, int64_t target_id, const char *target_name,
                           const char *const *messages);
void cmd_admin_group_deleted_elsewhere(int64_t gid, const char *name);
void cmd_member_removed_elsewhere(int64_t gid, int64_t uid, const char *by);

void cmd_file_upload(struct session *s, json_object *req);
void cmd_file_download(struct session *s, json_object *req);
void cmd_file_list(struct session *s, json_object *req);
/* Delete a file: from the data directory and from the store. */
int cmd_file_remove(const state_file_t *f);
/* Delete every file of group gid, and the group's folder: STATE_OK, or
 * STATE_DB when the database failed (some may be left). */
int cmd_file_remove_group(int64_t gid);
/* A ban refuses every action that writes: chat_message, file_upload,
 * create_chat and join_chat (see chatroom-protocol(7)). For the last two:
 * answers error 1005 and returns 1 when the user is banned. */
int cmd_refuse_banned(struct session *s, int id);
/* A user in MaxChatsPerUser chats may create, join or open no more:
 * answers 1005 and returns 1 (cmd_chat.c). */
int cmd_chat_too_many(struct session *s);
/* 1 when user uid is in MaxChatsPerUser chats (cmd_chat.c). */
int cmd_chat_full(int64_t uid);

#endif
