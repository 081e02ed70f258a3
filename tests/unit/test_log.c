/* test_log.c - common/log.c: the line format, level filtering, level names,
 * and one whole line per call even for the longest message. Standard error
 * is pointed at a temporary file for each test. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int saved_stderr = -1;
static FILE *capture;

static int setup(void **state)
{
	(void)state;
	capture = tmpfile();
	if (!capture)
		return -1;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(capture);
	return 0;
}

/* What was logged so far (a static buffer). */
static const char *logged(void)
{
	static char buf[8192];
	size_t n = 0;
	rewind(capture);
	n = fread(buf, 1, sizeof buf - 1, capture);
	buf[n] = 0;
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_line_format(void **state)
{
	(void)state;
	log_init("tlog", LOG_LVL_INFO, 1, 0);
	log_info("hello %d", 42);
	char want[64];
	snprintf(want, sizeof want, " tlog[%d] info: hello 42\n", (int)getpid());
	const char *s = logged();
	regex_t re;
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} ",
	                         REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
	regfree(&re);
	assert_non_null(strstr(s, want));
	assert_int_equal(count_lines(s), 1);
}

static void test_levels_filter_and_can_change(void **state)
{
	(void)state;
	log_init("tlog", LOG_LVL_WARN, 1, 0);
	log_error("e1");
	log_warn("w1");
	log_info("i1");
	log_debug("d1");
	log_set_level(LOG_LVL_DEBUG);
	log_debug("d2");
	const char *s = logged();
	assert_non_null(strstr(s, " error: e1\n"));
	assert_non_null(strstr(s, " warning: w1\n"));
	assert_null(strstr(s, "i1"));
	assert_null(strstr(s, "d1"));
	assert_non_null(strstr(s, " debug: d2\n"));
	assert_int_equal(count_lines(s), 3);
}

static void test_level_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("error"), LOG_LVL_ERROR);
	assert_int_equal(log_level_parse("WARNING"), LOG_LVL_WARN);
	assert_int_equal(log_level_parse("warn"), LOG_LVL_WARN);
	assert_int_equal(log_level_parse("Info"), LOG_LVL_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_string_equal(log_level_name(LOG_LVL_WARN), "warning");
	assert_string_equal(log_level_name(4), "?");
	assert_string_equal(log_level_name(-1), "?");
}

static void test_long_message_is_cut_but_stays_one_line(void **state)
{
	(void)state;
	char big[4000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	log_init("tlog", LOG_LVL_INFO, 1, 0);
	log_info("%s", big);
	log_info("next");
	const char *s = logged();
	assert_int_equal(count_lines(s), 2);
	const char *first_end = strchr(s, '\n');
	const char *x = strchr(s, 'x');
	assert_non_null(x);
	assert_int_equal(first_end - x, 1023); /* the message is cut at 1023 bytes */
	assert_non_null(strstr(first_end, " info: next\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels_filter_and_can_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_is_cut_but_stays_one_line, setup, teardown),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
