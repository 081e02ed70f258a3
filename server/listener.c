/* listener.c - the accept thread; see listener.h. */
#include "config.h"
#include "listener.h"
#include "catalog.h"
#include "client.h"
#include "tunables.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "server.h"
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* TCP keepalive finds dead legacy clients (they never send heartbeats). */
#define LISTENER_KEEPIDLE 60
#define LISTENER_KEEPINTVL 10
#define LISTENER_KEEPCNT 6
/* After EMFILE/ENFILE, wait this long before accepting again rather than
 * spinning on a listening socket that stays readable. */
#define LISTENER_FD_BACKOFF_MS 100
#define LISTENER_ADDR_BUCKETS 4096

/* the plain port's sockets and the TLS port's, on every Listen address */
static int listener_fds[2 * CONF_MAX_LISTEN];
static int listener_tls[2 * CONF_MAX_LISTEN]; /* 1: that socket is the TLS port's */
static int listener_nfds;
static int listener_wake[2] = { -1, -1 };
static pthread_t listener_thread;
static int listener_running;

/* Connections per address. [addr_lock, a leaf] */
struct addr_count {
	char ip[INET6_ADDRSTRLEN];
	int n;
	struct addr_count *next;
};
static pthread_mutex_t addr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct addr_count *addr_table[LISTENER_ADDR_BUCKETS];
static int addr_total;

static unsigned listener_hash(const char *s)
{
	unsigned h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % LISTENER_ADDR_BUCKETS;
}

/* Count a new connection from ip; -1 (and a reason) when over a limit. */
static int listener_admit(const char *ip, int *why)
{
	int rc = 0;
	pthread_mutex_lock(&addr_lock);
	struct addr_count **pp = &addr_table[listener_hash(ip)];
	while (*pp && strcmp((*pp)->ip, ip))
		pp = &(*pp)->next;
	if (addr_total >= CONF(max_connections)) {
		*why = CAT_TOO_MANY_CONNECTIONS;
		rc = -1;
	} else if (*pp && (*pp)->n >= CONF(max_per_address)) {
		*why = CAT_TOO_MANY_FROM_ADDRESS;
		rc = -1;
	} else {
		if (!*pp) {
			*pp = calloc(1, sizeof **pp);
			if (!*pp) {
				*why = CAT_OUT_OF_MEMORY;
				rc = -1;
				goto out;
			}
			snprintf((*pp)->ip, sizeof (*pp)->ip, "%s", ip);
		}
		(*pp)->n++;
		addr_total++;
	}
out:
	pthread_mutex_unlock(&addr_lock);
	return rc;
}

void listener_release(const char *ip)
{
	pthread_mutex_lock(&addr_lock);
	struct addr_count **pp = &addr_table[listener_hash(ip)];
	while (*pp && strcmp((*pp)->ip, ip))
		pp = &(*pp)->next;
	if (*pp) {
		addr_total--;
		if (--(*pp)->n == 0) {
			struct addr_count *dead = *pp;
			*pp = dead->next;
			free(dead);
		}
	}
	pthread_mutex_unlock(&addr_lock);
}

static int listener_bind_one(const char *addr, int port, int tls)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	int e = getaddrinfo(addr, ports, &hints, &res);
	if (e) {
		log_error("listen address '%s' is not a numeric IPv4 or IPv6 address: %s", addr,
		          gai_strerror(e));
		return -1;
	}
	/* read once: res is freed on every path below before the family is used */
	int v6 = res->ai_family == AF_INET6;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("cannot listen on %s (%s)", addr, strerror(errno));
		freeaddrinfo(res);
		return v6 ? 0 : -1; /* no IPv6 on this host: not fatal */
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		int err = errno;
		freeaddrinfo(res);
		close(fd);
		if (v6 && (err == EADDRNOTAVAIL || err == EAFNOSUPPORT)) {
			log_warn("IPv6 address %s not available here; not listening on it", addr);
			return 0;
		}
		log_error("cannot listen on %s port %d: %s", addr, port, strerror(err));
		return -1;
	}
	freeaddrinfo(res);
	listener_tls[listener_nfds] = tls;
	listener_fds[listener_nfds++] = fd;
	log_info("listening on %s port %d%s", addr, port, tls ? " (TLS)" : "");
	return 0;
}

int listener_bind(void)
{
	for (int i = 0; i < srv_conf->n_listen; i++)
		if (listener_bind_one(srv_conf->listen[i], srv_conf->port, 0) < 0 ||
		    (srv_conf->tls_port &&
		     listener_bind_one(srv_conf->listen[i], srv_conf->tls_port, 1) < 0))
			return -1;
	if (listener_nfds == 0) {
		log_error("no address to listen on");
		return -1;
	}
	return 0;
}

/* Answer 1013 without a worker: the message is tiny, so a non-blocking
 * send into an empty socket buffer cannot block or fail short. On the TLS
 * port nothing can be said before a handshake (never made in this
 * thread): the connection is only closed. */
static void listener_refuse(int fd, int tls, const char *addr, int code, int id)
{
	if (tls) {
		close(fd);
		return;
	}
	/* no hello yet: a legacy client, in the legacy language */
	char text[256];
	json_object *e = proto_error(code, catalog_format(text, sizeof text, CONF(language), id));
	size_t len;
	char *s = proto_serialize(e, &len);
	if (s && send(fd, s, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("%s: could not send refusal: %s", addr, strerror(errno));
	free(s);
	json_object_put(e);
	close(fd);
}

static void listener_accept(int lfd, int tls)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			static long long last_log;
			long long now = srv_now_ms();
			if (now - last_log > 10000) {
				log_error("cannot accept connections: %s (raise the file limit, "
				          "ulimit -n, or lower MaxConnections)",
				          strerror(errno));
				last_log = now;
			}
			STATS_INC(connections_rejected);
			poll(NULL, 0, LISTENER_FD_BACKOFF_MS);
		}
		return;
	}
	char ip[INET6_ADDRSTRLEN] = "?", addr[64];
	int port = 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		port = ntohs(a->sin_port);
		snprintf(addr, sizeof addr, "%s:%d", ip, port);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(addr, sizeof addr, "[%s]:%d", ip, port);
	}
	STATS_INC(connections_total);

	int why;
	if (listener_admit(ip, &why) < 0) {
		STATS_INC(connections_rejected);
		log_warn("%s: connection refused: %s", addr, catalog_entry(why)->text[CAT_EN]);
		listener_refuse(fd, tls, addr, PROTO_E_BUSY, why);
		return;
	}
	int one = 1, idle = LISTENER_KEEPIDLE, intvl = LISTENER_KEEPINTVL, cnt = LISTENER_KEEPCNT;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);

	client_t *c = client_new(fd, addr);
	if (!c) {
		log_error("%s: out of memory for a new connection", addr);
		listener_release(ip);
		STATS_INC(connections_rejected);
		listener_refuse(fd, tls, addr, PROTO_E_BUSY, CAT_SERVER_BUSY);
		return;
	}
	snprintf(c->ip, sizeof c->ip, "%s", ip);
	c->tls_port = tls; /* its worker makes the handshake */
	atomic_store_explicit(&c->lang, CONF(language), memory_order_relaxed);
	if (pool_submit(c) < 0) {
		STATS_INC(connections_rejected);
		log_warn("%s: server busy (all %d workers busy and %d new connections waiting): "
		         "refused", addr, srv_conf->workers, srv_conf->queue);
		c->fd = -1;
		client_unref(c);
		listener_release(ip);
		listener_refuse(fd, tls, addr, PROTO_E_BUSY, CAT_SERVER_BUSY);
		return;
	}
	log_debug("%s: connected", addr);
}

static void *listener_main(void *arg)
{
	(void)arg;
	srv_thread_name("accept");
	struct pollfd pfd[2 * CONF_MAX_LISTEN + 1];
	for (;;) {
		for (int i = 0; i < listener_nfds; i++)
			pfd[i] = (struct pollfd){ .fd = listener_fds[i], .events = POLLIN };
		pfd[listener_nfds] = (struct pollfd){ .fd = listener_wake[0], .events = POLLIN };
		if (poll(pfd, (nfds_t)listener_nfds + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("accept loop: poll failed: %s", strerror(errno));
			poll(NULL, 0, LISTENER_FD_BACKOFF_MS);
			continue;
		}
		if (pfd[listener_nfds].revents)
			break;
		for (int i = 0; i < listener_nfds; i++)
			if (pfd[i].revents & POLLIN)
				listener_accept(listener_fds[i], listener_tls[i]);
	}
	return NULL;
}

int listener_start(void)
{
	if (pipe2(listener_wake, O_CLOEXEC) < 0)
		return -1;
	if (pthread_create(&listener_thread, NULL, listener_main, NULL) != 0)
		return -1;
	listener_running = 1;
	return 0;
}

void listener_stop(void)
{
	if (listener_running) {
		if (write(listener_wake[1], "x", 1) < 0)
			log_warn("cannot wake the accept thread: %s", strerror(errno));
		pthread_join(listener_thread, NULL);
		listener_running = 0;
	}
	for (int i = 0; i < listener_nfds; i++)
		close(listener_fds[i]);
	listener_nfds = 0;
}
