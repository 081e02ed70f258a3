/* net.c - the client's one connection: connect, hello, heartbeats, framing,
 * and reconnecting with exponential back-off and jitter when it drops. */
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
	if (cl.fd >= 0)
		close(cl.fd);
	cl.fd = -1;
	frame_free(&net_fr);
	net_wlen = 0;
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
	net_set_state(CONN_HELLO);
	net_send(m);
}

/* The socket became writable while connecting: did it work? */
static void net_connect_done(void)
{
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(cl.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == 0) {
		cl.gen++;
		cl.ever_connected = 1;
		cl.last_rx = cl.last_tx = cl_now();
		frame_init(&net_fr, CL_MAX_LINE);
		net_send_hello();
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
	net_schedule_retry();
	ui_warn("connection lost (%s); reconnecting in %.1f s", why, cl.next_attempt - cl_now());
	sess_on_disconnected();
	ui_prompt_update();
}

static int net_flush(void)
{
	while (net_wlen > 0) {
		ssize_t w = send(cl.fd, net_wbuf, net_wlen, MSG_NOSIGNAL);
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
	return 0;
}

void net_send(json_object *msg)
{
	size_t len;
	char *line;
	if (cl.fd < 0 || cl.state == CONN_CONNECTING || cl.state == CONN_DOWN) {
		json_object_put(msg);
		return;
	}
	line = proto_serialize(msg, &len);
	json_object_put(msg);
	if (!line)
		return;
	if (net_wlen + len > net_wcap) {
		size_t cap = net_wcap ? net_wcap : 4096;
		while (cap < net_wlen + len)
			cap *= 2;
		char *nb = realloc(net_wbuf, cap);
		if (!nb) {
			free(line);
			net_drop("out of memory");
			return;
		}
		net_wbuf = nb;
		net_wcap = cap;
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
	else
		*events = (short)(POLLIN | (net_wlen ? POLLOUT : 0));
}

static void net_on_line(char *line, size_t len)
{
	json_object *msg;
	const char *type, *why;
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

static void net_read(void)
{
	ssize_t r = frame_read_fd(&net_fr, cl.fd);
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

void net_on_events(short revents)
{
	if (cl.fd < 0 || !revents)
		return;
	if (cl.state == CONN_CONNECTING) {
		net_connect_done();
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
	case CONN_HELLO:
		if (now - cl.state_since > CL_CONNECT_TIMEOUT)
			net_drop("no answer to hello");
		break;
	case CONN_UP:
		if (cl.heartbeat > 0) {
			/* Half the interval, so one delayed heartbeat never
			 * lets the server's watchdog see us silent. */
			if (now - cl.last_tx >= cl.heartbeat / 2)
				net_send(proto_new("heartbeat"));
			if (now - cl.last_rx > cl.heartbeat * NET_DEAD_INTERVALS)
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
	case CONN_HELLO:
		t = cl.state_since + CL_CONNECT_TIMEOUT - now;
		break;
	case CONN_UP:
		if (cl.heartbeat > 0) {
			double a = cl.last_tx + cl.heartbeat / 2 - now;
			double b = cl.last_rx + cl.heartbeat * NET_DEAD_INTERVALS - now;
			t = a < b ? a : b;
		}
		break;
	}
	return t < 0 ? 0 : t;
}
