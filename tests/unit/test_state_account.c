/* test_state_account.c - the state layer's accounts, logins, deletion of
 * groups and files' metadata (server/state_account.c, state.c,
 * state_file.c): each operation changes the store and the client table
 * together and ends the sessions it must; when the database refuses (the
 * store fault injection) neither changes and every session stays. A login
 * that an account change overtakes between its read and the table lock is
 * driven deterministically through the login's test hook. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog.h"
#include "state_fixture.h"
#include "state_store.h"
#include "tunables.h"

/* ---- helpers ------------------------------------------------------------ */

static int login_replies;
static int64_t login_reply_public;

static void count_reply(void *ctx, int64_t public_id)
{
	(void)ctx;
	login_replies++;
	login_reply_public = public_id;
}

/* Client i logs in as name (no password): both steps of a login. */
static int login(struct fixture *f, int i, const char *name)
{
	struct state_login l;
	int rc = state_login_read(name, &l);
	if (rc != STATE_OK)
		return rc;
	return state_login(f->c[i], &l, CAT_LOGGED_IN_ELSEWHERE, "test: logged in elsewhere",
	                   count_reply, NULL);
}

static int logged_in_as(struct fixture *f, int i, int64_t uid)
{
	table_rdlock();
	int yes = table_user_client(uid) == f->c[i] && f->c[i]->logged_in &&
	          f->c[i]->user_id == uid;
	table_unlock();
	return yes;
}

static int is_closing(struct fixture *f, int i)
{
	return atomic_load(&f->c[i]->closing) != 0;
}

static int stored_user(const char *name, store_user_t *u)
{
	return store_user_by_name(srv_store, name, u) == STORE_OK;
}

/* ---- registration ------------------------------------------------------- */

static void test_register_makes_an_account_member_of_public(void **state)
{
	struct fixture *f = *state;
	int64_t uid;
	store_user_t u;
	assert_int_equal(state_user_name_taken("carol"), STATE_OK);
	assert_int_equal(state_register("carol", "hash", &uid), STATE_OK);
	assert_true(stored_user("carol", &u));
	assert_int_equal(u.id, uid);
	assert_string_equal(u.pwhash, "hash");
	assert_true(stored_member(f->public_id, uid));
	assert_true(table_member(f->public_id, uid));
}

static void test_register_of_a_name_taken_in_any_case_is_refused(void **state)
{
	int64_t uid = -1;
	(void)state;
	assert_int_equal(state_user_name_taken("ALICE"), STATE_EXISTS);
	assert_int_equal(state_register("Alice", "hash", &uid), STATE_EXISTS);
	assert_int_equal(uid, -1);
}

static void test_register_refused_by_the_database_leaves_no_account(void **state)
{
	store_user_t u;
	int64_t uid;
	(void)state;
	break_the_disk();
	assert_int_equal(state_register("carol", "hash", &uid), STATE_DB);
	mend_the_disk();
	assert_false(stored_user("carol", &u));
	assert_int_equal(state_register("carol", "hash", &uid), STATE_OK);
}

static void test_name_check_refused_by_the_database_is_a_database_error(void **state)
{
	(void)state;
	break_the_reads(FAULT(user_name_taken));
	assert_int_equal(state_user_name_taken("carol"), STATE_DB);
}

/* The account is the registration; public's membership, refused, is made
 * by the first login. */
static void test_register_keeps_the_account_when_public_refuses_and_login_mends_it(void **state)
{
	struct fixture *f = *state;
	int64_t uid;
	break_the_reads(FAULT(member_add));
	assert_int_equal(state_register("carol", "", &uid), STATE_OK);
	mend_the_disk();
	assert_false(stored_member(f->public_id, uid));
	assert_false(table_member(f->public_id, uid));
	assert_int_equal(login(f, 0, "carol"), STATE_OK);
	assert_true(stored_member(f->public_id, uid));
	assert_true(table_member(f->public_id, uid));
}

/* ---- logins ------------------------------------------------------------- */

static void test_login_makes_the_client_its_users_session_in_public(void **state)
{
	struct fixture *f = *state;
	login_replies = 0;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	assert_int_equal(login_replies, 1);
	assert_int_equal(login_reply_public, f->public_id);
	assert_true(logged_in_as(f, 0, f->alice));
	assert_string_equal(f->c[0]->username, "alice");
	assert_non_null(f->c[0]->cur);
	assert_int_equal(f->c[0]->cur->id, f->public_id);
}

static void test_login_of_an_unknown_name_is_not_found(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login(f, 0, "nobody"), STATE_NOTFOUND);
	assert_int_equal(f->c[0]->user_id, -1);
}

static void test_login_read_refused_by_the_database_is_a_database_error(void **state)
{
	struct fixture *f = *state;
	break_the_reads(FAULT(user_by_name));
	assert_int_equal(login(f, 0, "alice"), STATE_DB);
	mend_the_disk();
	assert_false(logged_in_as(f, 0, f->alice));
}

static void test_login_whose_public_membership_is_refused_logs_nobody_in(void **state)
{
	struct fixture *f = *state;
	int64_t uid;
	assert_int_equal(store_user_create(srv_store, "carol", "", &uid), STORE_OK);
	struct state_login l;
	assert_int_equal(state_login_read("carol", &l), STATE_OK);
	break_the_disk();
	login_replies = 0;
	assert_int_equal(state_login(f->c[0], &l, CAT_LOGGED_IN_ELSEWHERE, "test", count_reply, NULL),
	                 STATE_DB);
	mend_the_disk();
	assert_int_equal(login_replies, 0);
	assert_false(logged_in_as(f, 0, uid));
	assert_false(table_member(f->public_id, uid));
}

static void test_second_login_ends_the_older_session(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	received(f, 0);
	assert_int_equal(login(f, 1, "alice"), STATE_OK);
	assert_true(logged_in_as(f, 1, f->alice));
	/* the older one is told, no longer the user's, and closing; its own
	 * worker still knows who it was */
	assert_non_null(strstr(received(f, 0), "system_message"));
	assert_false(f->c[0]->logged_in);
	assert_true(is_closing(f, 0));
	assert_int_equal(f->c[0]->user_id, f->alice);
	assert_null(f->c[0]->cur);
}

static void test_logout_forgets_the_identity(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	state_logout(f->c[0]);
	assert_false(logged_in_as(f, 0, f->alice));
	assert_int_equal(f->c[0]->user_id, -1);
	assert_string_equal(f->c[0]->username, "");
	assert_null(f->c[0]->cur);
}

/* What the test hook does between a login's read and its table lock. */
static int hook_calls;
static void (*hook_change)(void);
static int64_t hook_uid;

static void login_hook(void)
{
	if (hook_calls++ == 0 && hook_change)
		hook_change();
}

static void delete_account(void)
{
	assert_int_equal(state_user_delete(hook_uid, CAT_ADMIN_ACCOUNT_DELETED, "test"), STATE_OK);
}

static void rename_account(void)
{
	assert_int_equal(state_user_rename(hook_uid, "alicia", CAT_ADMIN_RENAMED_NOTICE, "test"),
	                 STATE_OK);
}

static void new_password(void)
{
	assert_int_equal(state_user_set_pwhash(hook_uid, "other", 0, CAT_ADMIN_PASSWORD_NOTICE, "test"),
	                 STATE_OK);
}

static void change_another_account(void)
{
	assert_int_equal(state_user_rename(hook_uid, "robert", CAT_ADMIN_RENAMED_NOTICE, "test"),
	                 STATE_OK);
}

/* Client 0 reads alice, change() runs before it takes the table lock. */
static int login_overtaken(struct fixture *f, void (*change)(void), int64_t uid)
{
	hook_calls = 0;
	hook_change = change;
	hook_uid = uid;
	state_login_test_hook = login_hook;
	int rc = login(f, 0, "alice");
	state_login_test_hook = NULL;
	return rc;
}

static void test_login_of_an_account_deleted_after_its_read_is_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login_overtaken(f, delete_account, f->alice), STATE_NOTFOUND);
	assert_int_equal(hook_calls, 1); /* refused on reading the account again */
	assert_false(logged_in_as(f, 0, f->alice));
	assert_false(table_member(f->public_id, f->alice));
}

static void test_login_of_an_account_renamed_or_given_a_password_after_its_read_is_refused(
	void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login_overtaken(f, new_password, f->alice), STATE_NOTFOUND);
	assert_false(logged_in_as(f, 0, f->alice));
	assert_int_equal(login_overtaken(f, rename_account, f->alice), STATE_NOTFOUND);
	assert_false(logged_in_as(f, 0, f->alice));
}

/* carol is in no group: the login makes her a member of public in the
 * store first, and undoes it when the login is refused afterwards. */
static void test_login_refused_after_joining_public_leaves_no_membership(void **state)
{
	struct fixture *f = *state;
	int64_t carol;
	assert_int_equal(store_user_create(srv_store, "carol", "", &carol), STORE_OK);
	struct state_login l;
	assert_int_equal(state_login_read("carol", &l), STATE_OK);
	hook_calls = 0;
	hook_change = new_password;
	hook_uid = carol;
	state_login_test_hook = login_hook;
	int rc = state_login(f->c[0], &l, CAT_LOGGED_IN_ELSEWHERE, "test", count_reply, NULL);
	state_login_test_hook = NULL;
	assert_int_equal(rc, STATE_NOTFOUND);
	assert_false(stored_member(f->public_id, carol));
	assert_false(table_member(f->public_id, carol));
	assert_false(logged_in_as(f, 0, carol));
}

static void test_login_overtaken_by_a_change_to_another_account_goes_on(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(login_overtaken(f, change_another_account, f->bob), STATE_OK);
	assert_int_equal(hook_calls, 2);
	assert_true(logged_in_as(f, 0, f->alice));
}

/* ---- Admin's changes to accounts ----------------------------------------- */

static void test_delete_user_removes_everything_of_it_and_ends_its_session(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	store_user_t u;
	assert_int_equal(state_group_create("team", 0, -1, &f->alice, 1, &gid), STATE_OK);
	assert_int_equal(state_user_set_banned(f->alice, 1), STATE_OK);
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	received(f, 0);
	uint64_t gen = table_accounts_gen();
	assert_int_equal(state_user_delete(f->alice, CAT_ADMIN_ACCOUNT_DELETED, "test"), STATE_OK);
	assert_int_equal(store_user_by_id(srv_store, f->alice, &u), STORE_NOTFOUND);
	assert_false(stored_member(gid, f->alice));
	assert_false(table_member(gid, f->alice));
	assert_false(table_member(f->public_id, f->alice));
	table_rdlock();
	assert_false(table_user_banned(f->alice));
	table_unlock();
	assert_true(table_accounts_gen() > gen);
	assert_false(f->c[0]->logged_in);
	assert_true(is_closing(f, 0));
	assert_non_null(strstr(received(f, 0), "system_message"));
}

static void test_delete_user_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	uint64_t gen = table_accounts_gen();
	break_the_disk();
	assert_int_equal(state_user_delete(f->alice, CAT_ADMIN_ACCOUNT_DELETED, "test"), STATE_DB);
	mend_the_disk();
	assert_int_equal(store_user_by_id(srv_store, f->alice, &u), STORE_OK);
	assert_true(stored_member(f->public_id, f->alice));
	assert_true(table_member(f->public_id, f->alice));
	assert_int_equal(table_accounts_gen(), gen);
	assert_true(logged_in_as(f, 0, f->alice));
	assert_false(is_closing(f, 0));
}

static void test_delete_of_an_unknown_user_is_not_found(void **state)
{
	(void)state;
	assert_int_equal(state_user_delete(999, CAT_ADMIN_ACCOUNT_DELETED, "test"), STATE_NOTFOUND);
}

static void test_rename_user_changes_the_store_and_ends_the_session(void **state)
{
	struct fixture *f = *state;
	state_user_t u;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	assert_int_equal(state_user_rename(f->alice, "alicia", CAT_ADMIN_RENAMED_NOTICE, "test"),
	                 STATE_OK);
	assert_int_equal(state_user_by_id(f->alice, &u), STATE_OK);
	assert_string_equal(u.username, "alicia");
	assert_false(f->c[0]->logged_in);
	assert_true(is_closing(f, 0));
	assert_non_null(strstr(received(f, 0), "alicia")); /* the notice names the new name */
}

static void test_rename_to_a_taken_name_or_refused_changes_nothing(void **state)
{
	struct fixture *f = *state;
	state_user_t u;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	assert_int_equal(state_user_rename(f->alice, "BOB", CAT_ADMIN_RENAMED_NOTICE, "test"),
	                 STATE_EXISTS);
	break_the_disk();
	assert_int_equal(state_user_rename(f->alice, "alicia", CAT_ADMIN_RENAMED_NOTICE, "test"),
	                 STATE_DB);
	mend_the_disk();
	assert_int_equal(state_user_by_id(f->alice, &u), STATE_OK);
	assert_string_equal(u.username, "alice");
	assert_true(logged_in_as(f, 0, f->alice));
	assert_false(is_closing(f, 0));
}

static void test_new_password_ends_the_session_unless_kept(void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	assert_int_equal(login(f, 1, "bob"), STATE_OK);
	/* Admin changing its own password from its session keeps it */
	assert_int_equal(state_user_set_pwhash(f->bob, "h1", 1, CAT_ADMIN_PASSWORD_NOTICE, "test"),
	                 STATE_OK);
	assert_true(logged_in_as(f, 1, f->bob));
	assert_int_equal(state_user_set_pwhash(f->alice, "h2", 0, CAT_ADMIN_PASSWORD_NOTICE, "test"),
	                 STATE_OK);
	assert_true(stored_user("alice", &u));
	assert_string_equal(u.pwhash, "h2");
	assert_false(f->c[0]->logged_in);
	assert_true(is_closing(f, 0));
}

static void test_new_password_refused_by_the_database_keeps_the_old_one_and_the_session(
	void **state)
{
	struct fixture *f = *state;
	store_user_t u;
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	break_the_disk();
	assert_int_equal(state_user_set_pwhash(f->alice, "h2", 0, CAT_ADMIN_PASSWORD_NOTICE, "test"),
	                 STATE_DB);
	mend_the_disk();
	assert_true(stored_user("alice", &u));
	assert_string_equal(u.pwhash, "");
	assert_true(logged_in_as(f, 0, f->alice));
}

/* ---- deleting a group ---------------------------------------------------- */

static void enter_group(struct fixture *f, int i, int64_t gid)
{
	table_wrlock();
	table_enter(f->c[i], table_group(gid));
	table_unlock();
}

static void test_group_delete_moves_whoever_is_in_it_to_public_with_the_notice(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	store_group_t g;
	outbuf_t *notice[CAT_NLANGS];
	assert_int_equal(state_group_create("team", 0, -1, &f->alice, 1, &gid), STATE_OK);
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	enter_group(f, 0, gid);
	received(f, 0);
	for (int l = 0; l < CAT_NLANGS; l++)
		notice[l] = outbuf_new("{\"message_type\":\"notice\"}\n", 26);
	assert_int_equal(state_group_delete(gid, notice), STATE_OK);
	for (int l = 0; l < CAT_NLANGS; l++)
		outbuf_unref(notice[l]);
	assert_int_equal(store_group_by_id(srv_store, gid, &g), STORE_NOTFOUND);
	assert_false(stored_member(gid, f->alice));
	table_rdlock();
	assert_null(table_group(gid));
	table_unlock();
	assert_int_equal(f->c[0]->cur->id, f->public_id);
	assert_true(table_member(f->public_id, f->alice));
	assert_non_null(strstr(received(f, 0), "\"notice\""));
}

static void test_group_delete_refused_by_the_database_changes_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t gid;
	store_group_t g;
	outbuf_t *notice[CAT_NLANGS] = { 0 };
	assert_int_equal(state_group_create("team", 0, -1, &f->alice, 1, &gid), STATE_OK);
	assert_int_equal(login(f, 0, "alice"), STATE_OK);
	enter_group(f, 0, gid);
	break_the_disk();
	assert_int_equal(state_group_delete(gid, notice), STATE_DB);
	mend_the_disk();
	assert_int_equal(store_group_by_id(srv_store, gid, &g), STORE_OK);
	assert_true(stored_member(gid, f->alice));
	assert_true(table_member(gid, f->alice));
	assert_int_equal(f->c[0]->cur->id, gid);
}

/* ---- lookups, loading, files' metadata ----------------------------------- */

static void test_lookups_answer_found_not_found_or_database_error(void **state)
{
	struct fixture *f = *state;
	state_user_t u;
	state_group_t g;
	int64_t n;
	assert_int_equal(state_user_by_name("alice", &u), STATE_OK);
	assert_int_equal(u.id, f->alice);
	assert_int_equal(state_user_by_id(12345, &u), STATE_NOTFOUND);
	assert_int_equal(state_group_by_name("public", &g), STATE_OK);
	assert_int_equal(g.id, f->public_id);
	assert_int_equal(state_group_by_id(12345, &g), STATE_NOTFOUND);
	assert_int_equal(state_user_count(&n), STATE_OK);
	assert_int_equal(n, 3); /* Admin, alice, bob */
	break_the_reads(FAULT(user_by_id) | FAULT(group_by_name));
	assert_int_equal(state_user_by_id(f->alice, &u), STATE_DB);
	assert_int_equal(state_group_by_name("public", &g), STATE_DB);
}

static void test_load_puts_groups_their_kinds_members_and_bans_in_the_table(void **state)
{
	struct fixture *f = *state;
	int64_t gid, last = -1;
	assert_int_equal(store_group_create(srv_store, "team", 0, &gid), STORE_OK);
	assert_int_equal(store_member_add(srv_store, gid, f->bob), STORE_OK);
	assert_int_equal(store_user_set_banned(srv_store, f->bob, 1), STORE_OK);
	int64_t lo = f->alice < f->bob ? f->alice : f->bob, hi = f->alice ^ f->bob ^ lo, club, pair;
	store_chat_meta_t meta = { .invite_only = 1, .creator_id = f->alice, .direct = { -1, -1 } };
	assert_int_equal(store_chat_create(srv_store, "club", &meta, &f->alice, 1, &club), STORE_OK);
	meta = (store_chat_meta_t){ .creator_id = f->bob, .direct = { lo, hi } };
	int64_t both[2] = { f->alice, f->bob };
	assert_int_equal(store_chat_create(srv_store, "alice_bob", &meta, both, 2, &pair), STORE_OK);
	table_wrlock();
	for (int i = 0; i < FX_CLIENTS; i++)
		table_remove_client(f->c[i]);
	table_unlock();
	table_destroy(); /* as at a new start */
	table_init();
	assert_int_equal(state_load(&last), 0);
	table_wrlock();
	for (int i = 0; i < FX_CLIENTS; i++)
		table_add_client(f->c[i]);
	table_unlock();
	assert_int_equal(last, 0);
	assert_true(table_member(gid, f->bob));
	assert_true(table_member(f->public_id, f->alice));
	table_rdlock();
	assert_true(table_user_banned(f->bob));
	assert_false(table_user_banned(f->alice));
	table_unlock();
	/* the groups' kinds (plain, invite-only, direct), copied out of the
	 * table so that a failed check leaves no lock held */
	group_t k[3];
	int64_t ids[3] = { gid, club, pair };
	table_rdlock();
	for (int i = 0; i < 3; i++) {
		group_t *g = table_group(ids[i]);
		memset(&k[i], 0, sizeof k[i]);
		if (g)
			k[i] = *g;
	}
	table_unlock();
	assert_int_equal(k[0].id, gid);
	assert_false(k[0].invite_only);
	assert_int_equal(k[0].creator_id, -1);
	assert_int_equal(k[0].direct[0], -1);
	assert_int_equal(k[1].id, club);
	assert_true(k[1].invite_only);
	assert_int_equal(k[1].creator_id, f->alice);
	assert_false(k[1].is_private);
	assert_int_equal(k[1].direct[0], -1);
	assert_int_equal(k[2].id, pair);
	assert_false(k[2].invite_only);
	assert_true(k[2].is_private);
	assert_int_equal(k[2].direct[0], lo);
	assert_int_equal(k[2].direct[1], hi);
	assert_true(table_member(pair, f->alice) && table_member(pair, f->bob));
}

static void test_admin_password_is_set_once(void **state)
{
	(void)state;
	assert_int_equal(state_admin_has_password(), 0);
	assert_int_equal(state_admin_set_pwhash("hash"), STATE_OK);
	assert_int_equal(state_admin_has_password(), 1);
}

static int count_file(void *ctx, const state_file_t *f)
{
	(void)f;
	(*(int *)ctx)++;
	return 0;
}

static void test_files_metadata_added_read_listed_and_deleted(void **state)
{
	struct fixture *f = *state;
	state_file_t in = { .group_id = f->public_id, .uploader_id = f->alice, .size = 3,
	                    .uploaded_at = 1.5 }, out;
	int64_t id;
	int n = 0;
	snprintf(in.uploader_name, sizeof in.uploader_name, "alice");
	snprintf(in.filename, sizeof in.filename, "notes.txt");
	snprintf(in.stored_name, sizeof in.stored_name, "abc123");
	assert_int_equal(state_file_add(&in, &id), STATE_OK);
	assert_int_equal(state_file_get(id, &out), STATE_OK);
	assert_string_equal(out.filename, "notes.txt");
	assert_string_equal(out.stored_name, "abc123");
	assert_string_equal(out.uploader_name, "alice");
	assert_int_equal(out.size, 3);
	assert_int_equal(state_files_foreach(f->public_id, count_file, &n), STATE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(state_file_delete(id), STATE_OK);
	assert_int_equal(state_file_get(id, &out), STATE_NOTFOUND);
	assert_int_equal(state_file_delete(id), STATE_NOTFOUND);
}

static void test_file_record_refused_by_the_database_lists_nothing(void **state)
{
	struct fixture *f = *state;
	state_file_t in = { .group_id = f->public_id, .uploader_id = f->alice, .size = 3 };
	int64_t id;
	int n = 0;
	break_the_disk();
	assert_int_equal(state_file_add(&in, &id), STATE_DB);
	mend_the_disk();
	assert_int_equal(state_files_foreach(0, count_file, &n), STATE_OK);
	assert_int_equal(n, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_register_makes_an_account_member_of_public),
		T(test_register_of_a_name_taken_in_any_case_is_refused),
		T(test_register_refused_by_the_database_leaves_no_account),
		T(test_name_check_refused_by_the_database_is_a_database_error),
		T(test_register_keeps_the_account_when_public_refuses_and_login_mends_it),
		T(test_login_makes_the_client_its_users_session_in_public),
		T(test_login_of_an_unknown_name_is_not_found),
		T(test_login_read_refused_by_the_database_is_a_database_error),
		T(test_login_whose_public_membership_is_refused_logs_nobody_in),
		T(test_second_login_ends_the_older_session),
		T(test_logout_forgets_the_identity),
		T(test_login_of_an_account_deleted_after_its_read_is_refused),
		T(test_login_of_an_account_renamed_or_given_a_password_after_its_read_is_refused),
		T(test_login_refused_after_joining_public_leaves_no_membership),
		T(test_login_overtaken_by_a_change_to_another_account_goes_on),
		T(test_delete_user_removes_everything_of_it_and_ends_its_session),
		T(test_delete_user_refused_by_the_database_changes_nothing),
		T(test_delete_of_an_unknown_user_is_not_found),
		T(test_rename_user_changes_the_store_and_ends_the_session),
		T(test_rename_to_a_taken_name_or_refused_changes_nothing),
		T(test_new_password_ends_the_session_unless_kept),
		T(test_new_password_refused_by_the_database_keeps_the_old_one_and_the_session),
		T(test_group_delete_moves_whoever_is_in_it_to_public_with_the_notice),
		T(test_group_delete_refused_by_the_database_changes_nothing),
		T(test_lookups_answer_found_not_found_or_database_error),
		T(test_load_puts_groups_their_kinds_members_and_bans_in_the_table),
		T(test_admin_password_is_set_once),
		T(test_files_metadata_added_read_listed_and_deleted),
		T(test_file_record_refused_by_the_database_lists_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
