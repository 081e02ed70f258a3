/* test_store_pg.c - the PostgreSQL store (server/store_pg.c) against a real
 * server: CHATROOM_TEST_PG is a libpq connection string to an empty
 * database. tests/integration/test_cluster.py starts the server, makes the
 * database and runs this program (it is not run alone by make check). */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "log.h"
#include "store_pg.h"
#include "store_pg_private.h" /* when the connection last swept orphan chunks */

static const char *conninfo;

static void sql(const char *q)
{
	PGconn *c = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* What version 4 added: the files' chunks. */
#define UNDO_VERSION_4 "DROP TABLE file_chunks; DROP INDEX files_by_stored_name;"

/* Turn this database of the current schema back into one of version 3
 * (before the files' chunks). */
static const char to_version_3[] =
	UNDO_VERSION_4 "UPDATE chatroom_meta SET value = 3 WHERE key = 'schema_version'";

/* Turn this database of the current schema back into one of version 2
 * (before batch tokens and the dedup table), with version 2's unique
 * index; its chatroom_append() is a stand-in the upgrade must replace. */
static const char to_version_2[] =
	UNDO_VERSION_4
	"DROP FUNCTION chatroom_append(jsonb, text, integer); DROP TABLE dedup;"
	"DROP TABLE writer_batches;"
	"CREATE UNIQUE INDEX messages_dedup ON messages(sender_id, client_msg_id)"
	" WHERE client_msg_id IS NOT NULL;"
	"CREATE FUNCTION chatroom_append(batch jsonb) RETURNS integer LANGUAGE sql AS 'SELECT 1';"
	"UPDATE chatroom_meta SET value = 2 WHERE key = 'schema_version'";

static int64_t group_named(store_pg_t *st, const char *name)
{
	store_group_t g;
	int64_t id;
	if (store_group_by_name(store_pg_store(st), name, &g) == STORE_OK)
		return g.id;
	assert_int_equal(store_group_create(store_pg_store(st), name, 0, &id), STORE_OK);
	return id;
}

static void test_schema_is_created_once_with_admin_and_public(void **state)
{
	store_pg_t *a, *b;
	store_user_t u;
	store_group_t g;
	char err[512];

	assert_int_equal(store_pg_open(conninfo, &a, err, sizeof err), STORE_OK);
	assert_int_equal(store_pg_open(conninfo, &b, err, sizeof err), STORE_OK);
	assert_int_equal(store_user_by_name(store_pg_store(b), "Admin", &u), STORE_OK);
	assert_int_equal(u.id, STORE_ADMIN_ID);
	assert_int_equal(store_group_by_name(store_pg_store(b), "public", &g), STORE_OK);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
	store_pg_close(a);
	store_pg_close(b);
}

static void test_store_open_picks_postgresql_by_name(void **state)
{
	char name[1024], err[512];
	store_t *st;
	store_user_t u;

	snprintf(name, sizeof name, STORE_PG_PREFIX "%s", conninfo);
	assert_int_equal(store_open(name, &st, err, sizeof err), STORE_OK);
	assert_ptr_equal(st->be, &store_pg_backend);
	assert_int_equal(store_user_by_id(st, STORE_ADMIN_ID, &u), STORE_OK);
	assert_string_equal(u.username, "Admin");
	store_close(st);
	/* a name that is not PostgreSQL's is a file for SQLite */
	assert_int_equal(store_pg_backend.claims("/var/lib/chatroomd/chatroom.db"), 0);
	assert_int_equal(store_pg_backend.claims("postgres://h/db"), 1);
}

static void test_newer_schema_is_refused_by_open_and_check(void **state)
{
	store_pg_t *st = NULL;
	char err[512];

	sql("UPDATE chatroom_meta SET value = 99 WHERE key = 'schema_version'");
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_ERR);
	assert_non_null(strstr(err, "schema version 99"));
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_ERR);
	assert_null(st);
	assert_non_null(strstr(err, "newer than this chatroomd"));
	snprintf(err, sizeof err, "UPDATE chatroom_meta SET value = %d WHERE key = 'schema_version'",
	         STORE_PG_SCHEMA_VERSION);
	sql(err);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
}

/* rows of groups made by earlier tests are skipped */
static int64_t meta_from;

static int collect_meta(void *ctx, const store_chat_meta_t *m)
{
	store_chat_meta_t *out = ctx;
	if (m->group_id < meta_from)
		return 0;
	for (int i = 0; i < 8; i++)
		if (out[i].group_id == 0) {
			out[i] = *m;
			return 0;
		}
	fail_msg("more than 8 chat_meta rows");
	return 1;
}

/* Direct chats and invite-only groups: their kind in chat_meta, one
 * direct chat per pair, nothing of a refused one stored; and a database of
 * schema version 1 (before chat_meta) is upgraded when opened. */
static void test_chat_kinds_and_the_upgrade_from_version_1(void **state)
{
	store_pg_t *st;
	store_group_t gr;
	char err[512];
	int64_t a, b, d, inv, n, pair[2];
	store_chat_meta_t seen[8];

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_pg_close(st);
	sql(to_version_2);
	sql("DROP TABLE chat_meta; UPDATE chatroom_meta SET value = 1 WHERE key = 'schema_version'");
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_t *s = store_pg_store(st);
	assert_int_equal(store_user_create(s, "kinda", "h", &a), STORE_OK);
	assert_int_equal(store_user_create(s, "kindb", "h", &b), STORE_OK);
	pair[0] = a < b ? a : b;
	pair[1] = a < b ? b : a;
	store_chat_meta_t direct = { .creator_id = a, .direct = { pair[0], pair[1] } };
	store_chat_meta_t invite = { .invite_only = 1, .creator_id = b, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(s, "kinda_kindb", &direct, pair, 2, &d), STORE_OK);
	meta_from = d;
	/* the pair's second chat, under another name: refused, nothing kept */
	assert_int_equal(store_chat_create(s, "kinda_kindb_2", &direct, pair, 2, &n), STORE_EXISTS);
	assert_int_equal(store_group_by_name(s, "kinda_kindb_2", &gr), STORE_NOTFOUND);
	assert_int_equal(store_chat_create(s, "kindinv", &invite, &b, 1, &inv), STORE_OK);
	assert_int_equal(store_group_by_id(s, d, &gr), STORE_OK);
	assert_int_equal(gr.is_private, 1);
	memset(seen, 0, sizeof seen);
	assert_int_equal(store_chat_meta_foreach(s, collect_meta, seen), STORE_OK);
	assert_int_equal(seen[0].group_id, d);
	assert_int_equal(seen[0].invite_only, 0);
	assert_int_equal(seen[0].creator_id, a);
	assert_int_equal(seen[0].direct[0], pair[0]);
	assert_int_equal(seen[0].direct[1], pair[1]);
	assert_int_equal(seen[1].group_id, inv);
	assert_int_equal(seen[1].invite_only, 1);
	assert_int_equal(seen[1].creator_id, b);
	assert_int_equal(seen[1].direct[0], -1);
	assert_int_equal(seen[2].group_id, 0);
	/* the kind goes with its group */
	assert_int_equal(store_group_delete(s, d), STORE_OK);
	memset(seen, 0, sizeof seen);
	assert_int_equal(store_chat_meta_foreach(s, collect_meta, seen), STORE_OK);
	assert_int_equal(seen[0].group_id, inv);
	assert_int_equal(seen[1].group_id, 0);
	assert_int_equal(store_group_delete(s, inv), STORE_OK);
	assert_int_equal(store_user_delete(s, a), STORE_OK);
	assert_int_equal(store_user_delete(s, b), STORE_OK);
	store_pg_close(st);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
}

static void test_unreachable_server_is_named(void **state)
{
	char err[512];
	assert_int_equal(store_pg_check("host=127.0.0.1 port=1 connect_timeout=2", err, sizeof err),
	                 STORE_ERR);
	assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
}

static void test_batch_takes_ids_and_contiguous_seq_per_group(void **state)
{
	store_pg_t *st;
	char err[512];
	struct store_pg_stored out[4];
	int64_t last;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g1 = group_named(st, "seq_a"), g2 = group_named(st, "seq_b");
	store_msg_t m[4] = {
		{ .group_id = g1, .sender_id = 0, .ts = 1, .sender_name = "Admin", .content = "a1" },
		{ .group_id = g2, .sender_id = 0, .ts = 2, .sender_name = "Admin", .content = "b1" },
		{ .group_id = g1, .sender_id = 0, .ts = 3, .sender_name = "Admin", .content = "a2",
		  .client_msg_id = "k1" },
		{ .group_id = g1, .sender_id = 0, .ts = 4, .sender_name = "Admin", .content = "a2 again",
		  .client_msg_id = "k1" },
	};
	assert_int_equal(store_pg_messages_append(st, m, 4, out), STORE_OK);
	assert_int_equal(out[0].seq, 1);
	assert_int_equal(out[1].seq, 1);
	assert_int_equal(out[2].seq, 2);
	assert_true(out[0].id < out[2].id);
	assert_false(out[2].duplicate);
	/* a resend in the same batch is the stored message */
	assert_true(out[3].duplicate);
	assert_int_equal(out[3].id, out[2].id);
	assert_int_equal(out[3].seq, 2);
	/* ... and so is one in a later batch, and nothing is added */
	assert_int_equal(store_pg_messages_append(st, &m[3], 1, out), STORE_OK);
	assert_true(out[0].duplicate);
	assert_int_equal(store_pg_last_seq(st, g1, &last), STORE_OK);
	assert_int_equal(last, 2);
	int64_t mid, gid;
	assert_int_equal(store_dedup_get(store_pg_store(st), 0, "k1", &mid, &gid), STORE_OK);
	assert_int_equal(mid, out[0].id);
	assert_int_equal(gid, g1);
	assert_int_equal(store_dedup_get(store_pg_store(st), 0, "nope", &mid, &gid), STORE_NOTFOUND);
	store_pg_close(st);
}

struct seen {
	int n;
	int64_t ids[64];
	int64_t seqs[64];
	char text[64][16];
};

static int seen_seq(void *ctx, const store_msg_t *m, int64_t seq)
{
	struct seen *s = ctx;
	s->ids[s->n] = m->id;
	s->seqs[s->n] = seq;
	snprintf(s->text[s->n], sizeof s->text[0], "%s", m->content);
	s->n++;
	return 0;
}

static int seen_hist(void *ctx, const store_msg_t *m)
{
	return seen_seq(ctx, m, 0);
}

static void test_history_and_missed_messages(void **state)
{
	store_pg_t *st;
	char err[512], text[16];
	struct store_pg_stored out[10];
	store_msg_t m[10];
	struct seen s = { 0 };

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g = group_named(st, "hist");
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof text, "m%d", i);
		m[i] = (store_msg_t){ .group_id = g, .sender_id = 0, .ts = i, .sender_name = "Admin",
		                      .content = strdup(text) };
	}
	assert_int_equal(store_pg_messages_append(st, m, 10, out), STORE_OK);
	assert_int_equal(store_pg_since_seq(st, g, 7, 100, seen_seq, &s), STORE_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seqs[0], 8);
	assert_string_equal(s.text[2], "m9");
	s.n = 0;
	assert_int_equal(store_history(store_pg_store(st), g, out[4].id, 0, 2, seen_hist, &s), STORE_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[0], "m5");
	s.n = 0;
	assert_int_equal(store_history(store_pg_store(st), g, 0, 0, 3, seen_hist, &s), STORE_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.text[0], "m7");
	assert_string_equal(s.text[2], "m9");
	s.n = 0;
	assert_int_equal(store_history(store_pg_store(st), g, 0, out[2].id, 5, seen_hist, &s), STORE_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[1], "m1");
	for (int i = 0; i < 10; i++)
		free((char *)m[i].content);
	store_pg_close(st);
}

/* Two connections (two nodes' writers) storing into the same two groups at
 * once, each batch naming the groups in the opposite order. */
#define RACE_BATCHES 150
#define RACE_PER 4

struct racer {
	int64_t g[2];
	int reverse;
	int retries;
	int failed;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	store_pg_t *st;
	char err[512];
	store_msg_t m[RACE_PER];
	struct store_pg_stored out[RACE_PER];

	if (store_pg_open(conninfo, &st, err, sizeof err) != STORE_OK) {
		r->failed = 1;
		return NULL;
	}
	for (int b = 0; b < RACE_BATCHES; b++) {
		for (int i = 0; i < RACE_PER; i++)
			m[i] = (store_msg_t){ .group_id = r->g[(i + r->reverse) % 2], .sender_id = 0,
			                      .ts = b, .sender_name = "Admin", .content = "x" };
		int s;
		while ((s = store_pg_messages_append(st, m, RACE_PER, out)) == STORE_BUSY)
			r->retries++;
		if (s != STORE_OK) {
			r->failed = 1;
			break;
		}
	}
	store_pg_close(st);
	return NULL;
}

static void test_two_writers_into_one_group_give_one_order(void **state)
{
	store_pg_t *st;
	char err[512], q[256];
	pthread_t t[2];
	struct racer r[2];

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g1 = group_named(st, "race_a"), g2 = group_named(st, "race_b");
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ .g = { g1, g2 }, .reverse = i };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_false(r[i].failed);
	}
	/* every group: seq 1..N with no gap and ids growing with seq */
	PGconn *c = PQconnectdb(conninfo);
	for (int k = 0; k < 2; k++) {
		snprintf(q, sizeof q,
		         "SELECT count(*), min(seq), max(seq), "
		         "count(*) FILTER (WHERE id < prev) FROM (SELECT seq, id, lag(id, 1, 0::bigint) "
		         "OVER (ORDER BY seq) AS prev FROM messages WHERE group_id = %lld) x",
		         (long long)(k ? g2 : g1));
		PGresult *res = PQexec(c, q);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal(atoll(PQgetvalue(res, 0, 0)), RACE_BATCHES * RACE_PER);
		assert_int_equal(atoll(PQgetvalue(res, 0, 1)), 1);
		assert_int_equal(atoll(PQgetvalue(res, 0, 2)), RACE_BATCHES * RACE_PER);
		assert_int_equal(atoll(PQgetvalue(res, 0, 3)), 0);
		PQclear(res);
	}
	PQfinish(c);
	store_pg_close(st);
}

static int count_members(void *ctx, int64_t g, int64_t u)
{
	int64_t *want = ctx;
	if (g == want[0])
		want[1]++;
	return 0;
}

static int count_files(void *ctx, const store_file_t *f)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_accounts_groups_and_files_keep_store_h_meanings(void **state)
{
	store_pg_t *st;
	char err[512];
	int64_t alice, bob, g, n, fid, members[2];
	store_user_t u;
	store_group_t gr;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	assert_int_equal(store_user_create(store_pg_store(st), "Alice", "h1", &alice), STORE_OK);
	assert_true(alice > 0);
	/* one name in any case */
	assert_int_equal(store_user_create(store_pg_store(st), "alice", "h2", &bob), STORE_EXISTS);
	assert_int_equal(store_user_name_taken(store_pg_store(st), "ALICE"), STORE_EXISTS);
	assert_int_equal(store_user_name_taken(store_pg_store(st), "carol"), STORE_OK);
	assert_int_equal(store_user_create(store_pg_store(st), "bob", "h3", &bob), STORE_OK);
	assert_int_equal(store_user_rename(store_pg_store(st), bob, "Alice"), STORE_EXISTS);
	assert_int_equal(store_user_rename(store_pg_store(st), bob, "bobby"), STORE_OK);
	assert_int_equal(store_user_by_id(store_pg_store(st), bob, &u), STORE_OK);
	assert_string_equal(u.username, "bobby");
	assert_int_equal(store_user_set_banned(store_pg_store(st), bob, 1), STORE_OK);
	assert_int_equal(store_user_by_name(store_pg_store(st), "bobby", &u), STORE_OK);
	assert_int_equal(u.banned, 1);
	assert_int_equal(store_user_set_pwhash(store_pg_store(st), 999999, "x"), STORE_NOTFOUND);

	members[0] = alice;
	members[1] = bob;
	const store_chat_meta_t plain = { .creator_id = -1, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(store_pg_store(st), "team", &plain, members, 2, &g), STORE_OK);
	assert_int_equal(store_group_create(store_pg_store(st), "team", 0, &n), STORE_EXISTS);
	/* a member who does not exist: nothing of the group is stored */
	members[1] = 999999;
	assert_int_equal(store_chat_create(store_pg_store(st), "ghosts", &plain, members, 2, &n),
	                 STORE_NOTFOUND);
	assert_int_equal(store_group_by_name(store_pg_store(st), "ghosts", &gr), STORE_NOTFOUND);
	assert_int_equal(store_member_add(store_pg_store(st), g, 999999), STORE_NOTFOUND);
	int64_t cnt[2] = { g, 0 };
	assert_int_equal(store_members_foreach(store_pg_store(st), count_members, cnt), STORE_OK);
	assert_int_equal(cnt[1], 2);

	store_msg_t m = { .group_id = g, .sender_id = alice, .ts = 1, .sender_name = "Alice",
	                  .content = "hi" };
	struct store_pg_stored out;
	assert_int_equal(store_pg_messages_append(st, &m, 1, &out), STORE_OK);
	assert_int_equal(store_last_message_id(store_pg_store(st), &n), STORE_OK);
	assert_true(n >= out.id);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 1);

	store_file_t f = { .group_id = g, .uploader_id = alice, .size = 12, .uploaded_at = 5 };
	strcpy(f.uploader_name, "Alice");
	strcpy(f.filename, "notes.txt");
	strcpy(f.stored_name, "abc123");
	assert_int_equal(store_file_chunk_put(store_pg_store(st), "abc123", 0, "twelve bytes", 12),
	                 STORE_OK);
	assert_int_equal(store_file_add(store_pg_store(st), &f, &fid), STORE_OK);
	store_file_t back;
	assert_int_equal(store_file_get(store_pg_store(st), fid, &back), STORE_OK);
	assert_string_equal(back.filename, "notes.txt");
	assert_int_equal(back.size, 12);
	int nf = 0;
	assert_int_equal(store_files_foreach(store_pg_store(st), g, count_files, &nf), STORE_OK);
	assert_int_equal(nf, 1);
	assert_int_equal(store_file_delete(store_pg_store(st), fid), STORE_OK);
	assert_int_equal(store_file_delete(store_pg_store(st), fid), STORE_NOTFOUND);

	/* a deleted group takes its members and messages with it */
	assert_int_equal(store_group_delete(store_pg_store(st), g), STORE_OK);
	assert_int_equal(store_group_delete(store_pg_store(st), g), STORE_NOTFOUND);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 0);
	cnt[1] = 0;
	assert_int_equal(store_members_foreach(store_pg_store(st), count_members, cnt), STORE_OK);
	assert_int_equal(cnt[1], 0);
	assert_int_equal(store_user_delete(store_pg_store(st), bob), STORE_OK);
	assert_int_equal(store_user_delete(store_pg_store(st), bob), STORE_NOTFOUND);
	store_pg_close(st);
}

/* The count of changes moved past *last: *last becomes it. */
static void count_moved(store_pg_t *st, int64_t *last)
{
	int64_t now;
	assert_int_equal(store_pg_changes(st, &now), STORE_OK);
	assert_true(now > *last);
	*last = now;
}

/* The count of changes moves with every change to accounts, groups,
 * memberships and kinds (each visible with its change), and not with
 * messages or password hashes; a database of version 4 gets it when
 * opened. */
static void test_the_count_of_changes_moves_with_changes_a_node_keeps(void **state)
{
	store_pg_t *st;
	char err[512];
	struct store_pg_stored out[1];
	int64_t before, after, uid, gid;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_pg_close(st);
	sql("DROP TRIGGER users_changed ON users; DROP TRIGGER groups_changed ON groups;"
	    "DROP TRIGGER members_changed ON members; DROP TRIGGER chat_meta_changed ON chat_meta;"
	    "DROP FUNCTION chatroom_changed(); DELETE FROM chatroom_meta WHERE key = 'changes';"
	    "UPDATE chatroom_meta SET value = 4 WHERE key = 'schema_version'");
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_t *s = store_pg_store(st);
	assert_int_equal(store_pg_changes(st, &before), STORE_OK);

	gid = group_named(st, "count_g");
	count_moved(st, &before);
	/* what a node's table does not keep: no change */
	store_msg_t m = { .group_id = gid, .sender_id = 0, .ts = 1, .sender_name = "Admin",
	                  .content = "not counted" };
	assert_int_equal(store_pg_messages_append(st, &m, 1, out), STORE_OK);
	assert_int_equal(store_user_set_pwhash(s, STORE_ADMIN_ID, "h2"), STORE_OK);
	assert_int_equal(store_pg_changes(st, &after), STORE_OK);
	assert_int_equal(after, before);

	/* each of these moves it */
	assert_int_equal(store_user_create(s, "count_u", "h", &uid), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_member_add(s, gid, uid), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_member_remove(s, gid, uid), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_user_set_banned(s, uid, 1), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_user_rename(s, uid, "count_v"), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_group_rename(s, gid, "count_h"), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_group_set_banned(s, gid, 1), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_member_add(s, gid, uid), STORE_OK);
	count_moved(st, &before);
	assert_int_equal(store_user_delete(s, uid), STORE_OK); /* and its membership */
	count_moved(st, &before);
	assert_int_equal(store_group_delete(s, gid), STORE_OK);
	count_moved(st, &before);
	store_pg_close(st);
}

static int64_t sql_int(const char *q)
{
	PGconn *c = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

static int64_t new_user(store_pg_t *st, const char *name)
{
	int64_t id;
	assert_int_equal(store_user_create(store_pg_store(st), name, "h", &id), STORE_OK);
	return id;
}

/* A batch whose COMMIT went through while the connection died before the
 * reply: the same batch again (same token) is answered with what was
 * stored, resends as resends, and nothing is stored twice. */
static void test_a_batch_retried_after_its_reply_was_lost_is_stored_once(void **state)
{
	store_pg_t *st;
	char err[512], tok[STORE_PG_TOKEN_LEN], tok2[STORE_PG_TOKEN_LEN];
	struct store_pg_stored out[3], again[3];
	int64_t n, last;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g = group_named(st, "lost_reply"), u = new_user(st, "lostreply");
	store_msg_t m[3] = {
		{ .group_id = g, .sender_id = u, .ts = 1, .sender_name = "lostreply", .content = "one" },
		{ .group_id = g, .sender_id = u, .ts = 2, .sender_name = "lostreply", .content = "two",
		  .client_msg_id = "lr-1" },
		{ .group_id = g, .sender_id = u, .ts = 3, .sender_name = "lostreply", .content = "two",
		  .client_msg_id = "lr-1" },
	};
	store_pg_batch_token(st, tok, sizeof tok);
	store_pg_batch_token(st, tok2, sizeof tok2);
	assert_string_not_equal(tok, tok2);

	store_pg_test_lose_replies(1);
	assert_int_equal(store_pg_batch_append(st, m, 3, tok, out), STORE_ERR);
	/* committed nonetheless: the server has both messages */
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_pg_batch_append(st, m, 3, tok, again), STORE_OK);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_pg_last_seq(st, g, &last), STORE_OK);
	assert_int_equal(last, 2);
	assert_int_equal(again[0].seq, 1);
	assert_int_equal(again[1].seq, 2);
	assert_false(again[0].duplicate);
	assert_false(again[1].duplicate);
	assert_true(again[2].duplicate);
	assert_int_equal(again[2].id, again[1].id);
	assert_true(again[0].id < again[1].id);

	/* another batch with the same messages is another batch: the one
	 * without client_msg_id is stored again, the resend is not */
	assert_int_equal(store_pg_batch_append(st, m, 2, tok2, out), STORE_OK);
	assert_false(out[0].duplicate);
	assert_true(out[1].duplicate);
	assert_int_equal(out[1].id, again[1].id);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 3);
	store_pg_close(st);
}

struct retry {
	store_pg_t *st;
	const store_msg_t *m;
	const char *tok;
	struct store_pg_stored out[2];
	int status;
};

static void *retry_batch(void *arg)
{
	struct retry *r = arg;
	r->status = store_pg_batch_append(r->st, r->m, 2, r->tok, r->out);
	return NULL;
}

/* The first attempt is still committing (its connection died, its server
 * process not yet done) when the retry comes: the retry waits for it and
 * then answers with its outcome. */
static void test_a_retry_waits_for_an_attempt_still_committing(void **state)
{
	store_pg_t *st;
	char err[512], tok[STORE_PG_TOKEN_LEN], batch[256];
	int64_t n;
	pthread_t t;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g = group_named(st, "still_committing");
	store_msg_t m[2] = {
		{ .group_id = g, .sender_id = 0, .ts = 1, .sender_name = "Admin", .content = "x" },
		{ .group_id = g, .sender_id = 0, .ts = 2, .sender_name = "Admin", .content = "y" },
	};
	store_pg_batch_token(st, tok, sizeof tok);
	snprintf(batch, sizeof batch,
	         "[{\"g\":%lld,\"s\":0,\"t\":1,\"n\":\"Admin\",\"c\":\"x\"},"
	         "{\"g\":%lld,\"s\":0,\"t\":2,\"n\":\"Admin\",\"c\":\"y\"}]",
	         (long long)g, (long long)g);
	/* the first attempt, on a connection of its own, not yet committed */
	PGconn *first = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(first), CONNECTION_OK);
	PGresult *r = PQexec(first, "BEGIN");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	const char *p[2] = { batch, tok };
	r = PQexecParams(first, "SELECT out_id, out_seq FROM chatroom_append($1::jsonb, $2, 0)", 2,
	                 NULL, p, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 2);
	int64_t id0 = strtoll(PQgetvalue(r, 0, 0), NULL, 10), id1 = strtoll(PQgetvalue(r, 1, 0), NULL, 10);
	PQclear(r);

	struct retry rt = { .st = st, .m = m, .tok = tok, .status = -99 };
	assert_int_equal(pthread_create(&t, NULL, retry_batch, &rt), 0);
	/* the retry waits for the first attempt's locks (a minute at most:
	 * a retry that does not wait fails the test below, not this loop) */
	for (int i = 0; i < 6000 && sql_int("SELECT count(*) FROM pg_stat_activity WHERE datname = "
	                                    "current_database() AND wait_event_type = 'Lock'") == 0;
	     i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	r = PQexec(first, "COMMIT");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(first);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rt.status, STORE_OK);
	assert_int_equal(rt.out[0].id, id0);
	assert_int_equal(rt.out[1].id, id1);
	assert_int_equal(rt.out[1].seq, 2);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 2);
	store_pg_close(st);
}

struct make_group {
	store_pg_t *st;
	int64_t member, id;
	int status;
};

static void *make_group(void *arg)
{
	struct make_group *mg = arg;
	store_chat_meta_t meta = { .invite_only = 1, .creator_id = mg->member, .direct = { -1, -1 } };
	mg->status = store_chat_create(store_pg_store(mg->st), "deadlocked", &meta, &mg->member, 1,
	                               &mg->id);
	return NULL;
}

static void must(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

/* A group made with a member while another transaction holds that member's
 * row and then counts a change: the two wait for each other, PostgreSQL
 * refuses the group's transaction (its deadlock check runs first), and the
 * store runs it again: the group is made, with its member, once. */
static void test_a_group_refused_for_a_deadlock_is_made_on_the_next_try(void **state)
{
	store_pg_t *st;
	char err[512], q[256];
	pthread_t t;

	(void)state;
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	struct make_group mg = { .st = st, .member = new_user(st, "deadlock_member"), .status = -99 };
	PGconn *other = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	/* the other side never runs the deadlock check: the store's is refused */
	must(other, "SET deadlock_timeout = '1min'");
	must(other, "BEGIN");
	snprintf(q, sizeof q, "SELECT 1 FROM users WHERE id = %lld FOR UPDATE",
	         (long long)mg.member);
	must(other, q);
	assert_int_equal(pthread_create(&t, NULL, make_group, &mg), 0);
	/* the group's transaction holds the count and waits for the member */
	for (int i = 0; i < 6000 && sql_int("SELECT count(*) FROM pg_stat_activity WHERE datname = "
	                                    "current_database() AND wait_event_type = 'Lock'") == 0;
	     i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* waits for the count until PostgreSQL refuses the group's transaction */
	must(other, "UPDATE chatroom_meta SET value = value + 1 WHERE key = 'changes'");
	must(other, "COMMIT");
	PQfinish(other);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(mg.status, STORE_OK);
	snprintf(q, sizeof q, "SELECT count(*) FROM groups WHERE name = 'deadlocked'");
	assert_int_equal(sql_int(q), 1);
	snprintf(q, sizeof q, "SELECT count(*) FROM members WHERE group_id = %lld AND user_id = %lld",
	         (long long)mg.id, (long long)mg.member);
	assert_int_equal(sql_int(q), 1);
	store_pg_close(st);
}

static void append_one(store_pg_t *st, int64_t g, int64_t u, const char *cmid,
                       struct store_pg_stored *out)
{
	store_msg_t m = { .group_id = g, .sender_id = u, .ts = 1, .sender_name = "w",
	                  .content = cmid, .client_msg_id = cmid };
	assert_int_equal(store_pg_messages_append(st, &m, 1, out), STORE_OK);
}

/* DedupWindow: the newest window client_msg_ids of each sender are
 * always recognised; older ones are forgotten (in bulk: at most window/8
 * more are kept), each sender on its own; window 0 keeps them all. */
static void test_dedup_window_keeps_each_senders_newest_client_msg_ids(void **state)
{
	store_pg_t *st;
	char err[512], k[16];
	struct store_pg_stored out, first[40];
	int64_t mid, gid;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g = group_named(st, "window");
	int64_t a = new_user(st, "windowa"), b = new_user(st, "windowb");

	/* window 2 (trimmed at every message): a, b, c; then c is a resend
	 * and a a new message */
	store_pg_set_dedup_window(st, 2);
	append_one(st, g, a, "a", &first[0]);
	append_one(st, g, a, "b", &first[1]);
	append_one(st, g, b, "a", &first[2]); /* another sender: a window of its own */
	append_one(st, g, a, "c", &first[3]);
	append_one(st, g, a, "c", &out);
	assert_true(out.duplicate);
	assert_int_equal(out.id, first[3].id);
	assert_int_equal(store_dedup_get(store_pg_store(st), a, "a", &mid, &gid), STORE_NOTFOUND);
	assert_int_equal(store_dedup_get(store_pg_store(st), b, "a", &mid, &gid), STORE_OK);
	assert_int_equal(mid, first[2].id);
	append_one(st, g, a, "a", &out);
	assert_false(out.duplicate);
	assert_true(out.id > first[3].id);

	/* window 16 (slack 2): of 40 ids the newest 16 are always kept, none
	 * older than the newest 18 */
	store_pg_set_dedup_window(st, 16);
	for (int i = 0; i < 40; i++) {
		snprintf(k, sizeof k, "w%d", i);
		append_one(st, g, b, k, &first[i]);
		assert_false(first[i].duplicate);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(k, sizeof k, "w%d", i);
		int s = store_dedup_get(store_pg_store(st), b, k, &mid, &gid);
		if (i >= 40 - 16) {
			assert_int_equal(s, STORE_OK);
			assert_int_equal(mid, first[i].id);
		} else if (i < 40 - 18) {
			assert_int_equal(s, STORE_NOTFOUND);
		}
	}
	append_one(st, g, b, "w39", &out);
	assert_true(out.duplicate);
	append_one(st, g, b, "w0", &out);
	assert_false(out.duplicate);

	/* window 0: nothing is forgotten */
	store_pg_set_dedup_window(st, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof k, "z%d", i);
		append_one(st, g, a, k, &out);
	}
	assert_int_equal(store_dedup_get(store_pg_store(st), a, "z0", &mid, &gid), STORE_OK);
	/* a deleted group's ids go with its messages */
	assert_int_equal(store_group_delete(store_pg_store(st), g), STORE_OK);
	assert_int_equal(store_dedup_get(store_pg_store(st), a, "z0", &mid, &gid), STORE_NOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM dedup"), sql_int("SELECT count(*) FROM dedup "
	                 "WHERE group_id IN (SELECT id FROM groups)"));
	store_pg_close(st);
}

/* A database of version 2 kept client_msg_ids in messages: after the
 * upgrade they are still recognised. */
static void test_the_upgrade_from_version_2_keeps_client_msg_ids(void **state)
{
	store_pg_t *st;
	char err[512];
	struct store_pg_stored out, again;
	int64_t mid, gid;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	int64_t g = group_named(st, "upgrade3"), u = new_user(st, "upgrade3");
	append_one(st, g, u, "before-upgrade", &out);
	store_pg_close(st);
	sql(to_version_2);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	assert_int_equal(sql_int("SELECT value FROM chatroom_meta WHERE key = 'schema_version'"),
	                 STORE_PG_SCHEMA_VERSION);
	assert_int_equal(store_dedup_get(store_pg_store(st), u, "before-upgrade", &mid, &gid),
	                 STORE_OK);
	assert_int_equal(mid, out.id);
	assert_int_equal(gid, g);
	append_one(st, g, u, "before-upgrade", &again);
	assert_true(again.duplicate);
	assert_int_equal(again.id, out.id);
	store_pg_close(st);
}

/* A file's record in group g, uploaded by Admin. */
static store_file_t file_rec(int64_t g, const char *filename, const char *stored, int64_t size)
{
	store_file_t f = { .group_id = g, .uploader_id = STORE_ADMIN_ID, .size = size };
	strcpy(f.uploader_name, "Admin");
	snprintf(f.filename, sizeof f.filename, "%s", filename);
	snprintf(f.stored_name, sizeof f.stored_name, "%s", stored);
	return f;
}

/* A file of two full chunks and a short one: invisible until store_file_add
 * finds every byte; read back as written; a chunk is stored once; deleting
 * the file takes its bytes. */
static void test_file_bytes_in_chunks(void **state)
{
	store_pg_t *st;
	char err[512];
	const size_t chunk = STORE_PG_FILE_CHUNK, total = 2 * STORE_PG_FILE_CHUNK + 1000;
	unsigned char *data = malloc(total), *back = malloc(chunk);
	size_t len;
	int64_t g, fid;
	int nf;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < total; i++)
		data[i] = (unsigned char)(i * 7 + i / 251); /* zero bytes included */
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_t *s = store_pg_store(st);
	assert_int_equal(store_file_chunk_size(s), chunk);
	g = group_named(st, "chunky");
	store_file_t f = file_rec(g, "big.bin", "chunky0001", (int64_t)total);

	assert_int_equal(store_file_chunk_put(s, "chunky0001", 0, data, chunk), STORE_OK);
	assert_int_equal(store_file_chunk_put(s, "chunky0001", 1, data + chunk, chunk), STORE_OK);
	/* two of three chunks: not a file yet */
	assert_int_equal(store_file_add(s, &f, &fid), STORE_NOTFOUND);
	nf = 0;
	assert_int_equal(store_files_foreach(s, g, count_files, &nf), STORE_OK);
	assert_int_equal(nf, 0);
	assert_int_equal(store_file_chunk_put(s, "chunky0001", 2, data + 2 * chunk, 1000), STORE_OK);
	/* a chunk is written once */
	assert_int_equal(store_file_chunk_put(s, "chunky0001", 2, data, 1000), STORE_EXISTS);
	/* a size that is not the chunks' is refused too */
	f.size = (int64_t)total + 1;
	assert_int_equal(store_file_add(s, &f, &fid), STORE_NOTFOUND);
	f.size = (int64_t)total;
	assert_int_equal(store_file_add(s, &f, &fid), STORE_OK);
	nf = 0;
	assert_int_equal(store_files_foreach(s, g, count_files, &nf), STORE_OK);
	assert_int_equal(nf, 1);

	/* another connection (another node) reads the same bytes */
	store_pg_t *other;
	assert_int_equal(store_pg_open(conninfo, &other, err, sizeof err), STORE_OK);
	size_t at = 0;
	for (int64_t i = 0; i < 3; i++) {
		assert_int_equal(store_file_chunk_get(store_pg_store(other), "chunky0001", i, back, chunk,
		                                      &len), STORE_OK);
		assert_int_equal(len, i < 2 ? chunk : 1000);
		assert_memory_equal(back, data + at, len);
		at += len;
	}
	assert_int_equal(store_file_chunk_get(store_pg_store(other), "chunky0001", 3, back, chunk, &len),
	                 STORE_NOTFOUND);
	/* a buffer too small for the chunk is an error, not an overrun */
	assert_int_equal(store_file_chunk_get(s, "chunky0001", 0, back, 100, &len), STORE_ERR);

	/* deleted on one connection: gone, bytes and all, for the other */
	assert_int_equal(store_file_delete(s, fid), STORE_OK);
	assert_int_equal(store_file_get(store_pg_store(other), fid, &f), STORE_NOTFOUND);
	assert_int_equal(store_file_chunk_get(store_pg_store(other), "chunky0001", 0, back, chunk,
	                                      &len), STORE_NOTFOUND);
	assert_int_equal(store_file_delete(store_pg_store(other), fid), STORE_NOTFOUND);
	store_pg_close(other);
	store_pg_close(st);
	free(data);
	free(back);
}

/* A chunk write that fails (an oversized chunk; the connection cut by the
 * server) stores nothing and no file appears; dropping the upload's chunks
 * leaves nothing behind, and the store carries on. */
static void test_failed_chunk_write_leaves_no_file(void **state)
{
	store_pg_t *st;
	char err[512], q[256];
	unsigned char *data = calloc(1, STORE_PG_FILE_CHUNK + 1), back[16];
	size_t len;
	int64_t g, fid;
	int nf;

	assert_non_null(data);
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	store_t *s = store_pg_store(st);
	g = group_named(st, "failing");
	assert_int_equal(store_file_chunk_put(s, "fail0001", 0, data, STORE_PG_FILE_CHUNK + 1),
	                 STORE_ERR);
	assert_int_equal(store_file_chunk_put(s, "fail0001", 0, data, 0), STORE_ERR);
	assert_int_equal(store_file_chunk_get(s, "fail0001", 0, back, sizeof back, &len),
	                 STORE_NOTFOUND);
	/* the server ends this connection (and waits until it is gone): the
	 * next write fails */
	assert_int_equal(store_file_chunk_put(s, "fail0001", 0, "abcd", 4), STORE_OK);
	snprintf(q, sizeof q,
	         "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
	         "WHERE datname = current_database() AND pid <> pg_backend_pid()");
	sql(q);
	assert_int_equal(store_file_chunk_put(s, "fail0001", 1, "efgh", 4), STORE_ERR);
	store_file_t f = file_rec(g, "half.txt", "fail0001", 8);
	/* the next call reconnects: half a file is not a file */
	assert_int_equal(store_file_add(s, &f, &fid), STORE_NOTFOUND);
	nf = 0;
	assert_int_equal(store_files_foreach(s, g, count_files, &nf), STORE_OK);
	assert_int_equal(nf, 0);
	assert_int_equal(store_file_chunks_drop(s, "fail0001"), STORE_OK);
	assert_int_equal(store_file_chunk_get(s, "fail0001", 0, back, sizeof back, &len),
	                 STORE_NOTFOUND);
	assert_int_equal(store_file_chunks_drop(s, "fail0001"), STORE_OK);
	store_pg_close(st);
	free(data);
}

/* Chunks no file owns, left long ago by a node that died mid-upload, are
 * deleted when a node starts, and when an upload begins an hour after the
 * last look; a recent upload's chunks and a file's are kept. A database
 * of schema version 3 gains the chunks' table and keeps its client_msg_ids
 * and its writers' last batches. */
static void test_orphan_chunks_swept_and_the_upgrade_from_version_3(void **state)
{
	store_pg_t *st;
	char err[512], q[512], tok[STORE_PG_TOKEN_LEN];
	unsigned char back[16];
	size_t len;
	int64_t g, fid, u, mid, gid, n;
	struct store_pg_stored out, again;

	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	g = group_named(st, "sweep");
	u = new_user(st, "upgrade4");
	store_msg_t m = { .group_id = g, .sender_id = u, .ts = 1, .sender_name = "upgrade4",
	                  .content = "v3", .client_msg_id = "before-v4" };
	store_pg_batch_token(st, tok, sizeof tok);
	assert_int_equal(store_pg_batch_append(st, &m, 1, tok, &out), STORE_OK);
	store_pg_close(st);
	sql(to_version_3);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	assert_int_equal(sql_int("SELECT value FROM chatroom_meta WHERE key = 'schema_version'"),
	                 STORE_PG_SCHEMA_VERSION);
	store_t *s = store_pg_store(st);
	assert_int_equal(store_dedup_get(s, u, "before-v4", &mid, &gid), STORE_OK);
	assert_int_equal(mid, out.id);
	/* the batch of before the upgrade, retried: answered, not stored */
	assert_int_equal(store_pg_batch_append(st, &m, 1, tok, &again), STORE_OK);
	assert_int_equal(again.id, out.id);
	assert_false(again.duplicate);
	assert_int_equal(store_message_count(s, g, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_file_chunk_put(s, "old0001", 0, "old", 3), STORE_OK);
	assert_int_equal(store_file_chunk_put(s, "new0001", 0, "new", 3), STORE_OK);
	assert_int_equal(store_file_chunk_put(s, "kept0001", 0, "kept", 4), STORE_OK);
	store_file_t f = file_rec(g, "kept.txt", "kept0001", 4);
	assert_int_equal(store_file_add(s, &f, &fid), STORE_OK);
	snprintf(q, sizeof q,
	         "UPDATE file_chunks SET written_at = written_at - %d "
	         "WHERE stored_name IN ('old0001', 'kept0001')",
	         STORE_PG_ORPHAN_CHUNK_AGE + 60);
	sql(q);
	store_pg_close(st);
	assert_int_equal(store_pg_open(conninfo, &st, err, sizeof err), STORE_OK);
	s = store_pg_store(st);
	assert_int_equal(store_file_chunk_get(s, "old0001", 0, back, sizeof back, &len),
	                 STORE_NOTFOUND);
	assert_int_equal(store_file_chunk_get(s, "new0001", 0, back, sizeof back, &len), STORE_OK);
	assert_int_equal(store_file_chunk_get(s, "kept0001", 0, back, sizeof back, &len), STORE_OK);
	assert_memory_equal(back, "kept", 4);
	/* an upload beginning sweeps too, once the connection has not looked
	 * for STORE_PG_ORPHAN_SWEEP_EVERY */
	assert_int_equal(store_file_chunk_put(s, "old0002", 0, "old", 3), STORE_OK);
	snprintf(q, sizeof q,
	         "UPDATE file_chunks SET written_at = written_at - %d WHERE stored_name = 'old0002'",
	         STORE_PG_ORPHAN_CHUNK_AGE + 60);
	sql(q);
	assert_int_equal(store_file_chunk_put(s, "next0001", 0, "n", 1), STORE_OK);
	assert_int_equal(store_file_chunk_get(s, "old0002", 0, back, sizeof back, &len), STORE_OK);
	st->orphans_swept -= STORE_PG_ORPHAN_SWEEP_EVERY;
	assert_int_equal(store_file_chunk_put(s, "next0001", 1, "n", 1), STORE_OK); /* not a start */
	assert_int_equal(store_file_chunk_get(s, "old0002", 0, back, sizeof back, &len), STORE_OK);
	assert_int_equal(store_file_chunk_put(s, "next0002", 0, "n", 1), STORE_OK);
	assert_int_equal(store_file_chunk_get(s, "old0002", 0, back, sizeof back, &len),
	                 STORE_NOTFOUND);
	assert_int_equal(store_file_chunk_get(s, "next0001", 1, back, sizeof back, &len), STORE_OK);
	assert_int_equal(store_file_chunks_drop(s, "next0001"), STORE_OK);
	assert_int_equal(store_file_chunks_drop(s, "next0002"), STORE_OK);
	assert_int_equal(store_file_delete(s, fid), STORE_OK);
	assert_int_equal(store_file_chunks_drop(s, "new0001"), STORE_OK);
	store_pg_close(st);
	assert_int_equal(store_pg_check(conninfo, err, sizeof err), STORE_OK);
}

int main(void)
{
	conninfo = getenv("CHATROOM_TEST_PG");
	if (!conninfo) {
		fprintf(stderr, "test_store_pg: set CHATROOM_TEST_PG to a libpq connection string "
		                "(tests/integration/test_cluster.py does)\n");
		return 2;
	}
	log_init("test_store_pg", LOG_LVL_ERROR, 1, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_is_created_once_with_admin_and_public),
		cmocka_unit_test(test_newer_schema_is_refused_by_open_and_check),
		cmocka_unit_test(test_store_open_picks_postgresql_by_name),
		cmocka_unit_test(test_unreachable_server_is_named),
		cmocka_unit_test(test_batch_takes_ids_and_contiguous_seq_per_group),
		cmocka_unit_test(test_history_and_missed_messages),
		cmocka_unit_test(test_two_writers_into_one_group_give_one_order),
		cmocka_unit_test(test_accounts_groups_and_files_keep_store_h_meanings),
		cmocka_unit_test(test_chat_kinds_and_the_upgrade_from_version_1),
		cmocka_unit_test(test_the_count_of_changes_moves_with_changes_a_node_keeps),
		cmocka_unit_test(test_a_batch_retried_after_its_reply_was_lost_is_stored_once),
		cmocka_unit_test(test_a_retry_waits_for_an_attempt_still_committing),
		cmocka_unit_test(test_a_group_refused_for_a_deadlock_is_made_on_the_next_try),
		cmocka_unit_test(test_dedup_window_keeps_each_senders_newest_client_msg_ids),
		cmocka_unit_test(test_the_upgrade_from_version_2_keeps_client_msg_ids),
		cmocka_unit_test(test_file_bytes_in_chunks),
		cmocka_unit_test(test_failed_chunk_write_leaves_no_file),
		cmocka_unit_test(test_orphan_chunks_swept_and_the_upgrade_from_version_3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
