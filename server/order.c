/* order.c - per-group delivery order in cluster mode (order.h): for each
 * group, the next seq to deliver and the messages held back, sorted by
 * seq. Groups are kept in a hash table keyed by id. */
#include "config.h"
#include "order.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"

/* Held-back messages per group past which the oldest gap is given up on:
 * the store is the record, so this only bounds memory when a node lags
 * far behind; what is skipped stays in the history. */
#define ORDER_MAX_HELD 10000
#define ORDER_MIN_SLOTS 64

struct order_held {
	msg_t *m;
	int64_t seq;
	struct order_held *next;
};

struct order_group {
	int64_t gid;
	int64_t next;              /* the seq to deliver next */
	int64_t held_since;        /* now_ms when the oldest held message arrived */
	size_t nheld;
	struct order_held *held;   /* sorted by seq, all > next */
	int used;
};

static struct {
	pthread_mutex_t lock;      /* guards everything below; see order.h */
	order_deliver_fn deliver;
	void *ctx;
	struct order_group *g;     /* open addressing, cap slots */
	size_t cap, len;
	size_t held;
} o = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t order_hash(int64_t gid, size_t cap)
{
	return (size_t)(((uint64_t)gid * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The group's state, created (next = 1) when absent; NULL without memory. */
static struct order_group *order_find(int64_t gid)
{
	size_t i;

	if ((o.len + 1) * 2 > o.cap) {
		size_t cap = o.cap ? o.cap * 2 : ORDER_MIN_SLOTS;
		struct order_group *ng = calloc(cap, sizeof *ng);
		if (!ng)
			return NULL;
		for (size_t j = 0; j < o.cap; j++) {
			if (!o.g[j].used)
				continue;
			for (i = order_hash(o.g[j].gid, cap); ng[i].used; i = (i + 1) & (cap - 1))
				;
			ng[i] = o.g[j];
		}
		free(o.g);
		o.g = ng;
		o.cap = cap;
	}
	for (i = order_hash(gid, o.cap); o.g[i].used; i = (i + 1) & (o.cap - 1))
		if (o.g[i].gid == gid)
			return &o.g[i];
	o.g[i] = (struct order_group){ .gid = gid, .next = 1, .used = 1 };
	o.len++;
	return &o.g[i];
}

void order_init(order_deliver_fn deliver, void *ctx)
{
	pthread_mutex_lock(&o.lock);
	o.deliver = deliver;
	o.ctx = ctx;
	pthread_mutex_unlock(&o.lock);
}

static void order_free_held(struct order_group *g)
{
	while (g->held) {
		struct order_held *h = g->held;
		g->held = h->next;
		msg_unref(h->m);
		free(h);
	}
	o.held -= g->nheld;
	g->nheld = 0;
}

void order_reset(void)
{
	pthread_mutex_lock(&o.lock);
	for (size_t i = 0; i < o.cap; i++)
		if (o.g[i].used)
			order_free_held(&o.g[i]);
	free(o.g);
	o.g = NULL;
	o.cap = o.len = 0;
	pthread_mutex_unlock(&o.lock);
}

void order_set_last(int64_t gid, int64_t last_seq)
{
	pthread_mutex_lock(&o.lock);
	struct order_group *g = order_find(gid);
	if (g && last_seq + 1 > g->next)
		g->next = last_seq + 1;
	pthread_mutex_unlock(&o.lock);
}

/* Deliver the held messages that follow on; lock held. */
static size_t order_drain(struct order_group *g, int64_t now_ms)
{
	size_t n = 0;
	while (g->held && g->held->seq <= g->next) {
		struct order_held *h = g->held;
		g->held = h->next;
		g->nheld--;
		o.held--;
		if (h->seq == g->next) {
			o.deliver(h->m, h->seq, o.ctx);
			g->next++;
			n++;
		}
		msg_unref(h->m);
		free(h);
	}
	/* what is still held waits from now on for the next gap */
	if (g->held && n)
		g->held_since = now_ms;
	return n;
}

size_t order_offer(msg_t *m, int64_t seq, int64_t now_ms)
{
	size_t n = 0;
	struct order_group *g;

	pthread_mutex_lock(&o.lock);
	g = order_find(m->group_id);
	if (!g) {
		log_error("cluster: out of memory ordering messages of group %lld",
		          (long long)m->group_id);
		goto out;
	}
	if (seq < g->next)
		goto out; /* delivered already (a repeat from the bus or a fill) */
	if (seq == g->next) {
		o.deliver(m, seq, o.ctx);
		g->next++;
		n = 1 + order_drain(g, now_ms);
		goto out;
	}
	/* ahead of a missing one: keep it, sorted, once */
	struct order_held **pp = &g->held;
	while (*pp && (*pp)->seq < seq)
		pp = &(*pp)->next;
	if (*pp && (*pp)->seq == seq)
		goto out;
	struct order_held *h = malloc(sizeof *h);
	if (!h) {
		log_error("cluster: out of memory holding back message %lld of group %lld; it "
		          "will be fetched from the store",
		          (long long)m->id, (long long)m->group_id);
		goto out;
	}
	*h = (struct order_held){ .m = msg_ref(m), .seq = seq, .next = *pp };
	if (!g->held)
		g->held_since = now_ms;
	*pp = h;
	g->nheld++;
	o.held++;
	if (g->nheld > ORDER_MAX_HELD) {
		log_error("cluster: group %lld waits for message seq %lld with %zu behind it; "
		          "skipping to seq %lld (the skipped ones are in the history)",
		          (long long)g->gid, (long long)g->next, g->nheld, (long long)g->held->seq);
		g->next = g->held->seq;
		n = order_drain(g, now_ms);
	}
out:
	pthread_mutex_unlock(&o.lock);
	return n;
}

size_t order_gaps(int64_t now_ms, int64_t wait_ms, int64_t *gids, int64_t *after, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&o.lock);
	for (size_t i = 0; i < o.cap && n < max; i++) {
		struct order_group *g = &o.g[i];
		if (g->used && g->held && now_ms - g->held_since >= wait_ms) {
			gids[n] = g->gid;
			after[n++] = g->next - 1;
		}
	}
	pthread_mutex_unlock(&o.lock);
	return n;
}

size_t order_groups(int64_t *gids, int64_t *after, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&o.lock);
	for (size_t i = 0; i < o.cap && n < max; i++) {
		if (o.g[i].used) {
			gids[n] = o.g[i].gid;
			after[n++] = o.g[i].next - 1;
		}
	}
	pthread_mutex_unlock(&o.lock);
	return n;
}

int64_t order_last(int64_t gid)
{
	int64_t last = 0;
	pthread_mutex_lock(&o.lock);
	if (o.cap) {
		for (size_t i = order_hash(gid, o.cap); o.g[i].used; i = (i + 1) & (o.cap - 1)) {
			if (o.g[i].gid == gid) {
				last = o.g[i].next - 1;
				break;
			}
		}
	}
	pthread_mutex_unlock(&o.lock);
	return last;
}

size_t order_held(void)
{
	pthread_mutex_lock(&o.lock);
	size_t n = o.held;
	pthread_mutex_unlock(&o.lock);
	return n;
}
