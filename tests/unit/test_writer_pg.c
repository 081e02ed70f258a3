/* test_writer_pg.c - the writer thread in cluster mode (server/writer.c with
 * the PostgreSQL store) against a real server: CHATROOM_TEST_PG is a libpq
 * connection string to an empty database. tests/integration/
 * test_cluster.py starts the server and runs this program. */
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
#include <libpq-fe.h>

#include "log.h"
#include "msg.h"
#include "store_pg.h"
#include "test_slow.h"
#include "writer.h"

static const char *conninfo;
static store_pg_t *st;

#define MAXS 256
static struct {
	pthread_mutex_t lock;
	int64_t id[MAXS], seq[MAXS], gid[MAXS];
	unsigned char dropped[MAXS];
	char text[MAXS][16];
	int n;
} got = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_stored(msg_t *const *v, const unsigned char *dropped, size_t n, void *ctx)
{
	pthread_mutex_lock(&got.lock);
	for (size_t i = 0; i < n && got.n < MAXS; i++) {
		got.id[got.n] = v[i]->id;
		got.seq[got.n] = v[i]->seq;
		got.gid[got.n] = v[i]->group_id;
		got.dropped[got.n] = dropped[i];
		snprintf(got.text[got.n], sizeof got.text[0], "%s", v[i]->content);
		got.n++;
	}
	pthread_mutex_unlock(&got.lock);
}

static int stored_count(void)
{
	pthread_mutex_lock(&got.lock);
	int n = got.n;
	pthread_mutex_unlock(&got.lock);
	return n;
}

static int wait_stored(int want)
{
	for (long waited = 0; waited < slow_ms(15000); waited += 20) {
		if (stored_count() >= want)
			return stored_count();
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return stored_count();
}

static void submit(int64_t gid, const char *text, const char *cmid)
{
	msg_t *m = msg_new(0, gid, 0, 1, "Admin", "g", text, cmid);
	assert_non_null(m);
	assert_int_equal(writer_submit(m), 0);
	msg_unref(m);
}

static void test_commit_gives_ids_and_contiguous_seqs(void **state)
{
	int64_t g, base = stored_count();
	assert_int_equal(store_group_create(store_pg_store(st), "w_a", 0, &g), STORE_OK);
	for (int i = 0; i < 20; i++) {
		char t[16];
		snprintf(t, sizeof t, "m%d", i);
		submit(g, t, NULL);
	}
	assert_int_equal(wait_stored(base + 20), base + 20);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(got.seq[base + i], i + 1);
		assert_int_equal(got.dropped[base + i], 0);
		if (i)
			assert_true(got.id[base + i] > got.id[base + i - 1]);
	}
}

static void test_a_resend_is_marked_duplicate_with_the_stored_id(void **state)
{
	int64_t g, base = stored_count();
	assert_int_equal(store_group_create(store_pg_store(st), "w_b", 0, &g), STORE_OK);
	submit(g, "once", "cm-9");
	assert_int_equal(wait_stored(base + 1), base + 1);
	submit(g, "once", "cm-9");
	assert_int_equal(wait_stored(base + 2), base + 2);
	assert_int_equal(got.dropped[base], 0);
	assert_int_equal(got.dropped[base + 1], WRITER_DUPLICATE);
	assert_int_equal(got.id[base + 1], got.id[base]);
	int64_t n;
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 1);
}

static void test_a_lost_connection_keeps_the_batch_and_reconnects(void **state)
{
	int64_t g, n, base = stored_count();
	assert_int_equal(store_group_create(store_pg_store(st), "w_c", 0, &g), STORE_OK);
	/* end every other session of the database: the writer's too */
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_true(PQntuples(r) >= 1);
	PQclear(r);
	PQfinish(c);
	for (int i = 0; i < 5; i++)
		submit(g, "after", NULL);
	assert_int_equal(wait_stored(base + 5), base + 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(got.dropped[base + i], 0);
		assert_int_equal(got.seq[base + i], i + 1);
	}
	/* this connection was ended too: its next call says so, the one
	 * after reconnects */
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_ERR);
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 5);
	assert_true(writer_healthy());
}

/* The connection dies after a batch's COMMIT, before its reply: the
 * writer tries the batch again, and the retry finds it stored. */
static void test_a_commit_whose_reply_is_lost_is_stored_once(void **state)
{
	int64_t g, n, base = stored_count();
	assert_int_equal(store_group_create(store_pg_store(st), "w_d", 0, &g), STORE_OK);
	store_pg_test_lose_replies(1);
	for (int i = 0; i < 3; i++)
		submit(g, "lost reply", NULL);
	assert_int_equal(wait_stored(base + 3), base + 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(got.dropped[base + i], 0);
		assert_int_equal(got.seq[base + i], i + 1);
	}
	assert_int_equal(store_message_count(store_pg_store(st), g, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_true(writer_healthy());
}

int main(void)
{
	char err[512];

	conninfo = getenv("CHATROOM_TEST_PG");
	if (!conninfo) {
		fprintf(stderr, "test_writer_pg: set CHATROOM_TEST_PG (tests/integration/"
		                "test_cluster.py does)\n");
		return 2;
	}
	log_init("test_writer_pg", LOG_LVL_ERROR, 1, 0);
	if (store_pg_open(conninfo, &st, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "test_writer_pg: %s\n", err);
		return 2;
	}
	struct writer_opts o = { .pg_conninfo = conninfo, .batch_size = 8, .max_queue = 1000,
	                         .dedup_window = 100, .on_stored = on_stored };
	if (writer_start(&o, err, sizeof err) < 0) {
		fprintf(stderr, "test_writer_pg: %s\n", err);
		return 2;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_gives_ids_and_contiguous_seqs),
		cmocka_unit_test(test_a_resend_is_marked_duplicate_with_the_stored_id),
		cmocka_unit_test(test_a_lost_connection_keeps_the_batch_and_reconnects),
		cmocka_unit_test(test_a_commit_whose_reply_is_lost_is_stored_once),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	writer_stop();
	store_pg_close(st);
	return failed;
}
