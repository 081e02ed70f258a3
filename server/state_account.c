/* state_account.c - accounts in the state layer: lookups, registration,
 * logins and the Admin's changes that end sessions (deleting, renaming,
 * a new password); see state.h for the rule of store and memory. */
#include "config.h"
#include "state.h"
#include "state_store.h"
#include "cluster_sync.h"
#include "log.h"
#include "presence.h"
#include "session.h"
#include "table.h"
#include "tunables.h"

#include <stdio.h>
#include <string.h>

void (*state_login_test_hook)(void);

static void state_user_copy(state_user_t *d, const store_user_t *u)
{
	d->id = u->id;
	snprintf(d->username, sizeof d->username, "%s", u->username);
	d->banned = u->banned;
}

int state_user_by_id(int64_t uid, state_user_t *out)
{
	store_user_t u;
	int rc = store_user_by_id(srv_store, uid, &u);
	if (rc == STORE_OK)
		state_user_copy(out, &u);
	return state__of(rc);
}

int state_user_by_name(const char *name, state_user_t *out)
{
	store_user_t u;
	int rc = store_user_by_name(srv_store, name, &u);
	if (rc == STORE_OK)
		state_user_copy(out, &u);
	return state__of(rc);
}

int state_user_count(int64_t *n)
{
	return state__of(store_user_count(srv_store, n));
}

static int state_count_group(void *ctx, const store_group_t *g)
{
	(void)g;
	(*(int64_t *)ctx)++;
	return 0;
}

int state_group_count(int64_t *n)
{
	*n = 0;
	return state__of(store_groups_foreach(srv_store, state_count_group, n));
}

struct state_users_ctx {
	int (*cb)(void *ctx, const state_user_t *u);
	void *ctx;
};

static int state_users_cb(void *ctx, const store_user_t *su)
{
	struct state_users_ctx *k = ctx;
	state_user_t u;
	state_user_copy(&u, su);
	return k->cb(k->ctx, &u);
}

int state_users_foreach(int (*cb)(void *ctx, const state_user_t *u), void *ctx)
{
	struct state_users_ctx k = { cb, ctx };
	return state__of(store_users_foreach(srv_store, state_users_cb, &k));
}

int state_admin_has_password(void)
{
	store_user_t admin;
	if (store_user_by_id(srv_store, STORE_ADMIN_ID, &admin) != STORE_OK)
		return -1;
	return admin.pwhash[0] != '\0';
}

int state_admin_set_pwhash(const char *hash)
{
	return state__of(store_user_set_pwhash(srv_store, STORE_ADMIN_ID, hash));
}

/* ---- registration ------------------------------------------------------ */

int state_user_name_taken(const char *name)
{
	return state__of(store_user_name_taken(srv_store, name));
}

int state_register(const char *name, const char *pwhash, int64_t *uid)
{
	int rc = store_user_create(srv_store, name, pwhash, uid);
	if (rc != STORE_OK)
		return state__of(rc);
	if (state_join_public(*uid) != STATE_OK)
		log_warn("account %s (id %lld) is not yet a member of public: it becomes one at its "
		         "first login", name, (long long)*uid);
	return STATE_OK;
}

/* ---- ending sessions --------------------------------------------------- */

/* Needs the table write lock: end the session of uid, if it is online,
 * telling it notice (with arg). Returns 1 and its name in name when uid
 * was online. */
static int state_end_session(int64_t uid, int notice, const char *arg, const char *reason,
                             char *name, size_t len)
{
	client_t *c = table_user_client(uid);
	if (!c)
		return 0;
	snprintf(name, len, "%s", c->username);
	session_kick(c, notice, arg, reason);
	return 1;
}

/* After a change to account uid in the store: logins that read it read it
 * again, and its session (unless keep) ends. */
static void state_account_changed(int64_t uid, int keep, int notice, const char *arg,
                                  const char *reason, void (*more)(int64_t uid))
{
	char name[96];
	table_wrlock();
	table_accounts_changed();
	if (more)
		more(uid);
	int online = !keep && state_end_session(uid, notice, arg, reason, name, sizeof name);
	table_unlock();
	if (online)
		presence_announce(uid, name, 0);
}

/* ---- logins ------------------------------------------------------------ */

int state_login_read(const char *name, struct state_login *l)
{
	store_user_t u;
	/* taken before the account is read: see table_accounts_gen() */
	l->gen = table_accounts_gen();
	int rc = store_user_by_name(srv_store, name, &u);
	if (rc == STORE_OK) {
		l->id = u.id;
		snprintf(l->username, sizeof l->username, "%s", u.username);
		snprintf(l->pwhash, sizeof l->pwhash, "%s", u.pwhash);
	}
	return state__of(rc);
}

int state_login_rehash(struct state_login *l, const char *hash)
{
	int rc = store_user_set_pwhash(srv_store, l->id, hash);
	if (rc == STORE_OK)
		snprintf(l->pwhash, sizeof l->pwhash, "%s", hash);
	return state__of(rc);
}

/* Public's id, and whether uid is a member of it (table read lock). */
static int64_t state_public(int64_t uid, int *member)
{
	table_rdlock();
	group_t *pub = table_group_by_name(CR_PUBLIC_GROUP);
	int64_t id = pub ? pub->id : -1;
	*member = pub && table_is_member(pub, uid);
	table_unlock();
	return id;
}

/* Takes the table write lock once the account l read is still the same:
 * STATE_OK with the lock held, or the refusal without it. */
static int state_login_lock(const struct state_login *l)
{
	uint64_t gen = l->gen;
	for (;;) {
		if (state_login_test_hook)
			state_login_test_hook();
		table_wrlock();
		if (table_accounts_gen() == gen)
			return STATE_OK;
		table_unlock();
		gen = table_accounts_gen();
		store_user_t now;
		int rc = store_user_by_id(srv_store, l->id, &now);
		if (rc != STORE_OK)
			return state__of(rc);
		if (strcmp(now.username, l->username) != 0 || strcmp(now.pwhash, l->pwhash) != 0)
			return STATE_NOTFOUND;
	}
}

int state_login(client_t *c, const struct state_login *l, int notice, const char *reason,
                void (*reply)(void *ctx, int64_t public_id), void *ctx)
{
	int member;
	int64_t pub_id = state_public(l->id, &member);
	int joined = pub_id >= 0 && !member;
	if (joined) {
		/* the store first; a deleted account fails here (no such user) */
		int rc = store_member_add(srv_store, pub_id, l->id);
		if (rc != STORE_OK)
			return state__of(rc);
	}
	int rc = state_login_lock(l);
	if (rc != STATE_OK) {
		if (joined) /* undone: nobody logged in */
			store_member_remove(srv_store, pub_id, l->id);
		if (rc == STATE_NOTFOUND)
			log_info("%s: login as %s refused: the account was deleted, renamed or given a "
			         "new password meanwhile", c->addr, l->username);
		return rc;
	}
	int64_t prev_id = -1;
	char prev_name[96] = "";
	if (c->user_id >= 0 && c->user_id != l->id) {
		/* switching accounts on one connection: the old one goes offline
		 * (unless another connection took it over already) */
		if (c->logged_in) {
			prev_id = c->user_id;
			snprintf(prev_name, sizeof prev_name, "%s", c->username);
		}
		table_clear_user(c);
	}
	group_t *pub = pub_id >= 0 ? table_group(pub_id) : NULL;
	client_t *old = table_user_client(l->id);
	if (old && old != c)
		session_kick(old, notice, NULL, reason); /* a second login ends the older session */
	if (old != c)
		table_set_user(c, l->id, l->username);
	int oom = 0;
	if (pub) {
		oom = table_member_add(pub, l->id) < 0;
		table_enter(c, pub);
	}
	if (oom)
		log_error("%s: out of memory: %s is not listed as a member of public until the next "
		          "start", c->addr, l->username);
	reply(ctx, pub ? pub_id : -1);
	table_unlock();
	if (prev_id >= 0)
		presence_announce(prev_id, prev_name, 0);
	if (!old)
		presence_announce(l->id, l->username, 1);
	return STATE_OK;
}

void state_logout(client_t *c)
{
	char name[96];
	table_wrlock();
	int64_t uid = c->logged_in ? c->user_id : -1;
	snprintf(name, sizeof name, "%s", c->username);
	table_clear_user(c);
	table_unlock();
	if (uid >= 0)
		presence_announce(uid, name, 0);
}

/* ---- Admin's changes --------------------------------------------------- */

static void state_forget_member(void *ctx, group_t *g)
{
	table_member_remove(g, *(const int64_t *)ctx);
}

/* Needs the table write lock: uid is in no group and not banned. */
static void state_forget_user(int64_t uid)
{
	table_groups_foreach(state_forget_member, &uid);
	table_set_user_banned(uid, 0); /* freeing memory never fails */
}

int state_user_delete(int64_t uid, int notice, const char *reason)
{
	int rc = store_user_delete(srv_store, uid);
	if (rc != STORE_OK)
		return state__of(rc);
	state_account_changed(uid, 0, notice, NULL, reason, state_forget_user);
	cluster_sync_account(uid, CLUSTER_ACCOUNT_DELETED, NULL);
	return STATE_OK;
}

int state_user_rename(int64_t uid, const char *name, int notice, const char *reason)
{
	int rc = store_user_rename(srv_store, uid, name);
	if (rc != STORE_OK)
		return state__of(rc);
	/* A session keeps the name it logged in with; the user logs in again
	 * under the new one. */
	state_account_changed(uid, 0, notice, name, reason, NULL);
	cluster_sync_account(uid, CLUSTER_ACCOUNT_RENAMED, name);
	return STATE_OK;
}

int state_user_set_pwhash(int64_t uid, const char *hash, int keep_session, int notice,
                          const char *reason)
{
	int rc = store_user_set_pwhash(srv_store, uid, hash);
	if (rc != STORE_OK)
		return state__of(rc);
	state_account_changed(uid, keep_session, notice, NULL, reason, NULL);
	cluster_sync_account(uid, CLUSTER_ACCOUNT_PASSWORD, NULL);
	return STATE_OK;
}

void state_account_changed_elsewhere(int64_t uid, int deleted, int notice, const char *arg,
                                     const char *reason)
{
	state_account_changed(uid, 0, notice, arg, reason, deleted ? state_forget_user : NULL);
}
