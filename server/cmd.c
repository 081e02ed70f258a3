/* cmd.c - the dispatcher: one table says, per message type, which handler
 * answers it, who may send it (anyone, a logged-in user, Admin) and which
 * fields of which JSON types it takes. cmd_dispatch() enforces all of it
 * before the handler runs, so no handler repeats these checks; a handler
 * reads its fields knowing their types are right and checks only values.
 * The path of a request: session.c frames and parses a line, calls
 * cmd_dispatch(), and the handler (cmd_*.c) answers through session_reply()
 * or session_error(). */
#include "config.h"
#include "cmd.h"
#include "catalog.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "tunables.h"

#include <string.h>

/* Catalog entries of field errors may name the message type (%s): every
 * field error is formatted with it as the argument. */
static const struct cmd_spec cmd_table[] = {
	/* hello checks its own fields: its first error is about its position */
	{ "hello", cmd_hello, CMD_ANYONE, { { 0 } } },
	{ "heartbeat", cmd_heartbeat, CMD_ANYONE, { { 0 } } },
	{ "register_request", cmd_register, CMD_ANYONE,
	  { { "username", CMD_STRING, 1, CAT_CREDENTIALS_REQUIRED },
	    { "password", CMD_STRING, 1, CAT_CREDENTIALS_REQUIRED } } },
	{ "login_request", cmd_login, CMD_ANYONE,
	  { { "username", CMD_STRING, 1, CAT_CREDENTIALS_REQUIRED },
	    { "password", CMD_STRING, 1, CAT_CREDENTIALS_REQUIRED } } },
	{ "logout_request", cmd_logout, CMD_USER, { { 0 } } },
	{ "user_info_request", cmd_user_info, CMD_USER, { { 0 } } },
	{ "list_users_request", cmd_list_users, CMD_USER,
	  { { "list_type", CMD_STRING, 0, CAT_LIST_USERS_ARGS },
	    { "chat_group_id", CMD_INT, 0, CAT_LIST_USERS_ARGS } } },
	/* client_msg_id's limits (length, not empty) are checked by the handler */
	{ "chat_message", cmd_chat_message, CMD_USER,
	  { { "content", CMD_STRING, 1, CAT_CONTENT_REQUIRED },
	    { "chat_group_id", CMD_INT, 0, CAT_GROUP_ID_INTEGER } } },
	{ "create_chat_request", cmd_create_chat, CMD_USER,
	  { { "chat_name", CMD_STRING, 1, CAT_CHAT_NAME_REQUIRED },
	    { "invite_only", CMD_BOOL, 0, CAT_INVITE_ONLY_ARG } } },
	{ "join_chat_request", cmd_join_chat, CMD_USER,
	  { { "chat_name", CMD_STRING, 1, CAT_CHAT_NAME_REQUIRED } } },
	{ "enter_chat_request", cmd_enter_chat, CMD_USER,
	  { { "chat_name", CMD_STRING, 1, CAT_CHAT_NAME_REQUIRED } } },
	{ "list_chats_request", cmd_list_chats, CMD_USER,
	  { { "list_type", CMD_STRING, 0, CAT_LIST_CHATS_ARGS } } },
	{ "history_request", cmd_history, CMD_USER,
	  { { "chat_group_id", CMD_INT, 1, CAT_HISTORY_ARGS },
	    { "after_message_id", CMD_INT, 0, CAT_HISTORY_ARGS },
	    { "before_message_id", CMD_INT, 0, CAT_HISTORY_ARGS },
	    { "limit", CMD_INT, 0, CAT_HISTORY_ARGS } } },
	{ "open_direct_chat_request", cmd_open_direct, CMD_USER,
	  { { "username", CMD_STRING, 1, CAT_DIRECT_ARGS } } },
	{ "invite_member_request", cmd_invite_member, CMD_USER,
	  { { "username", CMD_STRING, 1, CAT_MEMBER_ARGS },
	    { "chat_group_id", CMD_INT, 0, CAT_MEMBER_ARGS } } },
	{ "remove_member_request", cmd_remove_member, CMD_USER,
	  { { "username", CMD_STRING, 1, CAT_MEMBER_ARGS },
	    { "chat_group_id", CMD_INT, 0, CAT_MEMBER_ARGS } } },
	{ "leave_chat_request", cmd_leave_chat, CMD_USER,
	  { { "chat_group_id", CMD_INT, 0, CAT_GROUP_ID_INTEGER } } },
	/* target_id (a number or a string) and the rest are checked by the handler */
	{ "admin_command_request", cmd_admin, CMD_ADMIN,
	  { { "command", CMD_STRING, 1, CAT_ADMIN_ARGS },
	    { "action", CMD_STRING, 0, CAT_ADMIN_ARGS } } },
	{ "file_upload_request", cmd_file_upload, CMD_USER,
	  { { "filename", CMD_STRING, 1, CAT_UPLOAD_ARGS },
	    { "file_size", CMD_INT, 1, CAT_UPLOAD_ARGS },
	    { "chat_group_id", CMD_INT, 0, CAT_UPLOAD_ARGS } } },
	/* file_id may be a number or a string of digits: the handler checks it */
	{ "file_download_request", cmd_file_download, CMD_USER, { { 0 } } },
	{ "file_list_request", cmd_file_list, CMD_USER,
	  { { "chat_group_id", CMD_INT, 0, CAT_GROUP_ID_INTEGER } } },
};

const struct cmd_spec *cmd_find(const char *type)
{
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++)
		if (strcmp(cmd_table[i].type, type) == 0)
			return &cmd_table[i];
	return NULL;
}

int cmd_check(const struct cmd_spec *spec, int64_t user_id, json_object *req, int *code, int *id)
{
	if (spec->access != CMD_ANYONE && user_id < 0) {
		*code = PROTO_E_CREDENTIALS;
		*id = CAT_LOGIN_FIRST;
		return -1;
	}
	if (spec->access == CMD_ADMIN && user_id != STATE_ADMIN_ID) {
		*code = PROTO_E_PERMISSION;
		*id = CAT_ADMIN_ONLY;
		return -1;
	}
	for (size_t i = 0; i < CMD_MAX_FIELDS && spec->fields[i].name; i++) {
		const struct cmd_field *f = &spec->fields[i];
		const char *sv;
		int64_t iv;
		int bv;
		int rc = f->kind == CMD_STRING ? proto_get_string(req, f->name, &sv)
		         : f->kind == CMD_INT  ? proto_get_int(req, f->name, &iv)
		                               : proto_get_bool(req, f->name, &bv);
		if (rc < 0 || (rc > 0 && f->required)) {
			*code = PROTO_E_INVALID;
			*id = f->error;
			return -1;
		}
	}
	return 0;
}

void cmd_dispatch(struct session *s, const char *type, json_object *req)
{
	const struct cmd_spec *spec = cmd_find(type);
	int code, id;
	if (!spec) {
		STATS_INC(bad_input);
		session_error(s, PROTO_E_INVALID, CAT_UNKNOWN_TYPE, type);
		return;
	}
	/* "log in first" does not echo client_msg_id; every later answer,
	 * the dispatcher's own included, does */
	if (spec->access != CMD_ANYONE && s->c->user_id < 0) {
		session_error(s, PROTO_E_CREDENTIALS, CAT_LOGIN_FIRST);
		return;
	}
	const char *cmid = NULL;
	if (proto_get_string(req, "client_msg_id", &cmid) == 0 && strlen(cmid) <= CR_CLIENT_MSG_ID_MAX)
		s->req_cmid = cmid;
	if (cmd_check(spec, s->c->user_id, req, &code, &id) < 0) {
		if (id == CAT_ADMIN_ONLY)
			log_warn("%s (%s): admin command refused: not Admin", s->c->addr, s->c->username);
		session_error(s, code, id, type); /* entries take no argument or %s, the type */
	} else {
		spec->fn(s, req);
	}
	s->req_cmid = NULL;
}
