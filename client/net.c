/* net.c - the client's one connection: connect, hello, heartbeats, framing,
 * and reconnecting with exponential back-off and jitter when it drops.
 *
 * A file transfer puts raw bytes on the same connection (see xfer.c): while
 * a download's bytes come in, they bypass the line framing; while an
 * upload's bytes go out, JSON lines (heartbeats included) are held back and
 * follow the last byte. */
#include "config.h"
#include "client.h"
#include "tunables.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Silence from the server this many heartbeat intervals long means the
 * connection is dead even if TCP has not noticed. */
#define NET_DEAD_INTERVALS 3.0

static frame_reader_t net_fr;
static char *net_wbuf;
static size_t net_wlen, net_wcap;
static char *net_dbuf;           /* lines held back during an upload */
static size_t net_dlen, net_dcap;
static int net_holding;
static double net_raw_at;        /* monotonic time upload bytes last went out */
static struct addrinfo *net_ai_list, *net_ai_next;

void net_init(void)
{
	cl.fd = -1;
	cl.state = CONN_DOWN;
	cl.backoff = cl.o.reconnect_min;
}

static void net_set_state(enum cl_conn_state s)
{
	cl.state = s;
	cl.state_since = cl_now();
}

static void net_close_fd(void)
{
	tls_end();
	if (cl.fd >= 0)
		close(cl.fd);
	cl.fd = -1;
	frame_free(&net_fr);
	net_wlen = 0;
	net_dlen = 0;
	net_holding = 0;
}

void net_close(void)
{
	net_close_fd();
	if (net_ai_list)
		freeaddrinfo(net_ai_list);
	net_ai_list = net_ai_next = NULL;
	free(net_wbuf);
	net_wbuf = NULL;
	net_wcap = 0;
	free(net_dbuf);
	net_dbuf = NULL;
	net_dcap = 0;
	net_set_state(CONN_DOWN);
}

/* Start a non-blocking connect to the next address of the list. Returns 0
 * when one is under way (or done), -1 when the list is exhausted. */
static int net_try_next(void)
{
	while (net_ai_next) {
		struct addrinfo *ai = net_ai_next;
		net_ai_next = ai->ai_next;
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                ai->ai_protocol);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			cl.fd = fd;
			net_set_state(CONN_CONNECTING);
			return 0;
		}
		close(fd);
	}
	return -1;
}

static void net_schedule_retry(void)
{
	/* Equal jitter: somewhere in [base/2, base], so clients dropped by
	 * one server restart do not all come back in the same instant. */
	double base = cl.backoff;
	double delay = base / 2 + base / 2 * ((double)random() / RAND_MAX);
	cl.next_attempt = cl_now() + delay;
	cl.backoff = base * 2 > cl.o.reconnect_max ? cl.o.reconnect_max : base * 2;
	net_set_state(CONN_DOWN);
}

/* Resolve and start connecting. Returns 0 when a connect is under way. */
static int net_start(char *err, size_t errlen)
{
	struct addrinfo hints = { 0 };
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (net_ai_list)
		freeaddrinfo(net_ai_list);
	net_ai_list = net_ai_next = NULL;
	int r = getaddrinfo(cl.o.host, cl.o.port, &hints, &net_ai_list);
	if (r != 0) {
		snprintf(err, errlen, "%s", gai_strerror(r));
		net_ai_list = NULL;
		return -1;
	}
	net_ai_next = net_ai_list;
	if (net_try_next() < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

static void net_send_hello(void)
{
	json_object *m = proto_new("hello");
	proto_set_int(m, "protocol", CR_PROTOCOL_VERSION);
	proto_set_string(m, "client", "chatroom/" PACKAGE_VERSION);
	if (cl.o.lang)
		proto_set_string(m, "lang", cl.o.lang);
	net_set_state(CONN_HELLO);
	net_send(m);
}

/* The connection is up (TCP, and TLS with --tls): say hello. */
static void net_up(void)
{
	cl.gen++;
	cl.ever_connected = 1;
	cl.last_rx = cl.last_tx = cl_now();
	frame_init(&net_fr, CL_MAX_LINE);
	net_send_hello();
}

/* A TLS failure: a refused certificate or key ends the client (exit
 * status 3) however often it connected before; anything else is a
 * connection that failed. */
static void net_tls_failed(const char *why, int fatal)
{
	if (fatal) {
		net_close_fd();
		ui_err("cannot connect to %s port %s over TLS: %s", cl.o.host, cl.o.port, why);
		cl.exit_code = CL_EXIT_CONNECT;
		cl.quit = 1;
		net_set_state(CONN_DOWN);
		return;
	}
	net_drop(why);
}

/* One step of the TLS handshake. */
static void net_tls_step(void)
{
	char err[512];
	int fatal;
	int r = tls_step(err, sizeof err, &fatal);
	if (r == 1)
		net_up();
	else if (r < 0)
		net_tls_failed(err, fatal);
}

/* The socket became writable while connecting: did it work? */
static void net_connect_done(void)
{
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(cl.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == 0 && cl.o.tls) {
		char err[512];
		if (tls_begin(cl.fd, cl.o.host, err, sizeof err) < 0) {
			net_tls_failed(err, 1);
			return;
		}
		net_set_state(CONN_TLS);
		net_tls_step();
		return;
	}
	if (soerr == 0) {
		net_up();
		return;
	}
	close(cl.fd);
	cl.fd = -1;
	if (net_try_next() == 0)
		return;
	if (!cl.ever_connected) {
		ui_err("cannot connect to %s port %s: %s", cl.o.host, cl.o.port, strerror(soerr));
		cl.exit_code = CL_EXIT_CONNECT;
		cl.quit = 1;
		net_set_state(CONN_DOWN);
		return;
	}
	net_schedule_retry();
	ui_prompt_update();
}

int net_connect_now(void)
{
	char err[256];
	if (net_start(err, sizeof err) < 0) {
		ui_err("cannot connect to %s port %s: %s", cl.o.host, cl.o.port, err);
		return -1;
	}
	return 0;
}

int net_ready(void)
{
	return cl.state == CONN_UP;
}

void net_drop(const char *why)
{
	if (cl.state == CONN_DOWN)
		return;
	net_close_fd();
	if (!cl.ever_connected) {
		ui_err("cannot connect to %s port %s: %s", cl.o.host, cl.o.port, why);
		cl.exit_code = CL_EXIT_CONNECT;
		cl.quit = 1;
		net_set_state(CONN_DOWN);
		return;
	}
	net_set_state(CONN_DOWN);
	xfer_on_disconnected();
	sess_on_disconnected();
	if (!cl.username && !cl.outbox) {
		/* Nothing to restore (the server closes connections that do
		 * not log in): connect again only when a command needs it,
		 * rather than every minute for nothing. */
		cl.next_attempt = 0;
		ui_warn("disconnected (%s); the next command connects again", why);
	} else {
		net_schedule_retry();
		ui_warn("connection lost (%s); reconnecting in %.1f s", why, cl.next_attempt - cl_now());
	}
	ui_prompt_update();
}

void net_kick(void)
{
	if (cl.state == CONN_DOWN && cl.ever_connected && cl.next_attempt == 0) {
		cl.backoff = cl.o.reconnect_min;
		cl.next_attempt = cl_now();
	}
}

/* Make room for n more bytes in *buf. 0, or -1 when out of memory. */
static int net_reserve(char **buf, size_t *cap, size_t len, size_t n)
{
	if (len + n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < len + n)
		c *= 2;
	char *nb = realloc(*buf, c);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = c;
	return 0;
}

void net_hold(void)
{
	net_holding = 1;
}

/* The held lines go after what is already in the write buffer. */
static int net_unhold_buffer(void)
{
	net_holding = 0;
	if (net_dlen == 0)
		return 0;
	if (net_reserve(&net_wbuf, &net_wcap, net_wlen, net_dlen) < 0)
		return -1;
	memcpy(net_wbuf + net_wlen, net_dbuf, net_dlen);
	net_wlen += net_dlen;
	net_dlen = 0;
	cl.last_tx = cl_now();
	return 0;
}

static int net_flush(void);

void net_unhold(void)
{
	if (!net_holding)
		return;
	if (net_unhold_buffer() < 0) {
		net_drop("out of memory");
		return;
	}
	if (cl.fd >= 0)
		net_flush();
}

/* The write buffer is empty during an upload: fill it with the next bytes
 * of the file. Returns 1 when there is something to send, 0 when not, -1
 * when the connection was dropped. */
static int net_raw_fill(void)
{
	if (!xfer_uploading())
		return 0;
	if (net_reserve(&net_wbuf, &net_wcap, 0, CL_XFER_CHUNK) < 0) {
		net_drop("out of memory");
		return -1;
	}
	ssize_t n = xfer_raw_fill(net_wbuf, CL_XFER_CHUNK);
	if (n < 0) {
		/* the server waits for bytes we cannot give: the stream
		 * can only be ended (the server then drops the part) */
		net_drop("file transfer aborted");
		return -1;
	}
	net_wlen = (size_t)n;
	if (!xfer_uploading() && net_unhold_buffer() < 0) {
		net_drop("out of memory");
		return -1;
	}
	if (net_wlen > 0)
		cl.last_tx = net_raw_at = cl_now();
	return net_wlen > 0;
}

static int net_flush(void)
{
	for (;;) {
		if (net_wlen == 0) {
			int r = net_raw_fill();
			if (r <= 0)
				return r;
		}
		ssize_t w = tls_active() ? tls_write(net_wbuf, net_wlen)
		                         : send(cl.fd, net_wbuf, net_wlen, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			net_drop(strerror(errno));
			return -1;
		}
		memmove(net_wbuf, net_wbuf + w, net_wlen - (size_t)w);
		net_wlen -= (size_t)w;
	}
}

void net_send(json_object *msg)
{
	size_t len;
	char *line;
	if (cl.fd < 0 || cl.state == CONN_CONNECTING || cl.state == CONN_TLS ||
	    cl.state == CONN_DOWN) {
		json_object_put(msg);
		return;
	}
	line = proto_serialize(msg, &len);
	json_object_put(msg);
	if (!line)
		return;
	if (net_holding) {
		if (net_reserve(&net_dbuf, &net_dcap, net_dlen, len) < 0) {
			free(line);
			net_drop("out of memory");
			return;
		}
		memcpy(net_dbuf + net_dlen, line, len);
		net_dlen += len;
		free(line);
		return;
	}
	if (net_reserve(&net_wbuf, &net_wcap, net_wlen, len) < 0) {
		free(line);
		net_drop("out of memory");
		return;
	}
	memcpy(net_wbuf + net_wlen, line, len);
	net_wlen += len;
	free(line);
	cl.last_tx = cl_now();
	net_flush();
}

void net_poll_setup(short *events)
{
	*events = 0;
	if (cl.fd < 0)
		return;
	if (cl.state == CONN_CONNECTING)
		*events = POLLOUT;
	else if (cl.state == CONN_TLS)
		*events = tls_poll_events(1, 0);
	else
		*events = tls_poll_events(1, net_wlen || xfer_uploading());
}

static void net_on_line(char *line, size_t len)
{
	json_object *msg;
	const char *type, *why;
	if (xfer_on_line(line, len))
		return;
	if (proto_parse(line, len, &msg, &type, &why) < 0) {
		ui_warn("ignored a message from the server: %s", why);
		return;
	}
	if (cl.state == CONN_HELLO) {
		if (!strcmp(type, "hello")) {
			int64_t hb = 0, ml = 0;
			cl.proto2 = 1;
			cl.heartbeat = proto_get_int(msg, "heartbeat_interval", &hb) == 0 && hb > 0
			             ? (double)hb : 0;
			(void)proto_get_int(msg, "max_line", &ml);
			json_object_put(msg);
			net_set_state(CONN_UP);
			sess_on_connected();
			return;
		}
		if (!strcmp(type, "error_message")) {
			/* An older server that does not know hello: carry on
			 * with the reference protocol (no acks, no heartbeats). */
			cl.proto2 = 0;
			cl.heartbeat = 0;
			json_object_put(msg);
			net_set_state(CONN_UP);
			sess_on_connected();
			return;
		}
	}
	sess_handle(msg, type);
	json_object_put(msg);
}

/* Hand what the download still expects of the buffered bytes to it. */
static void net_raw_drain(void)
{
	static char tmp[16384];
	size_t need;
	while ((need = xfer_raw_need()) > 0 && frame_pending(&net_fr) > 0) {
		size_t n = frame_take(&net_fr, tmp, need < sizeof tmp ? need : sizeof tmp);
		xfer_raw_in(tmp, n);
	}
}

static ssize_t net_recv(void *buf, size_t n)
{
	ssize_t r;
	if (tls_active())
		return tls_read(buf, n);
	do
		r = recv(cl.fd, buf, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t net_read_fn(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	return net_recv(buf, n);
}

static void net_read_once(void)
{
	ssize_t r;
	size_t need = xfer_raw_need();
	if (need > 0) {
		/* a download's bytes: read no further than its end, so the
		 * lines after it go through the framing again */
		static char raw[CL_XFER_CHUNK];
		r = net_recv(raw, need < sizeof raw ? need : sizeof raw);
		if (r > 0) {
			cl.last_rx = cl_now();
			xfer_raw_in(raw, (size_t)r);
			if (cl.state == CONN_DOWN || xfer_raw_need() > 0)
				return;
			/* the lines after the file may be in the socket already */
		} else if (r == 0) {
			net_drop("closed by the server");
			return;
		} else {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				net_drop(strerror(errno));
			return;
		}
	}
	r = frame_read_with(&net_fr, net_read_fn, NULL);
	if (r == 0) {
		net_drop("closed by the server");
		return;
	}
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			net_drop(strerror(errno));
		return;
	}
	cl.last_rx = cl_now();
	unsigned gen = cl.gen;
	for (;;) {
		char *line;
		size_t len;
		net_raw_drain();
		if (cl.state == CONN_DOWN || cl.gen != gen)
			return;
		if (xfer_raw_need() > 0)
			break;
		int st = frame_next(&net_fr, &line, &len);
		if (st == FRAME_NEED)
			break;
		if (st == FRAME_TOO_LONG) {
			net_drop("message from the server too long");
			return;
		}
		if (len == 0)
			continue;
		net_on_line(line, len);
		/* The handler may have closed this connection. */
		if (cl.state == CONN_DOWN || cl.gen != gen)
			return;
	}
}

/* Read what is there; over TLS, also what OpenSSL decrypted beyond the
 * buffer, which poll() would never report. */
static void net_read(void)
{
	unsigned gen = cl.gen;
	do
		net_read_once();
	while (cl.fd >= 0 && cl.gen == gen && cl.state != CONN_DOWN && tls_pending());
}

void net_on_events(short revents)
{
	if (cl.fd < 0 || !revents)
		return;
	if (cl.state == CONN_CONNECTING) {
		net_connect_done();
		return;
	}
	if (cl.state == CONN_TLS) {
		net_tls_step();
		return;
	}
	if (tls_active()) {
		/* either direction may be what the other waits for */
		if (revents & (POLLIN | POLLOUT | POLLHUP | POLLERR))
			net_read();
		if (cl.fd >= 0 && net_wlen + xfer_uploading() > 0)
			net_flush();
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		net_read();
	if (cl.fd >= 0 && (revents & POLLOUT))
		net_flush();
}

void net_tick(double now)
{
	switch (cl.state) {
	case CONN_DOWN:
		if (cl.ever_connected && cl.next_attempt > 0 && now >= cl.next_attempt) {
			char err[256];
			cl.next_attempt = 0;
			if (net_start(err, sizeof err) < 0) {
				net_schedule_retry();
				ui_warn("reconnect failed (%s); next attempt in %.1f s", err,
				        cl.next_attempt - now);
			}
		}
		break;
	case CONN_CONNECTING:
		if (now - cl.state_since > CL_CONNECT_TIMEOUT) {
			close(cl.fd);
			cl.fd = -1;
			if (net_try_next() < 0) {
				if (!cl.ever_connected) {
					ui_err("cannot connect to %s port %s: timed out", cl.o.host,
					       cl.o.port);
					cl.exit_code = CL_EXIT_CONNECT;
					cl.quit = 1;
				} else {
					net_schedule_retry();
				}
			}
		}
		break;
	case CONN_TLS:
		if (now - cl.state_since > CL_CONNECT_TIMEOUT)
			net_drop("TLS handshake timed out");
		break;
	case CONN_HELLO:
		if (now - cl.state_since > CL_CONNECT_TIMEOUT)
			net_drop("no answer to hello");
		break;
	case CONN_UP:
		if (cl.heartbeat > 0) {
			/* Half the interval, so one delayed heartbeat never
			 * lets the server's watchdog see us silent. While an
			 * upload holds the lines back, its bytes are the sign
			 * of life; and a server busy reading them says
			 * nothing, so they count as its sign of life too. */
			double heard = net_raw_at > cl.last_rx ? net_raw_at : cl.last_rx;
			if (!net_holding && now - cl.last_tx >= cl.heartbeat / 2)
				net_send(proto_new("heartbeat"));
			if (now - heard > cl.heartbeat * NET_DEAD_INTERVALS)
				net_drop("server not responding");
		}
		break;
	}
}

double net_next_timer(double now)
{
	double t = 3600;
	switch (cl.state) {
	case CONN_DOWN:
		if (cl.ever_connected && cl.next_attempt > 0)
			t = cl.next_attempt - now;
		break;
	case CONN_CONNECTING:
	case CONN_TLS:
	case CONN_HELLO:
		t = cl.state_since + CL_CONNECT_TIMEOUT - now;
		break;
	case CONN_UP:
		if (cl.heartbeat > 0) {
			double heard = net_raw_at > cl.last_rx ? net_raw_at : cl.last_rx;
			double a = cl.last_tx + cl.heartbeat / 2 - now;
			double b = heard + cl.heartbeat * NET_DEAD_INTERVALS - now;
			t = net_holding || a > b ? b : a;
		}
		break;
	}
	return t < 0 ? 0 : t;
}
