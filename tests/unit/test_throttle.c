/* test_throttle.c - failed-login throttling (server/throttle.c): a key is
 * refused after `max` failures within the window, for the rest of the
 * window, and keys do not affect each other. Each test uses its own keys:
 * the table is process-wide. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "throttle.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void test_key_may_try_until_max_failures(void **state)
{
	(void)state;
	assert_int_equal(throttle_check("u:alice", 3, 60), 0);
	throttle_fail("u:alice", 60);
	throttle_fail("u:alice", 60);
	assert_int_equal(throttle_check("u:alice", 3, 60), 0);
	throttle_fail("u:alice", 60);
	assert_int_not_equal(throttle_check("u:alice", 3, 60), 0);
}

static void test_refused_key_waits_for_the_rest_of_the_window(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		throttle_fail("u:bob", 60);
	int wait = throttle_check("u:bob", 2, 60);
	/* rounded up to whole seconds: the full window just after failing */
	assert_in_range(wait, 59, 60);
}

static void test_keys_are_counted_separately(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++)
		throttle_fail("a:10.0.0.1", 60);
	assert_int_not_equal(throttle_check("a:10.0.0.1", 5, 60), 0);
	assert_int_equal(throttle_check("a:10.0.0.2", 5, 60), 0);
	assert_int_equal(throttle_check("u:10.0.0.1", 5, 60), 0);
	throttle_fail("a:10.0.0.2", 60);
	assert_int_equal(throttle_check("a:10.0.0.2", 2, 60), 0);
}

static void test_clear_forgets_the_failures(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++)
		throttle_fail("u:carol", 60);
	assert_int_not_equal(throttle_check("u:carol", 4, 60), 0);
	throttle_clear("u:carol");
	assert_int_equal(throttle_check("u:carol", 4, 60), 0);
	/* counting starts again from zero */
	throttle_fail("u:carol", 60);
	assert_int_equal(throttle_check("u:carol", 2, 60), 0);
	throttle_clear("u:never-failed"); /* harmless */
}

static void test_failures_expire_with_the_window(void **state)
{
	(void)state;
	throttle_fail("u:dave", 1);
	throttle_fail("u:dave", 1);
	assert_int_equal(throttle_check("u:dave", 2, 1), 1);
	sleep_ms(1100);
	assert_int_equal(throttle_check("u:dave", 2, 1), 0);
	/* a failure after the window starts a new count */
	throttle_fail("u:dave", 1);
	assert_int_equal(throttle_check("u:dave", 2, 1), 0);
	throttle_fail("u:dave", 1);
	assert_int_equal(throttle_check("u:dave", 2, 1), 1);
}

static void test_failure_after_expiry_without_check_starts_a_new_count(void **state)
{
	(void)state;
	throttle_fail("u:erin", 1);
	throttle_fail("u:erin", 1);
	sleep_ms(1100);
	throttle_fail("u:erin", 1); /* no check in between to reset the slot */
	assert_int_equal(throttle_check("u:erin", 2, 1), 0);
	/* and its window starts now: a second failure refuses again */
	throttle_fail("u:erin", 1);
	assert_int_equal(throttle_check("u:erin", 2, 1), 1);
}

/* An attacker rotating through more keys than the table holds pushes out
 * old entries, but the table stays bounded and recent keys are kept. */
static void test_many_keys_keep_the_newest_throttled(void **state)
{
	char key[64];
	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "a:flood-%d", i);
		throttle_fail(key, 60);
	}
	assert_int_not_equal(throttle_check("a:flood-19999", 1, 60), 0);
	/* an unrelated key is unaffected */
	assert_int_equal(throttle_check("a:innocent", 1, 60), 0);
}

/* The longest key cmd_login builds is "u:" and 100 bytes of user name. */
static void test_longest_login_key_is_throttled(void **state)
{
	char key[103];
	(void)state;
	memset(key, 'x', sizeof key - 1);
	key[0] = 'u';
	key[1] = ':';
	key[sizeof key - 1] = '\0';
	throttle_fail(key, 60);
	throttle_fail(key, 60);
	assert_int_not_equal(throttle_check(key, 2, 60), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_may_try_until_max_failures),
		cmocka_unit_test(test_refused_key_waits_for_the_rest_of_the_window),
		cmocka_unit_test(test_keys_are_counted_separately),
		cmocka_unit_test(test_clear_forgets_the_failures),
		cmocka_unit_test(test_failures_expire_with_the_window),
		cmocka_unit_test(test_failure_after_expiry_without_check_starts_a_new_count),
		cmocka_unit_test(test_many_keys_keep_the_newest_throttled),
		cmocka_unit_test(test_longest_login_key_is_throttled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
