/* session.c - one turn of a worker on one connection; see session.h.
 *
 * A worker takes a connection from the pool when it has work, reads what is
 * there, handles every complete line (blocking calls into the database or
 * the password hash are fine here), writes what the socket takes, and parks the
 * connection in the waiter instead of waiting on it. While it serves the
 * connection it alone reads and writes the socket (client.h). Who the
 * connection is logged in as is the client's (client_t.user_id, username,
 * protocol), which only its holder changes; the session reads it there. */
#include "config.h"
#include "session.h"
#include "presence.h"
#include "catalog.h"
#include "cmd.h"
#include "tunables.h"
#include "listener.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "stats.h"
#include "table.h"
#include "waiter.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Messages refused by the rate limit in a row before the sender is closed. */
#define SESSION_MAX_STRIKES 50
/* How long a closing connection may take to receive its last messages. */
#define SESSION_LINGER_MS 1000
/* Reads a worker makes in one turn while input keeps coming, before the
 * connection goes back to the end of the pool's queue: a busy sender does
 * not keep a worker from the others. */
#define SESSION_TURN_READS 8

static long long session_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The reference client sends a request and only then installs the handler
 * that waits for its reply: a reply that arrives in between is dropped and
 * its user waits for a timeout. The reference server took 0.5-2.5 ms to
 * answer; chatroomd answers sooner, so the first reply to a legacy
 * client's own request waits until LegacyReplyDelay has passed since the
 * request arrived. No thread waits for it: the reply (and whatever is
 * queued for this client after it) stays queued, the connection is parked
 * as usual, and when the floor has passed the waiter hands it to a
 * worker, whose turn writes the queue (client_delay). Chat broadcast, other clients and file data never wait
 * for it. */
void session_reply(struct session *s, json_object *o)
{
	if (!o)
		return;
	if (s->reply_due_ns) {
		client_delay(s->c, s->reply_due_ns);
		s->reply_due_ns = 0;
	}
	client_send(s->c, o, (size_t)CONF(max_output));
	json_object_put(o);
}

int session_lang(const struct session *s)
{
	return atomic_load_explicit(&s->c->lang, memory_order_relaxed);
}

char *session_text(struct session *s, char *buf, size_t len, int id, ...)
{
	va_list ap;
	va_start(ap, id);
	catalog_vformat(buf, len, session_lang(s), id, ap);
	va_end(ap);
	return buf;
}

void session_error(struct session *s, int code, int id, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, id);
	catalog_vformat(text, sizeof text, session_lang(s), id, ap);
	va_end(ap);
	log_debug("%s: error %d: %s", s->c->addr, code, text);
	json_object *o = proto_error(code, text);
	if (o && s->c->protocol == 2 && s->req_cmid)
		proto_set_string(o, "client_msg_id", s->req_cmid);
	session_reply(s, o);
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
			         s->c->username[0] ? s->c->username : "-");
			session_error(s, PROTO_E_RATE, CAT_RATE_DISCONNECT);
			client_close(s->c, "flooding: kept sending past the rate limit");
			return;
		}
		if (s->strikes == 1)
			log_info("%s (%s): rate limited", s->c->addr, s->c->username[0] ? s->c->username : "-");
		session_error(s, PROTO_E_RATE, CAT_RATE_LIMITED, CONF(rate));
		return;
	}
	/* a legacy request: its first reply waits for the floor, counted from
	 * when the line was read (lines read together share it, so requests
	 * sent back to back are not slowed one after the other) */
	int floor_ms = s->c->protocol == 2 ? 0 : CONF(legacy_reply_delay);
	s->reply_due_ns = floor_ms > 0 ? s->rx_ns + floor_ms * 1000000LL : 0;
	if (proto_parse(line, len, &req, &type, &why) < 0) {
		STATS_INC(bad_input);
		int id = catalog_by_english(why);
		if (id < 0) /* tests/unit/test_catalog.c keeps this from happening */
			log_warn("%s: no catalog entry for \"%s\"", s->c->addr, why);
		session_error(s, PROTO_E_INVALID, id >= 0 ? id : CAT_NO_TYPE);
		s->reply_due_ns = 0;
		return;
	}
	cmd_dispatch(s, type, req);
	s->reply_due_ns = 0;
	json_object_put(req);
}

/* Give the client a moment to receive what is queued (a last error, the
 * shutdown notice) before the socket is closed. */
static void session_linger(client_t *c)
{
	client_wait_delay(c); /* a last reply under the legacy floor */
	long long end = srv_now_ms() + SESSION_LINGER_MS;
	for (;;) {
		int rc = client_flush(c);
		if (rc <= 0)
			return;
		long long left = end - srv_now_ms();
		if (left <= 0)
			return;
		struct pollfd p = { .fd = c->fd, .events = client_poll_events(c, 0, 1) };
		if (poll(&p, 1, (int)left) <= 0)
			return;
	}
}

static struct session *session_new(client_t *c)
{
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->c = c;
	frame_init(&s->fr, (size_t)srv_conf->max_line);
	s->tokens = CONF(burst);
	s->tokens_ms = srv_now_ms();
	table_wrlock();
	table_add_client(c);
	table_unlock();
	if (atomic_load(&srv_stopping))
		client_close(c, "server shutting down");
	return s;
}

/* The connection is over: say goodbye, take it out of the table and let
 * go of it for good. */
static void session_end(client_t *c, struct session *s, const char *reason)
{
	if (!reason)
		reason = atomic_load(&c->close_reason);
	if (!reason)
		reason = "closed";
	/* from now on nobody queues for it or takes it */
	client_close(c, reason);
	if (c->tls_port && !c->tls_ready) {
		/* nothing can be said to it: no TLS yet */
		STATS_INC(tls_handshake_failures);
		log_info("%s: TLS handshake not finished: %s", c->addr, reason);
	} else if (strncmp(reason, "slow consumer", 13) == 0) {
		STATS_INC(slow_consumer_closes);
	} else {
		session_linger(c);
		client_tls_bye(c);
	}

	int64_t uid = -1;
	char uname[96] = "";
	if (s) {
		table_wrlock();
		/* a session ended by another (session_kick) was announced by it */
		uid = c->logged_in ? c->user_id : -1;
		snprintf(uname, sizeof uname, "%s", c->username);
		table_remove_client(c);
		table_unlock();
		if (uid >= 0)
			presence_announce(uid, uname, 0);
	}
	log_info("%s (%s): connection closed: %s", c->addr, uid >= 0 ? uname : "-", reason);
	listener_release(c->ip);
	client_retire(c);
	client_defer_free();
	if (s) {
		frame_free(&s->fr);
		free(s);
	}
	c->sess = NULL;
	client_unref(c);
}

/* Whether the peer has closed its side: a worker that reads nothing while
 * the client's replies are backed up still notices a hang-up. */
static ssize_t session_read_fn(void *ctx, void *buf, size_t n)
{
	return client_read(ctx, buf, n);
}

/* A connection on the TLS port: one step of its handshake. 1 done, 0 it
 * waits (parked, or to be served again), -1 failed (reason set). */
static int session_tls_step(client_t *c, const char **reason)
{
	char why[256];
	int r = client_tls_step(c, why, sizeof why);
	if (r < 0) {
		log_info("%s: TLS handshake failed: %s", c->addr, why);
		*reason = "TLS handshake failed";
	} else if (r == 1) {
		STATS_INC(tls_handshakes);
		log_debug("%s: TLS handshake done", c->addr);
	}
	return r;
}

static int session_peer_gone(client_t *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void session_serve(client_t *c)
{
	struct session *s = c->sess;
	const char *reason = NULL;
	size_t max_out = (size_t)CONF(max_output);

	if (!s) {
		s = session_new(c);
		if (!s) {
			session_end(c, NULL, "server out of memory");
			return;
		}
		c->sess = s;
	}
	for (int round = 1;; round++) {
		if (atomic_load_explicit(&c->closing, memory_order_acquire))
			break; /* asked to close: the reason is in close_reason */
		if (c->tls_port && !c->tls_ready) {
			/* under the login timeout: the watchdog closes a peer that
			 * never finishes it */
			int hs = session_tls_step(c, &reason);
			if (hs < 0)
				break;
			if (hs == 0) {
				if (client_park(c, 1, 0))
					return;
				round = 0;
				continue;
			}
		}
		/* replies still backed up past MaxOutput: read no more requests
		 * until the client has taken them */
		int reading = client_queued(c) <= max_out;
		ssize_t n = -1;
		if (reading) {
			n = frame_read_with(&s->fr, session_read_fn, c);
			s->rx_ns = session_now_ns();
			if (n == 0) {
				reason = "closed by the client";
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				reason = errno == ENOMEM ? "server out of memory" : "connection error";
				break;
			}
		} else if (session_peer_gone(c)) {
			reason = "closed by the client";
			break;
		}
		if (n > 0) {
			atomic_store_explicit(&c->last_rx_ms, srv_now_ms(), memory_order_relaxed);
			char *line;
			size_t len;
			int st = FRAME_NEED;
			client_defer_begin(c);
			while (!atomic_load(&c->closing) && (st = frame_next(&s->fr, &line, &len)) == FRAME_LINE)
				session_line(s, line, len);
			client_defer_end();
			if (!atomic_load(&c->closing) && st == FRAME_TOO_LONG) {
				STATS_INC(bad_input);
				session_error(s, PROTO_E_TOO_LARGE, CAT_LINE_TOO_LONG, srv_conf->max_line);
				client_close(c, "line too long");
			}
		}
		int rc = client_flush(c);
		if (rc < 0) {
			reason = "connection error while writing";
			break;
		}
		if (n > 0 && round < SESSION_TURN_READS)
			continue; /* more may be there already */
		if (n > 0 && round >= SESSION_TURN_READS) {
			/* fair share used: to the back of the queue */
			if (client_park(c, 1, rc == 1)) {
				return;
			}
			round = 0;
			continue;
		}
		reading = client_queued(c) <= max_out;
		if (client_park(c, reading, rc == 1))
			return; /* the waiter brings it back when it has work */
		round = 0;
	}
	session_end(c, s, reason);
}

struct session_closer {
	outbuf_t *notice[CAT_NLANGS]; /* the notice in each language */
	const char *why;
};

static void session_close_one(void *ctx, client_t *c)
{
	struct session_closer *sc = ctx;
	outbuf_t *b = sc->notice[atomic_load_explicit(&c->lang, memory_order_relaxed)];
	if (b)
		client_push(c, b, 1, (size_t)CONF(max_output));
	client_close(c, sc->why);
}

void session_close_all(int id)
{
	struct session_closer sc = { .why = catalog_entry(id)->text[CAT_EN] };
	for (int l = 0; l < CAT_NLANGS; l++) {
		char text[256];
		json_object *o = proto_system_message(catalog_format(text, sizeof text, l, id),
		                                      "warning");
		sc.notice[l] = outbuf_json(o);
		json_object_put(o);
	}
	table_rdlock();
	table_clients_foreach(session_close_one, &sc);
	table_unlock();
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(sc.notice[l]);
}

void session_kick(client_t *c, int id, const char *arg, const char *reason)
{
	char text[300];
	catalog_format(text, sizeof text, atomic_load_explicit(&c->lang, memory_order_relaxed), id,
	               arg);
	json_object *o = proto_system_message(text, "warning");
	outbuf_t *b = o ? outbuf_json(o) : NULL;
	json_object_put(o);
	if (b) {
		client_push(c, b, 1, (size_t)CONF(max_output));
		outbuf_unref(b);
	}
	table_unlink_user(c);
	client_close(c, reason);
}

/* Raw transfers ------------------------------------------------------------ */

/* Bytes moved per read or write call during a transfer: files stream
 * through this much memory, whatever their size. */
#define SESSION_RAW_CHUNK (64 * 1024)
/* During an upload, output others queued for the uploader is written at
 * least this often (they cannot write it: the worker holds the socket). */
#define SESSION_RAW_FLUSH_MS 50

static int session_raw_closing(const client_t *c)
{
	return atomic_load_explicit(&c->closing, memory_order_acquire);
}

/* A transfer in progress shows the peer is alive: the watchdog must not
 * end a protocol-2 client whose heartbeats wait unread behind the file. */
static void session_raw_progress(client_t *c, long long *last)
{
	*last = srv_now_ms();
	atomic_store_explicit(&c->last_rx_ms, *last, memory_order_relaxed);
}

/* Milliseconds left before a stall of timeout_ms since last; <= 0: over. */
static int session_raw_left(long long last, int timeout_ms)
{
	long long left = last + timeout_ms - srv_now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* A transfer may take minutes: wake now the clients that earlier lines of
 * this read queued messages for, rather than at the end of the batch
 * (client_defer_begin), so that their chat does not wait for the file. */
static void session_raw_begin(struct session *s)
{
	client_defer_end();
	client_defer_begin(s->c);
	/* the transfer holds this worker anyway: the reply before it waits
	 * for its legacy floor here, and nothing spins on it */
	client_wait_delay(s->c);
}

/* Write all of p to a local file descriptor (ctx points to it). */
static int session_raw_put(void *ctx, const void *buf, size_t n)
{
	int fd = *(const int *)ctx;
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int session_read_raw(struct session *s, int out_fd, size_t n, int timeout_ms)
{
	return session_read_raw_cb(s, session_raw_put, &out_fd, n, timeout_ms);
}

int session_read_raw_cb(struct session *s, int (*put)(void *ctx, const void *buf, size_t n),
                        void *ctx, size_t n, int timeout_ms)
{
	client_t *c = s->c;
	int ret = SESSION_RAW_OK, local_err = 0;
	long long last;
	session_raw_begin(s);
	char *buf = malloc(SESSION_RAW_CHUNK);
	if (!buf)
		return SESSION_RAW_CLOSED;
	/* the start of the data may have arrived with the request line */
	while (n > 0 && frame_pending(&s->fr) > 0) {
		size_t k = frame_take(&s->fr, buf, n < SESSION_RAW_CHUNK ? n : SESSION_RAW_CHUNK);
		if (!local_err && put(ctx, buf, k) < 0)
			local_err = 1;
		n -= k;
	}
	session_raw_progress(c, &last);
	while (n > 0) {
		if (session_raw_closing(c)) {
			ret = SESSION_RAW_CLOSED;
			break;
		}
		ssize_t r = client_read(c, buf, n < SESSION_RAW_CHUNK ? n : SESSION_RAW_CHUNK);
		if (r > 0) {
			/* after a local failure keep consuming, so that the stream
			 * stays in step and the connection remains usable */
			if (!local_err && put(ctx, buf, (size_t)r) < 0)
				local_err = 1;
			n -= (size_t)r;
			session_raw_progress(c, &last);
			continue;
		}
		if (r == 0) {
			ret = SESSION_RAW_CLOSED;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			ret = SESSION_RAW_CLOSED;
			break;
		}
		/* nothing to read: deliver what others queued for this client
		 * meanwhile, so that a long upload does not back its queue up */
		int fl = client_flush(c);
		if (fl < 0) {
			ret = SESSION_RAW_CLOSED;
			break;
		}
		int left = session_raw_left(last, timeout_ms);
		if (left == 0) {
			ret = SESSION_RAW_STALLED;
			break;
		}
		/* a close (shutdown of the read side) makes the socket readable;
		 * wake now and then to write what others queued meanwhile */
		struct pollfd p = { .fd = c->fd, .events = client_poll_events(c, 1, fl == 1) };
		int pr = poll(&p, 1, left < SESSION_RAW_FLUSH_MS ? left : SESSION_RAW_FLUSH_MS);
		if (pr < 0 && errno != EINTR) {
			ret = SESSION_RAW_CLOSED;
			break;
		}
	}
	free(buf);
	if (ret == SESSION_RAW_OK && local_err)
		ret = SESSION_RAW_LOCAL;
	return ret;
}

/* Wait until the socket takes more output, at most until the stall limit.
 * A close from another thread (client_close shuts the read side down)
 * shows as POLLRDHUP and ends the wait at once; a peer that merely
 * half-closed its side is waited for on POLLOUT alone. */
static int session_raw_wait_out(client_t *c, long long last, int timeout_ms)
{
	/* POLLIN instead when a TLS write waits for input */
	short out = client_poll_events(c, 0, 1);
	short events = out | POLLRDHUP;
	for (;;) {
		if (session_raw_closing(c))
			return SESSION_RAW_CLOSED;
		int left = session_raw_left(last, timeout_ms);
		if (left == 0)
			return SESSION_RAW_STALLED;
		struct pollfd p = { .fd = c->fd, .events = events };
		int pr = poll(&p, 1, left);
		if (pr < 0 && errno != EINTR)
			return SESSION_RAW_CLOSED;
		if (pr > 0) {
			if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
				return SESSION_RAW_CLOSED;
			if (p.revents & out)
				return SESSION_RAW_OK;
			if (p.revents & POLLRDHUP) {
				if (session_raw_closing(c))
					return SESSION_RAW_CLOSED;
				events = out;
			}
		}
	}
}

int session_flush(struct session *s, int timeout_ms)
{
	client_t *c = s->c;
	client_wait_delay(c);
	long long last = srv_now_ms();
	for (;;) {
		size_t before = client_queued(c);
		int rc = client_flush(c);
		if (rc == 0)
			return SESSION_RAW_OK;
		if (rc < 0)
			return SESSION_RAW_CLOSED;
		if (client_queued(c) < before)
			last = srv_now_ms();
		rc = session_raw_wait_out(c, last, timeout_ms);
		if (rc != SESSION_RAW_OK)
			return rc;
	}
}

int session_hold(struct session *s, int timeout_ms)
{
	client_t *c = s->c;
	session_raw_begin(s);
	for (;;) {
		int rc = session_flush(s, timeout_ms);
		if (rc != SESSION_RAW_OK)
			return rc;
		/* empty now, unless another thread queued something since:
		 * then flush that too, so nothing queued before is held */
		pthread_mutex_lock(&c->out_lock);
		int empty = c->qlen == 0;
		if (empty)
			c->hold = 1;
		pthread_mutex_unlock(&c->out_lock);
		if (empty)
			return SESSION_RAW_OK;
	}
}

void session_release(struct session *s)
{
	pthread_mutex_lock(&s->c->out_lock);
	s->c->hold = 0;
	pthread_mutex_unlock(&s->c->out_lock);
}

int session_write_raw(struct session *s, const void *buf, size_t n, int timeout_ms)
{
	client_t *c = s->c;
	const char *p = buf;
	long long last = srv_now_ms();
	while (n > 0) {
		if (session_raw_closing(c))
			return SESSION_RAW_CLOSED;
		ssize_t w = client_write(c, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			session_raw_progress(c, &last);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return SESSION_RAW_CLOSED;
		int rc = session_raw_wait_out(c, last, timeout_ms);
		if (rc != SESSION_RAW_OK)
			return rc;
	}
	return SESSION_RAW_OK;
}

int session_write_raw_fd(struct session *s, int in_fd, size_t n, int timeout_ms)
{
	int ret = SESSION_RAW_OK;
	char *buf = malloc(SESSION_RAW_CHUNK);
	if (!buf)
		return SESSION_RAW_LOCAL;
	while (n > 0 && ret == SESSION_RAW_OK) {
		ssize_t r = read(in_fd, buf, n < SESSION_RAW_CHUNK ? n : SESSION_RAW_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* an I/O error, or the file shrank under us */
			ret = SESSION_RAW_LOCAL;
			break;
		}
		ret = session_write_raw(s, buf, (size_t)r, timeout_ms);
		n -= (size_t)r;
	}
	free(buf);
	return ret;
}
