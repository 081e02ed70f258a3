/* test_text.c - UTF-8 validation and the reference server's content
 * cleaning (common/text.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

#define VALID(lit) assert_true(text_utf8_valid(lit, sizeof(lit) - 1))
#define INVALID(lit) assert_false(text_utf8_valid(lit, sizeof(lit) - 1))

static void test_utf8_valid_sequences(void **state)
{
	VALID("");
	VALID("plain ascii \n\t");
	VALID("\x00"); /* NUL is a valid code point; framing deals with it */
	VALID("\xc2\x80");             /* U+0080, smallest 2-byte */
	VALID("\xc3\xa9");             /* é */
	VALID("\xdf\xbf");             /* U+07FF */
	VALID("\xe0\xa0\x80");         /* U+0800, smallest 3-byte */
	VALID("\xe4\xb8\xad\xe6\x96\x87"); /* 中文 */
	VALID("\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
	VALID("\xee\x80\x80");         /* U+E000, just above */
	VALID("\xef\xbf\xbf");         /* U+FFFF */
	VALID("\xf0\x90\x80\x80");     /* U+10000, smallest 4-byte */
	VALID("\xf0\x9f\x98\x80");     /* 😀 */
	VALID("\xf4\x8f\xbf\xbf");     /* U+10FFFF, the largest */
}

static void test_utf8_rejects_overlongs(void **state)
{
	INVALID("\xc0\x80");             /* NUL as 2 bytes */
	INVALID("\xc0\xaf");             /* '/' as 2 bytes */
	INVALID("\xc1\xbf");
	INVALID("\xe0\x80\x80");         /* NUL as 3 bytes */
	INVALID("\xe0\x9f\xbf");         /* U+07FF as 3 bytes */
	INVALID("\xf0\x80\x80\x80");     /* NUL as 4 bytes */
	INVALID("\xf0\x8f\xbf\xbf");     /* U+FFFF as 4 bytes */
}

static void test_utf8_rejects_surrogates(void **state)
{
	INVALID("\xed\xa0\x80");         /* U+D800 */
	INVALID("\xed\xaf\xbf");         /* U+DBFF */
	INVALID("\xed\xb0\x80");         /* U+DC00 */
	INVALID("\xed\xbf\xbf");         /* U+DFFF */
	INVALID("\xed\xa0\xbd\xed\xb8\x80"); /* CESU-8 pair for U+1F600 */
}

static void test_utf8_rejects_out_of_range(void **state)
{
	INVALID("\xf4\x90\x80\x80");     /* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xf8\x88\x80\x80\x80"); /* old 5-byte form */
	INVALID("\xfc\x84\x80\x80\x80\x80");
	INVALID("\xfe");
	INVALID("\xff");
}

static void test_utf8_rejects_broken_sequences(void **state)
{
	INVALID("\x80");                 /* lone continuation */
	INVALID("a\xbf" "b");
	INVALID("\xc3");                 /* truncated at the end */
	INVALID("\xe4\xb8");
	INVALID("\xf0\x9f\x98");
	INVALID("\xc3" "a");             /* lead byte followed by ASCII */
	INVALID("\xe4\xb8" "a");
	INVALID("\xf0\x9f\x98" "a");
	INVALID("\xe4\xc3\xa9");         /* lead byte followed by another lead */
	/* validity is judged on the given length only */
	assert_false(text_utf8_valid("\xe4\xb8\xad", 2));
	assert_true(text_utf8_valid("\xe4\xb8\xad\xff", 3));
}

static void test_utf8_chars_counts_code_points(void **state)
{
	assert_int_equal(text_utf8_chars(""), 0);
	assert_int_equal(text_utf8_chars("abc"), 3);
	assert_int_equal(text_utf8_chars("\xc3\xa9t\xc3\xa9"), 3);         /* été */
	assert_int_equal(text_utf8_chars("\xe4\xb8\xad\xe6\x96\x87"), 2);  /* 中文 */
	assert_int_equal(text_utf8_chars("\xf0\x9f\x98\x80!"), 2);
}

static void expect_clean(const char *in, size_t max, const char *want)
{
	char *out = text_clean_content(in, max);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void test_clean_keeps_ordinary_text(void **state)
{
	expect_clean("hello, world", 1000, "hello, world");
	expect_clean("", 1000, "");
	expect_clean("\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80", 1000, "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80");
}

static void test_clean_keeps_newline_and_tab(void **state)
{
	expect_clean("a\nb\tc", 1000, "a\nb\tc");
}

static void test_clean_strips_c0_controls_and_del(void **state)
{
	expect_clean("a\x01" "b\x07" "c\x1b[31md\re\x7f" "f\x1f", 1000, "abc[31mdef");
	/* every C0 control but \n and \t */
	char in[40], want[8];
	size_t o = 0;
	for (int c = 1; c < 0x20; c++)
		in[o++] = (char)c;
	in[o] = '\0';
	strcpy(want, "\t\n");
	expect_clean(in, 1000, want);
}

static void test_clean_strips_c1_controls(void **state)
{
	/* U+0080, U+0085 (NEL), U+009B (CSI), U+009F */
	expect_clean("a\xc2\x80" "b\xc2\x85" "c\xc2\x9b" "d\xc2\x9f" "e", 1000, "abcde");
	/* U+00A0 (no-break space) is not a control character */
	expect_clean("a\xc2\xa0" "b", 1000, "a\xc2\xa0" "b");
}

static void test_clean_drops_invalid_bytes(void **state)
{
	expect_clean("a\xff" "b\xc0\x80" "c\xed\xa0\x80" "d", 1000, "abcd");
}

static void test_clean_cuts_long_content(void **state)
{
	expect_clean("abcdef", 3, "abc...");
	expect_clean("abcd", 3, "abc...");
	expect_clean("abc", 3, "abc"); /* exactly the limit: not cut */
	expect_clean("ab", 3, "ab");
}

static void test_clean_cut_at_reference_limit(void **state)
{
	char in[1502];
	memset(in, 'x', 1501);
	in[1501] = '\0';
	char *out = text_clean_content(in, 1000);
	assert_non_null(out);
	assert_int_equal(strlen(out), 1003);
	assert_memory_equal(out + 1000, "...", 4);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(out[i], 'x');
	free(out);

	in[1000] = '\0';
	out = text_clean_content(in, 1000);
	assert_int_equal(strlen(out), 1000);
	free(out);
}

static void test_clean_counts_multibyte_chars_as_one(void **state)
{
	/* 5 CJK characters (15 bytes) cut to 3 characters, not 3 bytes */
	expect_clean("\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89\xe5\x9b\x9b\xe4\xba\x94", 3,
	             "\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89...");
	/* 4-byte emoji */
	expect_clean("\xf0\x9f\x98\x80\xf0\x9f\x98\x81\xf0\x9f\x98\x82", 2,
	             "\xf0\x9f\x98\x80\xf0\x9f\x98\x81...");
	/* 1001 CJK characters: 1000 kept */
	size_t n = 1001 * 3;
	char *in = malloc(n + 1);
	for (size_t i = 0; i < 1001; i++)
		memcpy(in + 3 * i, "\xe4\xb8\xad", 3);
	in[n] = '\0';
	char *out = text_clean_content(in, 1000);
	assert_int_equal(strlen(out), 3000 + 3);
	assert_int_equal(text_utf8_chars(out), 1003);
	assert_memory_equal(out + 3000, "...", 3);
	assert_true(text_utf8_valid(out, strlen(out)));
	free(out);
	free(in);
}

static void test_clean_strips_before_counting(void **state)
{
	/* control characters removed do not count towards the limit */
	expect_clean("\x01\x02\x03" "abc", 3, "abc");
	expect_clean("a\x01" "b\x02" "c\x03" "d", 3, "abc...");
}

static void test_clean_result_is_valid_utf8(void **state)
{
	char *out = text_clean_content("x\xe4\xb8" "y\xf0\x9f" "z\xc3", 1000);
	assert_non_null(out);
	assert_true(text_utf8_valid(out, strlen(out)));
	assert_string_equal(out, "xyz");
	free(out);
}

/* Cleaning is linear in the content length: a 1 MiB message of multi-byte
 * characters (the line limit is configurable) must not cost seconds. */
static void test_clean_is_linear_time(void **state)
{
	size_t chars = 350 * 1000, n = chars * 3;
	char *in = malloc(n + 1);
	assert_non_null(in);
	for (size_t i = 0; i < chars; i++)
		memcpy(in + 3 * i, "\xe4\xb8\xad", 3);
	in[n] = '\0';
	clock_t t0 = clock();
	char *out = text_clean_content(in, chars);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_non_null(out);
	assert_int_equal(strlen(out), n);
	free(out);
	free(in);
	assert_true(secs < 1.0);
}

static void test_blank(void **state)
{
	assert_true(text_blank(""));
	assert_true(text_blank(" "));
	assert_true(text_blank(" \t\r\n "));
	assert_false(text_blank("a"));
	assert_false(text_blank("  .  "));
	assert_false(text_blank("\xe4\xb8\xad"));
}

/* Log injection: a client string in a log line can never start a line of
 * its own or send terminal escapes, and stays bounded. */
static void test_log_injection_is_escaped(void **state)
{
	char out[TEXT_LOG_FIELD];
	(void)state;
	assert_string_equal(text_escape(out, sizeof out, "eve\n2026-01-01 info: Admin logged in"),
	                    "eve\\n2026-01-01 info: Admin logged in");
	assert_string_equal(text_escape(out, sizeof out, "\x1b[2J\r\t\x7f"), "\\x1b[2J\\r\\t\\x7f");
	assert_string_equal(text_escape(out, sizeof out, "back\\slash"), "back\\\\slash");
	/* bytes that are not UTF-8 are shown, valid characters kept */
	assert_string_equal(text_escape(out, sizeof out, "caf\xc3\xa9 \xc3 \xff"),
	                    "caf\xc3\xa9 \\xc3 \\xff");
	assert_string_equal(text_escape(out, sizeof out, NULL), "(null)");
	assert_string_equal(text_escape(out, sizeof out, ""), "");
}

static void test_log_field_is_bounded_on_a_character_boundary(void **state)
{
	char out[12], big[400];
	(void)state;
	/* fits exactly: not cut */
	assert_string_equal(text_escape(out, sizeof out, "abcdefghijk"), "abcdefghijk");
	assert_string_equal(text_escape(out, sizeof out, "abcdefghijkl"), "abcdefgh...");
	/* "é" is two bytes: never cut in half */
	assert_string_equal(text_escape(out, sizeof out, "abcdefg\xc3\xa9xyz"), "abcdefg...");
	assert_int_equal(text_utf8_valid(out, strlen(out)), 1);
	/* an escape is never cut in half either */
	assert_string_equal(text_escape(out, sizeof out, "abcdef\x01xyz"), "abcdef...");
	memset(big, '\n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char field[TEXT_LOG_FIELD];
	assert_true(strlen(text_escape(field, sizeof field, big)) < TEXT_LOG_FIELD);
}

static void test_utf8_repair_drops_broken_characters(void **state)
{
	char a[] = "abc\xc3", b[] = "\xe2\x82x\xff\xc3\xa9", c[] = "ok";
	(void)state;
	assert_int_equal(text_utf8_repair(a), 3);
	assert_string_equal(a, "abc");
	text_utf8_repair(b);
	assert_string_equal(b, "x\xc3\xa9");
	text_utf8_repair(c);
	assert_string_equal(c, "ok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid_sequences),
		cmocka_unit_test(test_utf8_rejects_overlongs),
		cmocka_unit_test(test_utf8_rejects_surrogates),
		cmocka_unit_test(test_utf8_rejects_out_of_range),
		cmocka_unit_test(test_utf8_rejects_broken_sequences),
		cmocka_unit_test(test_utf8_chars_counts_code_points),
		cmocka_unit_test(test_clean_keeps_ordinary_text),
		cmocka_unit_test(test_clean_keeps_newline_and_tab),
		cmocka_unit_test(test_clean_strips_c0_controls_and_del),
		cmocka_unit_test(test_clean_strips_c1_controls),
		cmocka_unit_test(test_clean_drops_invalid_bytes),
		cmocka_unit_test(test_clean_cuts_long_content),
		cmocka_unit_test(test_clean_cut_at_reference_limit),
		cmocka_unit_test(test_clean_counts_multibyte_chars_as_one),
		cmocka_unit_test(test_clean_strips_before_counting),
		cmocka_unit_test(test_clean_result_is_valid_utf8),
		cmocka_unit_test(test_clean_is_linear_time),
		cmocka_unit_test(test_blank),
		cmocka_unit_test(test_log_injection_is_escaped),
		cmocka_unit_test(test_utf8_repair_drops_broken_characters),
		cmocka_unit_test(test_log_field_is_bounded_on_a_character_boundary),
	};
	return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
