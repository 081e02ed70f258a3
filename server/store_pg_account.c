/* store_pg_account.c - the PostgreSQL store's accounts, groups and
 * memberships (store_pg.h), with the meaning of the store.h functions of
 * the same names. Files are store_pg_file.c's. */
#include "config.h"
#include "store_pg_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_PG_USER_COLS "id, username, pwhash, banned, created_at"
#define STORE_PG_GROUP_COLS "id, name, is_private, banned, created_at"

static void store_pg_user_row(PGresult *r, int i, store_user_t *u)
{
	u->id = store_pg__int(r, i, 0);
	snprintf(u->username, sizeof u->username, "%s", PQgetvalue(r, i, 1));
	snprintf(u->pwhash, sizeof u->pwhash, "%s", PQgetvalue(r, i, 2));
	u->banned = (int)store_pg__int(r, i, 3);
	u->created_at = strtod(PQgetvalue(r, i, 4), NULL);
}

static void store_pg_group_row(PGresult *r, int i, store_group_t *g)
{
	g->id = store_pg__int(r, i, 0);
	snprintf(g->name, sizeof g->name, "%s", PQgetvalue(r, i, 1));
	g->is_private = (int)store_pg__int(r, i, 2);
	g->banned = (int)store_pg__int(r, i, 3);
	g->created_at = strtod(PQgetvalue(r, i, 4), NULL);
}

/* A statement that changes rows, under the lock. */
#define STORE_PG_CHANGE(st, what, must, sql, fmt, ...)                                \
	({                                                                            \
		pthread_mutex_lock(&(st)->lock);                                      \
		int s_ = store_pg__q((st), (what), NULL, (must), (sql), (fmt), __VA_ARGS__); \
		pthread_mutex_unlock(&(st)->lock);                                    \
		s_;                                                                   \
	})

/* ---- accounts --------------------------------------------------------- */

int store_pg_user_create(store_t *base, const char *username, const char *pwhash, int64_t *id)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	int s;

	pthread_mutex_lock(&st->lock);
	/* users_name_nocase makes a name taken in any case STORE_EXISTS */
	s = store_pg__q(st, "creating an account", &r, 0,
	                "INSERT INTO users(username, pwhash, banned, created_at) "
	                "VALUES ($1, $2, 0, $3) RETURNING id",
	                "ssd", username, pwhash ? pwhash : "", store_pg__now());
	if (s == STORE_OK) {
		*id = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

static int store_pg_user_where(store_pg_t *st, const char *sql, const char *fmt, int64_t id,
                               const char *name, store_user_t *out)
{
	PGresult *r;
	int s;

	pthread_mutex_lock(&st->lock);
	s = name ? store_pg__q(st, "reading an account", &r, 1, sql, fmt, name)
	         : store_pg__q(st, "reading an account", &r, 1, sql, fmt, id);
	if (s == STORE_OK) {
		store_pg_user_row(r, 0, out);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_user_by_name(store_t *base, const char *username, store_user_t *out)
{
	store_pg_t *st = store_pg_of(base);
	return store_pg_user_where(st, "SELECT " STORE_PG_USER_COLS " FROM users WHERE username = $1",
	                           "s", 0, username, out);
}

int store_pg_user_by_id(store_t *base, int64_t id, store_user_t *out)
{
	store_pg_t *st = store_pg_of(base);
	return store_pg_user_where(st, "SELECT " STORE_PG_USER_COLS " FROM users WHERE id = $1", "i",
	                           id, NULL, out);
}

int store_pg_user_name_taken(store_t *base, const char *username)
{
	store_pg_t *st = store_pg_of(base);
	store_user_t u;
	int s = store_pg_user_where(st,
	                            "SELECT " STORE_PG_USER_COLS " FROM users "
	                            "WHERE lower(username) = lower($1) LIMIT 1",
	                            "s", 0, username, &u);
	return s == STORE_OK ? STORE_EXISTS : s == STORE_NOTFOUND ? STORE_OK : s;
}

int store_pg_user_set_pwhash(store_t *base, int64_t id, const char *pwhash)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "setting a password", 1,
	                       "UPDATE users SET pwhash = $2 WHERE id = $1", "is", id, pwhash);
}

int store_pg_user_set_banned(store_t *base, int64_t id, int banned)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "banning or freeing an account", 1,
	                       "UPDATE users SET banned = $2 WHERE id = $1", "ii", id,
	                       (int64_t)(banned != 0));
}

int store_pg_user_rename(store_t *base, int64_t id, const char *username)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "renaming an account", 1,
	                       "UPDATE users SET username = $2 WHERE id = $1", "is", id, username);
}

int store_pg_user_delete(store_t *base, int64_t id)
{
	store_pg_t *st = store_pg_of(base);
	/* memberships go with it (ON DELETE CASCADE), and its client_msg_ids
	 * (as in SQLite); its messages stay in the groups' history */
	return STORE_PG_CHANGE(st, "deleting an account", 1,
	                       "WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING id), "
	                       "d AS (DELETE FROM dedup WHERE user_id IN (SELECT id FROM gone)) "
	                       "SELECT id FROM gone",
	                       "i", id);
}

static int store_pg_count(store_pg_t *st, const char *what, const char *sql, const char *fmt,
                          int64_t p1, int64_t *n)
{
	PGresult *r;
	pthread_mutex_lock(&st->lock);
	int s = *fmt ? store_pg__q(st, what, &r, 0, sql, fmt, p1) : store_pg__q(st, what, &r, 0, sql, "");
	if (s == STORE_OK) {
		*n = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_user_count(store_t *base, int64_t *n)
{
	store_pg_t *st = store_pg_of(base);
	return store_pg_count(st, "counting accounts", "SELECT count(*) FROM users", "", 0, n);
}

int store_pg_users_foreach(store_t *base, int (*cb)(void *ctx, const store_user_t *u), void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	store_user_t u;

	pthread_mutex_lock(&st->lock);
	int s = store_pg__q(st, "reading the accounts", &r, 0,
	                    "SELECT " STORE_PG_USER_COLS " FROM users ORDER BY id", "");
	if (s == STORE_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			store_pg_user_row(r, i, &u);
			if (cb(ctx, &u))
				break;
		}
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

/* ---- groups and memberships ------------------------------------------ */

/* A group, its members and (for an invite-only group or a direct chat)
 * its chat_meta row, in one transaction; meta NULL: a plain group. */
static int store_pg_group_insert_once(store_pg_t *st, const char *name, int is_private,
                                      const store_chat_meta_t *meta, const int64_t *members,
                                      size_t n, int64_t *id)
{
	PGresult *r;
	int s = store_pg__run(st, "starting a transaction", NULL, "BEGIN", 0, NULL);
	if (s != STORE_OK)
		return s;
	s = store_pg__q(st, "creating a group", &r, 0,
	                "INSERT INTO groups(name, is_private, banned, created_at) "
	                "VALUES ($1, $2, 0, $3) RETURNING id",
	                "sid", name, (int64_t)(is_private != 0), store_pg__now());
	if (s != STORE_OK)
		goto fail;
	*id = store_pg__int(r, 0, 0);
	PQclear(r);
	for (size_t i = 0; i < n; i++) {
		s = store_pg__q(st, "adding a member", NULL, 0,
		                "INSERT INTO members(group_id, user_id) VALUES ($1, $2) "
		                "ON CONFLICT DO NOTHING",
		                "ii", *id, members[i]);
		if (s != STORE_OK)
			goto fail;
	}
	if (meta) {
		/* chat_meta_direct makes a pair's second chat STORE_EXISTS */
		s = store_pg__q(st, "recording a chat's kind", NULL, 0,
		                "INSERT INTO chat_meta(group_id, invite_only, creator_id, direct_lo, "
		                "direct_hi) VALUES ($1, $2, nullif($3::bigint, -1), "
		                "nullif($4::bigint, -1), nullif($5::bigint, -1))",
		                "iiiii", *id, (int64_t)(meta->invite_only != 0), meta->creator_id,
		                meta->direct[0], meta->direct[1]);
		if (s != STORE_OK)
			goto fail;
	}
	s = store_pg__run(st, "committing a new group", NULL, "COMMIT", 0, NULL);
	if (s == STORE_OK)
		return s;
fail:
	store_pg__run(st, "rolling back", NULL, "ROLLBACK", 0, NULL);
	return s;
}

/* The group's first statement locks the count of changes, its members'
 * rows are locked after it; a change that locked one of those users first
 * (Admin deleting it) and then counts itself meets it the other way round,
 * and PostgreSQL refuses one of the two: run ours again, from the start,
 * as store_pg__run() does for a single statement. */
static int store_pg_group_insert(store_t *base, const char *name, int is_private,
                                 const store_chat_meta_t *meta, const int64_t *members, size_t n,
                                 int64_t *id)
{
	store_pg_t *st = store_pg_of(base);
	int s;

	pthread_mutex_lock(&st->lock);
	for (int tries = 1;; tries++) {
		s = store_pg_group_insert_once(st, name, is_private, meta, members, n, id);
		if (s != STORE_BUSY || tries == STORE_PG_BUSY_TRIES)
			break;
		store_pg__pause_ms(tries * STORE_PG_BUSY_PAUSE_MS);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_group_create(store_t *base, const char *name, int is_private, int64_t *id)
{
	return store_pg_group_insert(base, name, is_private, NULL, NULL, 0, id);
}

int store_pg_chat_create(store_t *base, const char *name, const store_chat_meta_t *meta,
                         const int64_t *members, size_t n, int64_t *id)
{
	return store_pg_group_insert(base, name, meta->direct[0] >= 0, meta, members, n, id);
}

int store_pg_chat_meta_foreach(store_t *base, int (*cb)(void *ctx, const store_chat_meta_t *m),
                               void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	pthread_mutex_lock(&st->lock);
	int s = store_pg__run(st, "listing chats' kinds", &r,
	                      "SELECT group_id, invite_only, coalesce(creator_id, -1), "
	                      "coalesce(direct_lo, -1), coalesce(direct_hi, -1) FROM chat_meta "
	                      "ORDER BY group_id",
	                      0, NULL);
	pthread_mutex_unlock(&st->lock);
	if (s != STORE_OK)
		return s;
	/* the callback runs without the connection's lock: it may use the store */
	for (int i = 0; i < PQntuples(r); i++) {
		store_chat_meta_t m = {
			.group_id = store_pg__int(r, i, 0),
			.invite_only = (int)store_pg__int(r, i, 1),
			.creator_id = store_pg__int(r, i, 2),
			.direct = { store_pg__int(r, i, 3), store_pg__int(r, i, 4) },
		};
		if (cb(ctx, &m))
			break;
	}
	PQclear(r);
	return STORE_OK;
}

static int store_pg_group_where(store_pg_t *st, const char *sql, const char *fmt, int64_t id,
                                const char *name, store_group_t *out)
{
	PGresult *r;
	int s;

	pthread_mutex_lock(&st->lock);
	s = name ? store_pg__q(st, "reading a group", &r, 1, sql, fmt, name)
	         : store_pg__q(st, "reading a group", &r, 1, sql, fmt, id);
	if (s == STORE_OK) {
		store_pg_group_row(r, 0, out);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_group_by_name(store_t *base, const char *name, store_group_t *out)
{
	store_pg_t *st = store_pg_of(base);
	return store_pg_group_where(st, "SELECT " STORE_PG_GROUP_COLS " FROM groups WHERE name = $1",
	                            "s", 0, name, out);
}

int store_pg_group_by_id(store_t *base, int64_t id, store_group_t *out)
{
	store_pg_t *st = store_pg_of(base);
	return store_pg_group_where(st, "SELECT " STORE_PG_GROUP_COLS " FROM groups WHERE id = $1",
	                            "i", id, NULL, out);
}

int store_pg_group_set_banned(store_t *base, int64_t id, int banned)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "banning or freeing a group", 1,
	                       "UPDATE groups SET banned = $2 WHERE id = $1", "ii", id,
	                       (int64_t)(banned != 0));
}

int store_pg_group_rename(store_t *base, int64_t id, const char *name)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "renaming a group", 1, "UPDATE groups SET name = $2 WHERE id = $1",
	                       "is", id, name);
}

int store_pg_group_delete(store_t *base, int64_t id)
{
	store_pg_t *st = store_pg_of(base);
	/* memberships by cascade; messages and their client_msg_ids (no
	 * foreign key) explicitly, in the same statement and so the same
	 * transaction */
	return STORE_PG_CHANGE(st, "deleting a group", 1,
	                       "WITH gone AS (DELETE FROM groups WHERE id = $1 RETURNING id), "
	                       "msgs AS (DELETE FROM messages WHERE group_id IN (SELECT id FROM gone)), "
	                       "d AS (DELETE FROM dedup WHERE group_id IN (SELECT id FROM gone)) "
	                       "SELECT id FROM gone",
	                       "i", id);
}

int store_pg_groups_foreach(store_t *base, int (*cb)(void *ctx, const store_group_t *g),
                            void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	store_group_t g;

	pthread_mutex_lock(&st->lock);
	int s = store_pg__q(st, "reading the groups", &r, 0,
	                    "SELECT " STORE_PG_GROUP_COLS " FROM groups ORDER BY id", "");
	if (s == STORE_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			store_pg_group_row(r, i, &g);
			if (cb(ctx, &g))
				break;
		}
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_member_add(store_t *base, int64_t group_id, int64_t user_id)
{
	store_pg_t *st = store_pg_of(base);
	/* a missing group or user breaks the foreign key: STORE_NOTFOUND */
	return STORE_PG_CHANGE(st, "adding a member", 0,
	                       "INSERT INTO members(group_id, user_id) VALUES ($1, $2) "
	                       "ON CONFLICT DO NOTHING",
	                       "ii", group_id, user_id);
}

int store_pg_member_remove(store_t *base, int64_t group_id, int64_t user_id)
{
	store_pg_t *st = store_pg_of(base);
	return STORE_PG_CHANGE(st, "removing a member", 0,
	                       "DELETE FROM members WHERE group_id = $1 AND user_id = $2", "ii",
	                       group_id, user_id);
}

int store_pg_members_foreach(store_t *base,
                             int (*cb)(void *ctx, int64_t group_id, int64_t user_id), void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;

	pthread_mutex_lock(&st->lock);
	int s = store_pg__q(st, "reading the memberships", &r, 0,
	                    "SELECT group_id, user_id FROM members ORDER BY group_id, user_id", "");
	if (s == STORE_OK) {
		for (int i = 0; i < PQntuples(r); i++)
			if (cb(ctx, store_pg__int(r, i, 0), store_pg__int(r, i, 1)))
				break;
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_message_count(store_t *base, int64_t group_id, int64_t *n)
{
	store_pg_t *st = store_pg_of(base);
	if (group_id == 0)
		return store_pg_count(st, "counting messages", "SELECT count(*) FROM messages", "", 0, n);
	return store_pg_count(st, "counting messages",
	                      "SELECT count(*) FROM messages WHERE group_id = $1", "i", group_id, n);
}
