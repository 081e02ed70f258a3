/* store_chat.c - the SQLite backend's creation of groups: the group, its
 * members and its chat_meta row (direct chats, invite-only groups) in one
 * transaction, and the rows read back at start. */
#include "config.h"
#include "store_sqlite.h"

/* Insert a group and its n members inside the caller's transaction; its
 * id in *gid. STORE_NOTFOUND when a member does not exist. */
static int store_chat_group_insert(store_sqlite_t *st, const char *name, int is_private,
                                   const int64_t *members, size_t n, int64_t *gid)
{
	int ret = store__run(st, Q_GROUP_INSERT, 0, "creating a group", "sid", name,
	                     (int64_t)(is_private != 0), store__now());
	if (ret == STORE_OK)
		*gid = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; ret == STORE_OK && i < n; i++) {
		ret = store__run(st, Q_MEMBER_ADD, 0, "adding a member", "ii", *gid, members[i]);
		if (ret == STORE_ERR && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
			ret = STORE_NOTFOUND;
	}
	return ret;
}

int store_sqlite_chat_create(store_t *base, const char *name, const store_chat_meta_t *meta,
                             const int64_t *members, size_t n, int64_t *id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int64_t gid = 0;
	int is_private = meta->direct[0] >= 0;
	pthread_mutex_lock(&st->lock);
	int ret = store__txn_begin(st);
	if (ret == STORE_OK)
		ret = store_chat_group_insert(st, name, is_private, members, n, &gid);
	/* the unique index on the pair answers STORE_EXISTS like a taken name */
	if (ret == STORE_OK)
		ret = store__run(st, Q_CHAT_META_INSERT, 0, "recording a chat's kind", "iiiii", gid,
		                 (int64_t)(meta->invite_only != 0), meta->creator_id, meta->direct[0],
		                 meta->direct[1]);
	if (ret == STORE_OK)
		ret = store__txn_commit(st);
	if (ret != STORE_OK)
		store__txn_rollback(st);
	else if (id)
		*id = gid;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_chat_meta_foreach(store_t *base, int (*cb)(void *ctx, const store_chat_meta_t *m),
                                   void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store__stmt(st, Q_CHAT_META_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_chat_meta_t m = {
			.group_id = sqlite3_column_int64(s, 0),
			.invite_only = sqlite3_column_int(s, 1),
			.creator_id = sqlite3_column_int64(s, 2),
			.direct = { sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4) },
		};
		if (cb(ctx, &m))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "listing chats' kinds");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
