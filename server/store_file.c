/* store_file.c - the SQLite backend's files' metadata (store.h); the
 * bytes live in the data folder (cmd_file.c). */
#include "config.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void store_file_row(sqlite3_stmt *s, void *out)
{
	store_file_t *f = out;
	memset(f, 0, sizeof *f);
	f->id = sqlite3_column_int64(s, 0);
	f->group_id = sqlite3_column_int64(s, 1);
	f->uploader_id = sqlite3_column_int64(s, 2);
	store__copy(f->uploader_name, sizeof f->uploader_name, sqlite3_column_text(s, 3));
	store__copy(f->filename, sizeof f->filename, sqlite3_column_text(s, 4));
	store__copy(f->stored_name, sizeof f->stored_name, sqlite3_column_text(s, 5));
	f->size = sqlite3_column_int64(s, 6);
	f->uploaded_at = sqlite3_column_double(s, 7);
}

int store_sqlite_file_add(store_t *base, const store_file_t *f, int64_t *id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret = STORE_OK, rc;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store__stmt(st, Q_FILE_INSERT);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, f->group_id);
	sqlite3_bind_int64(s, 2, f->uploader_id);
	sqlite3_bind_text(s, 3, f->uploader_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, f->filename, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, f->stored_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 6, f->size);
	sqlite3_bind_double(s, 7, f->uploaded_at > 0 ? f->uploaded_at : store__now());
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "recording a file");
	else if (id)
		*id = sqlite3_last_insert_rowid(st->db);
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_file_get(store_t *base, int64_t id, store_file_t *out)
{
	return store__row_get(store_sqlite_of(base), Q_FILE_GET, NULL, id, store_file_row, out,
	                      "looking up a file");
}

int store_sqlite_file_delete(store_t *base, int64_t id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret = STORE_OK, rc;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store__stmt(st, Q_FILE_DELETE);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "deleting a file");
	else if (sqlite3_changes(st->db) == 0)
		ret = STORE_NOTFOUND;
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_files_foreach(store_t *base, int64_t group_id,
                        int (*cb)(void *ctx, const store_file_t *f), void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret = STORE_OK, rc;
	store_file_t f;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store__stmt(st, group_id > 0 ? Q_FILES_GROUP : Q_FILES_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	if (group_id > 0)
		sqlite3_bind_int64(s, 1, group_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_file_row(s, &f);
		if (cb(ctx, &f))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "listing files");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
