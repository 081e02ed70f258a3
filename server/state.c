/* state.c - chat state kept in the store and the client table, changed in
 * one order with one undo rule; see state.h. */
#include "config.h"
#include "state.h"
#include "cluster.h"
#include "server.h"
#include "store.h"
#include "table.h"
#include "tunables.h"

#include "proto.h"

#include <stdio.h>

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

int state_group_create(const char *name, int is_private, const int64_t *ids, size_t n,
                       int64_t *gid)
{
	int rc = store_group_create_with(srv_store, name, is_private, ids, n, gid);
	if (rc == STORE_EXISTS)
		return STATE_EXISTS;
	if (rc != STORE_OK)
		return STATE_DB;
	int bad = 0;
	table_wrlock();
	/* in cluster mode the bus thread may have loaded it from the store
	 * already (cluster_refresh): one group_t per id */
	group_t *g = table_group(*gid);
	if (!g)
		g = table_group_add(*gid, name, is_private, 0, proto_now());
	for (size_t k = 0; g && k < n && !bad; k++)
		bad = table_member_add(g, ids[k]) < 0;
	if (!g || bad) {
		if (g)
			table_group_remove(g);
	}
	table_unlock();
	if (!g || bad) {
		store_group_delete(srv_store, *gid);
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
		snprintf(g->name, sizeof g->name, "%s", name);
	table_unlock();
	cluster_changed();
	return STATE_OK;
}
