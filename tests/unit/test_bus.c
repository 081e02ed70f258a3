/* test_bus.c - the Redis bus (server/bus.c) with the delivery order, against
 * real servers: CHATROOM_TEST_PG (a libpq connection string to an empty
 * database) and CHATROOM_TEST_REDIS (HOST:PORT). tests/integration/
 * test_cluster.py starts both and runs this program. Messages "of another
 * node" are stored here with the PostgreSQL store and published by hand. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "bus.h"
#include "log.h"
#include "order.h"
#include "store_pg.h"
#include "test_slow.h"

static const char *conninfo, *redis_addr;
static store_pg_t *other; /* "another node": its store connection */
static redisContext *rc;  /* ... and its Redis connection */

#define MAXD 64
static struct {
	pthread_mutex_t lock;
	int64_t gid[MAXD], seq[MAXD];
	char text[MAXD][32];
	int n;
} got = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void deliver(msg_t *m, int64_t seq, void *ctx)
{
	pthread_mutex_lock(&got.lock);
	if (got.n < MAXD) {
		got.gid[got.n] = m->group_id;
		got.seq[got.n] = seq;
		snprintf(got.text[got.n], sizeof got.text[0], "%s", m->content);
		got.n++;
	}
	pthread_mutex_unlock(&got.lock);
}

/* Deliveries of group gid so far, texts joined by ','. */
static int delivered(int64_t gid, char *out, size_t len)
{
	int n = 0;
	out[0] = '\0';
	pthread_mutex_lock(&got.lock);
	for (int i = 0; i < got.n; i++) {
		if (got.gid[i] != gid)
			continue;
		if (n++)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, got.text[i], len - strlen(out) - 1);
	}
	pthread_mutex_unlock(&got.lock);
	return n;
}

static int wait_delivered(int64_t gid, int want, char *out, size_t len)
{
	long deadline = slow_ms(10000);
	int n = 0;
	for (long waited = 0; waited < deadline; waited += 20) {
		if ((n = delivered(gid, out, len)) >= want)
			return n;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return n;
}

static int64_t new_group(const char *name)
{
	int64_t id;
	assert_int_equal(store_group_create(store_pg_store(other), name, 0, &id), STORE_OK);
	return id;
}

/* Store texts in group gid as another node would; out gets their seqs. */
static void store_texts(int64_t gid, int n, const char *const *texts, struct store_pg_stored *out)
{
	store_msg_t m[8];
	for (int i = 0; i < n; i++)
		m[i] = (store_msg_t){ .group_id = gid, .sender_id = 0, .ts = 1, .sender_name = "Admin",
		                      .content = texts[i] };
	assert_int_equal(store_pg_messages_append(other, m, (size_t)n, out), STORE_OK);
}

static void publish(int64_t gid, const struct store_pg_stored *s, const char *text)
{
	redisReply *r = redisCommand(rc,
	                             "PUBLISH chatroom:messages {\"node\":\"other\",\"id\":%lld,"
	                             "\"seq\":%lld,\"g\":%lld,\"gn\":\"x\",\"s\":0,\"n\":\"Admin\","
	                             "\"t\":1,\"c\":\"%s\"}",
	                             (long long)s->id, (long long)s->seq, (long long)gid, text);
	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

static void test_other_nodes_messages_arrive_in_order(void **state)
{
	const char *t[3] = { "a1", "a2", "a3" };
	struct store_pg_stored s[3];
	char out[256];
	int64_t g = new_group("bus_a");
	store_texts(g, 3, t, s);
	for (int i = 0; i < 3; i++)
		publish(g, &s[i], t[i]);
	assert_int_equal(wait_delivered(g, 3, out, sizeof out), 3);
	assert_string_equal(out, "a1,a2,a3");
}

static void test_a_dropped_publish_is_filled_from_the_store_in_order(void **state)
{
	const char *t[3] = { "b1", "b2", "b3" };
	struct store_pg_stored s[3];
	char out[256];
	int64_t g = new_group("bus_b");
	store_texts(g, 3, t, s);
	publish(g, &s[0], t[0]);
	publish(g, &s[2], t[2]); /* b2's publish is lost */
	assert_int_equal(wait_delivered(g, 3, out, sizeof out), 3);
	assert_string_equal(out, "b1,b2,b3");
}

static void test_messages_never_published_arrive_by_the_sweep(void **state)
{
	const char *t[2] = { "c1", "c2" };
	struct store_pg_stored s[2];
	char out[256];
	int64_t g = new_group("bus_c");
	store_texts(g, 2, t, s);
	assert_int_equal(wait_delivered(g, 2, out, sizeof out), 2);
	assert_string_equal(out, "c1,c2");
}

static void test_a_repeated_publish_is_delivered_once(void **state)
{
	const char *t[1] = { "d1" };
	struct store_pg_stored s[1];
	const char *t2[1] = { "d2" };
	struct store_pg_stored s2[1];
	char out[256];
	int64_t g = new_group("bus_d");
	store_texts(g, 1, t, s);
	publish(g, &s[0], t[0]);
	publish(g, &s[0], t[0]);
	store_texts(g, 1, t2, s2);
	publish(g, &s2[0], t2[0]);
	assert_int_equal(wait_delivered(g, 2, out, sizeof out), 2);
	assert_string_equal(out, "d1,d2");
}

static void test_own_publish_goes_out_and_the_node_key_lives(void **state)
{
	redisContext *sub = redisConnect("127.0.0.1", atoi(strrchr(redis_addr, ':') + 1));
	assert_non_null(sub);
	redisReply *r = redisCommand(sub, "SUBSCRIBE chatroom:messages");
	freeReplyObject(r);
	msg_t *m = msg_new(77, 5, 0, 1, "Admin", "g5", "mine", "cm-1");
	bus_publish(m, 1);
	msg_unref(m);
	assert_int_equal(redisGetReply(sub, (void **)&r), REDIS_OK);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_non_null(strstr(r->element[2]->str, "\"node\":\"testnode\""));
	assert_non_null(strstr(r->element[2]->str, "\"k\":\"cm-1\""));
	freeReplyObject(r);
	redisFree(sub);
	r = redisCommand(rc, "TTL chatroom:node:testnode");
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_true(r->integer > 0);
	freeReplyObject(r);
}

int main(void)
{
	char err[512], host[256];
	int port;

	conninfo = getenv("CHATROOM_TEST_PG");
	redis_addr = getenv("CHATROOM_TEST_REDIS");
	if (!conninfo || !redis_addr || bus_parse_addr(redis_addr, host, sizeof host, &port) < 0) {
		fprintf(stderr, "test_bus: set CHATROOM_TEST_PG and CHATROOM_TEST_REDIS "
		                "(tests/integration/test_cluster.py does)\n");
		return 2;
	}
	log_init("test_bus", LOG_LVL_ERROR, 1, 0);
	if (store_pg_open(conninfo, &other, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "test_bus: %s\n", err);
		return 2;
	}
	rc = redisConnect(host, port);
	if (!rc || rc->err) {
		fprintf(stderr, "test_bus: cannot connect to Redis at %s\n", redis_addr);
		return 2;
	}
	order_init(deliver, NULL);
	struct bus_opts o = { .redis = redis_addr, .node = "testnode", .conninfo = conninfo,
	                      .gap_wait_ms = 100, .sweep_ms = 300, .heartbeat_s = 10 };
	if (bus_start(&o, err, sizeof err) < 0) {
		fprintf(stderr, "test_bus: %s\n", err);
		return 2;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_nodes_messages_arrive_in_order),
		cmocka_unit_test(test_a_dropped_publish_is_filled_from_the_store_in_order),
		cmocka_unit_test(test_messages_never_published_arrive_by_the_sweep),
		cmocka_unit_test(test_a_repeated_publish_is_delivered_once),
		cmocka_unit_test(test_own_publish_goes_out_and_the_node_key_lives),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	bus_stop();
	order_reset();
	redisFree(rc);
	store_pg_close(other);
	return failed;
}
