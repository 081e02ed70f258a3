/* test_table.c - the client table (server/table.c): connections, the
 * logged-in users index, groups (found by id, name and direct pair) and
 * their sorted memberships, the per-group broadcast lists, the banned
 * users set and the message cache. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "log.h"
#include "msg.h"
#include "table.h"

#define NCLIENTS 4

/* Clients made for a test; those still in the table are removed and all
 * are released by teardown, so one failing test does not leak into the
 * next. */
struct fixture {
	client_t *c[NCLIENTS];
	int in_table[NCLIENTS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	log_init("test_table", LOG_LVL_ERROR, 1, 0);
	table_init();
	for (int i = 0; i < NCLIENTS; i++) {
		char addr[32];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", 1000 + i);
		f->c[i] = client_new(-1, addr);
		assert_non_null(f->c[i]);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	table_wrlock();
	for (int i = 0; i < NCLIENTS; i++)
		if (f->in_table[i])
			table_remove_client(f->c[i]);
	table_unlock();
	table_destroy();
	for (int i = 0; i < NCLIENTS; i++)
		client_unref(f->c[i]);
	free(f);
	return 0;
}

static void add(struct fixture *f, int i)
{
	table_wrlock();
	table_add_client(f->c[i]);
	table_unlock();
	f->in_table[i] = 1;
}

static void collect_client(void *ctx, client_t *c)
{
	client_t **v = ctx;
	while (*v)
		v++;
	*v = c;
}

/* The clients table_clients_foreach() visits, NULL-terminated. */
static void all_clients(client_t *out[NCLIENTS + 1])
{
	memset(out, 0, (NCLIENTS + 1) * sizeof *out);
	table_rdlock();
	table_clients_foreach(collect_client, out);
	table_unlock();
}

static int contains(client_t **v, client_t *c)
{
	for (; *v; v++)
		if (*v == c)
			return 1;
	return 0;
}

/* The clients present in g, NULL-terminated. */
static size_t present(group_t *g, client_t *out[NCLIENTS + 1])
{
	size_t n = 0;
	memset(out, 0, (NCLIENTS + 1) * sizeof *out);
	for (client_t *c = g->present; c && n < NCLIENTS; c = c->gnext)
		out[n++] = c;
	return n;
}

/* ---- connections and users ---- */

static void test_connections_are_counted_and_listed(void **state)
{
	struct fixture *f = *state;
	client_t *v[NCLIENTS + 1];

	assert_int_equal(table_count_clients(), 0);
	for (int i = 0; i < 3; i++)
		add(f, i);
	assert_int_equal(table_count_clients(), 3);
	assert_int_equal(table_count_online(), 0);
	all_clients(v);
	assert_true(contains(v, f->c[0]) && contains(v, f->c[1]) && contains(v, f->c[2]));
	assert_null(v[3]);
}

static void test_removing_a_middle_connection_keeps_the_others(void **state)
{
	struct fixture *f = *state;
	client_t *v[NCLIENTS + 1];

	for (int i = 0; i < 3; i++)
		add(f, i);
	table_wrlock();
	table_remove_client(f->c[1]);
	table_unlock();
	f->in_table[1] = 0;
	all_clients(v);
	assert_true(contains(v, f->c[0]) && contains(v, f->c[2]));
	assert_false(contains(v, f->c[1]));
	assert_null(v[2]);
	assert_int_equal(table_count_clients(), 2);

	/* the head too */
	table_wrlock();
	table_remove_client(f->c[2]);
	table_unlock();
	f->in_table[2] = 0;
	all_clients(v);
	assert_ptr_equal(v[0], f->c[0]);
	assert_null(v[1]);
}

static void test_login_makes_the_user_findable_and_online(void **state)
{
	struct fixture *f = *state;

	add(f, 0);
	add(f, 1);
	table_wrlock();
	table_set_user(f->c[0], 42, "alice");
	table_set_user(f->c[1], 42 + 4096, "bob"); /* same hash bucket as alice */
	table_unlock();
	assert_int_equal(table_count_online(), 2);
	table_rdlock();
	assert_ptr_equal(table_user_client(42), f->c[0]);
	assert_ptr_equal(table_user_client(42 + 4096), f->c[1]);
	assert_null(table_user_client(43));
	table_unlock();
	assert_int_equal(f->c[0]->user_id, 42);
	assert_string_equal(f->c[0]->username, "alice");
}

static void test_login_as_another_user_replaces_the_first(void **state)
{
	struct fixture *f = *state;

	add(f, 0);
	table_wrlock();
	table_set_user(f->c[0], 7, "alice");
	table_set_user(f->c[0], 8, "bob");
	table_unlock();
	assert_int_equal(table_count_online(), 1);
	table_rdlock();
	assert_null(table_user_client(7));
	assert_ptr_equal(table_user_client(8), f->c[0]);
	table_unlock();
	assert_string_equal(f->c[0]->username, "bob");
}

static void test_logout_leaves_the_group_and_restarts_the_login_clock(void **state)
{
	struct fixture *f = *state;
	group_t *g;

	add(f, 0);
	f->c[0]->anon_since_ms = 0;
	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	table_set_user(f->c[0], 5, "alice");
	table_enter(f->c[0], g);
	table_unlock();
	assert_int_equal(g->npresent, 1);

	table_wrlock();
	table_clear_user(f->c[0]);
	table_clear_user(f->c[0]); /* twice: no effect */
	table_unlock();
	assert_int_equal(f->c[0]->user_id, -1);
	assert_string_equal(f->c[0]->username, "");
	assert_null(f->c[0]->cur);
	assert_int_equal(g->npresent, 0);
	assert_null(g->present);
	assert_true(f->c[0]->anon_since_ms > 0);
	assert_int_equal(table_count_online(), 0);
	table_rdlock();
	assert_null(table_user_client(5));
	table_unlock();
}

static void test_removing_a_logged_in_connection_logs_it_out(void **state)
{
	struct fixture *f = *state;
	group_t *g;

	add(f, 0);
	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	table_set_user(f->c[0], 5, "alice");
	table_enter(f->c[0], g);
	table_remove_client(f->c[0]);
	table_unlock();
	f->in_table[0] = 0;
	assert_int_equal(table_count_online(), 0);
	assert_int_equal(table_count_clients(), 0);
	assert_int_equal(g->npresent, 0);
	table_rdlock();
	assert_null(table_user_client(5));
	table_unlock();
}

/* ---- groups ---- */

static void test_groups_are_found_by_id_and_by_name(void **state)
{
	group_t *a, *b, *c;
	(void)state;

	table_wrlock();
	a = table_group_add(1, "public", 0, 0, 1.5);
	b = table_group_add(1 + 1024, "same bucket", 1, 0, 0.0);
	c = table_group_add(2, "other", 0, 1, 0.0);
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group(1), a);
	assert_ptr_equal(table_group(1 + 1024), b);
	assert_ptr_equal(table_group(2), c);
	assert_null(table_group(3));
	assert_ptr_equal(table_group_by_name("same bucket"), b);
	assert_null(table_group_by_name("Public")); /* names are exact */
	table_unlock();
	assert_true(b->is_private);
	assert_true(c->banned);
	assert_true(a->created_at == 1.5);
}

static void test_a_group_has_the_kind_it_is_given_its_pair_lower_id_first(void **state)
{
	static const int64_t pair[2] = { 42, 7 }, none[2] = { -1, -1 };
	group_t *d, *p;
	(void)state;

	table_wrlock();
	d = table_group_add(5, "alice_bob", 1, 0, 0.0);
	p = table_group_add(6, "club", 0, 0, 0.0);
	assert_int_equal(d->creator_id, -1); /* plain until told */
	assert_int_equal(d->direct[0], -1);
	table_group_set_kind(d, 0, 42, pair);
	table_group_set_kind(p, 1, 7, none);
	table_unlock();
	assert_int_equal(d->direct[0], 7);
	assert_int_equal(d->direct[1], 42);
	assert_int_equal(d->creator_id, 42);
	assert_false(d->invite_only);
	assert_true(p->invite_only);
	assert_int_equal(p->creator_id, 7);
	assert_int_equal(p->direct[0], -1);
	assert_int_equal(p->direct[1], -1);
}

static void test_a_renamed_group_is_found_by_its_new_name_only(void **state)
{
	group_t *a, *b;
	(void)state;

	table_wrlock();
	a = table_group_add(1, "before", 0, 0, 0.0);
	b = table_group_add(2, "neighbour", 0, 0, 0.0);
	table_group_rename(a, "after");
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group_by_name("after"), a);
	assert_ptr_equal(table_group_by_name("neighbour"), b);
	assert_null(table_group_by_name("before"));
	assert_ptr_equal(table_group(1), a);
	table_unlock();
	assert_string_equal(a->name, "after");
	/* and back: the old name is free again */
	table_wrlock();
	table_group_rename(a, "before");
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group_by_name("before"), a);
	assert_null(table_group_by_name("after"));
	table_unlock();
}

static void test_a_direct_chat_is_found_by_its_pair_in_either_order(void **state)
{
	static const int64_t pair[2] = { 9, 4 }, other[2] = { 4, 10 }, none[2] = { -1, -1 };
	group_t *d, *e, *p;
	(void)state;

	table_wrlock();
	d = table_group_add(1, "x_y", 1, 0, 0.0);
	e = table_group_add(2, "x_z", 1, 0, 0.0);
	p = table_group_add(3, "plain", 0, 0, 0.0);
	table_group_set_kind(d, 0, 9, pair);
	table_group_set_kind(e, 0, 4, other);
	table_group_set_kind(p, 1, 4, none);
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group_by_pair(4, 9), d);
	assert_ptr_equal(table_group_by_pair(9, 4), d);
	assert_ptr_equal(table_group_by_pair(10, 4), e);
	assert_null(table_group_by_pair(9, 10));
	assert_null(table_group_by_pair(4, 4));
	assert_null(table_group_by_pair(-1, -1)); /* plain groups are no pair's */
	table_unlock();
}

static void test_a_removed_group_is_found_by_neither_name_nor_pair(void **state)
{
	static const int64_t pair[2] = { 1, 2 };
	group_t *d, *keep;
	(void)state;

	table_wrlock();
	d = table_group_add(7, "alice_bob", 1, 0, 0.0);
	keep = table_group_add(8, "kept", 0, 0, 0.0);
	table_group_set_kind(d, 0, 1, pair);
	table_group_remove(d);
	table_unlock();
	table_rdlock();
	assert_null(table_group_by_name("alice_bob"));
	assert_null(table_group_by_pair(1, 2));
	assert_null(table_group(7));
	assert_ptr_equal(table_group_by_name("kept"), keep);
	table_unlock();
	/* the pair may have a new chat, under the old name */
	table_wrlock();
	d = table_group_add(9, "alice_bob", 1, 0, 0.0);
	table_group_set_kind(d, 0, 2, pair);
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group_by_name("alice_bob"), d);
	assert_ptr_equal(table_group_by_pair(2, 1), d);
	table_unlock();
}

static void test_two_groups_of_one_name_leave_the_other_when_one_goes(void **state)
{
	group_t *a, *b;
	(void)state;

	/* in cluster mode a rename from another node can reach this table
	 * before the deletion of the group that had the name */
	table_wrlock();
	a = table_group_add(1, "old", 0, 0, 0.0);
	b = table_group_add(2, "new", 0, 0, 0.0);
	table_group_rename(b, "old");
	table_group_remove(a);
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group_by_name("old"), b);
	assert_null(table_group_by_name("new"));
	table_unlock();
}

/* What a scan of every group finds, to check the indexes against. */
struct scan {
	const char *name;
	int64_t lo, hi;
	group_t *by_name, *by_pair;
};

static void scan_group(void *ctx, group_t *g)
{
	struct scan *k = ctx;
	if (strcmp(g->name, k->name) == 0)
		k->by_name = g;
	if (g->direct[0] >= 0 && g->direct[0] == k->lo && g->direct[1] == k->hi)
		k->by_pair = g;
}

#define MANY 3000

static void test_indexes_agree_with_a_scan_through_adds_renames_and_removes(void **state)
{
	static group_t *g[MANY];
	char name[32];
	(void)state;

	table_wrlock();
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof name, "g%d", i);
		g[i] = table_group_add(i + 1, name, i % 2, 0, 0.0);
		assert_non_null(g[i]);
		if (i % 2) { /* a direct chat of users i and i + 1 */
			int64_t pair[2] = { i + 1, i };
			table_group_set_kind(g[i], 0, i, pair);
		}
	}
	for (int i = 0; i < MANY; i += 3) { /* every third goes */
		table_group_remove(g[i]);
		g[i] = NULL;
	}
	for (int i = 1; i < MANY; i += 5) /* some of the rest get a new name */
		if (g[i]) {
			snprintf(name, sizeof name, "renamed%d", i);
			table_group_rename(g[i], name);
		}
	table_unlock();

	table_rdlock();
	for (int i = 0; i < MANY; i++) {
		char old[32], cur[32];
		snprintf(old, sizeof old, "g%d", i);
		snprintf(cur, sizeof cur, "renamed%d", i);
		const char *names[2] = { old, cur };
		for (int k = 0; k < 2; k++) {
			struct scan s = { names[k], i, i + 1, NULL, NULL };
			table_groups_foreach(scan_group, &s);
			assert_ptr_equal(table_group_by_name(names[k]), s.by_name);
			if (k == 0) {
				assert_ptr_equal(table_group_by_pair(i + 1, i), s.by_pair);
				assert_ptr_equal(table_group_by_pair(i, i + 1), s.by_pair);
			}
		}
		if (g[i]) { /* and what is there is found through the indexes */
			assert_ptr_equal(table_group_by_name(g[i]->name), g[i]);
			if (i % 2)
				assert_ptr_equal(table_group_by_pair(i, i + 1), g[i]);
		}
	}
	table_unlock();
}

static void count_group(void *ctx, group_t *g)
{
	(void)g;
	++*(int *)ctx;
}

static void test_removing_a_group_keeps_its_bucket_neighbours(void **state)
{
	group_t *a, *b;
	int n = 0;
	(void)state;

	table_wrlock();
	a = table_group_add(1, "a", 0, 0, 0.0);
	b = table_group_add(1 + 1024, "b", 0, 0, 0.0);
	table_group_add(1 + 2048, "c", 0, 0, 0.0);
	table_group_remove(b); /* the middle of the chain */
	table_unlock();
	table_rdlock();
	assert_ptr_equal(table_group(1), a);
	assert_null(table_group(1 + 1024));
	assert_non_null(table_group(1 + 2048));
	table_groups_foreach(count_group, &n);
	table_unlock();
	assert_int_equal(n, 2);
}

static void test_removing_a_group_takes_its_present_clients_out(void **state)
{
	struct fixture *f = *state;
	group_t *g;

	add(f, 0);
	add(f, 1);
	table_wrlock();
	g = table_group_add(9, "doomed", 0, 0, 0.0);
	table_enter(f->c[0], g);
	table_enter(f->c[1], g);
	table_group_remove(g);
	table_unlock();
	assert_null(f->c[0]->cur);
	assert_null(f->c[1]->cur);
	assert_null(f->c[0]->gnext);
	assert_null(f->c[1]->gprev);
}

static void test_memberships_stay_sorted_without_duplicates(void **state)
{
	static const int64_t add_order[] = { 50, 3, 9000000000LL, 3, 17, -1, 50, 4 };
	static const int64_t want[] = { -1, 3, 4, 17, 50, 9000000000LL };
	group_t *g;
	(void)state;

	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	for (size_t i = 0; i < sizeof add_order / sizeof add_order[0]; i++)
		assert_int_equal(table_member_add(g, add_order[i]), 0);
	table_unlock();
	assert_int_equal(g->nmembers, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < g->nmembers; i++)
		assert_int_equal(g->members[i], want[i]);
	for (size_t i = 0; i < g->nmembers; i++)
		assert_true(table_is_member(g, want[i]));
	assert_false(table_is_member(g, 5));
	assert_false(table_is_member(g, 9000000001LL));
}

static void test_removing_a_member_keeps_the_rest_sorted(void **state)
{
	group_t *g;
	(void)state;

	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	for (int64_t id = 1; id <= 10; id++)
		assert_int_equal(table_member_add(g, id * 10), 0);
	table_member_remove(g, 10);   /* first */
	table_member_remove(g, 100);  /* last */
	table_member_remove(g, 55);   /* absent: no change */
	table_member_remove(g, 50);
	table_unlock();
	assert_int_equal(g->nmembers, 7);
	static const int64_t want[] = { 20, 30, 40, 60, 70, 80, 90 };
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(g->members[i], want[i]);
	assert_false(table_is_member(g, 50));

	/* an empty group has no members and removing still works */
	table_wrlock();
	for (size_t i = 0; i < 7; i++)
		table_member_remove(g, want[i]);
	table_member_remove(g, 20);
	table_unlock();
	assert_int_equal(g->nmembers, 0);
	assert_false(table_is_member(g, 20));
}

/* ---- broadcast lists ---- */

static void test_enter_puts_the_client_in_exactly_one_group(void **state)
{
	struct fixture *f = *state;
	client_t *v[NCLIENTS + 1];
	group_t *a, *b;

	for (int i = 0; i < 3; i++)
		add(f, i);
	table_wrlock();
	a = table_group_add(1, "a", 0, 0, 0.0);
	b = table_group_add(2, "b", 0, 0, 0.0);
	table_enter(f->c[0], a);
	table_enter(f->c[1], a);
	table_enter(f->c[2], a);
	table_unlock();
	assert_int_equal(a->npresent, 3);
	assert_int_equal(present(a, v), 3);
	assert_true(contains(v, f->c[0]) && contains(v, f->c[1]) && contains(v, f->c[2]));

	/* moving the middle one */
	table_wrlock();
	table_enter(f->c[1], b);
	table_unlock();
	assert_ptr_equal(f->c[1]->cur, b);
	assert_int_equal(a->npresent, 2);
	assert_int_equal(present(a, v), 2);
	assert_false(contains(v, f->c[1]));
	assert_int_equal(b->npresent, 1);
	assert_int_equal(present(b, v), 1);
	assert_ptr_equal(v[0], f->c[1]);
}

static void test_entering_the_current_group_again_keeps_one_entry(void **state)
{
	struct fixture *f = *state;
	client_t *v[NCLIENTS + 1];
	group_t *a;

	add(f, 0);
	add(f, 1);
	table_wrlock();
	a = table_group_add(1, "a", 0, 0, 0.0);
	table_enter(f->c[0], a);
	table_enter(f->c[1], a);
	table_enter(f->c[0], a);
	table_enter(f->c[0], a);
	table_unlock();
	assert_int_equal(a->npresent, 2);
	assert_int_equal(present(a, v), 2);
	assert_true(contains(v, f->c[0]) && contains(v, f->c[1]));
	/* the list is consistent both ways */
	for (client_t *c = a->present; c; c = c->gnext)
		if (c->gnext)
			assert_ptr_equal(c->gnext->gprev, c);
	assert_null(a->present->gprev);
}

/* ---- banned users ---- */

static void test_banned_users_are_remembered_until_unbanned(void **state)
{
	static const int64_t ids[] = { 900, 5, 77, 5, 123456789012LL, 1 };
	(void)state;

	table_rdlock();
	assert_false(table_user_banned(5));
	table_unlock();
	table_wrlock();
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		assert_int_equal(table_set_user_banned(ids[i], 1), 0);
	table_unlock();
	table_rdlock();
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		assert_true(table_user_banned(ids[i]));
	assert_false(table_user_banned(6));
	assert_false(table_user_banned(0));
	table_unlock();

	/* banned twice, unbanned once: no longer banned */
	table_wrlock();
	assert_int_equal(table_set_user_banned(5, 0), 0);
	assert_int_equal(table_set_user_banned(5, 0), 0);
	assert_int_equal(table_set_user_banned(42, 0), 0); /* never banned */
	table_unlock();
	table_rdlock();
	assert_false(table_user_banned(5));
	assert_true(table_user_banned(1));
	assert_true(table_user_banned(77));
	assert_true(table_user_banned(900));
	assert_true(table_user_banned(123456789012LL));
	table_unlock();
}

static void test_many_banned_users_grow_the_set(void **state)
{
	(void)state;
	table_wrlock();
	for (int64_t id = 1000; id > 0; id -= 3)
		assert_int_equal(table_set_user_banned(id, 1), 0);
	table_unlock();
	table_rdlock();
	for (int64_t id = 1; id <= 1000; id++)
		assert_int_equal(table_user_banned(id), (1000 - id) % 3 == 0);
	table_unlock();
}

/* ---- message cache ---- */

static msg_t *message(int64_t id)
{
	char text[32];
	snprintf(text, sizeof text, "message %lld", (long long)id);
	msg_t *m = msg_new(id, 1, 0, 1700000000.0, "Admin", "public", text, NULL);
	assert_non_null(m);
	return m;
}

static void test_cache_keeps_messages_oldest_first(void **state)
{
	group_t *g;
	(void)state;

	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	table_unlock();
	pthread_mutex_lock(&g->seq_lock);
	for (int64_t id = 1; id <= 5; id++) {
		msg_t *m = message(id);
		table_cache_add(g, m);
		msg_unref(m);
	}
	pthread_mutex_unlock(&g->seq_lock);
	assert_int_equal(g->clen, 5);
	for (unsigned k = 0; k < g->clen; k++)
		assert_int_equal(g->cache[(g->chead + k) % TABLE_CACHE]->id, k + 1);
}

static void test_full_cache_drops_the_oldest_message(void **state)
{
	msg_t *first[5];
	group_t *g;
	(void)state;

	table_wrlock();
	g = table_group_add(1, "public", 0, 0, 0.0);
	table_unlock();
	pthread_mutex_lock(&g->seq_lock);
	for (int64_t id = 1; id <= TABLE_CACHE + 5; id++) {
		msg_t *m = message(id);
		table_cache_add(g, m);
		if (id <= 5)
			first[id - 1] = m; /* keep ours to see the cache let go */
		else
			msg_unref(m);
	}
	pthread_mutex_unlock(&g->seq_lock);
	assert_int_equal(g->clen, TABLE_CACHE);
	for (unsigned k = 0; k < g->clen; k++)
		assert_int_equal(g->cache[(g->chead + k) % TABLE_CACHE]->id, k + 6);
	for (int i = 0; i < 5; i++) {
		/* only our reference is left */
		assert_int_equal(atomic_load(&first[i]->refs), 1);
		msg_unref(first[i]);
	}
	/* the newest is still referenced by the cache */
	msg_t *newest = g->cache[(g->chead + g->clen - 1) % TABLE_CACHE];
	assert_int_equal(newest->id, TABLE_CACHE + 5);
	assert_int_equal(atomic_load(&newest->refs), 1);
}

/* A login compares the generation it read before reading the account with
 * the one under the write lock: each deletion or rename must move it. */
static void test_each_account_change_moves_the_generation(void **state)
{
	(void)state;
	uint64_t before = table_accounts_gen();
	table_wrlock();
	table_accounts_changed();
	table_unlock();
	uint64_t once = table_accounts_gen();
	assert_true(once != before);
	table_wrlock();
	table_accounts_changed();
	table_unlock();
	assert_true(table_accounts_gen() != once);
	assert_true(table_accounts_gen() != before);
	/* reading it changes nothing */
	assert_true(table_accounts_gen() == table_accounts_gen());
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_connections_are_counted_and_listed),
		T(test_removing_a_middle_connection_keeps_the_others),
		T(test_login_makes_the_user_findable_and_online),
		T(test_login_as_another_user_replaces_the_first),
		T(test_logout_leaves_the_group_and_restarts_the_login_clock),
		T(test_removing_a_logged_in_connection_logs_it_out),
		T(test_groups_are_found_by_id_and_by_name),
		T(test_a_group_has_the_kind_it_is_given_its_pair_lower_id_first),
		T(test_a_renamed_group_is_found_by_its_new_name_only),
		T(test_a_direct_chat_is_found_by_its_pair_in_either_order),
		T(test_a_removed_group_is_found_by_neither_name_nor_pair),
		T(test_two_groups_of_one_name_leave_the_other_when_one_goes),
		T(test_indexes_agree_with_a_scan_through_adds_renames_and_removes),
		T(test_removing_a_group_keeps_its_bucket_neighbours),
		T(test_removing_a_group_takes_its_present_clients_out),
		T(test_memberships_stay_sorted_without_duplicates),
		T(test_removing_a_member_keeps_the_rest_sorted),
		T(test_enter_puts_the_client_in_exactly_one_group),
		T(test_entering_the_current_group_again_keeps_one_entry),
		T(test_banned_users_are_remembered_until_unbanned),
		T(test_many_banned_users_grow_the_set),
		T(test_cache_keeps_messages_oldest_first),
		T(test_full_cache_drops_the_oldest_message),
		T(test_each_account_change_moves_the_generation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
