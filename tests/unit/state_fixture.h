/* state_fixture.h - what the state layer and its handlers run on in
 * chatroomd, for test_state_account and test_cmd_db: the default
 * configuration as srv_conf, a temporary database as srv_store, the client
 * table loaded from it (state_load) and clients on socket pairs whose
 * output a test reads back. */
#ifndef CHATROOM_TEST_STATE_FIXTURE_H
#define CHATROOM_TEST_STATE_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "conf.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "state.h"
#include "store.h"
#include "store_faults.h"
#include "table.h"

#define FX_CLIENTS 3

struct fixture {
	char dir[64], db[128], conffile[128];
	struct conf conf;
	int64_t public_id, alice, bob; /* alice and bob: accounts, members of public */
	client_t *c[FX_CLIENTS];
	int peer[FX_CLIENTS];
	struct session s[FX_CLIENTS];
};

static inline int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	store_group_t g;
	int64_t last;

	assert_non_null(f);
	log_init("test_state", LOG_LVL_ERROR, 1, 0);
	strcpy(f->dir, "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/chat.db", f->dir);
	snprintf(f->conffile, sizeof f->conffile, "%s/chatroomd.conf", f->dir);
	FILE *fp = fopen(f->conffile, "w"); /* defaults, not the system's file */
	assert_non_null(fp);
	fclose(fp);
	char *argv[] = { "chatroomd", "-f", f->conffile, NULL };
	assert_int_equal(conf_load(&f->conf, 3, argv), CONF_RUN);
	srv_conf = &f->conf;

	if (state_open(f->db, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	assert_int_equal(store_group_by_name(srv_store, "public", &g), STORE_OK);
	f->public_id = g.id;
	assert_int_equal(store_user_create(srv_store, "alice", "", &f->alice), STORE_OK);
	assert_int_equal(store_user_create(srv_store, "bob", "", &f->bob), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->alice), STORE_OK);
	assert_int_equal(store_member_add(srv_store, f->public_id, f->bob), STORE_OK);
	table_init();
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
	char cmd[160];
	faults_set(0);
	faults_ops_end(srv_store);
	table_wrlock();
	for (int i = 0; i < FX_CLIENTS; i++)
		table_remove_client(f->c[i]);
	table_unlock();
	for (int i = 0; i < FX_CLIENTS; i++) {
		client_unref(f->c[i]);
		close(f->peer[i]);
	}
	table_destroy();
	state_close();
	srv_conf = NULL;
	conf_free(&f->conf);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Every database write fails from now on, as on a full disk. */
static inline void break_the_disk(void)
{
	if (faults_install() != 0)
		skip();
	log_set_level(-1); /* the store logs each refused write */
	faults_set(ENOSPC);
}

/* The database's operations in mask fail, as when it cannot be read. */
static inline void break_the_reads(unsigned long long mask)
{
	log_set_level(-1);
	faults_ops(srv_store, mask);
}

static inline void mend_the_disk(void)
{
	faults_set(0);
	faults_ops_end(srv_store);
	log_set_level(LOG_LVL_ERROR);
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

static inline int table_member(int64_t gid, int64_t uid)
{
	table_rdlock();
	group_t *g = table_group(gid);
	int m = g && table_is_member(g, uid);
	table_unlock();
	return m;
}

struct fx_member_scan {
	int64_t gid, uid;
	int found;
};

static inline int fx_member_cb(void *ctx, int64_t gid, int64_t uid)
{
	struct fx_member_scan *m = ctx;
	if (gid == m->gid && uid == m->uid)
		m->found = 1;
	return 0;
}

static inline int stored_member(int64_t gid, int64_t uid)
{
	struct fx_member_scan m = { gid, uid, 0 };
	assert_int_equal(store_members_foreach(srv_store, fx_member_cb, &m), STORE_OK);
	return m.found;
}

#endif
