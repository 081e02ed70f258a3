/* session.c - the worker's loop for one connection; see session.h.
 *
 * The worker blocks in poll() on two descriptors: the socket (input, and
 * output space when its queue is backed up) and the client's eventfd
 * (another thread queued output for it). It alone reads and writes the
 * socket. */
#include "config.h"
#include "session.h"
#include "broadcast.h"
#include "cmd.h"
#include "tunables.h"
#include "listener.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "stats.h"
#include "table.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Messages refused by the rate limit in a row before the sender is closed. */
#define SESSION_MAX_STRIKES 50
/* How long a closing connection may take to receive its last messages. */
#define SESSION_LINGER_MS 1000

void session_reply(struct session *s, json_object *o)
{
	if (!o)
		return;
	client_send(s->c, o, (size_t)CONF(max_output));
	json_object_put(o);
}

void session_error(struct session *s, int code, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	log_debug("%s: error %d: %s", s->c->addr, code, text);
	session_reply(s, proto_error(code, text));
}

/* Token bucket: 1 when the message may proceed. */
static int session_rate_ok(struct session *s)
{
	long long now = srv_now_ms();
	double rate = CONF(rate), burst = CONF(burst);
	s->tokens += (double)(now - s->tokens_ms) * rate / 1000.0;
	if (s->tokens > burst)
		s->tokens = burst;
	s->tokens_ms = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		s->strikes = 0;
		return 1;
	}
	return 0;
}

static void session_line(struct session *s, char *line, size_t len)
{
	json_object *req;
	const char *type, *why;
	int needs_login;

	/* blank lines between messages are tolerated */
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len == 0)
		return;
	s->lines++;
	if (!session_rate_ok(s)) {
		STATS_INC(rate_limit_hits);
		if (++s->strikes >= SESSION_MAX_STRIKES) {
			log_warn("%s (%s): closed for flooding past the rate limit", s->c->addr,
			         s->username[0] ? s->username : "-");
			session_error(s, PROTO_E_RATE, "rate limit exceeded repeatedly: disconnected");
			client_close(s->c, "flooding: kept sending past the rate limit");
			return;
		}
		if (s->strikes == 1)
			log_info("%s (%s): rate limited", s->c->addr, s->username[0] ? s->username : "-");
		session_error(s, PROTO_E_RATE, "rate limit exceeded: at most %d messages per second",
		              CONF(rate));
		return;
	}
	if (proto_parse(line, len, &req, &type, &why) < 0) {
		STATS_INC(bad_input);
		session_error(s, PROTO_E_INVALID, "%s", why);
		return;
	}
	cmd_fn fn = cmd_lookup(type, &needs_login);
	if (!fn) {
		STATS_INC(bad_input);
		session_error(s, PROTO_E_INVALID, "unknown message_type '%.64s'", type);
	} else if (needs_login && s->user_id < 0) {
		session_error(s, PROTO_E_CREDENTIALS, "not logged in: log in first");
	} else {
		fn(s, req);
	}
	json_object_put(req);
}

/* Give the client a moment to receive what is queued (a last error, the
 * shutdown notice) before the socket is closed. */
static void session_linger(client_t *c)
{
	long long end = srv_now_ms() + SESSION_LINGER_MS;
	for (;;) {
		int rc = client_flush(c);
		if (rc <= 0)
			return;
		long long left = end - srv_now_ms();
		if (left <= 0)
			return;
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		if (poll(&p, 1, (int)left) <= 0)
			return;
	}
}

void session_serve(client_t *c)
{
	struct session s = { .c = c, .user_id = -1, .protocol = 1 };
	const char *reason = NULL;
	int want_out = 0;

	frame_init(&s.fr, (size_t)srv_conf->max_line);
	s.tokens = CONF(burst);
	s.tokens_ms = srv_now_ms();
	table_wrlock();
	table_add_client(c);
	table_unlock();
	if (atomic_load(&srv_stopping))
		client_close(c, "server shutting down");

	while (!atomic_load_explicit(&c->closing, memory_order_acquire)) {
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = (short)(POLLIN | (want_out ? POLLOUT : 0)) },
			{ .fd = c->evfd, .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			reason = "internal error: poll failed";
			break;
		}
		if (atomic_load(&c->closing))
			break; /* asked to close: the reason is in close_reason */
		if (p[1].revents & POLLIN)
			client_clear_wake(c);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = frame_read_fd(&s.fr, c->fd);
			if (n == 0) {
				if (!atomic_load(&c->closing))
					reason = "closed by the client";
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				reason = errno == ENOMEM ? "server out of memory" : "connection error";
				break;
			}
			if (n > 0)
				atomic_store_explicit(&c->last_rx_ms, srv_now_ms(), memory_order_relaxed);
			char *line;
			size_t len;
			int st = FRAME_NEED;
			client_defer_begin(c);
			while (!atomic_load(&c->closing) && (st = frame_next(&s.fr, &line, &len)) == FRAME_LINE)
				session_line(&s, line, len);
			client_defer_end();
			if (!atomic_load(&c->closing) && st == FRAME_TOO_LONG) {
				STATS_INC(bad_input);
				session_error(&s, PROTO_E_TOO_LARGE,
				              "message too large: lines are limited to %d bytes",
				              srv_conf->max_line);
				client_close(c, "line too long");
			}
		}
		int rc = client_flush(c);
		if (rc < 0) {
			reason = "connection error while writing";
			break;
		}
		want_out = rc == 1;
	}

	if (!reason)
		reason = atomic_load(&c->close_reason);
	if (!reason)
		reason = "closed";
	if (strncmp(reason, "slow consumer", 13) == 0)
		STATS_INC(slow_consumer_closes);
	else
		session_linger(c);

	table_wrlock();
	int64_t uid = c->user_id;
	char uname[96];
	snprintf(uname, sizeof uname, "%s", c->username);
	table_remove_client(c);
	table_unlock();
	if (uid >= 0)
		cmd_user_gone(uid, uname);

	log_info("%s (%s): connection closed: %s", c->addr, uid >= 0 ? uname : "-", reason);
	listener_release(c->ip);
	frame_free(&s.fr);
	client_defer_free();
	client_unref(c);
}

struct session_closer {
	outbuf_t *notice;
	const char *why;
};

static void session_close_one(void *ctx, client_t *c)
{
	struct session_closer *sc = ctx;
	if (sc->notice)
		client_push(c, sc->notice, 1, (size_t)CONF(max_output));
	client_close(c, sc->why);
}

void session_close_all(const char *why)
{
	json_object *o = proto_new("system_message");
	proto_set_string(o, "content", why);
	proto_set_string(o, "level", "warning");
	struct session_closer sc = { outbuf_json(o), why };
	json_object_put(o);
	table_rdlock();
	table_clients_foreach(session_close_one, &sc);
	table_unlock();
	outbuf_unref(sc.notice);
}
