/* cluster_sync.h - changes made on one node of a cluster that every other
 * node applies at once, from a "sync" notice on the bus (bus.h):
 *
 *   - an account deleted, renamed or given a new password by Admin: its
 *     session on that node ends with the notice a local one gets, and a
 *     deleted account's memberships go from that node's table;
 *   - a membership removed (leave_chat, remove_member): the member no
 *     longer receives or sends the group's messages there, and a removed
 *     member's session there is told, as on the node that removed it;
 *   - a group deleted: its present clients there move to public, told;
 *   - Admin's announcement of a change (admin_operation_notification) to
 *     every user online there.
 *
 * Additions (groups, memberships), renamed and banned groups and banned or
 * freed accounts travel as the "changed" notice and cluster_refresh()
 * (cluster.h), which is also the safety net for everything here: a lost
 * notice delays a change until the next sweep, never loses it.
 *
 * Publishing (cluster_sync_* but _apply): any thread, no lock held; they
 * do nothing outside cluster mode. cluster_sync_apply(): the bus thread,
 * no lock held; it takes what the state layer and the handlers take. */
#ifndef CHATROOM_CLUSTER_SYNC_H
#define CHATROOM_CLUSTER_SYNC_H

#include <stdint.h>

struct json_object;

enum cluster_account_change {
	CLUSTER_ACCOUNT_DELETED,
	CLUSTER_ACCOUNT_RENAMED,  /* name: the new name */
	CLUSTER_ACCOUNT_PASSWORD,
};

/* Account uid was changed here (after the store took it). */
void cluster_sync_account(int64_t uid, enum cluster_account_change what, const char *name);

/* User uid is no longer a member of group gid: removed by the user named
 * by, or left (by NULL). */
void cluster_sync_member_removed(int64_t gid, int64_t uid, const char *by);

/* Group gid, named name, was deleted here. */
void cluster_sync_group_deleted(int64_t gid, const char *name);

/* Admin's announcement of a change, as admin_operation_notification's
 * fields; messages: its text in each language of the catalog. */
void cluster_sync_admin_note(const char *operation, int64_t operator_id, const char *operator_name,
                             const char *target_type, int64_t target_id, const char *target_name,
                             const char *const *messages);

/* Apply a "sync" notice from node (bus_opts.sync). */
void cluster_sync_apply(struct json_object *o, const char *node);

#endif
