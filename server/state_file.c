/* state_file.c - files in the state layer: what describes each uploaded
 * file, kept by the database, and in cluster mode its bytes too (with
 * SQLite the bytes are cmd_file.c's, in the data directory). Nothing of it
 * lives in the client table. */
#include "config.h"
#include "state.h"
#include "state_store.h"

#include <stdio.h>
#include <string.h>

/* The two records carry the same fields; the handlers see only this one. */
static void state_file_from(state_file_t *d, const store_file_t *f)
{
	d->id = f->id;
	d->group_id = f->group_id;
	d->uploader_id = f->uploader_id;
	snprintf(d->uploader_name, sizeof d->uploader_name, "%s", f->uploader_name);
	snprintf(d->filename, sizeof d->filename, "%s", f->filename);
	snprintf(d->stored_name, sizeof d->stored_name, "%s", f->stored_name);
	d->size = f->size;
	d->uploaded_at = f->uploaded_at;
}

int state_file_add(const state_file_t *f, int64_t *id)
{
	store_file_t sf = {
		.group_id = f->group_id,
		.uploader_id = f->uploader_id,
		.size = f->size,
		.uploaded_at = f->uploaded_at,
	};
	snprintf(sf.uploader_name, sizeof sf.uploader_name, "%s", f->uploader_name);
	snprintf(sf.filename, sizeof sf.filename, "%s", f->filename);
	snprintf(sf.stored_name, sizeof sf.stored_name, "%s", f->stored_name);
	return state__of(store_file_add(srv_store, &sf, id));
}

int state_file_get(int64_t id, state_file_t *out)
{
	store_file_t f;
	int rc = store_file_get(srv_store, id, &f);
	if (rc == STORE_OK)
		state_file_from(out, &f);
	return state__of(rc);
}

int state_file_delete(int64_t id)
{
	return state__of(store_file_delete(srv_store, id));
}

struct state_files_ctx {
	int (*cb)(void *ctx, const state_file_t *f);
	void *ctx;
};

static int state_files_cb(void *ctx, const store_file_t *sf)
{
	struct state_files_ctx *k = ctx;
	state_file_t f;
	state_file_from(&f, sf);
	return k->cb(k->ctx, &f);
}

int state_files_foreach(int64_t gid, int (*cb)(void *ctx, const state_file_t *f), void *ctx)
{
	struct state_files_ctx k = { cb, ctx };
	return state__of(store_files_foreach(srv_store, gid, state_files_cb, &k));
}

size_t state_file_chunk_size(void)
{
	return store_file_chunk_size(srv_store);
}

int state_file_chunk_put(const char *stored_name, int64_t idx, const void *data, size_t len)
{
	return state__of(store_file_chunk_put(srv_store, stored_name, idx, data, len));
}

int state_file_chunk_get(const char *stored_name, int64_t idx, void *buf, size_t cap,
                         size_t *len)
{
	return state__of(store_file_chunk_get(srv_store, stored_name, idx, buf, cap, len));
}

int state_file_chunks_drop(const char *stored_name)
{
	return state__of(store_file_chunks_drop(srv_store, stored_name));
}
