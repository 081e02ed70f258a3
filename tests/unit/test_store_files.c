/* test_store_files.c - the files table of the SQLite store (server/store.c):
 * recording, looking up, listing and deleting uploaded files. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

struct fixture {
	char dir[64];
	char path[128];
	store_t *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];

	log_init("test_store_files", LOG_LVL_ERROR, 1, 0);
	strcpy(f->dir, "/tmp/test_store_files.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/chat.db", f->dir);
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	store_close(f->st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static store_file_t file_of(int64_t gid, int64_t uid, const char *uname, const char *name,
                            const char *stored, int64_t size)
{
	store_file_t fl;
	memset(&fl, 0, sizeof fl);
	fl.group_id = gid;
	fl.uploader_id = uid;
	snprintf(fl.uploader_name, sizeof fl.uploader_name, "%s", uname);
	snprintf(fl.filename, sizeof fl.filename, "%s", name);
	snprintf(fl.stored_name, sizeof fl.stored_name, "%s", stored);
	fl.size = size;
	fl.uploaded_at = 1700000000.5;
	return fl;
}

static void test_file_add_and_get_keep_every_field(void **state)
{
	struct fixture *f = *state;
	store_file_t in = file_of(1, 7, "alice", "../../etc/passwd.txt", "0123abcd", 123456789012LL);
	store_file_t out;
	int64_t id = 0;

	assert_int_equal(store_file_add(f->st, &in, &id), STORE_OK);
	assert_true(id > 0);
	assert_int_equal(store_file_get(f->st, id, &out), STORE_OK);
	assert_int_equal(out.id, id);
	assert_int_equal(out.group_id, 1);
	assert_int_equal(out.uploader_id, 7);
	assert_string_equal(out.uploader_name, "alice");
	assert_string_equal(out.filename, "../../etc/passwd.txt");
	assert_string_equal(out.stored_name, "0123abcd");
	assert_int_equal(out.size, 123456789012LL);
	assert_true(out.uploaded_at > 1700000000.4 && out.uploaded_at < 1700000000.6);
}

static void test_file_get_unknown_is_notfound(void **state)
{
	struct fixture *f = *state;
	store_file_t out;
	assert_int_equal(store_file_get(f->st, 42, &out), STORE_NOTFOUND);
}

static void test_file_ids_grow_and_are_not_reused(void **state)
{
	struct fixture *f = *state;
	store_file_t in = file_of(1, 1, "bob", "a.txt", "aa", 1);
	int64_t a, b, c;

	assert_int_equal(store_file_add(f->st, &in, &a), STORE_OK);
	assert_int_equal(store_file_add(f->st, &in, &b), STORE_OK);
	assert_true(b > a);
	assert_int_equal(store_file_delete(f->st, b), STORE_OK);
	assert_int_equal(store_file_add(f->st, &in, &c), STORE_OK);
	assert_true(c > b);
}

struct seen {
	int64_t ids[16];
	int64_t groups[16];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const store_file_t *fl)
{
	struct seen *s = ctx;
	s->ids[s->n] = fl->id;
	s->groups[s->n] = fl->group_id;
	s->n++;
	return s->stop_after && s->n == s->stop_after;
}

static void test_files_foreach_lists_one_group_oldest_first(void **state)
{
	struct fixture *f = *state;
	int64_t ids[5];
	const int64_t gids[5] = { 2, 3, 2, 2, 3 };

	for (int i = 0; i < 5; i++) {
		store_file_t in = file_of(gids[i], 1, "carol", "f.txt", "x", i + 1);
		assert_int_equal(store_file_add(f->st, &in, &ids[i]), STORE_OK);
	}
	struct seen s = { .n = 0 };
	assert_int_equal(store_files_foreach(f->st, 2, collect, &s), STORE_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ids[0], ids[0]);
	assert_int_equal(s.ids[1], ids[2]);
	assert_int_equal(s.ids[2], ids[3]);

	struct seen all = { .n = 0 };
	assert_int_equal(store_files_foreach(f->st, 0, collect, &all), STORE_OK);
	assert_int_equal(all.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(all.groups[i], gids[i]);

	struct seen none = { .n = 0 };
	assert_int_equal(store_files_foreach(f->st, 99, collect, &none), STORE_OK);
	assert_int_equal(none.n, 0);

	struct seen early = { .stop_after = 2 };
	assert_int_equal(store_files_foreach(f->st, 0, collect, &early), STORE_OK);
	assert_int_equal(early.n, 2);
}

static void test_file_delete(void **state)
{
	struct fixture *f = *state;
	store_file_t in = file_of(1, 1, "dave", "d.txt", "dd", 5), out;
	int64_t id;

	assert_int_equal(store_file_add(f->st, &in, &id), STORE_OK);
	assert_int_equal(store_file_delete(f->st, id), STORE_OK);
	assert_int_equal(store_file_get(f->st, id, &out), STORE_NOTFOUND);
	assert_int_equal(store_file_delete(f->st, id), STORE_NOTFOUND);
}

static void test_files_persist_across_reopen(void **state)
{
	struct fixture *f = *state;
	store_file_t in = file_of(1, 3, "erin", "keep.pdf", "kk", 99), out;
	char err[512];
	int64_t id;

	assert_int_equal(store_file_add(f->st, &in, &id), STORE_OK);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	assert_int_equal(store_file_get(f->st, id, &out), STORE_OK);
	assert_string_equal(out.filename, "keep.pdf");
	assert_int_equal(out.size, 99);
}

/* A database made before the files table existed gets it on open. */
static void test_files_table_added_to_an_older_database(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	char err[512];
	int64_t id;
	store_file_t in = file_of(1, 1, "old", "o.txt", "oo", 1);

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE files", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	assert_int_equal(store_file_add(f->st, &in, &id), STORE_OK);
}

/* The SQLite store keeps no file bytes (the data directory does): it says
 * so, and the chunk calls fail without storing anything. */
static void test_sqlite_keeps_no_file_bytes(void **state)
{
	struct fixture *f = *state;
	char buf[8];
	size_t len = 0;
	assert_int_equal(store_file_chunk_size(f->st), 0);
	assert_int_equal(store_file_chunk_put(f->st, "abc", 0, "data", 4), STORE_ERR);
	assert_int_equal(store_file_chunk_get(f->st, "abc", 0, buf, sizeof buf, &len), STORE_ERR);
	assert_int_equal(len, 0);
	assert_int_equal(store_file_chunks_drop(f->st, "abc"), STORE_ERR);
	/* a record needs no chunks here */
	store_file_t fl = file_of(1, 0, "Admin", "a.txt", "abc", 4);
	int64_t id;
	assert_int_equal(store_file_add(f->st, &fl, &id), STORE_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_add_and_get_keep_every_field),
		T(test_file_get_unknown_is_notfound),
		T(test_file_ids_grow_and_are_not_reused),
		T(test_files_foreach_lists_one_group_oldest_first),
		T(test_file_delete),
		T(test_files_persist_across_reopen),
		T(test_files_table_added_to_an_older_database),
		T(test_sqlite_keeps_no_file_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
