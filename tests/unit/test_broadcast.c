/* test_broadcast.c - chat fan-out and history (server/broadcast.c) with
 * what chatroomd has running around them: a temporary database as
 * srv_store, the writer thread on the same file, the default configuration
 * as srv_conf, and clients on socket pairs in the client table. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broadcast.h"
#include "history.h"
#include "client.h"
#include "conf.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "table.h"
#include "writer.h"

#define NCLIENTS 4
#define NOT_GIVEN (-1) /* `after` when the request has none */

struct fixture {
	char dir[64];
	char db[128];
	char conffile[128];
	struct conf conf;
	int64_t public_id, other_id;
	group_t *pub, *other;
	client_t *c[NCLIENTS];
	int peer[NCLIENTS];
	int in_table[NCLIENTS];
	int writer_running;
};

static void start_writer(struct fixture *f, int batch_size, int batch_ms)
{
	char err[512] = "";
	struct writer_opts o = {
		.db_path = f->db,
		.batch_size = batch_size,
		.batch_ms = batch_ms,
		.max_queue = 100000,
		.dedup_window = 100,
		.on_stored = bcast_stored,
	};
	if (writer_start(&o, err, sizeof err) != 0)
		fail_msg("writer_start: %s", err);
	f->writer_running = 1;
}

static void stop_writer(struct fixture *f)
{
	if (f->writer_running)
		writer_stop();
	f->writer_running = 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	store_group_t g;
	assert_non_null(f);

	log_init("test_broadcast", LOG_LVL_ERROR, 1, 0);
	strcpy(f->dir, "/tmp/test_broadcast.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/chat.db", f->dir);
	snprintf(f->conffile, sizeof f->conffile, "%s/chatroomd.conf", f->dir);

	/* defaults, without reading the system's configuration file */
	FILE *fp = fopen(f->conffile, "w");
	assert_non_null(fp);
	fclose(fp);
	char *argv[] = { "chatroomd", "-f", f->conffile, NULL };
	assert_int_equal(conf_load(&f->conf, 3, argv), CONF_RUN);
	srv_conf = &f->conf;

	if (store_open(f->db, &srv_store, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_group_by_name(srv_store, "public", &g), STORE_OK);
	f->public_id = g.id;
	assert_int_equal(store_group_create(srv_store, "other", 0, &f->other_id), STORE_OK);

	table_init();
	table_wrlock();
	f->pub = table_group_add(f->public_id, "public", 0, 0, 0.0);
	f->other = table_group_add(f->other_id, "other", 0, 0, 0.0);
	table_unlock();
	bcast_set_last_id(0);
	assert_int_equal(bcast_reserve_ids(), 0);

	for (int i = 0; i < NCLIENTS; i++) {
		int sv[2];
		char addr[32];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
		assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
		snprintf(addr, sizeof addr, "127.0.0.1:%d", 2000 + i);
		f->c[i] = client_new(sv[0], addr);
		assert_non_null(f->c[i]);
		f->peer[i] = sv[1];
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	stop_writer(f);
	table_wrlock();
	for (int i = 0; i < NCLIENTS; i++)
		if (f->in_table[i])
			table_remove_client(f->c[i]);
	table_unlock();
	table_destroy();
	for (int i = 0; i < NCLIENTS; i++) {
		client_unref(f->c[i]);
		close(f->peer[i]);
	}
	store_close(srv_store);
	srv_store = NULL;
	srv_conf = NULL;
	conf_free(&f->conf);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Client i logs in as user 100+i and enters g. */
static void enter(struct fixture *f, int i, group_t *g)
{
	char name[16];
	snprintf(name, sizeof name, "user%d", i);
	table_wrlock();
	if (!f->in_table[i])
		table_add_client(f->c[i]);
	f->in_table[i] = 1;
	if (f->c[i]->user_id != 100 + i)
		table_set_user(f->c[i], 100 + i, name);
	table_enter(f->c[i], g);
	table_unlock();
}

/* Client i speaks protocol 2 (as after a hello). */
static void protocol2(struct fixture *f, int i)
{
	table_wrlock();
	f->c[i]->protocol = 2;
	table_unlock();
}

static msg_t *chat_cmid(group_t *g, int64_t uid, const char *text, const char *cmid)
{
	table_rdlock();
	msg_t *m = bcast_chat(g, uid, "user0", text, cmid);
	table_unlock();
	return m;
}

static msg_t *chat(group_t *g, int64_t uid, const char *text)
{
	return chat_cmid(g, uid, text, NULL);
}

/* The lines client i received (flushed now), parsed; *n of them. */
static json_object **received(struct fixture *f, int i, size_t *n)
{
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t r;
	assert_int_equal(client_flush(f->c[i]), 0);
	while ((r = read(f->peer[i], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	json_object **v = calloc(len + 1, sizeof *v);
	assert_non_null(v);
	*n = 0;
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		v[*n] = json_tokener_parse(l);
		assert_non_null(v[*n]);
		(*n)++;
	}
	return v;
}

static void free_received(json_object **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(v[i]);
	free(v);
}

static int64_t field_int(json_object *o, const char *k)
{
	json_object *v;
	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_int64(v);
}

static const char *field_str(json_object *o, const char *k)
{
	json_object *v;
	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_string(v);
}

static int has_field(json_object *o, const char *k)
{
	return json_object_object_get_ex(o, k, NULL);
}

/* The number of lines client i received (flushed now), read and dropped. */
static size_t received_count(struct fixture *f, int i)
{
	size_t n;
	json_object **v = received(f, i, &n);
	free_received(v, n);
	return n;
}

/* ---- fan-out ---- */

static void test_chat_reaches_every_client_in_the_group_in_id_order(void **state)
{
	struct fixture *f = *state;
	int64_t ids[3];

	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	enter(f, 2, f->pub);
	enter(f, 3, f->other);
	for (int k = 0; k < 3; k++) {
		char text[16];
		snprintf(text, sizeof text, "hello %d", k);
		msg_t *m = chat(f->pub, 100, text);
		assert_non_null(m);
		ids[k] = m->id;
		msg_unref(m);
	}
	assert_true(ids[0] < ids[1] && ids[1] < ids[2]);
	stop_writer(f); /* commits, then delivers */
	for (int i = 0; i < 3; i++) { /* the sender's own session included */
		size_t n;
		json_object **v = received(f, i, &n);
		assert_int_equal(n, 3);
		for (int k = 0; k < 3; k++) {
			char text[16];
			snprintf(text, sizeof text, "hello %d", k);
			assert_string_equal(field_str(v[k], "message_type"), "chat_message");
			assert_int_equal(field_int(v[k], "message_id"), ids[k]);
			assert_string_equal(field_str(v[k], "content"), text);
		}
		free_received(v, n);
	}
	size_t n;
	json_object **v = received(f, 3, &n);
	assert_int_equal(n, 0); /* in another group */
	free_received(v, n);
}

static void test_chat_message_carries_sender_group_and_time(void **state)
{
	struct fixture *f = *state;
	size_t n;

	enter(f, 0, f->pub);
	table_rdlock();
	msg_t *m = bcast_chat(f->pub, 100, "user0", "hi there", "cm-1");
	table_unlock();
	assert_non_null(m);
	stop_writer(f);
	json_object **v = received(f, 0, &n);
	assert_int_equal(n, 1);
	assert_int_equal(field_int(v[0], "sender_id"), 100);
	assert_string_equal(field_str(v[0], "sender_username"), "user0");
	assert_int_equal(field_int(v[0], "chat_group_id"), f->public_id);
	assert_string_equal(field_str(v[0], "chat_group_name"), "public");
	assert_int_equal(field_int(v[0], "message_id"), m->id);
	json_object *ts;
	assert_true(json_object_object_get_ex(v[0], "timestamp", &ts));
	assert_true(json_object_get_double(ts) > 1.6e9);
	assert_false(has_field(v[0], "client_msg_id")); /* a legacy client refuses it */
	free_received(v, n);
	msg_unref(m);
}

/* Nothing reaches anyone, nor the history cache, before the writer has
 * committed it; then everything does, in id order. */
static void test_nothing_is_delivered_before_it_is_stored(void **state)
{
	struct fixture *f = *state;
	int64_t ids[5];
	size_t n;

	start_writer(f, 100000, 60000); /* the batch waits a minute, or for the stop */
	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	for (int k = 0; k < 5; k++) {
		msg_t *m = chat(f->pub, 100, "later");
		assert_non_null(m);
		ids[k] = m->id;
		msg_unref(m);
	}
	assert_int_equal(writer_depth(), 5);
	assert_int_equal(received_count(f, 0), 0);
	assert_int_equal(received_count(f, 1), 0);
	assert_int_equal(f->pub->clen, 0);
	int64_t stored = -1;
	assert_int_equal(store_message_count(srv_store, f->public_id, &stored), STORE_OK);
	assert_int_equal(stored, 0);

	stop_writer(f);
	assert_int_equal(store_message_count(srv_store, f->public_id, &stored), STORE_OK);
	assert_int_equal(stored, 5);
	assert_int_equal(f->pub->clen, 5);
	for (int i = 0; i < 2; i++) {
		json_object **v = received(f, i, &n);
		assert_int_equal(n, 5);
		for (int k = 0; k < 5; k++)
			assert_int_equal(field_int(v[k], "message_id"), ids[k]);
		free_received(v, n);
	}
}

/* Delivery goes to who is in the group when the message is stored: a
 * client that left meanwhile gets nothing, one that came gets it. */
static void test_delivery_follows_the_group_at_commit_time(void **state)
{
	struct fixture *f = *state;
	size_t n;

	start_writer(f, 100000, 60000);
	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	enter(f, 2, f->other);
	msg_t *m = chat(f->pub, 100, "moving");
	assert_non_null(m);
	enter(f, 1, f->other); /* left public before the commit */
	enter(f, 2, f->pub);   /* came in before the commit */
	table_wrlock();
	table_clear_user(f->c[0]); /* the sender logged out */
	table_unlock();
	stop_writer(f);
	assert_int_equal(received_count(f, 0), 0);
	assert_int_equal(received_count(f, 1), 0);
	json_object **v = received(f, 2, &n);
	assert_int_equal(n, 1);
	assert_int_equal(field_int(v[0], "message_id"), m->id);
	free_received(v, n);
	msg_unref(m);
}

/* A protocol-2 recipient also gets the sender's client_msg_id (to know a
 * copy it showed already); a legacy one the reference's fields only. The
 * sender gets its echo, then its chat_ack. */
static void test_protocol2_recipients_get_the_client_msg_id_and_the_sender_an_ack(void **state)
{
	struct fixture *f = *state;
	size_t n;

	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	enter(f, 2, f->pub);
	protocol2(f, 0);
	protocol2(f, 1);
	msg_t *m = chat_cmid(f->pub, 100, "with an id", "cm-7");
	msg_t *plain = chat(f->pub, 101, "without");
	assert_non_null(m);
	assert_non_null(plain);
	stop_writer(f);

	json_object **v = received(f, 0, &n); /* the sender */
	assert_int_equal(n, 3);
	assert_string_equal(field_str(v[0], "message_type"), "chat_message");
	assert_string_equal(field_str(v[0], "client_msg_id"), "cm-7");
	assert_string_equal(field_str(v[1], "message_type"), "chat_ack");
	assert_string_equal(field_str(v[1], "client_msg_id"), "cm-7");
	assert_int_equal(field_int(v[1], "message_id"), m->id);
	assert_int_equal(field_int(v[1], "chat_group_id"), f->public_id);
	assert_string_equal(field_str(v[2], "message_type"), "chat_message");
	assert_false(has_field(v[2], "client_msg_id"));
	free_received(v, n);

	v = received(f, 1, &n); /* protocol 2 */
	assert_int_equal(n, 2);
	assert_string_equal(field_str(v[0], "client_msg_id"), "cm-7");
	assert_int_equal(field_int(v[0], "message_id"), m->id);
	assert_false(has_field(v[1], "client_msg_id"));
	free_received(v, n);

	v = received(f, 2, &n); /* legacy */
	assert_int_equal(n, 2);
	assert_false(has_field(v[0], "client_msg_id"));
	assert_int_equal(field_int(v[0], "message_id"), m->id);
	free_received(v, n);
	msg_unref(m);
	msg_unref(plain);
}

/* A message the writer could not store reaches nobody; its sender gets
 * error 1011 naming it. */
static void test_a_message_not_stored_reaches_nobody_and_its_sender_gets_1011(void **state)
{
	struct fixture *f = *state;
	size_t n;

	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	protocol2(f, 0);
	msg_t *m = msg_new(77, f->public_id, 100, 1700000000.0, "user0", "public", "lost", "cm-9");
	assert_non_null(m);
	unsigned char dropped = 1;
	bcast_stored(&m, &dropped, 1, NULL);
	msg_unref(m);
	json_object **v = received(f, 0, &n);
	assert_int_equal(n, 1);
	assert_string_equal(field_str(v[0], "message_type"), "error_message");
	assert_int_equal(field_int(v[0], "error_code"), 1011);
	assert_string_equal(field_str(v[0], "client_msg_id"), "cm-9");
	free_received(v, n);
	assert_int_equal(received_count(f, 1), 0);
	assert_int_equal(f->pub->clen, 0);
}

static void test_chat_after_the_last_id_continues_the_sequence(void **state)
{
	struct fixture *f = *state;

	bcast_set_last_id(41);
	assert_int_equal(bcast_reserve_ids(), 0);
	msg_t *a = chat(f->pub, 100, "a");
	msg_t *b = chat(f->other, 100, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->id, 42);
	assert_int_equal(b->id, 43); /* ids are global, not per group */
	msg_unref(a);
	msg_unref(b);
}

static void test_ids_are_recorded_in_the_database_before_they_are_used(void **state)
{
	struct fixture *f = *state;
	int64_t last = 0;

	bcast_set_last_id(41);
	assert_int_equal(bcast_reserve_ids(), 0);
	/* a restart after a crash starts above every id handed out meanwhile */
	assert_int_equal(store_last_message_id(srv_store, &last), STORE_OK);
	assert_true(last > 41 + 1000);
	msg_t *a = chat(f->pub, 100, "a");
	assert_non_null(a);
	assert_true(a->id <= last);
	msg_unref(a);
}

static void test_a_slow_recipient_is_closed_and_the_others_still_get_the_message(void **state)
{
	struct fixture *f = *state;
	char big[5000];
	size_t n;

	f->conf.max_output = 4096;
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	enter(f, 0, f->pub);
	enter(f, 1, f->pub);
	/* client 1 already has nearly max_output unsent */
	outbuf_t *b = outbuf_new(big, 4000);
	assert_int_equal(client_push(f->c[1], b, 0, 4096), 0);
	outbuf_unref(b);
	msg_t *m = chat(f->pub, 100, "x");
	assert_non_null(m);
	msg_unref(m);
	stop_writer(f);
	assert_true(atomic_load(&f->c[1]->closing));
	assert_false(atomic_load(&f->c[0]->closing));
	json_object **v = received(f, 0, &n);
	assert_int_equal(n, 1);
	free_received(v, n);
}

static void test_chat_is_refused_when_the_writer_is_not_running(void **state)
{
	struct fixture *f = *state;
	size_t n;

	enter(f, 0, f->pub);
	msg_t *m = chat(f->pub, 100, "nowhere to go");
	assert_null(m);
	json_object **v = received(f, 0, &n);
	assert_int_equal(n, 0); /* nothing delivered that cannot be stored */
	free_received(v, n);
	assert_int_equal(f->pub->clen, 0);
}

/* ---- history ---- */

/* Store messages first..last of group gid directly, as an earlier run of
 * the server would have. */
static void store_old(int64_t gid, int64_t first, int64_t last)
{
	for (int64_t id = first; id <= last; id++) {
		char text[32];
		snprintf(text, sizeof text, "old %lld", (long long)id);
		store_msg_t m = { .id = id, .group_id = gid, .sender_id = 0, .ts = 1700000000.0 + id,
			          .sender_name = "Admin", .content = text };
		assert_int_equal(store_messages_append(srv_store, &m, 1, 100), STORE_OK);
	}
}

/* History ids must be exactly first..last. */
static void assert_history(int64_t gid, int64_t after, int64_t before, int limit, int64_t first,
                           int64_t last)
{
	msg_t **v = NULL;
	size_t n = 0;
	assert_int_equal(history_get(gid, after, before, limit, &v, &n), 0);
	if (n != (size_t)(last - first + 1))
		fail_msg("history(after %lld, before %lld, limit %d): %zu messages (%lld..%lld), "
		         "want %lld..%lld",
		         (long long)after, (long long)before, limit, n, n ? (long long)v[0]->id : 0LL,
		         n ? (long long)v[n - 1]->id : 0LL, (long long)first, (long long)last);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i]->id, first + (int64_t)i);
		assert_int_equal(v[i]->group_id, gid);
		assert_string_equal(v[i]->group_name, "public");
	}
	history_free(v, n);
}

/* 100 messages stored by an earlier run, then 10 sent now and committed:
 * ids 1..110 in the database, 101..110 also in the cache. */
static void history_fixture(struct fixture *f)
{
	store_old(f->public_id, 1, 100);
	bcast_set_last_id(100);
	assert_int_equal(bcast_reserve_ids(), 0);
	start_writer(f, 1, 0);
	for (int i = 0; i < 10; i++) {
		msg_t *m = chat(f->pub, 100, "new");
		assert_non_null(m);
		msg_unref(m);
	}
	stop_writer(f);
	assert_int_equal(f->pub->clen, 10);
}

/* What the writer has not committed is in nobody's history, as it was
 * delivered to nobody. */
static void test_history_leaves_out_messages_not_yet_stored(void **state)
{
	struct fixture *f = *state;

	store_old(f->public_id, 1, 100);
	bcast_set_last_id(100);
	assert_int_equal(bcast_reserve_ids(), 0);
	start_writer(f, 100000, 60000);
	for (int i = 0; i < 10; i++) {
		msg_t *m = chat(f->pub, 100, "pending");
		assert_non_null(m);
		msg_unref(m);
	}
	assert_int_equal(writer_depth(), 10);
	assert_history(f->public_id, 0, 0, 500, 1, 100);
	assert_history(f->public_id, NOT_GIVEN, 0, 20, 81, 100);
	assert_history(f->public_id, 95, 0, 10, 96, 100);
	stop_writer(f);
	assert_history(f->public_id, 0, 0, 500, 1, 110);
	assert_history(f->public_id, NOT_GIVEN, 0, 20, 91, 110);
}

static void test_history_merges_the_store_and_the_cache(void **state)
{
	struct fixture *f = *state;

	history_fixture(f);
	assert_history(f->public_id, 0, 0, 500, 1, 110);      /* from the first */
	assert_history(f->public_id, 95, 0, 10, 96, 105);     /* across the boundary */
	assert_history(f->public_id, 99, 0, 5, 100, 104);     /* just before the cache */
	assert_history(f->public_id, NOT_GIVEN, 0, 20, 91, 110); /* the newest 20 */
}

static void test_history_after_gives_the_oldest_following_messages(void **state)
{
	struct fixture *f = *state;

	history_fixture(f);
	assert_history(f->public_id, 0, 0, 5, 1, 5);
	assert_history(f->public_id, 50, 0, 3, 51, 53);
	assert_history(f->public_id, 105, 0, 3, 106, 108);   /* inside the cache */
	assert_history(f->public_id, 108, 0, 10, 109, 110);  /* fewer than the limit */
	assert_history(f->public_id, 110, 0, 10, 1, 0);      /* nothing newer */
}

static void test_history_before_gives_the_newest_preceding_messages(void **state)
{
	struct fixture *f = *state;

	history_fixture(f);
	assert_history(f->public_id, NOT_GIVEN, 50, 5, 45, 49);
	assert_history(f->public_id, NOT_GIVEN, 108, 5, 103, 107);
	assert_history(f->public_id, NOT_GIVEN, 103, 5, 98, 102); /* store and queue */
	assert_history(f->public_id, NOT_GIVEN, 3, 10, 1, 2);
	assert_history(f->public_id, 40, 50, 100, 41, 49);        /* both bounds */
}

static void test_history_of_the_newest_comes_from_the_cache(void **state)
{
	struct fixture *f = *state;

	history_fixture(f);
	assert_history(f->public_id, NOT_GIVEN, 0, 5, 106, 110);
	assert_history(f->public_id, NOT_GIVEN, 0, 10, 101, 110);
}

static void test_history_of_the_cache_agrees_with_the_database(void **state)
{
	struct fixture *f = *state;

	history_fixture(f);
	int64_t n = 0;
	assert_int_equal(store_message_count(srv_store, f->public_id, &n), STORE_OK);
	assert_int_equal(n, 110);
	assert_history(f->public_id, 0, 0, 500, 1, 110);
	assert_history(f->public_id, 95, 0, 10, 96, 105);
	assert_history(f->public_id, NOT_GIVEN, 0, 30, 81, 110);
}

static void test_history_beyond_the_cache_reads_the_store(void **state)
{
	struct fixture *f = *state;

	/* more than TABLE_CACHE new messages, all committed */
	start_writer(f, 1, 0);
	for (int i = 0; i < TABLE_CACHE + 36; i++) {
		msg_t *m = chat(f->pub, 100, "m");
		assert_non_null(m);
		msg_unref(m);
	}
	stop_writer(f);
	assert_int_equal(f->pub->clen, TABLE_CACHE);
	assert_history(f->public_id, 0, 0, 500, 1, TABLE_CACHE + 36);
	assert_history(f->public_id, 10, 0, 5, 11, 15);
	assert_history(f->public_id, NOT_GIVEN, 0, TABLE_CACHE + 10, 27, TABLE_CACHE + 36);
}

static void test_history_of_an_unknown_group_fails(void **state)
{
	msg_t **v = NULL;
	size_t n = 0;
	(void)state;
	assert_int_equal(history_get(999999, NOT_GIVEN, 0, 10, &v, &n), -1);
}

static void test_history_of_another_group_is_separate(void **state)
{
	struct fixture *f = *state;
	msg_t **v = NULL;
	size_t n = 0;

	history_fixture(f);
	assert_int_equal(history_get(f->other_id, 0, 0, 500, &v, &n), 0);
	assert_int_equal(n, 0);
	history_free(v, n);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* Tests that only send need a running writer; those that build history
 * start it themselves with their own batching. */
static int setup_writer(void **state)
{
	setup(state);
	start_writer(*state, 1, 0);
	return 0;
}

#define TW(name) cmocka_unit_test_setup_teardown(name, setup_writer, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TW(test_chat_reaches_every_client_in_the_group_in_id_order),
		TW(test_chat_message_carries_sender_group_and_time),
		TW(test_chat_after_the_last_id_continues_the_sequence),
		TW(test_ids_are_recorded_in_the_database_before_they_are_used),
		TW(test_a_slow_recipient_is_closed_and_the_others_still_get_the_message),
		T(test_nothing_is_delivered_before_it_is_stored),
		T(test_delivery_follows_the_group_at_commit_time),
		TW(test_protocol2_recipients_get_the_client_msg_id_and_the_sender_an_ack),
		TW(test_a_message_not_stored_reaches_nobody_and_its_sender_gets_1011),
		T(test_chat_is_refused_when_the_writer_is_not_running),
		T(test_history_leaves_out_messages_not_yet_stored),
		T(test_history_merges_the_store_and_the_cache),
		T(test_history_after_gives_the_oldest_following_messages),
		T(test_history_before_gives_the_newest_preceding_messages),
		T(test_history_of_the_newest_comes_from_the_cache),
		T(test_history_of_the_cache_agrees_with_the_database),
		T(test_history_beyond_the_cache_reads_the_store),
		T(test_history_of_an_unknown_group_fails),
		T(test_history_of_another_group_is_separate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
