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

/* cmd_def flags */
#define CMD_ADMIN  1 /* listed by /help only for Admin */
#define CMD_QUOTED 2 /* arguments may be quoted (file names with spaces) */
#define CMD_REST   4 /* after min_args words, the rest of the line as typed is one argument */

struct cmd_def {
	const char *name;
	const char *alias;
	int min_args, max_args;
	int offline;           /* may run without a connection */
	const char *usage;
	const char *help;
	void (*run)(int argc, char **argv);
	int flags;
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
	/* a transfer job outlives the errors about single files */
	if (!strcmp(cl.wait_type, CMD_WAIT_XFER) && strcmp(type, CMD_WAIT_XFER) != 0)
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

/* A transfer has a stall timer of its own (xfer.c), not a deadline. */
static int cmd_timed(void)
{
	return cl.wait_type && strcmp(cl.wait_type, CMD_WAIT_XFER) != 0;
}

void cmd_tick(double now)
{
	if (cmd_timed() && now > cl.wait_deadline) {
		ui_err("no answer from the server (waited for %s)", cl.wait_type);
		cl.failed = 1;
		cl.wait_type = cl.wait_then = NULL;
	}
}

double cmd_next_timer(double now)
{
	if (!cmd_timed())
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

/* A command typed while the connection is being made waits for it; while
 * the next attempt is still seconds away, it fails. */
static void cmd_hold(const char *line)
{
	net_kick();
	if (cl.state == CONN_DOWN && cl.next_attempt > cl_now()) {
		ui_err("not connected: the next attempt is in %.0f s; try again then",
		       cl.next_attempt - cl_now() + 0.5);
		cl.failed = 1;
		return;
	}
	if (cl.held_cmd)
		ui_warn("dropped %s: only the last command waits for the connection", cl.held_cmd);
	free(cl.held_cmd);
	cl.held_cmd = strdup(line);
	ui_sys("connecting; the command runs once connected");
}

void cmd_pump(void)
{
	if (!cl.held_cmd || !net_ready() || cl.login_inflight || cl.resync)
		return;
	char *line = cl.held_cmd;
	cl.held_cmd = NULL;
	cmd_line(line);
	free(line);
}

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

/* The commands that only a protocol-2 server understands: 1 when the
 * server does; otherwise says so and fails the command. */
static int cmd_need_proto2(const char *what)
{
	if (cl.proto2)
		return 1;
	ui_err("%s needs a server that speaks protocol 2", what);
	cl.failed = 1;
	return 0;
}

static void cmd_create_chat(int argc, char **argv)
{
	const char *why = valid_chat_name(argv[1]);
	int invite_only = 0;
	if (why) {
		ui_err("cannot create chat %s: %s", argv[1], why);
		cl.failed = 1;
		return;
	}
	json_object *users = json_object_new_array();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--invite-only"))
			invite_only = 1;
		else
			json_object_array_add(users, json_object_new_string(argv[i]));
	}
	if (invite_only && !cmd_need_proto2("--invite-only")) {
		json_object_put(users);
		return;
	}
	json_object *m = proto_new("create_chat_request");
	proto_set_string(m, "chat_name", argv[1]);
	json_object_object_add(m, "member_usernames", users);
	if (invite_only)
		proto_set_bool(m, "invite_only", 1);
	net_send(m);
	cmd_wait("create_chat_response", NULL);
}

/* /msg USER [TEXT]: open the direct chat, enter it, then send TEXT; the
 * command waits for the whole of it (sess.c goes on after the answer). */
static void cmd_msg(int argc, char **argv)
{
	if (!cmd_need_login() || !cmd_need_proto2("/msg"))
		return;
	/* argv[2]: the rest of the line as typed (CMD_REST) */
	sess_open_direct(argv[1], argc > 2 && !text_blank(argv[2]) ? argv[2] : NULL);
	cmd_wait("open_direct_chat_response", NULL);
}

void cmd_wait_enter(void)
{
	cmd_wait("enter_chat_response", "chat_history_complete");
}

/* /invite USER and /kick USER: a member request about the current chat. */
static void cmd_member(int argc, char **argv)
{
	int invite = !strcmp(argv[0] + 1, "invite");
	if (!cmd_need_login() || !cmd_need_proto2(argv[0]))
		return;
	if (cl.group_id == 0) {
		ui_err("no current chat: use /enter_chat NAME first");
		cl.failed = 1;
		return;
	}
	json_object *m = proto_new(invite ? "invite_member_request" : "remove_member_request");
	proto_set_string(m, "username", argv[1]);
	proto_set_int(m, "chat_group_id", cl.group_id);
	net_send(m);
	cmd_wait(invite ? "invite_member_response" : "remove_member_response", NULL);
}

static void cmd_leave(int argc, char **argv)
{
	if (!cmd_need_login() || !cmd_need_proto2("/leave"))
		return;
	if (cl.group_id == 0) {
		ui_err("no current chat: use /enter_chat NAME first");
		cl.failed = 1;
		return;
	}
	json_object *m = proto_new("leave_chat_request");
	proto_set_int(m, "chat_group_id", cl.group_id);
	net_send(m);
	cmd_wait("leave_chat_response", NULL);
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
	sess_enter(argv[1]);
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

static void cmd_send_files(int argc, char **argv)
{
	xfer_send_files(argc, argv);
	if (xfer_busy())
		cmd_wait(CMD_WAIT_XFER, NULL);
}

static void cmd_recv_files(int argc, char **argv)
{
	xfer_recv_files(argc, argv);
	if (xfer_busy())
		cmd_wait(CMD_WAIT_XFER, NULL);
}

static void cmd_admin(int argc, char **argv)
{
	int failed = cl.failed;
	cl.failed = 0;
	admin_command(argc, argv);
	if (!cl.failed)
		cmd_wait("admin_command_response", NULL);
	cl.failed |= failed;
}

static void cmd_exit(int argc, char **argv)
{
	if (cl.o.script) {
		/* as the end of input: wait for acknowledgements first; the lines
		 * after /exit are not run */
		cl.stdin_eof = 1;
		cl.eof_time = cl_now();
		ui_discard_input();
	} else {
		cl.quit = 1;
	}
}

static const struct cmd_def cmd_table[] = {
	{ "help", "?", 0, 1, 1, "/help", "show this list", cmd_help, 0 },
	{ "login", NULL, 1, 2, 0, "/login NAME [PASSWORD]", "log in (the password is asked for when left out)", cmd_login, 0 },
	{ "signin", "register", 1, 2, 0, "/signin NAME [PASSWORD]", "create an account", cmd_signin, 0 },
	{ "logout", NULL, 0, 0, 0, "/logout", "log out", cmd_logout, 0 },
	{ "info", NULL, 0, 0, 0, "/info", "show your account and the server's counts", cmd_info, 0 },
	{ "list", NULL, 1, 1, 0, "/list -u|-s|-c|-g", "list all users, users of this chat, my chats, all groups", cmd_list, 0 },
	{ "create_chat", NULL, 1, CMD_MAX_ARGS, 0, "/create_chat NAME [USER...]", "create a chat with these members; --invite-only after NAME: only members add others", cmd_create_chat, 0 },
	{ "join_chat", NULL, 1, 1, 0, "/join_chat NAME", "become a member of a chat", cmd_join_chat, 0 },
	{ "enter_chat", NULL, 1, 1, 0, "/enter_chat NAME", "talk in that chat from now on", cmd_enter_chat, 0 },
	{ "msg", NULL, 1, 2, 0, "/msg USER [TEXT]", "talk to USER alone from now on (and send TEXT)", cmd_msg, CMD_REST },
	{ "invite", NULL, 1, 1, 0, "/invite USER", "make USER a member of this chat", cmd_member, 0 },
	{ "kick", NULL, 1, 1, 0, "/kick USER", "remove USER from this chat (its creator)", cmd_member, 0 },
	{ "leave", NULL, 0, 0, 0, "/leave", "leave this chat (back to public)", cmd_leave, 0 },
	{ "history", NULL, 0, 1, 0, "/history [N]", "show the last N messages of this chat (default 50)", cmd_history, 0 },
	{ "send_files", NULL, 1, CMD_MAX_ARGS, 0, "/send_files PATH...", "send files to this chat", cmd_send_files, CMD_QUOTED },
	{ "recv_files", NULL, 1, 2, 0, "/recv_files -l|-n ID|-a", "list this chat's files, get one, get all", cmd_recv_files, 0 },
	{ "add", NULL, 0, 4, 0, "/add -u NAME PASSWORD", "create an account", cmd_admin, CMD_ADMIN },
	{ "del", NULL, 0, 4, 0, "/del -u USER|-g GROUP|-f FILE_ID", "delete a user, a chat or a file", cmd_admin, CMD_ADMIN },
	{ "modify", NULL, 0, 4, 0, "/modify -u USER username|password VALUE", "rename a user or set a password", cmd_admin, CMD_ADMIN },
	{ "modify", NULL, 0, 4, 0, "/modify -g GROUP name VALUE", "rename a chat", cmd_admin, CMD_ADMIN },
	{ "ban", NULL, 0, 4, 0, "/ban -u USER|-g GROUP", "stop a user or a chat from sending", cmd_admin, CMD_ADMIN },
	{ "free", NULL, 0, 4, 0, "/free -u USER|-g GROUP", "lift a ban", cmd_admin, CMD_ADMIN },
	{ "free", NULL, 0, 4, 0, "/free -l", "list the banned users and chats", cmd_admin, CMD_ADMIN },
	{ "stats", NULL, 0, 0, 0, "/stats", "show the server's counters", cmd_admin, CMD_ADMIN },
	{ "exit", "quit", 0, 0, 1, "/exit", "leave the program", cmd_exit, 0 },
};

#define CMD_COUNT (sizeof cmd_table / sizeof cmd_table[0])

static void cmd_help(int argc, char **argv)
{
	int admin = admin_is_admin();
	ui_sys("commands:");
	for (size_t i = 0; i < CMD_COUNT; i++)
		if (!(cmd_table[i].flags & CMD_ADMIN))
			ui_sys("  %-28s %s", cmd_table[i].usage, cmd_table[i].help);
	if (admin) {
		ui_sys("administration:");
		for (size_t i = 0; i < CMD_COUNT; i++)
			if (cmd_table[i].flags & CMD_ADMIN)
				ui_sys("  %-40s %s", cmd_table[i].usage, cmd_table[i].help);
	}
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

/* Split s in place into words separated by blanks, where "..." or '...'
 * quotes blanks and a backslash takes the next character as it is (except
 * inside '...'). At most max words: one more means too many. Returns the
 * count, or -1 when a quote is not closed. */
static int cmd_split_quoted(char *s, char **argv, int max)
{
	char *r = s, *w = s;
	int argc = 0;
	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (!*r)
			break;
		if (argc == max)
			return max + 1;
		argv[argc++] = w;
		char q = 0;
		while (*r && (q || (*r != ' ' && *r != '\t'))) {
			if (q && *r == q) {
				q = 0;
				r++;
			} else if (!q && (*r == '"' || *r == '\'')) {
				q = *r++;
			} else {
				if (*r == '\\' && q != '\'' && r[1])
					r++;
				*w++ = *r++;
			}
		}
		if (q)
			return -1;
		if (*r)
			r++;
		*w++ = '\0';
	}
	return argc;
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
	if (c->flags & CMD_QUOTED) {
		argc = cmd_split_quoted(copy, argv, CMD_MAX_ARGS + 1);
		if (argc < 0) {
			ui_err("usage: %s (a quote is not closed)", c->usage);
			cl.failed = 1;
			free(copy);
			return;
		}
	} else {
		char *save = NULL;
		for (char *tok = strtok_r(copy, " \t", &save); tok;) {
			if (argc == CMD_MAX_ARGS + 1) {
				argc++;
				break;
			}
			argv[argc++] = tok;
			if ((c->flags & CMD_REST) && argc == c->min_args + 1) {
				/* the rest, blanks inside it kept */
				tok = save ? save + strspn(save, " \t") : NULL;
				if (tok && *tok)
					argv[argc++] = tok;
				break;
			}
			tok = strtok_r(NULL, " \t", &save);
		}
	}
	if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
		ui_err("usage: %s", c->usage);
		cl.failed = 1;
	} else if (!c->offline && !net_ready()) {
		cmd_hold(line);
	} else {
		argv[argc] = NULL;
		c->run(argc, argv);
	}
	free(copy);
}
