/* broadcast.c - fan-out of chat messages and notices, and message ids;
 * see broadcast.h. */
#include "config.h"
#include "broadcast.h"
#include "catalog.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "stats.h"
#include "writer.h"
#include "bus.h"
#include "order.h"

#include <stdlib.h>
#include <string.h>

/* Ids only grow; taken under the group's seq_lock, with the message queued
 * for the writer under it too, so that one group's messages are stored and
 * reach everyone in id order. */
static atomic_llong bcast_last_id;

/* Ids up to bcast_reserved are recorded in the database as possibly used. */
#define BCAST_ID_BLOCK 10000
static atomic_llong bcast_reserved;
/* Held while the store records the block (state_reserve_message_ids), so
 * it is not a leaf: it is taken with no table, group or client lock held
 * and takes only the store's lock (table.h). */
static pthread_mutex_t bcast_reserve_lock = PTHREAD_MUTEX_INITIALIZER;

/* Cluster mode: set once at start, before any thread reads it. */
static int bcast_clustered;

void bcast_set_last_id(int64_t id)
{
	atomic_store(&bcast_last_id, id);
	atomic_store(&bcast_reserved, id);
}

int bcast_reserve_ids(void)
{
	int rc = 0;
	if (bcast_clustered)
		return 0; /* ids come from PostgreSQL's sequence at commit */
	if (atomic_load(&bcast_reserved) - atomic_load(&bcast_last_id) > BCAST_ID_BLOCK / 2)
		return 0;
	pthread_mutex_lock(&bcast_reserve_lock);
	int64_t cur = atomic_load(&bcast_last_id), res = atomic_load(&bcast_reserved);
	if (res - cur <= BCAST_ID_BLOCK / 2) {
		int64_t upto = (cur > res ? cur : res) + BCAST_ID_BLOCK;
		if (state_reserve_message_ids(upto) == 0) {
			atomic_store(&bcast_reserved, upto);
		} else {
			log_error("cannot record message ids in the database: messages are refused "
			          "until it can be written");
			rc = -1;
		}
	}
	pthread_mutex_unlock(&bcast_reserve_lock);
	return rc;
}

json_object *bcast_chat_json(const msg_t *m, int history, int protocol)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "message_type",
	                       json_object_new_string(history ? "chat_history" : "chat_message"));
	if (history) {
		char when[32];
		proto_format_time(m->ts, when, sizeof when);
		proto_set_string(o, "timestamp", when);
	} else {
		proto_set_double(o, "timestamp", m->ts);
	}
	proto_set_int(o, "sender_id", m->sender_id);
	proto_set_string(o, "sender_username", m->sender_name);
	proto_set_int(o, "chat_group_id", m->group_id);
	proto_set_string(o, "chat_group_name", m->group_name);
	proto_set_string(o, "content", m->content);
	proto_set_int(o, "message_id", m->id);
	/* a legacy client refuses fields it does not know */
	if (protocol == 2 && m->client_msg_id)
		proto_set_string(o, "client_msg_id", m->client_msg_id);
	return o;
}

/* Serialize m as a live chat_message for clients of protocol p (1 or 2). */
static outbuf_t *bcast_chat_buf(const msg_t *m, int protocol)
{
	json_object *o = bcast_chat_json(m, 0, protocol);
	outbuf_t *b = outbuf_json(o);
	json_object_put(o);
	return b;
}

/* Queue b for every client present in g; returns the count. Needs the table
 * read lock (the present list) and is called under g->seq_lock. b2, when
 * not NULL, goes to protocol-2 clients instead. */
static size_t bcast_fanout(group_t *g, outbuf_t *b, outbuf_t *b2)
{
	size_t n = 0, max = (size_t)CONF(max_output);
	for (client_t *c = g->present; c; c = c->gnext)
		if (client_push(c, b2 && c->protocol == 2 ? b2 : b, 1, max) == 0)
			n++;
	return n;
}

msg_t *bcast_chat(group_t *g, int64_t uid, const char *uname, const char *content,
                  const char *client_msg_id)
{
	/* The id is taken and the message queued under seq_lock, so that the
	 * writer's queue, and with it the delivery, follows id order within
	 * the group. Nothing is delivered here: see bcast_stored(). */
	pthread_mutex_lock(&g->seq_lock);
	/* cluster mode: the id (and seq) come with the commit */
	int64_t id = bcast_clustered ? 0 : atomic_fetch_add(&bcast_last_id, 1) + 1;
	if (!bcast_clustered && id > atomic_load(&bcast_reserved)) {
		/* not recorded as used: refused (a gap in ids, never a reuse) */
		pthread_mutex_unlock(&g->seq_lock);
		return NULL;
	}
	msg_t *m = msg_new(id, g->id, uid, proto_now(), uname, g->name, content, client_msg_id);
	if (!m || writer_submit(m) < 0) {
		pthread_mutex_unlock(&g->seq_lock);
		msg_unref(m);
		return NULL;
	}
	pthread_mutex_unlock(&g->seq_lock);
	STATS_INC(messages_in);
	return m;
}

void bcast_ack(client_t *c, const char *cmid, int64_t message_id, int64_t gid, int wake)
{
	json_object *o = proto_new("chat_ack");
	proto_set_string(o, "client_msg_id", cmid);
	proto_set_int(o, "message_id", message_id);
	proto_set_int(o, "chat_group_id", gid);
	outbuf_t *b = outbuf_json(o);
	json_object_put(o);
	if (b) {
		client_push(c, b, wake, (size_t)CONF(max_output));
		outbuf_unref(b);
	}
}

static void bcast_fan(msg_t *m);
static void bcast_acks(msg_t *m);

/* A direct message reaches its recipient also while another chat is
 * current there: a protocol-2 member online elsewhere gets it as a
 * direct_message_notice (the chat_message's fields), to show without
 * switching chats. Legacy clients find it in the chat's history. Needs the
 * table read lock. */
static void bcast_direct_notice(group_t *g, const msg_t *m)
{
	outbuf_t *b = NULL;
	for (size_t i = 0; i < g->nmembers; i++) {
		client_t *c = g->members[i] == m->sender_id ? NULL : table_user_client(g->members[i]);
		if (!c || c->protocol != 2 || c->cur == g)
			continue;
		if (!b) {
			json_object *o = bcast_chat_json(m, 0, 2);
			json_object_object_add(o, "message_type", json_object_new_string("direct_message_notice"));
			b = outbuf_json(o);
			json_object_put(o);
			if (!b)
				return;
		}
		client_push(c, b, 1, (size_t)CONF(max_output));
	}
	outbuf_unref(b);
}

/* A stored message: into the group's cache (history), to every client
 * present in the group, and the chat_ack to the sender's current session,
 * which may be a newer connection than the one that sent it (a client
 * that reconnected and resent). Needs the table read lock. */
static void bcast_deliver(msg_t *m)
{
	bcast_fan(m);
	bcast_acks(m);
}

/* The chat_acks owed for m to its sender's current session. Needs the
 * table read lock. */
static void bcast_acks(msg_t *m)
{
	if (!m->client_msg_id)
		return;
	int n = atomic_exchange(&m->acks_owed, 0);
	client_t *c = table_user_client(m->sender_id);
	for (int i = 0; c && c->protocol == 2 && i < n; i++)
		bcast_ack(c, m->client_msg_id, m->id, m->group_id, 1);
}

/* m into its group's cache and to every client present. Needs the table
 * read lock. */
static void bcast_fan(msg_t *m)
{
	group_t *g = table_group(m->group_id);
	if (g) { /* a group deleted since has nobody to tell */
		outbuf_t *b = bcast_chat_buf(m, 1);
		outbuf_t *b2 = m->client_msg_id ? bcast_chat_buf(m, 2) : NULL;
		pthread_mutex_lock(&g->seq_lock);
		table_cache_add(g, m);
		if (b) /* without b2 (out of memory) everyone gets the legacy form */
			STATS_ADD(deliveries_out, bcast_fanout(g, b, b2));
		pthread_mutex_unlock(&g->seq_lock);
		outbuf_unref(b);
		outbuf_unref(b2);
		if (g->is_private)
			bcast_direct_notice(g, m);
	}
}

/* A message the writer could not store: nobody saw it; its sender hears
 * why (1011), and a protocol-2 sender which one. Needs the table read lock. */
static void bcast_lost(msg_t *m)
{
	client_t *c = table_user_client(m->sender_id);
	if (!c)
		return;
	char text[256];
	catalog_format(text, sizeof text, atomic_load_explicit(&c->lang, memory_order_relaxed),
	               CAT_MESSAGE_NOT_STORED);
	json_object *o = proto_error(PROTO_E_DATABASE, text);
	if (c->protocol == 2 && m->client_msg_id)
		proto_set_string(o, "client_msg_id", m->client_msg_id);
	outbuf_t *b = outbuf_json(o);
	json_object_put(o);
	if (b) {
		client_push(c, b, 1, (size_t)CONF(max_output));
		outbuf_unref(b);
	}
}

/* The order's deliver function (cluster mode), from the writer thread or
 * the bus thread, under the order lock: m in its group's order. A message
 * from the bus or the store has no group name: the table's is used. */
static void bcast_ordered(msg_t *m, int64_t seq, void *ctx)
{
	(void)seq;
	(void)ctx;
	table_rdlock();
	if (!m->group_name[0]) {
		group_t *g = table_group(m->group_id);
		if (g) {
			char *name = strdup(g->name);
			if (name) {
				free(m->group_name);
				m->group_name = name;
			}
		}
	}
	bcast_fan(m);
	table_unlock();
}

void bcast_batch_begin(void)
{
	client_defer_begin(NULL);
}

void bcast_batch_end(void)
{
	client_defer_end();
}

void bcast_cluster_start(void)
{
	bcast_clustered = 1;
	order_init(bcast_ordered, NULL);
}

/* bcast_stored() in cluster mode: acknowledge at once (what is committed
 * is acknowledged, as with SQLite), tell the other nodes, then deliver
 * through the order, which may hold a message back until one committed
 * before it by another node has arrived. */
static void bcast_stored_cluster(msg_t *const *v, const unsigned char *dropped, size_t n)
{
	table_rdlock();
	for (size_t i = 0; i < n; i++) {
		if (dropped[i] == 1)
			bcast_lost(v[i]);
		else
			bcast_acks(v[i]);
	}
	table_unlock();
	for (size_t i = 0; i < n; i++) {
		if (dropped[i])
			continue;
		bus_publish(v[i], v[i]->seq);
		order_offer(v[i], v[i]->seq, srv_now_ms());
	}
}

void bcast_stored(msg_t *const *v, const unsigned char *dropped, size_t n, void *ctx)
{
	(void)ctx;
	if (bcast_clustered) {
		client_defer_begin(NULL);
		bcast_stored_cluster(v, dropped, n);
		client_defer_end();
		client_defer_free();
		return;
	}
	/* Queue under the locks, write to the sockets after: one wake (or one
	 * non-blocking write) per recipient for the whole batch, never a
	 * blocking write, and no socket call under the table lock. */
	client_defer_begin(NULL);
	table_rdlock();
	for (size_t i = 0; i < n; i++) {
		if (dropped[i])
			bcast_lost(v[i]);
		else
			bcast_deliver(v[i]);
	}
	table_unlock();
	client_defer_end();
	/* the writer thread has no end-of-connection to release the
	 * deferral array at; one allocation per batch is nothing next to
	 * its commit */
	client_defer_free();
}

void bcast_group(group_t *g, json_object *const o[CAT_NLANGS])
{
	outbuf_t *b[CAT_NLANGS];
	size_t max = (size_t)CONF(max_output);
	for (int l = 0; l < CAT_NLANGS; l++)
		b[l] = outbuf_json(o[l]);
	pthread_mutex_lock(&g->seq_lock);
	for (client_t *c = g->present; c; c = c->gnext) {
		outbuf_t *cb = b[atomic_load_explicit(&c->lang, memory_order_relaxed)];
		if (cb)
			client_push(c, cb, 1, max);
	}
	pthread_mutex_unlock(&g->seq_lock);
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(b[l]);
}
