/* cmd_chat.c - chat messages, groups (create, join, enter, list) and
 * history. Direct chats and members: cmd_member.c. */
#include "config.h"
#include "broadcast.h"
#include "history.h"
#include "cmd.h"
#include "catalog.h"
#include "tunables.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "stats.h"
#include "table.h"
#include "text.h"
#include "valid.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

/* Names in one create_chat_request at most. */
#define CMD_CHAT_MAX_MEMBERS 1000

void cmd_chat_message(struct session *s, json_object *req)
{
	const char *content = NULL, *cmid = NULL;
	int64_t gid = 0;
	proto_get_string(req, "content", &content); /* types checked by cmd.c */
	int gid_rc = proto_get_int(req, "chat_group_id", &gid); /* absent or null: current */
	if (proto_get_string(req, "client_msg_id", &cmid) < 0 || (cmid && strlen(cmid) > CR_CLIENT_MSG_ID_MAX) ||
	    (cmid && !*cmid)) {
		session_error(s, PROTO_E_INVALID, CAT_CLIENT_MSG_ID, CR_CLIENT_MSG_ID_MAX);
		return;
	}
	/* A NUL (\u0000) is a control character like any other: drop it rather
	 * than let it end the string early. */
	json_object *cj = NULL;
	json_object_object_get_ex(req, "content", &cj);
	size_t clen = (size_t)json_object_get_string_len(cj);
	char *flat = malloc(clen + 1), *clean = NULL;
	if (flat) {
		size_t k = 0;
		for (size_t i = 0; i < clen; i++)
			if (content[i] != '\0')
				flat[k++] = content[i];
		flat[k] = '\0';
		clean = text_clean_content(flat, CR_MAX_CONTENT_CHARS);
		free(flat);
	}
	if (!clean) {
		session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
		return;
	}
	if (text_blank(clean)) {
		free(clean);
		session_error(s, PROTO_E_INVALID, CAT_CONTENT_EMPTY);
		return;
	}

	/* A resend of a message already accepted: acknowledge, deliver nothing. */
	if (cmid) {
		msg_t *p = writer_pending_find(s->c->user_id, cmid);
		if (p) {
			/* Not stored yet: one more ack is owed when it is. If the
			 * writer took the count already, it is stored: ack now. */
			if (atomic_fetch_add(&p->acks_owed, 1) == 0)
				bcast_ack(s->c, cmid, p->id, p->group_id, 0);
			msg_unref(p);
			free(clean);
			return;
		}
		int64_t mid, mgid;
		if (state_message_sent(s->c->user_id, cmid, &mid, &mgid) == STATE_OK) {
			free(clean);
			bcast_ack(s->c, cmid, mid, mgid, 0);
			return;
		}
	}

	bcast_reserve_ids(); /* a failure shows as a refused message below */
	table_rdlock();
	int banned = table_user_banned(s->c->user_id);
	group_t *g = gid_rc == 0 ? table_group(gid) : s->c->cur;
	int err = -1;
	int code = 0;
	if (!g) {
		code = gid_rc == 0 ? PROTO_E_CHAT_NOT_FOUND : PROTO_E_INVALID;
		err = gid_rc == 0 ? CAT_CHAT_NOT_FOUND : CAT_NO_CURRENT_CHAT;
	} else if (!table_is_member(g, s->c->user_id)) {
		code = PROTO_E_PERMISSION;
		err = CAT_NOT_MEMBER;
	} else if (banned) {
		code = PROTO_E_PERMISSION;
		err = CAT_USER_BANNED;
	} else if (g->banned) {
		code = PROTO_E_PERMISSION;
		err = CAT_CHAT_BANNED;
	}
	msg_t *m = NULL;
	if (err < 0) {
		m = bcast_chat(g, s->c->user_id, s->c->username, clean, cmid);
		if (!m) {
			code = PROTO_E_DATABASE;
			err = CAT_STORE_FULL;
		}
	}
	table_unlock();
	free(clean);
	if (err >= 0) {
		session_error(s, code, err);
		return;
	}
	msg_unref(m);
}

/* create / join / enter -------------------------------------------------- */

static json_object *cmd_chat_response(const char *type, int ok, int64_t gid, const char *name,
                                      const char *error)
{
	json_object *o = proto_new(type);
	proto_set_bool(o, "success", ok);
	if (ok)
		proto_set_int(o, "chat_group_id", gid);
	else
		proto_set_null(o, "chat_group_id");
	proto_set_string(o, "chat_name", name ? name : "");
	proto_set_string(o, "error_message", error);
	return o;
}

struct cmd_chat_count {
	int64_t uid;
	int n;
};

static void cmd_chat_count_one(void *ctx, group_t *g)
{
	struct cmd_chat_count *k = ctx;
	k->n += table_is_member(g, k->uid);
}

/* How many groups user uid is a member of. */
static int cmd_chat_count(int64_t uid)
{
	struct cmd_chat_count k = { .uid = uid };
	table_rdlock();
	table_groups_foreach(cmd_chat_count_one, &k);
	table_unlock();
	return k.n;
}

int cmd_chat_full(int64_t uid)
{
	return cmd_chat_count(uid) >= CONF(max_chats_per_user);
}

int cmd_chat_too_many(struct session *s)
{
	int max = CONF(max_chats_per_user); /* read once: a reload may change it */
	if (cmd_chat_count(s->c->user_id) < max)
		return 0;
	session_error(s, PROTO_E_PERMISSION, CAT_TOO_MANY_CHATS, max);
	return 1;
}

void cmd_create_chat(struct session *s, json_object *req)
{
	const char *name, *why;
	json_object *list = NULL;
	proto_get_string(req, "chat_name", &name); /* a string: cmd.c checked */
	if (json_object_object_get_ex(req, "member_usernames", &list) && list &&
	    !json_object_is_type(list, json_type_array)) {
		session_error(s, PROTO_E_INVALID, CAT_MEMBERS_LIST);
		return;
	}
	size_t n = list ? json_object_array_length(list) : 0;
	if (n > CMD_CHAT_MAX_MEMBERS) {
		session_error(s, PROTO_E_INVALID, CAT_MEMBERS_MAX, CMD_CHAT_MAX_MEMBERS);
		return;
	}
	char text[256];
	if ((why = valid_chat_name(name))) {
		session_reply(s, cmd_chat_response("create_chat_response", 0, 0, name,
		                                   session_text(s, text, sizeof text,
		                                                catalog_for_reason(why, name))));
		return;
	}
	if (cmd_refuse_banned(s, CAT_BANNED_CREATE) || cmd_chat_too_many(s))
		return;
	int64_t *ids = calloc(n + 1, sizeof *ids);
	size_t nids = 0;
	if (!ids) {
		session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
		return;
	}
	ids[nids++] = s->c->user_id;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		state_user_t u;
		if (!json_object_is_type(e, json_type_string)) {
			free(ids);
			session_error(s, PROTO_E_INVALID, CAT_MEMBERS_LIST);
			return;
		}
		int rc = state_user_by_name(json_object_get_string(e), &u);
		if (rc != STATE_OK) {
			free(ids);
			if (rc == STATE_NOTFOUND)
				session_error(s, PROTO_E_USER_NOT_FOUND, CAT_USER_NOT_FOUND_NAME,
				              json_object_get_string(e));
			else
				session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
			return;
		}
		int dup = 0;
		for (size_t k = 0; k < nids; k++)
			dup |= ids[k] == u.id;
		if (!dup)
			ids[nids++] = u.id;
	}
	/* Chats made with create_chat are group chats, never private (direct)
	 * ones; an invite-only group is listed to its members only and open
	 * to join_chat for them alone. The creator is recorded: it may remove
	 * members (remove_member). */
	int invite_only = 0;
	proto_get_bool(req, "invite_only", &invite_only); /* a boolean or absent: cmd.c checked */
	int64_t gid;
	int rc = state_group_create(name, invite_only, s->c->user_id, ids, nids, &gid);
	free(ids);
	if (rc == STATE_EXISTS) {
		session_reply(s, cmd_chat_response("create_chat_response", 0, 0, name,
		                                   session_text(s, text, sizeof text, CAT_CHAT_EXISTS, name)));
		return;
	}
	if (rc == STATE_NOMEM) {
		session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
		return;
	}
	if (rc != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_CREATE_FAILED);
		return;
	}
	log_info("%s: %s created %schat %s (id %lld, %zu members)", s->c->addr, s->c->username,
	         invite_only ? "invite-only " : "", name, (long long)gid, nids);
	session_reply(s, cmd_chat_response("create_chat_response", 1, gid, name, NULL));
}

void cmd_join_chat(struct session *s, json_object *req)
{
	const char *name;
	proto_get_string(req, "chat_name", &name); /* a string: cmd.c checked */
	table_rdlock();
	group_t *g = table_group_by_name(name);
	int64_t gid = g ? g->id : 0;
	int priv = g ? g->is_private : 0, member = g ? table_is_member(g, s->c->user_id) : 0;
	int invite_only = g ? g->invite_only : 0;
	table_unlock();
	if (!g) {
		session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND_NAME, name);
		return;
	}
	if (priv && !member) {
		session_error(s, PROTO_E_PERMISSION, CAT_PRIVATE_NO_JOIN, name);
		return;
	}
	if (invite_only && !member) {
		session_error(s, PROTO_E_PERMISSION, CAT_INVITE_ONLY_NO_JOIN, name);
		return;
	}
	if (!member && (cmd_refuse_banned(s, CAT_BANNED_JOIN) || cmd_chat_too_many(s)))
		return;
	if (!member) {
		int rc = state_join(gid, s->c->user_id);
		if (rc == STATE_NOMEM) {
			session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
			return;
		}
		if (rc != STATE_OK) {
			session_error(s, PROTO_E_DATABASE, CAT_JOIN_FAILED);
			return;
		}
		log_info("%s: %s joined chat %s", s->c->addr, s->c->username, name);
	}
	if (s->c->protocol == 2) {
		session_reply(s, cmd_chat_response("join_chat_response", 1, gid, name, NULL));
	} else {
		/* the reference client waits for a system_message here */
		char text[256];
		session_text(s, text, sizeof text, member ? CAT_ALREADY_MEMBER : CAT_JOINED, name);
		session_reply(s, proto_system_message(text, "info"));
	}
}

/* Answer chat_history messages then chat_history_complete. */
static void cmd_send_history(struct session *s, int64_t gid, int64_t after, int64_t before, int limit)
{
	msg_t **v;
	size_t n;
	if (history_get(gid, after, before, limit, &v, &n) < 0) {
		session_error(s, PROTO_E_DATABASE, CAT_HISTORY_FAILED);
		return;
	}
	for (size_t i = 0; i < n; i++)
		session_reply(s, bcast_chat_json(v[i], 1, s->c->protocol));
	history_free(v, n);
	json_object *o = proto_new("chat_history_complete");
	proto_set_int(o, "chat_group_id", gid);
	proto_set_int(o, "message_count", (int64_t)n);
	session_reply(s, o);
}

void cmd_enter_chat(struct session *s, json_object *req)
{
	const char *name;
	proto_get_string(req, "chat_name", &name); /* a string: cmd.c checked */
	table_wrlock();
	/* a session whose login was taken over by another connection (or
	 * ended by Admin) is no longer its user's and is about to close: it
	 * enters nothing */
	int current = s->c->logged_in;
	group_t *g = table_group_by_name(name);
	int member = g && table_is_member(g, s->c->user_id);
	int64_t gid = g ? g->id : 0;
	if (member && current)
		table_enter(s->c, g);
	table_unlock();
	if (!current) {
		session_error(s, PROTO_E_CREDENTIALS, CAT_SESSION_TAKEN);
		return;
	}
	if (!g) {
		session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND_NAME, name);
		return;
	}
	if (!member) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER_NAME, name);
		return;
	}
	session_reply(s, cmd_chat_response("enter_chat_response", 1, gid, name, NULL));
	cmd_send_history(s, gid, -1, 0, CR_HISTORY_ON_ENTER);
}

void cmd_history(struct session *s, json_object *req)
{
	int64_t gid = 0, after = -1, before = 0, limit = CR_HISTORY_ON_ENTER;
	/* types checked by cmd.c; absent fields keep their defaults */
	proto_get_int(req, "chat_group_id", &gid);
	proto_get_int(req, "before_message_id", &before);
	proto_get_int(req, "limit", &limit);
	/* after_message_id 0 means from the first message; absent (or null),
	 * proto_get_int leaves `after` at -1: the newest messages */
	int after_given = proto_get_int(req, "after_message_id", &after) == 0;
	if (limit < 1 || (after_given && after < 0) || before < 0) {
		session_error(s, PROTO_E_INVALID, CAT_HISTORY_RANGE);
		return;
	}
	if (limit > CONF(history_max))
		limit = CONF(history_max); /* a larger page is lowered, not refused */
	table_rdlock();
	group_t *g = table_group(gid);
	int member = g && table_is_member(g, s->c->user_id);
	table_unlock();
	if (!g) {
		session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND);
		return;
	}
	if (!member) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER);
		return;
	}
	cmd_send_history(s, gid, after, before, (int)limit);
}

/* list_chats_response ------------------------------------------------------ */

struct cmd_chats {
	json_object *arr;
	int64_t uid;
	int joined;
	int protocol;
};

/* "joined": the user's chats, private ones included. "all": every group
 * but direct chats, and invite-only groups only to their members. */
static void cmd_add_chat(void *ctx, group_t *g)
{
	struct cmd_chats *k = ctx;
	int member = table_is_member(g, k->uid);
	if (k->joined ? !member : g->is_private || (g->invite_only && !member))
		return;
	char when[32];
	proto_format_time(g->created_at, when, sizeof when);
	json_object *o = json_object_new_object();
	proto_set_int(o, "group_id", g->id);
	proto_set_string(o, "group_name", g->name);
	proto_set_bool(o, "is_private_chat", g->is_private);
	proto_set_int(o, "member_count", (int64_t)g->nmembers);
	proto_set_string(o, "created_at", when);
	if (k->protocol == 2) /* a legacy client refuses fields it does not know */
		proto_set_bool(o, "invite_only", g->invite_only);
	json_object_array_add(k->arr, o);
}

static int cmd_chat_cmp(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
	int64_t i = 0, j = 0;
	proto_get_int(x, "group_id", &i);
	proto_get_int(y, "group_id", &j);
	return (i > j) - (i < j);
}

void cmd_list_chats(struct session *s, json_object *req)
{
	const char *type = NULL;
	proto_get_string(req, "list_type", &type); /* a string or absent: cmd.c checked */
	if (!type)
		type = "joined";
	if (strcmp(type, "joined") && strcmp(type, "all")) {
		session_error(s, PROTO_E_INVALID, CAT_LIST_CHATS_TYPE);
		return;
	}
	struct cmd_chats k = { json_object_new_array(), s->c->user_id, strcmp(type, "joined") == 0,
	                       s->c->protocol };
	table_rdlock();
	table_groups_foreach(cmd_add_chat, &k);
	table_unlock();
	json_object_array_sort(k.arr, cmd_chat_cmp);
	json_object *o = proto_new("list_chats_response");
	json_object_object_add(o, "chats", k.arr);
	session_reply(s, o);
}
