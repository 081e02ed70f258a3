/* bus.h - the Redis bus between the nodes of a cluster (--redis). After a
 * batch commits, the writer publishes each message (bus_publish); every
 * other node receives it and offers it to the delivery order (order.h),
 * which delivers each group's messages strictly by seq. The bus is a hint,
 * never the record: a message that is late or lost on the bus is fetched
 * from PostgreSQL (bus_opts.conninfo) after gap_wait_ms, every sweep_ms
 * for every group this node knows, and at once when Redis comes back. So a
 * lost publish delays a message and never loses or reorders it.
 *
 * Each node also keeps a key chatroom:node:NAME in Redis, refreshed every
 * third of heartbeat_s and expiring after heartbeat_s: the nodes alive.
 * Presence (cluster_presence.h) rides on the bus: its notices through
 * bus_opts.notice, its hashes written and read with bus_run() from its
 * tick (bus_opts.tick).
 *
 * Threads: one bus thread receives, fills gaps and refreshes the
 * heartbeat; bus_publish() runs in the caller's (the writer's) thread on a
 * connection of its own. Losing Redis is logged once, and reconnecting is
 * tried with backoff; meanwhile a node's own messages still reach its own
 * clients (the writer offers them to the order itself). Locking: bus.lock
 * (publishing) is a leaf; the bus thread holds no lock of its own while it
 * offers messages to the order. */
#ifndef CHATROOM_BUS_H
#define CHATROOM_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* The channel every node publishes on and listens to. */
#define BUS_CHANNEL "chatroom:messages"

struct json_object;
struct redisReply;

struct bus_opts {
	const char *redis;     /* HOST:PORT */
	const char *node;      /* this node's name, unique in the cluster */
	const char *conninfo;  /* PostgreSQL, to fill gaps */
	int gap_wait_ms;       /* a message held back this long: fetch the gap */
	int sweep_ms;          /* compare every known group with the store this often */
	int heartbeat_s;       /* the node key's lifetime */
	int drop_every;        /* testing only: drop every Nth publish (0: none) */
	int drop_notices;      /* testing only: publish no notice of a change
	                        * ("changed", "sync"; logins still go) */
	/* Bring groups, memberships and accounts up to the store's
	 * (cluster_refresh), in the bus thread: when another node says they
	 * changed, every sweep_ms, and when Redis comes back. NULL: none. */
	int (*refresh)(void);
	/* User uid logged in on another node (node): end its session here
	 * (cluster_login_elsewhere), in the bus thread. NULL: none. */
	void (*login_elsewhere)(int64_t uid, const char *node);
	/* A change made on another node (node), to apply here at once
	 * (cluster_sync_apply), in the bus thread; o is the notice, valid
	 * during the call. NULL: none. */
	void (*sync)(struct json_object *o, const char *node);
	/* A notice of another type than those above from another node (its
	 * JSON object o, which has "node" and "type"), in the bus thread.
	 * NULL: ignored. */
	void (*notice)(const char *node, const char *type, struct json_object *o);
	/* Called in the bus thread after each of its turns (every 50 ms or
	 * so), with back = 1 on the first call after the subscription to
	 * Redis was made or made again. NULL: none. */
	void (*tick)(int back);
	/* Called in the bus thread before and after each run of messages
	 * received (those Redis sent together) and gap fills, whose
	 * deliveries batch_end writes (bcast_batch_begin/end). NULL: none. */
	void (*batch_begin)(void);
	void (*batch_end)(void);
};

/* "HOST:PORT" into host and port; -1 when it is not one. */
int bus_parse_addr(const char *s, char *host, size_t hostlen, int *port);

/* For chatroomd -t: Redis at addr answers PING. 0, or -1 with err. */
int bus_check(const char *addr, char *err, size_t errlen);

/* Connect (a Redis that does not answer yet is retried in the
 * background) and start the bus thread. 0, or -1 with err (bad options,
 * PostgreSQL unreachable, no thread). */
int bus_start(const struct bus_opts *o, char *err, size_t errlen);

/* Tell the other nodes about m, stored with seq. Never blocks for long:
 * with Redis down it returns at once (they will fill the gap). */
void bus_publish(const msg_t *m, int64_t seq);

/* Tell the other nodes that groups, memberships or bans changed: they call
 * their refresh(). Never blocks for long, as bus_publish(). */
void bus_notify_changed(void);

/* Tell the other nodes that user uid logged in here (they end its session
 * there). Never blocks for long, as bus_publish(). */
void bus_notify_login(int64_t uid);

/* Tell the other nodes about a change made here (the JSON object o, to
 * which "node" and "type" are added; still the caller's): they pass it to
 * their sync(). Never blocks for long, as bus_publish(). */
void bus_notify_sync(struct json_object *o);
/* One Redis command for bus_run(). */
struct bus_cmd {
	int argc;
	const char **argv;
	const size_t *len;
};

/* Run n commands on the publishing connection in one round trip, in
 * order, after any publish before them; their replies in reply[0..n-1],
 * each to be freed with freeReplyObject(). 0; or -1 with every reply[i]
 * NULL when Redis is down or refused one of them (logged: a lost
 * connection once per outage). Takes the bus lock (a leaf); any thread. */
int bus_run(const char *what, size_t n, const struct bus_cmd *cmd, struct redisReply **reply);

/* Stop the thread and close the connections (the node key expires). */
void bus_stop(void);

#endif
