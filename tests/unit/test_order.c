/* test_order.c - per-group delivery order in cluster mode (server/order.c). */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "msg.h"
#include "order.h"

#define MAXG 4
#define MAXSEEN 4096

static struct {
	int64_t seq[MAXG][MAXSEEN];
	size_t n[MAXG];
	int out_of_order;
} seen;

static void deliver(msg_t *m, int64_t seq, void *ctx)
{
	int64_t g = m->group_id;
	(void)ctx;
	if (seen.n[g] && seen.seq[g][seen.n[g] - 1] + 1 != seq)
		seen.out_of_order = 1;
	if (seen.n[g] < MAXSEEN)
		seen.seq[g][seen.n[g]++] = seq;
}

static int setup(void **state)
{
	memset(&seen, 0, sizeof seen);
	order_init(deliver, NULL);
	return 0;
}

static int teardown(void **state)
{
	order_reset();
	return 0;
}

/* Offer message seq of group g; the delivered count. */
static size_t offer(int64_t g, int64_t seq, int64_t now)
{
	msg_t *m = msg_new(seq * 10, g, 1, 0, "a", "g", "x", NULL);
	size_t n = order_offer(m, seq, now);
	msg_unref(m);
	return n;
}

static void test_in_order_messages_are_delivered_at_once(void **state)
{
	assert_int_equal(offer(1, 1, 0), 1);
	assert_int_equal(offer(1, 2, 0), 1);
	assert_int_equal(seen.n[1], 2);
	assert_int_equal(order_held(), 0);
}

static void test_one_ahead_of_a_gap_waits_for_it(void **state)
{
	assert_int_equal(offer(1, 1, 0), 1);
	assert_int_equal(offer(1, 3, 0), 0);
	assert_int_equal(offer(1, 4, 0), 0);
	assert_int_equal(order_held(), 2);
	assert_int_equal(seen.n[1], 1);
	/* the missing one releases those behind it, in order */
	assert_int_equal(offer(1, 2, 0), 3);
	assert_int_equal(seen.n[1], 4);
	assert_false(seen.out_of_order);
	assert_int_equal(order_held(), 0);
}

static void test_a_repeat_is_delivered_once(void **state)
{
	offer(1, 1, 0);
	offer(1, 3, 0);
	assert_int_equal(offer(1, 1, 0), 0);
	assert_int_equal(offer(1, 3, 0), 0);
	assert_int_equal(order_held(), 1);
	assert_int_equal(offer(1, 2, 0), 2);
	assert_int_equal(seen.n[1], 3);
}

static void test_groups_wait_independently(void **state)
{
	offer(1, 2, 0);
	assert_int_equal(offer(2, 1, 0), 1);
	assert_int_equal(seen.n[1], 0);
	assert_int_equal(seen.n[2], 1);
}

static void test_a_gap_is_reported_after_the_wait_only(void **state)
{
	int64_t gids[4], after[4];
	offer(1, 1, 100);
	offer(1, 3, 100);
	assert_int_equal(order_gaps(150, 200, gids, after, 4), 0);
	assert_int_equal(order_gaps(300, 200, gids, after, 4), 1);
	assert_int_equal(gids[0], 1);
	assert_int_equal(after[0], 1);
	/* filled from the store: 2, then 3 again (ignored, it is held) */
	assert_int_equal(offer(1, 2, 310), 2);
	assert_int_equal(offer(1, 3, 310), 0);
	assert_int_equal(order_gaps(1000, 200, gids, after, 4), 0);
}

static void test_start_skips_what_is_history(void **state)
{
	int64_t gids[4], after[4];
	order_set_last(1, 41);
	assert_int_equal(offer(1, 41, 0), 0);
	assert_int_equal(offer(1, 42, 0), 1);
	assert_int_equal(order_groups(gids, after, 4), 1);
	assert_int_equal(after[0], 42);
}

/* The writer and the bus offering one group's messages at once. */
#define RACE_N 2000

static void *racer(void *arg)
{
	int64_t parity = (int64_t)(intptr_t)arg;
	for (int64_t s = 1 + parity; s <= RACE_N; s += 2)
		offer(3, s, 0);
	return NULL;
}

static void test_two_threads_offering_one_group_deliver_in_order(void **state)
{
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer, (void *)i), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(seen.n[3], RACE_N);
	assert_false(seen.out_of_order);
	assert_int_equal(order_held(), 0);
}

int main(void)
{
	log_init("test_order", LOG_LVL_ERROR, 1, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order_messages_are_delivered_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_ahead_of_a_gap_waits_for_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_repeat_is_delivered_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups_wait_independently, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_gap_is_reported_after_the_wait_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_skips_what_is_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_threads_offering_one_group_deliver_in_order, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
