/* state.c - chat state kept in the store and the client table, changed in
 * one order with one undo rule (see state.h): opening and loading the
 * database, bans, memberships and groups. Accounts are in state_account.c,
 * files' metadata in state_file.c. */
#include "config.h"
#include "state.h"
#include "state_store.h"
#include "catalog.h"
#include "cluster.h"
#include "cluster_sync.h"
#include "log.h"
#include "msg.h"
#include "server.h"
#include "store.h"
#include "table.h"
#include "tunables.h"

#include "proto.h"

#include <stdio.h>
#include <stdlib.h>

store_t *srv_store;

int state__of(int rc)
{
	switch (rc) {
	case STORE_OK:
		return STATE_OK;
	case STORE_NOTFOUND:
		return STATE_NOTFOUND;
	case STORE_EXISTS:
		return STATE_EXISTS;
	default:
		return STATE_DB;
	}
}

/* ---- opening and loading ------------------------------------------------ */

int state_open(const char *path, char *err, size_t errlen)
{
	return store_open(path, &srv_store, err, errlen) == STORE_OK ? 0 : -1;
}

void state_close(void)
{
	store_close(srv_store);
	srv_store = NULL;
}

static int state_load_group(void *ctx, const store_group_t *g)
{
	(void)ctx;
	return table_group_add(g->id, g->name, g->is_private, g->banned, g->created_at) ? 0 : 1;
}

static int state_load_member(void *ctx, int64_t gid, int64_t uid)
{
	int *oom = ctx;
	group_t *grp = table_group(gid);
	if (grp && table_member_add(grp, uid) < 0)
		*oom = 1;
	return *oom;
}

static int state_load_user(void *ctx, const store_user_t *u)
{
	int *oom = ctx;
	if (u->banned && table_set_user_banned(u->id, 1) < 0)
		*oom = 1;
	return *oom;
}

/* A group's kind (direct chat, invite-only, creator): after the groups. */
static int state_load_chat_meta(void *ctx, const store_chat_meta_t *m)
{
	(void)ctx;
	group_t *g = table_group(m->group_id);
	if (g)
		table_group_set_kind(g, m->invite_only, m->creator_id, m->direct);
	return 0;
}

int state_load(int64_t *last_id)
{
	int oom = 0, rc;
	/* At start, before any other thread: the table needs no lock yet, and
	 * taking it here would make a database call under it. */
	rc = store_groups_foreach(srv_store, state_load_group, NULL);
	if (rc == STORE_OK)
		rc = store_members_foreach(srv_store, state_load_member, &oom);
	if (rc == STORE_OK && !oom)
		rc = store_chat_meta_foreach(srv_store, state_load_chat_meta, NULL);
	if (rc == STORE_OK && !oom)
		rc = store_users_foreach(srv_store, state_load_user, &oom);
	if (rc == STORE_OK && !oom)
		rc = store_last_message_id(srv_store, last_id);
	return rc == STORE_OK && !oom ? 0 : -1;
}

int state_reserve_message_ids(int64_t upto)
{
	return store_reserve_message_ids(srv_store, upto) == STORE_OK ? 0 : -1;
}

/* ---- stored messages read back ----------------------------------------- */

struct state_msgs_ctx {
	const char *gname;
	int (*cb)(void *ctx, msg_t *m);
	void *ctx;
};

static int state_msg_cb(void *ctx, const store_msg_t *sm)
{
	struct state_msgs_ctx *k = ctx;
	msg_t *m = msg_new(sm->id, sm->group_id, sm->sender_id, sm->ts, sm->sender_name, k->gname,
	                   sm->content, sm->client_msg_id);
	return m ? k->cb(k->ctx, m) : 1;
}

int state_messages_read(int64_t gid, const char *gname, int64_t after, int64_t before, int limit,
                        int (*cb)(void *ctx, msg_t *m), void *ctx)
{
	struct state_msgs_ctx k = { gname, cb, ctx };
	int64_t from = after > 0 ? after : after == 0 ? STORE_FROM_START : 0;
	return state__of(store_history(srv_store, gid, from, before, limit, state_msg_cb, &k));
}

int state_message_sent(int64_t uid, const char *cmid, int64_t *message_id, int64_t *group_id)
{
	return state__of(store_dedup_get(srv_store, uid, cmid, message_id, group_id));
}

/* ---- groups: lookups ---------------------------------------------------- */

static void state_group_copy(state_group_t *d, const store_group_t *g)
{
	d->id = g->id;
	snprintf(d->name, sizeof d->name, "%s", g->name);
	d->is_private = g->is_private;
	d->banned = g->banned;
}

int state_group_by_id(int64_t gid, state_group_t *out)
{
	store_group_t g;
	int rc = store_group_by_id(srv_store, gid, &g);
	if (rc == STORE_OK)
		state_group_copy(out, &g);
	return state__of(rc);
}

int state_group_by_name(const char *name, state_group_t *out)
{
	store_group_t g;
	int rc = store_group_by_name(srv_store, name, &g);
	if (rc == STORE_OK)
		state_group_copy(out, &g);
	return state__of(rc);
}

struct state_groups_ctx {
	int (*cb)(void *ctx, const state_group_t *g);
	void *ctx;
};

static int state_groups_cb(void *ctx, const store_group_t *sg)
{
	struct state_groups_ctx *k = ctx;
	state_group_t g;
	state_group_copy(&g, sg);
	return k->cb(k->ctx, &g);
}

int state_groups_foreach(int (*cb)(void *ctx, const state_group_t *g), void *ctx)
{
	struct state_groups_ctx k = { cb, ctx };
	return state__of(store_groups_foreach(srv_store, state_groups_cb, &k));
}

/* ---- bans and memberships ----------------------------------------------- */

int state_user_set_banned(int64_t uid, int banned)
{
	if (store_user_set_banned(srv_store, uid, banned) != STORE_OK)
		return STATE_DB;
	table_wrlock();
	int rc = table_set_user_banned(uid, banned);
	table_unlock();
	if (rc < 0) {
		/* keep the store and the table telling the same story; if the
		 * undo fails too, the store has the new flag and the next start
		 * loads it */
		store_user_set_banned(srv_store, uid, !banned);
		return STATE_NOMEM;
	}
	cluster_changed();
	return STATE_OK;
}

int state_group_set_banned(int64_t gid, int banned)
{
	if (store_group_set_banned(srv_store, gid, banned) != STORE_OK)
		return STATE_DB;
	table_wrlock();
	group_t *g = table_group(gid);
	if (g)
		g->banned = banned;
	table_groups_changed();
	table_unlock();
	cluster_changed();
	return STATE_OK;
}

int state_join_public(int64_t uid)
{
	table_rdlock();
	group_t *pub = table_group_by_name(CR_PUBLIC_GROUP);
	int64_t pub_id = pub ? pub->id : -1;
	table_unlock();
	if (pub_id < 0)
		return STATE_OK;
	if (store_member_add(srv_store, pub_id, uid) != STORE_OK)
		return STATE_DB;
	table_wrlock();
	int rc = 0;
	if ((pub = table_group(pub_id)))
		rc = table_member_add(pub, uid);
	table_unlock();
	if (rc < 0) {
		store_member_remove(srv_store, pub_id, uid);
		return STATE_NOMEM;
	}
	cluster_changed();
	return STATE_OK;
}

int state_join(int64_t gid, int64_t uid)
{
	if (store_member_add(srv_store, gid, uid) != STORE_OK)
		return STATE_DB;
	table_wrlock();
	int rc = 0;
	group_t *g = table_group(gid);
	if (g)
		rc = table_member_add(g, uid);
	table_unlock();
	if (rc < 0) {
		store_member_remove(srv_store, gid, uid);
		return STATE_NOMEM;
	}
	cluster_changed();
	return STATE_OK;
}

int state_group_rename(int64_t gid, const char *name)
{
	int rc = store_group_rename(srv_store, gid, name);
	if (rc == STORE_EXISTS)
		return STATE_EXISTS;
	if (rc != STORE_OK)
		return STATE_DB;
	table_wrlock();
	group_t *g = table_group(gid);
	if (g)
		table_group_rename(g, name);
	table_unlock();
	cluster_changed();
	return STATE_OK;
}

/* Users present in a group (its clients' ids), not members of public. */
struct state_movers {
	int64_t pub_id; /* -1: no public */
	int64_t *ids;
	size_t n;
};

/* The ids of g's present clients who are not members of pub (read lock);
 * NULL when there are none or on out of memory (then they join in memory
 * first, below). */
static void state_movers(int64_t gid, struct state_movers *m)
{
	table_rdlock();
	group_t *g = table_group(gid), *pub = table_group_by_name(CR_PUBLIC_GROUP);
	m->pub_id = pub ? pub->id : -1;
	if (g && pub && g->npresent && (m->ids = malloc(g->npresent * sizeof *m->ids)))
		for (client_t *c = g->present; c; c = c->gnext)
			if (!table_is_member(pub, c->user_id))
				m->ids[m->n++] = c->user_id;
	table_unlock();
}

int state_group_delete(int64_t gid, struct outbuf *const *notice)
{
	/* its name for the other nodes' notices: the store's, as this node's
	 * table may not know a group just made on another one */
	store_group_t sg;
	char name[160] = "";
	if (store_group_by_id(srv_store, gid, &sg) == STORE_OK)
		snprintf(name, sizeof name, "%s", sg.name);
	int rc = store_group_delete(srv_store, gid);
	if (rc != STORE_OK)
		return state__of(rc);
	state_group_deleted_elsewhere(gid, notice);
	cluster_sync_group_deleted(gid, name);
	return STATE_OK;
}

void state_group_deleted_elsewhere(int64_t gid, struct outbuf *const *notice)
{
	/* Whoever is in the chat now goes back to public, and is told so; they
	 * become members of public in the store first. One who enters the
	 * chat meanwhile becomes one in memory first and in the store after. */
	struct state_movers m = { .pub_id = -1 };
	state_movers(gid, &m);
	for (size_t i = 0; i < m.n; i++)
		if (store_member_add(srv_store, m.pub_id, m.ids[i]) != STORE_OK)
			log_error("could not make user %lld a member of public", (long long)m.ids[i]);
	int64_t *late = NULL, pub_id = -1;
	size_t nlate = 0;

	table_wrlock();
	group_t *g = table_group(gid), *pub = table_group_by_name(CR_PUBLIC_GROUP);
	if (g) {
		late = malloc((g->npresent + 1) * sizeof *late);
		client_t *c;
		while ((c = g->present)) {
			outbuf_t *b = notice[atomic_load_explicit(&c->lang, memory_order_relaxed)];
			if (b)
				client_push(c, b, 1, (size_t)CONF(max_output));
			if (!pub)
				break; /* table_group_remove() takes them out */
			int known = 0;
			for (size_t i = 0; i < m.n && !known; i++)
				known = m.ids[i] == c->user_id;
			if (!known && !table_is_member(pub, c->user_id) && late)
				late[nlate++] = c->user_id;
			table_member_add(pub, c->user_id);
			table_enter(c, pub);
		}
		pub_id = pub ? pub->id : -1;
		table_group_remove(g);
	}
	table_unlock();
	for (size_t i = 0; i < nlate && pub_id >= 0; i++)
		store_member_add(srv_store, pub_id, late[i]);
	free(late);
	free(m.ids);
}
