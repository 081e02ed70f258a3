/* cluster_sync.c - changes made on one node applied at once on the others
 * (cluster_sync.h). A notice is {"node", "type": "sync", "what", ...}:
 *
 *   "account"        "user", "change" ("deleted", "renamed", "password"),
 *                    "name" (the new one, when renamed)
 *   "member_removed" "g", "user", "by" (absent when the member left)
 *   "group_deleted"  "g", "name"
 *   "admin_note"     "operation", "operator_id", "operator_name",
 *                    "target_type", "target_id", "target_name", "messages"
 *                    (an array: the text in each language of the catalog)
 *
 * The store took the change on the node that made it: here only memory
 * (the client table) and the clients follow. */
#include "config.h"
#include "cluster_sync.h"

#include <json-c/json.h>
#include <string.h>

#include "bus.h"
#include "catalog.h"
#include "cluster.h"
#include "cmd.h"
#include "log.h"
#include "state.h"

/* A new notice of kind what, or NULL outside cluster mode. */
static json_object *cluster_sync_new(const char *what)
{
	if (!cluster_enabled())
		return NULL;
	json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "what", json_object_new_string(what));
	return o;
}

static void cluster_sync_send(json_object *o)
{
	if (!o)
		return;
	bus_notify_sync(o);
	json_object_put(o);
}

static void cluster_sync_int(json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static void cluster_sync_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

/* The names of enum cluster_account_change on the bus, and what a session
 * ending for it hears and logs (the reason must be a constant: see
 * session_kick). */
static const struct {
	const char *name;
	int notice;
	const char *reason;
} cluster_sync_changes[] = {
	[CLUSTER_ACCOUNT_DELETED] = { "deleted", CAT_ADMIN_ACCOUNT_DELETED,
	                              "account deleted by Admin on another node" },
	[CLUSTER_ACCOUNT_RENAMED] = { "renamed", CAT_ADMIN_RENAMED_NOTICE,
	                              "account renamed by Admin on another node" },
	[CLUSTER_ACCOUNT_PASSWORD] = { "password", CAT_ADMIN_PASSWORD_NOTICE,
	                               "password changed by Admin on another node" },
};
#define CLUSTER_SYNC_NCHANGES (sizeof cluster_sync_changes / sizeof cluster_sync_changes[0])

void cluster_sync_account(int64_t uid, enum cluster_account_change what, const char *name)
{
	json_object *o = cluster_sync_new("account");
	if (!o)
		return;
	cluster_sync_int(o, "user", uid);
	cluster_sync_str(o, "change", cluster_sync_changes[what].name);
	if (name)
		cluster_sync_str(o, "name", name);
	cluster_sync_send(o);
}

void cluster_sync_member_removed(int64_t gid, int64_t uid, const char *by)
{
	json_object *o = cluster_sync_new("member_removed");
	if (!o)
		return;
	cluster_sync_int(o, "g", gid);
	cluster_sync_int(o, "user", uid);
	if (by)
		cluster_sync_str(o, "by", by);
	cluster_sync_send(o);
}

void cluster_sync_group_deleted(int64_t gid, const char *name)
{
	json_object *o = cluster_sync_new("group_deleted");
	if (!o)
		return;
	cluster_sync_int(o, "g", gid);
	cluster_sync_str(o, "name", name);
	cluster_sync_send(o);
}

void cluster_sync_admin_note(const char *operation, int64_t operator_id, const char *operator_name,
                             const char *target_type, int64_t target_id, const char *target_name,
                             const char *const *messages)
{
	json_object *o = cluster_sync_new("admin_note");
	if (!o)
		return;
	cluster_sync_str(o, "operation", operation);
	cluster_sync_int(o, "operator_id", operator_id);
	cluster_sync_str(o, "operator_name", operator_name);
	cluster_sync_str(o, "target_type", target_type);
	cluster_sync_int(o, "target_id", target_id);
	cluster_sync_str(o, "target_name", target_name);
	json_object *m = json_object_new_array();
	for (int l = 0; l < CAT_NLANGS; l++)
		json_object_array_add(m, json_object_new_string(messages[l]));
	json_object_object_add(o, "messages", m);
	cluster_sync_send(o);
}

/* ---- applying (the bus thread) ---------------------------------------- */

/* o's integer key, or -1 when it has none. */
static int64_t cluster_sync_get_int(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static const char *cluster_sync_get_str(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int cluster_sync_account_apply(json_object *o)
{
	int64_t uid = cluster_sync_get_int(o, "user");
	const char *change = cluster_sync_get_str(o, "change"), *name = cluster_sync_get_str(o, "name");
	size_t i;
	for (i = 0; change && i < CLUSTER_SYNC_NCHANGES; i++)
		if (strcmp(change, cluster_sync_changes[i].name) == 0)
			break;
	if (uid < 0 || !change || i == CLUSTER_SYNC_NCHANGES || (i == CLUSTER_ACCOUNT_RENAMED && !name))
		return -1;
	state_account_changed_elsewhere(uid, i == CLUSTER_ACCOUNT_DELETED, cluster_sync_changes[i].notice,
	                                name, cluster_sync_changes[i].reason);
	return 0;
}

static int cluster_sync_admin_note_apply(json_object *o)
{
	const char *messages[CAT_NLANGS];
	const char *op = cluster_sync_get_str(o, "operation");
	const char *opname = cluster_sync_get_str(o, "operator_name");
	const char *ttype = cluster_sync_get_str(o, "target_type");
	const char *tname = cluster_sync_get_str(o, "target_name");
	int64_t opid = cluster_sync_get_int(o, "operator_id"), tid = cluster_sync_get_int(o, "target_id");
	json_object *m;
	if (!op || !opname || !ttype || !tname || opid < 0 || tid < 0 ||
	    !json_object_object_get_ex(o, "messages", &m) || !json_object_is_type(m, json_type_array) ||
	    json_object_array_length(m) != CAT_NLANGS)
		return -1;
	for (int l = 0; l < CAT_NLANGS; l++) {
		json_object *t = json_object_array_get_idx(m, (size_t)l);
		if (!json_object_is_type(t, json_type_string))
			return -1;
		messages[l] = json_object_get_string(t);
	}
	cmd_admin_notify_here(op, opid, opname, ttype, tid, tname, messages);
	return 0;
}

void cluster_sync_apply(json_object *o, const char *node)
{
	const char *what = cluster_sync_get_str(o, "what");
	int rc = -1;
	if (!what) {
		rc = -1;
	} else if (strcmp(what, "account") == 0) {
		rc = cluster_sync_account_apply(o);
	} else if (strcmp(what, "member_removed") == 0) {
		int64_t gid = cluster_sync_get_int(o, "g"), uid = cluster_sync_get_int(o, "user");
		if (gid >= 0 && uid >= 0) {
			cmd_member_removed_elsewhere(gid, uid, cluster_sync_get_str(o, "by"));
			rc = 0;
		}
	} else if (strcmp(what, "group_deleted") == 0) {
		int64_t gid = cluster_sync_get_int(o, "g");
		const char *name = cluster_sync_get_str(o, "name");
		if (gid >= 0 && name) {
			cmd_admin_group_deleted_elsewhere(gid, name);
			rc = 0;
		}
	} else if (strcmp(what, "admin_note") == 0) {
		rc = cluster_sync_admin_note_apply(o);
	}
	if (rc < 0)
		log_warn("cluster: ignoring a change from node %s that this node does not understand (%s)",
		         node, what ? what : "no \"what\"");
}
