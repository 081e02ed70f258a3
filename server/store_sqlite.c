/* store_sqlite.c - the SQLite backend of store.h: the connection, its
 * statements (every one compiled once, on first use, and kept), the
 * helpers the other store_*.c files share (store_sqlite.h) and the table
 * of entry points store.c calls through (store_sqlite_backend).
 *
 * Every entry point takes st->lock for the whole call: one SQLite
 * connection must not run two statements at once from two threads, and the
 * connection is opened with SQLITE_OPEN_NOMUTEX because this lock already
 * serialises it. st->lock is a leaf: nothing else is locked while it is
 * held, and the foreach callbacks run under it (they must not call back
 * into the same store_sqlite_t). */
#include "config.h"
#include "store_sqlite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"


static const char *const store_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_USER_INSERT] = "INSERT INTO users(username, pwhash, banned, created_at) VALUES(?1, ?2, 0, ?3)",
	[Q_USER_BY_NAME] = "SELECT id, username, pwhash, banned, created_at FROM users WHERE username = ?1",
	/* names that differ only by case are one name for new accounts (the
	 * names are ASCII letters, digits, '_' and CJK: NOCASE folds them all) */
	[Q_USER_NAME_TAKEN] = "SELECT id FROM users WHERE username = ?1 COLLATE NOCASE AND id != ?2 "
	                      "LIMIT 1",
	[Q_USER_BY_ID] = "SELECT id, username, pwhash, banned, created_at FROM users WHERE id = ?1",
	[Q_USER_SET_PWHASH] = "UPDATE users SET pwhash = ?2 WHERE id = ?1",
	[Q_USER_SET_BANNED] = "UPDATE users SET banned = ?2 WHERE id = ?1",
	[Q_USER_RENAME] = "UPDATE users SET username = ?2 WHERE id = ?1",
	[Q_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
	[Q_USER_DELETE_MEMBERS] = "DELETE FROM members WHERE user_id = ?1",
	[Q_USER_DELETE_DEDUP] = "DELETE FROM dedup WHERE user_id = ?1",
	[Q_USER_COUNT] = "SELECT count(*) FROM users",
	[Q_USERS_ALL] = "SELECT id, username, pwhash, banned, created_at FROM users ORDER BY id",
	[Q_GROUP_INSERT] = "INSERT INTO groups(name, is_private, banned, created_at) VALUES(?1, ?2, 0, ?3)",
	[Q_GROUP_BY_NAME] = "SELECT id, name, is_private, banned, created_at FROM groups WHERE name = ?1",
	[Q_GROUP_BY_ID] = "SELECT id, name, is_private, banned, created_at FROM groups WHERE id = ?1",
	[Q_GROUP_SET_BANNED] = "UPDATE groups SET banned = ?2 WHERE id = ?1",
	[Q_GROUP_RENAME] = "UPDATE groups SET name = ?2 WHERE id = ?1",
	[Q_GROUP_DELETE] = "DELETE FROM groups WHERE id = ?1",
	[Q_GROUP_DELETE_MEMBERS] = "DELETE FROM members WHERE group_id = ?1",
	[Q_GROUP_DELETE_MESSAGES] = "DELETE FROM messages WHERE group_id = ?1",
	[Q_GROUP_DELETE_DEDUP] = "DELETE FROM dedup WHERE group_id = ?1",
	[Q_GROUPS_ALL] = "SELECT id, name, is_private, banned, created_at FROM groups ORDER BY id",
	[Q_MEMBER_ADD] = "INSERT OR IGNORE INTO members(group_id, user_id) VALUES(?1, ?2)",
	[Q_MEMBER_REMOVE] = "DELETE FROM members WHERE group_id = ?1 AND user_id = ?2",
	[Q_MEMBERS_ALL] = "SELECT group_id, user_id FROM members ORDER BY group_id, user_id",
	[Q_MSG_INSERT] = "INSERT INTO messages(id, group_id, sender_id, ts, sender_name, content, client_msg_id)"
	                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* A duplicate (user, client_msg_id) keeps the first message: the server
	 * checks for resends before it accepts one, so this only matters in a
	 * race, and failing the whole batch over it would be worse. */
	[Q_DEDUP_INSERT] = "INSERT OR IGNORE INTO dedup(user_id, client_msg_id, message_id, group_id)"
	                   " VALUES(?1, ?2, ?3, ?4)",
	/* Keep the newest ?2 rows of user ?1: delete everything at or below the
	 * message_id of the (?2+1)-th newest. Walks dedup_by_user backwards. */
	[Q_DEDUP_TRIM] = "DELETE FROM dedup WHERE user_id = ?1 AND message_id <= "
	                 "(SELECT message_id FROM dedup WHERE user_id = ?1"
	                 " ORDER BY message_id DESC LIMIT 1 OFFSET ?2)",
	[Q_DEDUP_GET] = "SELECT message_id, group_id FROM dedup WHERE user_id = ?1 AND client_msg_id = ?2",
	[Q_META_LAST_ID_RAISE] = "UPDATE meta SET value = max(value, ?1) WHERE key = 'last_message_id'",
	[Q_META_LAST_ID] = "SELECT value FROM meta WHERE key = 'last_message_id'",
	[Q_MSG_MAX_ID] = "SELECT coalesce(max(id), 0) FROM messages",
	[Q_MSG_COUNT_GROUP] = "SELECT count(*) FROM messages WHERE group_id = ?1",
	[Q_MSG_COUNT_ALL] = "SELECT count(*) FROM messages",
	[Q_HIST_AFTER] = "SELECT id, group_id, sender_id, ts, sender_name, content, client_msg_id"
	                 " FROM messages WHERE group_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[Q_HIST_BEFORE] = "SELECT * FROM (SELECT id, group_id, sender_id, ts, sender_name, content,"
	                  " client_msg_id FROM messages WHERE group_id = ?1 AND id < ?2"
	                  " ORDER BY id DESC LIMIT ?3) ORDER BY id",
	[Q_HIST_NEWEST] = "SELECT * FROM (SELECT id, group_id, sender_id, ts, sender_name, content,"
	                  " client_msg_id FROM messages WHERE group_id = ?1"
	                  " ORDER BY id DESC LIMIT ?2) ORDER BY id",
	[Q_HIST_RANGE] = "SELECT id, group_id, sender_id, ts, sender_name, content, client_msg_id"
	                 " FROM messages WHERE group_id = ?1 AND id > ?2 AND id < ?3 ORDER BY id LIMIT ?4",
	[Q_FILE_INSERT] = "INSERT INTO files(group_id, uploader_id, uploader_name, filename,"
	                  " stored_name, size, uploaded_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_FILE_GET] = "SELECT " STORE_FILE_COLS " FROM files WHERE id = ?1",
	[Q_FILE_DELETE] = "DELETE FROM files WHERE id = ?1",
	[Q_FILES_GROUP] = "SELECT " STORE_FILE_COLS " FROM files WHERE group_id = ?1 ORDER BY id",
	[Q_FILES_ALL] = "SELECT " STORE_FILE_COLS " FROM files ORDER BY id",
	[Q_CHAT_META_INSERT] = "INSERT INTO chat_meta(group_id, invite_only, creator_id, direct_lo, direct_hi)"
	                       " VALUES(?1, ?2, nullif(?3, -1), nullif(?4, -1), nullif(?5, -1))",
	[Q_CHAT_META_ALL] = "SELECT group_id, invite_only, coalesce(creator_id, -1),"
	                    " coalesce(direct_lo, -1), coalesce(direct_hi, -1) FROM chat_meta ORDER BY group_id",
};

double store__now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Map an SQLite result code to a STORE_* status. */
int store__status_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return STORE_OK;
	case SQLITE_FULL:
		return STORE_FULL;
	case SQLITE_READONLY:
		return STORE_READONLY;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_BUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return STORE_CORRUPT;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return STORE_EXISTS;
		return STORE_ERR;
	default:
		return STORE_ERR;
	}
}

/* Log a failure of what with the connection's error text; returns the
 * STORE_* status for rc. A unique-constraint hit is an expected answer
 * (name taken), not an error, so it is not logged. */
int store__fail(store_sqlite_t *st, int rc, const char *what)
{
	int s = store__status_of(rc);
	if (s != STORE_EXISTS && rc != SQLITE_CONSTRAINT_FOREIGNKEY)
		log_error("store: %s: %s (%s, code %d)", what, sqlite3_errmsg(st->db),
		          st->path, rc);
	return s;
}

/* The prepared statement id, reset and unbound, or NULL (logged). */
sqlite3_stmt *store__stmt(store_sqlite_t *st, enum store_stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];
	if (!s) {
		int rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                            &st->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			store__fail(st, rc, "prepare");
			st->stmt[id] = NULL;
			return NULL;
		}
		s = st->stmt[id];
	}
	return s;
}

void store__stmt_done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Run a statement that returns no rows; returns the SQLite code of the step
 * (SQLITE_DONE on success). The statement is reset afterwards. */
int store__step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE) {
		/* sqlite3_reset() returns the same error; keep the extended code */
		rc = sqlite3_extended_errcode(sqlite3_db_handle(s));
	}
	store__stmt_done(s);
	return rc;
}

void store__copy(char *dst, size_t dstlen, const unsigned char *src)
{
	snprintf(dst, dstlen, "%s", src ? (const char *)src : "");
}

int store__txn_begin(store_sqlite_t *st)
{
	sqlite3_stmt *s = store__stmt(st, Q_BEGIN);
	if (!s)
		return STORE_ERR;
	int rc = store__step_done(s);
	return rc == SQLITE_DONE ? STORE_OK : store__fail(st, rc, "begin transaction");
}

int store__txn_commit(store_sqlite_t *st)
{
	sqlite3_stmt *s = store__stmt(st, Q_COMMIT);
	if (!s)
		return STORE_ERR;
	int rc = store__step_done(s);
	return rc == SQLITE_DONE ? STORE_OK : store__fail(st, rc, "commit");
}

/* Roll back unless SQLite already did (some errors, e.g. SQLITE_FULL, may
 * end the transaction by themselves). */
void store__txn_rollback(store_sqlite_t *st)
{
	if (sqlite3_get_autocommit(st->db))
		return;
	sqlite3_stmt *s = store__stmt(st, Q_ROLLBACK);
	if (s)
		store__step_done(s);
	if (!sqlite3_get_autocommit(st->db))
		log_error("store: rollback failed: %s", sqlite3_errmsg(st->db));
}

/* ---- opening ---------------------------------------------------------- */

void store__errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The status for a failure while opening, with advice for the operator. */
int store__open_fail(store_sqlite_t *st, int rc, const char *what, char *err, size_t errlen)
{
	int s = store__status_of(rc);
	const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	switch (s) {
	case STORE_CORRUPT:
		store__errf(err, errlen,
		           "database %s is damaged or is not an SQLite database (%s: %s); "
		           "stop chatroomd, move the file (and any -wal/-shm files next to it) "
		           "away and restore it from a backup, or start with a new empty database",
		           st->path, what, msg);
		break;
	case STORE_READONLY:
		store__errf(err, errlen,
		           "database %s is read-only (%s: %s); make the file and its directory "
		           "writable by the user chatroomd runs as",
		           st->path, what, msg);
		break;
	case STORE_FULL:
		store__errf(err, errlen, "database %s: disk full (%s: %s); free some space",
		           st->path, what, msg);
		break;
	case STORE_BUSY:
		store__errf(err, errlen,
		           "database %s is locked by another process (%s: %s); is another "
		           "chatroomd running on the same database?",
		           st->path, what, msg);
		break;
	default:
		if ((rc & 0xff) == SQLITE_CANTOPEN)
			store__errf(err, errlen,
			           "cannot open database %s (%s: %s); check that its directory exists "
			           "and is writable, and that %s-wal and %s-shm, if present, are "
			           "regular files chatroomd may write",
			           st->path, what, msg, st->path, st->path);
		else
			store__errf(err, errlen, "database %s: %s: %s", st->path, what, msg);
		break;
	}
	return s == STORE_EXISTS ? STORE_ERR : s;
}

/* Run one pragma or script; returns the SQLite code. */
int store__exec(store_sqlite_t *st, const char *sql)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(st->db);
}

/* Run a pragma that answers one text row, copying the answer into out. */
int store__pragma_text(store_sqlite_t *st, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(st->db);
	out[0] = '\0';
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store__copy(out, outlen, sqlite3_column_text(s, 0));
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	} else {
		rc = sqlite3_extended_errcode(st->db);
	}
	sqlite3_finalize(s);
	return rc;
}

/* "PRAGMA quick_check": O(size of the file) but catches most damage before
 * chatroomd starts accepting messages it could not store. */
static int store_quick_check(store_sqlite_t *st, char *err, size_t errlen)
{
	char res[256];
	int rc = store__pragma_text(st, "PRAGMA quick_check(1)", res, sizeof res);
	if (rc != SQLITE_OK)
		return store__open_fail(st, rc, "integrity check", err, errlen);
	if (strcmp(res, "ok") != 0) {
		for (char *p = res; *p; p++)
			if (*p == '\n')
				*p = ' ';
		store__errf(err, errlen,
		           "database %s failed its integrity check (%s); stop chatroomd, move the "
		           "file (and any -wal/-shm files next to it) away and restore it from a "
		           "backup, or start with a new empty database",
		           st->path, res);
		return STORE_CORRUPT;
	}
	return STORE_OK;
}

static int store_sqlite_claims(const char *path)
{
	(void)path;
	return 1; /* a file name: the backend of last resort */
}

static int store_sqlite_open(const char *path, unsigned flags, store_t **out, char *err,
                             size_t errlen)
{
	store_sqlite_t *st;
	int rc, s, version = 0;
	char mode[64];

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	st = calloc(1, sizeof *st);
	if (!st || !(st->path = strdup(path))) {
		free(st);
		store__errf(err, errlen, "out of memory");
		return STORE_ERR;
	}
	st->base.be = &store_sqlite_backend;
	pthread_mutex_init(&st->lock, NULL);

	rc = sqlite3_open_v2(path, &st->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		s = store__open_fail(st, st->db ? sqlite3_extended_errcode(st->db) : rc, "open", err,
		                    errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* SQLite quietly falls back to read-only when it may not write the
	 * file; chatroomd cannot work like that, so say so now. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		s = store__open_fail(st, SQLITE_READONLY, "open", err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

	if (!(flags & STORE_OPEN_NO_CHECK)) {
		s = store_quick_check(st, err, errlen);
		if (s != STORE_OK)
			goto fail;
	}

	rc = store__pragma_text(st, "PRAGMA journal_mode=WAL", mode, sizeof mode);
	if (rc != SQLITE_OK) {
		s = store__open_fail(st, rc, "setting WAL mode", err, errlen);
		goto fail;
	}
	if (strcmp(mode, "wal") != 0) {
		store__errf(err, errlen, "database %s: cannot use WAL mode (journal mode is %s)", path,
		           mode);
		s = STORE_ERR;
		goto fail;
	}
	snprintf(mode, sizeof mode, "PRAGMA wal_autocheckpoint=%d", STORE_WAL_AUTOCHECKPOINT);
	rc = store__exec(st, mode);
	if (rc == SQLITE_OK)
		/* FULL: a commit is on disk (WAL synced) before it returns, so a
		 * chat_ack, sent after the commit, survives a power loss too, not
		 * only a crash of the process. One sync per batch. */
		rc = store__exec(st, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
	if (rc != SQLITE_OK) {
		s = store__open_fail(st, rc, "setting pragmas", err, errlen);
		goto fail;
	}

	rc = store__user_version(st, &version);
	if (rc != SQLITE_OK) {
		s = store__open_fail(st, rc, "reading the schema version", err, errlen);
		goto fail;
	}
	if (version != STORE_SCHEMA_VERSION) {
		s = store__schema_init(st, err, errlen);
		if (s != STORE_OK)
			goto fail;
	}
	s = store__files_init(st, err, errlen);
	if (s != STORE_OK)
		goto fail;
	if (!(flags & STORE_OPEN_NO_CHECK))
		store__names_check(st);
	*out = &st->base;
	return STORE_OK;
fail:
	log_error("store: %s", err && errlen ? err : "cannot open the database");
	store_sqlite_close(&st->base);
	return s;
}

static int store_sqlite_sync_background(store_t *base, int interval_ms, int wal_limit_pages)
{
	store_sqlite_t *st = store_sqlite_of(base);
	int s = STORE_OK;
	pthread_mutex_lock(&st->lock);
	if (!st->ckpt) {
		/* NORMAL: a commit writes the WAL without syncing it; no
		 * checkpoint inside a commit: the thread does them */
		int rc = store__exec(st, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;");
		if (rc != SQLITE_OK) {
			s = store__fail(st, rc, "setting synchronous=NORMAL");
		} else {
			s = store__ckpt_start(st, interval_ms,
			                      wal_limit_pages > 0 ? wal_limit_pages : STORE_WAL_AUTOCHECKPOINT);
			if (s != STORE_OK) {
				char full[64];
				snprintf(full, sizeof full,
				         "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=%d;",
				         STORE_WAL_AUTOCHECKPOINT);
				store__exec(st, full);
			}
		}
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

void store_sqlite_close(store_t *base)
{
	store_sqlite_t *st = store_sqlite_of(base);
	if (!st)
		return;
	/* its last round syncs what this connection committed last */
	store__ckpt_stop(st);
	for (int i = 0; i < Q_COUNT; i++)
		if (st->stmt[i])
			sqlite3_finalize(st->stmt[i]);
	if (st->db) {
		int rc = sqlite3_close(st->db);
		if (rc != SQLITE_OK)
			log_error("store: closing %s: %s", st->path, sqlite3_errstr(rc));
	}
	pthread_mutex_destroy(&st->lock);
	free(st->trim);
	free(st->path);
	free(st);
}

/* ---- helpers for the simple statements -------------------------------- */

/* Run statement id with up to two int64/text parameters described by fmt
 * ("i" int64, "s" text, "d" double), expecting no rows. If must_change, a
 * statement that changed nothing gives STORE_NOTFOUND. Caller holds lock. */
int store__run(store_sqlite_t *st, enum store_stmt_id id, int must_change, const char *what,
               const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *s = store__stmt(st, id);
	int rc;

	if (!s)
		return STORE_ERR;
	va_start(ap, fmt);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 'i')
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
		else if (fmt[i] == 'd')
			sqlite3_bind_double(s, i + 1, va_arg(ap, double));
		else
			sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
	}
	va_end(ap);
	rc = store__step_done(s);
	if (rc != SQLITE_DONE)
		return store__fail(st, rc, what);
	if (must_change && sqlite3_changes(st->db) == 0)
		return STORE_NOTFOUND;
	return STORE_OK;
}

/* One int64 from a statement with an optional int64 parameter. */
int store__scalar(store_sqlite_t *st, enum store_stmt_id id, int nparams, int64_t p1, int64_t *out,
                  const char *what)
{
	sqlite3_stmt *s = store__stmt(st, id);
	int rc, ret = STORE_OK;

	if (!s)
		return STORE_ERR;
	if (nparams > 0)
		sqlite3_bind_int64(s, 1, p1);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store__fail(st, sqlite3_extended_errcode(st->db), what);
	store__stmt_done(s);
	return ret;
}

/* One row by a text key (key != NULL) or an int64 id, decoded into out by
 * row(); STORE_NOTFOUND when there is none. Takes st->lock. */
int store__row_get(store_sqlite_t *st, enum store_stmt_id id, const char *key, int64_t n,
                   void (*row)(sqlite3_stmt *s, void *out), void *out, const char *what)
{
	int ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store__stmt(st, id);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	if (key)
		sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, n);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row(s, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store__fail(st, sqlite3_extended_errcode(st->db), what);
	store__stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.claims = store_sqlite_claims,
	.open = store_sqlite_open,
	.close = store_sqlite_close,
	.sync_background = store_sqlite_sync_background,
	.user_create = store_sqlite_user_create,
	.user_by_name = store_sqlite_user_by_name,
	.user_name_taken = store_sqlite_user_name_taken,
	.user_by_id = store_sqlite_user_by_id,
	.user_set_pwhash = store_sqlite_user_set_pwhash,
	.user_set_banned = store_sqlite_user_set_banned,
	.user_rename = store_sqlite_user_rename,
	.user_delete = store_sqlite_user_delete,
	.user_count = store_sqlite_user_count,
	.users_foreach = store_sqlite_users_foreach,
	.group_create = store_sqlite_group_create,
	.group_by_name = store_sqlite_group_by_name,
	.group_by_id = store_sqlite_group_by_id,
	.group_set_banned = store_sqlite_group_set_banned,
	.group_rename = store_sqlite_group_rename,
	.group_delete = store_sqlite_group_delete,
	.groups_foreach = store_sqlite_groups_foreach,
	.member_add = store_sqlite_member_add,
	.member_remove = store_sqlite_member_remove,
	.members_foreach = store_sqlite_members_foreach,
	.messages_append = store_sqlite_messages_append,
	.history = store_sqlite_history,
	.last_message_id = store_sqlite_last_message_id,
	.reserve_message_ids = store_sqlite_reserve_message_ids,
	.message_count = store_sqlite_message_count,
	.dedup_get = store_sqlite_dedup_get,
	.file_add = store_sqlite_file_add,
	.file_get = store_sqlite_file_get,
	.file_delete = store_sqlite_file_delete,
	.files_foreach = store_sqlite_files_foreach,
	.file_chunk = 0, /* the bytes are in the data directory (cmd_file.c) */
	.chat_create = store_sqlite_chat_create,
	.chat_meta_foreach = store_sqlite_chat_meta_foreach,
};
