/* bench.c - chatroom-bench, a load generator for chatroomd.
 *
 * It logs in N clients (registering them when needed), then either has S of
 * them send M messages each to one group with a bounded window of messages in
 * flight (throughput mode), sends at a fixed total rate for a while (rate
 * mode), or keeps the clients idle to measure the server's memory (idle
 * mode). Every client reads everything the server sends it, and counts the
 * chat_message receptions of the run per sender.
 *
 * The bench must not be the bottleneck: a few threads each run an epoll loop
 * over many non-blocking sockets, read with one large buffer per thread, and
 * recognise chat_message receptions with memmem() instead of a JSON parse.
 * Only the few messages of the set-up (login, group) are parsed with json-c.
 *
 * Latency: each message carries its send time (CLOCK_MONOTONIC, which both
 * ends share because both ends are this process) in its content,
 * "b:<run>:<sender>:<seq>:<ns>"; it is measured at every reception. <run> is
 * random per run, so messages of other runs in the same group are ignored.
 *
 * TLS (--tls): every client connects with TLS (OpenSSL, non-blocking, the
 * handshake in the epoll loop) to the server's TLS port, to compare with
 * plain clients. The bench does not verify the server's certificate: it
 * measures, it does not protect anything.
 *
 * Threads: main() drives the phases (g_phase) and only reads the workers'
 * atomic progress counters until it has joined them; each worker owns its
 * connections and its statistics outright, so the hot path takes no lock. */
#define _GNU_SOURCE /* memmem */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tunables.h"
#include "proto.h"

/* Defaults of the options. */
#define BENCH_DEFAULT_HOST     "127.0.0.1"
#define BENCH_DEFAULT_CLIENTS  100
#define BENCH_DEFAULT_SENDERS  10
#define BENCH_DEFAULT_MESSAGES 1000
#define BENCH_DEFAULT_WINDOW   16
#define BENCH_DEFAULT_DURATION 10  /* seconds, rate and idle modes */
#define BENCH_DEFAULT_THREADS  2
#define BENCH_DEFAULT_TIMEOUT  15  /* seconds without progress before giving up */
#define BENCH_PASSWORD         "benchpw1"
#define BENCH_USER_FORMAT      "bench_%04d"

/* Internal limits. */
#define BENCH_READ_BUF      (256 * 1024) /* per thread; longer than any line we accept */
#define BENCH_MAX_LINE      (BENCH_READ_BUF / 2)
#define BENCH_LOGIN_WINDOW  128  /* connections being set up at once, over all threads */
#define BENCH_EPOLL_EVENTS  512
#define BENCH_TICK_MS       50   /* phase checks while nothing happens */
#define BENCH_IDLE_SETTLE_MS 1000 /* before measuring RSS after the logins */
#define BENCH_GRACE_NS      1000000000ull /* wait for stragglers once senders are gone */
#define BENCH_MAX_THREADS   64
#define BENCH_ERR_MIN       1000 /* error codes counted one by one */
#define BENCH_ERR_MAX       1031

/* Latency histogram: exact below 256 us, then 128 buckets per power of two
 * (under 1% error), up to 2^41 us. */
#define HIST_SUB      128
#define HIST_BUCKETS  (HIST_SUB * 36)

enum bench_mode { MODE_THROUGHPUT, MODE_RATE, MODE_IDLE };

/* The phases main() takes the workers through, in order. */
enum bench_phase {
	PH_LOGIN = 0, /* connect and log in (registering if needed) */
	PH_CREATE,    /* client 0 creates the named group */
	PH_JOIN,      /* every client joins and enters it */
	PH_READY,     /* all set up; nothing sent */
	PH_RUN,       /* measurement */
	PH_STOP
};

enum conn_state {
	C_IDLE = 0,   /* not connected yet */
	C_CONNECTING,
	C_TLS,        /* --tls: handshake in progress */
	C_REGISTERING,
	C_LOGGING_IN,
	C_LOGGED_IN,
	C_CREATING,
	C_JOINING,
	C_ENTERING,
	C_HISTORY,
	C_READY,
	C_DEAD        /* closed or failed */
};

struct bench_opts {
	const char *host;
	const char *port;
	int clients, senders, messages, window, threads;
	double rate, duration;
	int timeout;
	int idle, do_register;
	long server_pid;
	const char *group; /* NULL: public */
	int tls;           /* connect with TLS */
};

struct lat_hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t count;
	uint64_t max_ns;
	double sum_ns;
};

struct bench_conn {
	int fd;
	SSL *ssl;          /* --tls: the connection's TLS, NULL before it */
	int tls_up;        /* the TLS handshake is done */
	int idx;           /* client number, 0..N-1 */
	enum conn_state state;
	uint32_t events;   /* epoll events registered */
	int tried_register;
	int64_t user_id;
	int64_t group_id;
	char *carry;       /* start of an incomplete line */
	size_t carry_len;
	char *out;         /* unsent output */
	size_t out_len, out_cap;
	/* sender */
	char *head;        /* chat_message JSON up to (excluding) the content */
	size_t head_len;
	uint32_t sent, inflight;
	int done;          /* counted in g_senders_done */
	uint64_t next_due_ns; /* rate mode: schedule of the next message */
	/* receiver */
	uint32_t *got;     /* receptions per sender */
	uint32_t *next;    /* next sequence number expected per sender */
};

struct bench_stats {
	uint64_t received, foreign, out_of_order, rejected, sent;
	uint64_t errors[BENCH_ERR_MAX - BENCH_ERR_MIN + 1], errors_other;
	uint64_t closed;        /* connections the server closed */
	uint64_t bad_lines;
	uint64_t last_rx_ns;
	int64_t max_lag_ns;     /* rate mode: how late a send was against its schedule */
	struct lat_hist hist;
};

struct bench_worker {
	int id;
	pthread_t thread;
	int epfd, evfd, tfd;
	struct bench_conn **conns; /* owned */
	int n_conns;
	int next_connect;          /* next conns[] index to connect */
	int setting_up;            /* connections in the login exchange */
	int login_window;
	enum bench_phase phase;    /* as last acted on */
	char *rbuf;
	_Atomic uint64_t progress; /* receptions, published for main() */
	struct bench_stats st;
	char errtext[256];         /* first set-up failure of this thread */
};

/* Shared between main() and the workers; written by main() before the phase
 * change that makes the workers read them, except the counters below. */
static struct bench_opts g_opt;
static enum bench_mode g_mode;
static _Atomic int g_phase;
static uint32_t g_run;                /* random run tag */
static uint64_t g_t0;                 /* start of the measurement, monotonic ns */
static uint64_t g_rate_total;         /* rate mode: messages to send in all */
static struct addrinfo *g_addr;
static SSL_CTX *g_ssl_ctx;            /* --tls */
static _Atomic int g_logged_in, g_ready, g_failed, g_created, g_closed;
/* Senders that have sent all and have nothing in flight (or whose
 * connection is gone), and the messages the server refused: together they
 * tell main() when the deliveries still missing will never come. */
static _Atomic int g_senders_done;
static _Atomic uint64_t g_rejected;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- latency histogram ---- */

static int hist_index(uint64_t us)
{
	if (us < 2 * HIST_SUB)
		return (int)us;
	int msb = 63 - __builtin_clzll(us);
	int shift = msb - 7; /* keeps (us >> shift) in [128, 255] */
	int idx = shift * HIST_SUB + (int)(us >> shift);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Middle of bucket idx, in microseconds. */
static double hist_value(int idx)
{
	if (idx < 2 * HIST_SUB)
		return idx + 0.5;
	int shift = idx / HIST_SUB - 1;
	uint64_t low = (uint64_t)(idx - shift * HIST_SUB) << shift;
	return (double)low + (double)(1ull << shift) / 2;
}

static void hist_add(struct lat_hist *h, uint64_t ns)
{
	h->n[hist_index(ns / 1000)]++;
	h->count++;
	h->sum_ns += (double)ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

static void hist_merge(struct lat_hist *into, const struct lat_hist *h)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		into->n[i] += h->n[i];
	into->count += h->count;
	into->sum_ns += h->sum_ns;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

/* The p-quantile (0 < p <= 1) in milliseconds. */
static double hist_quantile_ms(const struct lat_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank) {
			double v = hist_value(i) / 1000.0;
			double max = (double)h->max_ns / 1e6;
			return v < max ? v : max;
		}
	}
	return (double)h->max_ns / 1e6;
}

/* ---- connection output ---- */

static void conn_set_events(struct bench_worker *w, struct bench_conn *c, uint32_t ev)
{
	if (c->fd < 0 || c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/* Queue bytes; conn_flush() writes them. */
static int conn_queue(struct bench_conn *c, const char *data, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb)
			return -1;
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void conn_close(struct bench_worker *w, struct bench_conn *c, int unexpected);

/* send() or, over TLS, SSL_write() (retried with the same bytes first:
 * the buffer moves and grows, which the context's mode allows). */
static ssize_t conn_send(struct bench_conn *c, const char *p, size_t n)
{
	if (!c->ssl)
		return send(c->fd, p, n, MSG_NOSIGNAL);
	size_t k = 0;
	if (SSL_write_ex(c->ssl, p, n, &k) == 1)
		return (ssize_t)k;
	int e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
	return -1;
}

/* read() or SSL_read(). */
static ssize_t conn_recv(struct bench_conn *c, char *p, size_t n)
{
	if (!c->ssl)
		return read(c->fd, p, n);
	size_t k = 0;
	if (SSL_read_ex(c->ssl, p, n, &k) == 1)
		return (ssize_t)k;
	int e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static void conn_flush(struct bench_worker *w, struct bench_conn *c)
{
	size_t off = 0;
	while (c->fd >= 0 && off < c->out_len) {
		ssize_t n = conn_send(c, c->out + off, c->out_len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(w, c, 1);
		return;
	}
	if (c->fd < 0)
		return;
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	conn_set_events(w, c, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

/* Serialize and queue a set-up request. */
static void conn_request(struct bench_worker *w, struct bench_conn *c, json_object *o)
{
	size_t len;
	char *s = proto_serialize(o, &len);
	json_object_put(o);
	if (!s || conn_queue(c, s, len) < 0) {
		free(s);
		conn_close(w, c, 0);
		return;
	}
	free(s);
	conn_flush(w, c);
}

static void user_name(int idx, char *buf, size_t len)
{
	snprintf(buf, len, BENCH_USER_FORMAT, idx + 1);
}

static void send_credentials(struct bench_worker *w, struct bench_conn *c, const char *type)
{
	char name[32];
	user_name(c->idx, name, sizeof name);
	json_object *o = proto_new(type);
	proto_set_string(o, "username", name);
	proto_set_string(o, "password", BENCH_PASSWORD);
	if (!strcmp(type, "login_request")) {
		c->state = C_LOGGING_IN;
	} else {
		c->state = C_REGISTERING;
		c->tried_register = 1;
	}
	conn_request(w, c, o);
}

/* ---- connection life ---- */

/* Keep the first failure of the thread, for the report. */
static void __attribute__((format(printf, 3, 0)))
vset_fail(struct bench_worker *w, struct bench_conn *c, const char *fmt, va_list ap)
{
	if (w->errtext[0])
		return;
	char name[32];
	user_name(c->idx, name, sizeof name);
	snprintf(w->errtext, sizeof w->errtext, "%s: ", name);
	size_t l = strlen(w->errtext);
	vsnprintf(w->errtext + l, sizeof w->errtext - l, fmt, ap);
}

static void __attribute__((format(printf, 3, 4)))
set_fail(struct bench_worker *w, struct bench_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_fail(w, c, fmt, ap);
	va_end(ap);
}

/* Leaving the set-up exchange (logged in or failed) lets the next
 * connection start its own. */
static void setup_done(struct bench_worker *w)
{
	if (w->setting_up > 0)
		w->setting_up--;
}

static void __attribute__((format(printf, 3, 4)))
conn_fail(struct bench_worker *w, struct bench_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_fail(w, c, fmt, ap);
	va_end(ap);
	if (c->state <= C_LOGGING_IN)
		setup_done(w);
	atomic_fetch_add(&g_failed, 1);
	conn_close(w, c, 0);
}

static void conn_close(struct bench_worker *w, struct bench_conn *c, int unexpected)
{
	if (c->fd < 0)
		return;
	if (unexpected && w->phase < PH_STOP) {
		w->st.closed++;
		atomic_fetch_add(&g_closed, 1);
		if (c->idx < g_opt.senders && !c->done) {
			c->done = 1;
			atomic_fetch_add(&g_senders_done, 1);
		}
		if (c->state != C_READY) {
			set_fail(w, c, "the server closed the connection during set-up");
			if (c->state <= C_LOGGING_IN)
				setup_done(w);
			atomic_fetch_add(&g_failed, 1);
		}
	}
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->state = C_DEAD;
	free(c->carry);
	c->carry = NULL;
	c->carry_len = 0;
}

static void conn_start(struct bench_worker *w, struct bench_conn *c)
{
	int fd = socket(g_addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		w->setting_up++;
		conn_fail(w, c, "socket: %s", strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->state = C_CONNECTING;
	w->setting_up++;
	if (connect(fd, g_addr->ai_addr, g_addr->ai_addrlen) < 0 && errno != EINPROGRESS) {
		conn_fail(w, c, "connect: %s", strerror(errno));
		return;
	}
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		conn_fail(w, c, "epoll_ctl: %s", strerror(errno));
		return;
	}
	c->events = EPOLLOUT;
}

/* Start connections while the login window has room. */
static void start_more(struct bench_worker *w)
{
	while (w->next_connect < w->n_conns && w->setting_up < w->login_window)
		conn_start(w, w->conns[w->next_connect++]);
}

static void tls_step(struct bench_worker *w, struct bench_conn *c);

static void connected(struct bench_worker *w, struct bench_conn *c)
{
	int err = 0;
	socklen_t l = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	if (err) {
		conn_fail(w, c, "connect: %s", strerror(err));
		return;
	}
	if (g_ssl_ctx) {
		c->ssl = SSL_new(g_ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
			conn_fail(w, c, "out of memory for TLS");
			return;
		}
		SSL_set_connect_state(c->ssl);
		c->state = C_TLS;
		tls_step(w, c);
		return;
	}
	conn_set_events(w, c, EPOLLIN);
	send_credentials(w, c, g_opt.do_register ? "register_request" : "login_request");
}

/* One step of the TLS handshake; then the login as for a plain client. */
static void tls_step(struct bench_worker *w, struct bench_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls_up = 1;
		conn_set_events(w, c, EPOLLIN);
		send_credentials(w, c, g_opt.do_register ? "register_request" : "login_request");
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		conn_set_events(w, c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
		return;
	}
	unsigned long err = ERR_get_error();
	ERR_clear_error();
	conn_fail(w, c, "TLS handshake: %s",
	          err ? ERR_reason_error_string(err) : "the server closed the connection");
}

/* ---- set-up exchange (full JSON parse: a handful of messages per client) ---- */

static void make_head(struct bench_conn *c);

/* Set up and waiting for the run; a sender prepares its message head now
 * that it knows its user and group ids. */
static void conn_ready(struct bench_conn *c)
{
	c->state = C_READY;
	if (c->idx < g_opt.senders)
		make_head(c);
	atomic_fetch_add(&g_ready, 1);
}

static void send_join(struct bench_worker *w, struct bench_conn *c, const char *type)
{
	json_object *o = proto_new(type);
	proto_set_string(o, "chat_name", g_opt.group);
	c->state = !strcmp(type, "join_chat_request") ? C_JOINING : C_ENTERING;
	conn_request(w, c, o);
}

static void logged_in(struct bench_worker *w, struct bench_conn *c, json_object *o)
{
	int64_t id = -1;
	json_object *g;
	proto_get_int(o, "user_id", &c->user_id);
	if (json_object_object_get_ex(o, "current_chat_group", &g) && json_object_is_type(g, json_type_object))
		proto_get_int(g, "id", &id);
	c->group_id = id;
	setup_done(w);
	atomic_fetch_add(&g_logged_in, 1);
	if (g_opt.group) {
		c->state = C_LOGGED_IN;
	} else {
		conn_ready(c);
	}
}

static void setup_line(struct bench_worker *w, struct bench_conn *c, const char *type, json_object *o)
{
	int ok = 0;
	int64_t code = 0;
	const char *text = NULL;
	int is_err = !strcmp(type, "error_message");
	if (is_err) {
		proto_get_int(o, "error_code", &code);
		proto_get_string(o, "error_message", &text);
		if (code == PROTO_E_BUSY) {
			conn_fail(w, c, "server busy (error 1013: %s): start chatroomd with a higher "
			          "--max-connections, --max-per-address or --queue",
			          text ? text : "");
			return;
		}
	} else {
		proto_get_bool(o, "success", &ok);
		proto_get_string(o, "error_message", &text);
	}

	switch (c->state) {
	case C_REGISTERING:
		if (!strcmp(type, "register_response") || is_err) {
			/* An existing account is fine: it is the one we want. A
			 * register_response has no code, only its text: English or,
			 * for a legacy client like this one, the reference's words */
			if (ok || code == PROTO_E_USER_EXISTS ||
			    (text && (strstr(text, "exist") || strstr(text, "已存在"))))
				send_credentials(w, c, "login_request");
			else
				conn_fail(w, c, "registration refused: %s", text ? text : "no reason given");
		}
		break;
	case C_LOGGING_IN:
		if (!strcmp(type, "login_response") || is_err) {
			if (ok) {
				logged_in(w, c, o);
			} else if (!c->tried_register) {
				c->tried_register = 1;
				send_credentials(w, c, "register_request");
			} else {
				conn_fail(w, c, "login refused: %s", text ? text : "no reason given");
			}
		}
		break;
	case C_CREATING:
		if (!strcmp(type, "create_chat_response") || is_err) {
			/* A failure may mean the group exists (a second run on the
			 * same database): the joins below decide. */
			if (!ok)
				fprintf(stderr, "chatroom-bench: note: creating group %s: %s\n", g_opt.group,
				        text ? text : "refused");
			c->state = C_LOGGED_IN;
			atomic_store(&g_created, ok ? 1 : 2);
		}
		break;
	case C_JOINING:
		/* A legacy client is answered with a system_message; already
		 * being a member may be an error. enter_chat_request decides. */
		if (!strcmp(type, "system_message") || !strcmp(type, "join_chat_response") || is_err)
			send_join(w, c, "enter_chat_request");
		break;
	case C_ENTERING:
		if (!strcmp(type, "enter_chat_response") || is_err) {
			if (!ok) {
				conn_fail(w, c, "cannot enter the group: %s", text ? text : "refused");
				break;
			}
			proto_get_int(o, "chat_group_id", &c->group_id);
			c->state = C_HISTORY;
		}
		break;
	case C_HISTORY:
		if (!strcmp(type, "chat_history_complete"))
			conn_ready(c);
		break;
	default:
		break;
	}
}

/* ---- the hot path ---- */

/* Value of a string field: points after the opening quote; NULL if absent.
 * A key is only taken when followed by a colon, so the same text inside a
 * value is skipped. */
static const char *find_string_field(const char *line, size_t len, const char *key, size_t klen)
{
	const char *p = line, *end = line + len;
	while ((p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
		const char *q = p + klen;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == ':') {
			q++;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			return (q < end && *q == '"') ? q + 1 : NULL;
		}
		p += klen;
	}
	return NULL;
}

static int parse_u64(const char **pp, const char *end, int base, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int any = 0;
	for (; p < end; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			break;
		v = v * (uint64_t)base + (uint64_t)d;
		any = 1;
	}
	*pp = p;
	*out = v;
	return any ? 0 : -1;
}

static void send_message(struct bench_worker *w, struct bench_conn *c, uint64_t stamp_ns)
{
	char buf[512];
	if (!c->head) {
		conn_close(w, c, 0);
		return;
	}
	int n = snprintf(buf, sizeof buf, "%.*s,\"timestamp\":%.6f,\"content\":\"b:%08x:%d:%u:%" PRIu64 "\"}\n",
	                 (int)c->head_len, c->head, wall_now(), g_run, c->idx, c->sent, stamp_ns);
	if (n <= 0 || (size_t)n >= sizeof buf || conn_queue(c, buf, (size_t)n) < 0) {
		conn_close(w, c, 0);
		return;
	}
	c->sent++;
	c->inflight++;
	w->st.sent++;
}

/* Throughput mode: keep the window full. */
static void fill_window(struct bench_worker *w, struct bench_conn *c)
{
	while (c->fd >= 0 && c->sent < (uint32_t)g_opt.messages && c->inflight < (uint32_t)g_opt.window)
		send_message(w, c, now_ns());
}

static uint64_t expected_from(int j);

/* A sender is done when it has sent its share and all of it came back or
 * was refused. */
static void sender_check_done(struct bench_conn *c)
{
	if (!c->done && c->inflight == 0 && c->sent >= expected_from(c->idx)) {
		c->done = 1;
		atomic_fetch_add(&g_senders_done, 1);
	}
}

static void chat_received(struct bench_worker *w, struct bench_conn *c, const char *line, size_t len)
{
	const char *end = line + len;
	const char *p = find_string_field(line, len, "\"content\"", 9);
	uint64_t run, sender, seq, stamp;
	if (!p || end - p < 2 || p[0] != 'b' || p[1] != ':') {
		w->st.foreign++;
		return;
	}
	p += 2;
	if (parse_u64(&p, end, 16, &run) < 0 || run != g_run || p >= end || *p++ != ':' ||
	    parse_u64(&p, end, 10, &sender) < 0 || p >= end || *p++ != ':' ||
	    parse_u64(&p, end, 10, &seq) < 0 || p >= end || *p++ != ':' ||
	    parse_u64(&p, end, 10, &stamp) < 0 || sender >= (uint64_t)g_opt.senders) {
		w->st.foreign++;
		return;
	}
	uint64_t now = now_ns();
	hist_add(&w->st.hist, now > stamp ? now - stamp : 0);
	w->st.received++;
	w->st.last_rx_ns = now;
	if (c->got) {
		c->got[sender]++;
		/* A gap is a loss, counted at the end; going back is a
		 * duplicate or a reordering. */
		if (seq < c->next[sender])
			w->st.out_of_order++;
		c->next[sender] = (uint32_t)seq + 1;
	}
	if (sender == (uint64_t)c->idx && c->inflight > 0) {
		/* Our own echo: one message less in flight. */
		c->inflight--;
		if (g_mode == MODE_THROUGHPUT)
			fill_window(w, c);
		sender_check_done(c);
	}
}

static void run_error(struct bench_worker *w, struct bench_conn *c, const char *line, size_t len)
{
	json_object *o;
	const char *type, *why;
	int64_t code = 0;
	if (proto_parse(line, len, &o, &type, &why) == 0) {
		proto_get_int(o, "error_code", &code);
		json_object_put(o);
	}
	if (code >= BENCH_ERR_MIN && code <= BENCH_ERR_MAX)
		w->st.errors[code - BENCH_ERR_MIN]++;
	else
		w->st.errors_other++;
	/* The server answers a connection's lines in order, so an error on a
	 * sender during the run refuses one of its messages in flight. */
	if (c->inflight > 0 && w->phase == PH_RUN) {
		c->inflight--;
		w->st.rejected++;
		atomic_fetch_add(&g_rejected, 1);
		if (g_mode == MODE_THROUGHPUT)
			fill_window(w, c);
		sender_check_done(c);
	}
}

static void handle_line(struct bench_worker *w, struct bench_conn *c, char *line, size_t len)
{
	const char *t = find_string_field(line, len, "\"message_type\"", 14);
	if (t && (size_t)(line + len - t) > 13 && !memcmp(t, "chat_message\"", 13)) {
		chat_received(w, c, line, len);
		return;
	}
	if (c->state == C_READY) {
		if (t && (size_t)(line + len - t) > 14 && !memcmp(t, "error_message\"", 14))
			run_error(w, c, line, len);
		return; /* system_message, user_status_update, ...: not ours */
	}
	json_object *o;
	const char *type, *why;
	line[len] = '\0';
	if (proto_parse(line, len, &o, &type, &why) < 0) {
		w->st.bad_lines++;
		return;
	}
	setup_line(w, c, type, o);
	json_object_put(o);
}

static void conn_readable(struct bench_worker *w, struct bench_conn *c)
{
	char *buf = w->rbuf;
	size_t have = c->carry_len;
	if (have)
		memcpy(buf, c->carry, have);
	ssize_t n = conn_recv(c, buf + have, BENCH_READ_BUF - have - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(w, c, 1);
		return;
	}
	have += (size_t)n;
	uint64_t before = w->st.received;
	char *p = buf, *end = buf + have;
	char *nl;
	while (c->fd >= 0 && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t l = (size_t)(nl - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		handle_line(w, c, p, l);
		p = nl + 1;
	}
	if (c->fd < 0)
		return;
	size_t rest = (size_t)(end - p);
	if (rest > BENCH_MAX_LINE) {
		set_fail(w, c, "a line longer than %d bytes", BENCH_MAX_LINE);
		conn_close(w, c, 1);
		return;
	}
	if (rest) {
		char *nc = realloc(c->carry, rest);
		if (!nc) {
			conn_close(w, c, 0);
			return;
		}
		memcpy(nc, p, rest);
		c->carry = nc;
	} else {
		free(c->carry);
		c->carry = NULL;
	}
	c->carry_len = rest;
	if (w->st.received != before)
		atomic_store_explicit(&w->progress, w->st.received, memory_order_relaxed);
	if (c->out_len)
		conn_flush(w, c);
}

/* ---- rate mode ---- */

/* Sender j sends the messages g = k*S + j of the global sequence; message g
 * is due at g/R seconds after the start. */
static uint64_t due_ns(const struct bench_conn *c)
{
	uint64_t g = (uint64_t)c->sent * (uint64_t)g_opt.senders + (uint64_t)c->idx;
	if (g >= g_rate_total)
		return UINT64_MAX;
	return g_t0 + (uint64_t)((double)g * 1e9 / g_opt.rate);
}

static void rate_tick(struct bench_worker *w)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	for (int i = 0; i < w->n_conns; i++) {
		struct bench_conn *c = w->conns[i];
		if (c->idx >= g_opt.senders || c->fd < 0)
			continue;
		uint64_t due = UINT64_MAX;
		while (c->fd >= 0 && (due = due_ns(c)) <= now) {
			if ((int64_t)(now - due) > w->st.max_lag_ns)
				w->st.max_lag_ns = (int64_t)(now - due);
			/* The scheduled time, not the actual one: a late send
			 * counts against the latency (no coordinated omission). */
			send_message(w, c, due);
		}
		if (c->fd < 0)
			continue;
		if (c->out_len)
			conn_flush(w, c);
		if (due < next)
			next = due;
	}
	if (next != UINT64_MAX) {
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)(next / 1000000000ull),
		                                        .tv_nsec = (long)(next % 1000000000ull) } };
		timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	}
}

/* ---- worker ---- */

static void make_head(struct bench_conn *c)
{
	char name[32];
	user_name(c->idx, name, sizeof name);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "message_type", json_object_new_string("chat_message"));
	proto_set_int(o, "sender_id", c->user_id);
	proto_set_string(o, "sender_username", name);
	proto_set_int(o, "chat_group_id", c->group_id);
	proto_set_string(o, "chat_group_name", g_opt.group ? g_opt.group : CR_PUBLIC_GROUP);
	size_t len;
	char *s = proto_serialize(o, &len);
	json_object_put(o);
	if (!s)
		return;
	/* drop "}\n": the timestamp and content follow */
	len -= 2;
	s[len] = '\0';
	c->head = s;
	c->head_len = len;
}

static void worker_phase(struct bench_worker *w, enum bench_phase ph)
{
	w->phase = ph;
	for (int i = 0; i < w->n_conns; i++) {
		struct bench_conn *c = w->conns[i];
		if (c->fd < 0)
			continue;
		switch (ph) {
		case PH_CREATE:
			if (c->idx == 0 && c->state == C_LOGGED_IN) {
				json_object *o = proto_new("create_chat_request");
				proto_set_string(o, "chat_name", g_opt.group);
				json_object_object_add(o, "member_usernames", json_object_new_array());
				c->state = C_CREATING;
				conn_request(w, c, o);
			}
			break;
		case PH_JOIN:
			if (c->state == C_LOGGED_IN)
				send_join(w, c, "join_chat_request");
			break;
		case PH_RUN:
			if (c->idx < g_opt.senders && g_mode == MODE_THROUGHPUT) {
				fill_window(w, c);
				conn_flush(w, c);
			}
			break;
		default:
			break;
		}
	}
	if (ph == PH_RUN && g_mode == MODE_RATE)
		rate_tick(w);
}

static void *worker_main(void *arg)
{
	struct bench_worker *w = arg;
	struct epoll_event evs[BENCH_EPOLL_EVENTS];
	start_more(w);
	for (;;) {
		enum bench_phase ph = atomic_load(&g_phase);
		if (ph != w->phase) {
			if (ph == PH_STOP)
				break;
			worker_phase(w, ph);
		}
		int n = epoll_wait(w->epfd, evs, BENCH_EPOLL_EVENTS, BENCH_TICK_MS);
		if (n < 0 && errno != EINTR) {
			perror("chatroom-bench: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			uint64_t v;
			if (ptr == &w->evfd) {
				if (read(w->evfd, &v, sizeof v) < 0) { /* nothing: a wake-up only */ }
				continue;
			}
			if (ptr == &w->tfd) {
				if (read(w->tfd, &v, sizeof v) < 0) { /* spurious */ }
				if (w->phase == PH_RUN)
					rate_tick(w);
				continue;
			}
			struct bench_conn *c = ptr;
			if (c->fd < 0)
				continue;
			if (c->state == C_CONNECTING) {
				connected(w, c);
				continue;
			}
			if (c->state == C_TLS) {
				tls_step(w, c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				/* over TLS, also what OpenSSL decrypted beyond the
				 * buffer: epoll would not report it */
				do
					conn_readable(w, c);
				while (c->fd >= 0 && c->ssl && SSL_pending(c->ssl) > 0);
			}
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
				conn_flush(w, c);
		}
		if (w->phase == PH_LOGIN)
			start_more(w);
	}
	w->phase = PH_STOP;
	for (int i = 0; i < w->n_conns; i++)
		conn_close(w, w->conns[i], 0);
	return NULL;
}

static void wake_all(struct bench_worker *ws, int n)
{
	uint64_t one = 1;
	for (int i = 0; i < n; i++)
		if (write(ws[i].evfd, &one, sizeof one) < 0) { /* the tick catches up */ }
}

static void set_phase(struct bench_worker *ws, int n, enum bench_phase ph)
{
	atomic_store(&g_phase, ph);
	wake_all(ws, n);
}

/* ---- main ---- */

static long read_rss_kb(long pid, long *threads)
{
	char path[64], line[256];
	long rss = -1;
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "VmRSS:", 6))
			rss = strtol(line + 6, NULL, 10);
		else if (threads && !strncmp(line, "Threads:", 8))
			*threads = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return rss;
}

/* CPU seconds (user + system) process pid has used; -1 if unknown. */
static double proc_cpu_secs(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: state is
	 * field 3, utime 14, stime 15. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut, st;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* Wait until *counter + g_failed reaches target, giving up after
 * g_opt.timeout seconds without progress. Returns 0 when reached with no
 * failure. */
static int wait_for(_Atomic int *counter, int target, const char *what)
{
	int last = -1;
	uint64_t last_change = now_ns();
	for (;;) {
		int v = atomic_load(counter), f = atomic_load(&g_failed);
		if (v + f >= target)
			return f ? -1 : 0;
		if (v + f != last) {
			last = v + f;
			last_change = now_ns();
		} else if (now_ns() - last_change > (uint64_t)g_opt.timeout * 1000000000ull) {
			fprintf(stderr, "chatroom-bench: %s: stuck at %d of %d for %d s\n", what, v, target,
			        g_opt.timeout);
			return -1;
		}
		sleep_ms(5);
	}
}

static uint64_t total_progress(struct bench_worker *ws, int n)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++)
		t += atomic_load_explicit(&ws[i].progress, memory_order_relaxed);
	return t;
}

/* Wait for `expected` receptions, or until nothing arrived for the timeout.
 * Messages the server refused will not come: once every sender is done,
 * the wait ends when all the others have. */
static void wait_deliveries(struct bench_worker *ws, int n, uint64_t expected)
{
	uint64_t last = 0, last_change = now_ns();
	for (;;) {
		uint64_t v = total_progress(ws, n);
		if (v >= expected)
			return;
		uint64_t timeout = (uint64_t)g_opt.timeout * 1000000000ull;
		if (atomic_load(&g_senders_done) >= g_opt.senders) {
			if (v + atomic_load(&g_rejected) * (uint64_t)g_opt.clients >= expected)
				return;
			/* A sender's connection was closed: what it had in
			 * flight arrives now or never. */
			if (atomic_load(&g_closed) && timeout > BENCH_GRACE_NS)
				timeout = BENCH_GRACE_NS;
		}
		if (v != last) {
			last = v;
			last_change = now_ns();
		} else if (now_ns() - last_change > timeout) {
			fprintf(stderr, "chatroom-bench: no delivery for %.1f s: giving up at %" PRIu64 " of %" PRIu64 "\n",
			        (double)timeout / 1e9, v, expected);
			return;
		}
		if (atomic_load(&g_closed) == g_opt.clients)
			return;
		sleep_ms(2);
	}
}

/* CPU seconds this process has used: the bench's own share of the machine. */
static double cpu_secs(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(FILE *out)
{
	fprintf(out,
	    "Usage: chatroom-bench [OPTION]...\n"
	    "Load generator for chatroomd: logs in N clients, has S of them send to one group,\n"
	    "and reports deliveries per second, lost messages and delivery latency.\n"
	    "\n"
	    "  --host HOST        server address (default %s)\n"
	    "  --port PORT        server port (default %d)\n"
	    "  -n, --clients N    clients to log in (default %d)\n"
	    "  -s, --senders S    clients among them that send (default %d, at most N)\n"
	    "  -m, --messages M   messages per sender, throughput mode (default %d)\n"
	    "  -w, --window W     messages in flight per sender, throughput mode (default %d)\n"
	    "  --rate R           rate mode: R messages/s in all, spread over the senders\n"
	    "  --duration D       seconds to send (rate mode) or to stay idle (idle mode) (default %d)\n"
	    "  --idle             idle mode: log in N clients, send nothing, report server memory\n"
	    "  --server-pid PID   server process whose VmRSS to report\n"
	    "  --group NAME       send to group NAME, created (and joined) by the bench,\n"
	    "                     instead of public\n"
	    "  --threads T        client threads (default %d)\n"
	    "  --register         register the accounts before logging in (otherwise only\n"
	    "                     when a login fails, which counts as a failed login)\n"
	    "  --timeout SECS     give up after SECS without progress (default %d)\n"
	    "  --tls              connect with TLS (to chatroomd's --tls-port; the server's\n"
	    "                     certificate is not verified)\n"
	    "  -h, --help         this help\n"
	    "\n"
	    "Accounts are bench_0001, bench_0002, ... with password \"%s\". Start chatroomd\n"
	    "with a high --rate and --burst, or its flood control refuses the senders, and\n"
	    "with --max-per-address above N. Exit status: 0 when all went well, 1 when messages were\n"
	    "lost or refused or the server closed connections, 2 on a usage or set-up error.\n",
	    BENCH_DEFAULT_HOST, CR_DEFAULT_PORT, BENCH_DEFAULT_CLIENTS, BENCH_DEFAULT_SENDERS,
	    BENCH_DEFAULT_MESSAGES, BENCH_DEFAULT_WINDOW, BENCH_DEFAULT_DURATION, BENCH_DEFAULT_THREADS,
	    BENCH_DEFAULT_TIMEOUT, BENCH_PASSWORD);
}

static int parse_int(const char *s, const char *opt, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "chatroom-bench: %s: expected a number from %ld to %ld, got \"%s\"\n", opt, min,
		        max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "clients", required_argument, NULL, 'n' },
		{ "senders", required_argument, NULL, 's' },
		{ "messages", required_argument, NULL, 'm' },
		{ "window", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "idle", no_argument, NULL, 'i' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "group", required_argument, NULL, 'g' },
		{ "threads", required_argument, NULL, 't' },
		{ "register", no_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "tls", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static char portbuf[16];
	long v;
	int senders_set = 0;
	snprintf(portbuf, sizeof portbuf, "%d", CR_DEFAULT_PORT);
	g_opt = (struct bench_opts){
		.host = BENCH_DEFAULT_HOST, .port = portbuf, .clients = BENCH_DEFAULT_CLIENTS,
		.senders = BENCH_DEFAULT_SENDERS, .messages = BENCH_DEFAULT_MESSAGES,
		.window = BENCH_DEFAULT_WINDOW, .threads = BENCH_DEFAULT_THREADS,
		.duration = BENCH_DEFAULT_DURATION, .timeout = BENCH_DEFAULT_TIMEOUT, .server_pid = -1,
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "n:s:m:w:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': g_opt.host = optarg; break;
		case 'p':
			if (parse_int(optarg, "--port", 1, 65535, &v) < 0)
				return -1;
			g_opt.port = optarg;
			break;
		case 'n':
			if (parse_int(optarg, "--clients", 1, 1000000, &v) < 0)
				return -1;
			g_opt.clients = (int)v;
			break;
		case 's':
			if (parse_int(optarg, "--senders", 0, 1000000, &v) < 0)
				return -1;
			g_opt.senders = (int)v;
			senders_set = 1;
			break;
		case 'm':
			if (parse_int(optarg, "--messages", 1, 1000000000, &v) < 0)
				return -1;
			g_opt.messages = (int)v;
			break;
		case 'w':
			if (parse_int(optarg, "--window", 1, 1000000, &v) < 0)
				return -1;
			g_opt.window = (int)v;
			break;
		case 'r':
		case 'd': {
			char *end;
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !(d > 0) || d > 1e7) {
				fprintf(stderr, "chatroom-bench: --%s: expected a positive number, got \"%s\"\n",
				        ch == 'r' ? "rate" : "duration", optarg);
				return -1;
			}
			if (ch == 'r')
				g_opt.rate = d;
			else
				g_opt.duration = d;
			break;
		}
		case 'i': g_opt.idle = 1; break;
		case 'L': g_opt.tls = 1; break;
		case 'P':
			if (parse_int(optarg, "--server-pid", 1, 1L << 30, &v) < 0)
				return -1;
			g_opt.server_pid = v;
			break;
		case 'g':
			if (strlen(optarg) < CR_CHATNAME_MIN || strlen(optarg) > CR_CHATNAME_MAX * 4) {
				fprintf(stderr, "chatroom-bench: --group: a name of %d to %d characters\n",
				        CR_CHATNAME_MIN, CR_CHATNAME_MAX);
				return -1;
			}
			g_opt.group = !strcmp(optarg, CR_PUBLIC_GROUP) ? NULL : optarg;
			break;
		case 't':
			if (parse_int(optarg, "--threads", 1, BENCH_MAX_THREADS, &v) < 0)
				return -1;
			g_opt.threads = (int)v;
			break;
		case 'R': g_opt.do_register = 1; break;
		case 'T':
			if (parse_int(optarg, "--timeout", 1, 3600, &v) < 0)
				return -1;
			g_opt.timeout = (int)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chatroom-bench: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (g_opt.idle && g_opt.rate > 0) {
		fprintf(stderr, "chatroom-bench: --idle and --rate exclude each other\n");
		return -1;
	}
	g_mode = g_opt.idle ? MODE_IDLE : g_opt.rate > 0 ? MODE_RATE : MODE_THROUGHPUT;
	if (g_mode == MODE_IDLE)
		g_opt.senders = 0;
	else if (!senders_set && g_opt.senders > g_opt.clients)
		g_opt.senders = g_opt.clients;
	if (g_opt.senders > g_opt.clients) {
		fprintf(stderr, "chatroom-bench: --senders (%d) cannot exceed --clients (%d)\n", g_opt.senders,
		        g_opt.clients);
		return -1;
	}
	if (g_mode != MODE_IDLE && g_opt.senders < 1) {
		fprintf(stderr, "chatroom-bench: at least one sender is needed\n");
		return -1;
	}
	if (g_opt.threads > g_opt.clients)
		g_opt.threads = g_opt.clients;
	return 0;
}

/* Each client holds a socket; the bench needs a few more descriptors. */
static int raise_nofile(int need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= (rlim_t)need)
		return 0;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)need ? (rlim_t)need : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)need) {
		fprintf(stderr, "chatroom-bench: %d clients need %d file descriptors, the limit is %lu: "
		        "raise it (ulimit -n)\n", g_opt.clients, need, (unsigned long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

static int setup_workers(struct bench_worker *ws, struct bench_conn *conns)
{
	int nt = g_opt.threads;
	for (int t = 0; t < nt; t++)
		ws[t].epfd = ws[t].evfd = ws[t].tfd = -1;
	for (int i = 0; i < g_opt.clients; i++)
		conns[i].fd = -1;
	for (int t = 0; t < nt; t++) {
		struct bench_worker *w = &ws[t];
		w->id = t;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		w->rbuf = malloc(BENCH_READ_BUF);
		w->conns = calloc((size_t)(g_opt.clients / nt + 1), sizeof *w->conns);
		w->login_window = BENCH_LOGIN_WINDOW / nt > 0 ? BENCH_LOGIN_WINDOW / nt : 1;
		if (w->epfd < 0 || w->evfd < 0 || w->tfd < 0 || !w->rbuf || !w->conns)
			return -1;
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &w->evfd };
		struct epoll_event et = { .events = EPOLLIN, .data.ptr = &w->tfd };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &e) < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &et) < 0)
			return -1;
	}
	/* Client i goes to thread i % T, which spreads the senders. */
	for (int i = 0; i < g_opt.clients; i++) {
		struct bench_conn *c = &conns[i];
		c->fd = -1;
		c->idx = i;
		if (g_mode != MODE_IDLE) {
			c->got = calloc((size_t)g_opt.senders, sizeof *c->got);
			c->next = calloc((size_t)g_opt.senders, sizeof *c->next);
			if (!c->got || !c->next)
				return -1;
		}
		struct bench_worker *w = &ws[i % nt];
		w->conns[w->n_conns++] = c;
	}
	return 0;
}

/* Stops the threads started (at most g_opt.threads). */
static void stop_workers(struct bench_worker *ws, int started)
{
	set_phase(ws, started, PH_STOP);
	for (int t = 0; t < started; t++)
		pthread_join(ws[t].thread, NULL);
}

static void free_all(struct bench_worker *ws, struct bench_conn *conns)
{
	for (int t = 0; ws && t < g_opt.threads; t++) {
		struct bench_worker *w = &ws[t];
		if (w->epfd >= 0)
			close(w->epfd);
		if (w->evfd >= 0)
			close(w->evfd);
		if (w->tfd >= 0)
			close(w->tfd);
		free(w->rbuf);
		free(w->conns);
	}
	for (int i = 0; conns && i < g_opt.clients; i++) {
		struct bench_conn *c = &conns[i];
		if (c->fd >= 0)
			close(c->fd);
		free(c->carry);
		free(c->out);
		free(c->head);
		free(c->got);
		free(c->next);
	}
	free(ws);
	free(conns);
}

/* Messages sender j is to send. */
static uint64_t expected_from(int j)
{
	if (g_mode == MODE_THROUGHPUT)
		return (uint64_t)g_opt.messages;
	if ((uint64_t)j >= g_rate_total)
		return 0;
	return (g_rate_total - (uint64_t)j + (uint64_t)g_opt.senders - 1) / (uint64_t)g_opt.senders;
}

static int report_run(struct bench_worker *ws, struct bench_conn *conns, uint64_t t_start,
                      uint64_t t_send_end, double cpu, double server_cpu, double wall)
{
	struct bench_stats tot;
	memset(&tot, 0, sizeof tot);
	uint64_t last_rx = 0;
	for (int t = 0; t < g_opt.threads; t++) {
		struct bench_stats *s = &ws[t].st;
		tot.received += s->received;
		tot.foreign += s->foreign;
		tot.out_of_order += s->out_of_order;
		tot.rejected += s->rejected;
		tot.sent += s->sent;
		tot.closed += s->closed;
		tot.bad_lines += s->bad_lines;
		tot.errors_other += s->errors_other;
		for (int e = 0; e <= BENCH_ERR_MAX - BENCH_ERR_MIN; e++)
			tot.errors[e] += s->errors[e];
		if (s->max_lag_ns > tot.max_lag_ns)
			tot.max_lag_ns = s->max_lag_ns;
		hist_merge(&tot.hist, &s->hist);
		if (s->last_rx_ns > last_rx)
			last_rx = s->last_rx_ns;
	}
	uint64_t per_receiver = 0;
	for (int j = 0; j < g_opt.senders; j++)
		per_receiver += expected_from(j);
	uint64_t expected = per_receiver * (uint64_t)g_opt.clients;

	/* Lost, per receiver and sender: duplicates elsewhere do not hide it. */
	uint64_t lost = 0, extra = 0;
	int short_receivers = 0;
	uint64_t worst = 0;
	for (int i = 0; i < g_opt.clients; i++) {
		uint64_t mine = 0;
		for (int j = 0; j < g_opt.senders; j++) {
			uint64_t want = expected_from(j), got = conns[i].got[j];
			if (got < want)
				mine += want - got;
			else
				extra += got - want;
		}
		if (mine) {
			short_receivers++;
			if (mine > worst)
				worst = mine;
		}
		lost += mine;
	}

	double elapsed = last_rx > t_start ? (double)(last_rx - t_start) / 1e9 : 0;
	double send_secs = (double)(t_send_end - t_start) / 1e9;
	printf("sent:        %" PRIu64 " messages by %d sender%s", tot.sent, g_opt.senders, g_opt.senders == 1 ? "" : "s");
	if (g_mode == MODE_RATE)
		printf(" in %.2f s (%.0f/s, target %.0f/s; latest send %.2f ms behind schedule)\n", send_secs,
		       send_secs > 0 ? (double)tot.sent / send_secs : 0, g_opt.rate,
		       (double)tot.max_lag_ns / 1e6);
	else
		printf(", window %d\n", g_opt.window);
	printf("deliveries:  %" PRIu64 " of %" PRIu64 " expected in %.3f s: %.0f deliveries/s (%.0f messages/s)\n",
	       tot.received, expected, elapsed, elapsed > 0 ? (double)tot.received / elapsed : 0,
	       elapsed > 0 ? (double)tot.received / elapsed / g_opt.clients : 0);
	printf("lost:        %" PRIu64 " (%d of %d receivers short, worst short by %" PRIu64 ")", lost,
	       short_receivers, g_opt.clients, worst);
	if (tot.rejected)
		printf(", %" PRIu64 " of them refused messages", tot.rejected * (uint64_t)g_opt.clients);
	printf("\n");
	printf("latency:     p50 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
	       hist_quantile_ms(&tot.hist, 0.50), hist_quantile_ms(&tot.hist, 0.99),
	       (double)tot.hist.max_ns / 1e6, tot.hist.count ? tot.hist.sum_ns / (double)tot.hist.count / 1e6 : 0);
	if (extra || tot.out_of_order || tot.foreign || tot.bad_lines)
		printf("anomalies:   %" PRIu64 " duplicates, %" PRIu64 " out of order, %" PRIu64
		       " foreign chat messages, %" PRIu64 " unparsable lines\n",
		       extra, tot.out_of_order, tot.foreign, tot.bad_lines);
	uint64_t nerr = tot.errors_other;
	for (int e = 0; e <= BENCH_ERR_MAX - BENCH_ERR_MIN; e++)
		nerr += tot.errors[e];
	if (nerr) {
		printf("errors:      %" PRIu64 " error_message(s) during the run (%" PRIu64 " refused sends):", nerr,
		       tot.rejected);
		for (int e = 0; e <= BENCH_ERR_MAX - BENCH_ERR_MIN; e++)
			if (tot.errors[e])
				printf(" %d x%" PRIu64, e + BENCH_ERR_MIN, tot.errors[e]);
		if (tot.errors_other)
			printf(" other x%" PRIu64, tot.errors_other);
		printf("\n");
		if (tot.errors[PROTO_E_RATE - BENCH_ERR_MIN])
			printf("             (1014: the server's flood control; start chatroomd with a high --rate and --burst)\n");
	}
	if (tot.closed)
		printf("closed:      the server closed %" PRIu64 " connection(s) during the run\n", tot.closed);
	if (wall > 0)
		printf("bench CPU:   %.2f s in %.2f s (%.0f%% of one core)\n", cpu, wall, 100 * cpu / wall);
	if (wall > 0 && server_cpu >= 0)
		printf("server CPU:  %.2f s in %.2f s (%.0f%% of one core)\n", server_cpu, wall,
		       100 * server_cpu / wall);
	return (lost || extra || tot.out_of_order || nerr || tot.closed) ? 1 : 0;
}

static int run_idle(long rss_before, long threads_before, double setup_secs)
{
	long pid = g_opt.server_pid;
	long threads = 0, threads_end = 0;
	sleep_ms(BENCH_IDLE_SETTLE_MS);
	long rss_after = pid > 0 ? read_rss_kb(pid, &threads) : -1;
	uint64_t until = now_ns() + (uint64_t)(g_opt.duration * 1e9);
	while (now_ns() < until && atomic_load(&g_closed) == 0)
		sleep_ms(20);
	long rss_end = pid > 0 ? read_rss_kb(pid, &threads_end) : -1;
	printf("idle:        %d clients logged in (%.2f s), idle for %.1f s\n", g_opt.clients, setup_secs,
	       g_opt.duration);
	if (pid > 0 && rss_before >= 0 && rss_after >= 0) {
		printf("server RSS:  before %ld KiB (%ld threads), after login %ld KiB (%ld threads), "
		       "after idling %ld KiB (%ld threads)\n",
		       rss_before, threads_before, rss_after, threads, rss_end, threads_end);
		printf("per client:  %.1f KiB after login, %.1f KiB after idling\n",
		       (double)(rss_after - rss_before) / g_opt.clients,
		       (double)(rss_end - rss_before) / g_opt.clients);
	} else if (pid > 0) {
		printf("server RSS:  cannot read /proc/%ld/status\n", pid);
	}
	int closed = atomic_load(&g_closed);
	if (closed)
		printf("closed:      the server closed %d idle connection(s)\n", closed);
	return closed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (parse_opts(argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (raise_nofile(g_opt.clients + 4 * g_opt.threads + 16) < 0)
		return 2;

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int gai = getaddrinfo(g_opt.host, g_opt.port, &hints, &g_addr);
	if (gai) {
		fprintf(stderr, "chatroom-bench: %s: %s\n", g_opt.host, gai_strerror(gai));
		return 2;
	}
	if (g_opt.tls) {
		g_ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!g_ssl_ctx) {
			fprintf(stderr, "chatroom-bench: cannot set up TLS\n");
			freeaddrinfo(g_addr);
			return 2;
		}
		SSL_CTX_set_min_proto_version(g_ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_mode(g_ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		                            SSL_MODE_ENABLE_PARTIAL_WRITE);
		/* measuring, not protecting: see the top comment */
		SSL_CTX_set_verify(g_ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
	g_run = (uint32_t)(seed ^ (seed >> 29)) * 2654435761u;

	long threads_before = 0;
	long rss_before = g_opt.server_pid > 0 ? read_rss_kb(g_opt.server_pid, &threads_before) : -1;
	if (g_opt.server_pid > 0 && rss_before < 0) {
		fprintf(stderr, "chatroom-bench: cannot read /proc/%ld/status\n", g_opt.server_pid);
		freeaddrinfo(g_addr);
		return 2;
	}

	int rc = 2, started = 0;
	struct bench_conn *conns = calloc((size_t)g_opt.clients, sizeof *conns);
	struct bench_worker *ws = calloc((size_t)g_opt.threads, sizeof *ws);
	if (!conns || !ws || setup_workers(ws, conns) < 0) {
		fprintf(stderr, "chatroom-bench: out of memory or descriptors while setting up\n");
		goto out;
	}

	printf("chatroom-bench: %s mode, %d clients%s, server %s port %s, group %s, %d threads\n",
	       g_mode == MODE_IDLE ? "idle" : g_mode == MODE_RATE ? "rate" : "throughput", g_opt.clients,
	       g_opt.tls ? " over TLS" : "", g_opt.host, g_opt.port, g_opt.group ? g_opt.group : CR_PUBLIC_GROUP, g_opt.threads);
	fflush(stdout);

	uint64_t t_setup = now_ns();
	atomic_store(&g_phase, PH_LOGIN);
	for (; started < g_opt.threads; started++) {
		ws[started].phase = PH_LOGIN;
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
			fprintf(stderr, "chatroom-bench: cannot start a thread\n");
			goto out;
		}
	}

	int ok = wait_for(&g_logged_in, g_opt.clients, "logging in") == 0;
	double login_secs = (double)(now_ns() - t_setup) / 1e9;
	if (ok && g_opt.group) {
		set_phase(ws, started, PH_CREATE);
		ok = wait_for(&g_created, 1, "creating the group") == 0;
		if (ok) {
			set_phase(ws, started, PH_JOIN);
			ok = wait_for(&g_ready, g_opt.clients, "joining the group") == 0;
		}
	}
	if (ok)
		ok = wait_for(&g_ready, g_opt.clients, "setting up") == 0;
	if (!ok) {
		stop_workers(ws, started);
		started = 0;
		fprintf(stderr, "chatroom-bench: set-up failed: %d of %d logged in, %d ready, %d failed\n",
		        atomic_load(&g_logged_in), g_opt.clients, atomic_load(&g_ready), atomic_load(&g_failed));
		for (int t = 0; t < g_opt.threads; t++)
			if (ws[t].errtext[0])
				fprintf(stderr, "chatroom-bench: first failure: %s\n", ws[t].errtext);
		if (!g_opt.do_register)
			fprintf(stderr, "chatroom-bench: on a new database use --register: a login before the\n"
			                "  registration counts as a failed login (chatroomd --login-fail-max-address)\n");
		goto out;
	}
	double setup_secs = (double)(now_ns() - t_setup) / 1e9;
	printf("set-up:      %d clients logged in in %.2f s (%.0f logins/s), ready in %.2f s\n", g_opt.clients,
	       login_secs, login_secs > 0 ? g_opt.clients / login_secs : 0, setup_secs);
	fflush(stdout);

	if (g_mode == MODE_IDLE) {
		rc = run_idle(rss_before, threads_before, setup_secs);
		goto out;
	}

	uint64_t per_receiver = 0;
	if (g_mode == MODE_RATE)
		g_rate_total = (uint64_t)(g_opt.rate * g_opt.duration + 0.5);
	for (int j = 0; j < g_opt.senders; j++)
		per_receiver += expected_from(j);
	set_phase(ws, started, PH_READY);
	double cpu0 = cpu_secs();
	double scpu0 = g_opt.server_pid > 0 ? proc_cpu_secs(g_opt.server_pid) : -1;
	/* A short start delay lets every worker arm its schedule in time. */
	g_t0 = now_ns() + (g_mode == MODE_RATE ? 20000000ull : 0);
	set_phase(ws, started, PH_RUN);
	uint64_t t_send_end = g_t0;
	if (g_mode == MODE_RATE) {
		uint64_t end = g_t0 + (uint64_t)(g_opt.duration * 1e9);
		while (now_ns() < end)
			sleep_ms(10);
		t_send_end = end;
	}
	wait_deliveries(ws, started, per_receiver * (uint64_t)g_opt.clients);
	stop_workers(ws, started);
	started = 0;
	double cpu = cpu_secs() - cpu0;
	double scpu = scpu0 >= 0 ? proc_cpu_secs(g_opt.server_pid) : -1;
	double wall = (double)(now_ns() - g_t0) / 1e9;
	rc = report_run(ws, conns, g_t0, t_send_end, cpu, scpu >= 0 ? scpu - scpu0 : -1, wall);
out:
	if (started)
		stop_workers(ws, started);
	free_all(ws, conns);
	freeaddrinfo(g_addr);
	SSL_CTX_free(g_ssl_ctx);
	fflush(stdout);
	return rc;
}
