/* test_state.c - the state layer (server/state.c): each operation changes
 * the store and the client table together, and when the database refuses
 * the write (the store fault injection makes every write fail as on a full
 * disk) neither changes. A real database in a temporary folder is srv_store,
 * with public and one other user loaded into the table as at start. */
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
	int64_t public_id, uid;
	group_t *pub;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	state_db_open(&f->db, "test_state");
	f->public_id = f->db.public_id;
	assert_int_equal(store_user_create(srv_store, "alice", "", &f->uid), STORE_OK);
	table_wrlock();
	f->pub = table_group_add(f->public_id, "public", 0, 0, 0.0);
	table_unlock();
	assert_non_null(f->pub);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	state_db_close(&f->db);
	free(f);
	return 0;
}

static int stored_banned(int64_t uid)
{
	store_user_t u;
	assert_int_equal(store_user_by_id(srv_store, uid, &u), STORE_OK);
	return u.banned;
}

static int stored_group_banned(int64_t gid)
{
	store_group_t g;
	assert_int_equal(store_group_by_id(srv_store, gid, &g), STORE_OK);
	return g.banned;
}

static int table_banned(int64_t uid)
{
	table_rdlock();
	int b = table_user_banned(uid);
	table_unlock();
	return b;
}

static void test_ban_and_free_change_store_and_table(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(state_user_set_banned(f->uid, 1), STATE_OK);
	assert_int_equal(stored_banned(f->uid), 1);
	assert_true(table_banned(f->uid));
	assert_int_equal(state_user_set_banned(f->uid, 0), STATE_OK);
	assert_int_equal(stored_banned(f->uid), 0);
	assert_false(table_banned(f->uid));
}

static void test_ban_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	break_the_disk();
	assert_int_equal(state_user_set_banned(f->uid, 1), STATE_DB);
	mend_the_disk();
	assert_int_equal(stored_banned(f->uid), 0);
	assert_false(table_banned(f->uid));
	/* and it works once the disk does */
	assert_int_equal(state_user_set_banned(f->uid, 1), STATE_OK);
	assert_true(table_banned(f->uid));
}

static void test_free_refused_by_the_database_keeps_the_ban(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(state_user_set_banned(f->uid, 1), STATE_OK);
	break_the_disk();
	assert_int_equal(state_user_set_banned(f->uid, 0), STATE_DB);
	mend_the_disk();
	assert_int_equal(stored_banned(f->uid), 1);
	assert_true(table_banned(f->uid));
}

static void test_group_ban_changes_store_and_table(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(state_group_set_banned(f->public_id, 1), STATE_OK);
	assert_int_equal(stored_group_banned(f->public_id), 1);
	assert_int_equal(f->pub->banned, 1);
	assert_int_equal(state_group_set_banned(f->public_id, 0), STATE_OK);
	assert_int_equal(stored_group_banned(f->public_id), 0);
	assert_int_equal(f->pub->banned, 0);
}

static void test_group_ban_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	break_the_disk();
	assert_int_equal(state_group_set_banned(f->public_id, 1), STATE_DB);
	mend_the_disk();
	assert_int_equal(stored_group_banned(f->public_id), 0);
	assert_int_equal(f->pub->banned, 0);
}

static void test_join_public_adds_the_member_to_store_and_table(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(state_join_public(f->uid), STATE_OK);
	assert_true(stored_member(f->public_id, f->uid));
	table_rdlock();
	int member = table_is_member(f->pub, f->uid);
	table_unlock();
	assert_true(member);
	/* twice is once */
	assert_int_equal(state_join_public(f->uid), STATE_OK);
	assert_int_equal(f->pub->nmembers, 1);
}

static void test_join_public_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	break_the_disk();
	assert_int_equal(state_join_public(f->uid), STATE_DB);
	mend_the_disk();
	assert_false(stored_member(f->public_id, f->uid));
	table_rdlock();
	int member = table_is_member(f->pub, f->uid);
	table_unlock();
	assert_false(member);
}

static void test_join_adds_the_member_to_store_and_table(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	assert_int_equal(state_group_create("lounge", 0, -1, NULL, 0, &gid), STATE_OK);
	assert_int_equal(state_join(gid, f->uid), STATE_OK);
	assert_true(stored_member(gid, f->uid));
	assert_true(table_member(gid, f->uid));
}

static void test_join_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	assert_int_equal(state_group_create("lounge", 0, -1, NULL, 0, &gid), STATE_OK);
	break_the_disk();
	assert_int_equal(state_join(gid, f->uid), STATE_DB);
	mend_the_disk();
	assert_false(stored_member(gid, f->uid));
	assert_false(table_member(gid, f->uid));
}

static void test_created_group_and_its_members_are_in_store_and_table(void **state)
{
	struct fixture *f = *state;
	int64_t gid, bob, ids[2];
	store_group_t sg;
	assert_int_equal(store_user_create(srv_store, "bob", "", &bob), STORE_OK);
	ids[0] = f->uid;
	ids[1] = bob;
	assert_int_equal(state_group_create("team", 0, -1, ids, 2, &gid), STATE_OK);
	assert_int_equal(store_group_by_id(srv_store, gid, &sg), STORE_OK);
	assert_string_equal(sg.name, "team");
	table_rdlock();
	group_t *g = table_group_by_name("team");
	assert_non_null(g);
	assert_int_equal(g->id, gid);
	assert_int_equal(g->nmembers, 2);
	table_unlock();
	assert_true(stored_member(gid, f->uid));
	assert_true(stored_member(gid, bob));
}

static void test_group_with_a_taken_name_is_not_created(void **state)
{
	struct fixture *f = *state;
	int64_t gid = -1;
	(void)f;
	assert_int_equal(state_group_create("public", 0, -1, NULL, 0, &gid), STATE_EXISTS);
	table_rdlock();
	size_t n = 0;
	for (int64_t id = 1; id < 10; id++)
		n += table_group(id) != NULL;
	table_unlock();
	assert_int_equal(n, 1); /* public alone */
}

static void test_group_creation_refused_by_the_database_leaves_no_group(void **state)
{
	struct fixture *f = *state;
	int64_t gid = -1;
	store_group_t sg;
	break_the_disk();
	assert_int_equal(state_group_create("team", 0, -1, &f->uid, 1, &gid), STATE_DB);
	mend_the_disk();
	assert_int_equal(store_group_by_name(srv_store, "team", &sg), STORE_NOTFOUND);
	table_rdlock();
	assert_null(table_group_by_name("team"));
	table_unlock();
}

static void test_group_rename_changes_store_and_table(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	store_group_t sg;
	(void)f;
	assert_int_equal(state_group_create("team", 0, -1, NULL, 0, &gid), STATE_OK);
	assert_int_equal(state_group_rename(gid, "crew"), STATE_OK);
	assert_int_equal(store_group_by_id(srv_store, gid, &sg), STORE_OK);
	assert_string_equal(sg.name, "crew");
	table_rdlock();
	assert_null(table_group_by_name("team"));
	group_t *g = table_group_by_name("crew");
	assert_non_null(g);
	assert_int_equal(g->id, gid);
	table_unlock();
}

static void test_group_rename_to_a_taken_name_or_refused_changes_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	store_group_t sg;
	(void)f;
	assert_int_equal(state_group_create("team", 0, -1, NULL, 0, &gid), STATE_OK);
	assert_int_equal(state_group_rename(gid, "public"), STATE_EXISTS);
	break_the_disk();
	assert_int_equal(state_group_rename(gid, "crew"), STATE_DB);
	mend_the_disk();
	assert_int_equal(store_group_by_id(srv_store, gid, &sg), STORE_OK);
	assert_string_equal(sg.name, "team");
	table_rdlock();
	group_t *g = table_group_by_name("team");
	assert_non_null(g);
	assert_int_equal(g->id, gid);
	assert_null(table_group_by_name("crew"));
	table_unlock();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ban_and_free_change_store_and_table),
		T(test_ban_refused_by_the_database_changes_nothing),
		T(test_free_refused_by_the_database_keeps_the_ban),
		T(test_group_ban_changes_store_and_table),
		T(test_group_ban_refused_by_the_database_changes_nothing),
		T(test_join_public_adds_the_member_to_store_and_table),
		T(test_join_public_refused_by_the_database_changes_nothing),
		T(test_join_adds_the_member_to_store_and_table),
		T(test_join_refused_by_the_database_changes_nothing),
		T(test_created_group_and_its_members_are_in_store_and_table),
		T(test_group_with_a_taken_name_is_not_created),
		T(test_group_creation_refused_by_the_database_leaves_no_group),
		T(test_group_rename_changes_store_and_table),
		T(test_group_rename_to_a_taken_name_or_refused_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
