/* store_account.c - the SQLite backend's accounts, groups, memberships
 * and bans (store.h). */
#include "config.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- accounts --------------------------------------------------------- */

static void store_user_row(sqlite3_stmt *s, void *out)
{
	store_user_t *u = out;
	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(s, 0);
	store__copy(u->username, sizeof u->username, sqlite3_column_text(s, 1));
	store__copy(u->pwhash, sizeof u->pwhash, sqlite3_column_text(s, 2));
	u->banned = sqlite3_column_int(s, 3);
	u->created_at = sqlite3_column_double(s, 4);
}

/* STORE_EXISTS when another account than except_id has username, in any
 * case. Needs st->lock. */
static int store_name_taken(store_sqlite_t *st, const char *username, int64_t except_id)
{
	sqlite3_stmt *s = store__stmt(st, Q_USER_NAME_TAKEN);
	if (!s)
		return STORE_ERR;
	sqlite3_bind_text(s, 1, username, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, except_id);
	int rc = sqlite3_step(s), ret = STORE_OK;
	if (rc == SQLITE_ROW)
		ret = STORE_EXISTS;
	else if (rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "looking up a user name");
	store__stmt_done(s);
	return ret;
}

int store_sqlite_user_name_taken(store_t *base, const char *username)
{
	store_sqlite_t *st = store_sqlite_of(base);
	pthread_mutex_lock(&st->lock);
	int ret = store_name_taken(st, username, -1);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_create(store_t *base, const char *username, const char *pwhash, int64_t *id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_name_taken(st, username, -1);
	if (ret == STORE_OK)
		ret = store__run(st, Q_USER_INSERT, 0, "creating a user", "ssd", username,
		                pwhash ? pwhash : "", store__now());
	if (ret == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_by_name(store_t *base, const char *username, store_user_t *out)
{
	store_sqlite_t *st = store_sqlite_of(base);
	return store__row_get(st, Q_USER_BY_NAME, username, 0, store_user_row, out,
	                      "looking up a user");
}

int store_sqlite_user_by_id(store_t *base, int64_t id, store_user_t *out)
{
	store_sqlite_t *st = store_sqlite_of(base);
	return store__row_get(st, Q_USER_BY_ID, NULL, id, store_user_row, out, "looking up a user");
}

int store_sqlite_user_set_pwhash(store_t *base, int64_t id, const char *pwhash)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_USER_SET_PWHASH, 1, "setting a password", "is", id, pwhash ? pwhash : "");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_set_banned(store_t *base, int64_t id, int banned)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_USER_SET_BANNED, 1, "banning a user", "ii", id, (int64_t)(banned != 0));
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_rename(store_t *base, int64_t id, const char *username)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_name_taken(st, username, id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_USER_RENAME, 1, "renaming a user", "is", id, username);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_delete(store_t *base, int64_t id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__txn_begin(st);
	if (ret != STORE_OK)
		goto out;
	ret = store__run(st, Q_USER_DELETE_MEMBERS, 0, "deleting a user's memberships", "i", id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_USER_DELETE_DEDUP, 0, "deleting a user's message ids", "i", id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_USER_DELETE, 1, "deleting a user", "i", id);
	if (ret == STORE_OK)
		ret = store__txn_commit(st);
	if (ret != STORE_OK)
		store__txn_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_user_count(store_t *base, int64_t *n)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__scalar(st, Q_USER_COUNT, 0, 0, n, "counting users");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_users_foreach(store_t *base, int (*cb)(void *ctx, const store_user_t *u),
                               void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	store_user_t u;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store__stmt(st, Q_USERS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_user_row(s, &u);
		if (cb(ctx, &u))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "listing users");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* ---- groups and memberships ------------------------------------------- */

static void store_group_row(sqlite3_stmt *s, void *out)
{
	store_group_t *g = out;
	memset(g, 0, sizeof *g);
	g->id = sqlite3_column_int64(s, 0);
	store__copy(g->name, sizeof g->name, sqlite3_column_text(s, 1));
	g->is_private = sqlite3_column_int(s, 2);
	g->banned = sqlite3_column_int(s, 3);
	g->created_at = sqlite3_column_double(s, 4);
}

int store_sqlite_group_create(store_t *base, const char *name, int is_private, int64_t *id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_GROUP_INSERT, 0, "creating a group", "sid", name,
	                (int64_t)(is_private != 0), store__now());
	if (ret == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_group_by_name(store_t *base, const char *name, store_group_t *out)
{
	store_sqlite_t *st = store_sqlite_of(base);
	return store__row_get(st, Q_GROUP_BY_NAME, name, 0, store_group_row, out,
	                      "looking up a group");
}

int store_sqlite_group_by_id(store_t *base, int64_t id, store_group_t *out)
{
	store_sqlite_t *st = store_sqlite_of(base);
	return store__row_get(st, Q_GROUP_BY_ID, NULL, id, store_group_row, out,
	                      "looking up a group");
}

int store_sqlite_group_set_banned(store_t *base, int64_t id, int banned)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_GROUP_SET_BANNED, 1, "banning a group", "ii", id, (int64_t)(banned != 0));
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_group_rename(store_t *base, int64_t id, const char *name)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_GROUP_RENAME, 1, "renaming a group", "is", id, name);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_group_delete(store_t *base, int64_t id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__txn_begin(st);
	if (ret != STORE_OK)
		goto out;
	ret = store__run(st, Q_GROUP_DELETE_MEMBERS, 0, "deleting a group's members", "i", id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_GROUP_DELETE_MESSAGES, 0, "deleting a group's messages", "i", id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_GROUP_DELETE_DEDUP, 0, "deleting a group's message ids", "i", id);
	if (ret == STORE_OK)
		ret = store__run(st, Q_GROUP_DELETE, 1, "deleting a group", "i", id);
	if (ret == STORE_OK)
		ret = store__txn_commit(st);
	if (ret != STORE_OK)
		store__txn_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_groups_foreach(store_t *base, int (*cb)(void *ctx, const store_group_t *g),
                                void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	store_group_t g;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store__stmt(st, Q_GROUPS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_group_row(s, &g);
		if (cb(ctx, &g))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "listing groups");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_member_add(store_t *base, int64_t group_id, int64_t user_id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_MEMBER_ADD, 0, "adding a member", "ii", group_id, user_id);
	/* A missing group or user breaks the foreign key: say "not found". */
	if (ret == STORE_ERR && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = STORE_NOTFOUND;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_member_remove(store_t *base, int64_t group_id, int64_t user_id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_MEMBER_REMOVE, 1, "removing a member", "ii", group_id, user_id);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_members_foreach(store_t *base,
                                 int (*cb)(void *ctx, int64_t group_id, int64_t user_id),
                                 void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store__stmt(st, Q_MEMBERS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "listing members");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
