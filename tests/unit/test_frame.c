/* test_frame.c - newline framing (common/frame.h): lines, CRLF, partial and
 * batched feeds, the line limit, raw bytes after a line, buffer release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

#define TEST_MAX_LINE 16

static void feed_str(frame_reader_t *fr, const char *s)
{
	assert_int_equal(frame_feed(fr, s, strlen(s)), 0);
}

/* Asserts that the next line is exactly want. */
static void expect_line(frame_reader_t *fr, const char *want)
{
	char *line = NULL;
	size_t len = 0;
	assert_int_equal(frame_next(fr, &line, &len), FRAME_LINE);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
	assert_int_equal(line[len], '\0');
}

static void expect_need(frame_reader_t *fr)
{
	char *line = NULL;
	size_t len = 0;
	assert_int_equal(frame_next(fr, &line, &len), FRAME_NEED);
}

static void test_empty_reader_needs_input(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	expect_need(&fr);
	assert_int_equal(frame_pending(&fr), 0);
	assert_null(fr.buf);
	frame_free(&fr);
}

static void test_one_line(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "hello\n");
	expect_line(&fr, "hello");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_crlf_is_stripped(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "hello\r\nworld\r\n");
	expect_line(&fr, "hello");
	expect_line(&fr, "world");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_only_trailing_cr_is_stripped(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "a\rb\r\n");
	expect_line(&fr, "a\rb");
	frame_free(&fr);
}

static void test_empty_line(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "\n\r\nx\n");
	expect_line(&fr, "");
	expect_line(&fr, "");
	expect_line(&fr, "x");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_partial_feeds_one_byte_at_a_time(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	const char *msg = "{\"a\":1}\r\n";
	for (size_t i = 0; i + 1 < strlen(msg); i++) {
		assert_int_equal(frame_feed(&fr, msg + i, 1), 0);
		expect_need(&fr);
	}
	assert_int_equal(frame_feed(&fr, msg + strlen(msg) - 1, 1), 0);
	expect_line(&fr, "{\"a\":1}");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_line_split_across_feeds(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "first\nsec");
	expect_line(&fr, "first");
	expect_need(&fr);
	assert_int_equal(frame_pending(&fr), 3);
	feed_str(&fr, "ond\nthi");
	expect_line(&fr, "second");
	expect_need(&fr);
	feed_str(&fr, "rd\n");
	expect_line(&fr, "third");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_several_lines_in_one_feed(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "one\ntwo\nthree\nfour");
	expect_line(&fr, "one");
	expect_line(&fr, "two");
	expect_line(&fr, "three");
	expect_need(&fr);
	assert_int_equal(frame_pending(&fr), 4);
	feed_str(&fr, "\n");
	expect_line(&fr, "four");
	expect_need(&fr);
	frame_free(&fr);
}

static void test_line_of_exactly_max_is_accepted(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	char line[TEST_MAX_LINE + 3];
	memset(line, 'x', TEST_MAX_LINE);
	line[TEST_MAX_LINE] = '\0';
	feed_str(&fr, line);
	expect_need(&fr); /* max_line bytes without newline: still fine */
	feed_str(&fr, "\r");
	expect_need(&fr); /* could be the CR of a CRLF */
	feed_str(&fr, "\n");
	expect_line(&fr, line);
	frame_free(&fr);
}

static void test_too_long_line_with_newline(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	char line[TEST_MAX_LINE + 3];
	memset(line, 'y', TEST_MAX_LINE + 1);
	line[TEST_MAX_LINE + 1] = '\n';
	line[TEST_MAX_LINE + 2] = '\0';
	feed_str(&fr, line);
	char *l;
	size_t len;
	assert_int_equal(frame_next(&fr, &l, &len), FRAME_TOO_LONG);
	frame_free(&fr);
}

static void test_too_long_line_with_crlf(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	char line[TEST_MAX_LINE + 4];
	memset(line, 'y', TEST_MAX_LINE + 1);
	memcpy(line + TEST_MAX_LINE + 1, "\r\n", 3);
	feed_str(&fr, line);
	char *l;
	size_t len;
	assert_int_equal(frame_next(&fr, &l, &len), FRAME_TOO_LONG);
	frame_free(&fr);
}

/* A peer that never sends a newline must be stopped before it has sent
 * much more than the limit, not buffered without bound. */
static void test_too_long_without_newline(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	char chunk[TEST_MAX_LINE + 2];
	memset(chunk, 'z', sizeof chunk);
	assert_int_equal(frame_feed(&fr, chunk, sizeof chunk), 0);
	char *l;
	size_t len;
	assert_int_equal(frame_next(&fr, &l, &len), FRAME_TOO_LONG);
	frame_free(&fr);
}

static void test_too_long_after_good_lines(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "ok\n");
	char chunk[TEST_MAX_LINE * 2];
	memset(chunk, 'z', sizeof chunk);
	assert_int_equal(frame_feed(&fr, chunk, sizeof chunk), 0);
	expect_line(&fr, "ok");
	char *l;
	size_t len;
	assert_int_equal(frame_next(&fr, &l, &len), FRAME_TOO_LONG);
	frame_free(&fr);
}

static void test_buffer_released_when_drained(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "abc\n");
	assert_non_null(fr.buf);
	expect_line(&fr, "abc");
	expect_need(&fr);
	assert_null(fr.buf);
	assert_int_equal(fr.cap, 0);
	assert_int_equal(frame_pending(&fr), 0);
	/* and it works again afterwards */
	feed_str(&fr, "def\n");
	expect_line(&fr, "def");
	expect_need(&fr);
	assert_null(fr.buf);
	frame_free(&fr);
}

static void test_buffer_kept_while_partial_line(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "abc\nde");
	expect_line(&fr, "abc");
	expect_need(&fr);
	assert_non_null(fr.buf);
	assert_int_equal(frame_pending(&fr), 2);
	frame_free(&fr);
	assert_null(fr.buf);
}

static void test_take_raw_bytes_after_line(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	/* a request line followed by binary data containing '\n' and NUL */
	static const char input[] = "upload\n\x01\n\0\xff" "abc";
	assert_int_equal(frame_feed(&fr, input, sizeof input - 1), 0);
	expect_line(&fr, "upload");
	assert_int_equal(frame_pending(&fr), 7);
	char raw[16];
	assert_int_equal(frame_take(&fr, raw, 4), 4);
	assert_memory_equal(raw, "\x01\n\0\xff", 4);
	assert_int_equal(frame_pending(&fr), 3);
	/* asking for more than is buffered returns what there is */
	assert_int_equal(frame_take(&fr, raw, sizeof raw), 3);
	assert_memory_equal(raw, "abc", 3);
	assert_int_equal(frame_pending(&fr), 0);
	assert_null(fr.buf);
	assert_int_equal(frame_take(&fr, raw, sizeof raw), 0);
	frame_free(&fr);
}

static void test_take_then_lines_resume(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	feed_str(&fr, "req\n12345next\n");
	expect_line(&fr, "req");
	char raw[5];
	assert_int_equal(frame_take(&fr, raw, 5), 5);
	assert_memory_equal(raw, "12345", 5);
	expect_line(&fr, "next");
	expect_need(&fr);
	frame_free(&fr);
}

/* Scanning resumes where it stopped, and a line found after compaction
 * (start moved back to 0) is still correct. */
static void test_compaction_keeps_partial_line(void **state)
{
	frame_reader_t fr;
	frame_init(&fr, 4096);
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\n';
	for (int i = 0; i < 5; i++) {
		assert_int_equal(frame_feed(&fr, big, sizeof big), 0);
		char *l;
		size_t len;
		assert_int_equal(frame_next(&fr, &l, &len), FRAME_LINE);
		assert_int_equal(len, sizeof big - 1);
	}
	feed_str(&fr, "partial");
	expect_need(&fr);
	char more[1500];
	memset(more, 'b', sizeof more);
	assert_int_equal(frame_feed(&fr, more, sizeof more), 0);
	expect_need(&fr);
	feed_str(&fr, "\n");
	char *l;
	size_t len;
	assert_int_equal(frame_next(&fr, &l, &len), FRAME_LINE);
	assert_int_equal(len, 7 + sizeof more);
	assert_memory_equal(l, "partial", 7);
	assert_int_equal(l[len - 1], 'b');
	frame_free(&fr);
}

static void test_read_fd(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	assert_int_equal(write(p[1], "x\ny\n", 4), 4);
	assert_int_equal(frame_read_fd(&fr, p[0]), 4);
	expect_line(&fr, "x");
	expect_line(&fr, "y");
	expect_need(&fr);
	close(p[1]);
	assert_int_equal(frame_read_fd(&fr, p[0]), 0); /* EOF */
	close(p[0]);
	frame_free(&fr);
}

static void test_read_that_finds_nothing_leaves_no_buffer(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	frame_reader_t fr;
	frame_init(&fr, TEST_MAX_LINE);
	/* an idle connection's read */
	assert_int_equal(frame_read_fd(&fr, p[0]), -1);
	assert_int_equal(errno, EAGAIN);
	assert_null(fr.buf);
	/* a line read and handled, then nothing more */
	assert_int_equal(write(p[1], "x\n", 2), 2);
	assert_int_equal(frame_read_fd(&fr, p[0]), 2);
	expect_line(&fr, "x");
	assert_int_equal(frame_read_fd(&fr, p[0]), -1);
	assert_null(fr.buf);
	/* a partial line stays buffered across reads that find nothing */
	assert_int_equal(write(p[1], "par", 3), 3);
	assert_int_equal(frame_read_fd(&fr, p[0]), 3);
	assert_int_equal(frame_read_fd(&fr, p[0]), -1);
	assert_non_null(fr.buf);
	assert_int_equal(write(p[1], "tial\n", 5), 5);
	assert_int_equal(frame_read_fd(&fr, p[0]), 5);
	expect_line(&fr, "partial");
	expect_need(&fr);
	close(p[1]);
	close(p[0]);
	frame_free(&fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_reader_needs_input),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_crlf_is_stripped),
		cmocka_unit_test(test_only_trailing_cr_is_stripped),
		cmocka_unit_test(test_empty_line),
		cmocka_unit_test(test_partial_feeds_one_byte_at_a_time),
		cmocka_unit_test(test_line_split_across_feeds),
		cmocka_unit_test(test_several_lines_in_one_feed),
		cmocka_unit_test(test_line_of_exactly_max_is_accepted),
		cmocka_unit_test(test_too_long_line_with_newline),
		cmocka_unit_test(test_too_long_line_with_crlf),
		cmocka_unit_test(test_too_long_without_newline),
		cmocka_unit_test(test_too_long_after_good_lines),
		cmocka_unit_test(test_buffer_released_when_drained),
		cmocka_unit_test(test_buffer_kept_while_partial_line),
		cmocka_unit_test(test_take_raw_bytes_after_line),
		cmocka_unit_test(test_take_then_lines_resume),
		cmocka_unit_test(test_compaction_keeps_partial_line),
		cmocka_unit_test(test_read_fd),
		cmocka_unit_test(test_read_that_finds_nothing_leaves_no_buffer),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
