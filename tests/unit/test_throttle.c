/* test_throttle.c - failed-login throttling (server/throttle.c): a key is
 * refused after `max` failures within the window, for the rest of the
 * window, keys do not affect each other, and no flood of keys pushes out a
 * live count. Each test uses its own keys:
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
#include "tunables.h"

#define S THROTTLE_SOURCE
#define A THROTTLE_ACCOUNT

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void test_key_may_try_until_max_failures(void **state)
{
	(void)state;
	assert_int_equal(throttle_check(S, "u:alice", 3, 60), 0);
	throttle_fail(S, "u:alice", 60);
	throttle_fail(S, "u:alice", 60);
	assert_int_equal(throttle_check(S, "u:alice", 3, 60), 0);
	throttle_fail(S, "u:alice", 60);
	assert_int_not_equal(throttle_check(S, "u:alice", 3, 60), 0);
}

static void test_refused_key_waits_for_the_rest_of_the_window(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		throttle_fail(S, "u:bob", 60);
	int wait = throttle_check(S, "u:bob", 2, 60);
	/* rounded up to whole seconds: the full window just after failing */
	assert_in_range(wait, 59, 60);
}

static void test_keys_are_counted_separately(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++)
		throttle_fail(S, "a:10.0.0.1", 60);
	assert_int_not_equal(throttle_check(S, "a:10.0.0.1", 5, 60), 0);
	assert_int_equal(throttle_check(S, "a:10.0.0.2", 5, 60), 0);
	assert_int_equal(throttle_check(S, "u:10.0.0.1", 5, 60), 0);
	throttle_fail(S, "a:10.0.0.2", 60);
	assert_int_equal(throttle_check(S, "a:10.0.0.2", 2, 60), 0);
}

static void test_clear_forgets_the_failures(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++)
		throttle_fail(S, "u:carol", 60);
	assert_int_not_equal(throttle_check(S, "u:carol", 4, 60), 0);
	throttle_clear(S, "u:carol");
	assert_int_equal(throttle_check(S, "u:carol", 4, 60), 0);
	/* counting starts again from zero */
	throttle_fail(S, "u:carol", 60);
	assert_int_equal(throttle_check(S, "u:carol", 2, 60), 0);
	throttle_clear(S, "u:never-failed"); /* harmless */
}

static void test_failures_expire_with_the_window(void **state)
{
	(void)state;
	throttle_fail(S, "u:dave", 1);
	throttle_fail(S, "u:dave", 1);
	assert_int_equal(throttle_check(S, "u:dave", 2, 1), 1);
	sleep_ms(1100);
	assert_int_equal(throttle_check(S, "u:dave", 2, 1), 0);
	/* a failure after the window starts a new count */
	throttle_fail(S, "u:dave", 1);
	assert_int_equal(throttle_check(S, "u:dave", 2, 1), 0);
	throttle_fail(S, "u:dave", 1);
	assert_int_equal(throttle_check(S, "u:dave", 2, 1), 1);
}

static void test_failure_after_expiry_without_check_starts_a_new_count(void **state)
{
	(void)state;
	throttle_fail(S, "u:erin", 1);
	throttle_fail(S, "u:erin", 1);
	sleep_ms(1100);
	throttle_fail(S, "u:erin", 1); /* no check in between to reset the slot */
	assert_int_equal(throttle_check(S, "u:erin", 2, 1), 0);
	/* and its window starts now: a second failure refuses again */
	throttle_fail(S, "u:erin", 1);
	assert_int_equal(throttle_check(S, "u:erin", 2, 1), 1);
}

/* Cheap keys (unknown names, fresh addresses) never push out a live count:
 * a key counted before a flood of others is still counted after it, and the
 * flood's extra keys are the ones left uncounted. */
static void test_cheap_keys_never_evict_a_live_count(void **state)
{
	char key[64];
	(void)state;
	for (int i = 0; i < 4; i++)
		throttle_fail(S, "p:victim\n10.0.0.9", 60);
	unsigned long long before = throttle_overflows();
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof key, "p:nobody-%d\n10.0.0.9", i);
		throttle_fail(S, key, 60);
	}
	/* the table (default size) is full: the flood overflowed ... */
	assert_true(throttle_overflows() > before);
	/* ... but the victim's 4 failures are all still there */
	assert_int_equal(throttle_count(S, "p:victim\n10.0.0.9", 60), 4);
	throttle_fail(S, "p:victim\n10.0.0.9", 60);
	assert_int_not_equal(throttle_check(S, "p:victim\n10.0.0.9", 5, 60), 0);
}

/* The two tables are apart: a flood of source keys leaves room for the
 * counts of accounts. */
static void test_account_counts_survive_a_full_source_table(void **state)
{
	(void)state;
	/* the source table is full after the previous test */
	for (int i = 0; i < 3; i++)
		throttle_fail(A, "u:victim", 60);
	assert_int_equal(throttle_count(A, "u:victim", 60), 3);
	assert_int_equal(throttle_count(S, "u:victim", 60), 0);
}

/* Expired counts free their slots for new keys. */
static void test_expired_counts_make_room(void **state)
{
	(void)state;
	assert_int_equal(throttle_init(64), 0);
	throttle_fail(S, "a:old", 1);
	assert_int_equal(throttle_count(S, "a:old", 1), 1);
	sleep_ms(1100);
	assert_int_equal(throttle_count(S, "a:old", 1), 0);
	char key[32];
	unsigned long long before = throttle_overflows();
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof key, "a:new-%d", i);
		throttle_fail(S, key, 1);
	}
	/* 64 keys into 64 slots, one of them expired: all counted, bar the
	 * few whose neighbourhood is full by chance */
	assert_true(throttle_overflows() - before < 64);
	assert_int_equal(throttle_init(CR_DEFAULT_LOGIN_THROTTLE_ENTRIES), 0);
}

static void test_ipv6_addresses_count_by_their_64(void **state)
{
	char out[64];
	(void)state;
	throttle_source("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out, sizeof out);
	assert_string_equal(out, "2001:db8:1:2::/64");
	throttle_source("2001:db8:1:2::1", out, sizeof out);
	assert_string_equal(out, "2001:db8:1:2::/64");
	throttle_source("::ffff:192.0.2.7", out, sizeof out);
	assert_string_equal(out, "192.0.2.7");
	throttle_source("192.0.2.7", out, sizeof out);
	assert_string_equal(out, "192.0.2.7");
}

/* Registration limit: take counts and refuses in one step. */
static void test_take_counts_until_max_then_refuses(void **state)
{
	(void)state;
	assert_int_equal(throttle_take(S, "r:10.0.0.5", 2, 60), 0);
	assert_int_equal(throttle_take(S, "r:10.0.0.5", 2, 60), 0);
	assert_in_range(throttle_take(S, "r:10.0.0.5", 2, 60), 59, 60);
	/* a refusal counts nothing more */
	assert_int_equal(throttle_count(S, "r:10.0.0.5", 60), 2);
	assert_int_equal(throttle_take(S, "r:10.0.0.6", 2, 60), 0);
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
	throttle_fail(S, key, 60);
	throttle_fail(S, key, 60);
	assert_int_not_equal(throttle_check(S, key, 2, 60), 0);
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
		cmocka_unit_test(test_cheap_keys_never_evict_a_live_count),
		cmocka_unit_test(test_account_counts_survive_a_full_source_table),
		cmocka_unit_test(test_expired_counts_make_room),
		cmocka_unit_test(test_ipv6_addresses_count_by_their_64),
		cmocka_unit_test(test_take_counts_until_max_then_refuses),
		cmocka_unit_test(test_longest_login_key_is_throttled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
