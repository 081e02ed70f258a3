/* cmd.c - slash commands: parse a typed line, check its arguments, send the
 * request, and remember which answer the command waits for (script mode
 * reads its next line only after that answer). */
#include "config.h"
#include "client.h"
#include "tunables.h"
#include "proto.h"
#include "text.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_MAX_ARGS 64

struct cmd_def {
	const char *name;
	const char *alias;
	int min_args, max_args;
	int offline;           /* may run without a connection */
	const char *usage;
	const char *help;
	void (*run)(int argc, char **argv);
};

static void cmd_wait(const char *type, const char *then)
{
	cl.wait_type = type;
	cl.wait_then = then;
	cl.wait_deadline = cl_now() + CL_REPLY_TIMEOUT;
}

void cmd_answered(const char *type, int ok)
{
	if (!cl.wait_type)
		return;
	if (strcmp(type, cl.wait_type) != 0 && strcmp(type, "error_message") != 0)
		return;
	if (ok && cl.wait_then && strcmp(type, "error_message") != 0) {
		cmd_wait(cl.wait_then, NULL);
		return;
	}
	cl.wait_type = NULL;
	cl.wait_then = NULL;
}

void cmd_tick(double now)
{
	if (cl.wait_type && now > cl.wait_deadline) {
		ui_err("no answer from the server (waited for %s)", cl.wait_type);
		cl.failed = 1;
		cl.wait_type = cl.wait_then = NULL;
	}
}

double cmd_next_timer(double now)
{
	if (!cl.wait_type)
		return 3600;
	return cl.wait_deadline > now ? cl.wait_deadline - now : 0;
}

/* The connection dropped: the answer a command waits for will not come. */
void cmd_connection_lost(void)
{
	if (cl.wait_type) {
		ui_err("connection lost before the answer to the last command");
		cl.failed = 1;
		cl.wait_type = cl.wait_then = NULL;
	}
}

static void cmd_help(int argc, char **argv);

static int cmd_need_login(void)
{
	if (!cl.logged_in) {
		ui_err("not logged in: use /login NAME first");
		cl.failed = 1;
		return 0;
	}
	return 1;
}

static void cmd_login(int argc, char **argv)
{
	char *pw = argc > 2 ? strdup(argv[2]) : conf_password_for_login();
	if (!pw) {
		ui_err("usage: /login NAME [PASSWORD] (no terminal to ask for the password)");
		cl.failed = 1;
		return;
	}
	sess_login(argv[1], pw, 0);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	cmd_wait("login_response", NULL);
}

static void cmd_signin(int argc, char **argv)
{
	const char *why = valid_username(argv[1]);
	char *pw;
	if (why) {
		ui_err("cannot register %s: %s", argv[1], why);
		cl.failed = 1;
		return;
	}
	if (argc > 2) {
		pw = strdup(argv[2]);
	} else if (cl.o.password) {
		pw = strdup(cl.o.password);
	} else {
		pw = conf_read_password("New password: ");
		char *again = pw ? conf_read_password("Repeat password: ") : NULL;
		if (pw && (!again || strcmp(pw, again) != 0)) {
			ui_err("the passwords differ; nothing done");
			cl.failed = 1;
			free(pw);
			free(again);
			return;
		}
		free(again);
	}
	if (!pw) {
		ui_err("usage: /signin NAME [PASSWORD] (no terminal to ask for the password)");
		cl.failed = 1;
		return;
	}
	if ((why = valid_password(pw)) != NULL) {
		ui_err("cannot register %s: %s", argv[1], why);
		cl.failed = 1;
		free(pw);
		return;
	}
	json_object *m = proto_new("register_request");
	proto_set_string(m, "username", argv[1]);
	proto_set_string(m, "password", pw);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	net_send(m);
	cmd_wait("register_response", NULL);
}

static void cmd_logout(int argc, char **argv)
{
	if (!cmd_need_login())
		return;
	sess_logout();
	cmd_wait("system_message", NULL);
}

static void cmd_info(int argc, char **argv)
{
	net_send(proto_new("user_info_request"));
	cmd_wait("user_info_response", NULL);
}

static void cmd_list(int argc, char **argv)
{
	const char *f = argv[1];
	json_object *m;
	if (!strcmp(f, "-u") || !strcmp(f, "-s")) {
		m = proto_new("list_users_request");
		if (f[1] == 'u') {
			proto_set_string(m, "list_type", "all");
		} else {
			proto_set_string(m, "list_type", "current_chat");
			proto_set_int(m, "chat_group_id", cl.group_id);
		}
		net_send(m);
		cmd_wait("list_users_response", NULL);
	} else if (!strcmp(f, "-c") || !strcmp(f, "-g")) {
		m = proto_new("list_chats_request");
		proto_set_string(m, "list_type", f[1] == 'c' ? "joined" : "all");
		net_send(m);
		cmd_wait("list_chats_response", NULL);
	} else {
		ui_err("usage: /list -u|-s|-c|-g (all users, users here, my chats, all groups)");
		cl.failed = 1;
	}
}

static void cmd_create_chat(int argc, char **argv)
{
	const char *why = valid_chat_name(argv[1]);
	if (why) {
		ui_err("cannot create chat %s: %s", argv[1], why);
		cl.failed = 1;
		return;
	}
	json_object *m = proto_new("create_chat_request");
	json_object *users = json_object_new_array();
	proto_set_string(m, "chat_name", argv[1]);
	for (int i = 2; i < argc; i++)
		json_object_array_add(users, json_object_new_string(argv[i]));
	json_object_object_add(m, "member_usernames", users);
	net_send(m);
	cmd_wait("create_chat_response", NULL);
}

static void cmd_join_chat(int argc, char **argv)
{
	json_object *m = proto_new("join_chat_request");
	proto_set_string(m, "chat_name", argv[1]);
	net_send(m);
	/* The reference server answers an old client with a system message. */
	cmd_wait(cl.proto2 ? "join_chat_response" : "system_message", NULL);
}

static void cmd_enter_chat(int argc, char **argv)
{
	json_object *m = proto_new("enter_chat_request");
	proto_set_string(m, "chat_name", argv[1]);
	net_send(m);
	/* On success the response is followed by the last messages. */
	cmd_wait("enter_chat_response", "chat_history_complete");
}

static void cmd_history(int argc, char **argv)
{
	long n = 50;
	if (argc > 1) {
		char *end;
		n = strtol(argv[1], &end, 10);
		if (*end || n < 1 || n > CL_HISTORY_MAX) {
			ui_err("usage: /history [N] (N from 1 to %d, default 50)", CL_HISTORY_MAX);
			cl.failed = 1;
			return;
		}
	}
	if (!cmd_need_login())
		return;
	if (!cl.proto2) {
		ui_err("/history needs a server that speaks protocol 2");
		cl.failed = 1;
		return;
	}
	json_object *m = proto_new("history_request");
	proto_set_int(m, "chat_group_id", cl.group_id);
	proto_set_int(m, "limit", n);
	sess_history_push(HIST_SHOW);
	net_send(m);
	cmd_wait("chat_history_complete", NULL);
}

static void cmd_exit(int argc, char **argv)
{
	if (cl.o.script) {
		/* as the end of input: wait for acknowledgements first */
		cl.stdin_eof = 1;
		cl.eof_time = cl_now();
	} else {
		cl.quit = 1;
	}
}

static const struct cmd_def cmd_table[] = {
	{ "help", "?", 0, 1, 1, "/help", "show this list", cmd_help },
	{ "login", NULL, 1, 2, 0, "/login NAME [PASSWORD]", "log in (the password is asked for when left out)", cmd_login },
	{ "signin", "register", 1, 2, 0, "/signin NAME [PASSWORD]", "create an account", cmd_signin },
	{ "logout", NULL, 0, 0, 0, "/logout", "log out", cmd_logout },
	{ "info", NULL, 0, 0, 0, "/info", "show your account and the server's counts", cmd_info },
	{ "list", NULL, 1, 1, 0, "/list -u|-s|-c|-g", "list all users, users of this chat, my chats, all groups", cmd_list },
	{ "create_chat", NULL, 1, CMD_MAX_ARGS, 0, "/create_chat NAME [USER...]", "create a chat with these members", cmd_create_chat },
	{ "join_chat", NULL, 1, 1, 0, "/join_chat NAME", "become a member of a chat", cmd_join_chat },
	{ "enter_chat", NULL, 1, 1, 0, "/enter_chat NAME", "talk in that chat from now on", cmd_enter_chat },
	{ "history", NULL, 0, 1, 0, "/history [N]", "show the last N messages of this chat (default 50)", cmd_history },
	{ "exit", "quit", 0, 0, 1, "/exit", "leave the program", cmd_exit },
};

#define CMD_COUNT (sizeof cmd_table / sizeof cmd_table[0])

static void cmd_help(int argc, char **argv)
{
	ui_sys("commands:");
	for (size_t i = 0; i < CMD_COUNT; i++)
		ui_sys("  %-28s %s", cmd_table[i].usage, cmd_table[i].help);
	ui_sys("any other line is sent to the current chat; start it with // to send a leading /");
}

static const struct cmd_def *cmd_find(const char *line)
{
	char name[32];
	size_t n = strcspn(line + 1, " \t");
	if (n == 0 || n >= sizeof name)
		return NULL;
	memcpy(name, line + 1, n);
	name[n] = '\0';
	for (size_t i = 0; i < CMD_COUNT; i++)
		if (!strcmp(name, cmd_table[i].name) ||
		    (cmd_table[i].alias && !strcmp(name, cmd_table[i].alias)))
			return &cmd_table[i];
	return NULL;
}

int cmd_is_command(const char *line)
{
	return line[0] == '/' && line[1] != '/';
}

int cmd_runs_offline(const char *line)
{
	if (!cmd_is_command(line))
		return 1;
	const struct cmd_def *c = cmd_find(line);
	return !c || c->offline;
}

void cmd_line(const char *line)
{
	if (!cmd_is_command(line)) {
		if (line[0] == '/')
			line++; /* "//x" sends "/x" */
		if (text_blank(line))
			return;
		sess_say(line);
		return;
	}

	const struct cmd_def *c = cmd_find(line);
	if (!c) {
		char name[40];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(line, " \t"), line);
		ui_err("unknown command %s; /help lists the commands", name);
		cl.failed = 1;
		return;
	}

	char *copy = strdup(line);
	char *argv[CMD_MAX_ARGS + 2];
	int argc = 0;
	if (!copy) {
		ui_err("out of memory");
		return;
	}
	for (char *save = NULL, *tok = strtok_r(copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (argc == CMD_MAX_ARGS + 1) {
			argc++;
			break;
		}
		argv[argc++] = tok;
	}
	if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
		ui_err("usage: %s", c->usage);
		cl.failed = 1;
	} else if (!c->offline && !net_ready()) {
		ui_err("not connected to the server; try again after it reconnects");
		cl.failed = 1;
	} else {
		argv[argc] = NULL;
		c->run(argc, argv);
	}
	free(copy);
}
