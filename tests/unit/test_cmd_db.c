/* test_cmd_db.c - the handlers' read paths when the database fails: the
 * user is answered error 1011 with the text the manual gives, nothing is
 * lost, and the same request works once the database does. The reads are
 * made to fail at the store interface (store_faults.h); each request goes
 * through the dispatcher (cmd_dispatch) as a session would send it. And a
 * session whose login another connection took over is refused. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog.h"
#include "cmd.h"
#include "passwd.h"
#include "proto.h"
#include "throttle.h"
#include "state_fixture.h"

/* Client 0 logged in as alice (Admin: as Admin), speaking protocol 2. */
static void log_in(struct fixture *f, const char *name)
{
	struct state_login l;
	assert_int_equal(state_login_read(name, &l), STATE_OK);
	table_wrlock();
	f->c[0]->protocol = 2;
	table_unlock();
	table_wrlock();
	if (f->c[0]->user_id >= 0)
		table_clear_user(f->c[0]);
	table_set_user(f->c[0], l.id, l.username);
	table_enter(f->c[0], table_group(f->public_id));
	table_unlock();
}

/* Send the JSON text req from client 0 through the dispatcher. */
static void send_req(struct fixture *f, const char *req)
{
	json_object *o = json_tokener_parse(req), *t;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "message_type", &t));
	cmd_dispatch(&f->s[0], json_object_get_string(t), o);
	json_object_put(o);
}

/* req, sent while the operations in mask fail, is answered 1011 with
 * catalog entry text; sent again once they work, it is answered type. */
static void refused_then_answered(struct fixture *f, unsigned long long mask, const char *req,
                                  int text, const char *type)
{
	char want[256];
	received(f, 0);
	break_the_reads(mask);
	send_req(f, req);
	mend_the_disk();
	json_object *e = received_type(f, 0, "error_message");
	if (!e)
		fail_msg("no error_message for %s", req);
	assert_int_equal(field_int(e, "error_code"), PROTO_E_DATABASE);
	assert_int_equal(PROTO_E_DATABASE, 1011);
	catalog_format(want, sizeof want, CAT_EN, text);
	assert_string_equal(field_str(e, "error_message"), want);
	json_object_put(e);
	send_req(f, req);
	json_object *ok = received_type(f, 0, type);
	if (!ok)
		fail_msg("no %s for %s once the database works", type, req);
	json_object_put(ok);
}

static void test_user_info_answers_1011_when_the_account_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	log_in(f, "alice");
	refused_then_answered(f, FAULT(user_by_id), "{\"message_type\":\"user_info_request\"}",
	                      CAT_DATABASE_ERROR, "user_info_response");
	refused_then_answered(f, FAULT(user_count), "{\"message_type\":\"user_info_request\"}",
	                      CAT_DATABASE_ERROR, "user_info_response");
}

static void test_list_users_answers_1011_when_the_users_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	log_in(f, "alice");
	refused_then_answered(f, FAULT(users_foreach),
	                      "{\"message_type\":\"list_users_request\",\"list_type\":\"all\"}",
	                      CAT_DATABASE_ERROR, "list_users_response");
}

static void test_history_answers_1011_when_the_messages_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	char req[160];
	log_in(f, "alice");
	/* public's cache is empty: the history comes from the database */
	snprintf(req, sizeof req,
	         "{\"message_type\":\"history_request\",\"chat_group_id\":%lld,\"limit\":10}",
	         (long long)f->public_id);
	refused_then_answered(f, FAULT(history), req, CAT_HISTORY_FAILED, "chat_history_complete");
}

static void test_file_list_and_download_answer_1011_when_files_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	char req[160];
	state_file_t in = { .group_id = f->public_id, .uploader_id = f->alice, .size = 3 };
	int64_t id;
	log_in(f, "alice");
	snprintf(req, sizeof req, "{\"message_type\":\"file_list_request\",\"chat_group_id\":%lld}",
	         (long long)f->public_id);
	refused_then_answered(f, FAULT(files_foreach), req, CAT_DATABASE_ERROR, "file_list_response");
	snprintf(in.filename, sizeof in.filename, "a.txt");
	snprintf(in.stored_name, sizeof in.stored_name, "missing");
	assert_int_equal(state_file_add(&in, &id), STATE_OK);
	snprintf(req, sizeof req, "{\"message_type\":\"file_download_request\",\"file_id\":%lld}",
	         (long long)id);
	received(f, 0);
	break_the_reads(FAULT(file_get));
	send_req(f, req);
	mend_the_disk();
	json_object *e = received_type(f, 0, "error_message");
	assert_non_null(e);
	assert_int_equal(field_int(e, "error_code"), PROTO_E_DATABASE);
	json_object_put(e);
	/* once readable, the record is found: its bytes are missing (none were
	 * ever written), which is another answer (logged) */
	log_set_level(-1);
	send_req(f, req);
	log_set_level(LOG_LVL_ERROR);
	e = received_type(f, 0, "error_message");
	assert_non_null(e);
	assert_int_equal(field_int(e, "error_code"), PROTO_E_FILE_NOT_FOUND);
	json_object_put(e);
}

static void test_login_answers_1011_when_the_account_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	refused_then_answered(f, FAULT(user_by_name),
	                      "{\"message_type\":\"login_request\",\"username\":\"alice\","
	                      "\"password\":\"x\"}",
	                      CAT_DATABASE_ERROR, "login_response");
	assert_int_equal(f->c[0]->user_id, -1); /* a wrong password: never logged in */
}

static void test_create_chat_answers_1011_when_a_member_cannot_be_read(void **state)
{
	struct fixture *f = *state;
	log_in(f, "alice");
	refused_then_answered(f, FAULT(user_by_name),
	                      "{\"message_type\":\"create_chat_request\",\"chat_name\":\"team\","
	                      "\"member_usernames\":[\"bob\"]}",
	                      CAT_DATABASE_ERROR, "create_chat_response");
	table_rdlock();
	group_t *g = table_group_by_name("team");
	assert_non_null(g);
	assert_int_equal(g->nmembers, 2);
	table_unlock();
}

static void test_admin_lookups_answer_the_database_error(void **state)
{
	struct fixture *f = *state;
	char want[256];
	log_in(f, "Admin");
	received(f, 0);
	catalog_format(want, sizeof want, CAT_EN, CAT_DATABASE_ERROR);
	static const struct {
		unsigned long long mask;
		const char *req;
	} cases[] = {
		{ FAULT(users_foreach), "{\"message_type\":\"admin_command_request\",\"command\":"
		                        "\"free\",\"action\":\"-l\"}" },
		{ FAULT(user_by_name), "{\"message_type\":\"admin_command_request\",\"command\":"
		                       "\"ban\",\"action\":\"-u\",\"target_name\":\"bob\"}" },
		{ FAULT(group_by_name), "{\"message_type\":\"admin_command_request\",\"command\":"
		                        "\"ban\",\"action\":\"-g\",\"target_name\":\"public\"}" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		break_the_reads(cases[i].mask);
		send_req(f, cases[i].req);
		mend_the_disk();
		json_object *r = received_type(f, 0, "admin_command_response");
		assert_non_null(r);
		json_object *ok;
		assert_true(json_object_object_get_ex(r, "success", &ok));
		assert_false(json_object_get_boolean(ok));
		assert_string_equal(field_str(r, "message"), want);
		json_object_put(r);
	}
	/* nothing changed: bob is not banned */
	table_rdlock();
	assert_false(table_user_banned(f->bob));
	table_unlock();
}

static void ignore_reply(void *ctx, int64_t public_id)
{
	(void)ctx;
	(void)public_id;
}

/* The identity is the client's alone: a session whose user logged in again
 * elsewhere still knows who it was, is no longer the user's, and enters
 * nothing (it is closing: nothing more is sent to it). */
static void test_session_taken_over_enters_nothing(void **state)
{
	struct fixture *f = *state;
	struct state_login l;
	int64_t gid;
	log_in(f, "alice");
	assert_int_equal(state_group_create("team", 0, -1, &f->alice, 1, &gid), STATE_OK);
	send_req(f, "{\"message_type\":\"enter_chat_request\",\"chat_name\":\"team\"}");
	assert_int_equal(f->c[0]->cur->id, gid);
	assert_int_equal(state_login_read("alice", &l), STATE_OK);
	assert_int_equal(state_login(f->c[1], &l, CAT_LOGGED_IN_ELSEWHERE, "test", ignore_reply, NULL),
	                 STATE_OK);
	assert_null(f->c[0]->cur);
	send_req(f, "{\"message_type\":\"enter_chat_request\",\"chat_name\":\"team\"}");
	assert_null(f->c[0]->cur);
	assert_false(f->c[0]->logged_in);
	assert_int_equal(f->c[0]->user_id, f->alice);
	table_rdlock();
	assert_ptr_equal(table_user_client(f->alice), f->c[1]);
	table_unlock();
}

int main(void)
{
	/* the cheapest hash: logins are checked, not timed */
	if (passwd_init(1, 8, 2) < 0 || throttle_init(1024) < 0)
		return 1;
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_user_info_answers_1011_when_the_account_cannot_be_read),
		T(test_list_users_answers_1011_when_the_users_cannot_be_read),
		T(test_history_answers_1011_when_the_messages_cannot_be_read),
		T(test_file_list_and_download_answer_1011_when_files_cannot_be_read),
		T(test_login_answers_1011_when_the_account_cannot_be_read),
		T(test_create_chat_answers_1011_when_a_member_cannot_be_read),
		T(test_admin_lookups_answer_the_database_error),
		T(test_session_taken_over_enters_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
