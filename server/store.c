/* store.c - chatroomd's SQLite database (see store.h): schema, accounts,
 * groups, memberships, messages and the client_msg_id de-duplication rows.
 *
 * Every public function takes st->lock for the whole call: one SQLite
 * connection must not run two statements at once from two threads, and the
 * connection is opened with SQLITE_OPEN_NOMUTEX because this lock already
 * serialises it. st->lock is a leaf: nothing else is locked while it is
 * held, and the foreach callbacks run under it (they must not call back
 * into the same store_t). */
#include "config.h"
#include "store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sqlite3.h>

#include "log.h"

/* Bump when the schema changes, and add the step from the previous version
 * where store_schema_init() meets an older version. */
#define STORE_SCHEMA_VERSION 1

/* How long a statement waits for another connection's lock before it gives
 * up with STORE_BUSY. The writer's commits are short, so this is generous. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Checkpoint the WAL into the database file once it holds this many pages
 * (about 40 MB) rather than SQLite's 1000: a page rewritten by many
 * batches (indexes keyed by sender) is then copied back once, which halves
 * the writer's I/O under load. */
#define STORE_WAL_AUTOCHECKPOINT 10000

/* Trimming a sender's client_msg_ids walks its newest dedup_window rows, so
 * it is done in bulk: once a sender has window/STORE_DEDUP_SLACK_DIV (at
 * least 1) rows more than the window. */
#define STORE_DEDUP_SLACK_DIV 8
/* The per-sender counters behind that are forgotten past this many senders
 * (they are only an optimisation: a forgotten sender is trimmed at once). */
#define STORE_TRIM_MAX_SLOTS 65536
#define STORE_TRIM_MIN_SLOTS 256

/* Prepared statements, compiled on first use and kept for the life of the
 * connection (SQLITE_PREPARE_PERSISTENT). */
enum store_stmt_id {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_USER_INSERT,
	Q_USER_BY_NAME,
	Q_USER_NAME_TAKEN,
	Q_USER_BY_ID,
	Q_USER_SET_PWHASH,
	Q_USER_SET_BANNED,
	Q_USER_RENAME,
	Q_USER_DELETE,
	Q_USER_DELETE_MEMBERS,
	Q_USER_DELETE_DEDUP,
	Q_USER_COUNT,
	Q_USERS_ALL,
	Q_GROUP_INSERT,
	Q_GROUP_BY_NAME,
	Q_GROUP_BY_ID,
	Q_GROUP_SET_BANNED,
	Q_GROUP_RENAME,
	Q_GROUP_DELETE,
	Q_GROUP_DELETE_MEMBERS,
	Q_GROUP_DELETE_MESSAGES,
	Q_GROUP_DELETE_DEDUP,
	Q_GROUPS_ALL,
	Q_MEMBER_ADD,
	Q_MEMBER_REMOVE,
	Q_MEMBERS_ALL,
	Q_MSG_INSERT,
	Q_DEDUP_INSERT,
	Q_DEDUP_TRIM,
	Q_DEDUP_GET,
	Q_META_LAST_ID_RAISE,
	Q_META_LAST_ID,
	Q_MSG_MAX_ID,
	Q_MSG_COUNT_GROUP,
	Q_MSG_COUNT_ALL,
	Q_HIST_AFTER,
	Q_HIST_BEFORE,
	Q_HIST_NEWEST,
	Q_HIST_RANGE,
	Q_COUNT
};

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
};

/* The schema, version 1. Users and groups use AUTOINCREMENT so that the id
 * of a deleted account or group is never handed out again (clients and the
 * de-duplication rows remember ids). messages.group_id deliberately has no
 * foreign key: a batch in flight for a group that an admin just deleted
 * must not make the writer's whole transaction fail forever; the orphans
 * are unreachable (group ids are not reused). */
static const char store_schema_v1[] =
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" username TEXT NOT NULL UNIQUE,"
	" pwhash TEXT NOT NULL DEFAULT '',"
	" banned INTEGER NOT NULL DEFAULT 0,"
	" created_at REAL NOT NULL);"
	"CREATE TABLE groups ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" is_private INTEGER NOT NULL DEFAULT 0,"
	" banned INTEGER NOT NULL DEFAULT 0,"
	" created_at REAL NOT NULL);"
	"CREATE TABLE members ("
	" group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	" user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" PRIMARY KEY (group_id, user_id)) WITHOUT ROWID;"
	"CREATE INDEX members_by_user ON members(user_id);"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" group_id INTEGER NOT NULL,"
	" sender_id INTEGER NOT NULL,"
	" ts REAL NOT NULL,"
	" sender_name TEXT NOT NULL,"
	" content TEXT NOT NULL,"
	" client_msg_id TEXT);"
	"CREATE INDEX messages_by_group ON messages(group_id, id);"
	"CREATE TABLE dedup ("
	" user_id INTEGER NOT NULL,"
	" client_msg_id TEXT NOT NULL,"
	" message_id INTEGER NOT NULL,"
	" group_id INTEGER NOT NULL,"
	" PRIMARY KEY (user_id, client_msg_id));"
	"CREATE INDEX dedup_by_user ON dedup(user_id, message_id);"
	/* The highest message id ever stored: survives the deletion of the
	 * group that held it, so ids are never reused after a restart. */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO meta(key, value) VALUES('last_message_id', 0);";

/* A sender's client_msg_id rows added since its last trim on this
 * connection (open addressing, keyed by user id). */
struct store_trim_slot {
	int64_t user;
	uint32_t since;    /* rows committed since the last trim */
	uint32_t batch;    /* rows in the batch being stored */
	uint8_t used;
	uint8_t known;     /* trimmed at least once on this connection */
	uint8_t decided;   /* trim decision made for the current batch */
	uint8_t trim_now;  /* ... and it was: trim */
};

struct store {
	pthread_mutex_t lock; /* guards everything below; a leaf lock */
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_COUNT];
	char *path;
	struct store_trim_slot *trim; /* trim counters, trim_cap slots */
	size_t trim_cap, trim_len;
};

static double store_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Map an SQLite result code to a STORE_* status. */
static int store_status_of(int rc)
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
static int store_fail(store_t *st, int rc, const char *what)
{
	int s = store_status_of(rc);
	if (s != STORE_EXISTS && rc != SQLITE_CONSTRAINT_FOREIGNKEY)
		log_error("store: %s: %s (%s, code %d)", what, sqlite3_errmsg(st->db),
		          st->path, rc);
	return s;
}

/* The prepared statement id, reset and unbound, or NULL (logged). */
static sqlite3_stmt *store_stmt(store_t *st, enum store_stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];
	if (!s) {
		int rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                            &st->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			store_fail(st, rc, "prepare");
			st->stmt[id] = NULL;
			return NULL;
		}
		s = st->stmt[id];
	}
	return s;
}

static void store_stmt_done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Run a statement that returns no rows; returns the SQLite code of the step
 * (SQLITE_DONE on success). The statement is reset afterwards. */
static int store_step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE) {
		/* sqlite3_reset() returns the same error; keep the extended code */
		rc = sqlite3_extended_errcode(sqlite3_db_handle(s));
	}
	store_stmt_done(s);
	return rc;
}

static void store_copy(char *dst, size_t dstlen, const unsigned char *src)
{
	snprintf(dst, dstlen, "%s", src ? (const char *)src : "");
}

static int store_txn_begin(store_t *st)
{
	sqlite3_stmt *s = store_stmt(st, Q_BEGIN);
	if (!s)
		return STORE_ERR;
	int rc = store_step_done(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "begin transaction");
}

static int store_txn_commit(store_t *st)
{
	sqlite3_stmt *s = store_stmt(st, Q_COMMIT);
	if (!s)
		return STORE_ERR;
	int rc = store_step_done(s);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, "commit");
}

/* Roll back unless SQLite already did (some errors, e.g. SQLITE_FULL, may
 * end the transaction by themselves). */
static void store_txn_rollback(store_t *st)
{
	if (sqlite3_get_autocommit(st->db))
		return;
	sqlite3_stmt *s = store_stmt(st, Q_ROLLBACK);
	if (s)
		store_step_done(s);
	if (!sqlite3_get_autocommit(st->db))
		log_error("store: rollback failed: %s", sqlite3_errmsg(st->db));
}

/* ---- opening ---------------------------------------------------------- */

static void store_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void store_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The status for a failure while opening, with advice for the operator. */
static int store_open_fail(store_t *st, int rc, const char *what, char *err, size_t errlen)
{
	int s = store_status_of(rc);
	const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	switch (s) {
	case STORE_CORRUPT:
		store_errf(err, errlen,
		           "database %s is damaged or is not an SQLite database (%s: %s); "
		           "stop chatroomd, move the file (and any -wal/-shm files next to it) "
		           "away and restore it from a backup, or start with a new empty database",
		           st->path, what, msg);
		break;
	case STORE_READONLY:
		store_errf(err, errlen,
		           "database %s is read-only (%s: %s); make the file and its directory "
		           "writable by the user chatroomd runs as",
		           st->path, what, msg);
		break;
	case STORE_FULL:
		store_errf(err, errlen, "database %s: disk full (%s: %s); free some space",
		           st->path, what, msg);
		break;
	case STORE_BUSY:
		store_errf(err, errlen,
		           "database %s is locked by another process (%s: %s); is another "
		           "chatroomd running on the same database?",
		           st->path, what, msg);
		break;
	default:
		if ((rc & 0xff) == SQLITE_CANTOPEN)
			store_errf(err, errlen,
			           "cannot open database %s (%s: %s); check that its directory exists "
			           "and is writable, and that %s-wal and %s-shm, if present, are "
			           "regular files chatroomd may write",
			           st->path, what, msg, st->path, st->path);
		else
			store_errf(err, errlen, "database %s: %s: %s", st->path, what, msg);
		break;
	}
	return s == STORE_EXISTS ? STORE_ERR : s;
}

/* Run one pragma or script; returns the SQLite code. */
static int store_exec(store_t *st, const char *sql)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(st->db);
}

/* Run a pragma that answers one text row, copying the answer into out. */
static int store_pragma_text(store_t *st, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(st->db);
	out[0] = '\0';
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store_copy(out, outlen, sqlite3_column_text(s, 0));
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
static int store_check(store_t *st, char *err, size_t errlen)
{
	char res[256];
	int rc = store_pragma_text(st, "PRAGMA quick_check(1)", res, sizeof res);
	if (rc != SQLITE_OK)
		return store_open_fail(st, rc, "integrity check", err, errlen);
	if (strcmp(res, "ok") != 0) {
		for (char *p = res; *p; p++)
			if (*p == '\n')
				*p = ' ';
		store_errf(err, errlen,
		           "database %s failed its integrity check (%s); stop chatroomd, move the "
		           "file (and any -wal/-shm files next to it) away and restore it from a "
		           "backup, or start with a new empty database",
		           st->path, res);
		return STORE_CORRUPT;
	}
	return STORE_OK;
}

static int store_user_version(store_t *st, int *version)
{
	char res[32];
	int rc = store_pragma_text(st, "PRAGMA user_version", res, sizeof res);
	if (rc == SQLITE_OK)
		*version = atoi(res);
	return rc;
}

/* Create the schema, the Admin account and the group "public" on a new
 * database. Inside one IMMEDIATE transaction, re-checking the version, so
 * that two connections opening a new file at once (the server and its
 * writer) do not both create it. */
static int store_schema_init(store_t *st, char *err, size_t errlen)
{
	int version = 0, rc;
	char sql[1024];

	rc = store_exec(st, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return store_open_fail(st, rc, "begin", err, errlen);
	rc = store_user_version(st, &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (version == STORE_SCHEMA_VERSION) {
		store_exec(st, "COMMIT");
		return STORE_OK;
	}
	if (version > STORE_SCHEMA_VERSION) {
		store_exec(st, "ROLLBACK");
		store_errf(err, errlen,
		           "database %s has schema version %d, newer than this chatroomd "
		           "understands (%d); run a newer chatroomd",
		           st->path, version, STORE_SCHEMA_VERSION);
		return STORE_ERR;
	}
	if (version != 0) {
		/* Future upgrades go here, one step per version. */
		store_exec(st, "ROLLBACK");
		store_errf(err, errlen, "database %s: unknown schema version %d", st->path, version);
		return STORE_ERR;
	}
	/* version 0 with tables in it: some other program's database */
	rc = store_pragma_text(st, "SELECT count(*) FROM sqlite_master", sql, sizeof sql);
	if (rc != SQLITE_OK)
		goto fail;
	if (atoi(sql) != 0) {
		store_exec(st, "ROLLBACK");
		store_errf(err, errlen,
		           "database %s was not made by chatroomd (it has tables but no chatroomd "
		           "schema version); give chatroomd a new file name",
		           st->path);
		return STORE_ERR;
	}
	rc = store_exec(st, store_schema_v1);
	if (rc != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof sql,
	         "INSERT INTO users(id, username, pwhash, banned, created_at) VALUES(%d, '%s', '', 0, %.6f);"
	         "INSERT INTO groups(name, is_private, banned, created_at) VALUES('%s', 0, 0, %.6f);"
	         "INSERT INTO members(group_id, user_id) SELECT id, %d FROM groups WHERE name = '%s';"
	         "PRAGMA user_version = %d;",
	         STORE_ADMIN_ID, "Admin", store_now(), "public", store_now(), STORE_ADMIN_ID,
	         "public", STORE_SCHEMA_VERSION);
	rc = store_exec(st, sql);
	if (rc != SQLITE_OK)
		goto fail;
	rc = store_exec(st, "COMMIT");
	if (rc != SQLITE_OK)
		goto fail;
	log_info("store: created a new database %s", st->path);
	return STORE_OK;
fail:
	{
		int s = store_open_fail(st, rc, "creating the schema", err, errlen);
		if (!sqlite3_get_autocommit(st->db))
			store_exec(st, "ROLLBACK");
		return s;
	}
}

static int store_files_init(store_t *st, char *err, size_t errlen);

/* Names that differ only by case are one name for new accounts and renames
 * (Q_USER_NAME_TAKEN, helped by an index). A database from before that
 * rule may hold such accounts: both keep working (a login gives the exact
 * name), and each clash is reported at start so that Admin can rename one. */
static void store_names_check(store_t *st)
{
	sqlite3_stmt *s = NULL;
	int rc = store_exec(st, "CREATE INDEX IF NOT EXISTS users_by_name_nocase ON "
	                        "users(username COLLATE NOCASE)");
	if (rc != SQLITE_OK)
		log_warn("store: cannot index user names (%s): registration checks scan the users",
		         sqlite3_errstr(rc));
	rc = sqlite3_prepare_v2(st->db,
	                        "SELECT group_concat(username, ', ') FROM users GROUP BY username "
	                        "COLLATE NOCASE HAVING count(*) > 1",
	                        -1, &s, NULL);
	while (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		log_warn("store: accounts %s differ only by case; both keep working, but no new "
		         "account may take such a name: rename one (modify -u USER username NAME) to "
		         "end the clash",
		         (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

int store_open(const char *path, store_t **out, char *err, size_t errlen)
{
	return store_open_ex(path, 0, out, err, errlen);
}

int store_open_ex(const char *path, unsigned flags, store_t **out, char *err, size_t errlen)
{
	store_t *st;
	int rc, s, version = 0;
	char mode[64];

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	st = calloc(1, sizeof *st);
	if (!st || !(st->path = strdup(path))) {
		free(st);
		store_errf(err, errlen, "out of memory");
		return STORE_ERR;
	}
	pthread_mutex_init(&st->lock, NULL);

	rc = sqlite3_open_v2(path, &st->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		s = store_open_fail(st, st->db ? sqlite3_extended_errcode(st->db) : rc, "open", err,
		                    errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* SQLite quietly falls back to read-only when it may not write the
	 * file; chatroomd cannot work like that, so say so now. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		s = store_open_fail(st, SQLITE_READONLY, "open", err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

	if (!(flags & STORE_OPEN_NO_CHECK)) {
		s = store_check(st, err, errlen);
		if (s != STORE_OK)
			goto fail;
	}

	rc = store_pragma_text(st, "PRAGMA journal_mode=WAL", mode, sizeof mode);
	if (rc != SQLITE_OK) {
		s = store_open_fail(st, rc, "setting WAL mode", err, errlen);
		goto fail;
	}
	if (strcmp(mode, "wal") != 0) {
		store_errf(err, errlen, "database %s: cannot use WAL mode (journal mode is %s)", path,
		           mode);
		s = STORE_ERR;
		goto fail;
	}
	snprintf(mode, sizeof mode, "PRAGMA wal_autocheckpoint=%d", STORE_WAL_AUTOCHECKPOINT);
	rc = store_exec(st, mode);
	if (rc == SQLITE_OK)
		/* FULL: a commit is on disk (WAL synced) before it returns, so a
		 * chat_ack, sent after the commit, survives a power loss too, not
		 * only a crash of the process. One sync per batch. */
		rc = store_exec(st, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
	if (rc != SQLITE_OK) {
		s = store_open_fail(st, rc, "setting pragmas", err, errlen);
		goto fail;
	}

	rc = store_user_version(st, &version);
	if (rc != SQLITE_OK) {
		s = store_open_fail(st, rc, "reading the schema version", err, errlen);
		goto fail;
	}
	if (version != STORE_SCHEMA_VERSION) {
		s = store_schema_init(st, err, errlen);
		if (s != STORE_OK)
			goto fail;
	}
	s = store_files_init(st, err, errlen);
	if (s != STORE_OK)
		goto fail;
	if (!(flags & STORE_OPEN_NO_CHECK))
		store_names_check(st);
	*out = st;
	return STORE_OK;
fail:
	log_error("store: %s", err && errlen ? err : "cannot open the database");
	store_close(st);
	return s;
}

void store_close(store_t *st)
{
	if (!st)
		return;
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
static int store_run(store_t *st, enum store_stmt_id id, int must_change, const char *what,
                     const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *s = store_stmt(st, id);
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
	rc = store_step_done(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, what);
	if (must_change && sqlite3_changes(st->db) == 0)
		return STORE_NOTFOUND;
	return STORE_OK;
}

/* One int64 from a statement with an optional int64 parameter. */
static int store_scalar(store_t *st, enum store_stmt_id id, int nparams, int64_t p1, int64_t *out,
                        const char *what)
{
	sqlite3_stmt *s = store_stmt(st, id);
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
		ret = store_fail(st, sqlite3_extended_errcode(st->db), what);
	store_stmt_done(s);
	return ret;
}

/* ---- accounts --------------------------------------------------------- */

static void store_user_row(sqlite3_stmt *s, store_user_t *u)
{
	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(s, 0);
	store_copy(u->username, sizeof u->username, sqlite3_column_text(s, 1));
	store_copy(u->pwhash, sizeof u->pwhash, sqlite3_column_text(s, 2));
	u->banned = sqlite3_column_int(s, 3);
	u->created_at = sqlite3_column_double(s, 4);
}

/* STORE_EXISTS when another account than except_id has username, in any
 * case. Needs st->lock. */
static int store_name_taken(store_t *st, const char *username, int64_t except_id)
{
	sqlite3_stmt *s = store_stmt(st, Q_USER_NAME_TAKEN);
	if (!s)
		return STORE_ERR;
	sqlite3_bind_text(s, 1, username, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, except_id);
	int rc = sqlite3_step(s), ret = STORE_OK;
	if (rc == SQLITE_ROW)
		ret = STORE_EXISTS;
	else if (rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "looking up a user name");
	store_stmt_done(s);
	return ret;
}

int store_user_name_taken(store_t *st, const char *username)
{
	pthread_mutex_lock(&st->lock);
	int ret = store_name_taken(st, username, -1);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_create(store_t *st, const char *username, const char *pwhash, int64_t *id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_name_taken(st, username, -1);
	if (ret == STORE_OK)
		ret = store_run(st, Q_USER_INSERT, 0, "creating a user", "ssd", username,
		                pwhash ? pwhash : "", store_now());
	if (ret == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* Look one user up by name (name != NULL) or id. */
static int store_user_get(store_t *st, enum store_stmt_id id, const char *name, int64_t uid,
                          store_user_t *out)
{
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, id);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	if (name)
		sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, uid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		store_user_row(s, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "looking up a user");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_by_name(store_t *st, const char *username, store_user_t *out)
{
	return store_user_get(st, Q_USER_BY_NAME, username, 0, out);
}

int store_user_by_id(store_t *st, int64_t id, store_user_t *out)
{
	return store_user_get(st, Q_USER_BY_ID, NULL, id, out);
}

int store_user_set_pwhash(store_t *st, int64_t id, const char *pwhash)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_USER_SET_PWHASH, 1, "setting a password", "is", id, pwhash ? pwhash : "");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_set_banned(store_t *st, int64_t id, int banned)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_USER_SET_BANNED, 1, "banning a user", "ii", id, (int64_t)(banned != 0));
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_rename(store_t *st, int64_t id, const char *username)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_name_taken(st, username, id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_USER_RENAME, 1, "renaming a user", "is", id, username);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_delete(store_t *st, int64_t id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_txn_begin(st);
	if (ret != STORE_OK)
		goto out;
	ret = store_run(st, Q_USER_DELETE_MEMBERS, 0, "deleting a user's memberships", "i", id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_USER_DELETE_DEDUP, 0, "deleting a user's message ids", "i", id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_USER_DELETE, 1, "deleting a user", "i", id);
	if (ret == STORE_OK)
		ret = store_txn_commit(st);
	if (ret != STORE_OK)
		store_txn_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_user_count(store_t *st, int64_t *n)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_scalar(st, Q_USER_COUNT, 0, 0, n, "counting users");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_users_foreach(store_t *st, int (*cb)(void *ctx, const store_user_t *u), void *ctx)
{
	sqlite3_stmt *s;
	store_user_t u;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, Q_USERS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_user_row(s, &u);
		if (cb(ctx, &u))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "listing users");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* ---- groups and memberships ------------------------------------------- */

static void store_group_row(sqlite3_stmt *s, store_group_t *g)
{
	memset(g, 0, sizeof *g);
	g->id = sqlite3_column_int64(s, 0);
	store_copy(g->name, sizeof g->name, sqlite3_column_text(s, 1));
	g->is_private = sqlite3_column_int(s, 2);
	g->banned = sqlite3_column_int(s, 3);
	g->created_at = sqlite3_column_double(s, 4);
}

int store_group_create(store_t *st, const char *name, int is_private, int64_t *id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_GROUP_INSERT, 0, "creating a group", "sid", name,
	                (int64_t)(is_private != 0), store_now());
	if (ret == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_group_create_with(store_t *st, const char *name, int is_private, const int64_t *members,
                            size_t n, int64_t *id)
{
	int64_t gid = 0;
	pthread_mutex_lock(&st->lock);
	int ret = store_txn_begin(st);
	if (ret == STORE_OK)
		ret = store_run(st, Q_GROUP_INSERT, 0, "creating a group", "sid", name,
		                (int64_t)(is_private != 0), store_now());
	if (ret == STORE_OK)
		gid = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; ret == STORE_OK && i < n; i++) {
		ret = store_run(st, Q_MEMBER_ADD, 0, "adding a member", "ii", gid, members[i]);
		if (ret == STORE_ERR && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
			ret = STORE_NOTFOUND;
	}
	if (ret == STORE_OK)
		ret = store_txn_commit(st);
	if (ret != STORE_OK)
		store_txn_rollback(st);
	else if (id)
		*id = gid;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static int store_group_get(store_t *st, enum store_stmt_id id, const char *name, int64_t gid,
                           store_group_t *out)
{
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, id);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	if (name)
		sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, gid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		store_group_row(s, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "looking up a group");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_group_by_name(store_t *st, const char *name, store_group_t *out)
{
	return store_group_get(st, Q_GROUP_BY_NAME, name, 0, out);
}

int store_group_by_id(store_t *st, int64_t id, store_group_t *out)
{
	return store_group_get(st, Q_GROUP_BY_ID, NULL, id, out);
}

int store_group_set_banned(store_t *st, int64_t id, int banned)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_GROUP_SET_BANNED, 1, "banning a group", "ii", id, (int64_t)(banned != 0));
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_group_rename(store_t *st, int64_t id, const char *name)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_GROUP_RENAME, 1, "renaming a group", "is", id, name);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_group_delete(store_t *st, int64_t id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_txn_begin(st);
	if (ret != STORE_OK)
		goto out;
	ret = store_run(st, Q_GROUP_DELETE_MEMBERS, 0, "deleting a group's members", "i", id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_GROUP_DELETE_MESSAGES, 0, "deleting a group's messages", "i", id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_GROUP_DELETE_DEDUP, 0, "deleting a group's message ids", "i", id);
	if (ret == STORE_OK)
		ret = store_run(st, Q_GROUP_DELETE, 1, "deleting a group", "i", id);
	if (ret == STORE_OK)
		ret = store_txn_commit(st);
	if (ret != STORE_OK)
		store_txn_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_groups_foreach(store_t *st, int (*cb)(void *ctx, const store_group_t *g), void *ctx)
{
	sqlite3_stmt *s;
	store_group_t g;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, Q_GROUPS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_group_row(s, &g);
		if (cb(ctx, &g))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "listing groups");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_member_add(store_t *st, int64_t group_id, int64_t user_id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_MEMBER_ADD, 0, "adding a member", "ii", group_id, user_id);
	/* A missing group or user breaks the foreign key: say "not found". */
	if (ret == STORE_ERR && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = STORE_NOTFOUND;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_member_remove(store_t *st, int64_t group_id, int64_t user_id)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_MEMBER_REMOVE, 1, "removing a member", "ii", group_id, user_id);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_members_foreach(store_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t user_id),
                          void *ctx)
{
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, Q_MEMBERS_ALL);
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "listing members");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* ---- messages --------------------------------------------------------- */

static size_t store_trim_hash(int64_t user, size_t cap)
{
	return (size_t)(((uint64_t)user * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The slot of user, created when create is set; NULL if absent or out of
 * memory (then the sender is simply trimmed every time). */
static struct store_trim_slot *store_trim_find(store_t *st, int64_t user, int create)
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
static void store_trim_settle(store_t *st, const store_msg_t *msgs, size_t n, int committed)
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
static int store_trim_senders(store_t *st, const store_msg_t *msgs, size_t n, int window)
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
		ret = store_run(st, Q_DEDUP_TRIM, 0, "trimming client_msg_ids", "ii", user,
		                (int64_t)window);
		if (ret != STORE_OK)
			return ret;
	}
	return STORE_OK;
}

int store_messages_append(store_t *st, const store_msg_t *msgs, size_t n, int dedup_window)
{
	sqlite3_stmt *s;
	int64_t max_id = 0;
	int rc, ret;

	if (n == 0)
		return STORE_OK;
	pthread_mutex_lock(&st->lock);
	ret = store_txn_begin(st);
	if (ret != STORE_OK)
		goto out;

	for (size_t i = 0; i < n; i++) {
		const store_msg_t *m = &msgs[i];
		if (!(s = store_stmt(st, Q_MSG_INSERT))) {
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
		rc = store_step_done(s);
		if (rc != SQLITE_DONE) {
			ret = store_fail(st, rc, "storing a message");
			if (ret == STORE_EXISTS)
				log_error("store: message id %lld is already stored (%s)",
				          (long long)m->id, st->path);
			goto fail;
		}
		if (m->id > max_id)
			max_id = m->id;
		if (m->client_msg_id) {
			ret = store_run(st, Q_DEDUP_INSERT, 0, "storing a client_msg_id", "isii",
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

	ret = store_run(st, Q_META_LAST_ID_RAISE, 0, "recording the last message id", "i", max_id);
	if (ret != STORE_OK)
		goto fail;
	ret = store_txn_commit(st);
	if (ret != STORE_OK)
		goto fail;
	if (dedup_window > 0)
		store_trim_settle(st, msgs, n, 1);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
fail:
	store_txn_rollback(st);
	if (dedup_window > 0)
		store_trim_settle(st, msgs, n, 0);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_history(store_t *st, int64_t group_id, int64_t after_id, int64_t before_id, int limit,
                  int (*cb)(void *ctx, const store_msg_t *m), void *ctx)
{
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
		s = store_stmt(st, Q_HIST_RANGE);
		if (s) {
			sqlite3_bind_int64(s, 2, after_id);
			sqlite3_bind_int64(s, 3, before_id);
			sqlite3_bind_int(s, 4, limit);
		}
	} else if (after_given) {
		s = store_stmt(st, Q_HIST_AFTER);
		if (s) {
			sqlite3_bind_int64(s, 2, after_id);
			sqlite3_bind_int(s, 3, limit);
		}
	} else if (before_id > 0) {
		s = store_stmt(st, Q_HIST_BEFORE);
		if (s) {
			sqlite3_bind_int64(s, 2, before_id);
			sqlite3_bind_int(s, 3, limit);
		}
	} else {
		s = store_stmt(st, Q_HIST_NEWEST);
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
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "reading history");
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_last_message_id(store_t *st, int64_t *id)
{
	int64_t meta = 0, max = 0;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = store_scalar(st, Q_META_LAST_ID, 0, 0, &meta, "reading the last message id");
	if (ret == STORE_NOTFOUND) {
		meta = 0;
		ret = STORE_OK;
	}
	if (ret == STORE_OK)
		ret = store_scalar(st, Q_MSG_MAX_ID, 0, 0, &max, "reading the last message id");
	if (ret == STORE_OK)
		*id = meta > max ? meta : max;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_reserve_message_ids(store_t *st, int64_t upto)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	ret = store_run(st, Q_META_LAST_ID_RAISE, 0, "reserving message ids", "i", upto);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_message_count(store_t *st, int64_t group_id, int64_t *n)
{
	int ret;
	pthread_mutex_lock(&st->lock);
	if (group_id)
		ret = store_scalar(st, Q_MSG_COUNT_GROUP, 1, group_id, n, "counting messages");
	else
		ret = store_scalar(st, Q_MSG_COUNT_ALL, 0, 0, n, "counting messages");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_dedup_get(store_t *st, int64_t user_id, const char *client_msg_id, int64_t *message_id,
                    int64_t *group_id)
{
	sqlite3_stmt *s;
	int rc, ret = STORE_OK;

	pthread_mutex_lock(&st->lock);
	s = store_stmt(st, Q_DEDUP_GET);
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
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "looking up a client_msg_id");
	}
	store_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* ---- files -------------------------------------------------------------- */

/* The files table came after schema version 1 and needs nothing from the
 * other tables, so it is created where missing rather than by a version
 * step: every database, new or old, gets it on open. No foreign keys: a
 * file row outlives its uploader's account (the list shows the name kept
 * here), and the admin code deletes a group's files with the group. */
static const char store_files_schema[] =
	"CREATE TABLE IF NOT EXISTS files ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" group_id INTEGER NOT NULL,"
	" uploader_id INTEGER NOT NULL,"
	" uploader_name TEXT NOT NULL,"
	" filename TEXT NOT NULL,"
	" stored_name TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" uploaded_at REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS files_by_group ON files(group_id, id);";

#define STORE_FILE_COLS "id, group_id, uploader_id, uploader_name, filename, stored_name, size, uploaded_at"

static int store_files_init(store_t *st, char *err, size_t errlen)
{
	int rc = store_exec(st, store_files_schema);
	return rc == SQLITE_OK ? STORE_OK : store_open_fail(st, rc, "creating the files table", err, errlen);
}

/* File statements are rare (one per upload, download or listing), so they
 * are prepared per call instead of joining the persistent set above. */
static sqlite3_stmt *store_file_prepare(store_t *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		store_fail(st, sqlite3_extended_errcode(st->db), "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

static void store_file_row(sqlite3_stmt *s, store_file_t *f)
{
	memset(f, 0, sizeof *f);
	f->id = sqlite3_column_int64(s, 0);
	f->group_id = sqlite3_column_int64(s, 1);
	f->uploader_id = sqlite3_column_int64(s, 2);
	store_copy(f->uploader_name, sizeof f->uploader_name, sqlite3_column_text(s, 3));
	store_copy(f->filename, sizeof f->filename, sqlite3_column_text(s, 4));
	store_copy(f->stored_name, sizeof f->stored_name, sqlite3_column_text(s, 5));
	f->size = sqlite3_column_int64(s, 6);
	f->uploaded_at = sqlite3_column_double(s, 7);
}

int store_file_add(store_t *st, const store_file_t *f, int64_t *id)
{
	int ret = STORE_OK, rc;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store_file_prepare(st, "INSERT INTO files(group_id, uploader_id, uploader_name,"
	                                         " filename, stored_name, size, uploaded_at)"
	                                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, f->group_id);
	sqlite3_bind_int64(s, 2, f->uploader_id);
	sqlite3_bind_text(s, 3, f->uploader_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, f->filename, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, f->stored_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 6, f->size);
	sqlite3_bind_double(s, 7, f->uploaded_at > 0 ? f->uploaded_at : store_now());
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "recording a file");
	else if (id)
		*id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_file_get(store_t *st, int64_t id, store_file_t *out)
{
	int ret = STORE_OK, rc;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store_file_prepare(st, "SELECT " STORE_FILE_COLS " FROM files WHERE id = ?1");
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		store_file_row(s, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "looking up a file");
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_file_delete(store_t *st, int64_t id)
{
	int ret = STORE_OK, rc;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store_file_prepare(st, "DELETE FROM files WHERE id = ?1");
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "deleting a file");
	else if (sqlite3_changes(st->db) == 0)
		ret = STORE_NOTFOUND;
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int store_files_foreach(store_t *st, int64_t group_id,
                        int (*cb)(void *ctx, const store_file_t *f), void *ctx)
{
	int ret = STORE_OK, rc;
	store_file_t f;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = store_file_prepare(st, group_id > 0
	                                             ? "SELECT " STORE_FILE_COLS " FROM files"
	                                               " WHERE group_id = ?1 ORDER BY id"
	                                             : "SELECT " STORE_FILE_COLS " FROM files ORDER BY id");
	if (!s) {
		ret = STORE_ERR;
		goto out;
	}
	if (group_id > 0)
		sqlite3_bind_int64(s, 1, group_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_file_row(s, &f);
		if (cb(ctx, &f))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, sqlite3_extended_errcode(st->db), "listing files");
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
