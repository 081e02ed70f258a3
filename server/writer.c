/* writer.c - the writer thread: stores accepted messages in batches and
 * hands them on (on_stored: delivery and chat_ack) only after their
 * transaction committed.
 *
 * The queue is a FIFO linked through msg_t.wnext. A batch is the first k
 * messages of the queue; they stay in the queue while the writer commits
 * them without the lock, so writer_pending_find() still sees them, and are
 * unlinked only after the commit. Only the writer thread removes messages,
 * and submitters only append, so the first k stay the same meanwhile.
 *
 * Locking: w.lock guards every field marked (L). It is a leaf lock: no
 * other lock is taken while it is held, and on_stored() and the store are
 * called without it. */
#include "config.h"
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"
#include "store.h"
#include "store_pg.h"

/* Retry delays after a failed commit: doubling from the first to the last. */
#define WRITER_BACKOFF_MIN_MS 50
#define WRITER_BACKOFF_MAX_MS 2000
/* writer_stop() keeps retrying a failing commit for this long, then gives
 * up on what is left (logged: those messages are lost). */
#define WRITER_STOP_GRACE_MS 5000
/* After this many failed commits in a row the connection is closed and
 * opened again: a database file that was moved away and back, or a lost
 * -wal/-shm, can only be picked up by a new connection. */
#define WRITER_REOPEN_AFTER 5
/* Cluster mode: a batch rolled back by a deadlock or serialization failure
 * is retried at once this many times, then with the backoff above. */
#define WRITER_PG_RETRIES_AT_ONCE 20

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* the writer waits on it for work or stop */
	pthread_t thread;
	int running;               /* (L) between writer_start and writer_stop */
	int stopping;              /* (L) writer_stop() called: refuse, flush, exit */
	msg_t *head, *tail;        /* (L) queued, oldest first; head..batch in flight */
	size_t depth;              /* (L) messages in the queue, in flight included */
	struct timespec oldest_at; /* (L) when the oldest message not in flight arrived */
	uint64_t stored_total;     /* (L) */
	int healthy;               /* (L) 0 while commits fail */
	struct writer_opts o;      /* set before the thread starts, then read-only */
	char *db_path;             /* copy of o.db_path */
	store_t *st;               /* writer thread only (SQLite) */
	store_pg_t *pg;            /* writer thread only (cluster mode: PostgreSQL) */
	struct store_pg_stored *stored; /* writer thread only: batch_size entries */
	msg_t **batch;             /* writer thread only: batch_size entries */
	store_msg_t *sms;          /* writer thread only: batch_size entries */
	unsigned char *dropped;    /* writer thread only: batch_size flags */
} w = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void writer_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static int writer_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static const char *writer_fault_name(int s)
{
	if (w.pg && s == STORE_ERR)
		return "PostgreSQL unreachable or refusing";
	switch (s) {
	case STORE_FULL:
		return "disk full";
	case STORE_READONLY:
		return "database read-only";
	case STORE_BUSY:
		return "database locked";
	case STORE_CORRUPT:
		return "database corrupt";
	default:
		return "database error";
	}
}

static const char *writer_fault_advice(int s)
{
	if (w.pg)
		return "check that PostgreSQL runs and accepts this node's connection";
	switch (s) {
	case STORE_FULL:
		return "free disk space";
	case STORE_READONLY:
		return "make the database file, its directory and -wal/-shm files writable, "
		       "and check it was not moved or deleted";
	case STORE_BUSY:
		return "check that no other process holds the database open in a transaction";
	case STORE_CORRUPT:
		return "stop chatroomd and restore the database from a backup";
	default:
		return "see the error above";
	}
}

/* ---- storing ---------------------------------------------------------- */

static void writer_fill(store_msg_t *sm, const msg_t *m)
{
	sm->id = m->id;
	sm->group_id = m->group_id;
	sm->sender_id = m->sender_id;
	sm->ts = m->ts;
	sm->sender_name = m->sender_name;
	sm->content = m->content;
	sm->client_msg_id = m->client_msg_id;
}

/* Store batch[0..n) one message per transaction after the batch as a whole
 * was refused with STORE_EXISTS (a message id already stored: a bug
 * upstream that no retry fixes). A message refused so on its own is
 * dropped (logged) and marked NULL in batch, so that one bad message cannot
 * stall every later one. Such a message stays queued (and referenced)
 * until the batch is unlinked; dropped[i] marks it. Returns STORE_OK, or
 * the fault (full, read-only, I/O error...) that stopped it, with
 * batch[0..*done) handled. */
static int writer_store_singly(msg_t **batch, unsigned char *dropped, size_t n, size_t *done)
{
	store_msg_t sm;
	int s;

	for (*done = 0; *done < n; (*done)++) {
		msg_t *m = batch[*done];
		if (dropped[*done])
			continue;
		writer_fill(&sm, m);
		s = store_messages_append(w.st, &sm, 1, w.o.dedup_window);
		if (s == STORE_EXISTS) {
			log_error("writer: dropping message %lld of group %lld from user %lld: its "
			          "id is already taken",
			          (long long)m->id, (long long)m->group_id, (long long)m->sender_id);
			dropped[*done] = 1;
		} else if (s != STORE_OK) {
			return s;
		}
	}
	return STORE_OK;
}

/* Cluster mode: store batch[0..n) (in sms) in PostgreSQL, which takes the
 * ids and seqs; a resend is marked WRITER_DUPLICATE with the stored id.
 * token is the batch's, the same for every attempt: an attempt after one
 * that committed but lost its reply stores nothing again. */
static int writer_append_pg(msg_t **batch, const store_msg_t *sms, size_t n, const char *token)
{
	int s = store_pg_batch_append(w.pg, sms, n, token, w.stored);
	if (s != STORE_OK)
		return s;
	for (size_t i = 0; i < n; i++) {
		batch[i]->id = w.stored[i].id;
		batch[i]->seq = w.stored[i].seq;
		if (w.stored[i].duplicate)
			w.dropped[i] = WRITER_DUPLICATE;
	}
	return STORE_OK;
}

/* Remove the first n messages from the queue (they are batch[0..n)). */
static void writer_unlink(size_t n)
{
	pthread_mutex_lock(&w.lock);
	for (size_t i = 0; i < n; i++) {
		msg_t *m = w.head;
		w.head = m->wnext;
		m->wnext = NULL;
	}
	if (!w.head)
		w.tail = NULL;
	w.depth -= n;
	pthread_mutex_unlock(&w.lock);
}

/* Hand batch[0..n) on (on_stored: deliver and acknowledge what is stored,
 * report what is dropped), then release it. */
static void writer_deliver(msg_t **batch, const unsigned char *dropped, size_t n)
{
	size_t stored = 0;
	for (size_t i = 0; i < n; i++)
		if (!dropped[i])
			stored++;
	pthread_mutex_lock(&w.lock);
	w.stored_total += stored;
	pthread_mutex_unlock(&w.lock);
	if (w.o.on_stored && n > 0)
		w.o.on_stored(batch, dropped, n, w.o.ctx);
	for (size_t i = 0; i < n; i++)
		msg_unref(batch[i]);
}

/* Wait on the condition until deadline or a stop request; lock held. */
static void writer_wait_until(const struct timespec *deadline)
{
	int rc = 0;
	while (!w.stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w.wake, &w.lock, deadline);
}

static void writer_reopen(void)
{
	char err[512];
	store_t *st = NULL;
	/* no quick_check: it reads the whole file, and this may repeat */
	int s = store_open_ex(w.db_path, STORE_OPEN_NO_CHECK, &st, err, sizeof err);
	if (s != STORE_OK) {
		log_error("writer: reopening the database failed: %s", err);
		return;
	}
	store_close(w.st);
	w.st = st;
	log_info("writer: reopened the database %s", w.db_path);
	if (w.o.sync_interval_ms > 0 &&
	    store_sync_background(w.st, w.o.sync_interval_ms, 0) != STORE_OK)
		log_error("writer: commits sync to disk again (Synchronous = full) until the next "
		          "start: the checkpoint thread could not start");
}

/* Commit batch[0..n), retrying with backoff until it succeeds or, once
 * writer_stop() was called, until the grace period ends. Returns 1 when
 * stored, 0 when given up; either way w.dropped marks the messages that
 * are not stored. */
static int writer_commit(msg_t **batch, store_msg_t *sms, size_t n)
{
	int failures = 0, last_fault = STORE_OK, split = 0, busy = 0, s;
	long backoff = WRITER_BACKOFF_MIN_MS;
	struct timespec first_fail = { 0, 0 }, stop_deadline = { 0, 0 }, now, until;
	size_t done = 0, step;
	char token[STORE_PG_TOKEN_LEN];

	memset(w.dropped, 0, n);
	if (w.pg)
		store_pg_batch_token(w.pg, token, sizeof token);

	for (;;) {
		if (split) {
			s = writer_store_singly(batch + done, w.dropped + done, n - done, &step);
			done += step;
		} else {
			for (size_t i = 0; i < n; i++)
				writer_fill(&sms[i], batch[i]);
			s = w.pg ? writer_append_pg(batch, sms, n, token)
			         : store_messages_append(w.st, sms, n, w.o.dedup_window);
		}
		if (s == STORE_OK)
			break;
		if (s == STORE_BUSY && w.pg && ++busy < WRITER_PG_RETRIES_AT_ONCE) {
			/* a deadlock or serialization failure rolled the batch
			 * back; the next attempt meets the other batch committed */
			continue;
		}
		if (s == STORE_EXISTS && !split) {
			/* sticky: after this, part of the batch may be stored */
			split = 1;
			continue;
		}

		writer_now(&now);
		if (failures == 0)
			first_fail = now;
		failures++;
		if (s != last_fault) {
			/* once per kind of fault, not once per retry */
			log_error("writer: cannot store %zu message(s): %s; retrying until it works "
			          "(%s)",
			          n, writer_fault_name(s), writer_fault_advice(s));
			last_fault = s;
		}
		/* a new connection cannot make room on a disk or end another
		 * process's lock, but it can find a file that was replaced */
		if (failures % WRITER_REOPEN_AFTER == 0 && s != STORE_FULL && s != STORE_BUSY && !w.pg)
			writer_reopen();

		pthread_mutex_lock(&w.lock);
		w.healthy = 0;
		if (w.stopping && stop_deadline.tv_sec == 0) {
			stop_deadline = now;
			srv_timespec_add_ms(&stop_deadline, WRITER_STOP_GRACE_MS);
		}
		if (w.stopping && !writer_before(&now, &stop_deadline)) {
			pthread_mutex_unlock(&w.lock);
			/* in split mode batch[0..done) may be stored already */
			memset(w.dropped + done, 1, n - done);
			log_error("writer: giving up on %zu message(s) of the last batch: %s",
			          n - done, writer_fault_name(s));
			return 0;
		}
		until = now;
		srv_timespec_add_ms(&until, backoff);
		if (w.stopping) {
			/* the wait would return at once: sleep instead, but not past
			 * the end of the grace period */
			pthread_mutex_unlock(&w.lock);
			if (writer_before(&stop_deadline, &until))
				until = stop_deadline;
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
		} else {
			writer_wait_until(&until);
			pthread_mutex_unlock(&w.lock);
		}
		backoff = backoff * 2 > WRITER_BACKOFF_MAX_MS ? WRITER_BACKOFF_MAX_MS : backoff * 2;
	}

	if (failures) {
		pthread_mutex_lock(&w.lock);
		w.healthy = 1;
		pthread_mutex_unlock(&w.lock);
		writer_now(&now);
		log_warn("writer: storing works again after %ld s and %d failed attempt(s)",
		         (long)(now.tv_sec - first_fail.tv_sec), failures);
	}
	return 1;
}

/* Give up on everything queued (writer_stop() with a lasting fault). */
static void writer_drop_all(void)
{
	msg_t *m, *next;
	size_t lost;

	pthread_mutex_lock(&w.lock);
	m = w.head;
	lost = w.depth;
	w.head = w.tail = NULL;
	w.depth = 0;
	pthread_mutex_unlock(&w.lock);
	if (lost)
		log_error("writer: stopping with %zu more message(s) that could not be stored",
		          lost);
	for (; m; m = next) {
		next = m->wnext;
		m->wnext = NULL;
		msg_unref(m);
	}
}

static void *writer_main(void *arg)
{
	size_t cap = (size_t)w.o.batch_size;
	msg_t **batch = w.batch;
	store_msg_t *sms = w.sms;
	struct timespec deadline;
	size_t n;

	srv_thread_name("writer");
	pthread_mutex_lock(&w.lock);
	for (;;) {
		/* Group commit: start as soon as there is a message; what
		 * comes during the commit is the next batch. */
		while (!w.stopping && w.depth == 0)
			pthread_cond_wait(&w.wake, &w.lock);
		if (w.depth == 0)
			break; /* stopping, and everything is stored */
		if (w.o.batch_ms > 0) {
			/* asked to trade latency for fewer, larger commits */
			deadline = w.oldest_at;
			srv_timespec_add_ms(&deadline, w.o.batch_ms);
			while (!w.stopping && w.depth < cap) {
				if (pthread_cond_timedwait(&w.wake, &w.lock, &deadline) == ETIMEDOUT)
					break;
			}
		}

		n = 0;
		for (msg_t *m = w.head; m && n < cap; m = m->wnext)
			batch[n++] = m;
		/* what arrives during this commit waits at most batch_ms from now */
		writer_now(&w.oldest_at);
		pthread_mutex_unlock(&w.lock);

		if (!writer_commit(batch, sms, n)) {
			/* acknowledge what the batch stored, then drop the rest */
			writer_unlink(n);
			writer_deliver(batch, w.dropped, n);
			writer_drop_all();
			pthread_mutex_lock(&w.lock);
			continue; /* finds the queue empty and stopping: exits */
		}
		writer_unlink(n);
		writer_deliver(batch, w.dropped, n);
		pthread_mutex_lock(&w.lock);
	}
	pthread_mutex_unlock(&w.lock);
	return arg;
}

/* ---- public ----------------------------------------------------------- */

int writer_start(const struct writer_opts *o, char *err, size_t errlen)
{
	int rc;

	if (o->batch_size < 1 || o->batch_ms < 0 || o->max_queue < 1 ||
	    (!o->db_path && !o->pg_conninfo)) {
		snprintf(err, errlen, "writer: batch_size must be >= 1, batch_ms >= 0, max_queue >= 1");
		return -1;
	}
	pthread_mutex_lock(&w.lock);
	rc = w.running;
	pthread_mutex_unlock(&w.lock);
	if (rc) {
		snprintf(err, errlen, "writer: already running");
		return -1;
	}

	/* w.o and the buffers are written before the thread exists and
	 * read-only afterwards; submitters see them through w.lock (running) */
	w.o = *o;
	w.db_path = strdup(o->pg_conninfo ? "PostgreSQL" : o->db_path);
	if (!w.db_path) {
		snprintf(err, errlen, "writer: out of memory");
		return -1;
	}
	w.o.db_path = w.db_path;
	w.batch = calloc((size_t)o->batch_size, sizeof *w.batch);
	w.sms = calloc((size_t)o->batch_size, sizeof *w.sms);
	w.dropped = calloc((size_t)o->batch_size, 1);
	if (!w.batch || !w.sms || !w.dropped) {
		snprintf(err, errlen, "writer: out of memory for a batch of %d", o->batch_size);
		goto fail;
	}
	if (o->pg_conninfo) {
		w.stored = calloc((size_t)o->batch_size, sizeof *w.stored);
		if (!w.stored) {
			snprintf(err, errlen, "writer: out of memory for a batch of %d", o->batch_size);
			goto fail;
		}
		if (store_pg_open(o->pg_conninfo, &w.pg, err, errlen) != STORE_OK)
			goto fail;
		store_pg_set_dedup_window(w.pg, o->dedup_window);
	} else if (store_open_ex(w.db_path, STORE_OPEN_NO_CHECK, &w.st, err, errlen) != STORE_OK) {
		/* (no quick_check: the server opened and checked the database
		 * just before; a second one would double the start-up time) */
		goto fail;
	} else if (o->sync_interval_ms > 0 &&
	           store_sync_background(w.st, o->sync_interval_ms, 0) != STORE_OK) {
		snprintf(err, errlen, "writer: cannot start the checkpoint thread of Synchronous = normal");
		goto fail;
	}

	/* deadlines are taken on the monotonic clock: a wall-clock step must
	 * not stall or rush a batch */
	if (srv_cond_init(&w.wake) != 0) {
		snprintf(err, errlen, "cannot make the writer's condition variable");
		goto fail;
	}

	pthread_mutex_lock(&w.lock);
	w.head = w.tail = NULL;
	w.depth = 0;
	w.stored_total = 0;
	w.healthy = 1;
	w.stopping = 0;
	w.running = 1;
	pthread_mutex_unlock(&w.lock);
	rc = pthread_create(&w.thread, NULL, writer_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "writer: cannot start the thread: %s", strerror(rc));
		pthread_mutex_lock(&w.lock);
		w.running = 0;
		pthread_mutex_unlock(&w.lock);
		pthread_cond_destroy(&w.wake);
		goto fail;
	}
	return 0;
fail:
	store_close(w.st);
	w.st = NULL;
	store_pg_close(w.pg);
	w.pg = NULL;
	free(w.stored);
	w.stored = NULL;
	free(w.batch);
	free(w.sms);
	free(w.dropped);
	w.batch = NULL;
	w.sms = NULL;
	w.dropped = NULL;
	free(w.db_path);
	w.db_path = NULL;
	return -1;
}

int writer_submit(msg_t *m)
{
	int wake = 0;

	pthread_mutex_lock(&w.lock);
	if (!w.running || w.stopping || w.depth >= w.o.max_queue) {
		pthread_mutex_unlock(&w.lock);
		return -1;
	}
	/* on_stored() promises id order within a group, which holds only if each group's ids are submitted in the
	 * order they were assigned; the cheap check: against the tail (in
	 * cluster mode the ids come at commit) */
	if (!w.pg && w.tail && w.tail->group_id == m->group_id && m->id <= w.tail->id)
		log_error("writer: message %lld of group %lld submitted after %lld: they will be "
		          "delivered out of order",
		          (long long)m->id, (long long)m->group_id, (long long)w.tail->id);
	m->wnext = NULL;
	msg_ref(m);
	if (w.tail) {
		w.tail->wnext = m;
	} else {
		w.head = m;
		writer_now(&w.oldest_at);
	}
	w.tail = m;
	w.depth++;
	/* the writer needs to know about the first message (it waits for
	 * one, or starts the batch timer) and about a full batch; while it
	 * commits, the queue is not empty and the rest would only wake it */
	if (w.depth == 1 || w.depth == (size_t)w.o.batch_size)
		wake = 1;
	if (wake)
		pthread_cond_signal(&w.wake);
	pthread_mutex_unlock(&w.lock);
	return 0;
}

msg_t *writer_pending_find(int64_t sender_id, const char *client_msg_id)
{
	msg_t *found = NULL;

	if (!client_msg_id)
		return NULL;
	pthread_mutex_lock(&w.lock);
	for (msg_t *m = w.head; m; m = m->wnext) {
		if (m->sender_id == sender_id && m->client_msg_id &&
		    strcmp(m->client_msg_id, client_msg_id) == 0) {
			found = msg_ref(m);
			break;
		}
	}
	pthread_mutex_unlock(&w.lock);
	return found;
}

size_t writer_depth(void)
{
	size_t n;
	pthread_mutex_lock(&w.lock);
	n = w.depth;
	pthread_mutex_unlock(&w.lock);
	return n;
}

uint64_t writer_stored_total(void)
{
	uint64_t n;
	pthread_mutex_lock(&w.lock);
	n = w.stored_total;
	pthread_mutex_unlock(&w.lock);
	return n;
}

int writer_healthy(void)
{
	int h;
	pthread_mutex_lock(&w.lock);
	h = w.running ? w.healthy : 0;
	pthread_mutex_unlock(&w.lock);
	return h;
}

void writer_stop(void)
{
	pthread_mutex_lock(&w.lock);
	if (!w.running || w.stopping) {
		pthread_mutex_unlock(&w.lock);
		return;
	}
	w.stopping = 1;
	pthread_cond_broadcast(&w.wake);
	pthread_mutex_unlock(&w.lock);

	pthread_join(w.thread, NULL);
	store_close(w.st);
	w.st = NULL;
	store_pg_close(w.pg);
	w.pg = NULL;
	free(w.stored);
	w.stored = NULL;
	free(w.db_path);
	w.db_path = NULL;
	free(w.batch);
	free(w.sms);
	free(w.dropped);
	w.batch = NULL;
	w.sms = NULL;
	w.dropped = NULL;

	pthread_mutex_lock(&w.lock);
	w.running = 0;
	w.stopping = 0;
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.wake);
}
