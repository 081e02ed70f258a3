/* cmd_account.c - hello, heartbeat, registration, login, logout, user info
 * and user lists. */
#include "config.h"
#include "presence.h"
#include "cmd.h"
#include "cluster.h"
#include "cluster_presence.h"
#include "catalog.h"
#include "text.h"
#include "tunables.h"
#include "log.h"
#include "passwd.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "stats.h"
#include "table.h"
#include "throttle.h"
#include "valid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cmd_hello(struct session *s, json_object *req)
{
	int64_t version = 0;
	if (s->lines != 1) {
		session_error(s, PROTO_E_INVALID, CAT_HELLO_FIRST);
		return;
	}
	if (proto_get_int(req, "protocol", &version) != 0 || version < 2) {
		session_error(s, PROTO_E_INVALID, CAT_HELLO_PROTOCOL);
		return;
	}
	const char *client = NULL;
	if (proto_get_string(req, "client", &client) < 0) {
		session_error(s, PROTO_E_INVALID, CAT_HELLO_CLIENT);
		return;
	}
	/* protocol 2 speaks English unless asked for another language */
	const char *lang_name = NULL;
	int lang = CAT_EN;
	if (proto_get_string(req, "lang", &lang_name) < 0 ||
	    (lang_name && (lang = catalog_lang_parse(lang_name)) < 0)) {
		session_error(s, PROTO_E_INVALID, CAT_HELLO_LANG);
		return;
	}
	atomic_store_explicit(&s->c->lang, lang, memory_order_relaxed);
	s->reply_due_ns = 0; /* a protocol-2 client: no legacy reply floor */
	table_wrlock();
	s->c->protocol = 2;
	table_unlock();
	char cbuf[TEXT_LOG_FIELD];
	log_debug("%s: protocol 2 client %s", s->c->addr,
	          client ? text_escape(cbuf, sizeof cbuf, client) : "(unnamed)");
	json_object *o = proto_new("hello");
	proto_set_int(o, "protocol", CR_PROTOCOL_VERSION);
	proto_set_string(o, "server", "chatroomd/" PACKAGE_VERSION);
	proto_set_int(o, "heartbeat_interval", CONF(heartbeat_interval));
	proto_set_int(o, "max_line", srv_conf->max_line);
	proto_set_string(o, "lang", catalog_lang_name(lang));
	session_reply(s, o);
}

void cmd_heartbeat(struct session *s, json_object *req)
{
	(void)req;
	session_reply(s, proto_new("heartbeat"));
}

/* register_response / login_response with every reference field present. */
static json_object *cmd_account_response(const char *type, int ok, int64_t uid, const char *uname,
                                         const char *error)
{
	json_object *o = proto_new(type);
	proto_set_bool(o, "success", ok);
	if (ok) {
		proto_set_int(o, "user_id", uid);
		proto_set_string(o, "username", uname);
	} else {
		proto_set_null(o, "user_id");
		proto_set_null(o, "username");
	}
	proto_set_string(o, "error_message", error);
	return o;
}

/* Both fields are strings (cmd.c checked them). */
static void cmd_credentials(json_object *req, const char **user, const char **pw)
{
	proto_get_string(req, "username", user);
	proto_get_string(req, "password", pw);
}

/* Registration needs no login, so its cost is bounded before the hash: the
 * cheap checks first (valid, name free), then RegisterMaxAddress new
 * accounts per RegisterWindow from one address, and the hash itself takes
 * at most its address's share of the hash slots. */
void cmd_register(struct session *s, json_object *req)
{
	const char *user, *pw, *why;
	char hash[256], src[64], rkey[80];
	int64_t uid;
	cmd_credentials(req, &user, &pw);
	char text[256];
	const char *bad = user;
	if (!(why = valid_username(user)))
		why = valid_password(bad = pw);
	if (why) {
		int id = catalog_for_reason(why, bad);
		session_reply(s, cmd_account_response("register_response", 0, 0, NULL,
		                                      session_text(s, text, sizeof text, id)));
		return;
	}
	int rc = state_user_name_taken(user);
	if (rc == STATE_EXISTS) {
		session_reply(s, cmd_account_response("register_response", 0, 0, NULL,
		                                      session_text(s, text, sizeof text, CAT_USER_EXISTS, user)));
		return;
	}
	if (rc != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	throttle_source(s->c->ip, src, sizeof src);
	snprintf(rkey, sizeof rkey, "r:%s", src);
	int rmax = CONF(register_max_address), rwin = CONF(register_window);
	/* counted now, before the hash: concurrent registrations from one
	 * address cannot all pass the check before any is counted */
	int wait = rmax > 0 ? throttle_take(THROTTLE_SOURCE, rkey, rmax, rwin) : 0;
	if (wait) {
		STATS_INC(register_refusals);
		log_warn("%s: registration refused: %d new accounts from this address within %d "
		         "seconds (RegisterMaxAddress)", s->c->addr, rmax, rwin);
		session_text(s, text, sizeof text, CAT_REGISTER_TOO_MANY, wait);
		session_reply(s, cmd_account_response("register_response", 0, 0, NULL, text));
		return;
	}
	passwd_source_enter(src);
	int hrc = passwd_hash(pw, hash, sizeof hash);
	passwd_source_leave(src);
	if (hrc < 0) {
		session_error(s, PROTO_E_SERVER, CAT_HASH_FAILED);
		return;
	}
	rc = state_register(user, hash, &uid);
	if (rc == STATE_EXISTS) {
		session_reply(s, cmd_account_response("register_response", 0, 0, NULL,
		                                      session_text(s, text, sizeof text, CAT_USER_EXISTS, user)));
		return;
	}
	if (rc != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_REGISTER_FAILED);
		return;
	}
	log_info("%s: registered user %s (id %lld)", s->c->addr, user, (long long)uid);
	session_reply(s, cmd_account_response("register_response", 1, uid, user, NULL));
}

int cmd_refuse_banned(struct session *s, int id)
{
	table_rdlock();
	int banned = table_user_banned(s->c->user_id);
	table_unlock();
	if (banned)
		session_error(s, PROTO_E_PERMISSION, id);
	return banned;
}

/* Sleep ms milliseconds on this connection's worker (a login slowed by
 * the throttle). */
static void cmd_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A failed or refused login_response. */
static void cmd_login_refused(struct session *s, const char *text)
{
	json_object *o = cmd_account_response("login_response", 0, 0, NULL, text);
	proto_set_null(o, "current_chat_group");
	session_reply(s, o);
}

/* Failed logins are counted three ways (see throttle.h and LoginFail* in
 * chatroomd.conf(5)):
 *  - the pair account+address ("p:"): past LoginFailMax, that address may
 *    not log in to that account for the rest of the window;
 *  - the address ("a:", an IPv6 /64): past LoginFailMaxAddress, it may not
 *    log in at all for the rest of the window;
 *  - the account, from all addresses ("u:", existing accounts only): past
 *    LoginFailMaxAccount, a login to it from an address without failures
 *    on it waits LoginFailDelay seconds first, with the right password as
 *    well, but is never refused, so wrong passwords from elsewhere cannot
 *    lock its owner out; an address with failures on it waits for the end
 *    of its window. */
/* The login_response, queued by state_login() under the table lock. */
struct cmd_login_reply {
	struct session *s;
	const struct state_login *l;
};

static void cmd_login_reply(void *ctx, int64_t pub_id)
{
	struct cmd_login_reply *r = ctx;
	json_object *o = cmd_account_response("login_response", 1, r->l->id, r->l->username, NULL);
	if (pub_id >= 0) {
		json_object *g = json_object_new_object();
		proto_set_int(g, "id", pub_id);
		proto_set_string(g, "name", CR_PUBLIC_GROUP);
		json_object_object_add(o, "current_chat_group", g);
	} else {
		proto_set_null(o, "current_chat_group");
	}
	session_reply(r->s, o);
}

void cmd_login(struct session *s, json_object *req)
{
	const char *user, *pw;
	struct state_login u;
	char src[64], akey[80], pkey[192], ukey[112];
	cmd_credentials(req, &user, &pw);
	/* Throttle guessing before spending a hash on it. */
	throttle_source(s->c->ip, src, sizeof src);
	snprintf(akey, sizeof akey, "a:%s", src);
	snprintf(pkey, sizeof pkey, "p:%.100s\n%s", user, src);
	snprintf(ukey, sizeof ukey, "u:%.100s", user);
	int fwin = CONF(login_fail_window);
	int wait = throttle_check(THROTTLE_SOURCE, akey, CONF(login_fail_max_address), fwin);
	if (!wait)
		wait = throttle_check(THROTTLE_SOURCE, pkey, CONF(login_fail_max), fwin);
	if (wait) {
		STATS_INC(login_failures);
		log_warn("%s: login refused: too many failed logins from this address", s->c->addr);
		char text[128];
		session_text(s, text, sizeof text, CAT_LOGIN_THROTTLED, wait);
		cmd_login_refused(s, text);
		return;
	}
	int rc = state_login_read(user, &u);
	if (rc != STATE_OK && rc != STATE_NOTFOUND) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	if (rc == STATE_OK &&
	    throttle_count(THROTTLE_ACCOUNT, ukey, fwin) >= CONF(login_fail_max_account)) {
		/* The account is under attack. An address that has itself failed
		 * on it waits for its window (answered at once: the delay holds a
		 * worker thread, which many addresses must not be able to take);
		 * any other is served after the delay, so the owner gets in. */
		wait = throttle_check(THROTTLE_SOURCE, pkey, 1, fwin);
		if (wait) {
			STATS_INC(login_failures);
			char text[128];
			cmd_login_refused(s, session_text(s, text, sizeof text, CAT_LOGIN_THROTTLED, wait));
			return;
		}
		if (CONF(login_fail_delay) > 0) {
			STATS_INC(login_delays);
			log_debug("%s: login to %s slowed: many failed logins for it", s->c->addr,
			          u.username);
			cmd_sleep_ms(CONF(login_fail_delay) * 1000L);
		}
	}
	/* an unknown user is verified against a dummy hash at the same cost,
	 * so that timing does not tell which names exist */
	passwd_source_enter(src);
	int ok = passwd_verify(rc == STATE_OK ? u.pwhash : "", pw) && rc == STATE_OK;
	passwd_source_leave(src);
	if (!ok) {
		STATS_INC(login_failures);
		s->login_failures++;
		throttle_fail(THROTTLE_SOURCE, akey, fwin);
		throttle_fail(THROTTLE_SOURCE, pkey, fwin);
		if (rc == STATE_OK)
			throttle_fail(THROTTLE_ACCOUNT, ukey, fwin);
		/* a name that does not exist is often a password typed into the
		 * user field: it is logged at debug level only */
		char ubuf[TEXT_LOG_FIELD];
		if (rc == STATE_OK)
			log_info("%s: failed login as %s", s->c->addr, u.username);
		else
			log_info("%s: failed login for a name that does not exist", s->c->addr);
		log_debug("%s: failed login as %s", s->c->addr, text_escape(ubuf, sizeof ubuf, user));
		char text[128];
		cmd_login_refused(s, session_text(s, text, sizeof text, CAT_BAD_CREDENTIALS));
		return;
	}
	if (passwd_needs_rehash(u.pwhash)) {
		/* the cost was raised (HashOpsLimit, HashMemLimit): the password
		 * is at hand only now, so the stored hash is upgraded now */
		char hash[256];
		passwd_source_enter(src);
		int hrc = passwd_hash(pw, hash, sizeof hash);
		passwd_source_leave(src);
		if (hrc == 0 && state_login_rehash(&u, hash) == STATE_OK)
			log_info("%s: password hash of %s upgraded to the current cost", s->c->addr,
			         u.username);
	}

	/* The account is checked again once the table lock is held: one
	 * deleted, renamed or given a new password by Admin since it was read
	 * is not logged in. */
	struct cmd_login_reply reply = { s, &u };
	rc = state_login(s->c, &u, CAT_LOGGED_IN_ELSEWHERE, "logged in again from another connection",
	                 cmd_login_reply, &reply);
	if (rc == STATE_NOTFOUND) {
		char text[128];
		cmd_login_refused(s, session_text(s, text, sizeof text, CAT_BAD_CREDENTIALS));
		return;
	}
	if (rc != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	throttle_clear(THROTTLE_SOURCE, pkey);
	STATS_INC(logins);
	log_info("%s: %s logged in (protocol %d)", s->c->addr, u.username, s->c->protocol);
	cluster_logged_in(u.id); /* a session of it on another node ends */
}

void cmd_logout(struct session *s, json_object *req)
{
	(void)req;
	log_info("%s: %s logged out", s->c->addr, s->c->username);
	state_logout(s->c);
	char text[128];
	session_reply(s, proto_system_message(session_text(s, text, sizeof text, CAT_LOGGED_OUT),
	                                      "info"));
}

/* user_info_response ---------------------------------------------------- */

struct cmd_counts {
	int64_t uid;
	int joined, priv, group, total;
};

static void cmd_count_group(void *ctx, group_t *g)
{
	struct cmd_counts *k = ctx;
	k->total++;
	if (table_is_member(g, k->uid)) {
		k->joined++;
		if (g->is_private)
			k->priv++;
		else
			k->group++;
	}
}

void cmd_user_info(struct session *s, json_object *req)
{
	(void)req;
	state_user_t u;
	int64_t total_users = 0;
	if (state_user_by_id(s->c->user_id, &u) != STATE_OK || state_user_count(&total_users) != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	struct cmd_counts k = { .uid = s->c->user_id };
	/* in a cluster the totals are the record's and the online users every
	 * node's (cluster_presence.h) */
	int64_t total_chats = -1;
	if (cluster_enabled() && state_group_count(&total_chats) != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	table_rdlock();
	table_groups_foreach(cmd_count_group, &k);
	size_t online = cpres_count_online();
	group_t *cur = s->c->cur;
	int64_t cur_id = cur ? cur->id : 0;
	char cur_name[160] = "";
	int cur_banned = cur ? cur->banned : 0;
	if (cur)
		snprintf(cur_name, sizeof cur_name, "%s", cur->name);
	table_unlock();

	json_object *o = proto_new("user_info_response");
	json_object *ui = json_object_new_object();
	proto_set_int(ui, "user_id", u.id);
	proto_set_string(ui, "username", u.username);
	proto_set_bool(ui, "is_online", 1);
	json_object_object_add(o, "user_info", ui);
	proto_set_int(o, "joined_chats_count", k.joined);
	proto_set_int(o, "private_chats_count", k.priv);
	proto_set_int(o, "group_chats_count", k.group);
	proto_set_int(o, "total_users_count", total_users);
	proto_set_int(o, "online_users_count", (int64_t)online);
	proto_set_int(o, "total_chats_count", total_chats >= 0 ? total_chats : k.total);
	proto_set_bool(o, "is_user_banned", u.banned);
	proto_set_bool(o, "is_current_chat_banned", cur_banned);
	if (cur)
		proto_set_int(o, "current_chat_group_id", cur_id);
	else
		proto_set_null(o, "current_chat_group_id");
	proto_set_string(o, "current_chat_group_name", cur_name);
	session_reply(s, o);
}

/* list_users_response ------------------------------------------------------ */

struct cmd_users {
	json_object *arr;
	const group_t *only;  /* members of this group only, or NULL */
	int64_t *online;      /* sorted ids of online users */
	size_t nonline;
};

static int cmd_idcmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void cmd_collect_online(void *ctx, client_t *c)
{
	struct cmd_users *u = ctx;
	if (c->logged_in)
		u->online[u->nonline++] = c->user_id;
}

static void cmd_add_row(struct cmd_users *u, int64_t id, const char *name)
{
	json_object *o = json_object_new_object();
	proto_set_int(o, "user_id", id);
	proto_set_string(o, "username", name);
	proto_set_bool(o, "is_online",
	               bsearch(&id, u->online, u->nonline, sizeof *u->online, cmd_idcmp) != NULL ||
	                       cpres_online_elsewhere(id));
	json_object_array_add(u->arr, o);
}

/* Users copied out of the store, so that the JSON is built after the store
 * lock is released (state_users_foreach calls back under it). */
struct cmd_user_row {
	int64_t id;
	char username[sizeof ((state_user_t *)0)->username];
};

struct cmd_user_rows {
	struct cmd_user_row *row;
	size_t n, cap;
	int oom;
};

static int cmd_copy_user(void *ctx, const state_user_t *su)
{
	struct cmd_user_rows *r = ctx;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct cmd_user_row *row = realloc(r->row, cap * sizeof *row);
		if (!row) {
			r->oom = 1;
			return 1;
		}
		r->row = row;
		r->cap = cap;
	}
	struct cmd_user_row *d = &r->row[r->n++];
	d->id = su->id;
	memcpy(d->username, su->username, sizeof d->username);
	return 0;
}

void cmd_list_users(struct session *s, json_object *req)
{
	const char *type = NULL;
	int64_t gid = 0;
	proto_get_string(req, "list_type", &type); /* types checked by cmd.c */
	proto_get_int(req, "chat_group_id", &gid);
	if (!type)
		type = "all";
	int current = strcmp(type, "current_chat") == 0;
	if (!current && strcmp(type, "all") != 0) {
		session_error(s, PROTO_E_INVALID, CAT_LIST_USERS_TYPE);
		return;
	}
	struct cmd_users u = { .arr = json_object_new_array() };
	int64_t *members = NULL;
	size_t nmembers = 0;

	table_rdlock();
	u.online = malloc((table_count_online() + 1) * sizeof *u.online);
	if (u.online)
		table_clients_foreach(cmd_collect_online, &u);
	if (current) {
		group_t *g = gid > 0 ? table_group(gid) : s->c->cur;
		if (!g || !table_is_member(g, s->c->user_id)) {
			table_unlock();
			free(u.online);
			json_object_put(u.arr);
			if (!g)
				session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND);
			else
				session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER);
			return;
		}
		members = malloc((g->nmembers + 1) * sizeof *members);
		if (members) {
			if (g->nmembers) /* g->members is NULL in an empty group */
				memcpy(members, g->members, g->nmembers * sizeof *members);
			nmembers = g->nmembers;
		}
	}
	table_unlock();
	if (!u.online) {
		free(members);
		json_object_put(u.arr);
		session_error(s, PROTO_E_SERVER, CAT_OUT_OF_MEMORY);
		return;
	}
	qsort(u.online, u.nonline, sizeof *u.online, cmd_idcmp);

	int rc = STATE_OK;
	if (current) {
		for (size_t i = 0; i < nmembers && rc == STATE_OK; i++) {
			state_user_t su;
			if (state_user_by_id(members[i], &su) == STATE_OK)
				cmd_add_row(&u, su.id, su.username);
		}
	} else {
		struct cmd_user_rows rows = { 0 };
		rc = state_users_foreach(cmd_copy_user, &rows);
		if (rows.oom)
			rc = STATE_NOMEM;
		for (size_t i = 0; rc == STATE_OK && i < rows.n; i++)
			cmd_add_row(&u, rows.row[i].id, rows.row[i].username);
		free(rows.row);
	}
	free(members);
	free(u.online);
	if (rc != STATE_OK) {
		json_object_put(u.arr);
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	json_object *o = proto_new("list_users_response");
	json_object_object_add(o, "users", u.arr);
	session_reply(s, o);
}
