/* store_pg_file.c - the PostgreSQL store's uploaded files: what describes
 * them (files) and their bytes (file_chunks), with the meaning of the
 * store.h functions of the same names. In cluster mode every node serves
 * every file from here; the data directory holds none of them.
 *
 * An upload writes its chunks first, each in its own transaction (a
 * transaction must not stay open while a client trickles bytes in), and
 * the files row last: the row is checked against the chunks in the same
 * statement, so a file is listed only once all its bytes are stored.
 * Deleting a file deletes its chunks in the same transaction; the chunks of
 * an upload no node finished are swept (store_pg__file_orphans_sweep). */
#include "config.h"
#include "store_pg_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define STORE_PG_FILE_COLS \
	"id, group_id, uploader_id, uploader_name, filename, stored_name, size, uploaded_at"

static void store_pg_file_row(PGresult *r, int i, store_file_t *f)
{
	f->id = store_pg__int(r, i, 0);
	f->group_id = store_pg__int(r, i, 1);
	f->uploader_id = store_pg__int(r, i, 2);
	snprintf(f->uploader_name, sizeof f->uploader_name, "%s", PQgetvalue(r, i, 3));
	snprintf(f->filename, sizeof f->filename, "%s", PQgetvalue(r, i, 4));
	snprintf(f->stored_name, sizeof f->stored_name, "%s", PQgetvalue(r, i, 5));
	f->size = store_pg__int(r, i, 6);
	f->uploaded_at = strtod(PQgetvalue(r, i, 7), NULL);
}

/* ---- files' metadata -------------------------------------------------- */

int store_pg_file_add(store_t *base, const store_file_t *f, int64_t *id)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	char size[24];

	snprintf(size, sizeof size, "%lld", (long long)f->size);
	pthread_mutex_lock(&st->lock);
	/* no row inserted (STORE_NOTFOUND) unless the chunks hold f->size bytes
	 * and the group still exists (deleted on another node meanwhile) */
	int s = store_pg__q(st, "recording a file", &r, 1,
	                    "INSERT INTO files(group_id, uploader_id, uploader_name, filename, "
	                    "stored_name, size, uploaded_at) "
	                    "SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::text, $6::bigint, "
	                    "$7::double precision FROM "
	                    "(SELECT coalesce(sum(length(data)), 0) AS n FROM file_chunks "
	                    "WHERE stored_name = $5) c WHERE c.n = $6::bigint "
	                    "AND EXISTS (SELECT 1 FROM groups WHERE id = $1::bigint) "
	                    "RETURNING id",
	                    "iissssd", f->group_id, f->uploader_id, f->uploader_name, f->filename,
	                    f->stored_name, size, f->uploaded_at > 0 ? f->uploaded_at : store_pg__now());
	if (s == STORE_OK) {
		*id = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_file_get(store_t *base, int64_t id, store_file_t *out)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	pthread_mutex_lock(&st->lock);
	int s = store_pg__q(st, "reading a file's record", &r, 1,
	                    "SELECT " STORE_PG_FILE_COLS " FROM files WHERE id = $1", "i", id);
	if (s == STORE_OK) {
		store_pg_file_row(r, 0, out);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_file_delete(store_t *base, int64_t id)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	pthread_mutex_lock(&st->lock);
	/* one statement, one transaction: the row and its bytes together */
	int s = store_pg__q(st, "deleting a file", &r, 0,
	                    "WITH f AS (DELETE FROM files WHERE id = $1 RETURNING stored_name), "
	                    "c AS (DELETE FROM file_chunks WHERE stored_name IN "
	                    "(SELECT stored_name FROM f)) "
	                    "SELECT count(*) FROM f",
	                    "i", id);
	if (s == STORE_OK) {
		if (store_pg__int(r, 0, 0) == 0)
			s = STORE_NOTFOUND;
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_files_foreach(store_t *base, int64_t group_id,
                           int (*cb)(void *ctx, const store_file_t *f), void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	PGresult *r;
	store_file_t f;

	pthread_mutex_lock(&st->lock);
	int s = group_id ? store_pg__q(st, "listing files", &r, 0,
	                               "SELECT " STORE_PG_FILE_COLS " FROM files WHERE group_id = $1 "
	                               "ORDER BY id",
	                               "i", group_id)
	                 : store_pg__q(st, "listing files", &r, 0,
	                               "SELECT " STORE_PG_FILE_COLS " FROM files ORDER BY id", "");
	if (s == STORE_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			store_pg_file_row(r, i, &f);
			if (cb(ctx, &f))
				break;
		}
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

/* ---- files' bytes ----------------------------------------------------- */

int store_pg_file_chunk_put(store_t *base, const char *stored_name, int64_t idx, const void *data,
                            size_t len)
{
	store_pg_t *st = store_pg_of(base);
	char i[24], now[32];
	const char *p[4] = { stored_name, i, data, now };
	const int lengths[4] = { 0, 0, (int)len, 0 };
	const int formats[4] = { 0, 0, 1, 0 }; /* the bytes as they are: binary */

	if (len == 0 || len > STORE_PG_FILE_CHUNK || idx < 0 || idx > INT32_MAX) {
		log_error("store: a file chunk of %zu bytes at %lld refused (at most %d bytes each)",
		          len, (long long)idx, STORE_PG_FILE_CHUNK);
		return STORE_ERR;
	}
	/* an upload begins: now and then, first clear what dead nodes left */
	pthread_mutex_lock(&st->lock);
	int sweep = idx == 0 && store_pg__now() - st->orphans_swept >= STORE_PG_ORPHAN_SWEEP_EVERY;
	pthread_mutex_unlock(&st->lock);
	if (sweep)
		store_pg__file_orphans_sweep(st); /* a failure is logged; tried again later */
	snprintf(i, sizeof i, "%lld", (long long)idx);
	snprintf(now, sizeof now, "%.6f", store_pg__now());
	pthread_mutex_lock(&st->lock);
	int s = store_pg__run_bin(st, "storing a file's bytes", NULL,
	                          "INSERT INTO file_chunks(stored_name, idx, data, written_at) "
	                          "VALUES ($1, $2, $3, $4)",
	                          4, p, lengths, formats, 0);
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_file_chunk_get(store_t *base, const char *stored_name, int64_t idx, void *buf,
                            size_t cap, size_t *len)
{
	store_pg_t *st = store_pg_of(base);
	char i[24];
	const char *p[2] = { stored_name, i };
	PGresult *r;

	snprintf(i, sizeof i, "%lld", (long long)idx);
	pthread_mutex_lock(&st->lock);
	/* binary result: the bytes as stored, no hex to decode */
	int s = store_pg__run_bin(st, "reading a file's bytes", &r,
	                          "SELECT data FROM file_chunks WHERE stored_name = $1 AND idx = $2",
	                          2, p, NULL, NULL, 1);
	if (s == STORE_OK) {
		if (PQntuples(r) == 0) {
			s = STORE_NOTFOUND;
		} else if ((size_t)PQgetlength(r, 0, 0) > cap) {
			log_error("store: chunk %lld of file %s has %d bytes, more than %zu",
			          (long long)idx, stored_name, PQgetlength(r, 0, 0), cap);
			s = STORE_ERR;
		} else {
			*len = (size_t)PQgetlength(r, 0, 0);
			memcpy(buf, PQgetvalue(r, 0, 0), *len);
		}
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_file_chunks_drop(store_t *base, const char *stored_name)
{
	store_pg_t *st = store_pg_of(base);
	pthread_mutex_lock(&st->lock);
	int s = store_pg__q(st, "dropping an unfinished upload's bytes", NULL, 0,
	                    "DELETE FROM file_chunks WHERE stored_name = $1", "s", stored_name);
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg__file_orphans_sweep(store_pg_t *st)
{
	pthread_mutex_lock(&st->lock);
	st->orphans_swept = store_pg__now();
	int s = store_pg__q(st, "deleting the bytes of uploads no node finished", NULL, 0,
	                    "DELETE FROM file_chunks WHERE stored_name IN "
	                    "(SELECT c.stored_name FROM file_chunks c GROUP BY c.stored_name "
	                    " HAVING max(c.written_at) < $1 AND NOT EXISTS "
	                    " (SELECT 1 FROM files f WHERE f.stored_name = c.stored_name))",
	                    "d", store_pg__now() - STORE_PG_ORPHAN_CHUNK_AGE);
	pthread_mutex_unlock(&st->lock);
	return s;
}
