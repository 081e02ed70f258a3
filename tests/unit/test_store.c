/* test_store.c - the SQLite store (server/store.c) on temporary databases. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_faults.h"
#include "test_slow.h"

struct fixture {
	char dir[64];
	char path[128];
	store_t *st;
};

static void path_in(const struct fixture *f, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", f->dir, name);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];

	log_init("test_store", LOG_LVL_ERROR, 1, 0);
	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	path_in(f, "chat.db", f->path, sizeof f->path);
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[512];

	store_close(f->st);
	snprintf(cmd, sizeof cmd, "chattr -R -i '%s' 2>/dev/null; chmod -R u+w '%s'; rm -rf '%s'",
	         f->dir, f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	char err[512];
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
}

/* One text answer of sql on a separate raw connection. */
static void raw_query(const char *path, const char *sql, char *out, size_t outlen)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* ---- collectors for the foreach functions ---- */

struct idlist {
	int64_t ids[64];
	int64_t ids2[64];
	char names[64][160];
	int n;
	int stop_after; /* 0: never */
};

static int collect_user(void *ctx, const store_user_t *u)
{
	struct idlist *l = ctx;
	l->ids[l->n] = u->id;
	snprintf(l->names[l->n], sizeof l->names[0], "%s", u->username);
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static int collect_group(void *ctx, const store_group_t *g)
{
	struct idlist *l = ctx;
	l->ids[l->n] = g->id;
	snprintf(l->names[l->n], sizeof l->names[0], "%s", g->name);
	l->n++;
	return 0;
}

static int collect_member(void *ctx, int64_t group_id, int64_t user_id)
{
	struct idlist *l = ctx;
	l->ids[l->n] = group_id;
	l->ids2[l->n] = user_id;
	l->n++;
	return 0;
}

static int has_member(store_t *st, int64_t group_id, int64_t user_id)
{
	struct idlist l = { 0 };
	assert_int_equal(store_members_foreach(st, collect_member, &l), STORE_OK);
	for (int i = 0; i < l.n; i++)
		if (l.ids[i] == group_id && l.ids2[i] == user_id)
			return 1;
	return 0;
}

struct hist {
	int64_t ids[64];
	char content[64][32];
	char cmid[64][16];
	int n;
};

static int collect_msg(void *ctx, const store_msg_t *m)
{
	struct hist *h = ctx;
	h->ids[h->n] = m->id;
	snprintf(h->content[h->n], sizeof h->content[0], "%s", m->content);
	snprintf(h->cmid[h->n], sizeof h->cmid[0], "%s", m->client_msg_id ? m->client_msg_id : "-");
	h->n++;
	return 0;
}

static int64_t make_user(store_t *st, const char *name)
{
	int64_t id = -1;
	assert_int_equal(store_user_create(st, name, "hash", &id), STORE_OK);
	return id;
}

static int64_t public_id(store_t *st)
{
	store_group_t g;
	assert_int_equal(store_group_by_name(st, "public", &g), STORE_OK);
	return g.id;
}

/* Append one message (id, group, sender, content, cmid) with window. */
static int append1(store_t *st, int64_t id, int64_t gid, int64_t uid, const char *content,
                   const char *cmid, int window)
{
	store_msg_t m = { .id = id, .group_id = gid, .sender_id = uid, .ts = 1700000000.0 + id,
	                  .sender_name = "someone", .content = content, .client_msg_id = cmid };
	return store_messages_append(st, &m, 1, window);
}

/* ---- schema and defaults ---- */

static void test_new_database_has_admin_public_and_schema(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	store_group_t g;
	int64_t n = -1;
	char res[64];

	assert_int_equal(store_user_by_id(f->st, STORE_ADMIN_ID, &u), STORE_OK);
	assert_string_equal(u.username, "Admin");
	assert_string_equal(u.pwhash, "");
	assert_int_equal(u.banned, 0);
	assert_int_equal(store_group_by_name(f->st, "public", &g), STORE_OK);
	assert_int_equal(g.is_private, 0);
	assert_int_equal(g.banned, 0);
	assert_true(has_member(f->st, g.id, STORE_ADMIN_ID));
	assert_int_equal(store_user_count(f->st, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_last_message_id(f->st, &n), STORE_OK);
	assert_int_equal(n, 0);

	raw_query(f->path, "PRAGMA user_version", res, sizeof res);
	assert_string_equal(res, "2");
	raw_query(f->path, "PRAGMA journal_mode", res, sizeof res);
	assert_string_equal(res, "wal");
	raw_query(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
	                   "name = 'messages_by_group'", res, sizeof res);
	assert_string_equal(res, "1");
}

static void test_reopen_does_not_recreate_defaults(void **state)
{
	struct fixture *f = *state;
	int64_t n = -1;
	struct idlist l = { 0 };

	reopen(f);
	reopen(f);
	assert_int_equal(store_user_count(f->st, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_groups_foreach(f->st, collect_group, &l), STORE_OK);
	assert_int_equal(l.n, 1);
}

/* ---- accounts ---- */

static void test_user_create_and_lookup(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t id = -1, id2 = -1;

	assert_int_equal(store_user_create(f->st, "alice", "$argon2id$x", &id), STORE_OK);
	assert_true(id > STORE_ADMIN_ID);
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_OK);
	assert_int_equal(u.id, id);
	assert_string_equal(u.pwhash, "$argon2id$x");
	assert_int_equal(u.banned, 0);
	assert_true(u.created_at > 1.6e9);
	assert_int_equal(store_user_by_id(f->st, id, &u), STORE_OK);
	assert_string_equal(u.username, "alice");

	assert_int_equal(store_user_create(f->st, "bob", "", &id2), STORE_OK);
	assert_true(id2 > id);
	assert_int_equal(store_user_by_name(f->st, "nobody", &u), STORE_NOTFOUND);
	assert_int_equal(store_user_by_id(f->st, 999, &u), STORE_NOTFOUND);
}

static void test_user_duplicate_name_is_exists(void **state)
{
	struct fixture *f = *state;
	int64_t n;

	make_user(f->st, "alice");
	assert_int_equal(store_user_create(f->st, "alice", "other", NULL), STORE_EXISTS);
	assert_int_equal(store_user_create(f->st, "Admin", "", NULL), STORE_EXISTS);
	assert_int_equal(store_user_count(f->st, &n), STORE_OK);
	assert_int_equal(n, 2);
}

/* Lookalike accounts: names that differ only by case are one name for new
 * accounts and renames; lookups keep the exact name. */
static void test_user_names_differing_by_case_are_taken(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t bob;

	make_user(f->st, "Alice");
	assert_int_equal(store_user_create(f->st, "alice", "x", NULL), STORE_EXISTS);
	assert_int_equal(store_user_create(f->st, "admin", "x", NULL), STORE_EXISTS);
	assert_int_equal(store_user_name_taken(f->st, "ALICE"), STORE_EXISTS);
	assert_int_equal(store_user_name_taken(f->st, "alicia"), STORE_OK);
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_NOTFOUND);
	assert_int_equal(store_user_create(f->st, "bob", "x", &bob), STORE_OK);
	assert_int_equal(store_user_rename(f->st, bob, "aLiCe"), STORE_EXISTS);
	/* a change of case of one's own name is no clash */
	assert_int_equal(store_user_rename(f->st, bob, "Bob"), STORE_OK);
}

/* A database from before the rule may hold such a pair: both keep
 * working after a reopen, and a third spelling is still refused. */
static void test_old_database_with_a_case_clash_keeps_working(void **state)
{
	struct fixture *f = *state;
	store_user_t u1, u2;
	char out[64];

	make_user(f->st, "Carol");
	raw_query(f->path, "INSERT INTO users(username, pwhash, banned, created_at) "
	                   "VALUES('carol', '', 0, 0) RETURNING id", out, sizeof out);
	reopen(f);
	assert_int_equal(store_user_by_name(f->st, "Carol", &u1), STORE_OK);
	assert_int_equal(store_user_by_name(f->st, "carol", &u2), STORE_OK);
	assert_true(u1.id != u2.id);
	assert_int_equal(store_user_create(f->st, "CAROL", "x", NULL), STORE_EXISTS);
}

static void test_user_unicode_name(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t id = make_user(f->st, "用户名字");
	assert_int_equal(store_user_by_name(f->st, "用户名字", &u), STORE_OK);
	assert_int_equal(u.id, id);
}

static void test_user_rename(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t a = make_user(f->st, "alice");
	make_user(f->st, "bob");

	assert_int_equal(store_user_rename(f->st, a, "bob"), STORE_EXISTS);
	assert_int_equal(store_user_rename(f->st, a, "carol"), STORE_OK);
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_NOTFOUND);
	assert_int_equal(store_user_by_name(f->st, "carol", &u), STORE_OK);
	assert_int_equal(u.id, a);
	assert_int_equal(store_user_rename(f->st, 12345, "dave"), STORE_NOTFOUND);
}

static void test_user_ban_and_password(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t a = make_user(f->st, "alice");

	assert_int_equal(store_user_set_banned(f->st, a, 1), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, a, &u), STORE_OK);
	assert_int_equal(u.banned, 1);
	assert_int_equal(store_user_set_banned(f->st, a, 0), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, a, &u), STORE_OK);
	assert_int_equal(u.banned, 0);
	assert_int_equal(store_user_set_banned(f->st, 777, 1), STORE_NOTFOUND);

	assert_int_equal(store_user_set_pwhash(f->st, STORE_ADMIN_ID, "newhash"), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, STORE_ADMIN_ID, &u), STORE_OK);
	assert_string_equal(u.pwhash, "newhash");
	assert_int_equal(store_user_set_pwhash(f->st, 777, "x"), STORE_NOTFOUND);
}

static void test_user_delete_removes_memberships_and_id_is_not_reused(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	int64_t pub = public_id(f->st);
	int64_t a = make_user(f->st, "alice");
	int64_t b;

	assert_int_equal(store_member_add(f->st, pub, a), STORE_OK);
	assert_true(has_member(f->st, pub, a));
	assert_int_equal(append1(f->st, 1, pub, a, "hello", "c1", 10), STORE_OK);
	assert_int_equal(store_user_delete(f->st, a), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, a, &u), STORE_NOTFOUND);
	assert_false(has_member(f->st, pub, a));
	assert_int_equal(store_dedup_get(f->st, a, "c1", NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_user_delete(f->st, a), STORE_NOTFOUND);

	b = make_user(f->st, "alice");
	assert_true(b > a);
}

static void test_users_foreach_in_id_order_and_stops(void **state)
{
	struct fixture *f = *state;
	struct idlist l = { 0 };

	make_user(f->st, "zed");
	make_user(f->st, "amy");
	make_user(f->st, "max");
	assert_int_equal(store_users_foreach(f->st, collect_user, &l), STORE_OK);
	assert_int_equal(l.n, 4);
	for (int i = 1; i < l.n; i++)
		assert_true(l.ids[i] > l.ids[i - 1]);
	assert_string_equal(l.names[0], "Admin");
	assert_string_equal(l.names[1], "zed");

	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	assert_int_equal(store_users_foreach(f->st, collect_user, &l), STORE_OK);
	assert_int_equal(l.n, 2);
}

/* ---- groups and members ---- */

static int count_members(void *ctx, int64_t group_id, int64_t user_id)
{
	int64_t *k = ctx; /* k[0]: the group, k[1]: its members counted */
	(void)user_id;
	if (group_id == k[0])
		k[1]++;
	return 0;
}

/* create_chat with many members is one transaction: everything is stored,
 * or (a member that does not exist) nothing, not a group with some of its
 * members. */
static void test_create_chat_with_many_members_is_one_transaction(void **state)
{
	struct fixture *f = *state;
	int64_t ids[1001], gid = 0;
	char name[32];
	store_group_t g;
	const store_chat_meta_t plain = { .creator_id = -1, .direct = { -1, -1 } };

	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "m%d", i);
		ids[i] = make_user(f->st, name);
	}
	assert_int_equal(store_chat_create(f->st, "crowd", &plain, ids, 1000, &gid), STORE_OK);
	int64_t k[2] = { gid, 0 };
	assert_int_equal(store_members_foreach(f->st, count_members, k), STORE_OK);
	assert_int_equal(k[1], 1000);

	ids[1000] = 987654; /* no such user: the last insert fails */
	assert_int_equal(store_chat_create(f->st, "broken", &plain, ids, 1001, &gid), STORE_NOTFOUND);
	assert_int_equal(store_group_by_name(f->st, "broken", &g), STORE_NOTFOUND);
	assert_int_equal(store_chat_create(f->st, "crowd", &plain, ids, 1, &gid), STORE_EXISTS);
	/* and the store goes on */
	assert_int_equal(store_chat_create(f->st, "broken", &plain, ids, 2, &gid), STORE_OK);
}

static void test_group_create_lookup_and_flags(void **state)
{
	struct fixture *f = *state;
	store_group_t g;
	int64_t a = -1, b = -1;

	assert_int_equal(store_group_create(f->st, "devs", 0, &a), STORE_OK);
	assert_int_equal(store_group_create(f->st, "alice-bob", 1, &b), STORE_OK);
	assert_true(b > a);
	assert_int_equal(store_group_create(f->st, "devs", 0, NULL), STORE_EXISTS);
	assert_int_equal(store_group_by_name(f->st, "alice-bob", &g), STORE_OK);
	assert_int_equal(g.id, b);
	assert_int_equal(g.is_private, 1);
	assert_int_equal(store_group_by_id(f->st, a, &g), STORE_OK);
	assert_string_equal(g.name, "devs");
	assert_int_equal(g.is_private, 0);
	assert_int_equal(store_group_by_name(f->st, "none", &g), STORE_NOTFOUND);

	assert_int_equal(store_group_set_banned(f->st, a, 1), STORE_OK);
	assert_int_equal(store_group_by_id(f->st, a, &g), STORE_OK);
	assert_int_equal(g.banned, 1);
	assert_int_equal(store_group_set_banned(f->st, 999, 1), STORE_NOTFOUND);

	assert_int_equal(store_group_rename(f->st, a, "public"), STORE_EXISTS);
	assert_int_equal(store_group_rename(f->st, a, "ops"), STORE_OK);
	assert_int_equal(store_group_by_name(f->st, "ops", &g), STORE_OK);
	assert_int_equal(g.id, a);
	assert_int_equal(store_group_rename(f->st, 999, "x"), STORE_NOTFOUND);
}

static void test_members_add_remove(void **state)
{
	struct fixture *f = *state;
	int64_t g = -1, a = make_user(f->st, "alice"), b = make_user(f->st, "bob");

	assert_int_equal(store_group_create(f->st, "devs", 0, &g), STORE_OK);
	assert_int_equal(store_member_add(f->st, g, a), STORE_OK);
	assert_int_equal(store_member_add(f->st, g, a), STORE_OK); /* already: OK */
	assert_int_equal(store_member_add(f->st, g, b), STORE_OK);
	assert_true(has_member(f->st, g, a));
	assert_true(has_member(f->st, g, b));
	assert_int_equal(store_member_add(f->st, g, 999), STORE_NOTFOUND);
	assert_int_equal(store_member_add(f->st, 999, a), STORE_NOTFOUND);

	assert_int_equal(store_member_remove(f->st, g, a), STORE_OK);
	assert_false(has_member(f->st, g, a));
	assert_true(has_member(f->st, g, b));
	assert_int_equal(store_member_remove(f->st, g, a), STORE_NOTFOUND);
}

static void test_group_delete_removes_members_messages_and_dedup(void **state)
{
	struct fixture *f = *state;
	store_group_t gr;
	int64_t g = -1, n = -1, a = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &g), STORE_OK);
	assert_int_equal(store_member_add(f->st, g, a), STORE_OK);
	assert_int_equal(append1(f->st, 5, g, a, "x", "c5", 10), STORE_OK);
	assert_int_equal(append1(f->st, 6, public_id(f->st), a, "y", "c6", 10), STORE_OK);

	assert_int_equal(store_group_delete(f->st, g), STORE_OK);
	assert_int_equal(store_group_by_id(f->st, g, &gr), STORE_NOTFOUND);
	assert_false(has_member(f->st, g, a));
	assert_int_equal(store_message_count(f->st, g, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_dedup_get(f->st, a, "c5", NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, a, "c6", NULL, NULL), STORE_OK);
	assert_int_equal(store_group_delete(f->st, g), STORE_NOTFOUND);
}

/* ---- messages ---- */

/* Ids 1..20: odd ids in group a, even ids in group b. */
static void fill_two_groups(store_t *st, int64_t a, int64_t b, int64_t uid)
{
	store_msg_t m[20];
	char content[20][16];
	for (int i = 0; i < 20; i++) {
		snprintf(content[i], sizeof content[i], "m%d", i + 1);
		m[i] = (store_msg_t){ .id = i + 1, .group_id = (i % 2 == 0) ? a : b, .sender_id = uid,
		                      .ts = 1700000000.0 + i, .sender_name = "alice",
		                      .content = content[i], .client_msg_id = NULL };
	}
	assert_int_equal(store_messages_append(st, m, 20, 100), STORE_OK);
}

static void test_messages_append_and_count(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), b = -1, n = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &b), STORE_OK);
	fill_two_groups(f->st, a, b, uid);
	assert_int_equal(store_message_count(f->st, a, &n), STORE_OK);
	assert_int_equal(n, 10);
	assert_int_equal(store_message_count(f->st, b, &n), STORE_OK);
	assert_int_equal(n, 10);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 20);
	assert_int_equal(store_last_message_id(f->st, &n), STORE_OK);
	assert_int_equal(n, 20);
}

static void test_history_newest_is_oldest_first(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	int64_t a = public_id(f->st), b = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &b), STORE_OK);
	fill_two_groups(f->st, a, b, uid);
	assert_int_equal(store_history(f->st, a, 0, 0, 3, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.ids[0], 15);
	assert_int_equal(h.ids[1], 17);
	assert_int_equal(h.ids[2], 19);
	assert_string_equal(h.content[2], "m19");

	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, b, 0, 0, 50, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 10);
	assert_int_equal(h.ids[0], 2);
	assert_int_equal(h.ids[9], 20);
}

static void test_history_after_pages_forward(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	int64_t a = public_id(f->st), b = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &b), STORE_OK);
	fill_two_groups(f->st, a, b, uid);
	assert_int_equal(store_history(f->st, a, 4, 0, 3, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.ids[0], 5);
	assert_int_equal(h.ids[2], 9);
	/* next page, after the last id seen */
	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, a, 9, 0, 3, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.ids[0], 11);
	/* past the end */
	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, a, 19, 0, 3, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 0);
}

static void test_history_before_pages_backward(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	int64_t a = public_id(f->st), b = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &b), STORE_OK);
	fill_two_groups(f->st, a, b, uid);
	assert_int_equal(store_history(f->st, a, 0, 11, 3, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.ids[0], 5);
	assert_int_equal(h.ids[1], 7);
	assert_int_equal(h.ids[2], 9);
	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, a, 0, 3, 10, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.ids[0], 1);
}

static void test_history_both_bounds_and_limits(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	int64_t a = public_id(f->st), b = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &b), STORE_OK);
	fill_two_groups(f->st, a, b, uid);
	assert_int_equal(store_history(f->st, a, 3, 13, 100, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 4); /* 5 7 9 11 */
	assert_int_equal(h.ids[0], 5);
	assert_int_equal(h.ids[3], 11);
	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, a, 0, 0, 0, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 0);
	memset(&h, 0, sizeof h);
	assert_int_equal(store_history(f->st, 999, 0, 0, 10, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 0);
}

static void test_history_keeps_client_msg_id_and_fields(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	int64_t a = public_id(f->st), uid = make_user(f->st, "alice");

	assert_int_equal(append1(f->st, 1, a, uid, "with id", "abc", 10), STORE_OK);
	assert_int_equal(append1(f->st, 2, a, uid, "without", NULL, 10), STORE_OK);
	assert_int_equal(store_history(f->st, a, 0, 0, 10, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.cmid[0], "abc");
	assert_string_equal(h.cmid[1], "-");
	assert_string_equal(h.content[1], "without");
}

static void test_append_is_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), n = -1, uid = make_user(f->st, "alice");
	store_msg_t m[3] = {
		{ .id = 1, .group_id = a, .sender_id = uid, .sender_name = "alice", .content = "1",
		  .client_msg_id = "x1" },
		{ .id = 2, .group_id = a, .sender_id = uid, .sender_name = "alice", .content = "2" },
		{ .id = 1, .group_id = a, .sender_id = uid, .sender_name = "alice", .content = "dup" },
	};

	log_set_level(-1); /* the failure below is expected */
	assert_int_equal(store_messages_append(f->st, m, 3, 10), STORE_EXISTS);
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_dedup_get(f->st, uid, "x1", NULL, NULL), STORE_NOTFOUND);
	/* the connection is usable afterwards */
	assert_int_equal(store_messages_append(f->st, m, 2, 10), STORE_OK);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 2);
}

/* ---- de-duplication ---- */

static void test_dedup_get_returns_first_message(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), uid = make_user(f->st, "alice"),
		other = make_user(f->st, "bob"), mid = -1, gid = -1;

	assert_int_equal(append1(f->st, 7, a, uid, "hi", "k1", 10), STORE_OK);
	assert_int_equal(store_dedup_get(f->st, uid, "k1", &mid, &gid), STORE_OK);
	assert_int_equal(mid, 7);
	assert_int_equal(gid, a);
	/* the same client_msg_id from someone else is a different message */
	assert_int_equal(store_dedup_get(f->st, other, "k1", &mid, &gid), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, uid, "k2", &mid, &gid), STORE_NOTFOUND);
	/* a repeated id in a later batch keeps the first mapping */
	assert_int_equal(append1(f->st, 8, a, uid, "again", "k1", 10), STORE_OK);
	assert_int_equal(store_dedup_get(f->st, uid, "k1", &mid, &gid), STORE_OK);
	assert_int_equal(mid, 7);
}

static void test_dedup_window_keeps_newest_per_user(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), uid = make_user(f->st, "alice"),
		other = make_user(f->st, "bob"), mid;
	char cmid[16];

	assert_int_equal(append1(f->st, 1, a, other, "b", "b1", 3), STORE_OK);
	for (int i = 1; i <= 6; i++) {
		snprintf(cmid, sizeof cmid, "a%d", i);
		assert_int_equal(append1(f->st, 100 + i, a, uid, "x", cmid, 3), STORE_OK);
	}
	assert_int_equal(store_dedup_get(f->st, uid, "a1", &mid, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, uid, "a3", &mid, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, uid, "a4", &mid, NULL), STORE_OK);
	assert_int_equal(mid, 104);
	assert_int_equal(store_dedup_get(f->st, uid, "a6", &mid, NULL), STORE_OK);
	/* another user's rows are not trimmed by alice's messages */
	assert_int_equal(store_dedup_get(f->st, other, "b1", &mid, NULL), STORE_OK);
}

static void test_dedup_window_in_one_batch(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), uid = make_user(f->st, "alice");
	store_msg_t m[10];
	char cmid[10][8];
	char res[32];

	for (int i = 0; i < 10; i++) {
		snprintf(cmid[i], sizeof cmid[i], "c%d", i);
		m[i] = (store_msg_t){ .id = i + 1, .group_id = a, .sender_id = uid,
		                      .sender_name = "alice", .content = "x", .client_msg_id = cmid[i] };
	}
	assert_int_equal(store_messages_append(f->st, m, 10, 4), STORE_OK);
	assert_int_equal(store_dedup_get(f->st, uid, "c5", NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, uid, "c6", NULL, NULL), STORE_OK);
	assert_int_equal(store_dedup_get(f->st, uid, "c9", NULL, NULL), STORE_OK);
	raw_query(f->path, "SELECT count(*) FROM dedup", res, sizeof res);
	assert_string_equal(res, "4");
}

/* With a larger window the rows are trimmed in bulk: never fewer than the
 * window, never more than the window plus window/8 - 1. */
static void test_dedup_window_trims_in_bulk(void **state)
{
	struct fixture *f = *state;
	int64_t a = public_id(f->st), uid = make_user(f->st, "alice");
	char cmid[16], sql[128], res[32];
	int max_rows = 0, trims = 0, prev = 0;

	snprintf(sql, sizeof sql, "SELECT count(*) FROM dedup WHERE user_id = %lld", (long long)uid);
	for (int i = 1; i <= 100; i++) {
		int rows;
		snprintf(cmid, sizeof cmid, "m%d", i);
		assert_int_equal(append1(f->st, i, a, uid, "x", cmid, 16), STORE_OK);
		raw_query(f->path, sql, res, sizeof res);
		rows = atoi(res);
		assert_true(rows >= (i < 16 ? i : 16));
		assert_true(rows <= 16 + 16 / 8 - 1);
		if (rows < prev)
			trims++;
		prev = rows;
		if (rows > max_rows)
			max_rows = rows;
		/* the newest 16 are always there */
		for (int j = (i > 16 ? i - 15 : 1); j <= i; j++) {
			snprintf(cmid, sizeof cmid, "m%d", j);
			assert_int_equal(store_dedup_get(f->st, uid, cmid, NULL, NULL), STORE_OK);
		}
	}
	assert_int_equal(max_rows, 17);
	assert_true(trims > 10); /* every other message here, not each one */
	assert_true(trims < 60);
	/* after a reopen the first message trims at once */
	reopen(f);
	assert_int_equal(append1(f->st, 101, a, uid, "x", "m101", 8), STORE_OK);
	raw_query(f->path, sql, res, sizeof res);
	assert_int_equal(atoi(res), 8);
}

static void test_last_message_id_survives_group_delete(void **state)
{
	struct fixture *f = *state;
	int64_t g = -1, n = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 0, &g), STORE_OK);
	assert_int_equal(append1(f->st, 1, public_id(f->st), uid, "a", NULL, 10), STORE_OK);
	assert_int_equal(append1(f->st, 41, g, uid, "b", NULL, 10), STORE_OK);
	assert_int_equal(store_group_delete(f->st, g), STORE_OK);
	reopen(f);
	assert_int_equal(store_last_message_id(f->st, &n), STORE_OK);
	assert_int_equal(n, 41);
}

/* ---- persistence and faults ---- */

static void test_everything_persists_across_reopen(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	store_group_t g;
	struct hist h = { 0 };
	int64_t gid = -1, mid = -1, uid = make_user(f->st, "alice");

	assert_int_equal(store_group_create(f->st, "devs", 1, &gid), STORE_OK);
	assert_int_equal(store_member_add(f->st, gid, uid), STORE_OK);
	assert_int_equal(store_user_set_banned(f->st, uid, 1), STORE_OK);
	assert_int_equal(append1(f->st, 3, gid, uid, "kept", "k", 10), STORE_OK);
	reopen(f);
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_OK);
	assert_int_equal(u.id, uid);
	assert_int_equal(u.banned, 1);
	assert_int_equal(store_group_by_id(f->st, gid, &g), STORE_OK);
	assert_int_equal(g.is_private, 1);
	assert_true(has_member(f->st, gid, uid));
	assert_int_equal(store_history(f->st, gid, 0, 0, 10, collect_msg, &h), STORE_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.content[0], "kept");
	assert_int_equal(store_dedup_get(f->st, uid, "k", &mid, NULL), STORE_OK);
	assert_int_equal(mid, 3);
}

static void test_not_a_database_is_corrupt_with_advice(void **state)
{
	struct fixture *f = *state;
	char path[160], err[512] = "";
	char junk[8192];
	store_t *st = NULL;

	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 7 + 3);
	path_in(f, "junk.db", path, sizeof path);
	write_file(path, junk, sizeof junk);
	log_set_level(-1);
	assert_int_equal(store_open(path, &st, err, sizeof err), STORE_CORRUPT);
	log_set_level(LOG_LVL_ERROR);
	assert_null(st);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "backup"));
}

static void test_damaged_database_is_corrupt(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", big[2000];
	store_t *st = NULL;
	int64_t pub = public_id(f->st);
	struct stat sb;
	int fd;

	/* enough rows for several b-tree pages, then checkpointed into the file */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 1; i <= 200; i++)
		assert_int_equal(append1(f->st, i, pub, 0, big, NULL, 10), STORE_OK);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(sb.st_size > 40 * 4096);

	/* scribble over pages in the middle of the file */
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	memset(big, 0xA5, sizeof big);
	for (off_t off = 8 * 4096; off < 30 * 4096; off += 4096)
		assert_int_equal(pwrite(fd, big, 200, off), 200);
	close(fd);

	log_set_level(-1);
	assert_int_equal(store_open(f->path, &st, err, sizeof err), STORE_CORRUPT);
	assert_null(st);
	assert_non_null(strstr(err, "backup"));
	assert_non_null(strstr(err, "integrity"));
	/* teardown must not close it again */
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_CORRUPT);
	log_set_level(LOG_LVL_ERROR);
}

/* Make a file immutable (chattr +i) or not; works for root, where file
 * permissions do not stop writes. -1 when not possible here. */
static int set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY), attr = 0, rc = -1;
	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
		attr = on ? (attr | FS_IMMUTABLE_FL) : (attr & ~FS_IMMUTABLE_FL);
		rc = ioctl(fd, FS_IOC_SETFLAGS, &attr);
	}
	close(fd);
	return rc;
}

/* A file the server may not write is refused at start with advice, rather
 * than opened read-only (SQLite's quiet fallback). As root, permissions do
 * not apply: the file is made immutable instead. */
static void test_readonly_file_refused_at_open(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	store_t *st = NULL;
	int immutable = 0;

	store_close(f->st);
	f->st = NULL;
	if (geteuid() == 0) {
		if (set_immutable(f->path, 1) != 0)
			skip(); /* no CAP_LINUX_IMMUTABLE or no support in this file system */
		immutable = 1;
	} else {
		assert_int_equal(chmod(f->path, 0444), 0);
	}
	log_set_level(-1);
	assert_int_equal(store_open(f->path, &st, err, sizeof err), STORE_READONLY);
	log_set_level(LOG_LVL_ERROR);
	assert_null(st);
	assert_non_null(strstr(err, "writable"));
	if (immutable)
		assert_int_equal(set_immutable(f->path, 0), 0);
	else
		assert_int_equal(chmod(f->path, 0644), 0);
	reopen(f);
}

/* Disk full: the batch is refused with STORE_FULL and rolled back, and
 * the store works again once there is room. */
static void test_disk_full_is_full_and_rolls_back(void **state)
{
	struct fixture *f = *state;
	char big[3000];
	store_msg_t m[100];
	int64_t pub = public_id(f->st), n = -1, id;

	if (faults_install() != 0)
		skip();
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 100; i++)
		m[i] = (store_msg_t){ .id = i + 1, .group_id = pub, .sender_id = 0,
		                      .sender_name = "Admin", .content = big };

	faults_set(ENOSPC);
	log_set_level(-1);
	assert_int_equal(store_messages_append(f->st, m, 100, 10), STORE_FULL);
	assert_int_equal(store_user_create(f->st, "alice", "", &id), STORE_FULL);
	log_set_level(LOG_LVL_ERROR);
	faults_set(0);

	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_messages_append(f->st, m, 100, 10), STORE_OK);
	assert_int_equal(store_user_create(f->st, "alice", "", &id), STORE_OK);
	reopen(f);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 100);
}

/* An I/O error is a plain STORE_ERR, and leaves no half-written batch. */
static void test_write_error_rolls_back(void **state)
{
	struct fixture *f = *state;
	int64_t pub = public_id(f->st), n = -1;

	if (faults_install() != 0)
		skip();
	assert_int_equal(append1(f->st, 1, pub, 0, "before", "c1", 10), STORE_OK);
	faults_set(EIO);
	log_set_level(-1);
	assert_int_equal(append1(f->st, 2, pub, 0, "lost", "c2", 10), STORE_ERR);
	log_set_level(LOG_LVL_ERROR);
	faults_set(0);
	assert_int_equal(append1(f->st, 3, pub, 0, "after", "c3", 10), STORE_OK);
	reopen(f);
	assert_int_equal(store_message_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_dedup_get(f->st, 0, "c2", NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(f->st, 0, "c3", NULL, NULL), STORE_OK);
}

static void test_missing_directory_fails_with_reason(void **state)
{
	char err[512] = "";
	store_t *st = NULL;

	log_set_level(-1);
	assert_int_equal(store_open("/nonexistent-dir-for-test/chat.db", &st, err, sizeof err),
	                 STORE_ERR);
	log_set_level(LOG_LVL_ERROR);
	assert_null(st);
	assert_non_null(strstr(err, "/nonexistent-dir-for-test/chat.db"));
	(void)state;
}

/* A directory where SQLite's -wal file belongs: nothing can be written,
 * and the message names the culprit. */
static void test_wal_path_not_a_file_fails_with_reason(void **state)
{
	struct fixture *f = *state;
	char wal[160], err[512] = "";

	store_close(f->st);
	f->st = NULL;
	snprintf(wal, sizeof wal, "%s-wal", f->path);
	assert_int_equal(mkdir(wal, 0755), 0);
	log_set_level(-1);
	assert_int_not_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	log_set_level(LOG_LVL_ERROR);
	assert_null(f->st);
	assert_non_null(strstr(err, "-wal"));
	assert_int_equal(rmdir(wal), 0);
	reopen(f);
}

/* A directory where the -wal file cannot be created (immutable as root,
 * mode 555 otherwise): refused at start with a reason. */
static void test_unwritable_directory_fails_with_reason(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";

	store_close(f->st);
	f->st = NULL;
	if (geteuid() == 0) {
		if (set_immutable(f->dir, 1) != 0)
			skip();
	} else {
		assert_int_equal(chmod(f->dir, 0555), 0);
	}
	log_set_level(-1);
	assert_int_not_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	log_set_level(LOG_LVL_ERROR);
	assert_null(f->st);
	assert_non_null(strstr(err, "writable"));
	if (geteuid() == 0)
		assert_int_equal(set_immutable(f->dir, 0), 0);
	else
		assert_int_equal(chmod(f->dir, 0755), 0);
	reopen(f);
}

static void test_foreign_database_is_refused(void **state)
{
	struct fixture *f = *state;
	char path[160], err[512] = "";
	store_t *st = NULL;
	sqlite3 *db;

	path_in(f, "other.db", path, sizeof path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	log_set_level(-1);
	assert_int_equal(store_open(path, &st, err, sizeof err), STORE_ERR);
	log_set_level(LOG_LVL_ERROR);
	assert_null(st);
	assert_non_null(strstr(err, "not made by chatroomd"));
}

static void test_newer_schema_version_is_refused(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	sqlite3 *db;

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	log_set_level(-1);
	assert_int_not_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	log_set_level(LOG_LVL_ERROR);
	assert_null(f->st);
	assert_non_null(strstr(err, "newer"));
}

static int collect_meta(void *ctx, const store_chat_meta_t *m)
{
	store_chat_meta_t *out = ctx;
	out[m->group_id < 16 ? m->group_id : 0] = *m;
	return 0;
}

static void test_chat_kinds_are_stored_and_read_back(void **state)
{
	struct fixture *f = *state;
	int64_t a, b, dm, club, other;
	store_chat_meta_t seen[16];
	store_group_t g;

	assert_int_equal(store_user_create(f->st, "alice", "", &a), STORE_OK);
	assert_int_equal(store_user_create(f->st, "bob", "", &b), STORE_OK);
	int64_t ids[2] = { a, b };
	store_chat_meta_t direct = { .creator_id = a, .direct = { a, b } };
	store_chat_meta_t invite = { .invite_only = 1, .creator_id = b, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(f->st, "alice_bob", &direct, ids, 2, &dm), STORE_OK);
	assert_int_equal(store_chat_create(f->st, "club", &invite, &b, 1, &club), STORE_OK);
	assert_true(dm < 16 && club < 16);
	/* a pair has one direct chat, whatever its name */
	assert_int_equal(store_chat_create(f->st, "bob_alice", &direct, ids, 2, &other), STORE_EXISTS);
	assert_int_equal(store_group_by_name(f->st, "bob_alice", &g), STORE_NOTFOUND);
	/* and a taken name is taken: nothing of it is stored */
	assert_int_equal(store_chat_create(f->st, "club", &invite, &a, 1, &other), STORE_EXISTS);

	reopen(f);
	memset(seen, 0, sizeof seen);
	assert_int_equal(store_chat_meta_foreach(f->st, collect_meta, seen), STORE_OK);
	assert_int_equal(seen[dm].group_id, dm);
	assert_int_equal(seen[dm].direct[0], a);
	assert_int_equal(seen[dm].direct[1], b);
	assert_int_equal(seen[dm].invite_only, 0);
	assert_int_equal(seen[club].invite_only, 1);
	assert_int_equal(seen[club].creator_id, b);
	assert_int_equal(seen[club].direct[0], -1);
	assert_int_equal(store_group_by_id(f->st, dm, &g), STORE_OK);
	assert_int_equal(g.is_private, 1);
	assert_int_equal(store_group_by_id(f->st, club, &g), STORE_OK);
	assert_int_equal(g.is_private, 0);
	assert_true(has_member(f->st, dm, a) && has_member(f->st, dm, b));

	/* the row goes with its group: the pair may have a new chat after */
	assert_int_equal(store_group_delete(f->st, dm), STORE_OK);
	memset(seen, 0, sizeof seen);
	assert_int_equal(store_chat_meta_foreach(f->st, collect_meta, seen), STORE_OK);
	assert_int_equal(seen[dm].group_id, 0);
	assert_int_equal(store_chat_create(f->st, "alice_bob", &direct, ids, 2, &other), STORE_OK);
}

static void test_chat_with_an_unknown_member_is_not_created(void **state)
{
	struct fixture *f = *state;
	int64_t gid, ids[1] = { 4242 };
	store_group_t g;
	store_chat_meta_t invite = { .invite_only = 1, .creator_id = 0, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(f->st, "ghosts", &invite, ids, 1, &gid), STORE_NOTFOUND);
	assert_int_equal(store_group_by_name(f->st, "ghosts", &g), STORE_NOTFOUND);
}

/* A database of schema version 1 (before chat_meta) is upgraded on open
 * and keeps what it had. */
static void test_version_1_database_is_upgraded(void **state)
{
	struct fixture *f = *state;
	char res[64], err[512];
	int64_t a;
	sqlite3 *db;
	store_group_t g;

	assert_int_equal(store_user_create(f->st, "alice", "", &a), STORE_OK);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE chat_meta; PRAGMA user_version = 1", NULL, NULL,
	                              NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &f->st, err, sizeof err), STORE_OK);
	raw_query(f->path, "PRAGMA user_version", res, sizeof res);
	assert_string_equal(res, "2");
	raw_query(f->path, "SELECT count(*) FROM chat_meta", res, sizeof res);
	assert_string_equal(res, "0");
	assert_int_equal(store_group_by_name(f->st, "public", &g), STORE_OK);
	store_user_t u;
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_OK);
	int64_t gid;
	store_chat_meta_t invite = { .invite_only = 1, .creator_id = a, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(f->st, "club", &invite, &a, 1, &gid), STORE_OK);
}

/* ---- Synchronous = normal: the checkpoint thread ---- */

/* n messages of about 1 KiB each into gid, ids from first. */
static void append_many(store_t *st, int64_t first, int n, int64_t gid, int64_t uid)
{
	char content[1024];
	memset(content, 'x', sizeof content - 1);
	content[sizeof content - 1] = '\0';
	for (int i = 0; i < n; i++)
		assert_int_equal(append1(st, first + i, gid, uid, content, NULL, 10), STORE_OK);
}

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Commits that do not sync reach the database file through the thread's
 * checkpoints: without it (no checkpoint inside a commit) the file would
 * not grow while the connection is open. */
static void test_sync_background_checkpoints_into_the_database_file(void **state)
{
	struct fixture *f = *state;
	int64_t gid = public_id(f->st), uid = make_user(f->st, "alice");
	assert_int_equal(store_sync_background(f->st, 20, 0), STORE_OK);
	long long before = file_size(f->path);
	append_many(f->st, 1, 200, gid, uid);
	long long waited = 0;
	while (file_size(f->path) <= before + 100 * 1024 && waited < slow_ms(5000)) {
		usleep(10000);
		waited += 10;
	}
	assert_true(file_size(f->path) > before + 100 * 1024);
	/* and the messages are all there, read on this connection */
	int64_t n = -1;
	assert_int_equal(store_message_count(f->st, gid, &n), STORE_OK);
	assert_int_equal(n, 200);
	/* asking again is harmless: one thread per connection */
	assert_int_equal(store_sync_background(f->st, 20, 0), STORE_OK);
}

/* Under steady commits a PASSIVE checkpoint never starts the log over; past
 * its limit the thread does, so the WAL file stops growing: 2,000 messages
 * of 1 KiB in 100 commits write about 30 MiB of pages (each commit
 * rewrites the pages it touched), yet the file stays far below that. */
static void log_stays_bounded(struct fixture *f, int interval_ms)
{
	int64_t gid = public_id(f->st), uid = make_user(f->st, "alice");
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", f->path);
	assert_int_equal(store_sync_background(f->st, interval_ms, 50), STORE_OK);
	int64_t id = 1;
	for (int round = 0; round < 100; round++) {
		append_many(f->st, id, 20, gid, uid);
		id += 20;
		usleep(2000);
	}
	long long size = file_size(wal);
	assert_true(size > 0);
	/* about 30 MiB without the restarts, 1.6 MiB with them here */
	assert_true(size < 8 * 1024 * 1024);
	int64_t n = -1;
	assert_int_equal(store_message_count(f->st, gid, &n), STORE_OK);
	assert_int_equal(n, 2000);
}

static void test_sync_background_keeps_the_log_bounded(void **state)
{
	log_stays_bounded(*state, 10);
}

/* With an interval longer than the test, only the writer's word that the
 * log is past its limit starts a round: the log stays as bounded. */
static void test_sync_background_bounds_the_log_within_a_long_interval(void **state)
{
	log_stays_bounded(*state, 60000);
}

/* What was committed before store_close() is in the file afterwards, and a
 * new connection opened without the thread syncs every commit again. */
static void test_sync_background_ends_with_the_connection(void **state)
{
	struct fixture *f = *state;
	int64_t gid = public_id(f->st), uid = make_user(f->st, "alice");
	assert_int_equal(store_sync_background(f->st, 60000, 0), STORE_OK);
	append_many(f->st, 1, 30, gid, uid);
	reopen(f);
	int64_t n = -1;
	assert_int_equal(store_message_count(f->st, gid, &n), STORE_OK);
	assert_int_equal(n, 30);
	char out[32];
	raw_query(f->path, "SELECT count(*) FROM messages", out, sizeof out);
	assert_string_equal(out, "30");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_new_database_has_admin_public_and_schema),
		T(test_reopen_does_not_recreate_defaults),
		T(test_user_create_and_lookup),
		T(test_user_duplicate_name_is_exists),
		T(test_user_names_differing_by_case_are_taken),
		T(test_old_database_with_a_case_clash_keeps_working),
		T(test_user_unicode_name),
		T(test_user_rename),
		T(test_user_ban_and_password),
		T(test_user_delete_removes_memberships_and_id_is_not_reused),
		T(test_users_foreach_in_id_order_and_stops),
		T(test_group_create_lookup_and_flags),
		T(test_create_chat_with_many_members_is_one_transaction),
		T(test_members_add_remove),
		T(test_group_delete_removes_members_messages_and_dedup),
		T(test_messages_append_and_count),
		T(test_history_newest_is_oldest_first),
		T(test_history_after_pages_forward),
		T(test_history_before_pages_backward),
		T(test_history_both_bounds_and_limits),
		T(test_history_keeps_client_msg_id_and_fields),
		T(test_append_is_all_or_nothing),
		T(test_dedup_get_returns_first_message),
		T(test_dedup_window_keeps_newest_per_user),
		T(test_dedup_window_in_one_batch),
		T(test_dedup_window_trims_in_bulk),
		T(test_last_message_id_survives_group_delete),
		T(test_everything_persists_across_reopen),
		T(test_not_a_database_is_corrupt_with_advice),
		T(test_damaged_database_is_corrupt),
		T(test_readonly_file_refused_at_open),
		T(test_disk_full_is_full_and_rolls_back),
		T(test_write_error_rolls_back),
		T(test_missing_directory_fails_with_reason),
		T(test_wal_path_not_a_file_fails_with_reason),
		T(test_unwritable_directory_fails_with_reason),
		T(test_foreign_database_is_refused),
		T(test_newer_schema_version_is_refused),
		T(test_chat_kinds_are_stored_and_read_back),
		T(test_chat_with_an_unknown_member_is_not_created),
		T(test_version_1_database_is_upgraded),
		T(test_sync_background_checkpoints_into_the_database_file),
		T(test_sync_background_keeps_the_log_bounded),
		T(test_sync_background_bounds_the_log_within_a_long_interval),
		T(test_sync_background_ends_with_the_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
