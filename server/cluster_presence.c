/* cluster_presence.c - presence across the nodes of a cluster and the
 * cluster-wide counters (cluster_presence.h). */
#include "config.h"
#include "cluster_presence.h"

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "presence.h"
#include "server.h"
#include "table.h"

#define CPRES_KEY "chatroom:online:" /* + node name: user id -> name */
#define CPRES_NAME 96                /* a user name's room, as client_t's */
/* Keys asked for per SCAN call while reading the nodes' hashes. */
#define CPRES_SCAN_COUNT "100"

/* User uid online on another node (node: an index into cp.node). */
struct cpres_pair {
	int64_t uid;
	uint32_t node;
	char name[CPRES_NAME];
};

static struct {
	/* the presence write lock: orders this node's writes of its hash;
	 * before the table lock */
	pthread_mutex_t write_lock;
	/* the presence lock, a leaf: guards pair, npair, cappair, node, nnode,
	 * capnode */
	pthread_mutex_t lock;
	struct cpres_pair *pair; /* sorted by uid, then node */
	size_t npair, cappair;
	char **node;             /* other nodes' names seen; an index never changes */
	size_t nnode, capnode;

	atomic_int on;
	/* set by cpres_start() before `on`, then read-only */
	int ttl_s;
	char key[300];
	char *self;

	/* the bus thread's own */
	long long next_sync;
	long long grace_until; /* nobody taken offline by a read before this */
} cp = { .write_lock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER };

void cpres_start(const char *node, int ttl_s)
{
	cp.ttl_s = ttl_s;
	snprintf(cp.key, sizeof cp.key, CPRES_KEY "%s", node);
	cp.self = strdup(node);
	if (!cp.self) {
		log_error("cluster: out of memory: presence stays on this node");
		return;
	}
	atomic_store(&cp.on, 1);
}

/* ---- the other nodes' users (presence lock held) ----------------------- */

static int cpres_cmp(int64_t uid_a, uint32_t node_a, int64_t uid_b, uint32_t node_b)
{
	if (uid_a != uid_b)
		return uid_a < uid_b ? -1 : 1;
	return (node_a > node_b) - (node_a < node_b);
}

/* The first pair not below (uid, node). */
static size_t cpres_find(int64_t uid, uint32_t node)
{
	size_t lo = 0, hi = cp.npair;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cpres_cmp(cp.pair[mid].uid, cp.pair[mid].node, uid, node) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cpres_has(int64_t uid)
{
	size_t i = cpres_find(uid, 0);
	return i < cp.npair && cp.pair[i].uid == uid;
}

/* The index of node `name`, added when new; -1 when out of memory. */
static long cpres_node_id(const char *name)
{
	for (size_t i = 0; i < cp.nnode; i++)
		if (strcmp(cp.node[i], name) == 0)
			return (long)i;
	if (cp.nnode == cp.capnode) {
		size_t cap = cp.capnode ? cp.capnode * 2 : 8;
		char **v = realloc(cp.node, cap * sizeof *v);
		if (!v)
			return -1;
		cp.node = v;
		cp.capnode = cap;
	}
	if (!(cp.node[cp.nnode] = strdup(name)))
		return -1;
	return (long)cp.nnode++;
}

/* Mark uid online or not on node; 0, or -1 when out of memory. */
static int cpres_set(int64_t uid, uint32_t node, const char *name, int online)
{
	size_t i = cpres_find(uid, node);
	int found = i < cp.npair && cp.pair[i].uid == uid && cp.pair[i].node == node;
	if (!online) {
		if (found) {
			memmove(&cp.pair[i], &cp.pair[i + 1], (cp.npair - i - 1) * sizeof *cp.pair);
			cp.npair--;
		}
		return 0;
	}
	if (!found) {
		if (cp.npair == cp.cappair) {
			size_t cap = cp.cappair ? cp.cappair * 2 : 64;
			struct cpres_pair *v = realloc(cp.pair, cap * sizeof *v);
			if (!v)
				return -1;
			cp.pair = v;
			cp.cappair = cap;
		}
		memmove(&cp.pair[i + 1], &cp.pair[i], (cp.npair - i) * sizeof *cp.pair);
		cp.npair++;
		cp.pair[i].uid = uid;
		cp.pair[i].node = node;
	}
	snprintf(cp.pair[i].name, sizeof cp.pair[i].name, "%s", name);
	return 0;
}

int cpres_online_elsewhere(int64_t uid)
{
	if (!atomic_load(&cp.on))
		return 0;
	pthread_mutex_lock(&cp.lock);
	int r = cpres_has(uid);
	pthread_mutex_unlock(&cp.lock);
	return r;
}

size_t cpres_count_online(void)
{
	size_t n = table_count_online();
	if (!atomic_load(&cp.on))
		return n;
	pthread_mutex_lock(&cp.lock);
	for (size_t i = 0; i < cp.npair; i++)
		if ((i == 0 || cp.pair[i].uid != cp.pair[i - 1].uid) && !table_user_client(cp.pair[i].uid))
			n++;
	pthread_mutex_unlock(&cp.lock);
	return n;
}

/* Tell this node's clients that uid went online or offline elsewhere,
 * unless it is online here (then nothing changed for them). */
static void cpres_tell(int64_t uid, const char *name, int online)
{
	table_rdlock();
	int here = table_user_client(uid) != NULL;
	table_unlock();
	if (!here)
		presence_tell(uid, name, online);
}

/* ---- this node's users in Redis ----------------------------------------- */

int cpres_local(int64_t uid, const char *name, int online)
{
	if (!atomic_load(&cp.on))
		return 1;
	char id[24], ttl[16];
	snprintf(id, sizeof id, "%lld", (long long)uid);
	snprintf(ttl, sizeof ttl, "%d", cp.ttl_s);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(cp.self));
	json_object_object_add(o, "type", json_object_new_string("presence"));
	json_object_object_add(o, "user", json_object_new_int64(uid));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "online", json_object_new_boolean(online));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	const char *set[4] = { online ? "HSET" : "HDEL", cp.key, id, name };
	const char *expire[3] = { "EXPIRE", cp.key, ttl };
	const char *pub[3] = { "PUBLISH", BUS_CHANNEL, text };
	size_t lset[4], lexpire[3], lpub[3];
	for (int i = 0; i < 4; i++)
		lset[i] = strlen(set[i]);
	for (int i = 0; i < 3; i++) {
		lexpire[i] = strlen(expire[i]);
		lpub[i] = strlen(pub[i]);
	}
	struct bus_cmd cmd[3] = {
		{ online ? 4 : 3, set, lset }, { 3, expire, lexpire }, { 3, pub, lpub }
	};
	redisReply *reply[3];
	/* Redis down: the next full write (when it is back) makes it good */
	pthread_mutex_lock(&cp.write_lock);
	if (bus_run("writing presence", 3, cmd, reply) == 0)
		for (int i = 0; i < 3; i++)
			freeReplyObject(reply[i]);
	pthread_mutex_unlock(&cp.write_lock);
	json_object_put(o);
	return !cpres_online_elsewhere(uid);
}

void cpres_login_elsewhere(int64_t uid, const char *name, const char *node)
{
	if (!atomic_load(&cp.on))
		return;
	pthread_mutex_lock(&cp.lock);
	long id = cpres_node_id(node);
	if (id >= 0 && cpres_set(uid, (uint32_t)id, name, 1) < 0)
		id = -1;
	pthread_mutex_unlock(&cp.lock);
	if (id < 0)
		log_error("cluster: out of memory: %s is shown offline until the next read of "
		          "presence", name);
	if (cpres_local(uid, name, 0))
		presence_tell(uid, name, 0);
}

void cpres_notice(const char *node, const char *type, json_object *o)
{
	json_object *v;
	if (!atomic_load(&cp.on) || strcmp(type, "presence") != 0)
		return;
	int64_t uid = json_object_object_get_ex(o, "user", &v) && json_object_is_type(v, json_type_int)
	                      ? json_object_get_int64(v)
	                      : -1;
	const char *name = json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string)
	                           ? json_object_get_string(v)
	                           : NULL;
	if (uid < 0 || !name || !json_object_object_get_ex(o, "online", &v)) {
		log_warn("cluster: ignoring a presence notice of node %s without user, name or online",
		         node);
		return;
	}
	int online = json_object_get_boolean(v);
	pthread_mutex_lock(&cp.lock);
	int was = cpres_has(uid);
	long id = cpres_node_id(node);
	if (id < 0 || cpres_set(uid, (uint32_t)id, name, online) < 0)
		log_error("cluster: out of memory: the presence of %s on node %s is read again later",
		          name, node);
	int now = cpres_has(uid);
	pthread_mutex_unlock(&cp.lock);
	if (was != now)
		cpres_tell(uid, name, now);
}

/* ---- the full write and read (bus thread) ------------------------------ */

struct cpres_snap {
	int64_t *id;
	char (*name)[CPRES_NAME];
	size_t n, cap;
	int oom;
};

static void cpres_snap_client(void *ctx, client_t *c)
{
	struct cpres_snap *s = ctx;
	if (!c->logged_in || s->oom)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int64_t *id = realloc(s->id, cap * sizeof *id);
		if (id)
			s->id = id;
		char(*name)[CPRES_NAME] = id ? realloc(s->name, cap * sizeof *name) : NULL;
		if (!id || !name) {
			s->oom = 1;
			return;
		}
		s->name = name;
		s->cap = cap;
	}
	s->id[s->n] = c->user_id;
	snprintf(s->name[s->n++], CPRES_NAME, "%s", c->username);
}

/* Write this node's hash again from the table: 0, or -1. */
static int cpres_write_own(void)
{
	struct cpres_snap s = { 0 };
	const char **argv = NULL;
	size_t *len = NULL;
	char (*ids)[24] = NULL;
	char ttl[16];
	int rc = -1;

	snprintf(ttl, sizeof ttl, "%d", cp.ttl_s);
	pthread_mutex_lock(&cp.write_lock);
	table_rdlock();
	table_clients_foreach(cpres_snap_client, &s);
	table_unlock();
	size_t argc = 2 + 2 * s.n;
	argv = malloc(argc * sizeof *argv);
	len = malloc(argc * sizeof *len);
	ids = malloc((s.n + 1) * sizeof *ids);
	if (s.oom || !argv || !len || !ids) {
		log_error("cluster: out of memory writing this node's presence to Redis");
		goto out;
	}
	argv[0] = "HSET";
	argv[1] = cp.key;
	for (size_t i = 0; i < s.n; i++) {
		snprintf(ids[i], sizeof ids[i], "%lld", (long long)s.id[i]);
		argv[2 + 2 * i] = ids[i];
		argv[3 + 2 * i] = s.name[i];
	}
	for (size_t i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	const char *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
	const char *del[2] = { "DEL", cp.key }, *expire[3] = { "EXPIRE", cp.key, ttl };
	size_t lmulti[1] = { 5 }, lexec[1] = { 4 }, ldel[2] = { 3, strlen(cp.key) };
	size_t lexpire[3] = { 6, strlen(cp.key), strlen(ttl) };
	struct bus_cmd cmd[5] = { { 1, multi, lmulti }, { 2, del, ldel }, { (int)argc, argv, len },
		                  { 3, expire, lexpire }, { 1, exec, lexec } };
	/* no HSET without a user: the hash is simply absent */
	struct bus_cmd some[4] = { cmd[0], cmd[1], cmd[3], cmd[4] };
	redisReply *reply[5];
	size_t n = s.n ? 5 : 4;
	if (bus_run("writing this node's presence", n, s.n ? cmd : some, reply) == 0) {
		for (size_t i = 0; i < n; i++)
			freeReplyObject(reply[i]);
		rc = 0;
	}
out:
	pthread_mutex_unlock(&cp.write_lock);
	free(argv);
	free(len);
	free(ids);
	free(s.id);
	free(s.name);
	return rc;
}

/* The other nodes' hash keys (SCAN), each a strdup'ed string: 0, or -1. */
static int cpres_keys(char ***keys, size_t *nkeys)
{
	char cursor[32] = "0";
	size_t cap = 0;
	*keys = NULL;
	*nkeys = 0;
	do {
		const char *argv[6] = { "SCAN", cursor, "MATCH", CPRES_KEY "*", "COUNT",
			                CPRES_SCAN_COUNT };
		size_t len[6];
		for (int i = 0; i < 6; i++)
			len[i] = strlen(argv[i]);
		struct bus_cmd cmd = { 6, argv, len };
		redisReply *r;
		if (bus_run("reading the nodes' presence", 1, &cmd, &r) < 0)
			return -1;
		int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		         r->element[0]->type == REDIS_REPLY_STRING &&
		         r->element[1]->type == REDIS_REPLY_ARRAY;
		for (size_t i = 0; ok && i < r->element[1]->elements; i++) {
			redisReply *k = r->element[1]->element[i];
			if (k->type != REDIS_REPLY_STRING || strcmp(k->str, cp.key) == 0)
				continue;
			if (*nkeys == cap) {
				cap = cap ? cap * 2 : 16;
				char **v = realloc(*keys, cap * sizeof *v);
				if (!v) {
					ok = 0;
					break;
				}
				*keys = v;
			}
			if (!((*keys)[*nkeys] = strdup(k->str)))
				ok = 0;
			else
				(*nkeys)++;
		}
		if (ok)
			snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		freeReplyObject(r);
		if (!ok) {
			log_error("cluster: unexpected answer or out of memory reading the nodes' presence");
			return -1;
		}
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

static int cpres_pair_cmp(const void *a, const void *b)
{
	const struct cpres_pair *x = a, *y = b;
	return cpres_cmp(x->uid, x->node, y->uid, y->node);
}

struct cpres_change {
	int64_t uid;
	char name[CPRES_NAME];
	int online;
};

/* Every other node's hash read into pairs; those of cp.pair kept too when
 * keep_old. The new pairs replace cp.pair; the users whose presence
 * elsewhere changed are told to this node's clients. */
static void cpres_read_all(int keep_old)
{
	char **keys = NULL;
	size_t nkeys = 0, np = 0, capp = 0, nch = 0;
	struct cpres_pair *p = NULL;
	struct cpres_change *ch = NULL;
	redisReply **reply = NULL;
	struct bus_cmd *cmd = NULL;
	const char *(*argv)[2] = NULL;
	size_t(*len)[2] = NULL;
	int oom = 0;

	if (cpres_keys(&keys, &nkeys) < 0)
		goto out;
	reply = calloc(nkeys + 1, sizeof *reply);
	cmd = calloc(nkeys + 1, sizeof *cmd);
	argv = calloc(nkeys + 1, sizeof *argv);
	len = calloc(nkeys + 1, sizeof *len);
	if (!reply || !cmd || !argv || !len) {
		oom = 1;
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++) {
		argv[i][0] = "HGETALL";
		argv[i][1] = keys[i];
		len[i][0] = 7;
		len[i][1] = strlen(keys[i]);
		cmd[i] = (struct bus_cmd){ 2, argv[i], len[i] };
	}
	if (nkeys && bus_run("reading the nodes' presence", nkeys, cmd, reply) < 0)
		goto out;

	pthread_mutex_lock(&cp.lock);
	for (size_t k = 0; k < nkeys && !oom; k++) {
		redisReply *r = reply[k];
		long node = cpres_node_id(keys[k] + strlen(CPRES_KEY));
		if (node < 0) {
			oom = 1;
			break;
		}
		if (r->type != REDIS_REPLY_ARRAY)
			continue; /* expired between SCAN and HGETALL: an empty map */
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			redisReply *f = r->element[i], *v = r->element[i + 1];
			char *end;
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			long long uid = strtoll(f->str, &end, 10);
			if (*end || uid < 0)
				continue;
			if (np == capp) {
				size_t cap = capp ? capp * 2 : 64;
				struct cpres_pair *nv = realloc(p, cap * sizeof *nv);
				if (!nv) {
					oom = 1;
					break;
				}
				p = nv;
				capp = cap;
			}
			p[np].uid = uid;
			p[np].node = (uint32_t)node;
			snprintf(p[np++].name, sizeof p->name, "%s", v->str);
		}
	}
	if (!oom && keep_old && cp.npair) {
		struct cpres_pair *nv = realloc(p, (np + cp.npair) * sizeof *nv);
		if (nv) {
			p = nv;
			capp = np + cp.npair;
			memcpy(p + np, cp.pair, cp.npair * sizeof *p);
			np += cp.npair;
		} else {
			oom = 1;
		}
	}
	if (oom) {
		pthread_mutex_unlock(&cp.lock);
		goto out;
	}
	if (np > 1)
		qsort(p, np, sizeof *p, cpres_pair_cmp);
	size_t w = 0;
	for (size_t i = 0; i < np; i++)
		if (w == 0 || cpres_pair_cmp(&p[w - 1], &p[i]) != 0)
			p[w++] = p[i];
	np = w;
	/* the users present on one side only: a merge of two sorted lists */
	ch = malloc((np + cp.npair + 1) * sizeof *ch);
	if (!ch) {
		pthread_mutex_unlock(&cp.lock);
		oom = 1;
		goto out;
	}
	size_t i = 0, j = 0;
	while (i < cp.npair || j < np) {
		int64_t a = i < cp.npair ? cp.pair[i].uid : INT64_MAX;
		int64_t b = j < np ? p[j].uid : INT64_MAX;
		const struct cpres_pair *from = a < b ? &cp.pair[i] : &p[j];
		if (a != b) {
			ch[nch].uid = from->uid;
			memcpy(ch[nch].name, from->name, sizeof ch->name);
			ch[nch++].online = b < a;
		}
		int64_t u = a < b ? a : b;
		while (i < cp.npair && cp.pair[i].uid == u)
			i++;
		while (j < np && p[j].uid == u)
			j++;
	}
	free(cp.pair);
	cp.pair = p;
	cp.npair = np;
	cp.cappair = capp;
	p = NULL;
	pthread_mutex_unlock(&cp.lock);
	for (size_t c = 0; c < nch; c++)
		cpres_tell(ch[c].uid, ch[c].name, ch[c].online);
out:
	if (oom)
		log_error("cluster: out of memory reading the nodes' presence: tried again later");
	for (size_t k = 0; reply && k < nkeys; k++)
		if (reply[k])
			freeReplyObject(reply[k]);
	for (size_t k = 0; k < nkeys; k++)
		free(keys[k]);
	free(keys);
	free(reply);
	free(cmd);
	free(argv);
	free(len);
	free(p);
	free(ch);
}

void cpres_tick(int back)
{
	if (!atomic_load(&cp.on))
		return;
	long long now = srv_now_ms();
	if (back) {
		cp.next_sync = 0;
		cp.grace_until = now + cp.ttl_s * 1000LL;
	}
	if (now < cp.next_sync)
		return;
	cp.next_sync = now + cp.ttl_s * 1000LL / 3;
	if (cpres_write_own() == 0)
		cpres_read_all(now < cp.grace_until);
}

void cpres_stop(void)
{
	if (!atomic_exchange(&cp.on, 0))
		return;
	const char *del[2] = { "DEL", cp.key };
	size_t ldel[2] = { 3, strlen(cp.key) };
	struct bus_cmd cmd = { 2, del, ldel };
	redisReply *r;
	pthread_mutex_lock(&cp.write_lock);
	if (bus_run("dropping this node's presence", 1, &cmd, &r) == 0)
		freeReplyObject(r);
	pthread_mutex_unlock(&cp.write_lock);
	/* the names and users stay: a worker may still be reading them */
}
