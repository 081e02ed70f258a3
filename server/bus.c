/* bus.c - the Redis bus between cluster nodes (bus.h): publishing after
 * commit, the bus thread (receive, fill gaps from PostgreSQL, compare with
 * the store now and then, heartbeat), and Redis outages.
 *
 * A message on the bus is one JSON object on the channel BUS_CHANNEL:
 * {"node", "id", "seq", "g" (group id), "gn" (group name), "s" (sender
 * id), "n" (sender name), "t" (time), "c" (content), "k" (client_msg_id,
 * when given)}; or a notice {"node", "type"}: "changed" (groups,
 * memberships or bans changed in the store), "login" with "user" (that
 * user logged in on that node), or "sync" with the fields of a change made
 * on that node that this one applies at once (cluster_sync.h). */
#include "config.h"
#include "bus.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "order.h"
#include "server.h"
#include "store_pg.h"

#define BUS_NODE_KEY "chatroom:node:" /* + node name */
/* How long the bus thread waits for a message before its other work. */
#define BUS_TICK_MS 50
/* Reconnecting to Redis: the first and the longest wait between tries. */
#define BUS_BACKOFF_MIN_MS 100
#define BUS_BACKOFF_MAX_MS 2000
/* Connecting and each command on the publishing connection: short, since
 * the writer thread waits for it. */
#define BUS_PUB_TIMEOUT_MS 200
/* Messages fetched from the store per gap at most (the rest next tick). */
#define BUS_FILL_MAX 1000

static struct {
	pthread_mutex_t lock;     /* guards pub, pub_retry_at, published; a leaf */
	redisContext *pub;        /* publishing and the heartbeat; NULL while down */
	long long pub_retry_at;   /* no reconnect before this (srv_now_ms) */
	unsigned long published;  /* publishes asked for (drop_every counts them) */

	atomic_int down;          /* Redis unreachable: logged once per outage */
	atomic_int stopping;
	pthread_t thread;
	atomic_int running;       /* bus_publish() reads it from the writer thread */

	/* set by bus_start(), then read-only */
	struct bus_opts o;
	char host[256];
	int port;
	char *node;
	char *conninfo;

	/* the bus thread's own */
	redisContext *sub;
	store_pg_t *st;
} b = { .lock = PTHREAD_MUTEX_INITIALIZER };

int bus_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	char *end;
	long p;

	if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 1 || p > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (int)p;
	return 0;
}

static redisContext *bus_connect(const char *host, int port, int timeout_ms, char *err,
                                 size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", host, port,
		         c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

int bus_check(const char *addr, char *err, size_t errlen)
{
	char host[256];
	int port, ok;

	if (bus_parse_addr(addr, host, sizeof host, &port) < 0) {
		snprintf(err, errlen, "Redis address %s is not HOST:PORT", addr);
		return -1;
	}
	redisContext *c = bus_connect(host, port, 2000, err, errlen);
	if (!c)
		return -1;
	redisReply *r = redisCommand(c, "PING");
	ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	if (!ok)
		snprintf(err, errlen, "Redis at %s does not answer PING: %s", addr,
		         r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok ? 0 : -1;
}

/* Redis failed (what): logged once per outage. */
static void bus_lost(const char *what, const char *why)
{
	if (atomic_exchange(&b.down, 1) == 0)
		log_error("cluster: lost Redis at %s:%d (%s: %s); this node's own clients still "
		          "chat, other nodes' messages come from PostgreSQL until it is back",
		          b.host, b.port, what, why);
}

/* ---- publishing (writer thread) --------------------------------------- */

/* The publishing connection, reconnected at most once a backoff; lock held. */
static redisContext *bus_pub_conn(void)
{
	char err[256];
	long long now = srv_now_ms();

	if (b.pub || now < b.pub_retry_at)
		return b.pub;
	b.pub = bus_connect(b.host, b.port, BUS_PUB_TIMEOUT_MS, err, sizeof err);
	if (!b.pub) {
		b.pub_retry_at = now + BUS_BACKOFF_MAX_MS;
		bus_lost("publishing", err);
	}
	return b.pub;
}

/* Run a command on the publishing connection; lock held. */
static void bus_pub_command(const char *what, int argc, const char **argv, const size_t *len)
{
	redisContext *c = bus_pub_conn();
	if (!c)
		return;
	redisReply *r = redisCommandArgv(c, argc, argv, len);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		bus_lost(what, r ? r->str : c->errstr);
		if (r)
			freeReplyObject(r);
		redisFree(b.pub);
		b.pub = NULL;
		b.pub_retry_at = srv_now_ms() + BUS_BACKOFF_MIN_MS;
		return;
	}
	freeReplyObject(r);
}

void bus_publish(const msg_t *m, int64_t seq)
{
	json_object *o;
	const char *text, *argv[3];
	size_t len[3];

	if (!atomic_load(&b.running))
		return;
	o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(b.node));
	json_object_object_add(o, "id", json_object_new_int64(m->id));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "g", json_object_new_int64(m->group_id));
	json_object_object_add(o, "gn", json_object_new_string(m->group_name ? m->group_name : ""));
	json_object_object_add(o, "s", json_object_new_int64(m->sender_id));
	json_object_object_add(o, "n", json_object_new_string(m->sender_name));
	json_object_object_add(o, "t", json_object_new_double(m->ts));
	json_object_object_add(o, "c", json_object_new_string(m->content));
	if (m->client_msg_id)
		json_object_object_add(o, "k", json_object_new_string(m->client_msg_id));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	argv[0] = "PUBLISH";
	argv[1] = BUS_CHANNEL;
	argv[2] = text;
	len[0] = 7;
	len[1] = strlen(BUS_CHANNEL);
	len[2] = strlen(text);

	pthread_mutex_lock(&b.lock);
	b.published++;
	if (b.o.drop_every > 0 && b.published % (unsigned long)b.o.drop_every == 0)
		log_info("cluster: dropping the publish of message %lld (seq %lld of group %lld) "
		         "on purpose (DebugDropPublish)",
		         (long long)m->id, (long long)seq, (long long)m->group_id);
	else
		bus_pub_command("publishing", 3, argv, len);
	pthread_mutex_unlock(&b.lock);
	json_object_put(o);
}

/* Testing only (DebugDropNotices): a notice of a change ("changed",
 * "sync") is not published, logged; the other nodes learn of the change
 * from their sweep. Logins are always published. */
static int bus_drop_notice(const char *type)
{
	if (!b.o.drop_notices || strcmp(type, "login") == 0)
		return 0;
	log_info("cluster: dropping a notice of a change (%s) on purpose (DebugDropNotices)", type);
	return 1;
}

/* Publish a notice {"node", "type", and "user" when uid >= 0}. */
static void bus_notice(const char *type, int64_t uid)
{
	char text[400];
	const char *argv[3] = { "PUBLISH", BUS_CHANNEL, text };
	size_t len[3];

	if (!atomic_load(&b.running))
		return;
	json_object *n = json_object_new_string(b.node);
	int k = snprintf(text, sizeof text, "{\"node\":%s,\"type\":\"%s\"",
	                 json_object_to_json_string(n), type);
	json_object_put(n);
	if (uid >= 0)
		k += snprintf(text + k, sizeof text - (size_t)k, ",\"user\":%lld", (long long)uid);
	snprintf(text + k, sizeof text - (size_t)k, "}");
	for (int i = 0; i < 3; i++)
		len[i] = strlen(argv[i]);
	if (bus_drop_notice(type))
		return;
	pthread_mutex_lock(&b.lock);
	bus_pub_command("publishing a notice", 3, argv, len);
	pthread_mutex_unlock(&b.lock);
}

void bus_notify_changed(void)
{
	bus_notice("changed", -1);
}

void bus_notify_login(int64_t uid)
{
	bus_notice("login", uid);
}

/* ---- sync notices (cluster_sync.h) ------------------------------------ */

void bus_notify_sync(struct json_object *o)
{
	const char *text, *argv[3];
	size_t len[3];

	if (!atomic_load(&b.running))
		return;
	json_object_object_add(o, "node", json_object_new_string(b.node));
	json_object_object_add(o, "type", json_object_new_string("sync"));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	argv[0] = "PUBLISH";
	argv[1] = BUS_CHANNEL;
	argv[2] = text;
	for (int i = 0; i < 3; i++)
		len[i] = strlen(argv[i]);
	if (bus_drop_notice("sync"))
		return;
	pthread_mutex_lock(&b.lock);
	bus_pub_command("publishing a change", 3, argv, len);
	pthread_mutex_unlock(&b.lock);
}

/* ---- commands for other modules (presence: cluster_presence.c) --------- */

int bus_run(const char *what, size_t n, const struct bus_cmd *cmd, redisReply **reply)
{
	size_t got = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		reply[i] = NULL;
	if (!atomic_load(&b.running))
		return -1;
	pthread_mutex_lock(&b.lock);
	redisContext *c = bus_pub_conn();
	if (!c)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommandArgv(c, cmd[i].argc, cmd[i].argv, cmd[i].len) != REDIS_OK)
			goto fail;
	/* every reply is read, even after an error one, so that the
	 * connection stays in step */
	for (; got < n; got++) {
		void *r = NULL;
		if (redisGetReply(c, &r) != REDIS_OK || !r)
			goto fail;
		reply[got] = r;
	}
	for (size_t i = 0; i < n; i++)
		if (reply[i]->type == REDIS_REPLY_ERROR) {
			log_warn("cluster: Redis refused %s: %s", what, reply[i]->str);
			goto drop;
		}
	rc = 0;
	goto out;
fail:
	bus_lost(what, c->errstr[0] ? c->errstr : "connection closed");
	redisFree(b.pub);
	b.pub = NULL;
	b.pub_retry_at = srv_now_ms() + BUS_BACKOFF_MIN_MS;
drop:
	for (size_t i = 0; i < got; i++) {
		freeReplyObject(reply[i]);
		reply[i] = NULL;
	}
out:
	pthread_mutex_unlock(&b.lock);
	return rc;
}

/* ---- the bus thread ---------------------------------------------------- */

static int64_t bus_json_int(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *bus_json_str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	               ? json_object_get_string(v)
	               : NULL;
}

/* A message from the bus: another node's, offered to the order. */
static void bus_received(const char *text, size_t len)
{
	json_object *o = json_tokener_parse(text);
	const char *node, *name, *content;
	double ts;
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object)) {
		log_warn("cluster: ignoring a bus message that is not a JSON object (%zu bytes)", len);
		goto out;
	}
	node = bus_json_str(o, "node");
	if (node && strcmp(node, b.node) == 0)
		goto out; /* ours: the writer offered it already */
	const char *type = bus_json_str(o, "type");
	if (type && strcmp(type, "changed") == 0) {
		if (b.o.refresh)
			b.o.refresh();
		goto out;
	}
	if (type && strcmp(type, "login") == 0) {
		if (b.o.login_elsewhere && node)
			b.o.login_elsewhere(bus_json_int(o, "user"), node);
		goto out;
	}
	if (type && strcmp(type, "sync") == 0) {
		if (b.o.sync && node)
			b.o.sync(o, node);
		goto out;
	}
	/* any other type: the last of these checks, before messages */
	if (type) {
		if (b.o.notice && node)
			b.o.notice(node, type, o);
		goto out;
	}
	name = bus_json_str(o, "n");
	content = bus_json_str(o, "c");
	int64_t seq = bus_json_int(o, "seq"), gid = bus_json_int(o, "g");
	if (!node || !name || !content || seq < 1 || gid < 1) {
		log_warn("cluster: ignoring a bus message without node, n, c, seq or g");
		goto out;
	}
	ts = json_object_object_get_ex(o, "t", &v) ? json_object_get_double(v) : 0;
	const char *gname = bus_json_str(o, "gn");
	msg_t *m = msg_new(bus_json_int(o, "id"), gid, bus_json_int(o, "s"), ts, name,
	                   gname ? gname : "", content, bus_json_str(o, "k"));
	if (m) {
		order_offer(m, seq, srv_now_ms());
		msg_unref(m);
	}
out:
	json_object_put(o);
}

struct bus_fetched {
	msg_t *m[BUS_FILL_MAX];
	int64_t seq[BUS_FILL_MAX];
	size_t n;
};

static int bus_fetch_row(void *ctx, const store_msg_t *sm, int64_t seq)
{
	struct bus_fetched *f = ctx;
	msg_t *m = msg_new(sm->id, sm->group_id, sm->sender_id, sm->ts, sm->sender_name, "",
	                   sm->content, sm->client_msg_id);
	if (!m)
		return 1;
	f->m[f->n] = m;
	f->seq[f->n++] = seq;
	return f->n == BUS_FILL_MAX;
}

/* Fetch what group gid stored after seq `after` and offer it (outside the
 * store's lock, which is a leaf). */
static void bus_fill(int64_t gid, int64_t after)
{
	static struct bus_fetched f; /* the bus thread's only */
	f.n = 0;
	if (store_pg_since_seq(b.st, gid, after, BUS_FILL_MAX, bus_fetch_row, &f) != STORE_OK)
		return; /* logged; tried again next tick */
	for (size_t i = 0; i < f.n; i++) {
		order_offer(f.m[i], f.seq[i], srv_now_ms());
		msg_unref(f.m[i]);
	}
}

static void bus_fill_gaps(void)
{
	int64_t gids[64], after[64];
	size_t n = order_gaps(srv_now_ms(), b.o.gap_wait_ms, gids, after, 64);
	for (size_t i = 0; i < n; i++)
		bus_fill(gids[i], after[i]);
}

/* Groups whose newest seq in the store is past what was delivered here. */
struct bus_behind {
	int64_t gid[256], after[256];
	size_t n;
	int init; /* at start: only record where each group stands */
};

static int bus_group_seq(void *ctx, int64_t gid, int64_t seq)
{
	struct bus_behind *bb = ctx;
	if (bb->init) {
		order_set_last(gid, seq);
		return 0;
	}
	int64_t last = order_last(gid);
	if (seq > last && bb->n < 256) {
		bb->gid[bb->n] = gid;
		bb->after[bb->n++] = last;
	}
	return 0;
}

static void bus_sweep(void)
{
	static struct bus_behind bb; /* the bus thread's only */
	/* groups first: a message of a group created elsewhere then finds it */
	if (b.o.refresh)
		b.o.refresh();
	bb.n = 0;
	bb.init = 0;
	if (store_pg_groups_seq(b.st, bus_group_seq, &bb) != STORE_OK)
		return;
	for (size_t i = 0; i < bb.n; i++)
		bus_fill(bb.gid[i], bb.after[i]);
}

static void bus_heartbeat(void)
{
	char key[300], ttl[16];
	const char *argv[5] = { "SET", key, "1", "EX", ttl };
	size_t len[5];

	snprintf(key, sizeof key, BUS_NODE_KEY "%s", b.node);
	snprintf(ttl, sizeof ttl, "%d", b.o.heartbeat_s);
	for (int i = 0; i < 5; i++)
		len[i] = strlen(argv[i]);
	pthread_mutex_lock(&b.lock);
	bus_pub_command("refreshing the node key", 5, argv, len);
	pthread_mutex_unlock(&b.lock);
}

static int bus_subscribe(void)
{
	char err[256];
	redisContext *c = bus_connect(b.host, b.port, BUS_PUB_TIMEOUT_MS, err, sizeof err);
	if (!c) {
		bus_lost("subscribing", err);
		return -1;
	}
	redisReply *r = redisCommand(c, "SUBSCRIBE %s", BUS_CHANNEL);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		bus_lost("subscribing", r ? r->str : c->errstr);
		if (r)
			freeReplyObject(r);
		redisFree(c);
		return -1;
	}
	freeReplyObject(r);
	b.sub = c;
	/* the publishing connection, made before the subscription was lost,
	 * may be to the Redis that went away: made again at its next use, so
	 * that its first command after this does not fail */
	pthread_mutex_lock(&b.lock);
	if (b.pub)
		redisFree(b.pub);
	b.pub = NULL;
	b.pub_retry_at = 0;
	pthread_mutex_unlock(&b.lock);
	if (atomic_exchange(&b.down, 0))
		log_warn("cluster: Redis at %s:%d is back; fetching what was missed", b.host, b.port);
	/* whatever was published while nobody listened: from the store */
	bus_sweep();
	return 0;
}

/* The next reply on the subscription within BUS_TICK_MS: 1 with *out, 0
 * when none came, -1 when the connection failed. A read timeout would
 * break a hiredis context, so the wait is a poll() on its socket. */
static int bus_read(redisReply **out)
{
	void *reply = NULL;
	struct pollfd p = { .fd = b.sub->fd, .events = POLLIN };

	if (redisGetReplyFromReader(b.sub, &reply) != REDIS_OK)
		return -1;
	if (!reply) {
		int rc = poll(&p, 1, BUS_TICK_MS);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0)
			return 0;
		if (redisBufferRead(b.sub) != REDIS_OK ||
		    redisGetReplyFromReader(b.sub, &reply) != REDIS_OK)
			return -1;
		if (!reply)
			return 0;
	}
	*out = reply;
	return 1;
}

/* A reply Redis sent already, read from the buffer without waiting: 1
 * (*out set) or 0. */
static int bus_buffered(redisReply **out)
{
	void *reply = NULL;
	if (redisGetReplyFromReader(b.sub, &reply) != REDIS_OK || !reply)
		return 0;
	*out = reply;
	return 1;
}

/* Begin (on 1) or end (on 0) a run of deliveries made by this thread;
 * beginning twice is beginning once. */
static void bus_batch(int on)
{
	static int batching; /* the bus thread's own */
	if (on == batching || !b.o.batch_begin || !b.o.batch_end)
		return;
	batching = on;
	if (on)
		b.o.batch_begin();
	else
		b.o.batch_end();
}

static void *bus_main(void *arg)
{
	long long now, next_sweep = 0, next_beat = 0, retry_at = 0;
	long backoff = BUS_BACKOFF_MIN_MS;
	redisReply *r;
	int back = 1; /* the tick's first call, and after each (re)subscription */

	(void)arg;
	srv_thread_name("bus");
	while (!atomic_load(&b.stopping)) {
		now = srv_now_ms();
		if (!b.sub && now >= retry_at) {
			if (bus_subscribe() == 0) {
				backoff = BUS_BACKOFF_MIN_MS;
				back = 1;
			} else {
				retry_at = now + backoff;
				backoff = backoff * 2 > BUS_BACKOFF_MAX_MS ? BUS_BACKOFF_MAX_MS : backoff * 2;
			}
		}
		if (b.sub) {
			int rc = bus_read(&r);
			if (rc < 0) {
				bus_lost("receiving", b.sub->errstr[0] ? b.sub->errstr : "connection closed");
				redisFree(b.sub);
				b.sub = NULL;
				retry_at = srv_now_ms() + BUS_BACKOFF_MIN_MS;
			} else if (rc > 0) {
				bus_batch(1);
				/* this reply and those that came with it, then write */
				do {
					if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
					    r->element[2]->type == REDIS_REPLY_STRING &&
					    strcmp(r->element[0]->str, "message") == 0)
						bus_received(r->element[2]->str, r->element[2]->len);
					freeReplyObject(r);
				} while (bus_buffered(&r));
			}
		} else {
			struct timespec ts = { 0, BUS_TICK_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
		bus_batch(1);
		bus_fill_gaps();
		bus_batch(0);
		now = srv_now_ms();
		if (now >= next_sweep) {
			bus_sweep();
			next_sweep = now + b.o.sweep_ms;
		}
		if (now >= next_beat) {
			bus_heartbeat();
			next_beat = now + b.o.heartbeat_s * 1000 / 3;
		}
		if (b.o.tick) {
			b.o.tick(back && b.sub != NULL);
			if (b.sub)
				back = 0;
		}
	}
	return arg;
}

int bus_start(const struct bus_opts *o, char *err, size_t errlen)
{
	static struct bus_behind bb;
	int rc;

	if (b.running) {
		snprintf(err, errlen, "cluster: the bus is already running");
		return -1;
	}
	if (!o->node || !*o->node || !o->conninfo || o->gap_wait_ms < 0 || o->sweep_ms < 1 ||
	    o->heartbeat_s < 1) {
		snprintf(err, errlen, "cluster: the bus needs a node name, PostgreSQL, "
		                      "gap_wait_ms >= 0, sweep_ms >= 1, heartbeat_s >= 1");
		return -1;
	}
	if (bus_parse_addr(o->redis, b.host, sizeof b.host, &b.port) < 0) {
		snprintf(err, errlen, "Redis address %s is not HOST:PORT", o->redis ? o->redis : "");
		return -1;
	}
	b.o = *o;
	b.node = strdup(o->node);
	b.conninfo = strdup(o->conninfo);
	if (!b.node || !b.conninfo) {
		snprintf(err, errlen, "cluster: out of memory");
		goto fail;
	}
	b.o.node = b.node;
	b.o.conninfo = b.conninfo;
	if (store_pg_open(b.conninfo, &b.st, err, errlen) != STORE_OK)
		goto fail;
	/* what is stored already is history: delivery starts after it */
	bb.init = 1;
	if (store_pg_groups_seq(b.st, bus_group_seq, &bb) != STORE_OK) {
		snprintf(err, errlen, "cluster: cannot read the groups from PostgreSQL");
		goto fail;
	}
	atomic_store(&b.stopping, 0);
	atomic_store(&b.down, 0);
	b.published = 0;
	b.pub_retry_at = 0;
	b.running = 1;
	rc = pthread_create(&b.thread, NULL, bus_main, NULL);
	if (rc != 0) {
		b.running = 0;
		snprintf(err, errlen, "cluster: cannot start the bus thread: %s", strerror(rc));
		goto fail;
	}
	return 0;
fail:
	store_pg_close(b.st);
	b.st = NULL;
	free(b.node);
	free(b.conninfo);
	b.node = b.conninfo = NULL;
	return -1;
}

void bus_stop(void)
{
	if (!b.running)
		return;
	atomic_store(&b.stopping, 1);
	pthread_join(b.thread, NULL);
	b.running = 0;
	if (b.sub)
		redisFree(b.sub);
	b.sub = NULL;
	pthread_mutex_lock(&b.lock);
	if (b.pub)
		redisFree(b.pub);
	b.pub = NULL;
	pthread_mutex_unlock(&b.lock);
	store_pg_close(b.st);
	b.st = NULL;
	free(b.node);
	free(b.conninfo);
	b.node = b.conninfo = NULL;
}
