/* store_message.c - the SQLite backend's messages: batches appended in
 * one transaction (with their client_msg_id rows, trimmed in bulk per
 * sender), history, the highest id and its reservation, de-duplication
 * lookups (store.h). */
#include "config.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Trimming a sender's client_msg_ids walks its newest dedup_window rows, so
 * it is done in bulk: once a sender has window/STORE_DEDUP_SLACK_DIV (at
 * least 1) rows more than the window. */
#define STORE_DEDUP_SLACK_DIV 8
/* The per-sender counters behind that are forgotten past this many senders
 * (they are only an optimisation: a forgotten sender is trimmed at once). */
#define STORE_TRIM_MAX_SLOTS 65536
#define STORE_TRIM_MIN_SLOTS 256

/* ---- messages --------------------------------------------------------- */

static size_t store_trim_hash(int64_t user, size_t cap)
{
	return (size_t)(((uint64_t)user * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The slot of user, created when create is set; NULL if absent or out of
 * memory (then the sender is simply trimmed every time). */
static struct store_trim_slot *store_trim_find(store_sqlite_t *st, int64_t user, int create)
{
	struct store_trim_slot *t;
	size_t i;

	if (!st->trim) {
		if (!create)
			return NULL;
		st->trim = calloc(STORE_TRIM_MIN_SLOTS, sizeof *st->trim);
		if (!st->trim)
			return NULL;
		st->trim_cap = STORE_TRIM_MIN_SLOTS;
	}
	if (create && (st->trim_len + 1) * 2 > st->trim_cap && st->trim_cap < STORE_TRIM_MAX_SLOTS) {
		/* grow to keep the table at most half full */
		size_t cap = st->trim_cap * 2;
		struct store_trim_slot *nt = calloc(cap, sizeof *nt);
		if (nt) {
			for (size_t j = 0; j < st->trim_cap; j++) {
				if (!st->trim[j].used)
					continue;
				for (i = store_trim_hash(st->trim[j].user, cap); nt[i].used; i = (i + 1) & (cap - 1))
					;
				nt[i] = st->trim[j];
			}
			free(st->trim);
			st->trim = nt;
			st->trim_cap = cap;
		}
	}
	for (i = store_trim_hash(user, st->trim_cap);; i = (i + 1) & (st->trim_cap - 1)) {
		t = &st->trim[i];
		if (t->used && t->user == user)
			return t;
		if (!t->used)
			break;
	}
	if (!create || (st->trim_len + 1) * 2 > st->trim_cap)
		return NULL; /* full: store_messages_append() forgets them all first */
	memset(t, 0, sizeof *t);
	t->used = 1;
	t->user = user;
	st->trim_len++;
	return t;
}

/* After a batch: commit the counters (committed) or forget the batch. */
static void store_trim_settle(store_sqlite_t *st, const store_msg_t *msgs, size_t n, int committed)
{
	for (size_t i = 0; i < n; i++) {
		struct store_trim_slot *t;
		if (!msgs[i].client_msg_id || !(t = store_trim_find(st, msgs[i].sender_id, 0)))
			continue;
		if (committed && t->decided) {
			if (t->trim_now) {
				t->since = 0;
				t->known = 1;
			} else {
				t->since += t->batch;
			}
		}
		t->batch = 0;
		t->decided = 0;
		t->trim_now = 0;
	}
}

/* Trim the client_msg_id rows of the senders in msgs[0..n) that are due:
 * each sender once per batch, and only when its rows may exceed window by
 * the slack (or when this connection has not trimmed it yet). */
static int store_trim_senders(store_sqlite_t *st, const store_msg_t *msgs, size_t n, int window)
{
	uint32_t slack = (uint32_t)window / STORE_DEDUP_SLACK_DIV;
	int ret;

	if (slack < 1)
		slack = 1;
	if (st->trim_len * 2 + 2 * n > STORE_TRIM_MAX_SLOTS) {
		/* too many senders to remember: forget them (each is trimmed at
		 * its next message) rather than grow without bound */
		memset(st->trim, 0, st->trim_cap * sizeof *st->trim);
		st->trim_len = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_trim_slot *t;
		if (msgs[i].client_msg_id && (t = store_trim_find(st, msgs[i].sender_id, 1)))
			t->batch++;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_trim_slot *t;
		int64_t user = msgs[i].sender_id;
		if (!msgs[i].client_msg_id)
			continue;
		t = store_trim_find(st, user, 0);
		if (t) {
			if (t->decided)
				continue;
			t->decided = 1;
			t->trim_now = !t->known || t->since + t->batch >= slack;
			if (!t->trim_now)
				continue;
		}
		ret = store__run(st, Q_DEDUP_TRIM, 0, "trimming client_msg_ids", "ii", user,
		                (int64_t)window);
		if (ret != STORE_OK)
			return ret;
	}
	return STORE_OK;
}

int store_sqlite_messages_append(store_t *base, const store_msg_t *msgs, size_t n, int dedup_window)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	int64_t max_id = 0;
	int rc, ret;

	if (n == 0)
		return STORE_OK;
	pthread_mutex_lock(&st->lock);
	ret = store__txn_begin(st);
	if (ret != STORE_OK)
		goto out;

	for (size_t i = 0; i < n; i++) {
		const store_msg_t *m = &msgs[i];
		if (!(s = store__stmt(st, Q_MSG_INSERT))) {
			ret = STORE_ERR;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, m->id);
		sqlite3_bind_int64(s, 2, m->group_id);
		sqlite3_bind_int64(s, 3, m->sender_id);
		sqlite3_bind_double(s, 4, m->ts);
		sqlite3_bind_text(s, 5, m->sender_name ? m->sender_name : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, m->content ? m->content : "", -1, SQLITE_STATIC);
		if (m->client_msg_id)
			sqlite3_bind_text(s, 7, m->client_msg_id, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 7);
		rc = store__step_done(s);
		if (rc != SQLITE_DONE) {
			ret = store__fail(st, rc, "storing a message");
			if (ret == STORE_EXISTS)
				log_error("store: message id %lld is already stored (%s)",
				          (long long)m->id, st->path);
			goto fail;
		}
		if (m->id > max_id)
			max_id = m->id;
		if (m->client_msg_id) {
			ret = store__run(st, Q_DEDUP_INSERT, 0, "storing a client_msg_id", "isii",
			                m->sender_id, m->client_msg_id, m->id, m->group_id);
			if (ret != STORE_OK)
				goto fail;
		}
	}

	if (dedup_window > 0) {
		ret = store_trim_senders(st, msgs, n, dedup_window);
		if (ret != STORE_OK)
			goto fail;
	}

	ret = store__run(st, Q_META_LAST_ID_RAISE, 0, "recording the last message id", "i", max_id);
	if (ret != STORE_OK)
		goto fail;
	ret = store__txn_commit(st);
	if (ret != STORE_OK)
		goto fail;
	if (dedup_window > 0)
		store_trim_settle(st, msgs, n, 1);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
fail:
	store__txn_rollback(st);
	if (dedup_window > 0)
		store_trim_settle(st, msgs, n, 0);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_history(store_t *base, int64_t group_id, int64_t after_id, int64_t before_id,
                         int limit, int (*cb)(void *ctx, const store_msg_t *m), void *ctx)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	store_msg_t m;
	int rc, ret = STORE_OK;

	if (limit <= 0)
		return STORE_OK;
	pthread_mutex_lock(&st->lock);
	int after_given = after_id > 0 || after_id == STORE_FROM_START;
	if (after_id < 0)
		after_id = 0;
	if (after_given && before_id > 0) {
		s = store__stmt(st, Q_HIST_RANGE);
		if (s) {
			sqlite3_bind_int64(s, 2, after_id);
			sqlite3_bind_int64(s, 3, before_id);
			sqlite3_bind_int(s, 4, limit);
		}
	} else if (after_given) {
		s = store__stmt(st, Q_HIST_AFTER);
		if (s) {
			sqlite3_bind_int64(s, 2, after_id);
			sqlite3_bind_int(s, 3, limit);
		}
	} else if (before_id > 0) {
		s = store__stmt(st, Q_HIST_BEFORE);
		if (s) {
			sqlite3_bind_int64(s, 2, before_id);
			sqlite3_bind_int(s, 3, limit);
		}
	} else {
		s = store__stmt(st, Q_HIST_NEWEST);
		if (s)
			sqlite3_bind_int(s, 2, limit);
	}
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, group_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		m.id = sqlite3_column_int64(s, 0);
		m.group_id = sqlite3_column_int64(s, 1);
		m.sender_id = sqlite3_column_int64(s, 2);
		m.ts = sqlite3_column_double(s, 3);
		m.sender_name = (const char *)sqlite3_column_text(s, 4);
		m.content = (const char *)sqlite3_column_text(s, 5);
		m.client_msg_id = (const char *)sqlite3_column_text(s, 6);
		if (!m.sender_name)
			m.sender_name = "";
		if (!m.content)
			m.content = "";
		if (cb(ctx, &m))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "reading history");
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_last_message_id(store_t *base, int64_t *id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int64_t meta = 0, max = 0;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = store__scalar(st, Q_META_LAST_ID, 0, 0, &meta, "reading the last message id");
	if (ret == STORE_NOTFOUND) {
		meta = 0;
		ret = STORE_OK;
	}
	if (ret == STORE_OK)
		ret = store__scalar(st, Q_MSG_MAX_ID, 0, 0, &max, "reading the last message id");
	if (ret == STORE_OK)
		*id = meta > max ? meta : max;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_reserve_message_ids(store_t *base, int64_t upto)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store__run(st, Q_META_LAST_ID_RAISE, 0, "reserving message ids", "i", upto);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_message_count(store_t *base, int64_t group_id, int64_t *n)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int ret;
	pthread_mutex_lock(&st->lock);
	if (group_id)
		ret = store__scalar(st, Q_MSG_COUNT_GROUP, 1, group_id, n, "counting messages");
	else
		ret = store__scalar(st, Q_MSG_COUNT_ALL, 0, 0, n, "counting messages");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_sqlite_dedup_get(store_t *base, int64_t user_id, const char *client_msg_id,
                           int64_t *message_id, int64_t *group_id)
{
	store_sqlite_t *st = store_sqlite_of(base);
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store__stmt(st, Q_DEDUP_GET);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, client_msg_id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (message_id)
			*message_id = sqlite3_column_int64(s, 0);
		if (group_id)
			*group_id = sqlite3_column_int64(s, 1);
	} else if (rc == SQLITE_DONE) {
		ret = STORE_NOTFOUND;
	} else {
		ret = store__fail(st, sqlite3_extended_errcode(st->db), "looking up a client_msg_id");
	}
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
