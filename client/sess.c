/* sess.c - the protocol session: login, the current group, incoming
 * messages, the outbox of unacknowledged chat lines, and catching up on
 * what was missed after a reconnect.
 *
 * Exactly-once display rests on message ids: they grow with every message
 * and one group's messages reach every member in id order, so a message of
 * the current group whose id is not above the newest one shown has been
 * shown already. A protocol-2 server also names each message by its
 * sender's client_msg_id: a copy under another id (a server that delivered
 * a message before storing it, then lost it in a crash and stored the
 * resent line anew) is recognised by (sender_id, client_msg_id) and not
 * shown twice. Exactly-once sending rests on client_msg_id: a line stays
 * in the outbox until its chat_ack, is resent with the same id after a
 * reconnect, and the server drops the copy. */
#include "config.h"
#include "client.h"
#include "tunables.h"
#include "proto.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int sess_relogin;            /* the login in flight restores a session after a reconnect */
static int sess_have_floor;         /* last_shown/base_id say where the group stood */
static int sess_entering;           /* /enter_chat sent, no answer yet */
static int sess_batch_count;        /* chat_history lines of the batch being received */
static int64_t sess_batch_max;      /* newest id of the batch being received */
static int64_t sess_catchup_after;  /* after_message_id of the catch-up page in flight */
static int sess_page = CL_HISTORY_PAGE; /* catch-up page; lowered when the server refuses it */
static json_object *sess_back;      /* pages of a backward catch-up (array) */
static int64_t sess_back_before;    /* oldest id of those pages */
static int64_t sess_login_group_id;
static char *sess_login_group_name;

enum { RS_NONE = 0, RS_ENTER, RS_CATCHUP };

static int sess_success(json_object *m, const char **err);
static void sess_direct_clear(void);

static void sess_set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
}

void sess_init(void)
{
	unsigned char rnd[8];
	unsigned long long seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, rnd, sizeof rnd) == (ssize_t)sizeof rnd)
			memcpy(&seed, rnd, sizeof seed);
		close(fd);
	}
	srandom((unsigned)(seed ^ (seed >> 32)));
	/* A random prefix makes client_msg_ids unique across runs and
	 * across clients of the same user; the counter within a run. */
	snprintf(cl.cmid_prefix, sizeof cl.cmid_prefix, "%016llx", seed);
	cl.outbox = NULL;
	cl.outbox_tail = &cl.outbox;
	cl.held = json_object_new_array();
}

void sess_free(void)
{
	struct cl_outmsg *m = cl.outbox, *next;
	for (; m; m = next) {
		next = m->next;
		free(m->content);
		free(m);
	}
	cl.outbox = NULL;
	cl.outbox_tail = &cl.outbox;
	json_object_put(cl.held);
	cl.held = NULL;
	json_object_put(sess_back);
	sess_back = NULL;
	free(cl.username);
	if (cl.password)
		explicit_bzero(cl.password, strlen(cl.password));
	free(cl.password);
	free(cl.group_name);
	free(sess_login_group_name);
	free(cl.direct_text);
	free(cl.direct_chat);
}

int sess_ready(void)
{
	return net_ready() && !cl.login_inflight && !cl.resync;
}

int sess_settled(void)
{
	return cl.outbox == NULL && !cl.login_inflight && !cl.resync && cl.hist_len == 0 &&
	       cl.max_acked <= cl.last_shown;
}

void sess_history_push(enum cl_hist_purpose p)
{
	if (cl.hist_len == CL_HIST_FIFO)
		return; /* cannot happen: at most a few requests are ever in flight */
	cl.hist[(cl.hist_head + cl.hist_len) % CL_HIST_FIFO] = p;
	cl.hist_len++;
}

static int sess_history_head(enum cl_hist_purpose *p)
{
	if (cl.hist_len == 0)
		return 0;
	*p = cl.hist[cl.hist_head];
	return 1;
}

static void sess_history_pop(void)
{
	if (cl.hist_len == 0)
		return;
	cl.hist_head = (cl.hist_head + 1) % CL_HIST_FIFO;
	cl.hist_len--;
}

static void sess_set_group(int64_t id, const char *name)
{
	cl.group_id = id;
	sess_set_str(&cl.group_name, name);
	cl.last_shown = 0;
	cl.base_id = 0;
	cl.max_acked = 0;
	sess_have_floor = 0;
	ui_prompt_update();
}

/* after/before: -1 to leave out. */
static void sess_history_request(enum cl_hist_purpose p, int64_t after, int64_t before, int limit)
{
	json_object *m = proto_new("history_request");
	proto_set_int(m, "chat_group_id", cl.group_id);
	if (after >= 0)
		proto_set_int(m, "after_message_id", after);
	if (before >= 0)
		proto_set_int(m, "before_message_id", before);
	proto_set_int(m, "limit", limit);
	sess_history_push(p);
	net_send(m);
}

/* The next page of the catch-up. Forward from the newest id we know of;
 * but after_message_id 0 means "none given" (the newest messages), so from
 * an empty start the pages go backward and are shown once all are in. */
static void sess_catchup_request(void)
{
	if (sess_catchup_after > 0)
		sess_history_request(HIST_CATCHUP, sess_catchup_after, -1, sess_page);
	else
		sess_history_request(HIST_CATCHUP_BACK, -1, sess_back_before > 0 ? sess_back_before : -1,
		                     sess_page);
}

static int sess_cmp_id(const void *a, const void *b)
{
	int64_t x = 0, y = 0;
	(void)proto_get_int(*(json_object *const *)a, "message_id", &x);
	(void)proto_get_int(*(json_object *const *)b, "message_id", &y);
	return x < y ? -1 : x > y;
}

/* Send every outbox entry not yet sent on this connection. */
static void sess_outbox_flush(void)
{
	struct cl_outmsg **pp = &cl.outbox;
	while (*pp) {
		struct cl_outmsg *m = *pp;
		if (m->sent_gen == cl.gen) {
			pp = &m->next;
			continue;
		}
		json_object *o = proto_new("chat_message");
		proto_set_int(o, "sender_id", cl.user_id);
		proto_set_string(o, "sender_username", cl.username);
		proto_set_int(o, "chat_group_id", m->group_id);
		proto_set_string(o, "chat_group_name", m->group_id == cl.group_id ? cl.group_name : "");
		proto_set_string(o, "content", m->content);
		if (cl.proto2)
			proto_set_string(o, "client_msg_id", m->cmid);
		net_send(o);
		m->sent_gen = cl.gen;
		if (!cl.proto2) {
			/* No acknowledgements from an old server: sent is all
			 * we will ever know. */
			*pp = m->next;
			free(m->content);
			free(m);
			cl.outbox_len--;
			continue;
		}
		pp = &m->next;
	}
	cl.outbox_tail = pp;
	if (!cl.outbox)
		cl.outbox_tail = &cl.outbox;
}

static void sess_outbox_drop_all(const char *why)
{
	if (cl.outbox_len)
		ui_warn("%zu unacknowledged message%s discarded (%s)", cl.outbox_len,
		        cl.outbox_len == 1 ? "" : "s", why);
	struct cl_outmsg *m = cl.outbox, *next;
	for (; m; m = next) {
		next = m->next;
		free(m->content);
		free(m);
	}
	cl.outbox = NULL;
	cl.outbox_tail = &cl.outbox;
	cl.outbox_len = 0;
}

void sess_on_connected(void)
{
	if (cl.username && cl.password) {
		sess_relogin = cl.had_session;
		json_object *m = proto_new("login_request");
		proto_set_string(m, "username", cl.username);
		proto_set_string(m, "password", cl.password);
		cl.login_inflight = 1;
		net_send(m);
	} else {
		cl.backoff = cl.o.reconnect_min;
		if (cl.gen > 1)
			ui_sys("connected to %s port %s", cl.o.host, cl.o.port);
	}
	ui_prompt_update();
}

void sess_on_disconnected(void)
{
	if (cl.superseded) {
		/* Logging in again would end the other session, which would
		 * log in again... : leave the account to the newer one. */
		cl.superseded = 0;
		ui_warn("not logging in again as %s: the account is in use elsewhere",
		        cl.username ? cl.username : "?");
		cl.failed = 1;
		sess_outbox_drop_all("logged in elsewhere");
		sess_set_str(&cl.username, NULL);
		if (cl.password)
			explicit_bzero(cl.password, strlen(cl.password));
		sess_set_str(&cl.password, NULL);
		cl.had_session = 0;
		sess_set_group(0, NULL);
	}
	cl.logged_in = 0;
	cl.login_inflight = 0;
	cl.resync = RS_NONE;
	cl.hist_len = 0;
	sess_batch_count = 0;
	sess_batch_max = 0;
	sess_entering = 0;
	json_object_put(cl.held);
	cl.held = json_object_new_array();
	cmd_connection_lost();
}

void sess_login(const char *user, const char *password, int initial)
{
	sess_set_str(&cl.username, user);
	if (cl.password)
		explicit_bzero(cl.password, strlen(cl.password));
	sess_set_str(&cl.password, password);
	cl.login_initial = initial;
	cl.had_session = 0;
	if (!net_ready())
		return; /* sent by sess_on_connected */
	sess_relogin = 0;
	json_object *m = proto_new("login_request");
	proto_set_string(m, "username", user);
	proto_set_string(m, "password", password);
	cl.login_inflight = 1;
	net_send(m);
}

void sess_logout(void)
{
	sess_outbox_drop_all("logged out");
	net_send(proto_new("logout_request"));
	sess_set_str(&cl.username, NULL);
	if (cl.password)
		explicit_bzero(cl.password, strlen(cl.password));
	sess_set_str(&cl.password, NULL);
	cl.logged_in = 0;
	cl.had_session = 0;
	sess_set_group(0, NULL);
}

void sess_say(const char *content)
{
	if (!cl.username || (!cl.had_session && !cl.logged_in)) {
		ui_err("not logged in: use /login NAME first");
		cl.failed = 1;
		return;
	}
	if (cl.group_id == 0) {
		ui_err("no current chat: use /enter_chat NAME first");
		cl.failed = 1;
		return;
	}
	struct cl_outmsg *m = calloc(1, sizeof *m);
	if (!m || !(m->content = strdup(content))) {
		free(m);
		ui_err("out of memory");
		cl.failed = 1;
		return;
	}
	snprintf(m->cmid, sizeof m->cmid, "%s-%lu", cl.cmid_prefix, ++cl.cmid_counter);
	m->group_id = cl.group_id;
	*cl.outbox_tail = m;
	cl.outbox_tail = &m->next;
	cl.outbox_len++;
	if (sess_ready() && cl.logged_in)
		sess_outbox_flush();
	else if (!cl.o.script && cl.state != CONN_UP)
		ui_sys("not connected: message queued, it is sent after reconnecting");
}

/* 1 when a message with m's (sender_id, client_msg_id) was shown already;
 * otherwise remembers m as shown (of the last CL_SHOWN_KEYS) and returns
 * 0. A message without client_msg_id is never a known copy. */
static int sess_shown_before(json_object *m)
{
	const char *cmid = NULL;
	int64_t sender = 0;
	if (proto_get_string(m, "client_msg_id", &cmid) != 0 || !cmid || !*cmid ||
	    strlen(cmid) >= sizeof cl.shown[0].cmid)
		return 0;
	(void)proto_get_int(m, "sender_id", &sender);
	for (unsigned i = 0; i < cl.shown_len; i++)
		if (cl.shown[i].sender_id == sender && strcmp(cl.shown[i].cmid, cmid) == 0)
			return 1;
	struct cl_shown *k = &cl.shown[cl.shown_next];
	k->sender_id = sender;
	snprintf(k->cmid, sizeof k->cmid, "%s", cmid);
	cl.shown_next = (cl.shown_next + 1) % CL_SHOWN_KEYS;
	if (cl.shown_len < CL_SHOWN_KEYS)
		cl.shown_len++;
	return 0;
}

/* Show the live messages held back while history was coming in, skipping
 * those the history showed. During a resync, messages of another group
 * (the login group, before the old one is entered again) are not ours. */
static void sess_flush_held(int resync)
{
	size_t n = json_object_array_length(cl.held);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(cl.held, i);
		int64_t gid = 0, id = 0;
		(void)proto_get_int(m, "chat_group_id", &gid);
		(void)proto_get_int(m, "message_id", &id);
		if (gid == cl.group_id) {
			if (id > 0 && id <= cl.last_shown)
				continue;
			if (id > cl.last_shown)
				cl.last_shown = id;
		} else if (resync) {
			continue;
		}
		if (!sess_shown_before(m))
			ui_chat(m, 0);
	}
	json_object_put(cl.held);
	cl.held = json_object_new_array();
}

/* The catch-up after a reconnect is over: show what arrived live meanwhile
 * and send what the user typed. */
static void sess_resync_done(void)
{
	cl.resync = RS_NONE;
	sess_flush_held(1);
	sess_outbox_flush();
	ui_prompt_update();
}

static void sess_catchup_start(void)
{
	cl.resync = RS_CATCHUP;
	if (!sess_have_floor) {
		/* We never learnt where the group stood, so "missed" has no
		 * meaning: take the newest id as the new floor. */
		sess_history_request(HIST_BASELINE, -1, -1, 1);
		sess_resync_done();
		return;
	}
	sess_catchup_after = cl.last_shown > cl.base_id ? cl.last_shown : cl.base_id;
	sess_back_before = 0;
	json_object_put(sess_back);
	sess_back = json_object_new_array();
	sess_catchup_request();
}

static void sess_on_login(json_object *m)
{
	int ok = 0;
	const char *err = NULL, *name = NULL;
	int relogin = sess_relogin;
	cl.login_inflight = 0;
	sess_relogin = 0;
	(void)proto_get_bool(m, "success", &ok);
	if (!ok) {
		(void)proto_get_string(m, "error_message", &err);
		ui_err("login failed: %s", err ? err : "unknown reason");
		cl.failed = 1;
		sess_set_str(&cl.username, NULL);
		sess_set_str(&cl.password, NULL);
		cl.had_session = 0;
		if (cl.login_initial && cl.o.script) {
			cl.exit_code = CL_EXIT_FAILED;
			cl.quit = 1;
		}
		cl.login_initial = 0;
		if (!relogin)
			cmd_answered("login_response", 0);
		ui_prompt_update();
		return;
	}
	cl.login_initial = 0;
	cl.logged_in = 1;
	cl.backoff = cl.o.reconnect_min;
	(void)proto_get_int(m, "user_id", &cl.user_id);
	if (proto_get_string(m, "username", &name) == 0 && name)
		sess_set_str(&cl.username, name);

	int64_t gid = 0;
	const char *gname = NULL;
	json_object *g;
	if (json_object_object_get_ex(m, "current_chat_group", &g) && g &&
	    json_object_is_type(g, json_type_object)) {
		(void)proto_get_int(g, "id", &gid);
		(void)proto_get_string(g, "name", &gname);
	}
	sess_login_group_id = gid;
	sess_set_str(&sess_login_group_name, gname);

	if (relogin && cl.group_id != 0) {
		ui_sys("reconnected; logged in again as %s", cl.username);
		if (gid == cl.group_id) {
			sess_catchup_start();
		} else {
			json_object *e = proto_new("enter_chat_request");
			proto_set_string(e, "chat_name", cl.group_name);
			cl.resync = RS_ENTER;
			net_send(e);
		}
		ui_prompt_update();
		return;
	}
	cl.had_session = 1;
	sess_set_group(gid, gname);
	ui_sys("logged in as %s%s%s", cl.username, gname ? "; current chat " : "", gname ? gname : "");
	if (gid)
		sess_history_request(HIST_BASELINE, -1, -1, 1);
	sess_outbox_flush();
	cmd_answered("login_response", 1);
}

static void sess_on_enter(json_object *m)
{
	int ok = 0;
	int64_t gid = 0;
	const char *name = NULL, *err = NULL;
	(void)proto_get_bool(m, "success", &ok);
	(void)proto_get_int(m, "chat_group_id", &gid);
	(void)proto_get_string(m, "chat_name", &name);
	(void)proto_get_string(m, "error_message", &err);

	if (cl.resync == RS_ENTER) {
		if (ok && gid == cl.group_id) {
			/* The last messages that come with entering may not
			 * reach back to what we missed: the catch-up does. */
			sess_history_push(HIST_DISCARD);
			sess_catchup_start();
		} else {
			ui_err("could not enter %s again: %s", cl.group_name ? cl.group_name : "?",
			       err ? err : "refused");
			sess_set_group(sess_login_group_id, sess_login_group_name);
			if (ok)
				sess_history_push(HIST_DISCARD);
			if (cl.group_id)
				sess_history_request(HIST_BASELINE, -1, -1, 1);
			sess_resync_done();
		}
		return;
	}
	sess_entering = 0;
	if (ok) {
		sess_set_group(gid, name);
		sess_history_push(HIST_SHOW);
		ui_sys("entered chat %s", name ? name : "?");
		if (cl.direct_text && cl.direct_chat && name && !strcmp(name, cl.direct_chat))
			sess_say(cl.direct_text);
		sess_direct_clear();
	} else {
		sess_direct_clear();
		ui_err("could not enter chat %s: %s", name ? name : "?", err ? err : "refused");
		cl.failed = 1;
		if (cl.hist_len == 0)
			sess_flush_held(0);
	}
	cmd_answered("enter_chat_response", ok);
}

void sess_enter(const char *name)
{
	json_object *m = proto_new("enter_chat_request");
	proto_set_string(m, "chat_name", name);
	/* Messages of the new group may come before the answer and again
	 * in the history that follows it: hold them until then. */
	sess_entering = 1;
	net_send(m);
}

/* /msg's text has gone, or will not go. */
static void sess_direct_clear(void)
{
	sess_set_str(&cl.direct_text, NULL);
	sess_set_str(&cl.direct_chat, NULL);
}

void sess_open_direct(const char *user, const char *text)
{
	sess_direct_clear();
	sess_set_str(&cl.direct_text, text);
	json_object *m = proto_new("open_direct_chat_request");
	proto_set_string(m, "username", user);
	net_send(m);
}

/* The direct chat is open: enter it, and the command waits for that. */
static void sess_on_open_direct(json_object *m)
{
	const char *name = NULL, *user = NULL, *err;
	int created = 0;
	int ok = sess_success(m, &err);
	(void)proto_get_string(m, "chat_name", &name);
	(void)proto_get_string(m, "username", &user);
	(void)proto_get_bool(m, "created", &created);
	cmd_answered("open_direct_chat_response", ok);
	if (!ok || !name) {
		ui_err("could not open a direct chat: %s", err ? err : "refused");
		sess_direct_clear();
		return;
	}
	ui_sys("%s direct chat %s with %s", created ? "new" : "the", name, user ? user : "?");
	sess_set_str(&cl.direct_chat, name);
	sess_enter(name);
	cmd_wait_enter();
}

/* The current chat is now the one the server names (after /leave, or a
 * removal): learn where it stands, as after a login. */
static void sess_moved_to(json_object *m)
{
	json_object *g;
	int64_t gid = 0;
	const char *name = NULL;
	if (!json_object_object_get_ex(m, "current_chat_group", &g) || !g ||
	    !json_object_is_type(g, json_type_object))
		return;
	(void)proto_get_int(g, "id", &gid);
	(void)proto_get_string(g, "name", &name);
	if (gid == cl.group_id)
		return;
	sess_set_group(gid, name);
	ui_sys("current chat %s", name ? name : "?");
	if (gid)
		sess_history_request(HIST_BASELINE, -1, -1, 1);
}

/* Answers and notices about members: invite_member_response,
 * remove_member_response, leave_chat_response, member_added,
 * member_removed. */
static void sess_on_member(json_object *m, const char *type)
{
	const char *chat = NULL, *user = NULL, *by = NULL, *err;
	int64_t gid = 0;
	(void)proto_get_string(m, "chat_name", &chat);
	(void)proto_get_string(m, "username", &user);
	(void)proto_get_string(m, "by_username", &by);
	(void)proto_get_int(m, "chat_group_id", &gid);
	if (!chat)
		chat = "?";
	if (!strcmp(type, "member_added")) {
		ui_sys("%s added you to chat %s; /enter_chat %s to talk there", by ? by : "?", chat, chat);
		return;
	}
	if (!strcmp(type, "member_removed")) {
		ui_warn("%s removed you from chat %s", by ? by : "?", chat);
		if (gid == cl.group_id)
			sess_moved_to(m);
		return;
	}
	int ok = sess_success(m, &err);
	if (!ok)
		ui_err("%s refused: %s", type, err ? err : "?");
	else if (!strcmp(type, "invite_member_response"))
		ui_sys("added %s to chat %s", user ? user : "?", chat);
	else if (!strcmp(type, "remove_member_response"))
		ui_sys("removed %s from chat %s", user ? user : "?", chat);
	else {
		ui_sys("left chat %s", chat);
		sess_moved_to(m);
	}
	cmd_answered(type, ok);
}

/* A direct message of a chat that is not the current one. */
static void sess_on_direct_notice(json_object *m)
{
	int64_t gid = 0;
	(void)proto_get_int(m, "chat_group_id", &gid);
	if (gid == cl.group_id)
		return; /* it comes in the chat itself (entering it just now) */
	if (!sess_shown_before(m))
		ui_direct(m);
}

static void sess_on_live_chat(json_object *m)
{
	int64_t gid = 0, id = 0;
	(void)proto_get_int(m, "chat_group_id", &gid);
	(void)proto_get_int(m, "message_id", &id);
	if (cl.resync || cl.hist_len > 0 || sess_entering) {
		/* History is coming in: a live message may also be in it, or
		 * older than its end; wait and show it after, once. */
		json_object_array_add(cl.held, json_object_get(m));
		return;
	}
	if (gid == cl.group_id && gid != 0) {
		if (id > 0 && id <= cl.last_shown)
			return; /* shown already (by a catch-up) */
		if (id > cl.last_shown)
			cl.last_shown = id;
		sess_have_floor = 1;
	}
	if (!sess_shown_before(m))
		ui_chat(m, 0);
}

static void sess_on_history(json_object *m)
{
	enum cl_hist_purpose p = HIST_SHOW;
	int64_t gid = 0, id = 0;
	(void)proto_get_int(m, "chat_group_id", &gid);
	(void)proto_get_int(m, "message_id", &id);
	(void)sess_history_head(&p);
	sess_batch_count++;
	if (id > sess_batch_max)
		sess_batch_max = id;
	switch (p) {
	case HIST_SHOW:
		/* asked for: shown even if seen before, and remembered */
		(void)sess_shown_before(m);
		ui_chat(m, 1);
		if (gid == cl.group_id && id > cl.last_shown)
			cl.last_shown = id;
		break;
	case HIST_BASELINE:
		if (gid == cl.group_id && id > cl.base_id)
			cl.base_id = id;
		break;
	case HIST_DISCARD:
		break;
	case HIST_CATCHUP:
		if (gid == cl.group_id && id > cl.last_shown) {
			if (!sess_shown_before(m))
				ui_chat(m, 1);
			cl.last_shown = id;
		}
		break;
	case HIST_CATCHUP_BACK:
		if (sess_back && id > 0) {
			json_object_array_add(sess_back, json_object_get(m));
			if (sess_back_before == 0 || id < sess_back_before)
				sess_back_before = id;
		}
		break;
	}
}

static void sess_on_history_complete(json_object *m)
{
	enum cl_hist_purpose p = HIST_SHOW;
	int count = sess_batch_count;
	int64_t newest = sess_batch_max;
	int any = sess_history_head(&p);
	sess_batch_count = 0;
	sess_batch_max = 0;
	sess_history_pop();
	if (!any)
		return;
	int floor_before = sess_have_floor;
	sess_have_floor = 1;
	switch (p) {
	case HIST_SHOW:
		if (count == 0)
			ui_sys("no messages in %s", cl.group_name ? cl.group_name : "this chat");
		cmd_answered("chat_history_complete", 1);
		break;
	case HIST_CATCHUP:
		/* The server may cap the limit below ours: a page that is
		 * not empty may not be the last, so ask until one is. */
		if (count > 0 && newest > sess_catchup_after) {
			sess_catchup_after = newest;
			sess_catchup_request();
		} else if (cl.resync) {
			sess_resync_done();
		}
		break;
	case HIST_CATCHUP_BACK:
		if (count > 0) {
			sess_catchup_request(); /* before the oldest so far */
			break;
		}
		if (sess_back) {
			size_t n = json_object_array_length(sess_back);
			json_object_array_sort(sess_back, sess_cmp_id);
			for (size_t i = 0; i < n; i++) {
				json_object *h = json_object_array_get_idx(sess_back, i);
				int64_t hid = 0, hgid = 0;
				(void)proto_get_int(h, "message_id", &hid);
				(void)proto_get_int(h, "chat_group_id", &hgid);
				if (hgid == cl.group_id && hid > cl.last_shown) {
					if (!sess_shown_before(h))
						ui_chat(h, 1);
					cl.last_shown = hid;
				}
			}
			json_object_put(sess_back);
			sess_back = NULL;
		}
		if (cl.resync)
			sess_resync_done();
		break;
	case HIST_BASELINE:
		break;
	case HIST_DISCARD:
		sess_have_floor = floor_before; /* says nothing of what we saw */
		break;
	}
	if (cl.hist_len == 0 && !cl.resync)
		sess_flush_held(0);
	(void)m;
}

static void sess_on_ack(json_object *m)
{
	const char *cmid = NULL;
	int64_t id = 0, gid = 0;
	if (proto_get_string(m, "client_msg_id", &cmid) != 0 || !cmid)
		return;
	(void)proto_get_int(m, "message_id", &id);
	(void)proto_get_int(m, "chat_group_id", &gid);
	struct cl_outmsg **pp = &cl.outbox;
	for (; *pp; pp = &(*pp)->next) {
		struct cl_outmsg *o = *pp;
		if (strcmp(o->cmid, cmid) != 0)
			continue;
		*pp = o->next;
		if (cl.outbox_tail == &o->next)
			cl.outbox_tail = pp;
		free(o->content);
		free(o);
		cl.outbox_len--;
		if (gid == cl.group_id && id > cl.max_acked)
			cl.max_acked = id;
		return;
	}
}

/* An error that answers no command answers a chat line: the one named by
 * client_msg_id when the server says, else the oldest one in flight (the
 * server handles one connection's requests in order). Retrying it would
 * only be refused again, so it leaves the outbox. */
static void sess_outbox_refused(json_object *err)
{
	const char *cmid = NULL;
	(void)proto_get_string(err, "client_msg_id", &cmid);
	struct cl_outmsg **pp = &cl.outbox;
	for (; *pp; pp = &(*pp)->next) {
		struct cl_outmsg *o = *pp;
		if (cmid ? strcmp(o->cmid, cmid) != 0 : o->sent_gen != cl.gen)
			continue;
		*pp = o->next;
		if (cl.outbox_tail == &o->next)
			cl.outbox_tail = pp;
		ui_warn("not sent: %s", o->content);
		free(o->content);
		free(o);
		cl.outbox_len--;
		return;
	}
}

static int sess_success(json_object *m, const char **err)
{
	int ok = 0;
	*err = NULL;
	(void)proto_get_bool(m, "success", &ok);
	(void)proto_get_string(m, "error_message", err);
	if (!*err)
		(void)proto_get_string(m, "message", err);
	if (!ok)
		cl.failed = 1;
	return ok;
}

static void sess_print_users(json_object *m)
{
	json_object *arr;
	if (!json_object_object_get_ex(m, "users", &arr) || !json_object_is_type(arr, json_type_array)) {
		ui_err("malformed list_users_response");
		return;
	}
	size_t n = json_object_array_length(arr);
	ui_sys("%zu user%s:", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *u = json_object_array_get_idx(arr, i);
		const char *name = NULL;
		int online = 0;
		int64_t uid = 0;
		(void)proto_get_string(u, "username", &name);
		(void)proto_get_bool(u, "is_online", &online);
		(void)proto_get_int(u, "user_id", &uid);
		ui_sys("  %s (id %lld, %s)", name ? name : "?", (long long)uid, online ? "online" : "offline");
	}
}

static void sess_print_chats(json_object *m)
{
	json_object *arr;
	if (!json_object_object_get_ex(m, "chats", &arr) || !json_object_is_type(arr, json_type_array)) {
		ui_err("malformed list_chats_response");
		return;
	}
	size_t n = json_object_array_length(arr);
	ui_sys("%zu chat%s:", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(arr, i);
		const char *name = NULL;
		int priv = 0, invite_only = 0;
		int64_t gid = 0, members = 0;
		(void)proto_get_string(c, "group_name", &name);
		(void)proto_get_bool(c, "is_private_chat", &priv);
		(void)proto_get_bool(c, "invite_only", &invite_only); /* protocol 2 */
		(void)proto_get_int(c, "group_id", &gid);
		(void)proto_get_int(c, "member_count", &members);
		ui_sys("  %s (id %lld, %lld member%s%s)", name ? name : "?", (long long)gid,
		       (long long)members, members == 1 ? "" : "s",
		       priv ? ", private" : invite_only ? ", invite-only" : "");
	}
}

static void sess_print_info(json_object *m)
{
	json_object *ui;
	const char *name = NULL, *gname = NULL;
	int64_t uid = 0, joined = 0, priv = 0, groups = 0, users = 0, online = 0, chats = 0, gid = 0;
	int banned = 0, chat_banned = 0;
	if (json_object_object_get_ex(m, "user_info", &ui) && ui) {
		(void)proto_get_string(ui, "username", &name);
		(void)proto_get_int(ui, "user_id", &uid);
	}
	(void)proto_get_int(m, "joined_chats_count", &joined);
	(void)proto_get_int(m, "private_chats_count", &priv);
	(void)proto_get_int(m, "group_chats_count", &groups);
	(void)proto_get_int(m, "total_users_count", &users);
	(void)proto_get_int(m, "online_users_count", &online);
	(void)proto_get_int(m, "total_chats_count", &chats);
	(void)proto_get_int(m, "current_chat_group_id", &gid);
	(void)proto_get_string(m, "current_chat_group_name", &gname);
	(void)proto_get_bool(m, "is_user_banned", &banned);
	(void)proto_get_bool(m, "is_current_chat_banned", &chat_banned);
	ui_sys("user %s (id %lld)%s", name ? name : "?", (long long)uid, banned ? ", banned" : "");
	ui_sys("current chat: %s%s", gname && *gname ? gname : "none", chat_banned ? " (banned)" : "");
	ui_sys("joined chats: %lld (%lld private, %lld group)", (long long)joined, (long long)priv,
	       (long long)groups);
	ui_sys("server: %lld users (%lld online), %lld chats", (long long)users, (long long)online,
	       (long long)chats);
}

void sess_handle(json_object *m, const char *type)
{
	const char *err, *s;
	int ok;

	if (!strcmp(type, "chat_message")) {
		sess_on_live_chat(m);
	} else if (!strcmp(type, "file_notification")) {
		if (proto_get_string(m, "content", &s) == 0 && s)
			ui_sys("%s", s);
	} else if (!strcmp(type, "chat_history")) {
		sess_on_history(m);
	} else if (!strcmp(type, "chat_history_complete")) {
		sess_on_history_complete(m);
	} else if (!strcmp(type, "chat_ack")) {
		sess_on_ack(m);
	} else if (!strcmp(type, "heartbeat") || !strcmp(type, "hello")) {
		/* last_rx is all a heartbeat is for */
	} else if (!strcmp(type, "login_response")) {
		sess_on_login(m);
	} else if (!strcmp(type, "enter_chat_response")) {
		sess_on_enter(m);
	} else if (!strcmp(type, "register_response")) {
		ok = sess_success(m, &err);
		if (ok) {
			const char *name = NULL;
			(void)proto_get_string(m, "username", &name);
			ui_sys("registered %s; now /login %s", name ? name : "", name ? name : "NAME");
		} else {
			ui_err("registration failed: %s", err ? err : "unknown reason");
		}
		cmd_answered(type, ok);
	} else if (!strcmp(type, "create_chat_response") || !strcmp(type, "join_chat_response")) {
		int create = type[0] == 'c';
		const char *name = NULL;
		int64_t gid = 0;
		ok = sess_success(m, &err);
		(void)proto_get_string(m, "chat_name", &name);
		(void)proto_get_int(m, "chat_group_id", &gid);
		if (ok)
			ui_sys("%s chat %s (id %lld); /enter_chat %s to talk there",
			       create ? "created" : "joined", name ? name : "?", (long long)gid,
			       name ? name : "NAME");
		else
			ui_err("could not %s chat %s: %s", create ? "create" : "join", name ? name : "?",
			       err ? err : "refused");
		cmd_answered(type, ok);
	} else if (!strcmp(type, "open_direct_chat_response")) {
		sess_on_open_direct(m);
	} else if (!strcmp(type, "direct_message_notice")) {
		sess_on_direct_notice(m);
	} else if (!strcmp(type, "invite_member_response") || !strcmp(type, "remove_member_response") ||
	           !strcmp(type, "leave_chat_response") || !strcmp(type, "member_added") ||
	           !strcmp(type, "member_removed")) {
		sess_on_member(m, type);
	} else if (!strcmp(type, "user_info_response")) {
		sess_print_info(m);
		cmd_answered(type, 1);
	} else if (!strcmp(type, "list_users_response")) {
		sess_print_users(m);
		cmd_answered(type, 1);
	} else if (!strcmp(type, "list_chats_response")) {
		sess_print_chats(m);
		cmd_answered(type, 1);
	} else if (!strcmp(type, "system_message")) {
		const char *level = NULL;
		(void)proto_get_string(m, "content", &s);
		(void)proto_get_string(m, "level", &level);
		/* The server ends an older session of an account that logs
		 * in again, and says so only in words. */
		if (s && level && !strcmp(level, "warning") && strstr(s, "logged in from another"))
			cl.superseded = 1;
		if (level && !strcmp(level, "error"))
			ui_err("%s", s ? s : "");
		else if (level && !strcmp(level, "warning"))
			ui_warn("%s", s ? s : "");
		else
			ui_sys("%s", s ? s : "");
		cmd_answered(type, !(level && !strcmp(level, "error")));
	} else if (!strcmp(type, "error_message")) {
		int64_t code = 0;
		(void)proto_get_int(m, "error_code", &code);
		(void)proto_get_string(m, "error_message", &s);
		enum cl_hist_purpose hp;
		if (code == PROTO_E_INVALID && cl.resync == RS_CATCHUP && sess_page > 1 &&
		    sess_history_head(&hp) && (hp == HIST_CATCHUP || hp == HIST_CATCHUP_BACK)) {
			/* The server's history limit is below our page: ask
			 * again for half as many. */
			sess_history_pop();
			sess_page /= 2;
			sess_catchup_request();
			return;
		}
		/* An error about a chat line names it (protocol 2); any other
		 * one while a transfer waits for its answer is that answer. */
		const char *cmid = NULL;
		(void)proto_get_string(m, "client_msg_id", &cmid);
		if (!cmid && xfer_on_error(code, s))
			return;
		ui_err_code(code, s ? s : "");
		cl.failed = 1;
		if (cl.direct_text && cl.wait_type && !strcmp(cl.wait_type, "open_direct_chat_response"))
			sess_direct_clear(); /* /msg refused: its text is not sent */
		if (!cl.wait_type && !cl.resync && !cl.login_inflight)
			sess_outbox_refused(m);
		if (cl.resync == RS_ENTER) {
			/* the enter was refused with an error instead of a
			 * response: fall back to the login group */
			json_object *fake = json_object_new_object();
			proto_set_bool(fake, "success", 0);
			proto_set_string(fake, "error_message", s);
			sess_on_enter(fake);
			json_object_put(fake);
		} else if (sess_entering && !cl.resync) {
			sess_entering = 0;
			if (cl.hist_len == 0)
				sess_flush_held(0);
		} else if (cl.resync == RS_CATCHUP && cl.hist_len > 0) {
			/* the catch-up was refused: give it up */
			cl.hist_len = 0;
			sess_resync_done();
		}
		cmd_answered(type, 0);
	} else if (!strcmp(type, "user_status_update")) {
		const char *name = NULL;
		int online = 0;
		(void)proto_get_string(m, "username", &name);
		(void)proto_get_bool(m, "is_online", &online);
		if (cl.o.presence && name)
			ui_sys("%s is %s", name, online ? "online" : "offline");
	} else if (!strcmp(type, "admin_operation_notification")) {
		admin_on_notification(m);
	} else if (!strcmp(type, "admin_command_response")) {
		admin_on_response(m);
	} else if (!strcmp(type, "file_upload_response") || !strcmp(type, "file_download_response") ||
	           !strcmp(type, "file_list_response")) {
		if (xfer_on_message(m, type))
			return;
		/* an answer to no transfer of ours */
		ok = sess_success(m, &err);
		if (err)
			(ok ? ui_sys : ui_err)("%s", err);
	}
	/* Other types are from a newer server: ignored. */
}
