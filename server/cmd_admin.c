/* cmd_admin.c - Admin's commands: add, delete, modify, ban and free users
 * and groups, delete files, list what is banned, and show the server's
 * counters.
 *
 * On the wire (as the reference): admin_command_request carries command,
 * action, target_id or target_name, and new_value; the reference joins them
 * into "/command action target new_value" and splits that on spaces, so the
 * arguments of a command are: the target (target_id when non-zero, else
 * target_name) followed by the words of new_value. Commands:
 *
 *   add -u NAME PASSWORD           new account (joins public)
 *   del -u USER | -g GROUP | -f FILE_ID
 *   modify -u USER username NAME | modify -u USER password PASSWORD
 *   modify -g GROUP name NAME
 *   ban -u USER | -g GROUP,  free -u USER | -g GROUP
 *   free -l                        what is banned (data: banned_users, banned_groups)
 *   stats                          the server's counters (data: name -> number)
 *
 * USER and GROUP are an id or a name. Each answers admin_command_response;
 * every successful change is announced to the other online users with
 * admin_operation_notification and logged with who did it.
 *
 * Each change is made by the state layer (state.h), which keeps the
 * database and the client table in step and ends the sessions it must. */
#include "config.h"
#include "cmd.h"
#include "catalog.h"
#include "cluster_sync.h"
#include "log.h"
#include "passwd.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "stats.h"
#include "table.h"
#include "text.h"
#include "tunables.h"
#include "valid.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CMD_ADMIN_MAX_ARGS 8
#define CMD_ADMIN_MAX_INPUT 1024 /* bytes of target and new_value together */

struct cmd_admin_req {
	struct session *s;
	const char *command, *action;
	int argc;
	char *argv[CMD_ADMIN_MAX_ARGS];
	/* the answer, in each language (catalog.h): the operator's for the
	 * response, each other user's own for the notification */
	int ok;
	char message[CAT_NLANGS][1024];
	json_object *data;   /* owned; NULL: data is null */
	int notify;          /* announce to the others when ok */
	const char *target_type;
	int64_t target_id;
	char target_name[1024];
};

/* r->message: catalog entry id with the arguments ap, in every language. */
static void cmd_admin_text(struct cmd_admin_req *r, int id, va_list ap)
{
	for (int l = 0; l < CAT_NLANGS; l++) {
		va_list aq;
		va_copy(aq, ap);
		catalog_vformat(r->message[l], sizeof r->message[l], l, id, aq);
		va_end(aq);
	}
}

static void cmd_admin_fail(struct cmd_admin_req *r, int id, ...)
{
	va_list ap;
	va_start(ap, id);
	cmd_admin_text(r, id, ap);
	va_end(ap);
	r->ok = 0;
}

/* A successful change of target (type, id, name), announced to the others. */
static void cmd_admin_done(struct cmd_admin_req *r, const char *type, int64_t id, const char *name,
                           int text, ...)
{
	va_list ap;
	va_start(ap, text);
	cmd_admin_text(r, text, ap);
	va_end(ap);
	r->ok = 1;
	r->notify = 1;
	r->target_type = type;
	r->target_id = id;
	snprintf(r->target_name, sizeof r->target_name, "%s", name);
}

static int cmd_admin_is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* A user by id or name: answers the failure and returns -1 when not found.
 * by_id: the command names its target by id in the reference (del,
 * modify), whose refusal says so. */
static int cmd_admin_user(struct cmd_admin_req *r, const char *arg, state_user_t *u, int by_id)
{
	int rc = cmd_admin_is_number(arg) ? state_user_by_id(strtoll(arg, NULL, 10), u)
	                                  : state_user_by_name(arg, u);
	if (rc == STATE_NOTFOUND)
		cmd_admin_fail(r, by_id ? CAT_ADMIN_USER_ID_NOT_FOUND : CAT_ADMIN_USER_NOT_FOUND, arg);
	else if (rc != STATE_OK)
		cmd_admin_fail(r, CAT_DATABASE_ERROR);
	return rc == STATE_OK ? 0 : -1;
}

/* A group by id or name (a name may look like a number, so an id that is
 * not found is tried as a name). */
static int cmd_admin_group(struct cmd_admin_req *r, const char *arg, state_group_t *g, int by_id)
{
	int rc = STATE_NOTFOUND;
	if (cmd_admin_is_number(arg))
		rc = state_group_by_id(strtoll(arg, NULL, 10), g);
	if (rc == STATE_NOTFOUND)
		rc = state_group_by_name(arg, g);
	if (rc == STATE_NOTFOUND)
		cmd_admin_fail(r, by_id ? CAT_ADMIN_CHAT_ID_NOT_FOUND : CAT_ADMIN_CHAT_NOT_FOUND, arg);
	else if (rc != STATE_OK)
		cmd_admin_fail(r, CAT_DATABASE_ERROR);
	return rc == STATE_OK ? 0 : -1;
}

/* add -u NAME PASSWORD ----------------------------------------------------- */

static void cmd_admin_add_user(struct cmd_admin_req *r)
{
	const char *name = r->argv[0], *pw = r->argv[1], *why;
	char hash[256];
	int64_t uid;
	if ((why = valid_username(name)) || (why = valid_password(pw))) {
		cmd_admin_fail(r, catalog_for_reason(why, why == valid_username(name) ? name : pw));
		return;
	}
	if (passwd_hash(pw, hash, sizeof hash) < 0) {
		cmd_admin_fail(r, CAT_HASH_FAILED);
		return;
	}
	int rc = state_register(name, hash, &uid); /* like a registration */
	if (rc == STATE_EXISTS) {
		cmd_admin_fail(r, CAT_ADMIN_USER_EXISTS, name);
		return;
	}
	if (rc != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_ADD_FAILED);
		return;
	}
	cmd_admin_done(r, "user", uid, name, CAT_ADMIN_USER_ADDED, name, (long long)uid);
}

/* del -u / -g / -f --------------------------------------------------------- */

static void cmd_admin_del_user(struct cmd_admin_req *r)
{
	state_user_t u;
	if (cmd_admin_user(r, r->argv[0], &u, 1) < 0)
		return;
	if (u.id == STATE_ADMIN_ID) {
		cmd_admin_fail(r, CAT_ADMIN_NO_DELETE_ADMIN);
		return;
	}
	if (state_user_delete(u.id, CAT_ADMIN_ACCOUNT_DELETED, "account deleted by Admin") != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_DELETE_USER_FAILED);
		return;
	}
	cmd_admin_done(r, "user", u.id, u.username, CAT_ADMIN_USER_DELETED, u.username, (long long)u.id);
}

/* What a client in chat `name` hears when it is deleted, in each language
 * (b[l]: the caller's reference, NULL on out of memory). */
static void cmd_admin_deleted_notices(const char *name, outbuf_t **b)
{
	for (int l = 0; l < CAT_NLANGS; l++) {
		char text[300];
		catalog_format(text, sizeof text, l, CAT_ADMIN_CHAT_DELETED_NOTICE, name, CR_PUBLIC_GROUP);
		json_object *o = proto_system_message(text, "warning");
		b[l] = outbuf_json(o);
		json_object_put(o);
	}
}

void cmd_admin_group_deleted_elsewhere(int64_t gid, const char *name)
{
	outbuf_t *b[CAT_NLANGS];
	cmd_admin_deleted_notices(name, b);
	state_group_deleted_elsewhere(gid, b);
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(b[l]);
}

static void cmd_admin_del_group(struct cmd_admin_req *r)
{
	state_group_t sg;
	if (cmd_admin_group(r, r->argv[0], &sg, 1) < 0)
		return;
	if (strcmp(sg.name, CR_PUBLIC_GROUP) == 0) {
		cmd_admin_fail(r, CAT_ADMIN_NO_DELETE_PUBLIC);
		return;
	}

	/* Whoever is in the chat now goes back to public, and is told so. */
	outbuf_t *b[CAT_NLANGS];
	cmd_admin_deleted_notices(sg.name, b);
	int rc = state_group_delete(sg.id, b);
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(b[l]);
	if (rc != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_DELETE_CHAT_FAILED);
		return;
	}
	if (cmd_file_remove_group(sg.id) != STATE_OK)
		log_error("admin: the files of deleted chat %s (id %lld) could not all be removed",
		          sg.name, (long long)sg.id);
	cmd_admin_done(r, "group", sg.id, sg.name, CAT_ADMIN_CHAT_DELETED, sg.name, (long long)sg.id);
}

static void cmd_admin_del_file(struct cmd_admin_req *r)
{
	state_file_t f;
	state_group_t sg = { 0 };
	if (!cmd_admin_is_number(r->argv[0])) {
		cmd_admin_fail(r, CAT_ADMIN_FILE_ID_NUMBER);
		return;
	}
	int rc = state_file_get(strtoll(r->argv[0], NULL, 10), &f);
	/* the reference's answer names the file's chat */
	if (rc == STATE_OK && state_group_by_id(f.group_id, &sg) != STATE_OK)
		snprintf(sg.name, sizeof sg.name, "%lld", (long long)f.group_id);
	if (rc == STATE_OK)
		rc = cmd_file_remove(&f);
	if (rc == STATE_NOTFOUND) {
		cmd_admin_fail(r, CAT_ADMIN_FILE_NOT_FOUND, r->argv[0]);
		return;
	}
	if (rc != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_DELETE_FILE_FAILED);
		return;
	}
	cmd_admin_done(r, "file", f.id, f.filename, CAT_ADMIN_FILE_DELETED, f.filename, (long long)f.id,
	               f.uploader_name, sg.name);
}

/* modify ------------------------------------------------------------------- */

static void cmd_admin_modify_user(struct cmd_admin_req *r)
{
	state_user_t u;
	const char *field = r->argv[1], *value = r->argv[2], *why;
	int username = strcmp(field, "username") == 0;
	if (!username && strcmp(field, "password") != 0) {
		cmd_admin_fail(r, CAT_ADMIN_MODIFY_USER_FIELD, field);
		return;
	}
	if (cmd_admin_user(r, r->argv[0], &u, 1) < 0)
		return;
	if (!username) {
		char hash[256];
		if ((why = valid_password(value))) {
			cmd_admin_fail(r, catalog_for_reason(why, value));
			return;
		}
		/* a reset must evict a session that knew the old password; Admin
		 * changing its own keeps the session it does that from */
		if (passwd_hash(value, hash, sizeof hash) < 0 ||
		    state_user_set_pwhash(u.id, hash, u.id == r->s->c->user_id, CAT_ADMIN_PASSWORD_NOTICE,
		                          "password changed by Admin") != STATE_OK) {
			cmd_admin_fail(r, CAT_ADMIN_PASSWORD_FAILED);
			return;
		}
		cmd_admin_done(r, "user", u.id, u.username, CAT_ADMIN_PASSWORD_CHANGED, u.username);
		return;
	}
	if (u.id == STATE_ADMIN_ID) {
		cmd_admin_fail(r, CAT_ADMIN_NO_RENAME_ADMIN);
		return;
	}
	if ((why = valid_username(value))) {
		cmd_admin_fail(r, catalog_for_reason(why, value));
		return;
	}
	int rc = state_user_rename(u.id, value, CAT_ADMIN_RENAMED_NOTICE, "account renamed by Admin");
	if (rc == STATE_EXISTS) {
		cmd_admin_fail(r, CAT_ADMIN_USER_EXISTS, value);
		return;
	}
	if (rc != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_RENAME_USER_FAILED);
		return;
	}
	cmd_admin_done(r, "user", u.id, value, CAT_ADMIN_USER_RENAMED, u.username, value);
}

static void cmd_admin_modify_group(struct cmd_admin_req *r)
{
	state_group_t sg;
	const char *value = r->argv[2], *why;
	if (strcmp(r->argv[1], "name") != 0) {
		cmd_admin_fail(r, CAT_ADMIN_MODIFY_CHAT_FIELD, r->argv[1]);
		return;
	}
	if (cmd_admin_group(r, r->argv[0], &sg, 1) < 0)
		return;
	if (strcmp(sg.name, CR_PUBLIC_GROUP) == 0) {
		cmd_admin_fail(r, CAT_ADMIN_NO_RENAME_PUBLIC);
		return;
	}
	if ((why = valid_chat_name(value))) {
		cmd_admin_fail(r, catalog_for_reason(why, value));
		return;
	}
	int rc = state_group_rename(sg.id, value);
	if (rc == STATE_EXISTS) {
		cmd_admin_fail(r, CAT_ADMIN_CHAT_EXISTS, value);
		return;
	}
	if (rc != STATE_OK) {
		cmd_admin_fail(r, CAT_ADMIN_RENAME_CHAT_FAILED);
		return;
	}
	cmd_admin_done(r, "group", sg.id, value, CAT_ADMIN_CHAT_RENAMED, sg.name, value);
}

/* ban / free --------------------------------------------------------------- */

static void cmd_admin_ban_user_to(struct cmd_admin_req *r, int banned)
{
	state_user_t u;
	if (cmd_admin_user(r, r->argv[0], &u, 0) < 0)
		return;
	if (u.id == STATE_ADMIN_ID) {
		cmd_admin_fail(r, CAT_ADMIN_NO_BAN_ADMIN);
		return;
	}
	if (u.banned == banned) {
		cmd_admin_fail(r, banned ? CAT_ADMIN_USER_ALREADY_BANNED : CAT_ADMIN_USER_NOT_BANNED,
		               u.username);
		return;
	}
	int rc = state_user_set_banned(u.id, banned);
	if (rc != STATE_OK) {
		cmd_admin_fail(r, rc == STATE_DB ? CAT_DATABASE_ERROR : CAT_OUT_OF_MEMORY);
		return;
	}
	cmd_admin_done(r, "user", u.id, u.username, banned ? CAT_ADMIN_USER_BANNED : CAT_ADMIN_USER_FREED,
	               u.username, (long long)u.id);
}

static void cmd_admin_ban_group_to(struct cmd_admin_req *r, int banned)
{
	state_group_t sg;
	if (cmd_admin_group(r, r->argv[0], &sg, 0) < 0)
		return;
	if (banned && strcmp(sg.name, CR_PUBLIC_GROUP) == 0) {
		cmd_admin_fail(r, CAT_ADMIN_NO_BAN_PUBLIC);
		return;
	}
	if (sg.banned == banned) {
		cmd_admin_fail(r, banned ? CAT_ADMIN_CHAT_ALREADY_BANNED : CAT_ADMIN_CHAT_NOT_BANNED, sg.name);
		return;
	}
	if (state_group_set_banned(sg.id, banned) != STATE_OK) {
		cmd_admin_fail(r, CAT_DATABASE_ERROR);
		return;
	}
	cmd_admin_done(r, "group", sg.id, sg.name, banned ? CAT_ADMIN_CHAT_BANNED : CAT_ADMIN_CHAT_FREED,
	               sg.name, (long long)sg.id);
}

static void cmd_admin_ban_user(struct cmd_admin_req *r) { cmd_admin_ban_user_to(r, 1); }
static void cmd_admin_free_user(struct cmd_admin_req *r) { cmd_admin_ban_user_to(r, 0); }
static void cmd_admin_ban_group(struct cmd_admin_req *r) { cmd_admin_ban_group_to(r, 1); }
static void cmd_admin_free_group(struct cmd_admin_req *r) { cmd_admin_ban_group_to(r, 0); }

/* free -l ------------------------------------------------------------------ */

struct cmd_admin_banned {
	json_object *arr;
	char text[CAT_NLANGS][220];
	size_t n;
};

/* Append one (name, id) to the text lists, with "..." once one is full. */
static void cmd_admin_banned_text(struct cmd_admin_banned *b, const char *name, int64_t id)
{
	for (int l = 0; l < CAT_NLANGS; l++) {
		char *t = b->text[l], item[160], sep[8];
		size_t len = strlen(t), size = sizeof b->text[l];
		catalog_format(item, sizeof item, l, CAT_ADMIN_BANNED_ITEM, name, (long long)id);
		catalog_format(sep, sizeof sep, l, CAT_ADMIN_BANNED_SEPARATOR);
		if (len + strlen(item) + strlen(sep) + 4 >= size) {
			if (len + strlen(sep) + 4 < size && (len < 3 || strcmp(t + len - 3, "...") != 0))
				snprintf(t + len, size - len, "%s...", b->n ? sep : "");
			continue;
		}
		snprintf(t + len, size - len, "%s%s", b->n ? sep : "", item);
	}
}

static int cmd_admin_banned_user(void *ctx, const state_user_t *u)
{
	struct cmd_admin_banned *b = ctx;
	if (!u->banned)
		return 0;
	json_object *o = json_object_new_object();
	proto_set_int(o, "id", u->id);
	proto_set_string(o, "username", u->username);
	json_object_array_add(b->arr, o);
	cmd_admin_banned_text(b, u->username, u->id);
	b->n++;
	return 0;
}

static int cmd_admin_banned_group(void *ctx, const state_group_t *g)
{
	struct cmd_admin_banned *b = ctx;
	if (!g->banned)
		return 0;
	json_object *o = json_object_new_object();
	proto_set_int(o, "id", g->id);
	proto_set_string(o, "name", g->name);
	json_object_array_add(b->arr, o);
	cmd_admin_banned_text(b, g->name, g->id);
	b->n++;
	return 0;
}

static void cmd_admin_list_banned(struct cmd_admin_req *r)
{
	struct cmd_admin_banned users = { .arr = json_object_new_array() };
	struct cmd_admin_banned groups = { .arr = json_object_new_array() };
	if (state_users_foreach(cmd_admin_banned_user, &users) != STATE_OK ||
	    state_groups_foreach(cmd_admin_banned_group, &groups) != STATE_OK) {
		json_object_put(users.arr);
		json_object_put(groups.arr);
		cmd_admin_fail(r, CAT_DATABASE_ERROR);
		return;
	}
	for (int l = 0; l < CAT_NLANGS; l++) {
		char u[300], g[300];
		if (users.n)
			catalog_format(u, sizeof u, l, CAT_ADMIN_BANNED_USERS, users.n, users.text[l]);
		else
			catalog_format(u, sizeof u, l, CAT_ADMIN_BANNED_USERS_NONE);
		if (groups.n)
			catalog_format(g, sizeof g, l, CAT_ADMIN_BANNED_CHATS, groups.n, groups.text[l]);
		else
			catalog_format(g, sizeof g, l, CAT_ADMIN_BANNED_CHATS_NONE);
		catalog_format(r->message[l], sizeof r->message[l], l, CAT_ADMIN_BANNED_LIST, u, g);
	}
	r->data = json_object_new_object();
	json_object_object_add(r->data, "banned_users", users.arr);
	json_object_object_add(r->data, "banned_groups", groups.arr);
	r->ok = 1;
}

/* stats -------------------------------------------------------------------- */

/* The counters as an object, from stats_format()'s "name=value" line so
 * that the log (SIGUSR1) and this view always show the same set. */
static void cmd_admin_stats(struct cmd_admin_req *r)
{
	char line[2048], *save = NULL;
	stats_format(line, sizeof line);
	r->data = json_object_new_object();
	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		if (!eq)
			continue;
		*eq = '\0';
		proto_set_int(r->data, t, strtoll(eq + 1, NULL, 10));
	}
	/* "name=value" pairs: the same in every language */
	for (int l = 0; l < CAT_NLANGS; l++)
		stats_format(r->message[l], sizeof r->message[l]);
	r->ok = 1;
}

/* dispatch ----------------------------------------------------------------- */

static const struct {
	const char *command, *action; /* action NULL: any */
	int nargs;
	void (*fn)(struct cmd_admin_req *r);
	int usage;       /* catalog entry */
} cmd_admin_table[] = {
	{ "add", "-u", 2, cmd_admin_add_user, CAT_USAGE_ADD_U },
	{ "del", "-u", 1, cmd_admin_del_user, CAT_USAGE_DEL_U },
	{ "del", "-g", 1, cmd_admin_del_group, CAT_USAGE_DEL_G },
	{ "del", "-f", 1, cmd_admin_del_file, CAT_USAGE_DEL_F },
	{ "modify", "-u", 3, cmd_admin_modify_user, CAT_USAGE_MODIFY_U },
	{ "modify", "-g", 3, cmd_admin_modify_group, CAT_USAGE_MODIFY_G },
	{ "ban", "-u", 1, cmd_admin_ban_user, CAT_USAGE_BAN_U },
	{ "ban", "-g", 1, cmd_admin_ban_group, CAT_USAGE_BAN_G },
	{ "free", "-u", 1, cmd_admin_free_user, CAT_USAGE_FREE_U },
	{ "free", "-g", 1, cmd_admin_free_group, CAT_USAGE_FREE_G },
	{ "free", "-l", 0, cmd_admin_list_banned, CAT_USAGE_FREE_L },
	{ "stats", NULL, 0, cmd_admin_stats, CAT_USAGE_STATS },
};

#define CMD_ADMIN_NCMDS (sizeof cmd_admin_table / sizeof cmd_admin_table[0])

/* An unknown command: the usage of each, joined by "; ". */
static void cmd_admin_usage(struct cmd_admin_req *r)
{
	for (int l = 0; l < CAT_NLANGS; l++) {
		char list[900] = "", one[120];
		size_t len = 0;
		for (size_t i = 0; i < CMD_ADMIN_NCMDS; i++) {
			catalog_format(one, sizeof one, l, cmd_admin_table[i].usage);
			if (len + strlen(one) + 3 >= sizeof list)
				break;
			len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? "; " : "", one);
		}
		catalog_format(r->message[l], sizeof r->message[l], l, CAT_ADMIN_UNKNOWN, list);
	}
	r->ok = 0;
}

/* Everybody online but the operator hears of a change, in their language. */
struct cmd_admin_notice {
	outbuf_t *b[CAT_NLANGS];
	int64_t operator_id;
};

static void cmd_admin_notify_one(void *ctx, client_t *c)
{
	struct cmd_admin_notice *n = ctx;
	outbuf_t *b = n->b[atomic_load_explicit(&c->lang, memory_order_relaxed)];
	if (b && c->logged_in && c->user_id != n->operator_id)
		client_push(c, b, 1, (size_t)CONF(max_output));
}

void cmd_admin_notify_here(const char *operation, int64_t operator_id, const char *operator_name,
                           const char *target_type, int64_t target_id, const char *target_name,
                           const char *const *messages)
{
	struct cmd_admin_notice n = { .operator_id = operator_id };
	for (int l = 0; l < CAT_NLANGS; l++) {
		json_object *o = proto_new("admin_operation_notification");
		proto_set_string(o, "operation", operation);
		proto_set_int(o, "operator_id", operator_id);
		proto_set_string(o, "operator_name", operator_name);
		proto_set_string(o, "target_type", target_type);
		proto_set_int(o, "target_id", target_id);
		proto_set_string(o, "target_name", target_name);
		proto_set_string(o, "message", messages[l]);
		n.b[l] = outbuf_json(o);
		json_object_put(o);
	}
	table_rdlock();
	table_clients_foreach(cmd_admin_notify_one, &n);
	table_unlock();
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(n.b[l]);
}

/* Everybody online here and on the other nodes of a cluster. */
static void cmd_admin_notify(struct cmd_admin_req *r)
{
	char op[64];
	const char *messages[CAT_NLANGS];
	snprintf(op, sizeof op, "%s_%s", r->command, r->action ? r->action : "");
	for (int l = 0; l < CAT_NLANGS; l++)
		messages[l] = r->message[l];
	cmd_admin_notify_here(op, r->s->c->user_id, r->s->c->username, r->target_type, r->target_id,
	                      r->target_name, messages);
	cluster_sync_admin_note(op, r->s->c->user_id, r->s->c->username, r->target_type, r->target_id,
	                        r->target_name, messages);
}

/* Split the target and new_value into r->argv (words in buf). */
static int cmd_admin_args(struct cmd_admin_req *r, json_object *req, char *buf, size_t len)
{
	json_object *tid = NULL;
	const char *tname = NULL, *value = NULL;
	size_t off = 0;
	buf[0] = '\0';
	json_object_object_get_ex(req, "target_id", &tid);
	if (tid && json_object_is_type(tid, json_type_int)) {
		if (json_object_get_int64(tid) != 0)
			off = (size_t)snprintf(buf, len, "%lld ", (long long)json_object_get_int64(tid));
	} else if (tid && json_object_is_type(tid, json_type_string)) {
		off = (size_t)snprintf(buf, len, "%s ", json_object_get_string(tid));
	} else if (tid && !json_object_is_type(tid, json_type_null)) {
		return -1;
	}
	if (proto_get_string(req, "target_name", &tname) < 0 ||
	    proto_get_string(req, "new_value", &value) < 0)
		return -1;
	if (off == 0 && tname)
		off = (size_t)snprintf(buf, len, "%s ", tname);
	if (off < len && value)
		off += (size_t)snprintf(buf + off, len - off, "%s", value);
	if (off >= len)
		return -1;
	char *save = NULL;
	for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (r->argc == CMD_ADMIN_MAX_ARGS)
			return -1;
		r->argv[r->argc++] = t;
	}
	return 0;
}

void cmd_admin(struct session *s, json_object *req)
{
	struct cmd_admin_req r = { .s = s };
	char buf[CMD_ADMIN_MAX_INPUT], usage[120];

	/* Admin only, command a string, action a string or absent: cmd.c checked */
	proto_get_string(req, "command", &r.command);
	proto_get_string(req, "action", &r.action);
	if (cmd_admin_args(&r, req, buf, sizeof buf) < 0) {
		session_error(s, PROTO_E_INVALID, CAT_ADMIN_ARGS_FORMAT, CMD_ADMIN_MAX_INPUT - 1,
		              CMD_ADMIN_MAX_ARGS);
		return;
	}
	/* the reference's client sends the command with or without its slash */
	if (r.command[0] == '/')
		r.command++;

	size_t i;
	for (i = 0; i < CMD_ADMIN_NCMDS; i++)
		if (strcmp(cmd_admin_table[i].command, r.command) == 0 &&
		    (!cmd_admin_table[i].action || (r.action && strcmp(cmd_admin_table[i].action, r.action) == 0)))
			break;
	if (i == CMD_ADMIN_NCMDS)
		cmd_admin_usage(&r);
	else if (r.argc < cmd_admin_table[i].nargs)
		cmd_admin_fail(&r, CAT_ADMIN_USAGE, catalog_format(usage, sizeof usage, session_lang(s),
		                                                   cmd_admin_table[i].usage));
	else
		cmd_admin_table[i].fn(&r);

	/* every admin action is logged with who did it; the arguments are
	 * left out, as they may hold a password */
	char cbuf[TEXT_LOG_FIELD], abuf[TEXT_LOG_FIELD], mbuf[2 * TEXT_LOG_FIELD];
	log_info("admin: %s (id %lld) from %s: %s %s: %s: %s", s->c->username, (long long)s->c->user_id,
	         s->c->addr, text_escape(cbuf, sizeof cbuf, r.command),
	         text_escape(abuf, sizeof abuf, r.action ? r.action : ""), r.ok ? "done" : "refused",
	         text_escape(mbuf, sizeof mbuf, r.message[CAT_EN]));

	json_object *o = proto_new("admin_command_response");
	proto_set_bool(o, "success", r.ok);
	proto_set_string(o, "message", r.message[session_lang(s)]);
	if (r.data)
		json_object_object_add(o, "data", r.data);
	else
		proto_set_null(o, "data");
	session_reply(s, o);
	if (r.ok && r.notify)
		cmd_admin_notify(&r);
}
