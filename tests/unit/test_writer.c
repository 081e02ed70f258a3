/* test_writer.c - the writer thread (server/writer.c) on temporary
 * databases: batching, acknowledgements after commit, the bounded queue,
 * pending look-ups, flushing on stop and retrying after a fault. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "msg.h"
#include "store.h"
#include "store_faults.h"
#include "test_slow.h"
#include "writer.h"

#define MAX_SEEN 4096

/* What on_stored() saw; guarded by lock (the writer thread writes, the
 * test thread reads). */
static struct {
	pthread_mutex_t lock;
	int64_t ids[MAX_SEEN];
	int n;
	int not_in_db;      /* acknowledged but not found in the database */
	int out_of_order;   /* globally: ids not increasing */
	int group_out_of_order; /* within a group (groups 1..15) */
	int64_t group_last[16];
	size_t depth_seen;  /* writer_depth() from inside the callback */
	int dropped;        /* reported as not stored */
	int64_t dropped_ids[16];
	int batches;        /* on_stored() calls */
	size_t batch_sizes[64]; /* of the first 64 calls */
	int hold;           /* the callback waits while set (the test holds the writer) */
	int held;           /* the callback is waiting */
	pthread_cond_t cond;
	store_t *check;     /* the test's own connection */
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct fixture {
	char dir[64];
	char path[128];
};

static int has_message(store_t *st, int64_t group_id, int64_t id);

static void on_stored_one(msg_t *m)
{
	int in_db = seen.check ? has_message(seen.check, m->group_id, m->id) : 1;

	pthread_mutex_lock(&seen.lock);
	if (seen.n > 0 && m->id <= seen.ids[seen.n - 1])
		seen.out_of_order++;
	if (m->group_id > 0 && m->group_id < 16) {
		if (m->id <= seen.group_last[m->group_id])
			seen.group_out_of_order++;
		seen.group_last[m->group_id] = m->id;
	}
	if (!in_db)
		seen.not_in_db++;
	if (seen.n < MAX_SEEN)
		seen.ids[seen.n++] = m->id;
	pthread_mutex_unlock(&seen.lock);
}

static void on_stored(msg_t *const *v, const unsigned char *dropped, size_t n, void *ctx)
{
	size_t depth = writer_depth(); /* deadlocks if the writer lock were held */

	pthread_mutex_lock(&seen.lock);
	if (seen.batches < 64)
		seen.batch_sizes[seen.batches] = n;
	seen.batches++;
	seen.depth_seen = depth;
	seen.held = 1;
	pthread_cond_broadcast(&seen.cond);
	while (seen.hold)
		pthread_cond_wait(&seen.cond, &seen.lock);
	seen.held = 0;
	pthread_mutex_unlock(&seen.lock);
	for (size_t i = 0; i < n; i++) {
		if (!dropped[i]) {
			on_stored_one(v[i]);
			continue;
		}
		pthread_mutex_lock(&seen.lock);
		if (seen.dropped < 16)
			seen.dropped_ids[seen.dropped] = v[i]->id;
		seen.dropped++;
		pthread_mutex_unlock(&seen.lock);
	}
	(void)ctx;
}

static int seen_count(void)
{
	int n;
	pthread_mutex_lock(&seen.lock);
	n = seen.n;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait up to ms (times the slow factor) for on_stored() to have been
 * called n times. */
static int wait_seen(int n, long ms)
{
	ms = slow_ms(ms);
	for (long t = 0; t < ms; t += 5) {
		if (seen_count() >= n)
			return 1;
		sleep_ms(5);
	}
	return seen_count() >= n;
}

static int collect_one(void *ctx, const store_msg_t *m)
{
	*(int *)ctx = 1;
	(void)m;
	return 1;
}

static int has_message(store_t *st, int64_t group_id, int64_t id)
{
	int found = 0;
	assert_int_equal(store_history(st, group_id, id - 1, id + 1, 1, collect_one, &found),
	                 STORE_OK);
	return found;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	store_t *st;

	log_init("test_writer", LOG_LVL_ERROR, 1, 0);
	strcpy(f->dir, "/tmp/test_writer.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/chat.db", f->dir);
	assert_int_equal(store_open(f->path, &st, err, sizeof err), STORE_OK);
	pthread_mutex_lock(&seen.lock);
	memset(seen.ids, 0, sizeof seen.ids);
	seen.n = seen.not_in_db = seen.out_of_order = seen.group_out_of_order = 0;
	memset(seen.group_last, 0, sizeof seen.group_last);
	seen.depth_seen = 0;
	seen.dropped = seen.batches = seen.hold = seen.held = 0;
	seen.check = st;
	pthread_mutex_unlock(&seen.lock);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	writer_stop(); /* harmless when already stopped */
	store_close(seen.check);
	seen.check = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void start(struct fixture *f, int batch_size, int batch_ms, size_t max_queue)
{
	char err[512] = "";
	struct writer_opts o = {
		.db_path = f->path,
		.batch_size = batch_size,
		.batch_ms = batch_ms,
		.max_queue = max_queue,
		.dedup_window = 100,
		.on_stored = on_stored,
		.ctx = NULL,
	};
	if (writer_start(&o, err, sizeof err) != 0)
		fail_msg("writer_start: %s", err);
}

/* Submit message id to group (sender 0 = Admin), dropping our reference. */
static int submit(int64_t id, int64_t group_id, const char *cmid)
{
	char content[32];
	msg_t *m;
	int rc;

	snprintf(content, sizeof content, "message %lld", (long long)id);
	m = msg_new(id, group_id, STORE_ADMIN_ID, 1700000000.0 + id, "Admin", "public", content, cmid);
	assert_non_null(m);
	rc = writer_submit(m);
	msg_unref(m);
	return rc;
}

static int64_t count_messages(store_t *st)
{
	int64_t n = -1;
	assert_int_equal(store_message_count(st, 0, &n), STORE_OK);
	return n;
}

/* ---- tests ---- */

/* Submitters as the server has them: one thread per group, each taking an
 * id from a shared counter and submitting under its group's lock, so ids
 * interleave across groups. */
#define SUBMITTERS 4
#define PER_SUBMITTER 400

static atomic_llong next_id;

struct submitter {
	int64_t group_id;
	pthread_mutex_t group_lock;
	int refused;
};

static void *submit_thread(void *arg)
{
	struct submitter *sb = arg;
	for (int i = 0; i < PER_SUBMITTER; i++) {
		pthread_mutex_lock(&sb->group_lock);
		int64_t id = atomic_fetch_add(&next_id, 1) + 1;
		if (submit(id, sb->group_id, NULL) != 0)
			sb->refused++;
		pthread_mutex_unlock(&sb->group_lock);
	}
	return NULL;
}

static void test_concurrent_submitters_keep_order_per_group(void **state)
{
	struct fixture *f = *state;
	pthread_t t[SUBMITTERS];
	struct submitter sb[SUBMITTERS];

	atomic_store(&next_id, 0);
	start(f, 32, 2, 100000);
	for (int i = 0; i < SUBMITTERS; i++) {
		sb[i].group_id = i + 1;
		sb[i].refused = 0;
		pthread_mutex_init(&sb[i].group_lock, NULL);
		assert_int_equal(pthread_create(&t[i], NULL, submit_thread, &sb[i]), 0);
	}
	for (int i = 0; i < SUBMITTERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(sb[i].refused, 0);
		pthread_mutex_destroy(&sb[i].group_lock);
	}
	writer_stop();
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.n, SUBMITTERS * PER_SUBMITTER);
	assert_int_equal(seen.group_out_of_order, 0);
	assert_int_equal(seen.not_in_db, 0);
	pthread_mutex_unlock(&seen.lock);
	assert_int_equal(count_messages(seen.check), SUBMITTERS * PER_SUBMITTER);
}


static void test_every_message_acknowledged_after_commit_in_order(void **state)
{
	struct fixture *f = *state;

	start(f, 16, 5, 10000);
	for (int i = 1; i <= 300; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	assert_true(wait_seen(300, 10000));
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.n, 300);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.not_in_db, 0);
	assert_int_equal(seen.ids[0], 1);
	assert_int_equal(seen.ids[299], 300);
	pthread_mutex_unlock(&seen.lock);
	assert_int_equal(writer_stored_total(), 300);
	assert_int_equal(writer_depth(), 0);
	assert_int_equal(writer_healthy(), 1);
	assert_int_equal(count_messages(seen.check), 300);
	writer_stop();
}

static void test_full_batch_is_committed_without_waiting_for_the_timer(void **state)
{
	struct fixture *f = *state;

	start(f, 10, 60000, 1000);
	for (int i = 1; i <= 10; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	assert_true(wait_seen(10, 3000));
	/* a partial batch waits for its timer */
	for (int i = 11; i <= 15; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	sleep_ms(200);
	assert_int_equal(seen_count(), 10);
	assert_int_equal(writer_depth(), 5);
	writer_stop();
	assert_int_equal(seen_count(), 15);
}

static void test_partial_batch_is_committed_when_its_time_is_up(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	long ms;

	start(f, 1000, 100, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	assert_true(wait_seen(3, 3000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 90); /* it waited for the timer (how soon after is not a test's business) */
	writer_stop();
}

static void test_stop_flushes_and_messages_survive_reopen(void **state)
{
	struct fixture *f = *state;
	char err[512];
	store_t *st;
	int64_t mid = -1, gid = -1;

	start(f, 1000, 60000, 1000);
	for (int i = 1; i <= 50; i++) {
		char cmid[16];
		snprintf(cmid, sizeof cmid, "c%d", i);
		assert_int_equal(submit(i, 1, cmid), 0);
	}
	assert_int_equal(seen_count(), 0);
	writer_stop();
	assert_int_equal(seen_count(), 50);
	assert_int_equal(writer_submit(NULL), -1); /* stopped: refused */

	store_close(seen.check);
	seen.check = NULL;
	assert_int_equal(store_open(f->path, &st, err, sizeof err), STORE_OK);
	seen.check = st;
	assert_int_equal(count_messages(st), 50);
	assert_int_equal(store_dedup_get(st, STORE_ADMIN_ID, "c42", &mid, &gid), STORE_OK);
	assert_int_equal(mid, 42);
	assert_int_equal(gid, 1);
	assert_int_equal(store_last_message_id(st, &mid), STORE_OK);
	assert_int_equal(mid, 50);
}

static void test_full_queue_refuses(void **state)
{
	struct fixture *f = *state;
	msg_t *m;

	start(f, 1000, 60000, 5);
	for (int i = 1; i <= 5; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	m = msg_new(6, 1, 0, 1.0, "Admin", "public", "too many", NULL);
	assert_int_equal(writer_submit(m), -1);
	/* nothing was queued: the writer holds no reference to it */
	assert_int_equal(atomic_load(&m->refs), 1);
	assert_null(m->wnext);
	msg_unref(m);
	assert_int_equal(writer_depth(), 5);
	writer_stop();
	assert_int_equal(seen_count(), 5);
	assert_int_equal(count_messages(seen.check), 5);
}

static void test_pending_find(void **state)
{
	struct fixture *f = *state;
	msg_t *m;

	start(f, 1000, 60000, 1000);
	assert_int_equal(submit(1, 1, "a"), 0);
	assert_int_equal(submit(2, 7, "b"), 0);
	assert_int_equal(submit(3, 1, NULL), 0);
	assert_int_equal(submit(4, 1, "d"), 0);

	m = writer_pending_find(STORE_ADMIN_ID, "d");
	assert_non_null(m);
	assert_int_equal(m->id, 4);
	msg_unref(m);
	m = writer_pending_find(STORE_ADMIN_ID, "b");
	assert_non_null(m);
	assert_int_equal(m->group_id, 7);
	msg_unref(m);
	assert_null(writer_pending_find(STORE_ADMIN_ID, "zzz"));
	assert_null(writer_pending_find(12345, "d")); /* another sender */
	assert_null(writer_pending_find(STORE_ADMIN_ID, NULL));

	writer_stop();
	assert_int_equal(seen_count(), 4);
}

/* Group commit: an idle writer commits the first message at once (no
 * timer with batch_ms 0), and what arrives while a batch is in flight is
 * the next batch, as a whole. */
static void test_messages_arriving_during_a_commit_form_the_next_batch(void **state)
{
	struct fixture *f = *state;

	pthread_mutex_lock(&seen.lock);
	seen.hold = 1;
	pthread_mutex_unlock(&seen.lock);
	start(f, 1000, 0, 1000);
	assert_int_equal(submit(1, 1, NULL), 0);
	/* the writer commits message 1 and stops in the callback */
	pthread_mutex_lock(&seen.lock);
	while (!seen.held)
		pthread_cond_wait(&seen.cond, &seen.lock);
	assert_int_equal(seen.batches, 1);
	assert_int_equal(seen.batch_sizes[0], 1);
	pthread_mutex_unlock(&seen.lock);
	for (int i = 2; i <= 51; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	pthread_mutex_lock(&seen.lock);
	seen.hold = 0;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
	assert_true(wait_seen(51, 10000));
	writer_stop();
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.batches, 2);
	assert_int_equal(seen.batch_sizes[1], 50);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.not_in_db, 0);
	pthread_mutex_unlock(&seen.lock);
}

/* BatchSize still bounds a batch that grew during a commit. */
static void test_a_grown_batch_is_cut_at_batch_size(void **state)
{
	struct fixture *f = *state;

	pthread_mutex_lock(&seen.lock);
	seen.hold = 1;
	pthread_mutex_unlock(&seen.lock);
	start(f, 8, 0, 1000);
	assert_int_equal(submit(1, 1, NULL), 0);
	pthread_mutex_lock(&seen.lock);
	while (!seen.held)
		pthread_cond_wait(&seen.cond, &seen.lock);
	pthread_mutex_unlock(&seen.lock);
	for (int i = 2; i <= 21; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	pthread_mutex_lock(&seen.lock);
	seen.hold = 0;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
	assert_true(wait_seen(21, 10000));
	writer_stop();
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.batches, 4); /* 1, 8, 8, 4 */
	assert_int_equal(seen.batch_sizes[1], 8);
	assert_int_equal(seen.batch_sizes[2], 8);
	assert_int_equal(seen.batch_sizes[3], 4);
	pthread_mutex_unlock(&seen.lock);
}

static void test_found_message_outlives_its_commit(void **state)
{
	struct fixture *f = *state;
	msg_t *m;

	start(f, 1000, 60000, 1000);
	assert_int_equal(submit(9, 1, "keep"), 0);
	m = writer_pending_find(STORE_ADMIN_ID, "keep");
	assert_non_null(m);
	writer_stop();
	assert_null(writer_pending_find(STORE_ADMIN_ID, "keep"));
	/* our reference keeps it alive after the writer dropped its own */
	assert_string_equal(m->content, "message 9");
	msg_unref(m);
}

static void test_callback_runs_without_the_writer_lock(void **state)
{
	struct fixture *f = *state;

	start(f, 1, 0, 100);
	assert_int_equal(submit(1, 1, NULL), 0);
	assert_true(wait_seen(1, 3000)); /* on_stored calls writer_depth() */
	writer_stop();
}

static void test_start_checks_options_and_refuses_twice(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct writer_opts o = { .db_path = f->path, .batch_size = 0, .batch_ms = 10,
	                         .max_queue = 10, .dedup_window = 10, .on_stored = on_stored };

	assert_int_equal(submit(1, 1, NULL), -1); /* not started */
	assert_int_equal(writer_start(&o, err, sizeof err), -1);
	assert_true(err[0] != '\0');
	o.batch_size = 4;
	assert_int_equal(writer_start(&o, err, sizeof err), 0);
	assert_int_equal(writer_start(&o, err, sizeof err), -1);
	writer_stop();
	writer_stop();
	/* and it can be started again after a stop */
	assert_int_equal(writer_start(&o, err, sizeof err), 0);
	assert_int_equal(submit(1, 1, NULL), 0);
	writer_stop();
	assert_int_equal(seen_count(), 1);
}

static void test_start_fails_on_corrupt_database(void **state)
{
	char dir[] = "/tmp/test_writer_bad.XXXXXX", path[64], err[512] = "", cmd[128];
	struct writer_opts o = { .db_path = path, .batch_size = 4, .batch_ms = 10,
	                         .max_queue = 10, .dedup_window = 10, .on_stored = on_stored };
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/bad.db", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 4096; i++)
		fputc('Z', fp);
	fclose(fp);
	log_set_level(-1);
	assert_int_equal(writer_start(&o, err, sizeof err), -1);
	log_set_level(LOG_LVL_ERROR);
	assert_non_null(strstr(err, "backup"));
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	(void)state;
}

/* Writes fail (disk full, then an I/O error) while messages arrive: the
 * writer keeps them, acknowledges none, reports itself unhealthy, and
 * stores them all, in order, once writing works again. */
static void fault_keeps_batch_and_retries(struct fixture *f, int err)
{
	int i;

	if (faults_install() != 0)
		skip();
	start(f, 8, 5, 1000);
	assert_int_equal(submit(1, 1, "first"), 0);
	assert_true(wait_seen(1, 3000));

	faults_set(err);
	log_set_level(-1); /* the writer logs the fault */
	for (i = 2; i <= 20; i++)
		assert_int_equal(submit(i, 1, NULL), 0);
	for (i = 0; i < slow_ms(3000) / 10 && writer_healthy(); i++)
		sleep_ms(10);
	assert_int_equal(writer_healthy(), 0);
	sleep_ms(300);
	assert_int_equal(seen_count(), 1); /* nothing acknowledged meanwhile */
	assert_int_equal(writer_depth(), 19);
	assert_int_equal(writer_stored_total(), 1);

	faults_set(0);
	assert_true(wait_seen(20, 10000));
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(writer_healthy(), 1);
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.not_in_db, 0);
	pthread_mutex_unlock(&seen.lock);
	writer_stop();
	assert_int_equal(count_messages(seen.check), 20);
}

static void test_disk_full_keeps_batch_and_retries(void **state)
{
	fault_keeps_batch_and_retries(*state, ENOSPC);
}

static void test_io_error_keeps_batch_and_retries(void **state)
{
	fault_keeps_batch_and_retries(*state, EIO);
}

/* writer_stop() during a lasting fault gives up after a few seconds
 * instead of hanging the shutdown. */
static void test_stop_during_lasting_fault_returns(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;

	if (faults_install() != 0)
		skip();
	start(f, 8, 5, 1000);
	faults_set(ENOSPC);
	log_set_level(-1);
	assert_int_equal(submit(1, 1, NULL), 0);
	assert_int_equal(submit(2, 1, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	writer_stop();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	faults_set(0);
	log_set_level(LOG_LVL_ERROR);
	/* it gave up on the failing disk after its attempts instead of
	 * hanging the shutdown (a guard against a hang, not a speed test) */
	assert_true(t1.tv_sec - t0.tv_sec < slow_ms(15000) / 1000);
	assert_int_equal(seen_count(), 0);
	assert_int_equal(writer_depth(), 0);
	assert_int_equal(count_messages(seen.check), 0);
}

/* A message that can never be stored (its id is taken) is dropped after a
 * few attempts instead of blocking every later message. */
static void test_unstorable_message_does_not_block_the_queue(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 5, 1000);
	assert_int_equal(submit(1, 1, NULL), 0);
	assert_true(wait_seen(1, 3000));
	log_set_level(-1);
	assert_int_equal(submit(2, 1, NULL), 0);
	assert_int_equal(submit(1, 1, NULL), 0); /* duplicate id: a bug upstream */
	assert_int_equal(submit(3, 1, NULL), 0);
	assert_true(wait_seen(3, 10000));
	log_set_level(LOG_LVL_ERROR);
	writer_stop();
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.ids[1], 2);
	assert_int_equal(seen.ids[2], 3);
	/* reported as not stored, so that its sender can be told */
	assert_int_equal(seen.dropped, 1);
	assert_int_equal(seen.dropped_ids[0], 1);
	pthread_mutex_unlock(&seen.lock);
	assert_int_equal(count_messages(seen.check), 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_every_message_acknowledged_after_commit_in_order),
		T(test_concurrent_submitters_keep_order_per_group),
		T(test_full_batch_is_committed_without_waiting_for_the_timer),
		T(test_partial_batch_is_committed_when_its_time_is_up),
		T(test_stop_flushes_and_messages_survive_reopen),
		T(test_full_queue_refuses),
		T(test_pending_find),
		T(test_messages_arriving_during_a_commit_form_the_next_batch),
		T(test_a_grown_batch_is_cut_at_batch_size),
		T(test_found_message_outlives_its_commit),
		T(test_callback_runs_without_the_writer_lock),
		T(test_start_checks_options_and_refuses_twice),
		T(test_start_fails_on_corrupt_database),
		T(test_disk_full_keeps_batch_and_retries),
		T(test_io_error_keeps_batch_and_retries),
		T(test_stop_during_lasting_fault_returns),
		T(test_unstorable_message_does_not_block_the_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
