/* test_proto.c - JSON message helpers (common/proto.h): what proto_parse
 * rejects and why, the typed getters, and serialization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "text.h"

/* Parses s (its strlen) and asserts failure; returns the reason. */
static const char *parse_fails(const char *s, size_t len)
{
	json_object *o = (json_object *)0x1;
	const char *type = NULL, *why = NULL;
	assert_int_equal(proto_parse(s, len, &o, &type, &why), -1);
	assert_null(o);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	return why;
}

static json_object *parse_ok(const char *s, const char **type)
{
	json_object *o = NULL;
	const char *why = NULL;
	assert_int_equal(proto_parse(s, strlen(s), &o, type, &why), 0);
	assert_non_null(o);
	assert_non_null(*type);
	return o;
}

static void test_parse_valid_message(void **state)
{
	const char *type;
	json_object *o = parse_ok("{\"message_type\":\"login_request\",\"timestamp\":1.5,"
	                          "\"username\":\"alice\",\"password\":\"x1y2z3\"}",
	                          &type);
	assert_string_equal(type, "login_request");
	const char *u;
	assert_int_equal(proto_get_string(o, "username", &u), 0);
	assert_string_equal(u, "alice");
	json_object_put(o);
}

static void test_parse_allows_surrounding_white_space(void **state)
{
	const char *type;
	json_object *o = parse_ok("  {\"message_type\":\"heartbeat\"} \t", &type);
	assert_string_equal(type, "heartbeat");
	json_object_put(o);
}

static void test_parse_utf8_content(void **state)
{
	const char *type;
	json_object *o = parse_ok("{\"message_type\":\"chat_message\",\"content\":\"你好 \\u00e9\"}", &type);
	const char *c;
	assert_int_equal(proto_get_string(o, "content", &c), 0);
	assert_string_equal(c, "你好 \xc3\xa9");
	json_object_put(o);
}

static void test_parse_rejects_invalid_utf8(void **state)
{
	static const char bad[] = "{\"message_type\":\"chat_message\",\"content\":\"\xff\xfe\"}";
	const char *why = parse_fails(bad, sizeof bad - 1);
	assert_non_null(strstr(why, "UTF-8"));
	/* an overlong encoding of '"' must not end the string early */
	static const char overlong[] = "{\"message_type\":\"x\",\"c\":\"\xc0\xa2\"}";
	why = parse_fails(overlong, sizeof overlong - 1);
	assert_non_null(strstr(why, "UTF-8"));
}

static void test_parse_rejects_non_object(void **state)
{
	const char *why = parse_fails("[1,2,3]", 7);
	assert_non_null(strstr(why, "object"));
	why = parse_fails("\"message_type\"", 14);
	assert_non_null(strstr(why, "object"));
	parse_fails("null", 4);
	parse_fails("true", 4);
	parse_fails("42", 2);
}

static void test_parse_rejects_missing_message_type(void **state)
{
	const char *why = parse_fails("{\"timestamp\":1}", 15);
	assert_non_null(strstr(why, "message_type"));
	why = parse_fails("{}", 2);
	assert_non_null(strstr(why, "message_type"));
}

static void test_parse_rejects_non_string_message_type(void **state)
{
	const char *bad[] = {
		"{\"message_type\":42}",
		"{\"message_type\":null}",
		"{\"message_type\":[\"login_request\"]}",
		"{\"message_type\":{\"a\":1}}",
		"{\"message_type\":true}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = parse_fails(bad[i], strlen(bad[i]));
		assert_non_null(strstr(why, "message_type"));
	}
}

static void test_parse_rejects_bad_json(void **state)
{
	const char *bad[] = {
		"",
		"{",
		"{\"message_type\":\"x\"",
		"{\"message_type\":'x'}",
		"{\"message_type\":\"x\",}",
		"{message_type:\"x\"}",
		"not json at all",
		"{\"message_type\":\"x\" \"a\":1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = parse_fails(bad[i], strlen(bad[i]));
		assert_non_null(strstr(why, "JSON"));
	}
}

static void test_parse_rejects_trailing_garbage(void **state)
{
	const char *bad[] = {
		"{\"message_type\":\"x\"}x",
		"{\"message_type\":\"x\"}{\"message_type\":\"y\"}",
		"{\"message_type\":\"x\"} ,",
		"{\"message_type\":\"x\"}]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		parse_fails(bad[i], strlen(bad[i]));
	/* an embedded NUL after the object is garbage too, not an end */
	static const char nul[] = "{\"message_type\":\"x\"}\0junk";
	parse_fails(nul, sizeof nul - 1);
}

static void test_parse_rejects_too_deep_json(void **state)
{
	char buf[512];
	size_t o = 0;
	o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"message_type\":\"x\",\"a\":");
	for (int i = 0; i < 40; i++)
		buf[o++] = '[';
	for (int i = 0; i < 40; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	buf[o] = '\0';
	const char *why = parse_fails(buf, o);
	assert_non_null(strstr(why, "deep"));
}

static void test_parse_accepts_shallow_nesting(void **state)
{
	const char *type;
	json_object *o = parse_ok("{\"message_type\":\"create_chat_request\",\"chat_name\":\"g\","
	                          "\"member_usernames\":[\"a\",\"b\"],\"x\":{\"y\":[1]}}",
	                          &type);
	assert_string_equal(type, "create_chat_request");
	json_object_put(o);
}

static json_object *sample(void)
{
	const char *type;
	return parse_ok("{\"message_type\":\"t\",\"s\":\"str\",\"i\":7,\"f\":3.0,\"g\":3.5,"
	                "\"b\":true,\"n\":null,\"a\":[1],\"o\":{},\"big\":9007199254740993}",
	                &type);
}

static void test_get_string(void **state)
{
	json_object *o = sample();
	const char *s;
	assert_int_equal(proto_get_string(o, "s", &s), 0);
	assert_string_equal(s, "str");
	assert_int_equal(proto_get_string(o, "missing", &s), 1);
	assert_null(s);
	assert_int_equal(proto_get_string(o, "n", &s), 1);
	assert_null(s);
	assert_int_equal(proto_get_string(o, "i", &s), -1);
	assert_int_equal(proto_get_string(o, "b", &s), -1);
	assert_int_equal(proto_get_string(o, "a", &s), -1);
	assert_int_equal(proto_get_string(o, "o", &s), -1);
	json_object_put(o);
}

static void test_get_int(void **state)
{
	json_object *o = sample();
	int64_t v = -1;
	assert_int_equal(proto_get_int(o, "i", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(proto_get_int(o, "f", &v), 0); /* 3.0 from a float-only client */
	assert_int_equal(v, 3);
	assert_int_equal(proto_get_int(o, "big", &v), 0);
	assert_true(v == INT64_C(9007199254740993));
	assert_int_equal(proto_get_int(o, "missing", &v), 1);
	assert_int_equal(proto_get_int(o, "n", &v), 1);
	assert_int_equal(proto_get_int(o, "g", &v), -1); /* 3.5 is not an integer */
	assert_int_equal(proto_get_int(o, "s", &v), -1);
	assert_int_equal(proto_get_int(o, "b", &v), -1);
	assert_int_equal(proto_get_int(o, "a", &v), -1);
	assert_int_equal(proto_get_int(o, "o", &v), -1);
	json_object_put(o);
}

static void test_get_int_rejects_string_digits(void **state)
{
	const char *type;
	json_object *o = parse_ok("{\"message_type\":\"t\",\"id\":\"12\"}", &type);
	int64_t v;
	assert_int_equal(proto_get_int(o, "id", &v), -1);
	json_object_put(o);
}

static void test_get_bool(void **state)
{
	json_object *o = sample();
	int b = -1;
	assert_int_equal(proto_get_bool(o, "b", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(proto_get_bool(o, "missing", &b), 1);
	assert_int_equal(proto_get_bool(o, "n", &b), 1);
	assert_int_equal(proto_get_bool(o, "i", &b), -1);
	assert_int_equal(proto_get_bool(o, "s", &b), -1);
	assert_int_equal(proto_get_bool(o, "f", &b), -1);
	json_object_put(o);
}

static void test_new_sets_type_and_timestamp(void **state)
{
	double before = (double)time(NULL);
	json_object *o = proto_new("heartbeat");
	json_object *t, *ts;
	assert_true(json_object_object_get_ex(o, "message_type", &t));
	assert_string_equal(json_object_get_string(t), "heartbeat");
	assert_true(json_object_object_get_ex(o, "timestamp", &ts));
	assert_true(json_object_is_type(ts, json_type_double));
	double d = json_object_get_double(ts);
	assert_true(d >= before - 1 && d <= before + 5);
	assert_int_equal(json_object_object_length(o), 2);
	json_object_put(o);
}

static void test_error_message_shape(void **state)
{
	json_object *o = proto_error(PROTO_E_INVALID, "invalid message");
	int64_t code;
	const char *s;
	assert_int_equal(proto_get_string(o, "message_type", &s), 0);
	assert_string_equal(s, "error_message");
	assert_int_equal(proto_get_int(o, "error_code", &code), 0);
	assert_int_equal(code, 1008);
	assert_int_equal(proto_get_string(o, "error_message", &s), 0);
	assert_string_equal(s, "invalid message");
	assert_int_equal(json_object_object_length(o), 4);
	json_object_put(o);
}

static void test_system_message_shape(void **state)
{
	json_object *o = proto_system_message("you are logged out", "warning");
	const char *s;
	assert_int_equal(proto_get_string(o, "message_type", &s), 0);
	assert_string_equal(s, "system_message");
	assert_int_equal(proto_get_string(o, "content", &s), 0);
	assert_string_equal(s, "you are logged out");
	assert_int_equal(proto_get_string(o, "level", &s), 0);
	assert_string_equal(s, "warning");
	assert_int_equal(json_object_object_length(o), 4);
	json_object_put(o);
}

static void test_serialize_one_line_round_trip(void **state)
{
	json_object *o = proto_new("chat_message");
	proto_set_int(o, "sender_id", 42);
	proto_set_string(o, "sender_username", "张三");
	proto_set_string(o, "content", "line one\nline two\t/\"quoted\"\\ \x01");
	proto_set_null(o, "message_id");
	proto_set_bool(o, "flag", 0);
	proto_set_string(o, "nothing", NULL);
	size_t len = 0;
	char *s = proto_serialize(o, &len);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	assert_true(len > 1);
	assert_int_equal(s[len - 1], '\n');
	/* exactly one newline: the terminator */
	assert_ptr_equal(strchr(s, '\n'), s + len - 1);
	/* and it parses back to the same values */
	json_object *back = NULL;
	const char *type, *why;
	assert_int_equal(proto_parse(s, len - 1, &back, &type, &why), 0);
	assert_string_equal(type, "chat_message");
	int64_t id;
	const char *str;
	int b;
	assert_int_equal(proto_get_int(back, "sender_id", &id), 0);
	assert_int_equal(id, 42);
	assert_int_equal(proto_get_string(back, "sender_username", &str), 0);
	assert_string_equal(str, "张三");
	assert_int_equal(proto_get_string(back, "content", &str), 0);
	assert_string_equal(str, "line one\nline two\t/\"quoted\"\\ \x01");
	assert_int_equal(proto_get_int(back, "message_id", &id), 1);
	assert_true(json_object_object_get_ex(back, "message_id", NULL)); /* present, null */
	assert_int_equal(proto_get_bool(back, "flag", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(proto_get_string(back, "nothing", &str), 1);
	assert_true(json_object_equal(o, back));
	json_object_put(back);
	free(s);
	json_object_put(o);
}

static void test_format_time_value(void **state)
{
	char buf[32];
	setenv("TZ", "UTC", 1);
	tzset();
	proto_format_time(0.0, buf, sizeof buf);
	assert_string_equal(buf, "1970-01-01 00:00:00");
	proto_format_time(1795739902.99, buf, sizeof buf); /* fractions are dropped */
	assert_string_equal(buf, "2026-11-27 00:38:22");
}

static void test_format_time(void **state)
{
	char buf[32];
	proto_format_time(proto_now(), buf, sizeof buf);
	/* "YYYY-MM-DD HH:MM:SS" */
	assert_int_equal(strlen(buf), 19);
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[7], '-');
	assert_int_equal(buf[10], ' ');
	assert_int_equal(buf[13], ':');
	assert_int_equal(buf[16], ':');
}

/* Invalid UTF-8 in error texts: a text cut by "%.64s" in the middle of a
 * character is sent without the partial character. */
static void test_texts_sent_are_valid_utf8(void **state)
{
	char text[128], name[80];
	(void)state;
	memset(name, 'a', 63);
	strcpy(name + 63, "\xc3\xa9"); /* "%.64s" cuts the "é" in half */
	snprintf(text, sizeof text, "chat not found: %.64s", name);
	json_object *o = proto_new("error_message");
	proto_set_string(o, "error_message", text);
	const char *sent = json_object_get_string(json_object_object_get(o, "error_message"));
	assert_true(text_utf8_valid(sent, strlen(sent)));
	assert_int_equal(strlen(sent), strlen("chat not found: ") + 63);
	/* valid texts are sent as they are */
	proto_set_string(o, "x", "caf\xc3\xa9");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "x")), "caf\xc3\xa9");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid_message),
		cmocka_unit_test(test_parse_allows_surrounding_white_space),
		cmocka_unit_test(test_parse_utf8_content),
		cmocka_unit_test(test_parse_rejects_invalid_utf8),
		cmocka_unit_test(test_parse_rejects_non_object),
		cmocka_unit_test(test_parse_rejects_missing_message_type),
		cmocka_unit_test(test_parse_rejects_non_string_message_type),
		cmocka_unit_test(test_parse_rejects_bad_json),
		cmocka_unit_test(test_parse_rejects_trailing_garbage),
		cmocka_unit_test(test_parse_rejects_too_deep_json),
		cmocka_unit_test(test_parse_accepts_shallow_nesting),
		cmocka_unit_test(test_get_string),
		cmocka_unit_test(test_get_int),
		cmocka_unit_test(test_get_int_rejects_string_digits),
		cmocka_unit_test(test_get_bool),
		cmocka_unit_test(test_new_sets_type_and_timestamp),
		cmocka_unit_test(test_error_message_shape),
		cmocka_unit_test(test_system_message_shape),
		cmocka_unit_test(test_serialize_one_line_round_trip),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_texts_sent_are_valid_utf8),
		cmocka_unit_test(test_format_time_value),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
