/* test_valid.c - username, password and chat name rules (common/valid.h),
 * as the reference server applies them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "valid.h"

#define OK(call) assert_null(call)
#define BAD(call)                                  \
	do {                                       \
		const char *why_ = (call);         \
		assert_non_null(why_);             \
		assert_true(strlen(why_) > 0);     \
	} while (0)

/* n copies of the string unit */
static const char *rep(char *buf, const char *unit, int n)
{
	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		strcat(buf, unit);
	return buf;
}

static void test_username_accepts_letters_digits_underscore(void **state)
{
	OK(valid_username("bob"));
	OK(valid_username("Alice_1"));
	OK(valid_username("a1b2c3"));
	OK(valid_username("_under"));
	OK(valid_username("___"));
	OK(valid_username("ABCdef"));
}

static void test_username_length(void **state)
{
	char buf[128];
	BAD(valid_username(""));
	BAD(valid_username("a"));
	BAD(valid_username("ab"));
	OK(valid_username("abc"));
	OK(valid_username(rep(buf, "a", 20)));
	BAD(valid_username(rep(buf, "a", 21)));
	BAD(valid_username(rep(buf, "a", 100)));
}

static void test_username_must_not_start_with_digit(void **state)
{
	BAD(valid_username("1abc"));
	BAD(valid_username("9_user"));
	BAD(valid_username("123"));
	OK(valid_username("abc123"));
	const char *why = valid_username("1abc");
	assert_non_null(strstr(why, "digit"));
}

static void test_username_rejects_other_characters(void **state)
{
	BAD(valid_username("a b c"));
	BAD(valid_username("ab-c"));
	BAD(valid_username("ab.c"));
	BAD(valid_username("abc!"));
	BAD(valid_username("abc\n"));
	BAD(valid_username("ab\tc"));
	BAD(valid_username("ab/c"));
	BAD(valid_username("\"abc\""));
	BAD(valid_username("abc\xf0\x9f\x98\x80"));     /* emoji */
	BAD(valid_username("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3")); /* fullwidth ABC */
	BAD(valid_username("ab\xe3\x80\x80" "c"));      /* ideographic space */
}

static void test_username_cjk(void **state)
{
	char buf[256];
	OK(valid_username("\xe5\xbc\xa0\xe4\xb8\x89\xe4\xb8\xb0"));     /* 张三丰 */
	OK(valid_username("\xe7\x94\xa8\xe6\x88\xb7_1"));               /* 用户_1 */
	OK(valid_username("ab\xe4\xb8\xad"));                           /* ab中 */
	OK(valid_username("\xe4\xb8\xad" "12"));                        /* 中12: starts with CJK */
	OK(valid_username("\xe3\x90\x80\xe3\x90\x81\xe3\x90\x82"));     /* U+3400.., extension A */
	OK(valid_username("\xe9\xbe\xa5\xe9\xbe\xa5\xe9\xbe\xa5"));     /* U+9FA5 */
	/* length is in characters, not bytes */
	BAD(valid_username("\xe5\xbc\xa0\xe4\xb8\x89"));                /* 张三: 2 chars, 6 bytes */
	OK(valid_username(rep(buf, "\xe4\xb8\xad", 20)));               /* 20 chars, 60 bytes */
	BAD(valid_username(rep(buf, "\xe4\xb8\xad", 21)));
}

static void test_username_invalid_utf8(void **state)
{
	BAD(valid_username("ab\xff" "c"));
	BAD(valid_username("ab\xe4\xb8"));
	BAD(valid_username("\xed\xa0\x80" "abc"));
	BAD(valid_username(NULL));
}

static void test_password_rules(void **state)
{
	char buf[128];
	OK(valid_password("secret1"));
	OK(valid_password("abc123"));
	OK(valid_password("1a2b3c"));
	OK(valid_password("with space 1"));
	OK(valid_password("P@ssw0rd!"));
	BAD(valid_password(""));
	BAD(valid_password("abc12"));       /* 5 characters */
	BAD(valid_password("abcdefgh"));    /* no digit */
	BAD(valid_password("12345678"));    /* no letter */
	BAD(valid_password("!!!!!!!!"));
	BAD(valid_password("!!!!!!!1"));
	BAD(valid_password(NULL));
	const char *why = valid_password("abcdefgh");
	assert_non_null(strstr(why, "digit"));

	rep(buf, "a", 49);
	strcat(buf, "1");
	OK(valid_password(buf)); /* 50 */
	rep(buf, "a", 50);
	strcat(buf, "1");
	BAD(valid_password(buf)); /* 51 */
}

static void test_password_length_in_characters(void **state)
{
	/* 6 characters, 14 bytes: long enough */
	OK(valid_password("\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81" "a1"));
	/* 5 characters, 8 bytes: too short even though 8 bytes */
	BAD(valid_password("\xe5\xaf\x86\xe7\xa0\x81" "a1b"));
	/* 50 CJK characters plus a1 = 52 characters: too long */
	char buf[256];
	rep(buf, "\xe4\xb8\xad", 48);
	strcat(buf, "a1");
	OK(valid_password(buf)); /* 50 characters, 146 bytes */
	rep(buf, "\xe4\xb8\xad", 49);
	strcat(buf, "a1");
	BAD(valid_password(buf));
}

static void test_chat_name_rules(void **state)
{
	char buf[256];
	OK(valid_chat_name("ab"));
	OK(valid_chat_name("study group"));
	OK(valid_chat_name("C++ & friends!"));
	OK(valid_chat_name("\xe5\xad\xa6\xe4\xb9\xa0"));  /* 学习: 2 characters */
	OK(valid_chat_name(rep(buf, "x", 30)));
	OK(valid_chat_name(rep(buf, "\xe4\xb8\xad", 30))); /* 30 characters, 90 bytes */
	BAD(valid_chat_name(""));
	BAD(valid_chat_name("a"));
	BAD(valid_chat_name("\xe4\xb8\xad"));  /* 1 character, 3 bytes */
	BAD(valid_chat_name(rep(buf, "x", 31)));
	BAD(valid_chat_name(rep(buf, "\xe4\xb8\xad", 31)));
	BAD(valid_chat_name("bad\nname"));
	BAD(valid_chat_name("bad\x01name"));
	BAD(valid_chat_name("tab\tname"));
	BAD(valid_chat_name("del\x7fname"));
	BAD(valid_chat_name("ab\xff"));
	BAD(valid_chat_name(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_username_accepts_letters_digits_underscore),
		cmocka_unit_test(test_username_length),
		cmocka_unit_test(test_username_must_not_start_with_digit),
		cmocka_unit_test(test_username_rejects_other_characters),
		cmocka_unit_test(test_username_cjk),
		cmocka_unit_test(test_username_invalid_utf8),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_password_length_in_characters),
		cmocka_unit_test(test_chat_name_rules),
	};
	return cmocka_run_group_tests_name("valid", tests, NULL, NULL);
}
