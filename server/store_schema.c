/* store_schema.c - the SQLite backend's schema: creating it in a new
 * database, refusing one that is newer or foreign, the steps from older
 * versions, the files table added to every database, and the check of
 * account names that clash by case. */
#include "config.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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

/* Version 2: what makes a group more than a name and a member list. A row
 * exists only for groups that need one: invite_only (join_chat refused to
 * non-members), creator_id (who may remove members), and for a direct chat
 * its two users (direct_lo < direct_hi), unique per pair so that a pair
 * has one conversation however often and in whichever order it is opened.
 * A separate table, not new columns of groups, so that the statements on
 * groups stay as they are; it goes with its group (ON DELETE CASCADE). */
static const char store_schema_v2_step[] =
	"CREATE TABLE chat_meta ("
	" group_id INTEGER PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,"
	" invite_only INTEGER NOT NULL DEFAULT 0,"
	" creator_id INTEGER,"
	" direct_lo INTEGER,"
	" direct_hi INTEGER);"
	"CREATE UNIQUE INDEX chat_meta_direct ON chat_meta(direct_lo, direct_hi)"
	" WHERE direct_lo IS NOT NULL;"
	"PRAGMA user_version = 2;";

int store__user_version(store_sqlite_t *st, int *version)
{
	char res[32];
	int rc = store__pragma_text(st, "PRAGMA user_version", res, sizeof res);
	if (rc == SQLITE_OK)
		*version = atoi(res);
	return rc;
}

/* Create the schema, the Admin account and the group "public" on a new
 * database. Inside one IMMEDIATE transaction, re-checking the version, so
 * that two connections opening a new file at once (the server and its
 * writer) do not both create it. */
int store__schema_init(store_sqlite_t *st, char *err, size_t errlen)
{
	int version = 0, rc;
	char sql[1024];

	rc = store__exec(st, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return store__open_fail(st, rc, "begin", err, errlen);
	rc = store__user_version(st, &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (version == STORE_SCHEMA_VERSION) {
		store__exec(st, "COMMIT");
		return STORE_OK;
	}
	if (version > STORE_SCHEMA_VERSION) {
		store__exec(st, "ROLLBACK");
		store__errf(err, errlen,
		           "database %s has schema version %d, newer than this chatroomd "
		           "understands (%d); run a newer chatroomd",
		           st->path, version, STORE_SCHEMA_VERSION);
		return STORE_ERR;
	}
	if (version == 1) {
		/* one step per version, oldest first */
		rc = store__exec(st, store_schema_v2_step);
		if (rc != SQLITE_OK)
			goto fail;
		rc = store__exec(st, "COMMIT");
		if (rc != SQLITE_OK)
			goto fail;
		log_info("store: database %s upgraded to schema version 2", st->path);
		return STORE_OK;
	}
	if (version != 0) {
		store__exec(st, "ROLLBACK");
		store__errf(err, errlen, "database %s: unknown schema version %d", st->path, version);
		return STORE_ERR;
	}
	/* version 0 with tables in it: some other program's database */
	rc = store__pragma_text(st, "SELECT count(*) FROM sqlite_master", sql, sizeof sql);
	if (rc != SQLITE_OK)
		goto fail;
	if (atoi(sql) != 0) {
		store__exec(st, "ROLLBACK");
		store__errf(err, errlen,
		           "database %s was not made by chatroomd (it has tables but no chatroomd "
		           "schema version); give chatroomd a new file name",
		           st->path);
		return STORE_ERR;
	}
	rc = store__exec(st, store_schema_v1);
	if (rc != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof sql,
	         "INSERT INTO users(id, username, pwhash, banned, created_at) VALUES(%d, '%s', '', 0, %.6f);"
	         "INSERT INTO groups(name, is_private, banned, created_at) VALUES('%s', 0, 0, %.6f);"
	         "INSERT INTO members(group_id, user_id) SELECT id, %d FROM groups WHERE name = '%s';"
	         "PRAGMA user_version = 1;",
	         STORE_ADMIN_ID, "Admin", store__now(), "public", store__now(), STORE_ADMIN_ID,
	         "public");
	rc = store__exec(st, sql);
	if (rc == SQLITE_OK)
		rc = store__exec(st, store_schema_v2_step);
	if (rc != SQLITE_OK)
		goto fail;
	rc = store__exec(st, "COMMIT");
	if (rc != SQLITE_OK)
		goto fail;
	log_info("store: created a new database %s", st->path);
	return STORE_OK;
fail:
	{
		int s = store__open_fail(st, rc, "creating the schema", err, errlen);
		if (!sqlite3_get_autocommit(st->db))
			store__exec(st, "ROLLBACK");
		return s;
	}
}

/* Names that differ only by case are one name for new accounts and renames
 * (Q_USER_NAME_TAKEN, helped by an index). A database from before that
 * rule may hold such accounts: both keep working (a login gives the exact
 * name), and each clash is reported at start so that Admin can rename one. */
void store__names_check(store_sqlite_t *st)
{
	sqlite3_stmt *s = NULL;
	int rc = store__exec(st, "CREATE INDEX IF NOT EXISTS users_by_name_nocase ON "
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

int store__files_init(store_sqlite_t *st, char *err, size_t errlen)
{
	int rc = store__exec(st, store_files_schema);
	return rc == SQLITE_OK ? STORE_OK : store__open_fail(st, rc, "creating the files table", err, errlen);
}
