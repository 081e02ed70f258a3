/* store.c - store.h's calls, passed to the backend that opened the
 * connection (the table of functions in its store_t). The backend is
 * chosen once, by store_open(), from the database's name; nothing here
 * knows any database. */
#include "config.h"
#include "store.h"

#include <stdio.h>

#include "log.h"
#include "store_pg.h"

/* Asked in order; the first that claims a name opens it. SQLite claims any
 * name, so it comes last. */
static const struct store_backend *const store_backends[] = {
	&store_pg_backend,
	&store_sqlite_backend,
};

int store_open(const char *path, store_t **out, char *err, size_t errlen)
{
	return store_open_ex(path, 0, out, err, errlen);
}

int store_open_ex(const char *path, unsigned flags, store_t **out, char *err, size_t errlen)
{
	*out = NULL;
	for (size_t i = 0; i < sizeof store_backends / sizeof store_backends[0]; i++)
		if (store_backends[i]->claims(path))
			return store_backends[i]->open(path, flags, out, err, errlen);
	if (err && errlen)
		snprintf(err, errlen, "no database backend for %s", path);
	log_error("store: no database backend for %s", path);
	return STORE_ERR;
}

void store_close(store_t *st)
{
	if (st)
		st->be->close(st);
}

int store_sync_background(store_t *st, int interval_ms, int wal_limit_pages)
{
	if (!st->be->sync_background) {
		log_error("store: the %s backend always syncs at commit", st->be->name);
		return STORE_ERR;
	}
	return st->be->sync_background(st, interval_ms, wal_limit_pages);
}

int store_user_create(store_t *st, const char *username, const char *pwhash, int64_t *id)
{
	return st->be->user_create(st, username, pwhash, id);
}

int store_user_by_name(store_t *st, const char *username, store_user_t *out)
{
	return st->be->user_by_name(st, username, out);
}

int store_user_name_taken(store_t *st, const char *username)
{
	return st->be->user_name_taken(st, username);
}

int store_user_by_id(store_t *st, int64_t id, store_user_t *out)
{
	return st->be->user_by_id(st, id, out);
}

int store_user_set_pwhash(store_t *st, int64_t id, const char *pwhash)
{
	return st->be->user_set_pwhash(st, id, pwhash);
}

int store_user_set_banned(store_t *st, int64_t id, int banned)
{
	return st->be->user_set_banned(st, id, banned);
}

int store_user_rename(store_t *st, int64_t id, const char *username)
{
	return st->be->user_rename(st, id, username);
}

int store_user_delete(store_t *st, int64_t id)
{
	return st->be->user_delete(st, id);
}

int store_user_count(store_t *st, int64_t *n)
{
	return st->be->user_count(st, n);
}

int store_users_foreach(store_t *st, int (*cb)(void *ctx, const store_user_t *u), void *ctx)
{
	return st->be->users_foreach(st, cb, ctx);
}

int store_group_create(store_t *st, const char *name, int is_private, int64_t *id)
{
	return st->be->group_create(st, name, is_private, id);
}

int store_group_by_name(store_t *st, const char *name, store_group_t *out)
{
	return st->be->group_by_name(st, name, out);
}

int store_group_by_id(store_t *st, int64_t id, store_group_t *out)
{
	return st->be->group_by_id(st, id, out);
}

int store_group_set_banned(store_t *st, int64_t id, int banned)
{
	return st->be->group_set_banned(st, id, banned);
}

int store_group_rename(store_t *st, int64_t id, const char *name)
{
	return st->be->group_rename(st, id, name);
}

int store_group_delete(store_t *st, int64_t id)
{
	return st->be->group_delete(st, id);
}

int store_groups_foreach(store_t *st, int (*cb)(void *ctx, const store_group_t *g), void *ctx)
{
	return st->be->groups_foreach(st, cb, ctx);
}

int store_member_add(store_t *st, int64_t group_id, int64_t user_id)
{
	return st->be->member_add(st, group_id, user_id);
}

int store_member_remove(store_t *st, int64_t group_id, int64_t user_id)
{
	return st->be->member_remove(st, group_id, user_id);
}

int store_members_foreach(store_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t user_id),
                          void *ctx)
{
	return st->be->members_foreach(st, cb, ctx);
}

int store_messages_append(store_t *st, const store_msg_t *msgs, size_t n, int dedup_window)
{
	return st->be->messages_append(st, msgs, n, dedup_window);
}

int store_history(store_t *st, int64_t group_id, int64_t after_id, int64_t before_id, int limit,
                  int (*cb)(void *ctx, const store_msg_t *m), void *ctx)
{
	return st->be->history(st, group_id, after_id, before_id, limit, cb, ctx);
}

int store_last_message_id(store_t *st, int64_t *id)
{
	return st->be->last_message_id(st, id);
}

int store_reserve_message_ids(store_t *st, int64_t upto)
{
	return st->be->reserve_message_ids(st, upto);
}

int store_message_count(store_t *st, int64_t group_id, int64_t *n)
{
	return st->be->message_count(st, group_id, n);
}

int store_dedup_get(store_t *st, int64_t user_id, const char *client_msg_id, int64_t *message_id,
                    int64_t *group_id)
{
	return st->be->dedup_get(st, user_id, client_msg_id, message_id, group_id);
}

int store_file_add(store_t *st, const store_file_t *f, int64_t *id)
{
	return st->be->file_add(st, f, id);
}

int store_file_get(store_t *st, int64_t id, store_file_t *out)
{
	return st->be->file_get(st, id, out);
}

int store_file_delete(store_t *st, int64_t id)
{
	return st->be->file_delete(st, id);
}

int store_files_foreach(store_t *st, int64_t group_id, int (*cb)(void *ctx,
                        const store_file_t *f), void *ctx)
{
	return st->be->files_foreach(st, group_id, cb, ctx);
}

size_t store_file_chunk_size(store_t *st)
{
	return st->be->file_chunk;
}

/* A backend that keeps no bytes has none to give or take. */
static int store_no_chunks(store_t *st)
{
	log_error("store: the %s store keeps no file bytes (they are in the data directory)",
	          st->be->name);
	return STORE_ERR;
}

int store_file_chunk_put(store_t *st, const char *stored_name, int64_t idx, const void *data,
                         size_t len)
{
	if (!st->be->file_chunk)
		return store_no_chunks(st);
	return st->be->file_chunk_put(st, stored_name, idx, data, len);
}

int store_file_chunk_get(store_t *st, const char *stored_name, int64_t idx, void *buf,
                         size_t cap, size_t *len)
{
	if (!st->be->file_chunk)
		return store_no_chunks(st);
	return st->be->file_chunk_get(st, stored_name, idx, buf, cap, len);
}

int store_file_chunks_drop(store_t *st, const char *stored_name)
{
	if (!st->be->file_chunk)
		return store_no_chunks(st);
	return st->be->file_chunks_drop(st, stored_name);
}

int store_chat_create(store_t *st, const char *name, const store_chat_meta_t *meta,
                      const int64_t *members, size_t n, int64_t *id)
{
	return st->be->chat_create(st, name, meta, members, n, id);
}

int store_chat_meta_foreach(store_t *st, int (*cb)(void *ctx, const store_chat_meta_t *m), void *ctx)
{
	return st->be->chat_meta_foreach(st, cb, ctx);
}
