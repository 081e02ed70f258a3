/* test_cmd.c - the dispatcher's table and checks (server/cmd.c): who may
 * send each message type, and which answer a field of the wrong type, or a
 * missing required field, gets before any handler runs. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "cmd.h"
#include "proto.h"
#include "store.h"

#define GUEST (-1) /* not logged in */
#define ALICE 7

/* Check the JSON text req of type, sent by user; returns cmd_check's
 * result and its answer. */
static int check(const char *type, int64_t user, const char *req, int *code, int *id)
{
	const struct cmd_spec *spec = cmd_find(type);
	assert_non_null(spec);
	json_object *o = json_tokener_parse(req);
	assert_non_null(o);
	*code = 0;
	*id = -1;
	int rc = cmd_check(spec, user, o, code, id);
	json_object_put(o);
	return rc;
}

static void test_every_type_of_the_protocol_has_a_handler(void **state)
{
	(void)state;
	static const char *types[] = {
		"hello", "heartbeat", "register_request", "login_request", "logout_request",
		"user_info_request", "list_users_request", "chat_message", "create_chat_request",
		"join_chat_request", "enter_chat_request", "list_chats_request", "history_request",
		"admin_command_request", "file_upload_request", "file_download_request",
		"file_list_request", "open_direct_chat_request", "invite_member_request",
		"remove_member_request", "leave_chat_request",
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		const struct cmd_spec *spec = cmd_find(types[i]);
		assert_non_null(spec);
		assert_non_null(spec->fn);
		assert_string_equal(spec->type, types[i]);
	}
}

static void test_unknown_type_has_no_entry(void **state)
{
	(void)state;
	assert_null(cmd_find("chat_messages"));
	assert_null(cmd_find(""));
	assert_null(cmd_find("CHAT_MESSAGE"));
}

static void test_before_login_only_hello_heartbeat_register_and_login_pass(void **state)
{
	(void)state;
	int code, id;
	assert_int_equal(check("hello", GUEST, "{}", &code, &id), 0);
	assert_int_equal(check("heartbeat", GUEST, "{}", &code, &id), 0);
	assert_int_equal(check("register_request", GUEST, "{\"username\":\"a\",\"password\":\"b\"}",
	                       &code, &id), 0);
	assert_int_equal(check("login_request", GUEST, "{\"username\":\"a\",\"password\":\"b\"}",
	                       &code, &id), 0);
	assert_int_equal(check("logout_request", GUEST, "{}", &code, &id), -1);
	assert_int_equal(code, PROTO_E_CREDENTIALS);
	assert_int_equal(id, CAT_LOGIN_FIRST);
	assert_int_equal(check("chat_message", GUEST, "{\"content\":\"hi\"}", &code, &id), -1);
	assert_int_equal(code, PROTO_E_CREDENTIALS);
	assert_int_equal(id, CAT_LOGIN_FIRST);
	/* not logged in is answered before any field is looked at */
	assert_int_equal(check("history_request", GUEST, "{\"chat_group_id\":\"x\"}", &code, &id), -1);
	assert_int_equal(id, CAT_LOGIN_FIRST);
}

static void test_admin_commands_are_for_admin_only(void **state)
{
	(void)state;
	int code, id;
	const char *req = "{\"command\":\"/del\",\"action\":\"-u\",\"target_name\":\"bob\"}";
	assert_int_equal(check("admin_command_request", ALICE, req, &code, &id), -1);
	assert_int_equal(code, PROTO_E_PERMISSION);
	assert_int_equal(id, CAT_ADMIN_ONLY);
	assert_int_equal(check("admin_command_request", GUEST, req, &code, &id), -1);
	assert_int_equal(code, PROTO_E_CREDENTIALS);
	assert_int_equal(check("admin_command_request", STORE_ADMIN_ID, req, &code, &id), 0);
	/* Admin's own request is still checked: command must be a string */
	assert_int_equal(check("admin_command_request", STORE_ADMIN_ID, "{\"command\":3}", &code, &id), -1);
	assert_int_equal(code, PROTO_E_INVALID);
	assert_int_equal(id, CAT_ADMIN_ARGS);
}

static void test_required_field_missing_null_or_of_another_type_is_refused(void **state)
{
	(void)state;
	int code, id;
	static const char *bad[] = { "{}", "{\"content\":null}", "{\"content\":5}",
		                     "{\"content\":[\"hi\"]}", "{\"content\":true}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(check("chat_message", ALICE, bad[i], &code, &id), -1);
		assert_int_equal(code, PROTO_E_INVALID);
		assert_int_equal(id, CAT_CONTENT_REQUIRED);
	}
	assert_int_equal(check("chat_message", ALICE, "{\"content\":\"\"}", &code, &id), 0);
}

static void test_optional_field_may_be_absent_or_null_but_not_another_type(void **state)
{
	(void)state;
	int code, id;
	assert_int_equal(check("chat_message", ALICE, "{\"content\":\"hi\"}", &code, &id), 0);
	assert_int_equal(check("chat_message", ALICE, "{\"content\":\"hi\",\"chat_group_id\":null}",
	                       &code, &id), 0);
	assert_int_equal(check("chat_message", ALICE, "{\"content\":\"hi\",\"chat_group_id\":4}",
	                       &code, &id), 0);
	assert_int_equal(check("chat_message", ALICE, "{\"content\":\"hi\",\"chat_group_id\":\"4\"}",
	                       &code, &id), -1);
	assert_int_equal(code, PROTO_E_INVALID);
	assert_int_equal(id, CAT_GROUP_ID_INTEGER);
	assert_int_equal(check("list_chats_request", ALICE, "{\"list_type\":1}", &code, &id), -1);
	assert_int_equal(id, CAT_LIST_CHATS_ARGS);
	assert_int_equal(check("file_list_request", ALICE, "{\"chat_group_id\":1.5}", &code, &id), -1);
	assert_int_equal(id, CAT_GROUP_ID_INTEGER);
}

static void test_first_wrong_field_is_the_one_answered(void **state)
{
	(void)state;
	int code, id;
	/* both wrong: content comes first in the table */
	assert_int_equal(check("chat_message", ALICE, "{\"content\":1,\"chat_group_id\":\"x\"}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_CONTENT_REQUIRED);
	assert_int_equal(check("history_request", ALICE, "{\"chat_group_id\":1,\"limit\":\"9\"}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_HISTORY_ARGS);
	assert_int_equal(check("history_request", ALICE, "{\"limit\":9}", &code, &id), -1);
	assert_int_equal(id, CAT_HISTORY_ARGS);
	assert_int_equal(check("file_upload_request", ALICE, "{\"filename\":\"a\",\"file_size\":\"3\"}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_UPLOAD_ARGS);
	assert_int_equal(check("file_upload_request", ALICE, "{\"filename\":\"a\",\"file_size\":3}",
	                       &code, &id), 0);
}

static void test_credentials_must_both_be_strings(void **state)
{
	(void)state;
	int code, id;
	assert_int_equal(check("login_request", GUEST, "{\"username\":\"a\"}", &code, &id), -1);
	assert_int_equal(code, PROTO_E_INVALID);
	assert_int_equal(id, CAT_CREDENTIALS_REQUIRED);
	assert_int_equal(check("register_request", GUEST, "{\"username\":1,\"password\":\"b\"}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_CREDENTIALS_REQUIRED);
}

static void test_chat_name_errors_name_the_request(void **state)
{
	(void)state;
	int code, id;
	assert_int_equal(check("join_chat_request", ALICE, "{\"chat_name\":7}", &code, &id), -1);
	assert_int_equal(id, CAT_CHAT_NAME_REQUIRED);
	/* the dispatcher formats every field error with the type: the entry's
	 * one %s is that type */
	char text[256];
	catalog_format(text, sizeof text, CAT_EN, id, "join_chat_request");
	assert_string_equal(text, "join_chat_request needs chat_name (a string)");
}

/* cmd_dispatch passes the message type as the one argument of a field
 * error: an entry taking anything else would be formatted wrongly. */
static void test_every_field_error_takes_no_argument_or_the_type(void **state)
{
	(void)state;
	static const char *types[] = {
		"register_request", "login_request", "list_users_request", "chat_message",
		"create_chat_request", "join_chat_request", "enter_chat_request",
		"list_chats_request", "history_request", "admin_command_request",
		"file_upload_request", "file_list_request", "open_direct_chat_request",
		"invite_member_request", "remove_member_request", "leave_chat_request",
	};
	int fields = 0;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		const struct cmd_spec *spec = cmd_find(types[i]);
		assert_non_null(spec);
		for (size_t f = 0; f < CMD_MAX_FIELDS && spec->fields[f].name; f++) {
			const char *args = catalog_entry(spec->fields[f].error)->args;
			assert_true(strcmp(args, "") == 0 || strcmp(args, "s") == 0);
			fields++;
		}
	}
	assert_true(fields >= 20);
}

/* A boolean field (create_chat's invite_only) takes true, false, null or
 * nothing; a string or a number is refused with the field's own entry. */
static void test_boolean_field_takes_only_a_boolean(void **state)
{
	(void)state;
	int code, id;
	assert_int_equal(check("create_chat_request", ALICE, "{\"chat_name\":\"club\",\"invite_only\":true}",
	                       &code, &id), 0);
	assert_int_equal(check("create_chat_request", ALICE, "{\"chat_name\":\"club\",\"invite_only\":null}",
	                       &code, &id), 0);
	assert_int_equal(check("create_chat_request", ALICE, "{\"chat_name\":\"club\"}", &code, &id), 0);
	assert_int_equal(check("create_chat_request", ALICE, "{\"chat_name\":\"club\",\"invite_only\":\"yes\"}",
	                       &code, &id), -1);
	assert_int_equal(code, PROTO_E_INVALID);
	assert_int_equal(id, CAT_INVITE_ONLY_ARG);
	assert_int_equal(check("create_chat_request", ALICE, "{\"chat_name\":\"club\",\"invite_only\":1}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_INVITE_ONLY_ARG);
	/* the member requests need a string username, an integer chat */
	assert_int_equal(check("invite_member_request", ALICE, "{\"chat_group_id\":3}", &code, &id), -1);
	assert_int_equal(id, CAT_MEMBER_ARGS);
	assert_int_equal(check("remove_member_request", ALICE, "{\"username\":\"bob\",\"chat_group_id\":\"3\"}",
	                       &code, &id), -1);
	assert_int_equal(id, CAT_MEMBER_ARGS);
	assert_int_equal(check("leave_chat_request", GUEST, "{}", &code, &id), -1);
	assert_int_equal(id, CAT_LOGIN_FIRST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_of_the_protocol_has_a_handler),
		cmocka_unit_test(test_unknown_type_has_no_entry),
		cmocka_unit_test(test_before_login_only_hello_heartbeat_register_and_login_pass),
		cmocka_unit_test(test_admin_commands_are_for_admin_only),
		cmocka_unit_test(test_required_field_missing_null_or_of_another_type_is_refused),
		cmocka_unit_test(test_optional_field_may_be_absent_or_null_but_not_another_type),
		cmocka_unit_test(test_first_wrong_field_is_the_one_answered),
		cmocka_unit_test(test_credentials_must_both_be_strings),
		cmocka_unit_test(test_chat_name_errors_name_the_request),
		cmocka_unit_test(test_every_field_error_takes_no_argument_or_the_type),
		cmocka_unit_test(test_boolean_field_takes_only_a_boolean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
