/* state_db.h - what every state layer test starts from: a temporary
 * database (with its public group) as srv_store and an empty client table;
 * what it ends with, whatever a test left broken (store_faults.h); and
 * whether a membership is in the database and in the table. */
#ifndef CHATROOM_TEST_STATE_DB_H
#define CHATROOM_TEST_STATE_DB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "store.h"
#include "store_faults.h"
#include "table.h"

struct state_db {
	char dir[64], db[96];
	int64_t public_id;
};

/* A new database in a new folder /tmp/NAME.XXXXXX, logging as name. */
static inline void state_db_open(struct state_db *d, const char *name)
{
	char err[512];
	store_group_t g;

	log_init(name, LOG_LVL_ERROR, 1, 0);
	snprintf(d->dir, sizeof d->dir, "/tmp/%s.XXXXXX", name);
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->db, sizeof d->db, "%s/chat.db", d->dir);
	if (store_open(d->db, &srv_store, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_group_by_name(srv_store, "public", &g), STORE_OK);
	d->public_id = g.id;
	table_init();
}

/* The table and the database gone, the disk mended, the folder removed.
 * The test's clients must have left the table first. */
static inline void state_db_close(struct state_db *d)
{
	char cmd[160];

	mend_the_disk();
	table_destroy();
	store_close(srv_store);
	srv_store = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
	assert_int_equal(system(cmd), 0);
}

struct state_db_member_scan {
	int64_t gid, uid;
	int found;
};

static inline int state_db_member_cb(void *ctx, int64_t gid, int64_t uid)
{
	struct state_db_member_scan *m = ctx;
	if (gid == m->gid && uid == m->uid)
		m->found = 1;
	return 0;
}

/* Whether the database has uid as a member of gid. */
static inline int stored_member(int64_t gid, int64_t uid)
{
	struct state_db_member_scan m = { gid, uid, 0 };
	assert_int_equal(store_members_foreach(srv_store, state_db_member_cb, &m), STORE_OK);
	return m.found;
}

/* Whether the client table has uid as a member of gid. */
static inline int table_member(int64_t gid, int64_t uid)
{
	table_rdlock();
	group_t *g = table_group(gid);
	int m = g && table_is_member(g, uid);
	table_unlock();
	return m;
}

#endif
