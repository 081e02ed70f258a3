/* cluster.c - the client table kept in step with PostgreSQL in cluster
 * mode (cluster.h). The store is read into arrays first, then applied
 * under the table's write lock: the store's lock is a leaf. What must not
 * happen under that lock (store writes, ending sessions, telling clients)
 * is collected there and done after it, as a change from another node
 * (cluster_sync.h) is. */
#include "config.h"
#include "cluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "catalog.h"
#include "cluster_presence.h"
#include "cmd.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "state.h"
#include "store.h"
#include "store_pg.h"
#include "table.h"
#include "tunables.h"

/* Set once at start, before the threads that read it. */
static int cluster_on;

/* A pass that found the table changed meanwhile reads the store again, up
 * to this many times; then the next sweep does. */
#define CLUSTER_REFRESH_TRIES 3

/* Serialises cluster_refresh() (the bus thread's, and a direct chat
 * opening's: state_direct_lock is held then), so that one pass's older
 * view never lands after a newer one. Taken with no lock held but
 * state_direct_lock; under it, the store's lock and the table lock. */
static pthread_mutex_t cluster_refresh_lock = PTHREAD_MUTEX_INITIALIZER;
/* [cluster_refresh_lock] The store's count of changes (store_pg_changes)
 * when the table last became the store's view; -1: not yet. */
static int64_t cluster_changes_seen = -1;

struct cluster_user {
	int64_t id;
	int banned;
	char name[96];
};

struct cluster_rows {
	store_group_t *g;
	size_t ng, capg;
	int64_t (*m)[2];      /* group id, user id */
	size_t nm, capm;
	struct cluster_user *u;
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
	struct cluster_user *d = &r->u[r->nu++];
	d->id = u->id;
	d->banned = u->banned;
	snprintf(d->name, sizeof d->name, "%s", u->username);
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

/* ---- the refresh ------------------------------------------------------ */

static int cluster_cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cluster_cmp_pair(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;
	return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* What the apply found that is done after the table lock is let go. */
struct cluster_after {
	int64_t *gid;          /* groups deleted in the store */
	char (*gname)[160];
	size_t ng, capg, capgn;
	int64_t *uid;          /* sessions to end: account deleted or renamed */
	const char **uname;    /* the new name (points into the rows), NULL: deleted */
	size_t nu, capu, capun;
	size_t removed;        /* memberships removed */
	size_t nlogged;        /* sessions ended (deleted or renamed accounts) */
	int oom;
};

/* One pass's view while it is applied (table write lock held). */
struct cluster_apply {
	struct cluster_rows *r;
	struct cluster_after *a;
	group_t *pub;
	size_t removed; /* memberships removed */
};

static store_group_t *cluster_find_group(struct cluster_rows *r, int64_t id)
{
	return bsearch(&id, r->g, r->ng, sizeof *r->g, cluster_cmp_id);
}

static struct cluster_user *cluster_find_user(struct cluster_rows *r, int64_t id)
{
	return bsearch(&id, r->u, r->nu, sizeof *r->u, cluster_cmp_id);
}

/* Group g in the table: deleted in the store (noted for later), or its
 * members made the store's. */
static void cluster_apply_group(void *ctx, group_t *g)
{
	struct cluster_apply *k = ctx;
	struct cluster_rows *r = k->r;
	struct cluster_after *a = k->a;
	if (!cluster_find_group(r, g->id)) {
		if (cluster_grow((void **)&a->gid, a->ng, &a->capg, sizeof *a->gid) < 0 ||
		    cluster_grow((void **)&a->gname, a->ng, &a->capgn, sizeof *a->gname) < 0) {
			a->oom = 1;
			return;
		}
		a->gid[a->ng] = g->id;
		snprintf(a->gname[a->ng++], sizeof *a->gname, "%s", g->name);
		return;
	}
	/* the store's members of g: a run of r->m, sorted */
	int64_t key[2] = { g->id, INT64_MIN };
	size_t lo = 0, hi = r->nm;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cluster_cmp_pair(r->m[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < r->nm && r->m[end][0] == g->id)
		end++;
	/* members the store no longer has: from the end, as removing shifts */
	for (size_t i = g->nmembers; i-- > 0;) {
		int64_t uid = g->members[i];
		int64_t want[2] = { g->id, uid };
		if (bsearch(want, r->m + lo, end - lo, sizeof *r->m, cluster_cmp_pair))
			continue;
		table_member_remove(g, uid);
		client_t *c = table_user_client(uid);
		if (c && c->cur == g && k->pub && k->pub != g)
			table_enter(c, k->pub);
		k->removed++;
	}
	for (size_t i = lo; i < end; i++)
		if (!table_is_member(g, r->m[i][1]) && table_member_add(g, r->m[i][1]) < 0)
			a->oom = 1;
}

/* A session whose account the store no longer has, or has under another
 * name: noted, ended after the lock. */
static void cluster_apply_session(void *ctx, client_t *c)
{
	struct cluster_apply *k = ctx;
	struct cluster_after *a = k->a;
	if (!c->logged_in)
		return;
	struct cluster_user *u = cluster_find_user(k->r, c->user_id);
	if (u && strcmp(u->name, c->username) == 0)
		return;
	if (cluster_grow((void **)&a->uid, a->nu, &a->capu, sizeof *a->uid) < 0 ||
	    cluster_grow((void **)&a->uname, a->nu, &a->capun, sizeof *a->uname) < 0) {
		a->oom = 1;
		return;
	}
	a->uid[a->nu] = c->user_id;
	a->uname[a->nu++] = u ? u->name : NULL;
}

/* Make the table the store's view r (write lock held), which is whole:
 * the table did not change since r was read (table_groups_gen), so a
 * group, membership or session it lacks is gone from the store, not too
 * new for r (a group made, a member added, an account registered and
 * logged in here since then each moved the generation). */
static void cluster_apply(struct cluster_rows *r, struct cluster_after *a)
{
	struct cluster_apply k = { .r = r, .a = a, .pub = table_group_by_name(CR_PUBLIC_GROUP) };
	for (size_t i = 0; i < r->ng; i++) {
		const store_group_t *sg = &r->g[i];
		group_t *g = table_group(sg->id);
		if (!g) {
			if (!table_group_add(sg->id, sg->name, sg->is_private, sg->banned, sg->created_at))
				a->oom = 1;
			continue;
		}
		if (strcmp(g->name, sg->name) != 0)
			table_group_rename(g, sg->name);
		g->banned = sg->banned;
	}
	table_groups_foreach(cluster_apply_group, &k);
	/* a group's kind never changes once created: set on every pass, as
	 * state_load does at start */
	for (size_t i = 0; i < r->nk; i++) {
		group_t *g = table_group(r->k[i].group_id);
		if (g)
			table_group_set_kind(g, r->k[i].invite_only, r->k[i].creator_id, r->k[i].direct);
	}
	for (size_t i = 0; i < r->nu; i++)
		if (table_user_banned(r->u[i].id) != r->u[i].banned &&
		    table_set_user_banned(r->u[i].id, r->u[i].banned) < 0)
			a->oom = 1;
	table_clients_foreach(cluster_apply_session, &k);
	a->removed = k.removed;
}

static void cluster_rows_free(struct cluster_rows *r)
{
	free(r->g);
	free(r->m);
	free(r->u);
	free(r->k);
	memset(r, 0, sizeof *r);
}

/* One pass: 1 applied, 0 the table changed meanwhile (nothing applied),
 * -1 the store could not be read (logged). */
static int cluster_refresh_once(struct cluster_after *a)
{
	struct cluster_rows r = { 0 };
	table_rdlock();
	uint64_t gen = table_groups_gen();
	table_unlock();
	if (store_groups_foreach(srv_store, cluster_group_row, &r) != STORE_OK ||
	    store_members_foreach(srv_store, cluster_member_row, &r) != STORE_OK ||
	    store_chat_meta_foreach(srv_store, cluster_meta_row, &r) != STORE_OK ||
	    store_users_foreach(srv_store, cluster_user_row, &r) != STORE_OK || r.oom) {
		log_error("cluster: cannot read groups, memberships, kinds and accounts from the store%s",
		          r.oom ? " (out of memory)" : "");
		cluster_rows_free(&r);
		return -1;
	}
	qsort(r.g, r.ng, sizeof *r.g, cluster_cmp_id);
	qsort(r.m, r.nm, sizeof *r.m, cluster_cmp_pair);
	qsort(r.u, r.nu, sizeof *r.u, cluster_cmp_id);
	table_wrlock();
	/* a change made here after the read is newer than what was read */
	int fresh = table_groups_gen() == gen;
	if (fresh)
		cluster_apply(&r, a);
	table_unlock();
	/* the sessions' names point into r: end them before it is freed */
	for (size_t i = 0; i < a->nu; i++)
		if (a->uname[i])
			state_account_changed_elsewhere(a->uid[i], 0, CAT_ADMIN_RENAMED_NOTICE, a->uname[i],
			                                "account renamed (seen at the sweep)");
		else
			state_account_changed_elsewhere(a->uid[i], 1, CAT_ADMIN_ACCOUNT_DELETED, NULL,
			                                "account deleted (seen at the sweep)");
	a->nlogged += a->nu;
	a->nu = 0;
	cluster_rows_free(&r);
	return fresh;
}

int cluster_refresh(void)
{
	struct cluster_after a = { 0 };
	int64_t changes = -1;
	int rc = 0;

	pthread_mutex_lock(&cluster_refresh_lock);
	/* read first, so that a change committed during the pass moves it
	 * past what is recorded, and the next pass reads again */
	if (store_pg_changes(store_pg_from(srv_store), &changes) != STORE_OK)
		changes = -1; /* logged: read everything */
	if (changes < 0 || changes != cluster_changes_seen) {
		for (int t = 0; t < CLUSTER_REFRESH_TRIES && (rc = cluster_refresh_once(&a)) == 0; t++)
			;
		if (rc == 1 && !a.oom)
			cluster_changes_seen = changes;
		if (a.oom)
			log_error("cluster: out of memory applying the store's groups and memberships; "
			          "tried again at the next sweep");
		rc = rc < 0 ? -1 : 0;
	}
	pthread_mutex_unlock(&cluster_refresh_lock);
	if (a.removed || a.ng || a.nlogged)
		log_info("cluster: the store no longer has %zu membership(s), %zu group(s) and %zu "
		         "account(s) of sessions here: removed here too", a.removed, a.ng, a.nlogged);
	/* groups deleted in the store: their present clients move to public,
	 * told, as a deletion's notice would have done */
	for (size_t i = 0; i < a.ng; i++)
		cmd_admin_group_deleted_elsewhere(a.gid[i], a.gname[i]);
	free(a.gid);
	free(a.gname);
	free(a.uid);
	free(a.uname);
	return rc;
}
