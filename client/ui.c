/* ui.c - what the user sees and types: readline in the callback mode on a
 * terminal (output is printed above the line being typed), or plain lines
 * read from standard input in script mode; message formatting and colour. */
#include "config.h"
#include "client.h"
#include "proto.h"
#include "text.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#define UI_LINE_MAX 8192 /* one formatted output line before the content */

#define UI_C_RESET "\033[0m"
#define UI_C_TIME  "\033[2m"
#define UI_C_GROUP "\033[36m"
#define UI_C_NICK  "\033[1m"
#define UI_C_SELF  "\033[1;32m"
#define UI_C_SYS   "\033[36m"
#define UI_C_WARN  "\033[33m"
#define UI_C_ERR   "\033[1;31m"

static int ui_color;       /* escape sequences allowed */
static int ui_rl_active;   /* the readline callback handler is installed */
static int ui_in_handler;  /* inside the line handler: readline is not drawing */
static char ui_prompt[256];

/* Script mode input: lines read ahead, run one at a time by ui_pump. */
struct ui_qline {
	struct ui_qline *next;
	char *text;
};
static struct ui_qline *ui_q_head, **ui_q_tail = &ui_q_head;
static size_t ui_q_len;
static frame_reader_t ui_in;

/* Print one finished line (with its '\n'). With readline drawing an input
 * line, that line is taken away first and drawn again below the output, so
 * the partly typed text is neither lost nor mixed into the message. */
static void ui_emit(const char *text)
{
	if (ui_rl_active && !ui_in_handler) {
		rl_clear_visible_line();
		fputs(text, stdout);
		fflush(stdout);
		rl_on_new_line();
		rl_redisplay();
	} else {
		fputs(text, stdout);
		fflush(stdout);
	}
}

/* Append s to the buffer, replacing control characters (a message could
 * otherwise move the cursor or change the terminal). A newline becomes the
 * two characters "\n" in script mode (one message, one line) and an
 * indented continuation line on a terminal. */
static void ui_append_clean(char **buf, size_t *len, size_t *cap, const char *s)
{
	for (; *s; s++) {
		const char *rep = NULL;
		char one[2] = { *s, 0 };
		unsigned char ch = (unsigned char)*s;
		if (ch == '\n')
			rep = cl.o.script ? "\\n" : "\n    ";
		else if (ch == '\t')
			rep = " ";
		else if (ch < 0x20 || ch == 0x7f)
			rep = "?";
		else if (ch == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f) {
			/* a C1 control (U+0080..U+009F): some terminals obey them */
			rep = "?";
			s++;
		}
		else
			rep = one;
		size_t n = strlen(rep);
		if (*len + n + 1 > *cap) {
			size_t nc = *cap * 2 + n + 64;
			char *nb = realloc(*buf, nc);
			if (!nb)
				return;
			*buf = nb;
			*cap = nc;
		}
		memcpy(*buf + *len, rep, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
}

/* Append s as it is (our own escape sequences). */
static void ui_append_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 1 > *cap) {
		size_t nc = *cap * 2 + n + 64;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static void ui_vline(const char *color, const char *prefix, const char *fmt, va_list ap)
{
	char text[UI_LINE_MAX];
	vsnprintf(text, sizeof text, fmt, ap);
	size_t cap = strlen(text) + 64, len = 0;
	char *out = malloc(cap);
	if (!out)
		return;
	out[0] = '\0';
	ui_append_raw(&out, &len, &cap, ui_color ? color : "");
	ui_append_raw(&out, &len, &cap, prefix);
	ui_append_clean(&out, &len, &cap, text);
	ui_append_raw(&out, &len, &cap, ui_color ? UI_C_RESET "\n" : "\n");
	ui_emit(out);
	free(out);
}

void ui_sys(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ui_vline(UI_C_SYS, "*** ", fmt, ap);
	va_end(ap);
}

void ui_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ui_vline(UI_C_WARN, "*** ", fmt, ap);
	va_end(ap);
}

void ui_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ui_vline(UI_C_ERR, "!!! ", fmt, ap);
	va_end(ap);
}

void ui_err_code(int64_t code, const char *text)
{
	ui_err("ERROR %lld: %s", (long long)code, text);
}

/* "HH:MM:SS" for today, "YYYY-MM-DD HH:MM:SS" for another day. A live
 * message has a float timestamp; history has the stored time as a string. */
static void ui_stamp(json_object *m, char *out, size_t len)
{
	char today[16], full[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(today, sizeof today, "%Y-%m-%d", &tm);

	json_object *ts;
	full[0] = '\0';
	if (json_object_object_get_ex(m, "timestamp", &ts) && ts) {
		if (json_object_is_type(ts, json_type_string))
			snprintf(full, sizeof full, "%s", json_object_get_string(ts));
		else if (json_object_is_type(ts, json_type_double) || json_object_is_type(ts, json_type_int))
			proto_format_time(json_object_get_double(ts), full, sizeof full);
	}
	if (strlen(full) < 19)
		proto_format_time((double)now, full, sizeof full);
	if (!strncmp(full, today, 10))
		snprintf(out, len, "%.8s", full + 11);
	else
		snprintf(out, len, "%.19s", full);
}

/* One chat line: [time] #chat <sender> text; mark, when not NULL, comes
 * first (a direct message from another chat). */
static void ui_chat_line(json_object *m, const char *mark)
{
	const char *sender = NULL, *group = NULL, *content = NULL;
	int64_t gid = 0;
	char stamp[32];

	(void)proto_get_string(m, "sender_username", &sender);
	(void)proto_get_string(m, "chat_group_name", &group);
	(void)proto_get_string(m, "content", &content);
	(void)proto_get_int(m, "chat_group_id", &gid);
	if ((!group || !*group) && gid == cl.group_id && cl.group_name)
		group = cl.group_name;
	ui_stamp(m, stamp, sizeof stamp);
	int self = cl.username && sender && !strcmp(sender, cl.username);

	size_t cap = 256, len = 0;
	char *out = malloc(cap);
	if (!out)
		return;
	out[0] = '\0';
	if (mark) {
		ui_append_raw(&out, &len, &cap, ui_color ? UI_C_WARN : "");
		ui_append_raw(&out, &len, &cap, mark);
		ui_append_raw(&out, &len, &cap, ui_color ? UI_C_RESET " " : " ");
	}
	ui_append_raw(&out, &len, &cap, ui_color ? UI_C_TIME "[" : "[");
	ui_append_raw(&out, &len, &cap, stamp);
	ui_append_raw(&out, &len, &cap, ui_color ? "]" UI_C_RESET " " UI_C_GROUP "#" : "] #");
	ui_append_clean(&out, &len, &cap, group && *group ? group : "?");
	ui_append_raw(&out, &len, &cap, ui_color ? (self ? UI_C_RESET " " UI_C_SELF "<"
	                                                  : UI_C_RESET " " UI_C_NICK "<") : " <");
	ui_append_clean(&out, &len, &cap, sender ? sender : "?");
	ui_append_raw(&out, &len, &cap, ui_color ? ">" UI_C_RESET " " : "> ");
	ui_append_clean(&out, &len, &cap, content ? content : "");
	ui_append_raw(&out, &len, &cap, "\n");
	ui_emit(out);
	free(out);
}

void ui_chat(json_object *m, int history)
{
	(void)history; /* live and history lines look alike on purpose */
	ui_chat_line(m, NULL);
}

void ui_direct(json_object *m)
{
	ui_chat_line(m, "[direct]");
}

void ui_prompt_update(void)
{
	char p[sizeof ui_prompt], xp[96];
	const char *off = cl.state == CONN_UP ? "" : "(offline) ";
	/* a large transfer shows its progress here, where readline keeps
	 * redrawing it with whatever is being typed */
	xfer_progress(xp, sizeof xp);
	if (cl.username && cl.group_name)
		snprintf(p, sizeof p, "%s%s%s@%s> ", xp, off, cl.username, cl.group_name);
	else if (cl.username)
		snprintf(p, sizeof p, "%s%s%s> ", xp, off, cl.username);
	else
		snprintf(p, sizeof p, "%s%schatroom> ", xp, off);
	if (!strcmp(p, ui_prompt))
		return;
	snprintf(ui_prompt, sizeof ui_prompt, "%s", p);
	if (ui_rl_active) {
		rl_set_prompt(ui_prompt);
		if (!ui_in_handler)
			rl_redisplay();
	}
}

static void ui_on_rl_line(char *line)
{
	ui_in_handler = 1;
	if (!line) {
		/* Ctrl-D on an empty line */
		fputs("\n", stdout);
		cl.quit = 1;
	} else {
		if (!text_blank(line)) {
			HIST_ENTRY *last = history_length ? history_get(history_base + history_length - 1) : NULL;
			if (!last || strcmp(last->line, line) != 0)
				add_history(line);
		}
		cmd_line(line);
		free(line);
	}
	if (cl.quit) {
		/* before readline draws a prompt that nobody will use */
		rl_callback_handler_remove();
		ui_rl_active = 0;
	}
	ui_in_handler = 0;
}

void ui_init(void)
{
	const char *nc = getenv("NO_COLOR");
	if (cl.o.color == -1)
		ui_color = isatty(STDOUT_FILENO) && !(nc && *nc) && getenv("TERM") &&
		           strcmp(getenv("TERM"), "dumb") != 0;
	else
		ui_color = cl.o.color == 1 && !(nc && *nc);
	if (cl.o.script) {
		frame_init(&ui_in, CL_INPUT_MAX_LINE);
		return;
	}
	rl_readline_name = "chatroom";
	/* Signals are the main loop's business; readline must not install
	 * handlers of its own around our poll(). */
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	using_history();
	ui_prompt_update();
	rl_callback_handler_install(ui_prompt, ui_on_rl_line);
	ui_rl_active = 1;
}

void ui_discard_input(void)
{
	struct ui_qline *q, *next;
	for (q = ui_q_head; q; q = next) {
		next = q->next;
		free(q->text);
		free(q);
	}
	ui_q_head = NULL;
	ui_q_tail = &ui_q_head;
	ui_q_len = 0;
}

void ui_finish(void)
{
	if (ui_rl_active) {
		rl_callback_handler_remove();
		ui_rl_active = 0;
	}
	ui_discard_input();
	frame_free(&ui_in);
}

void ui_resize(void)
{
	if (ui_rl_active)
		rl_resize_terminal();
}

/* Ctrl-C on a terminal throws away the line being typed, as in a shell. */
void ui_interrupt(void)
{
	if (!ui_rl_active)
		return;
	rl_replace_line("", 0);
	rl_point = rl_end = 0;
	fputs("^C\n", stdout);
	rl_on_new_line();
	rl_redisplay();
}

void ui_poll_setup(short *events)
{
	*events = 0;
	if (cl.stdin_eof)
		return;
	if (cl.o.script && ui_q_len >= CL_SCRIPT_QUEUE_MAX)
		return;
	*events = POLLIN;
}

static void ui_queue(const char *line, size_t len)
{
	struct ui_qline *q = malloc(sizeof *q);
	if (!q)
		return;
	q->text = strndup(line, len);
	if (!q->text) {
		free(q);
		return;
	}
	q->next = NULL;
	*ui_q_tail = q;
	ui_q_tail = &q->next;
	ui_q_len++;
}

void ui_on_stdin(void)
{
	if (!cl.o.script) {
		rl_callback_read_char();
		return;
	}
	ssize_t r = frame_read_fd(&ui_in, STDIN_FILENO);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (;;) {
		char *line;
		size_t len;
		int st = frame_next(&ui_in, &line, &len);
		if (st == FRAME_NEED)
			break;
		if (st == FRAME_TOO_LONG) {
			ui_err("input line longer than %d bytes", CL_INPUT_MAX_LINE);
			cl.exit_code = CL_EXIT_FAILED;
			cl.quit = 1;
			return;
		}
		ui_queue(line, len);
	}
	if (r <= 0) {
		/* the last line may lack its newline */
		size_t rest = frame_pending(&ui_in);
		if (rest > 0) {
			char *tail = malloc(rest);
			if (tail) {
				size_t n = frame_take(&ui_in, tail, rest);
				ui_queue(tail, n);
				free(tail);
			}
		}
		cl.stdin_eof = 1;
		cl.eof_time = cl_now();
	}
}

int ui_has_pending(void)
{
	return ui_q_len > 0;
}

/* May this input line run now? Script mode runs one line at a time and in
 * order: a command waits for the answer of the one before, and for the
 * connection; a chat line is queued in the outbox even while disconnected,
 * once we have a session to send it in. */
static int ui_may_run(const char *line)
{
	if (cl.wait_type || cl.login_inflight)
		return 0;
	/* A command also waits for the chat lines before it to be stored, so
	 * that, say, /history after a line shows that line. */
	if (cmd_is_command(line)) {
		if (cmd_runs_offline(line))
			return 1;
		net_kick();
		return sess_ready() && cl.outbox == NULL;
	}
	if (sess_ready())
		return 1;
	if (cl.had_session && cl.username)
		return 1;
	/* with no account to log in with, the line fails at once */
	return !cl.username || (cl.state == CONN_UP && !cl.resync);
}

void ui_pump(void)
{
	while (ui_q_head && !cl.quit) {
		struct ui_qline *q = ui_q_head;
		if (!ui_may_run(q->text))
			return;
		ui_q_head = q->next;
		if (!ui_q_head)
			ui_q_tail = &ui_q_head;
		ui_q_len--;
		cmd_line(q->text);
		free(q->text);
		free(q);
	}
}
