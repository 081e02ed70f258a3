/* table.c - the client table and in-memory groups; see table.h for the
 * lock order. */
#include "config.h"
#include "table.h"
#include "log.h"
#include "server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_UBUCKETS 4096 /* logged-in users hash */
#define TABLE_GBUCKETS 1024 /* groups hash */

static pthread_rwlock_t table_lock;
static client_t *table_all;                   /* every connection */
static size_t table_nclients, table_nonline;
static client_t *table_users[TABLE_UBUCKETS]; /* logged in, by user id */
static group_t *table_groups[TABLE_GBUCKETS]; /* by group id */
static group_t *table_gnames[TABLE_GBUCKETS]; /* by name */
static group_t *table_gpairs[TABLE_GBUCKETS]; /* direct chats, by their two users */
static int64_t *table_banned;                 /* sorted ids of banned users */
/* Changed under the write lock, read without it (table_accounts_gen). */
static _Atomic uint64_t table_gen_accounts;
/* Changed under the write lock, read under either (table_groups_gen). */
static uint64_t table_gen_groups;
static size_t table_nbanned, table_capbanned;

void table_init(void)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* Chat fan-out holds the read side constantly; without writer
	 * preference a login could wait forever. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&table_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

void table_destroy(void)
{
	for (size_t i = 0; i < TABLE_GBUCKETS; i++) {
		group_t *g = table_groups[i];
		while (g) {
			group_t *n = g->next;
			for (unsigned k = 0; k < g->clen; k++)
				msg_unref(g->cache[(g->chead + k) % TABLE_CACHE]);
			pthread_mutex_destroy(&g->seq_lock);
			free(g->members);
			free(g);
			g = n;
		}
		table_groups[i] = NULL;
		table_gnames[i] = NULL;
		table_gpairs[i] = NULL;
	}
	free(table_banned);
	table_banned = NULL;
	table_nbanned = table_capbanned = 0;
	pthread_rwlock_destroy(&table_lock);
}

void table_rdlock(void) { pthread_rwlock_rdlock(&table_lock); }
void table_wrlock(void) { pthread_rwlock_wrlock(&table_lock); }
void table_unlock(void) { pthread_rwlock_unlock(&table_lock); }

static unsigned table_uhash(int64_t id) { return (unsigned)((uint64_t)id * 2654435761u) % TABLE_UBUCKETS; }
static unsigned table_ghash(int64_t id) { return (unsigned)((uint64_t)id * 2654435761u) % TABLE_GBUCKETS; }

/* FNV-1a */
static unsigned table_namehash(const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % TABLE_GBUCKETS;
}

static unsigned table_pairhash(int64_t lo, int64_t hi)
{
	return (unsigned)(((uint64_t)lo * 2654435761u) ^ ((uint64_t)hi * 40503u)) % TABLE_GBUCKETS;
}

void table_add_client(client_t *c)
{
	c->prev = NULL;
	c->next = table_all;
	if (table_all)
		table_all->prev = c;
	table_all = c;
	table_nclients++;
}

/* Leave the current group's broadcast list. */
static void table_leave(client_t *c)
{
	group_t *g = c->cur;
	if (!g)
		return;
	if (c->gprev)
		c->gprev->gnext = c->gnext;
	else
		g->present = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	c->gnext = c->gprev = NULL;
	g->npresent--;
	c->cur = NULL;
}

void table_enter(client_t *c, group_t *g)
{
	table_leave(c);
	c->cur = g;
	c->gprev = NULL;
	c->gnext = g->present;
	if (g->present)
		g->present->gprev = c;
	g->present = c;
	g->npresent++;
}

void table_set_user(client_t *c, int64_t user_id, const char *username)
{
	table_clear_user(c);
	c->user_id = user_id;
	snprintf(c->username, sizeof c->username, "%s", username);
	unsigned h = table_uhash(user_id);
	c->unext = table_users[h];
	table_users[h] = c;
	c->logged_in = 1;
	table_nonline++;
}

void table_unlink_user(client_t *c)
{
	table_leave(c);
	if (!c->logged_in)
		return;
	client_t **pp = &table_users[table_uhash(c->user_id)];
	while (*pp && *pp != c)
		pp = &(*pp)->unext;
	if (*pp)
		*pp = c->unext;
	c->unext = NULL;
	c->logged_in = 0;
	c->anon_since_ms = srv_now_ms(); /* a new login timeout starts */
	table_nonline--;
}

void table_clear_user(client_t *c)
{
	table_unlink_user(c);
	c->user_id = -1;
	c->username[0] = '\0';
}

void table_remove_client(client_t *c)
{
	table_clear_user(c); /* also out of its group when no longer logged in */
	if (c->prev)
		c->prev->next = c->next;
	else if (table_all == c)
		table_all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	table_nclients--;
}

client_t *table_user_client(int64_t user_id)
{
	for (client_t *c = table_users[table_uhash(user_id)]; c; c = c->unext)
		if (c->user_id == user_id)
			return c;
	return NULL;
}

/* The name and pair indexes: a group is in the name index from its
 * table_group_add to its table_group_remove, in the pair index while it is
 * a direct chat (direct[0] >= 0). Each group remembers the chains it is in
 * (name_bucket, pair_bucket), so that it leaves them even when its name or
 * pair was written around these functions. Chains may hold two groups of
 * one name (in cluster mode another node's rename may reach this table
 * before the group that had the name goes): lookups take the first. */
static void table_name_link(group_t *g)
{
	g->name_bucket = table_namehash(g->name);
	g->name_next = table_gnames[g->name_bucket];
	table_gnames[g->name_bucket] = g;
}

static void table_name_unlink(group_t *g)
{
	group_t **pp = &table_gnames[g->name_bucket];
	while (*pp && *pp != g)
		pp = &(*pp)->name_next;
	if (*pp)
		*pp = g->name_next;
	g->name_next = NULL;
}

static void table_pair_link(group_t *g)
{
	if (g->direct[0] < 0) {
		g->pair_bucket = -1;
		return;
	}
	g->pair_bucket = (int)table_pairhash(g->direct[0], g->direct[1]);
	g->pair_next = table_gpairs[g->pair_bucket];
	table_gpairs[g->pair_bucket] = g;
}

static void table_pair_unlink(group_t *g)
{
	if (g->pair_bucket < 0)
		return;
	group_t **pp = &table_gpairs[g->pair_bucket];
	while (*pp && *pp != g)
		pp = &(*pp)->pair_next;
	if (*pp)
		*pp = g->pair_next;
	g->pair_next = NULL;
	g->pair_bucket = -1;
}

group_t *table_group_add(int64_t id, const char *name, int is_private, int banned, double created_at)
{
	group_t *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->id = id;
	snprintf(g->name, sizeof g->name, "%s", name);
	g->is_private = is_private;
	g->creator_id = g->direct[0] = g->direct[1] = -1;
	g->pair_bucket = -1;
	g->banned = banned;
	g->created_at = created_at;
	pthread_mutex_init(&g->seq_lock, NULL);
	unsigned h = table_ghash(id);
	g->next = table_groups[h];
	table_groups[h] = g;
	table_name_link(g);
	table_gen_groups++;
	return g;
}

void table_group_remove(group_t *g)
{
	/* members currently in it are moved by the caller first */
	table_gen_groups++;
	group_t **pp = &table_groups[table_ghash(g->id)];
	while (*pp && *pp != g)
		pp = &(*pp)->next;
	if (*pp)
		*pp = g->next;
	table_name_unlink(g);
	table_pair_unlink(g);
	while (g->present)
		table_leave(g->present);
	for (unsigned k = 0; k < g->clen; k++)
		msg_unref(g->cache[(g->chead + k) % TABLE_CACHE]);
	pthread_mutex_destroy(&g->seq_lock);
	free(g->members);
	free(g);
}

void table_group_set_kind(group_t *g, int invite_only, int64_t creator_id, const int64_t direct[2])
{
	int lo_first = direct[0] <= direct[1];
	g->invite_only = invite_only;
	g->creator_id = creator_id;
	table_pair_unlink(g);
	g->direct[0] = lo_first ? direct[0] : direct[1];
	g->direct[1] = lo_first ? direct[1] : direct[0];
	table_pair_link(g);
	table_gen_groups++;
}

void table_group_rename(group_t *g, const char *name)
{
	table_name_unlink(g);
	snprintf(g->name, sizeof g->name, "%s", name);
	table_name_link(g);
	table_gen_groups++;
}

group_t *table_group(int64_t id)
{
	for (group_t *g = table_groups[table_ghash(id)]; g; g = g->next)
		if (g->id == id)
			return g;
	return NULL;
}

group_t *table_group_by_name(const char *name)
{
	for (group_t *g = table_gnames[table_namehash(name)]; g; g = g->name_next)
		if (strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

group_t *table_group_by_pair(int64_t a, int64_t b)
{
	int64_t lo = a < b ? a : b, hi = a < b ? b : a;
	if (lo < 0)
		return NULL;
	for (group_t *g = table_gpairs[table_pairhash(lo, hi)]; g; g = g->pair_next)
		if (g->direct[0] == lo && g->direct[1] == hi)
			return g;
	return NULL;
}

/* Index of the first member >= user_id. */
static size_t table_member_pos(const group_t *g, int64_t user_id)
{
	size_t lo = 0, hi = g->nmembers;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g->members[mid] < user_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int table_is_member(const group_t *g, int64_t user_id)
{
	size_t i = table_member_pos(g, user_id);
	return i < g->nmembers && g->members[i] == user_id;
}

int table_member_add(group_t *g, int64_t user_id)
{
	size_t i = table_member_pos(g, user_id);
	if (i < g->nmembers && g->members[i] == user_id)
		return 0;
	if (g->nmembers == g->capmembers) {
		size_t ncap = g->capmembers ? g->capmembers * 2 : 4;
		int64_t *nm = realloc(g->members, ncap * sizeof *nm);
		if (!nm)
			return -1;
		g->members = nm;
		g->capmembers = ncap;
	}
	memmove(g->members + i + 1, g->members + i, (g->nmembers - i) * sizeof *g->members);
	g->members[i] = user_id;
	g->nmembers++;
	table_gen_groups++;
	return 0;
}

void table_member_remove(group_t *g, int64_t user_id)
{
	size_t i = table_member_pos(g, user_id);
	if (i < g->nmembers && g->members[i] == user_id) {
		memmove(g->members + i, g->members + i + 1, (g->nmembers - i - 1) * sizeof *g->members);
		g->nmembers--;
		table_gen_groups++;
	}
}

void table_groups_foreach(void (*cb)(void *ctx, group_t *g), void *ctx)
{
	for (size_t i = 0; i < TABLE_GBUCKETS; i++)
		for (group_t *g = table_groups[i]; g; g = g->next)
			cb(ctx, g);
}

void table_clients_foreach(void (*cb)(void *ctx, client_t *c), void *ctx)
{
	for (client_t *c = table_all; c; c = c->next)
		cb(ctx, c);
}

size_t table_count_clients(void) { return table_nclients; }
size_t table_count_online(void) { return table_nonline; }

static int table_idcmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int table_user_banned(int64_t user_id)
{
	if (table_nbanned == 0)
		return 0;
	return bsearch(&user_id, table_banned, table_nbanned, sizeof *table_banned, table_idcmp) != NULL;
}

int table_set_user_banned(int64_t user_id, int banned)
{
	int64_t *p = table_nbanned ? bsearch(&user_id, table_banned, table_nbanned, sizeof *table_banned,
	                                     table_idcmp)
	                           : NULL;
	if (banned && !p) {
		if (table_nbanned == table_capbanned) {
			size_t ncap = table_capbanned ? table_capbanned * 2 : 16;
			int64_t *nb = realloc(table_banned, ncap * sizeof *nb);
			if (!nb)
				return -1;
			table_banned = nb;
			table_capbanned = ncap;
		}
		table_banned[table_nbanned++] = user_id;
		qsort(table_banned, table_nbanned, sizeof *table_banned, table_idcmp);
		table_gen_groups++;
	} else if (!banned && p) {
		size_t i = (size_t)(p - table_banned);
		memmove(p, p + 1, (table_nbanned - i - 1) * sizeof *p);
		table_nbanned--;
		table_gen_groups++;
	}
	return 0;
}

void table_cache_add(group_t *g, msg_t *m)
{
	if (g->clen == TABLE_CACHE) {
		msg_unref(g->cache[g->chead]);
		g->chead = (g->chead + 1) % TABLE_CACHE;
		g->clen--;
	}
	g->cache[(g->chead + g->clen) % TABLE_CACHE] = msg_ref(m);
	g->clen++;
}

uint64_t table_accounts_gen(void)
{
	return atomic_load(&table_gen_accounts);
}

void table_accounts_changed(void)
{
	atomic_fetch_add(&table_gen_accounts, 1);
}

uint64_t table_groups_gen(void)
{
	return table_gen_groups;
}

void table_groups_changed(void)
{
	table_gen_groups++;
}
