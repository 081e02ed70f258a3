/* state_fixture.h - what the state layer and its handlers run on in
 * chatroomd, for test_state_account and test_cmd_db: the default
 * configuration as srv_conf, a temporary database as srv_store, the client
 * table loaded from it (state_load) and clients on socket pairs whose
 * output a test reads back. */
#ifndef CHATROOM_TEST_STATE_FIXTURE_H
#define CHATROOM_TEST_STATE_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "conf.h"
#include "session.h"
#include "state.h"
#include "state_db.h"

#define FX_CLIENTS 3

struct fixture {
	struct state_db db;
	char conffile[128];
	struct conf conf;
	int64_t public_id, alice, bob; /* alice and bob: accounts, members of public */
	client_t *c[FX_CLIENTS];
	int peer[FX_CLIENTS];
	struct session s[FX_CLIENTS];
};

static inline int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	int64_t last;

	assert_non_null(f);
	state_db_open(&f->db, "test_state");
	f->public_id = f->db.public_id;
	snprintf(f->conffile, sizeof f->conffile, "%s/chatroomd.conf", f->db.dir);
	FILE *fp = fopen(f->conffile, "w"); /* defaults, not the system's file */
	assert_non_null(fp);
	fclose(fp);
	char *argv[] = { "chatroomd", "-f", f->conffile, NULL };
	assert_int_equal(conf_load(&f->conf, 3, argv), CONF_RUN);
	srv_conf = &f->conf;

	assert_int_equal(store_user_create(srv_store, "alice", "", &f->alice), STORE_OK);
	assert_int_equal(store_user_create(srv_store, "bob", "", &f->bob), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->alice), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->bob), STORE_OK);
	assert_int_equal(state_load(&last), 0);

	for (int i = 0; i < FX_CLIENTS; i++) {
		int sv[2];
		char addr[32];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
		assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
		snprintf(addr, sizeof addr, "127.0.0.1:%d", 3000 + i);
		f->c[i] = client_new(sv[0], addr); /* held by the test, as by a worker */
		assert_non_null(f->c[i]);
		f->peer[i] = sv[1];
		f->s[i].c = f->c[i];
		table_wrlock();
		table_add_client(f->c[i]);
		table_unlock();
	}
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fixture *f = *state;
	table_wrlock();
	for (int i = 0; i < FX_CLIENTS; i++)
		table_remove_client(f->c[i]);
	table_unlock();
	for (int i = 0; i < FX_CLIENTS; i++) {
		client_unref(f->c[i]);
		close(f->peer[i]);
	}
	state_db_close(&f->db);
	srv_conf = NULL;
	conf_free(&f->conf);
	free(f);
	return 0;
}

/* The database's operations in mask fail, as when it cannot be read. */
static inline void break_the_reads(unsigned long long mask)
{
	log_set_level(-1);
	faults_ops(srv_store, mask);
}

/* The text client i received since the last call (flushed now). */
static inline char *received(struct fixture *f, int i)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t r;
	client_flush(f->c[i]);
	while (len < sizeof buf - 1 && (r = read(f->peer[i], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	return buf;
}

/* The first line client i received of message_type type, parsed (put it
 * with json_object_put), or NULL. Reads what is queued. */
static inline json_object *received_type(struct fixture *f, int i, const char *type)
{
	char *save = NULL;
	for (char *l = strtok_r(received(f, i), "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(l), *t;
		if (o && json_object_object_get_ex(o, "message_type", &t) &&
		    strcmp(json_object_get_string(t), type) == 0)
			return o;
		json_object_put(o);
	}
	return NULL;
}

static inline int64_t field_int(json_object *o, const char *k)
{
	json_object *v;
	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_int64(v);
}

static inline const char *field_str(json_object *o, const char *k)
{
	json_object *v;
	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_string(v);
}

#endif
