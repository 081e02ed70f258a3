/* presence.c - user_status_update to protocol-2 users who share a group
 * with a user who came online or went offline; see presence.h. */
#include "config.h"
#include "presence.h"
#include "cluster_presence.h"
#include "proto.h"
#include "server.h"
#include "table.h"

#include <stdlib.h>

struct presence_scan {
	int64_t uid;
	size_t max_group;
	client_t **v;
	size_t n, cap;
};

static void presence_group(void *ctx, group_t *g)
{
	struct presence_scan *p = ctx;
	if (g->nmembers > p->max_group || !table_is_member(g, p->uid))
		return;
	for (size_t i = 0; i < g->nmembers; i++) {
		if (g->members[i] == p->uid)
			continue;
		client_t *c = table_user_client(g->members[i]);
		if (!c || c->protocol != 2)
			continue;
		if (p->n == p->cap) {
			size_t ncap = p->cap ? p->cap * 2 : 16;
			client_t **nv = realloc(p->v, ncap * sizeof *nv);
			if (!nv)
				return;
			p->v = nv;
			p->cap = ncap;
		}
		p->v[p->n++] = c;
	}
}

static int presence_ptrcmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	return (x > y) - (x < y);
}

void presence_announce(int64_t uid, const char *uname, int online)
{
	/* in a cluster: only a change of the user's presence on every node */
	if (cpres_local(uid, uname, online))
		presence_tell(uid, uname, online);
}

void presence_tell(int64_t uid, const char *uname, int online)
{
	struct presence_scan p = { .uid = uid, .max_group = (size_t)CONF(presence_max_group) };
	json_object *o = proto_new("user_status_update");
	proto_set_int(o, "user_id", uid);
	proto_set_string(o, "username", uname);
	proto_set_bool(o, "is_online", online);
	outbuf_t *b = outbuf_json(o);
	json_object_put(o);
	if (!b)
		return;
	table_rdlock();
	table_groups_foreach(presence_group, &p);
	/* a user sharing several groups hears it once */
	if (p.n > 1)
		qsort(p.v, p.n, sizeof *p.v, presence_ptrcmp);
	for (size_t i = 0; i < p.n; i++)
		if (i == 0 || p.v[i] != p.v[i - 1])
			client_push(p.v[i], b, 1, (size_t)CONF(max_output));
	table_unlock();
	free(p.v);
	outbuf_unref(b);
}
