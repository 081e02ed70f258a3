/* history.c - a group's chat history for history_request and for entering
 * a group: the group's cache of its newest stored messages when it covers
 * the request, the database otherwise (read through the state layer,
 * state_messages_read). See history.h. */
#include "config.h"
#include "history.h"
#include "server.h"
#include "state.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct history_vec {
	msg_t **v;
	size_t n, cap;
};

static int history_vec_push(struct history_vec *vec, msg_t *m)
{
	if (vec->n == vec->cap) {
		size_t ncap = vec->cap ? vec->cap * 2 : 64;
		msg_t **nv = realloc(vec->v, ncap * sizeof *nv);
		if (!nv)
			return -1;
		vec->v = nv;
		vec->cap = ncap;
	}
	vec->v[vec->n++] = m;
	return 0;
}

static int history_stored_cb(void *ctx, msg_t *m)
{
	if (history_vec_push(ctx, m) < 0) {
		msg_unref(m);
		return 1;
	}
	return 0;
}

static int history_idcmp(const void *a, const void *b)
{
	const msg_t *x = *(msg_t *const *)a, *y = *(msg_t *const *)b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Keep the messages the request asks for: sorts, drops duplicate ids and
 * ids outside (after, before), then keeps the oldest `limit` (after) or the
 * newest `limit` (otherwise). */
static void history_select(struct history_vec *vec, int64_t after, int64_t before, int limit)
{
	if (vec->n > 1)
		qsort(vec->v, vec->n, sizeof *vec->v, history_idcmp);
	size_t k = 0;
	for (size_t i = 0; i < vec->n; i++) {
		msg_t *m = vec->v[i];
		if ((k > 0 && vec->v[k - 1]->id == m->id) || (after >= 0 && m->id <= after) ||
		    (before > 0 && m->id >= before)) {
			msg_unref(m);
			continue;
		}
		vec->v[k++] = m;
	}
	vec->n = k;
	if (vec->n <= (size_t)limit)
		return;
	if (after >= 0) {
		for (size_t i = (size_t)limit; i < vec->n; i++)
			msg_unref(vec->v[i]);
	} else {
		size_t drop = vec->n - (size_t)limit;
		for (size_t i = 0; i < drop; i++)
			msg_unref(vec->v[i]);
		memmove(vec->v, vec->v + drop, (size_t)limit * sizeof *vec->v);
	}
	vec->n = (size_t)limit;
}

int history_get(int64_t gid, int64_t after, int64_t before, int limit, msg_t ***out, size_t *n)
{
	struct history_vec vec = { 0 };
	char gname[160] = "";
	int from_cache = 0;

	table_rdlock();
	group_t *g = table_group(gid);
	if (!g) {
		table_unlock();
		return -1;
	}
	snprintf(gname, sizeof gname, "%s", g->name);
	pthread_mutex_lock(&g->seq_lock);
	/* The cache holds every message since its oldest one, so it answers
	 * alone when the requested range starts inside it. */
	if (g->clen > 0) {
		msg_t *oldest = g->cache[g->chead];
		size_t below = 0;
		for (unsigned k = 0; k < g->clen; k++)
			if (before <= 0 || g->cache[(g->chead + k) % TABLE_CACHE]->id < before)
				below++;
		if (after >= 0 ? oldest->id <= after : below >= (size_t)limit)
			from_cache = 1;
		if (from_cache)
			for (unsigned k = 0; k < g->clen; k++)
				history_vec_push(&vec, msg_ref(g->cache[(g->chead + k) % TABLE_CACHE]));
	}
	/* Only stored messages: the cache holds nothing else, and messages
	 * still in the writer's queue are left out, as they are not yet
	 * delivered to anyone either. */
	pthread_mutex_unlock(&g->seq_lock);
	table_unlock();

	if (!from_cache) {
		if (state_messages_read(gid, gname, after, before, limit, history_stored_cb, &vec) !=
		    STATE_OK) {
			history_free(vec.v, vec.n);
			return -1;
		}
	}
	history_select(&vec, after, before, limit);
	*out = vec.v;
	*n = vec.n;
	return 0;
}

void history_free(msg_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		msg_unref(v[i]);
	free(v);
}
