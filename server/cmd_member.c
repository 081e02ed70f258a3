/* cmd_member.c - direct chats and the members of groups: open a direct
 * chat, add a member (an invitation), remove one, leave a chat. Protocol 2
 * requests (a legacy client knows none of them); every refusal is an
 * error_message and changes nothing. See chatroom-protocol(7). */
#include "config.h"
#include "catalog.h"
#include "cmd.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "table.h"
#include "tunables.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* A snapshot, taken under the table lock, of the chat a request is about
 * and of two users' memberships in it. */
struct cmd_member_chat {
	int64_t id;
	char name[160];
	int is_private, is_public, invite_only;
	int64_t creator_id;
	int me, target; /* the sender, the named user: members? */
};

/* The chat a request names: chat_group_id, else the sender's current chat;
 * target (-1: none) is the user whose membership is wanted too. Answers
 * the error and returns -1 when there is no such chat. */
static int cmd_member_chat(struct session *s, json_object *req, int64_t target,
                           struct cmd_member_chat *out)
{
	int64_t gid = 0;
	int given = proto_get_int(req, "chat_group_id", &gid) == 0; /* type checked by cmd.c */
	table_rdlock();
	group_t *g = given ? table_group(gid) : s->c->cur;
	if (g) {
		out->id = g->id;
		snprintf(out->name, sizeof out->name, "%s", g->name);
		out->is_private = g->is_private;
		out->is_public = strcmp(g->name, CR_PUBLIC_GROUP) == 0;
		out->invite_only = g->invite_only;
		out->creator_id = g->creator_id;
		out->me = table_is_member(g, s->c->user_id);
		out->target = target >= 0 && table_is_member(g, target);
	}
	table_unlock();
	if (!g) {
		if (given)
			session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND);
		else
			session_error(s, PROTO_E_INVALID, CAT_NO_CURRENT_CHAT);
		return -1;
	}
	return 0;
}

/* The account named by the request's username: answers 1003 (or 1011)
 * and returns -1 when there is none. */
static int cmd_member_user(struct session *s, json_object *req, state_user_t *u)
{
	const char *name;
	proto_get_string(req, "username", &name); /* a string: cmd.c checked */
	int rc = state_user_by_name(name, u);
	if (rc == STATE_OK)
		return 0;
	if (rc == STATE_NOTFOUND)
		session_error(s, PROTO_E_USER_NOT_FOUND, CAT_USER_NOT_FOUND_NAME, name);
	else
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
	return -1;
}

/* Answer a failed state operation. */
static void cmd_member_state_error(struct session *s, int rc, int id)
{
	if (rc == STATE_NOMEM)
		session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
	else
		session_error(s, PROTO_E_DATABASE, id);
}

/* The {id, name} object of the group a client is in now, or null. */
static void cmd_member_current(json_object *o, client_t *c)
{
	group_t *cur = c->cur;
	if (!cur) {
		proto_set_null(o, "current_chat_group");
		return;
	}
	json_object *g = json_object_new_object();
	proto_set_int(g, "id", cur->id);
	proto_set_string(g, "name", cur->name);
	json_object_object_add(o, "current_chat_group", g);
}

/* Tell user uid, if online, that by added (text CAT_INVITED_NOTICE) or
 * removed (CAT_REMOVED_NOTICE) them: a protocol-2 client gets the notice
 * type (with chat_group_id, chat_name, by_username and, after a removal,
 * its current_chat_group), a legacy client a system_message. */
static void cmd_member_tell(int64_t uid, const char *type, int id, const struct cmd_member_chat *k,
                            const char *by)
{
	table_rdlock();
	client_t *c = table_user_client(uid);
	json_object *o = NULL;
	if (c && c->protocol == 2) {
		o = proto_new(type);
		proto_set_int(o, "chat_group_id", k->id);
		proto_set_string(o, "chat_name", k->name);
		proto_set_string(o, "by_username", by);
		if (id == CAT_REMOVED_NOTICE)
			cmd_member_current(o, c);
	} else if (c) {
		char text[320];
		catalog_format(text, sizeof text, atomic_load_explicit(&c->lang, memory_order_relaxed), id,
		               by, k->name);
		o = proto_system_message(text, id == CAT_REMOVED_NOTICE ? "warning" : "info");
	}
	outbuf_t *b = o ? outbuf_json(o) : NULL;
	if (b)
		client_push(c, b, 1, (size_t)CONF(max_output));
	table_unlock();
	outbuf_unref(b);
	json_object_put(o);
}

/* A response of type: success, the chat and, when given, the user. */
static json_object *cmd_member_response(const char *type, const struct cmd_member_chat *k,
                                        const char *username)
{
	json_object *o = proto_new(type);
	proto_set_bool(o, "success", 1);
	proto_set_int(o, "chat_group_id", k->id);
	proto_set_string(o, "chat_name", k->name);
	if (username)
		proto_set_string(o, "username", username);
	return o;
}

void cmd_open_direct(struct session *s, json_object *req)
{
	state_user_t u;
	if (cmd_member_user(s, req, &u) < 0)
		return;
	if (u.id == s->c->user_id) {
		session_error(s, PROTO_E_INVALID, CAT_DIRECT_SELF);
		return;
	}
	if (cmd_refuse_banned(s, CAT_BANNED_DIRECT))
		return;
	/* the limit holds back new chats, for either user, not the way back
	 * into one's own */
	if (state_direct_find(s->c->user_id, u.id) < 0) {
		if (cmd_chat_too_many(s))
			return;
		if (cmd_chat_full(u.id)) {
			session_error(s, PROTO_E_PERMISSION, CAT_TOO_MANY_CHATS_USER, u.username,
			              CONF(max_chats_per_user));
			return;
		}
	}
	struct cmd_member_chat k = { 0 };
	int created;
	int rc = state_direct_open(s->c->user_id, s->c->username, u.id, u.username, &k.id, k.name,
	                           sizeof k.name, &created);
	if (rc != STATE_OK) {
		cmd_member_state_error(s, rc, CAT_DIRECT_FAILED);
		return;
	}
	if (created)
		log_info("%s: %s opened direct chat %s (id %lld) with %s", s->c->addr, s->c->username, k.name,
		         (long long)k.id, u.username);
	json_object *o = cmd_member_response("open_direct_chat_response", &k, u.username);
	proto_set_bool(o, "created", created);
	session_reply(s, o);
}

/* The user and the chat of an invite or removal request, in *u and *k; -1
 * (the error sent) when either is unknown or the chat's members are fixed:
 * public (everyone) and direct chats (their two users). */
static int cmd_member_target(struct session *s, json_object *req, state_user_t *u,
                             struct cmd_member_chat *k)
{
	if (cmd_member_user(s, req, u) < 0 || cmd_member_chat(s, req, u->id, k) < 0)
		return -1;
	if (k->is_public) {
		session_error(s, PROTO_E_PERMISSION, CAT_PUBLIC_MEMBERS_FIXED, k->name);
		return -1;
	}
	if (k->is_private) {
		session_error(s, PROTO_E_PERMISSION, CAT_DIRECT_MEMBERS_FIXED);
		return -1;
	}
	return 0;
}

void cmd_invite_member(struct session *s, json_object *req)
{
	state_user_t u;
	struct cmd_member_chat k = { 0 };
	if (cmd_member_target(s, req, &u, &k) < 0)
		return;
	/* any member may add members (IRC's invite to a +i channel) */
	if (!k.me) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER);
		return;
	}
	if (cmd_refuse_banned(s, CAT_BANNED_INVITE))
		return;
	if (k.target) {
		session_error(s, PROTO_E_INVALID, CAT_ALREADY_MEMBER_USER, u.username, k.name);
		return;
	}
	if (cmd_chat_full(u.id)) {
		session_error(s, PROTO_E_PERMISSION, CAT_TOO_MANY_CHATS_USER, u.username,
		              CONF(max_chats_per_user));
		return;
	}
	int rc = state_join(k.id, u.id);
	if (rc != STATE_OK) {
		cmd_member_state_error(s, rc, CAT_MEMBERS_FAILED);
		return;
	}
	log_info("%s: %s added %s to chat %s", s->c->addr, s->c->username, u.username, k.name);
	session_reply(s, cmd_member_response("invite_member_response", &k, u.username));
	cmd_member_tell(u.id, "member_added", CAT_INVITED_NOTICE, &k, s->c->username);
}

void cmd_member_removed_elsewhere(int64_t gid, int64_t uid, const char *by)
{
	struct cmd_member_chat k = { .id = gid };
	table_rdlock();
	group_t *g = table_group(gid);
	if (g)
		snprintf(k.name, sizeof k.name, "%s", g->name);
	table_unlock();
	if (!g)
		return; /* not known here yet: nothing to remove */
	int moved;
	state_member_removed_elsewhere(gid, uid, &moved);
	if (by)
		cmd_member_tell(uid, "member_removed", CAT_REMOVED_NOTICE, &k, by);
}

void cmd_remove_member(struct session *s, json_object *req)
{
	state_user_t u;
	struct cmd_member_chat k = { 0 };
	if (cmd_member_target(s, req, &u, &k) < 0)
		return;
	if (u.id == s->c->user_id) {
		session_error(s, PROTO_E_INVALID, CAT_REMOVE_SELF);
		return;
	}
	/* the creator (while a member) or Admin: groups from before creators
	 * were recorded, Admin alone */
	if (s->c->user_id != STATE_ADMIN_ID && !(k.creator_id == s->c->user_id && k.me)) {
		session_error(s, PROTO_E_PERMISSION, CAT_REMOVE_NOT_ALLOWED);
		return;
	}
	if (!k.target) {
		session_error(s, PROTO_E_INVALID, CAT_NOT_MEMBER_USER, u.username, k.name);
		return;
	}
	int moved;
	int rc = state_member_remove(k.id, u.id, s->c->username, &moved);
	if (rc != STATE_OK) {
		cmd_member_state_error(s, rc, CAT_MEMBERS_FAILED);
		return;
	}
	log_info("%s: %s removed %s from chat %s", s->c->addr, s->c->username, u.username, k.name);
	session_reply(s, cmd_member_response("remove_member_response", &k, u.username));
	cmd_member_tell(u.id, "member_removed", CAT_REMOVED_NOTICE, &k, s->c->username);
}

void cmd_leave_chat(struct session *s, json_object *req)
{
	struct cmd_member_chat k = { 0 };
	if (cmd_member_chat(s, req, -1, &k) < 0)
		return;
	if (k.is_public) {
		session_error(s, PROTO_E_PERMISSION, CAT_LEAVE_PUBLIC, k.name);
		return;
	}
	if (!k.me) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER);
		return;
	}
	int moved;
	int rc = state_member_remove(k.id, s->c->user_id, NULL, &moved);
	if (rc != STATE_OK) {
		cmd_member_state_error(s, rc, CAT_MEMBERS_FAILED);
		return;
	}
	log_info("%s: %s left chat %s", s->c->addr, s->c->username, k.name);
	json_object *o = cmd_member_response("leave_chat_response", &k, NULL);
	table_rdlock();
	cmd_member_current(o, s->c);
	table_unlock();
	session_reply(s, o);
}
