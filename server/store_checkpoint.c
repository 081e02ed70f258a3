/* store_checkpoint.c - the SQLite backend's checkpoint thread, behind
 * store_sync_background() (Synchronous = normal).
 *
 * With synchronous=NORMAL a commit writes its pages to the WAL without
 * syncing it: it survives a crash or kill of chatroomd (the pages are in
 * the kernel), not a power loss. What makes them durable is a checkpoint,
 * which syncs the WAL before it copies pages back into the database file.
 * SQLite would run that checkpoint inside a commit (wal_autocheckpoint),
 * stalling the writer thread, and so every delivery, for the whole sync
 * and copy; here a thread of its own does it, on its own connection, every
 * interval: a PASSIVE checkpoint, which never waits for the writer. It
 * bounds what a power loss can take to about one interval of commits.
 *
 * A PASSIVE checkpoint cannot start the WAL over while commits keep coming,
 * so under steady load the log would only grow. Once it holds more than the
 * limit, the thread runs a RESTART checkpoint, which waits for the commit in
 * flight, copies what the last PASSIVE one left (about one interval's
 * pages) and has the next commit write from the log's start. The writer's
 * connection tells the thread as soon as a commit leaves the log past the
 * limit (a WAL hook), so that a long interval does not let the log grow
 * for the whole interval.
 *
 * Locking: ck->lock guards stopping; the thread alone uses ck->db.
 * The WAL hook runs in the committing thread, under the store's lock, and
 * takes ck->lock inside it (a leaf). */
#include "config.h"
#include "store_sqlite.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"

struct store_ckpt {
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* stop requests */
	int stopping;          /* (lock) */
	pthread_t thread;
	sqlite3 *db;           /* the thread's own connection */
	char *path;            /* for logs */
	int interval_ms;
	int wal_limit;         /* pages in the WAL before a RESTART checkpoint */
	atomic_int kicked;     /* a commit left the WAL past the limit and no round
	                        * has begun since; set before the hook signals
	                        * under the lock, so the thread's wait sees it */
	int failing;           /* the thread only: the last checkpoint failed */
};

/* One round: sync and copy back what is committed; start the log over when
 * it is past the limit. Logs a failure once, and the recovery. */
static void store_ckpt_round(struct store_ckpt *ck)
{
	int nlog = 0, ncopied = 0;
	int rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
	if (rc == SQLITE_OK && nlog > ck->wal_limit) {
		rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_RESTART, &nlog,
		                               &ncopied);
		/* BUSY: a reader kept an old snapshot past the busy timeout;
		 * everything was still copied and synced, the log starts over
		 * at a later round */
		if (rc == SQLITE_OK)
			log_debug("store: WAL of %s started over (%d pages were in it)", ck->path,
			          nlog);
		else if (rc == SQLITE_BUSY)
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK && !ck->failing) {
		ck->failing = 1;
		log_warn("store: checkpoint of %s failed: %s; committed messages are not synced to "
		         "disk until it works again (retried every %d ms)",
		         ck->path, sqlite3_errmsg(ck->db), ck->interval_ms);
	} else if (rc == SQLITE_OK && ck->failing) {
		ck->failing = 0;
		log_info("store: checkpoints of %s work again", ck->path);
	}
}

/* The writer's connection after each commit (sqlite3_wal_hook): past the
 * limit, start a round now rather than at the end of the interval. */
static int store_ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	struct store_ckpt *ck = arg;
	if (pages > ck->wal_limit && !atomic_exchange(&ck->kicked, 1)) {
		pthread_mutex_lock(&ck->lock);
		pthread_cond_signal(&ck->wake);
		pthread_mutex_unlock(&ck->lock);
	}
	return SQLITE_OK;
}

static void *store_ckpt_main(void *arg)
{
	struct store_ckpt *ck = arg;
	srv_thread_name("checkpoint");
	pthread_mutex_lock(&ck->lock);
	while (!ck->stopping) {
		struct timespec deadline;
		srv_deadline(&deadline, ck->interval_ms);
		while (!ck->stopping && !atomic_load(&ck->kicked) &&
		       pthread_cond_timedwait(&ck->wake, &ck->lock, &deadline) != ETIMEDOUT)
			;
		atomic_store(&ck->kicked, 0);
		pthread_mutex_unlock(&ck->lock);
		/* at a stop too: what the writer committed last is synced
		 * before the writer's connection closes */
		store_ckpt_round(ck);
		pthread_mutex_lock(&ck->lock);
	}
	pthread_mutex_unlock(&ck->lock);
	return NULL;
}

int store__ckpt_start(store_sqlite_t *st, int interval_ms, int wal_limit)
{
	struct store_ckpt *ck = calloc(1, sizeof *ck);
	if (!ck || !(ck->path = strdup(st->path))) {
		free(ck);
		log_error("store: out of memory for the checkpoint thread");
		return STORE_ERR;
	}
	ck->interval_ms = interval_ms;
	ck->wal_limit = wal_limit;
	pthread_mutex_init(&ck->lock, NULL);
	srv_cond_init(&ck->wake);
	int rc = sqlite3_open_v2(st->path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(ck->db, STORE_BUSY_TIMEOUT_MS);
		/* NORMAL: the checkpoint syncs the WAL before copying, and the
		 * database file after */
		rc = sqlite3_exec(ck->db, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
		                  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		log_error("store: cannot open %s for the checkpoint thread: %s", st->path,
		          ck->db ? sqlite3_errmsg(ck->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (pthread_create(&ck->thread, NULL, store_ckpt_main, ck) != 0) {
		log_error("store: cannot start the checkpoint thread");
		goto fail;
	}
	st->ckpt = ck;
	/* after wal_autocheckpoint=0, which would replace it */
	sqlite3_wal_hook(st->db, store_ckpt_wal_hook, ck);
	return STORE_OK;
fail:
	sqlite3_close(ck->db);
	pthread_cond_destroy(&ck->wake);
	pthread_mutex_destroy(&ck->lock);
	free(ck->path);
	free(ck);
	return STORE_ERR;
}

void store__ckpt_stop(store_sqlite_t *st)
{
	struct store_ckpt *ck = st->ckpt;
	if (!ck)
		return;
	sqlite3_wal_hook(st->db, NULL, NULL);
	pthread_mutex_lock(&ck->lock);
	ck->stopping = 1;
	pthread_cond_signal(&ck->wake);
	pthread_mutex_unlock(&ck->lock);
	pthread_join(ck->thread, NULL);
	int rc = sqlite3_close(ck->db);
	if (rc != SQLITE_OK)
		log_error("store: closing the checkpoint connection of %s: %s", ck->path,
		          sqlite3_errstr(rc));
	pthread_cond_destroy(&ck->wake);
	pthread_mutex_destroy(&ck->lock);
	free(ck->path);
	free(ck);
	st->ckpt = NULL;
}
