/* admin.c - Admin's commands: /add, /del, /modify, /ban, /free and /stats
 * become an admin_command_request, and their answers are printed readably.
 *
 * On the wire (as the reference client): command and action, the target in
 * target_id (a number) or target_name, and the rest in new_value; the
 * server joins them and splits on spaces, so "add -u" carries
 * "NAME PASSWORD" in new_value. Anyone may send them: the server refuses
 * all but Admin (error 1005), and that refusal is printed like any error. */
#include "config.h"
#include "client.h"
#include "proto.h"
#include "tunables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct admin_form {
	const char *command, *action;
	int nargs;            /* words after the action */
	int target;           /* the first word is the target (id or name) */
	const char *what;     /* for the usage line */
};

static const struct admin_form admin_forms[] = {
	{ "add", "-u", 2, 0, "NAME PASSWORD" },
	{ "del", "-u", 1, 1, "USER" },
	{ "del", "-g", 1, 1, "GROUP" },
	{ "del", "-f", 1, 1, "FILE_ID" },
	{ "modify", "-u", 3, 1, "USER_ID username|password VALUE" },
	{ "modify", "-g", 3, 1, "GROUP_ID name VALUE" },
	{ "ban", "-u", 1, 1, "USER" },
	{ "ban", "-g", 1, 1, "GROUP" },
	{ "free", "-u", 1, 1, "USER" },
	{ "free", "-g", 1, 1, "GROUP" },
	{ "free", "-l", 0, 0, "" },
	{ "stats", NULL, 0, 0, "" },
};

#define ADMIN_NFORMS (sizeof admin_forms / sizeof admin_forms[0])

/* The account we are logged in as, or logging in as (in script mode /help
 * may run before the login at start is answered), is Admin's. */
int admin_is_admin(void)
{
	return cl.username && !strcmp(cl.username, CR_ADMIN_USER);
}

/* "usage: /del -u USER | -g GROUP | -f FILE_ID" for one command. */
static void admin_usage(const char *command)
{
	char line[256];
	int n = snprintf(line, sizeof line, "usage: /%s", command);
	int first = 1;
	for (size_t i = 0; i < ADMIN_NFORMS && n > 0 && (size_t)n < sizeof line; i++) {
		const struct admin_form *f = &admin_forms[i];
		if (strcmp(f->command, command) != 0 || !f->action)
			continue; /* /stats takes nothing: "usage: /stats" */
		n += snprintf(line + n, sizeof line - (size_t)n, "%s%s%s%s", first ? " " : " | ", f->action,
		              *f->what ? " " : "", f->what);
		first = 0;
	}
	ui_err("%s", line);
	cl.failed = 1;
}

static int admin_is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

void admin_command(int argc, char **argv)
{
	const char *command = argv[0] + 1; /* without the slash */
	const char *action = argc > 1 ? argv[1] : NULL;
	const struct admin_form *f = NULL;
	for (size_t i = 0; i < ADMIN_NFORMS; i++) {
		if (strcmp(admin_forms[i].command, command) != 0)
			continue;
		if (!admin_forms[i].action || (action && !strcmp(admin_forms[i].action, action))) {
			f = &admin_forms[i];
			break;
		}
	}
	int words = f && f->action ? argc - 2 : argc - 1;
	if (!f || words != f->nargs) {
		admin_usage(command);
		return;
	}
	char *const *w = f->action ? argv + 2 : argv + 1;
	if (!strcmp(f->action ? f->action : "", "-f") && !admin_is_number(w[0])) {
		ui_err("usage: /del -f FILE_ID (a number; /recv_files -l shows them)");
		cl.failed = 1;
		return;
	}

	/* the words after the target, joined as the reference joins them */
	char value[1024] = "";
	size_t len = 0;
	for (int i = f->target ? 1 : 0; i < f->nargs; i++) {
		int n = snprintf(value + len, sizeof value - len, "%s%s", len ? " " : "", w[i]);
		if (n < 0 || (size_t)n >= sizeof value - len) {
			ui_err("/%s: arguments too long", command);
			cl.failed = 1;
			return;
		}
		len += (size_t)n;
	}

	json_object *m = proto_new("admin_command_request");
	proto_set_string(m, "command", command);
	proto_set_string(m, "action", f->action ? f->action : "");
	if (f->target && admin_is_number(w[0])) {
		proto_set_int(m, "target_id", strtoll(w[0], NULL, 10));
		proto_set_string(m, "target_name", "");
	} else {
		proto_set_null(m, "target_id");
		proto_set_string(m, "target_name", f->target ? w[0] : "");
	}
	proto_set_string(m, "new_value", value);
	net_send(m);
}

/* The message, one line per line of it. */
static void admin_print_text(int ok, const char *text)
{
	const char *p = text ? text : (ok ? "done" : "refused");
	do {
		size_t n = strcspn(p, "\n");
		if (ok)
			ui_sys("%.*s", (int)n, p);
		else
			ui_err("admin command refused: %.*s", (int)n, p);
		p += n;
	} while (*p++ == '\n' && *p);
}

static void admin_print_banned(json_object *data)
{
	json_object *users = NULL, *groups = NULL;
	json_object_object_get_ex(data, "banned_users", &users);
	json_object_object_get_ex(data, "banned_groups", &groups);
	size_t nu = users && json_object_is_type(users, json_type_array) ? json_object_array_length(users) : 0;
	size_t ng = groups && json_object_is_type(groups, json_type_array) ? json_object_array_length(groups) : 0;
	ui_sys("banned users: %zu", nu);
	for (size_t i = 0; i < nu; i++) {
		json_object *u = json_object_array_get_idx(users, i);
		const char *name = NULL;
		int64_t id = 0;
		(void)proto_get_string(u, "username", &name);
		(void)proto_get_int(u, "id", &id);
		ui_sys("  %s (id %lld)", name ? name : "?", (long long)id);
	}
	ui_sys("banned chats: %zu", ng);
	for (size_t i = 0; i < ng; i++) {
		json_object *g = json_object_array_get_idx(groups, i);
		const char *name = NULL;
		int64_t id = 0;
		(void)proto_get_string(g, "name", &name);
		(void)proto_get_int(g, "id", &id);
		ui_sys("  %s (id %lld)", name ? name : "?", (long long)id);
	}
}

static void admin_print_stats(json_object *data)
{
	ui_sys("server counters:");
	json_object_object_foreach(data, key, val) {
		ui_sys("  %-24s %s", key, json_object_get_string(val));
	}
}

void admin_on_response(json_object *m)
{
	int ok = 0;
	const char *text = NULL;
	json_object *data = NULL;
	(void)proto_get_bool(m, "success", &ok);
	(void)proto_get_string(m, "message", &text);
	json_object_object_get_ex(m, "data", &data);
	/* free -l and stats answer with data, the others with text */
	int has_data = ok && data && json_object_is_type(data, json_type_object) &&
	               json_object_object_length(data) > 0;
	if (has_data && json_object_object_get_ex(data, "banned_users", NULL))
		admin_print_banned(data);
	else if (has_data)
		admin_print_stats(data);
	else
		admin_print_text(ok, text);
	if (!ok)
		cl.failed = 1;
	cmd_answered("admin_command_response", ok);
}

void admin_on_notification(json_object *m)
{
	const char *text = NULL, *who = NULL;
	(void)proto_get_string(m, "message", &text);
	(void)proto_get_string(m, "operator_name", &who);
	ui_sys("admin: %s%s%s%s", text ? text : "", who ? " (by " : "", who ? who : "", who ? ")" : "");
}
