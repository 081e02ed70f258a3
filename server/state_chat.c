/* state_chat.c - creating groups (with their kind: plain, invite-only or
 * direct), direct chats and the removal of members, in the store and the
 * client table in one order (state.h). */
#include "config.h"
#include "cluster.h"
#include "cluster_sync.h"
#include "state.h"
#include "server.h"
#include "state_store.h"
#include "table.h"
#include "tunables.h"

#include "proto.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Serializes state_direct_open(): the look-up of a pair's chat and its
 * creation are one step, so two openings at once make one chat. Taken with
 * no other lock held; the table and store locks are taken inside it. */
static pthread_mutex_t state_direct_lock = PTHREAD_MUTEX_INITIALIZER;

/* The table's half of a new group: the group, its members and its kind.
 * Needs the table write lock. NULL when out of memory (nothing left). */
static group_t *state_chat_install(int64_t gid, const char *name, const store_chat_meta_t *meta,
                                   const int64_t *ids, size_t n)
{
	/* in cluster mode the bus thread may have loaded it from the store
	 * already (cluster_refresh): one group_t per id */
	group_t *g = table_group(gid);
	if (!g)
		g = table_group_add(gid, name, meta->direct[0] >= 0, 0, proto_now());
	int bad = 0;
	for (size_t k = 0; g && k < n && !bad; k++)
		bad = table_member_add(g, ids[k]) < 0;
	if (g && bad) {
		table_group_remove(g);
		return NULL;
	}
	if (g)
		table_group_set_kind(g, meta->invite_only, meta->creator_id, meta->direct);
	return g;
}

/* Store first, then table; the store row is deleted again when the table
 * has no memory for it. */
static int state_chat_make(const char *name, const store_chat_meta_t *meta, const int64_t *ids,
                           size_t n, int64_t *gid)
{
	int rc = store_chat_create(srv_store, name, meta, ids, n, gid);
	if (rc == STORE_EXISTS)
		return STATE_EXISTS;
	if (rc != STORE_OK)
		return STATE_DB;
	table_wrlock();
	group_t *g = state_chat_install(*gid, name, meta, ids, n);
	table_unlock();
	if (!g) {
		store_group_delete(srv_store, *gid);
		return STATE_NOMEM;
	}
	cluster_changed();
	return STATE_OK;
}

int state_group_create(const char *name, int invite_only, int64_t creator, const int64_t *ids,
                      size_t n, int64_t *gid)
{
	store_chat_meta_t meta = { .invite_only = invite_only != 0, .creator_id = creator,
	                           .direct = { -1, -1 } };
	return state_chat_make(name, &meta, ids, n, gid);
}

int64_t state_direct_find(int64_t a, int64_t b)
{
	table_rdlock();
	group_t *g = table_group_by_pair(a, b);
	int64_t id = g ? g->id : -1;
	table_unlock();
	return id;
}

int state_direct_open(int64_t a, const char *aname, int64_t b, const char *bname, int64_t *gid,
                      char *name, size_t namelen, int *created)
{
	int64_t ids[2] = { a, b }, lo = a < b ? a : b, hi = a < b ? b : a;
	int rc = STATE_OK, found = 0, missing[2] = { 0, 0 };

	*created = 0;
	pthread_mutex_lock(&state_direct_lock);
	/* In cluster mode another node may have made the pair's chat before
	 * this one's table learnt of it: the store then refuses a second one
	 * (STORE_EXISTS), and after a refresh from the store the table has it. */
	for (int round = 0; round < 2; round++) {
		table_rdlock();
		group_t *g = table_group_by_pair(a, b);
		found = g != NULL;
		if (g) {
			*gid = g->id;
			snprintf(name, namelen, "%s", g->name);
			for (int k = 0; k < 2; k++)
				missing[k] = !table_is_member(g, ids[k]);
		}
		table_unlock();
		if (found) {
			/* a direct chat always has its two members once opened */
			for (int k = 0; k < 2 && rc == STATE_OK; k++)
				if (missing[k])
					rc = state_join(*gid, ids[k]);
			goto out;
		}
		store_chat_meta_t meta = { .creator_id = a, .direct = { lo, hi } };
		rc = STATE_EXISTS;
		for (int k = 1; k <= STATE_DIRECT_NAME_TRIES && rc == STATE_EXISTS; k++) {
			if (k == 1)
				snprintf(name, namelen, "%s_%s", aname, bname);
			else
				snprintf(name, namelen, "%s_%s_%d", aname, bname, k);
			rc = state_chat_make(name, &meta, ids, 2, gid);
			/* in a cluster the refusal is most likely the pair's chat,
			 * just made on another node: look for it before more names */
			if (rc == STATE_EXISTS && round == 0 && cluster_enabled())
				break;
		}
		if (rc != STATE_EXISTS || round > 0 || !cluster_enabled() || cluster_refresh() < 0)
			break;
		rc = STATE_OK;
	}
	if (rc == STATE_OK && !found)
		*created = 1;
out:
	pthread_mutex_unlock(&state_direct_lock);
	return rc;
}

void state_member_removed_elsewhere(int64_t gid, int64_t uid, int *moved)
{
	*moved = 0;
	table_wrlock();
	group_t *g = table_group(gid), *pub = table_group_by_name(CR_PUBLIC_GROUP);
	if (g) {
		table_member_remove(g, uid);
		client_t *c = table_user_client(uid);
		if (c && c->cur == g && pub && pub != g) {
			table_enter(c, pub);
			*moved = 1;
		}
	}
	table_unlock();
}

int state_member_remove(int64_t gid, int64_t uid, const char *by, int *moved)
{
	*moved = 0;
	int src = store_member_remove(srv_store, gid, uid);
	if (src != STORE_OK && src != STORE_NOTFOUND) /* not stored as a member: the table follows */
		return STATE_DB;
	state_member_removed_elsewhere(gid, uid, moved);
	cluster_sync_member_removed(gid, uid, by);
	return STATE_OK;
}
