/* cluster.c - the client table kept in step with PostgreSQL in cluster
 * mode (cluster.h). The store is read into arrays first, then applied
 * under the table's write lock: the store's lock is a leaf. */
#include "config.h"
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "catalog.h"
#include "cluster_presence.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "table.h"

/* Set once at start, before the threads that read it. */
static int cluster_on;

struct cluster_rows {
	store_group_t *g;
	size_t ng, capg;
	int64_t (*m)[2];      /* group id, user id */
	size_t nm, capm;
	int64_t (*u)[2];      /* user id, banned */
	size_t nu, capu;
	store_chat_meta_t *k; /* the groups' kinds (direct, invite-only) */
	size_t nk, capk;
	int oom;
};

/* Room for one more element in *v (n used of *cap); 0, or -1. */
static int cluster_grow(void **v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return -1;
	*v = nv;
	*cap = nc;
	return 0;
}

static int cluster_group_row(void *ctx, const store_group_t *g)
{
	struct cluster_rows *r = ctx;
	if (cluster_grow((void **)&r->g, r->ng, &r->capg, sizeof *r->g) < 0)
		return r->oom = 1;
	r->g[r->ng++] = *g;
	return 0;
}

static int cluster_member_row(void *ctx, int64_t gid, int64_t uid)
{
	struct cluster_rows *r = ctx;
	if (cluster_grow((void **)&r->m, r->nm, &r->capm, sizeof *r->m) < 0)
		return r->oom = 1;
	r->m[r->nm][0] = gid;
	r->m[r->nm++][1] = uid;
	return 0;
}

static int cluster_user_row(void *ctx, const store_user_t *u)
{
	struct cluster_rows *r = ctx;
	if (cluster_grow((void **)&r->u, r->nu, &r->capu, sizeof *r->u) < 0)
		return r->oom = 1;
	r->u[r->nu][0] = u->id;
	r->u[r->nu++][1] = u->banned;
	return 0;
}

static int cluster_meta_row(void *ctx, const store_chat_meta_t *m)
{
	struct cluster_rows *r = ctx;
	if (cluster_grow((void **)&r->k, r->nk, &r->capk, sizeof *r->k) < 0)
		return r->oom = 1;
	r->k[r->nk++] = *m;
	return 0;
}

void cluster_enable(void)
{
	cluster_on = 1;
}

int cluster_enabled(void)
{
	return cluster_on;
}

void cluster_changed(void)
{
	if (cluster_on)
		bus_notify_changed();
}

void cluster_logged_in(int64_t uid)
{
	if (cluster_on)
		bus_notify_login(uid);
}

void cluster_login_elsewhere(int64_t uid, const char *node)
{
	char name[sizeof ((client_t *)0)->username];
	table_wrlock();
	client_t *c = table_user_client(uid);
	/* the close reason is kept as a pointer (client_close): a constant;
	 * the node is logged here */
	if (c) {
		snprintf(name, sizeof name, "%s", c->username);
		session_kick(c, CAT_LOGGED_IN_ELSEWHERE, NULL, "logged in again on another node");
	}
	table_unlock();
	if (c) {
		cpres_login_elsewhere(uid, name, node); /* still online, on that node */
		log_info("cluster: user %lld logged in again on node %s: its session here ends",
		         (long long)uid, node);
	}
}

int cluster_refresh(void)
{
	struct cluster_rows r = { 0 };
	int rc = -1;

	if (store_groups_foreach(srv_store, cluster_group_row, &r) != STORE_OK ||
	    store_members_foreach(srv_store, cluster_member_row, &r) != STORE_OK ||
	    store_chat_meta_foreach(srv_store, cluster_meta_row, &r) != STORE_OK ||
	    store_users_foreach(srv_store, cluster_user_row, &r) != STORE_OK || r.oom) {
		log_error("cluster: cannot read groups, memberships, kinds and bans from the store%s",
		          r.oom ? " (out of memory)" : "");
		goto out;
	}
	table_wrlock();
	for (size_t i = 0; i < r.ng; i++) {
		const store_group_t *sg = &r.g[i];
		group_t *g = table_group(sg->id);
		if (!g) {
			table_group_add(sg->id, sg->name, sg->is_private, sg->banned, sg->created_at);
			continue;
		}
		if (strcmp(g->name, sg->name) != 0)
			snprintf(g->name, sizeof g->name, "%s", sg->name);
		g->banned = sg->banned;
	}
	for (size_t i = 0; i < r.nm; i++) {
		group_t *g = table_group(r.m[i][0]);
		if (g && !table_is_member(g, r.m[i][1]))
			table_member_add(g, r.m[i][1]);
	}
	/* a group's kind never changes once created: set on every pass, as
	 * state_load does at start */
	for (size_t i = 0; i < r.nk; i++) {
		group_t *g = table_group(r.k[i].group_id);
		if (g) {
			g->invite_only = r.k[i].invite_only;
			g->creator_id = r.k[i].creator_id;
			g->direct[0] = r.k[i].direct[0];
			g->direct[1] = r.k[i].direct[1];
		}
	}
	for (size_t i = 0; i < r.nu; i++)
		if (table_user_banned(r.u[i][0]) != (int)r.u[i][1])
			table_set_user_banned(r.u[i][0], (int)r.u[i][1]);
	table_unlock();
	rc = 0;
out:
	free(r.g);
	free(r.m);
	free(r.u);
	free(r.k);
	return rc;
}
