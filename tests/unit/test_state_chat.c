/* test_state_chat.c - the state layer's direct chats, invite-only groups
 * and removal of members (server/state_chat.c): each operation changes the
 * store and the client table together, a direct chat is one per pair, and
 * when the database refuses the write (the store fault injection makes
 * every write fail as on a full disk) neither changes. A real database in
 * a temporary folder is srv_store, with public and two users loaded into
 * the table as at start. */
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

#include "state.h"
#include "state_db.h"

struct fixture {
	struct state_db db;
	int64_t public_id, alice, bob;
	group_t *pub;
	client_t *c; /* bob's session, in the table */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	state_db_open(&f->db, "test_state_chat");
	f->public_id = f->db.public_id;
	assert_int_equal(store_user_create(srv_store, "alice", "", &f->alice), STORE_OK);
	assert_int_equal(store_user_create(srv_store, "bob", "", &f->bob), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->alice), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->bob), STORE_OK);
	f->c = client_new(-1, "127.0.0.1:1000");
	assert_non_null(f->c);
	table_wrlock();
	f->pub = table_group_add(f->public_id, "public", 0, 0, 0.0);
	assert_non_null(f->pub);
	assert_int_equal(table_member_add(f->pub, f->alice), 0);
	assert_int_equal(table_member_add(f->pub, f->bob), 0);
	table_add_client(f->c);
	table_set_user(f->c, f->bob, "bob");
	table_enter(f->c, f->pub);
	table_unlock();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	table_wrlock();
	table_remove_client(f->c);
	table_unlock();
	client_unref(f->c);
	state_db_close(&f->db);
	free(f);
	return 0;
}

static int count_meta_cb(void *ctx, const store_chat_meta_t *m)
{
	(void)m;
	(*(int *)ctx)++;
	return 0;
}

static int stored_groups(void)
{
	int n = 0;
	assert_int_equal(store_chat_meta_foreach(srv_store, count_meta_cb, &n), STORE_OK);
	return n;
}

static int count_group(void *ctx, const store_group_t *g)
{
	(void)g;
	(*(int *)ctx)++;
	return 0;
}

static int stored_group_count(void)
{
	int n = 0;
	assert_int_equal(store_groups_foreach(srv_store, count_group, &n), STORE_OK);
	return n;
}

static void test_direct_chat_has_exactly_its_two_members(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	char name[160];
	int created;
	store_group_t sg;

	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &gid, name, sizeof name,
	                                   &created), STATE_OK);
	assert_true(created);
	assert_string_equal(name, "alice_bob");
	assert_int_equal(store_group_by_id(srv_store, gid, &sg), STORE_OK);
	assert_int_equal(sg.is_private, 1);
	assert_true(stored_member(gid, f->alice) && stored_member(gid, f->bob));
	table_rdlock();
	group_t *g = table_group(gid);
	assert_non_null(g);
	assert_int_equal(g->is_private, 1);
	assert_int_equal(g->nmembers, 2);
	assert_int_equal(g->direct[0], f->alice < f->bob ? f->alice : f->bob);
	assert_int_equal(g->direct[1], f->alice < f->bob ? f->bob : f->alice);
	assert_int_equal(g->creator_id, f->alice);
	table_unlock();
	assert_int_equal(state_direct_find(f->bob, f->alice), gid);
}

static void test_the_pair_has_one_direct_chat_in_either_order(void **state)
{
	struct fixture *f = *state;
	int64_t g1, g2;
	char n1[160], n2[160];
	int c1, c2;
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &g1, n1, sizeof n1, &c1),
	                 STATE_OK);
	assert_int_equal(state_direct_open(f->bob, "bob", f->alice, "alice", &g2, n2, sizeof n2, &c2),
	                 STATE_OK);
	assert_true(c1);
	assert_false(c2);
	assert_int_equal(g1, g2);
	assert_string_equal(n2, "alice_bob");
	assert_int_equal(stored_groups(), 1);
}

static void test_taken_direct_name_gets_a_suffix(void **state)
{
	struct fixture *f = *state;
	int64_t squat, gid;
	char name[160];
	int created;
	assert_int_equal(state_group_create("alice_bob", 0, f->alice, &f->alice, 1, &squat), STATE_OK);
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &gid, name, sizeof name,
	                                   &created), STATE_OK);
	assert_string_equal(name, "alice_bob_2");
	assert_int_not_equal(gid, squat);
}

static void test_direct_chat_refused_by_the_database_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t gid = -1;
	char name[160];
	int created = 1;
	int before = stored_group_count();
	break_the_disk();
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &gid, name, sizeof name,
	                                   &created), STATE_DB);
	mend_the_disk();
	assert_false(created);
	assert_int_equal(stored_group_count(), before);
	assert_int_equal(stored_groups(), 0);
	assert_int_equal(state_direct_find(f->alice, f->bob), -1);
	table_rdlock();
	assert_null(table_group_by_name("alice_bob"));
	table_unlock();
	/* and it works once the disk does */
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &gid, name, sizeof name,
	                                   &created), STATE_OK);
	assert_true(created);
}

static void test_reopening_makes_a_member_who_left_one_again(void **state)
{
	struct fixture *f = *state;
	int64_t gid, again;
	char name[160];
	int created, moved;
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &gid, name, sizeof name,
	                                   &created), STATE_OK);
	assert_int_equal(state_member_remove(gid, f->bob, NULL, &moved), STATE_OK);
	assert_false(stored_member(gid, f->bob));
	assert_false(table_member(gid, f->bob));
	/* a refused re-opening changes nothing */
	break_the_disk();
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &again, name, sizeof name,
	                                   &created), STATE_DB);
	mend_the_disk();
	assert_false(stored_member(gid, f->bob));
	assert_false(table_member(gid, f->bob));
	assert_int_equal(state_direct_open(f->alice, "alice", f->bob, "bob", &again, name, sizeof name,
	                                   &created), STATE_OK);
	assert_int_equal(again, gid);
	assert_false(created);
	assert_true(stored_member(gid, f->bob));
	assert_true(table_member(gid, f->bob));
}

static void test_invite_only_group_is_recorded_in_store_and_table(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	assert_int_equal(state_group_create("club", 1, f->alice, &f->alice, 1, &gid), STATE_OK);
	table_rdlock();
	group_t *g = table_group(gid);
	assert_non_null(g);
	assert_int_equal(g->invite_only, 1);
	assert_int_equal(g->is_private, 0);
	assert_int_equal(g->creator_id, f->alice);
	assert_int_equal(g->nmembers, 1);
	table_unlock();
	assert_int_equal(stored_groups(), 1);
	assert_true(stored_member(gid, f->alice));
	/* an invitation is state_join() */
	assert_int_equal(state_join(gid, f->bob), STATE_OK);
	assert_true(stored_member(gid, f->bob));
	assert_true(table_member(gid, f->bob));
}

static void test_invite_only_group_refused_by_the_database_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t gid = -1;
	store_group_t sg;
	break_the_disk();
	assert_int_equal(state_group_create("club", 1, f->alice, &f->alice, 1, &gid), STATE_DB);
	mend_the_disk();
	assert_int_equal(store_group_by_name(srv_store, "club", &sg), STORE_NOTFOUND);
	assert_int_equal(stored_groups(), 0);
	table_rdlock();
	assert_null(table_group_by_name("club"));
	table_unlock();
	/* a taken name changes nothing either */
	assert_int_equal(state_group_create("public", 1, f->alice, &f->alice, 1, &gid), STATE_EXISTS);
	assert_int_equal(stored_groups(), 0);
}

static void test_removing_the_current_chat_moves_the_session_to_public(void **state)
{
	struct fixture *f = *state;
	int64_t ids[2] = { f->alice, f->bob }, gid;
	int moved;
	assert_int_equal(state_group_create("club", 1, f->alice, ids, 2, &gid), STATE_OK);
	table_wrlock();
	table_enter(f->c, table_group(gid));
	table_unlock();
	assert_int_equal(state_member_remove(gid, f->bob, NULL, &moved), STATE_OK);
	assert_true(moved);
	assert_false(stored_member(gid, f->bob));
	assert_false(table_member(gid, f->bob));
	table_rdlock();
	assert_ptr_equal(f->c->cur, f->pub);
	assert_int_equal(table_group(gid)->npresent, 0);
	table_unlock();
	/* alice, offline, leaves: the group stays, with no member */
	assert_int_equal(state_member_remove(gid, f->alice, NULL, &moved), STATE_OK);
	assert_false(moved);
	table_rdlock();
	assert_non_null(table_group(gid));
	assert_int_equal(table_group(gid)->nmembers, 0);
	table_unlock();
	store_group_t sg;
	assert_int_equal(store_group_by_id(srv_store, gid, &sg), STORE_OK);
}

static void test_removal_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t ids[2] = { f->alice, f->bob }, gid;
	int moved = 1;
	assert_int_equal(state_group_create("club", 1, f->alice, ids, 2, &gid), STATE_OK);
	table_wrlock();
	table_enter(f->c, table_group(gid));
	table_unlock();
	break_the_disk();
	assert_int_equal(state_member_remove(gid, f->bob, NULL, &moved), STATE_DB);
	mend_the_disk();
	assert_false(moved);
	assert_true(stored_member(gid, f->bob));
	assert_true(table_member(gid, f->bob));
	table_rdlock();
	assert_int_equal(f->c->cur->id, gid);
	table_unlock();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_direct_chat_has_exactly_its_two_members),
		T(test_the_pair_has_one_direct_chat_in_either_order),
		T(test_taken_direct_name_gets_a_suffix),
		T(test_direct_chat_refused_by_the_database_leaves_nothing),
		T(test_reopening_makes_a_member_who_left_one_again),
		T(test_invite_only_group_is_recorded_in_store_and_table),
		T(test_invite_only_group_refused_by_the_database_leaves_nothing),
		T(test_removing_the_current_chat_moves_the_session_to_public),
		T(test_removal_refused_by_the_database_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
