/* store_pg.c - the PostgreSQL store (store_pg.h): the connection and its
 * outages, the schema and its version, message batches with per-group
 * order, de-duplication, history, and the accounts and groups the cluster
 * tests need. Every public function takes st->lock for the whole call. */
#include "config.h"
#include "store_pg_private.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A sender's client_msg_ids past DedupWindow are deleted in bulk, about
 * once per window/STORE_PG_DEDUP_SLACK_DIV (at least 1) of its messages,
 * as the SQLite store does (store_message.c): a trim walks only the rows
 * it deletes. */
#define STORE_PG_DEDUP_SLACK_DIV 8
/* A writer's last batch is remembered (writer_batches) for its retry;
 * rows not updated for this long belong to writers long gone, and are
 * deleted when a connection opens. */
#define STORE_PG_WRITER_KEEP_S (7 * 24 * 3600)
#define STORE_PG_STR_(x) #x
#define STORE_PG_STR(x) STORE_PG_STR_(x)

/* The schema, version 1 (versions 2 to 5 add store_pg_schema_v2_step to
 * _v5_step). Admin is user 0 as in the SQLite store; serials
 * start at 1 and never hand an id out twice. messages.group_id has no
 * foreign key, as in SQLite: a batch for a group deleted meanwhile must
 * not fail forever. groups.last_seq is the per-group counter behind
 * messages.seq. */
static const char store_pg_schema_v1[] =
	"CREATE TABLE chatroom_meta (key text PRIMARY KEY, value bigint NOT NULL);"
	"CREATE TABLE users ("
	" id bigserial PRIMARY KEY,"
	" username text NOT NULL UNIQUE,"
	" pwhash text NOT NULL DEFAULT '',"
	" banned integer NOT NULL DEFAULT 0,"
	" created_at double precision NOT NULL);"
	"CREATE UNIQUE INDEX users_name_nocase ON users (lower(username));"
	"CREATE TABLE groups ("
	" id bigserial PRIMARY KEY,"
	" name text NOT NULL UNIQUE,"
	" is_private integer NOT NULL DEFAULT 0,"
	" banned integer NOT NULL DEFAULT 0,"
	" created_at double precision NOT NULL,"
	" last_seq bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE members ("
	" group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	" user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" PRIMARY KEY (group_id, user_id));"
	"CREATE INDEX members_by_user ON members(user_id);"
	"CREATE SEQUENCE message_ids;"
	"CREATE TABLE messages ("
	" id bigint PRIMARY KEY,"
	" group_id bigint NOT NULL,"
	" seq bigint,"
	" sender_id bigint NOT NULL,"
	" ts double precision NOT NULL,"
	" sender_name text NOT NULL,"
	" content text NOT NULL,"
	" client_msg_id text);"
	"CREATE UNIQUE INDEX messages_by_seq ON messages(group_id, seq);"
	"CREATE INDEX messages_by_group ON messages(group_id, id);"
	"CREATE UNIQUE INDEX messages_dedup ON messages(sender_id, client_msg_id)"
	" WHERE client_msg_id IS NOT NULL;"
	"CREATE TABLE files ("
	" id bigserial PRIMARY KEY,"
	" group_id bigint NOT NULL,"
	" uploader_id bigint NOT NULL,"
	" uploader_name text NOT NULL,"
	" filename text NOT NULL,"
	" stored_name text NOT NULL,"
	" size bigint NOT NULL,"
	" uploaded_at double precision NOT NULL);"
	"CREATE INDEX files_by_group ON files(group_id, id);"
	/* One batch, one round trip. The groups' rows are locked in ascending
	 * id order first: two nodes' batches then wait for each other instead
	 * of deadlocking, and a group's seq and ids follow commit order. A
	 * resend (same sender and client_msg_id, stored or earlier in the
	 * batch) takes nothing and returns the stored message. */
	"CREATE FUNCTION chatroom_append(batch jsonb)"
	" RETURNS TABLE(out_id bigint, out_seq bigint, out_dup boolean)"
	" LANGUAGE plpgsql AS $$"
	" DECLARE r record; mid bigint; mseq bigint;"
	" BEGIN"
	"  PERFORM 1 FROM groups WHERE id IN"
	"   (SELECT (e->>'g')::bigint FROM jsonb_array_elements(batch) e) ORDER BY id FOR UPDATE;"
	"  FOR r IN SELECT * FROM ROWS FROM (jsonb_to_recordset(batch)"
	"   AS (g bigint, s bigint, t double precision, n text, c text, k text))"
	"   WITH ORDINALITY AS x(g, s, t, n, c, k, i) ORDER BY i LOOP"
	"   mid := NULL; mseq := NULL;"
	"   IF r.k IS NOT NULL THEN"
	"    SELECT m.id, m.seq INTO mid, mseq FROM messages m"
	"     WHERE m.sender_id = r.s AND m.client_msg_id = r.k;"
	"   END IF;"
	"   IF mid IS NOT NULL THEN"
	"    out_id := mid; out_seq := coalesce(mseq, 0); out_dup := true; RETURN NEXT; CONTINUE;"
	"   END IF;"
	"   UPDATE groups SET last_seq = last_seq + 1 WHERE id = r.g RETURNING last_seq INTO mseq;"
	"   mid := nextval('message_ids');"
	"   INSERT INTO messages(id, group_id, seq, sender_id, ts, sender_name, content, client_msg_id)"
	"    VALUES (mid, r.g, mseq, r.s, r.t, r.n, r.c, r.k);"
	"   out_id := mid; out_seq := coalesce(mseq, 0); out_dup := false; RETURN NEXT;"
	"  END LOOP;"
	" END $$;";

double store_pg__now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void store_pg_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void store_pg_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libpq's messages span lines; a log line or err text is one line. */
static const char *store_pg_msg(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s ? s : "");
	for (size_t n = strlen(buf); n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '); n--)
		buf[n - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return buf;
}

/* The connection is usable, reconnecting first when it was lost. Logs the
 * loss once and the recovery once. */
static int store_pg_ready(store_pg_t *st)
{
	char buf[512];
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 1;
	if (!st->down) {
		log_error("store: lost the connection to PostgreSQL (%s); reconnecting",
		          store_pg_msg(PQerrorMessage(st->conn), buf, sizeof buf));
		st->down = 1;
	}
	PQreset(st->conn);
	if (PQstatus(st->conn) != CONNECTION_OK)
		return 0;
	log_warn("store: connected to PostgreSQL again");
	st->down = 0;
	return 1;
}

/* What a failed result means for the caller. */
static int store_pg_status(store_pg_t *st, PGresult *res, const char *what)
{
	char buf[512];
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(st->conn) != CONNECTION_OK) {
		if (!st->down) {
			log_error("store: lost the connection to PostgreSQL while %s (%s); "
			          "reconnecting",
			          what, store_pg_msg(PQerrorMessage(st->conn), buf, sizeof buf));
			st->down = 1;
		}
		return STORE_ERR;
	}
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return STORE_BUSY; /* serialization failure, deadlock: retry */
	if (state && strcmp(state, "23505") == 0)
		return STORE_EXISTS; /* expected (a name taken): not logged */
	if (state && strcmp(state, "23503") == 0)
		return STORE_NOTFOUND; /* a member's group or user is gone */
	if (state && strcmp(state, "53100") == 0)
		return STORE_FULL;
	if (state && strcmp(state, "25006") == 0)
		return STORE_READONLY;
	log_error("store: PostgreSQL refused %s: %s", what,
	          store_pg_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(st->conn), buf,
	                       sizeof buf));
	return STORE_ERR;
}

void store_pg__pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int store_pg__run(store_pg_t *st, const char *what, PGresult **out, const char *sql,
                        int n, const char *const *params)
{
	return store_pg__run_bin(st, what, out, sql, n, params, NULL, NULL, 0);
}

int store_pg__run_bin(store_pg_t *st, const char *what, PGresult **out, const char *sql, int n,
                      const char *const *params, const int *lengths, const int *formats,
                      int result_binary)
{
	PGresult *res;
	ExecStatusType es;

	if (out)
		*out = NULL;
	if (!store_pg_ready(st))
		return STORE_ERR;
	/* on its own: nothing before it in its transaction to run again */
	int alone = PQtransactionStatus(st->conn) == PQTRANS_IDLE;
	for (int tries = 1;; tries++) {
		/* without parameters, PQexec: it takes several statements at once */
		res = n ? PQexecParams(st->conn, sql, n, NULL, params, lengths, formats,
		                       result_binary)
		        : PQexec(st->conn, sql);
		es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK)
			break;
		int s = store_pg_status(st, res, what);
		PQclear(res);
		if (s != STORE_BUSY || !alone || tries == STORE_PG_BUSY_TRIES ||
		    PQtransactionStatus(st->conn) != PQTRANS_IDLE)
			return s;
		store_pg__pause_ms(tries * STORE_PG_BUSY_PAUSE_MS);
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return STORE_OK;
}

int store_pg__q(store_pg_t *st, const char *what, PGresult **out, int must_change,
                const char *sql, const char *fmt, ...)
{
	char num[STORE_PG_MAX_PARAMS][24];
	const char *p[STORE_PG_MAX_PARAMS];
	va_list ap;
	int n = 0, s;

	va_start(ap, fmt);
	for (; fmt[n] && n < STORE_PG_MAX_PARAMS; n++) {
		if (fmt[n] == 'i') {
			snprintf(num[n], sizeof num[n], "%lld", (long long)va_arg(ap, int64_t));
			p[n] = num[n];
		} else if (fmt[n] == 'd') {
			snprintf(num[n], sizeof num[n], "%.6f", va_arg(ap, double));
			p[n] = num[n];
		} else {
			p[n] = va_arg(ap, const char *);
		}
	}
	va_end(ap);
	PGresult *r;
	s = store_pg__run(st, what, &r, sql, n, n ? p : NULL);
	if (s != STORE_OK)
		return s;
	if (must_change && strtoll(PQcmdTuples(r), NULL, 10) == 0 && PQntuples(r) == 0)
		s = STORE_NOTFOUND;
	if (out && s == STORE_OK)
		*out = r;
	else
		PQclear(r);
	return s;
}

int64_t store_pg__int(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- connection and schema ------------------------------------------- */

static PGconn *store_pg_connect(const char *conninfo, char *err, size_t errlen)
{
	char buf[512];
	PGconn *c = PQconnectdb(conninfo);
	if (!c) {
		store_pg_errf(err, errlen, "PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		store_pg_errf(err, errlen, "cannot connect to PostgreSQL (%s): %s", conninfo,
		              store_pg_msg(PQerrorMessage(c), buf, sizeof buf));
		PQfinish(c);
		return NULL;
	}
	/* notices (CREATE ... IF NOT EXISTS and the like) are not errors */
	PQsetNoticeProcessor(c, NULL, NULL);
	return c;
}

/* The schema version in the database: 0 when it is empty, -1 when it has
 * tables but none of ours. */
static int store_pg_version(store_pg_t *st, int *version)
{
	PGresult *r;
	int s = store_pg__run(st, "reading the schema version", &r,
	                     "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = "
	                     "current_schema()), to_regclass('chatroom_meta') IS NOT NULL",
	                     0, NULL);
	if (s != STORE_OK)
		return s;
	int64_t tables = store_pg__int(r, 0, 0);
	int ours = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (!ours) {
		*version = tables ? -1 : 0;
		return STORE_OK;
	}
	s = store_pg__run(st, "reading the schema version", &r,
	                 "SELECT value FROM chatroom_meta WHERE key = 'schema_version'", 0, NULL);
	if (s != STORE_OK)
		return s;
	*version = PQntuples(r) ? (int)store_pg__int(r, 0, 0) : -1;
	PQclear(r);
	return STORE_OK;
}

static int store_pg_version_fits(int version, const char *conninfo, char *err, size_t errlen)
{
	if (version > STORE_PG_SCHEMA_VERSION) {
		store_pg_errf(err, errlen,
		              "PostgreSQL database (%s) has schema version %d, newer than this "
		              "chatroomd understands (%d); run a newer chatroomd",
		              conninfo, version, STORE_PG_SCHEMA_VERSION);
		return STORE_ERR;
	}
	if (version < 0) {
		store_pg_errf(err, errlen,
		              "PostgreSQL database (%s) was not made by chatroomd (it has tables "
		              "but no chatroomd schema version); give chatroomd a database of its own",
		              conninfo);
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Version 2: a group's kind (store.h store_chat_meta_t) as in SQLite's
 * chat_meta (store_schema.c): a row only for invite-only groups and direct
 * chats, unique per direct pair, gone with its group. Both an empty
 * database and one of version 1 take this step. */
static const char store_pg_schema_v2_step[] =
	"CREATE TABLE chat_meta ("
	" group_id bigint PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,"
	" invite_only integer NOT NULL DEFAULT 0,"
	" creator_id bigint,"
	" direct_lo bigint,"
	" direct_hi bigint);"
	"CREATE UNIQUE INDEX chat_meta_direct ON chat_meta(direct_lo, direct_hi)"
	" WHERE direct_lo IS NOT NULL;"
	"UPDATE chatroom_meta SET value = 2 WHERE key = 'schema_version';";

/* Version 3: two things the writer's retries and DedupWindow need.
 *  - writer_batches: per writer (the random half of its batch tokens,
 *    store_pg_batch_token(), new at every start) the number of its last
 *    committed batch and what that batch's messages became. A batch whose
 *    COMMIT succeeded while the connection died before the reply is sent
 *    again with the same token; chatroom_append() then answers with the
 *    stored outcome instead of storing the messages a second time. One row
 *    per writer, not one per message: the writer has one batch in flight
 *    and retries it before it stores the next.
 *  - client_msg_ids move from messages (where they stay, for history) to
 *    dedup, as in SQLite (store_schema.c): one row per sender and id,
 *    numbered per sender (n) so that a sender's rows older than the window
 *    are deleted by one index range, about every window/8 messages
 *    (STORE_PG_DEDUP_SLACK_DIV), not kept forever. */
static const char store_pg_schema_v3_step[] =
	"CREATE TABLE writer_batches ("
	" writer text PRIMARY KEY,"
	" last_batch bigint NOT NULL,"
	" msg_ids bigint[] NOT NULL,"
	" msg_seqs bigint[] NOT NULL,"
	" msg_dups boolean[] NOT NULL,"
	" at double precision NOT NULL);"
	"CREATE TABLE dedup ("
	" user_id bigint NOT NULL,"
	" client_msg_id text NOT NULL,"
	" message_id bigint NOT NULL,"
	" group_id bigint NOT NULL,"
	" n bigint NOT NULL,"
	" PRIMARY KEY (user_id, client_msg_id));"
	"CREATE INDEX dedup_by_age ON dedup(user_id, n);"
	"CREATE INDEX dedup_by_group ON dedup(group_id);"
	"INSERT INTO dedup(user_id, client_msg_id, message_id, group_id, n)"
	" SELECT sender_id, client_msg_id, id, group_id,"
	"  row_number() OVER (PARTITION BY sender_id ORDER BY id)"
	" FROM messages WHERE client_msg_id IS NOT NULL;"
	"DROP INDEX IF EXISTS messages_dedup;"
	"DROP FUNCTION IF EXISTS chatroom_append(jsonb);"
	/* As version 1's, and: tok ("WRITER-N") names the batch; when it is
	 * the writer's last committed one, its stored outcome is the answer.
	 * win > 0 trims each sender's dedup rows to the newest win. */
	"CREATE FUNCTION chatroom_append(batch jsonb, tok text, win integer)"
	" RETURNS TABLE(out_id bigint, out_seq bigint, out_dup boolean)"
	" LANGUAGE plpgsql AS $$"
	" DECLARE r record; mid bigint; mseq bigint; dn bigint; w text; b bigint;"
	"  ids bigint[] := '{}'; seqs bigint[] := '{}'; dups boolean[] := '{}';"
	" BEGIN"
	"  PERFORM 1 FROM groups WHERE id IN"
	"   (SELECT (e->>'g')::bigint FROM jsonb_array_elements(batch) e) ORDER BY id FOR UPDATE;"
	/* looked up after the locks: an earlier attempt still committing
	 * on a connection that died holds them, and is seen once done */
	"  IF tok IS NOT NULL THEN"
	"   w := split_part(tok, '-', 1); b := split_part(tok, '-', 2)::bigint;"
	"   IF EXISTS (SELECT 1 FROM writer_batches x WHERE x.writer = w AND x.last_batch = b) THEN"
	"    RETURN QUERY SELECT u.i, u.s, u.d FROM writer_batches x,"
	"     unnest(x.msg_ids, x.msg_seqs, x.msg_dups) AS u(i, s, d) WHERE x.writer = w;"
	"    RETURN;"
	"   END IF;"
	"  END IF;"
	"  FOR r IN SELECT * FROM ROWS FROM (jsonb_to_recordset(batch)"
	"   AS (g bigint, s bigint, t double precision, n text, c text, k text))"
	"   WITH ORDINALITY AS x(g, s, t, n, c, k, i) ORDER BY i LOOP"
	"   mid := NULL; mseq := NULL; out_dup := false;"
	"   IF r.k IS NOT NULL THEN"
	"    SELECT d.message_id, m.seq INTO mid, mseq FROM dedup d"
	"     LEFT JOIN messages m ON m.id = d.message_id"
	"     WHERE d.user_id = r.s AND d.client_msg_id = r.k;"
	"   END IF;"
	"   IF mid IS NOT NULL THEN"
	"    out_dup := true;"
	"   ELSE"
	"    UPDATE groups SET last_seq = last_seq + 1 WHERE id = r.g RETURNING last_seq INTO mseq;"
	"    mid := nextval('message_ids');"
	"    INSERT INTO messages(id, group_id, seq, sender_id, ts, sender_name, content, client_msg_id)"
	"     VALUES (mid, r.g, mseq, r.s, r.t, r.n, r.c, r.k);"
	"    IF r.k IS NOT NULL THEN"
	"     SELECT coalesce(max(d.n), 0) + 1 INTO dn FROM dedup d WHERE d.user_id = r.s;"
	"     INSERT INTO dedup(user_id, client_msg_id, message_id, group_id, n)"
	"      VALUES (r.s, r.k, mid, r.g, dn);"
	"     IF win > 0 AND dn % greatest(win / " STORE_PG_STR(STORE_PG_DEDUP_SLACK_DIV) ", 1) = 0 THEN"
	"      DELETE FROM dedup d WHERE d.user_id = r.s AND d.n <= dn - win;"
	"     END IF;"
	"    END IF;"
	"   END IF;"
	"   out_id := mid; out_seq := coalesce(mseq, 0); RETURN NEXT;"
	"   IF tok IS NOT NULL THEN"
	"    ids := ids || out_id; seqs := seqs || out_seq; dups := dups || out_dup;"
	"   END IF;"
	"  END LOOP;"
	"  IF tok IS NOT NULL THEN"
	"   INSERT INTO writer_batches AS x(writer, last_batch, msg_ids, msg_seqs, msg_dups, at)"
	"    VALUES (w, b, ids, seqs, dups, extract(epoch FROM now()))"
	"    ON CONFLICT (writer) DO UPDATE SET last_batch = excluded.last_batch,"
	"     msg_ids = excluded.msg_ids, msg_seqs = excluded.msg_seqs,"
	"     msg_dups = excluded.msg_dups, at = excluded.at;"
	"  END IF;"
	" END $$;"
	"UPDATE chatroom_meta SET value = 3 WHERE key = 'schema_version';";

/* Version 4: uploaded files' bytes (store_pg_file.c), so that every node
 * serves every file: chunks of STORE_PG_FILE_CHUNK bytes keyed by the
 * file's stored_name, written before its files row exists (the row, added
 * last, is what makes a file visible). Stored uncompressed (EXTERNAL):
 * uploads are mostly compressed already. Every earlier version takes this
 * step, after version 3's. */
static const char store_pg_schema_v4_step[] =
	"CREATE TABLE file_chunks ("
	" stored_name text NOT NULL,"
	" idx integer NOT NULL,"
	" data bytea NOT NULL,"
	" written_at double precision NOT NULL,"
	" PRIMARY KEY (stored_name, idx));"
	"ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;"
	"CREATE INDEX files_by_stored_name ON files(stored_name);"
	"UPDATE chatroom_meta SET value = 4 WHERE key = 'schema_version';";

/* Version 5: a count of the changes to accounts, groups, memberships and
 * groups' kinds (chatroom_meta 'changes'), bumped by triggers in the
 * transaction of each change, so that a node compares its table with the
 * store only when the count moved (store_pg_changes, cluster.c). Only the
 * columns a node's table keeps count: a batch's last_seq and a password
 * hash do not. The count is a row, not a sequence: a reader sees it move
 * together with the change it counts, never before its commit. Written to
 * be run again. The row is locked from a transaction's first counted
 * statement to its commit, so changes to accounts and groups commit one at
 * a time (message batches never take it); two multi-statement changes that
 * also lock each other's rows (a group made with a member while Admin
 * deletes that member) may deadlock, and PostgreSQL then refuses one,
 * which is run again from its start (STORE_PG_BUSY_TRIES); only when that
 * keeps failing is it a database error for that request, nothing half
 * done. */
static const char store_pg_schema_v5_step[] =
	"INSERT INTO chatroom_meta(key, value) VALUES ('changes', 0) ON CONFLICT DO NOTHING;"
	"CREATE OR REPLACE FUNCTION chatroom_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN UPDATE chatroom_meta SET value = value + 1 WHERE key = 'changes'; RETURN NULL; END $$;"
	"CREATE OR REPLACE TRIGGER users_changed AFTER INSERT OR DELETE OR UPDATE OF username, banned"
	" ON users FOR EACH STATEMENT EXECUTE FUNCTION chatroom_changed();"
	"CREATE OR REPLACE TRIGGER groups_changed AFTER INSERT OR DELETE"
	" OR UPDATE OF name, banned, is_private"
	" ON groups FOR EACH STATEMENT EXECUTE FUNCTION chatroom_changed();"
	"CREATE OR REPLACE TRIGGER members_changed AFTER INSERT OR DELETE OR UPDATE"
	" ON members FOR EACH STATEMENT EXECUTE FUNCTION chatroom_changed();"
	"CREATE OR REPLACE TRIGGER chat_meta_changed AFTER INSERT OR DELETE OR UPDATE"
	" ON chat_meta FOR EACH STATEMENT EXECUTE FUNCTION chatroom_changed();"
	"UPDATE chatroom_meta SET value = 5 WHERE key = 'schema_version';";

/* Create the schema in an empty database, once however many nodes start at
 * the same time: they take one advisory lock and look again under it. */
static int store_pg_schema(store_pg_t *st, const char *conninfo, char *err, size_t errlen)
{
	char sql[1024], ts[64];
	int version = 0, s;

	s = store_pg__run(st, "starting the schema check", NULL,
	                 "BEGIN; SELECT pg_advisory_xact_lock(7283945001)", 0, NULL);
	if (s != STORE_OK)
		goto fail;
	s = store_pg_version(st, &version);
	if (s != STORE_OK)
		goto fail;
	if (store_pg_version_fits(version, conninfo, err, errlen) != STORE_OK) {
		store_pg__run(st, "rolling back", NULL, "ROLLBACK", 0, NULL);
		return STORE_ERR;
	}
	if (version == 0) {
		/* Future versions: a step per version from `version` up, here. */
		s = store_pg__run(st, "creating the schema", NULL, store_pg_schema_v1, 0, NULL);
		if (s != STORE_OK)
			goto fail;
		snprintf(ts, sizeof ts, "%.6f", store_pg__now());
		snprintf(sql, sizeof sql,
		         "INSERT INTO users(id, username, pwhash, banned, created_at) "
		         "VALUES (%d, 'Admin', '', 0, %s);"
		         "INSERT INTO groups(name, is_private, banned, created_at) VALUES ('public', 0, 0, %s);"
		         "INSERT INTO members(group_id, user_id) SELECT id, %d FROM groups WHERE name = 'public';"
		         "INSERT INTO chatroom_meta(key, value) VALUES ('schema_version', %d);",
		         STORE_ADMIN_ID, ts, ts, STORE_ADMIN_ID, STORE_PG_SCHEMA_VERSION);
		s = store_pg__run(st, "creating Admin and public", NULL, sql, 0, NULL);
		if (s != STORE_OK)
			goto fail;
		log_info("store: created the chatroomd schema (version %d) in PostgreSQL",
		         STORE_PG_SCHEMA_VERSION);
		version = 1;
	}
	if (version == 1) {
		s = store_pg__run(st, "upgrading the schema to version 2", NULL, store_pg_schema_v2_step,
		                  0, NULL);
		if (s != STORE_OK)
			goto fail;
		version = 2;
	}
	if (version == 2) {
		s = store_pg__run(st, "upgrading the schema to version 3", NULL, store_pg_schema_v3_step,
		                  0, NULL);
		if (s != STORE_OK)
			goto fail;
		version = 3;
	}
	if (version == 3) {
		s = store_pg__run(st, "upgrading the schema to version 4", NULL, store_pg_schema_v4_step,
		                  0, NULL);
		if (s != STORE_OK)
			goto fail;
		version = 4;
	}
	if (version == 4) {
		s = store_pg__run(st, "upgrading the schema to version 5", NULL, store_pg_schema_v5_step,
		                  0, NULL);
		if (s != STORE_OK)
			goto fail;
	}
	s = store_pg__run(st, "committing the schema", NULL, "COMMIT", 0, NULL);
	if (s != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	store_pg_errf(err, errlen, "PostgreSQL (%s): cannot create or check the schema: %s",
	              conninfo, PQerrorMessage(st->conn));
	store_pg__run(st, "rolling back", NULL, "ROLLBACK", 0, NULL);
	return STORE_ERR;
}

/* The random half of this connection's batch tokens: another node, or
 * this one before a restart, has other bits (getrandom(); should it fail,
 * the time and process id). */
static void store_pg_token_seed(store_pg_t *st)
{
	if (getrandom(st->token_rand, sizeof st->token_rand, 0) != (ssize_t)sizeof st->token_rand) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		st->token_rand[0] = ((uint64_t)tv.tv_sec << 20) ^ (uint64_t)tv.tv_usec;
		st->token_rand[1] = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)st;
	}
}

int store_pg_open(const char *conninfo, store_pg_t **out, char *err, size_t errlen)
{
	store_pg_t *st = calloc(1, sizeof *st);
	*out = NULL;
	if (!st) {
		store_pg_errf(err, errlen, "PostgreSQL: out of memory");
		return STORE_ERR;
	}
	st->base.be = &store_pg_backend;
	pthread_mutex_init(&st->lock, NULL);
	store_pg_token_seed(st);
	st->conn = store_pg_connect(conninfo, err, errlen);
	if (!st->conn || store_pg_schema(st, conninfo, err, errlen) != STORE_OK) {
		store_pg_close(st);
		return STORE_ERR;
	}
	/* writers of earlier starts: nothing retries their batches any more
	 * (a failure here is logged and changes nothing else) */
	store_pg__q(st, "forgetting old writers' last batches", NULL, 0,
	            "DELETE FROM writer_batches WHERE at < $1", "d",
	            store_pg__now() - STORE_PG_WRITER_KEEP_S);
	/* a failure is logged; the next node's start tries again */
	store_pg__file_orphans_sweep(st);
	*out = st;
	return STORE_OK;
}

void store_pg_close(store_pg_t *st)
{
	if (!st)
		return;
	if (st->conn)
		PQfinish(st->conn);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int store_pg_check(const char *conninfo, char *err, size_t errlen)
{
	store_pg_t st = { .conn = NULL };
	int version = 0, s;

	st.conn = store_pg_connect(conninfo, err, errlen);
	if (!st.conn)
		return STORE_ERR;
	s = store_pg_version(&st, &version);
	if (s != STORE_OK)
		store_pg_errf(err, errlen, "PostgreSQL (%s): cannot read the schema version: %s",
		              conninfo, PQerrorMessage(st.conn));
	else
		s = store_pg_version_fits(version, conninfo, err, errlen);
	PQfinish(st.conn);
	return s;
}

/* ---- messages --------------------------------------------------------- */

/* Tests only (store_pg_test_lose_replies): replies still to be lost. */
static int store_pg_lose_replies;

void store_pg_test_lose_replies(int n)
{
	__atomic_store_n(&store_pg_lose_replies, n, __ATOMIC_SEQ_CST);
}

/* Tests only: when a reply is to be lost, end this connection's server
 * process after the batch committed and report the batch as failed. */
static int store_pg_lose_reply(store_pg_t *st)
{
	int left = __atomic_load_n(&store_pg_lose_replies, __ATOMIC_SEQ_CST);
	while (left > 0 && !__atomic_compare_exchange_n(&store_pg_lose_replies, &left, left - 1, 0,
	                                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	if (left <= 0)
		return 0;
	store_pg__run(st, "ending the connection (test)", NULL,
	              "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL);
	return 1;
}

void store_pg_set_dedup_window(store_pg_t *st, int window)
{
	pthread_mutex_lock(&st->lock);
	st->dedup_window = window > 0 ? window : 0;
	pthread_mutex_unlock(&st->lock);
}

void store_pg_batch_token(store_pg_t *st, char *buf, size_t len)
{
	pthread_mutex_lock(&st->lock);
	snprintf(buf, len, "%016llx%016llx-%llu", (unsigned long long)st->token_rand[0],
	         (unsigned long long)st->token_rand[1], (unsigned long long)++st->token_next);
	pthread_mutex_unlock(&st->lock);
}

int store_pg_messages_append(store_pg_t *st, const store_msg_t *msgs, size_t n,
                             struct store_pg_stored *out)
{
	return store_pg_batch_append(st, msgs, n, NULL, out);
}

int store_pg_batch_append(store_pg_t *st, const store_msg_t *msgs, size_t n, const char *token,
                          struct store_pg_stored *out)
{
	json_object *batch;
	char win[16];
	const char *param[3] = { NULL, token, win };
	PGresult *r = NULL;
	int s;

	if (n == 0)
		return STORE_OK;
	batch = json_object_new_array_ext((int)n);
	if (!batch)
		return STORE_ERR;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "g", json_object_new_int64(msgs[i].group_id));
		json_object_object_add(o, "s", json_object_new_int64(msgs[i].sender_id));
		json_object_object_add(o, "t", json_object_new_double(msgs[i].ts));
		json_object_object_add(o, "n", json_object_new_string(msgs[i].sender_name ?
		                                                      msgs[i].sender_name : ""));
		json_object_object_add(o, "c", json_object_new_string(msgs[i].content ?
		                                                      msgs[i].content : ""));
		if (msgs[i].client_msg_id)
			json_object_object_add(o, "k", json_object_new_string(msgs[i].client_msg_id));
		json_object_array_add(batch, o);
	}
	param[0] = json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN);

	pthread_mutex_lock(&st->lock);
	snprintf(win, sizeof win, "%d", st->dedup_window);
	/* one statement is one transaction: committed when it returns */
	s = store_pg__run(st, "storing messages", &r,
	                  "SELECT out_id, out_seq, out_dup FROM chatroom_append($1::jsonb, $2, $3)", 3,
	                  param);
	if (s == STORE_EXISTS)
		s = STORE_BUSY; /* a resend stored by another node meanwhile: the retry finds it */
	if (s == STORE_OK && store_pg_lose_reply(st)) {
		PQclear(r);
		r = NULL;
		s = STORE_ERR;
	}
	if (s == STORE_OK) {
		if ((size_t)PQntuples(r) != n) {
			log_error("store: PostgreSQL stored %d message(s) of a batch of %zu", PQntuples(r), n);
			s = STORE_ERR;
		} else {
			for (size_t i = 0; i < n; i++) {
				out[i].id = store_pg__int(r, (int)i, 0);
				out[i].seq = store_pg__int(r, (int)i, 1);
				out[i].duplicate = PQgetvalue(r, (int)i, 2)[0] == 't';
			}
		}
	}
	pthread_mutex_unlock(&st->lock);
	PQclear(r);
	json_object_put(batch);
	return s;
}

#define STORE_PG_MSG_COLS "id, group_id, sender_id, ts, sender_name, content, client_msg_id, seq"

/* Pass each row of r (STORE_PG_MSG_COLS) to cb or cb_seq. */
static void store_pg_rows(PGresult *r, int (*cb)(void *, const store_msg_t *),
                          int (*cb_seq)(void *, const store_msg_t *, int64_t), void *ctx)
{
	for (int i = 0; i < PQntuples(r); i++) {
		store_msg_t m = {
			.id = store_pg__int(r, i, 0),
			.group_id = store_pg__int(r, i, 1),
			.sender_id = store_pg__int(r, i, 2),
			.ts = strtod(PQgetvalue(r, i, 3), NULL),
			.sender_name = PQgetvalue(r, i, 4),
			.content = PQgetvalue(r, i, 5),
			.client_msg_id = PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
		};
		if (cb ? cb(ctx, &m) : cb_seq(ctx, &m, store_pg__int(r, i, 7)))
			break;
	}
}

int store_pg_history(store_t *base, int64_t group_id, int64_t after_id, int64_t before_id,
                     int limit, int (*cb)(void *ctx, const store_msg_t *m), void *ctx)
{
	store_pg_t *st = store_pg_of(base);
	char g[24], a[24], b[24], l[16];
	const char *p[3] = { g, NULL, l };
	const char *sql;
	PGresult *r;
	int s;

	snprintf(g, sizeof g, "%lld", (long long)group_id);
	snprintf(l, sizeof l, "%d", limit);
	if (after_id != 0) {
		snprintf(a, sizeof a, "%lld", (long long)(after_id == STORE_FROM_START ? 0 : after_id));
		p[1] = a;
		sql = "SELECT " STORE_PG_MSG_COLS " FROM messages WHERE group_id = $1 AND id > $2 "
		      "ORDER BY id LIMIT $3";
	} else if (before_id > 0) {
		snprintf(b, sizeof b, "%lld", (long long)before_id);
		p[1] = b;
		sql = "SELECT * FROM (SELECT " STORE_PG_MSG_COLS " FROM messages WHERE group_id = $1 "
		      "AND id < $2 ORDER BY id DESC LIMIT $3) x ORDER BY id";
	} else {
		p[1] = "0";
		sql = "SELECT * FROM (SELECT " STORE_PG_MSG_COLS " FROM messages WHERE group_id = $1 "
		      "AND $2::bigint = 0 ORDER BY id DESC LIMIT $3) x ORDER BY id";
	}
	pthread_mutex_lock(&st->lock);
	s = store_pg__run(st, "reading history", &r, sql, 3, p);
	if (s == STORE_OK) {
		store_pg_rows(r, cb, NULL, ctx);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_since_seq(store_pg_t *st, int64_t group_id, int64_t after_seq, int limit,
                       int (*cb)(void *ctx, const store_msg_t *m, int64_t seq), void *ctx)
{
	char g[24], a[24], l[16];
	const char *p[3] = { g, a, l };
	PGresult *r;
	int s;

	snprintf(g, sizeof g, "%lld", (long long)group_id);
	snprintf(a, sizeof a, "%lld", (long long)after_seq);
	snprintf(l, sizeof l, "%d", limit);
	pthread_mutex_lock(&st->lock);
	s = store_pg__run(st, "reading missed messages", &r,
	                 "SELECT " STORE_PG_MSG_COLS " FROM messages WHERE group_id = $1 AND seq > $2 "
	                 "ORDER BY seq LIMIT $3",
	                 3, p);
	if (s == STORE_OK) {
		store_pg_rows(r, NULL, cb, ctx);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

/* A query with one bigint parameter (or none) returning one bigint. */
static int store_pg_scalar(store_pg_t *st, const char *what, const char *sql, const int64_t *p1,
                           int64_t *out)
{
	char a[24];
	const char *p = a;
	PGresult *r;
	int s;

	if (p1)
		snprintf(a, sizeof a, "%lld", (long long)*p1);
	pthread_mutex_lock(&st->lock);
	s = store_pg__run(st, what, &r, sql, p1 ? 1 : 0, p1 ? &p : NULL);
	if (s == STORE_OK) {
		if (PQntuples(r) == 0)
			s = STORE_NOTFOUND;
		else
			*out = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_last_seq(store_pg_t *st, int64_t group_id, int64_t *seq)
{
	return store_pg_scalar(st, "reading a group's last seq",
	                       "SELECT last_seq FROM groups WHERE id = $1", &group_id, seq);
}

int store_pg_changes(store_pg_t *st, int64_t *count)
{
	return store_pg_scalar(st, "reading the count of changes",
	                       "SELECT value FROM chatroom_meta WHERE key = 'changes'", NULL, count);
}

int store_pg_groups_seq(store_pg_t *st, int (*cb)(void *ctx, int64_t group_id, int64_t seq),
                        void *ctx)
{
	PGresult *r;
	pthread_mutex_lock(&st->lock);
	int s = store_pg__run(st, "reading the groups' seq", &r,
	                      "SELECT id, last_seq FROM groups ORDER BY id", 0, NULL);
	if (s == STORE_OK) {
		for (int i = 0; i < PQntuples(r); i++)
			if (cb(ctx, store_pg__int(r, i, 0), store_pg__int(r, i, 1)))
				break;
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}

int store_pg_last_message_id(store_t *base, int64_t *id)
{
	store_pg_t *st = store_pg_of(base);
	/* the sequence, not max(id): ids of deleted groups' messages are
	 * never handed out again either */
	return store_pg_scalar(st, "reading the last message id",
	                       "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM message_ids",
	                       NULL, id);
}

int store_pg_reserve_message_ids(store_t *base, int64_t upto)
{
	store_pg_t *st = store_pg_of(base);
	/* ids come from the sequence in the batch's transaction: nothing is
	 * handed out ahead of the store, so there is nothing to reserve */
	(void)st;
	(void)upto;
	return STORE_OK;
}

int store_pg_dedup_get(store_t *base, int64_t user_id, const char *client_msg_id,
                       int64_t *message_id, int64_t *group_id)
{
	store_pg_t *st = store_pg_of(base);
	char u[24];
	const char *p[2] = { u, client_msg_id };
	PGresult *r;
	int s;

	snprintf(u, sizeof u, "%lld", (long long)user_id);
	pthread_mutex_lock(&st->lock);
	s = store_pg__run(st, "looking up a client_msg_id", &r,
	                 "SELECT message_id, group_id FROM dedup "
	                 "WHERE user_id = $1 AND client_msg_id = $2",
	                 2, p);
	if (s == STORE_OK) {
		if (PQntuples(r) == 0) {
			s = STORE_NOTFOUND;
		} else {
			*message_id = store_pg__int(r, 0, 0);
			*group_id = store_pg__int(r, 0, 1);
		}
		PQclear(r);
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}


/* ---- the backend of store.h ------------------------------------------ */

store_t *store_pg_store(store_pg_t *st)
{
	return &st->base;
}

store_pg_t *store_pg_from(store_t *st)
{
	return st && st->be == &store_pg_backend ? store_pg_of(st) : NULL;
}

static int store_pg_claims(const char *path)
{
	return strncmp(path, STORE_PG_PREFIX, strlen(STORE_PG_PREFIX)) == 0 ||
	       strncmp(path, "postgres://", 11) == 0;
}

static int store_pg_backend_open(const char *path, unsigned flags, store_t **out, char *err,
                                 size_t errlen)
{
	store_pg_t *st;
	const char *conninfo = path;
	(void)flags; /* nothing to integrity-check: the server keeps its own */
	if (strncmp(path, "postgresql://", 13) != 0 && strncmp(path, "postgres://", 11) != 0)
		conninfo = path + strlen(STORE_PG_PREFIX);
	int s = store_pg_open(conninfo, &st, err, errlen);
	*out = s == STORE_OK ? &st->base : NULL;
	return s;
}

static void store_pg_backend_close(store_t *base)
{
	store_pg_close(store_pg_of(base));
}

static int store_pg_append_given_ids(store_t *base, const store_msg_t *msgs, size_t n,
                                     int dedup_window)
{
	(void)base;
	(void)msgs;
	(void)dedup_window;
	log_error("store: %zu message(s) with ids of their own offered to PostgreSQL, which "
	          "takes the ids itself (the writer's cluster mode); refused",
	          n);
	return STORE_ERR;
}

const struct store_backend store_pg_backend = {
	.name = "postgresql",
	.claims = store_pg_claims,
	.open = store_pg_backend_open,
	.close = store_pg_backend_close,
	.user_create = store_pg_user_create,
	.user_by_name = store_pg_user_by_name,
	.user_name_taken = store_pg_user_name_taken,
	.user_by_id = store_pg_user_by_id,
	.user_set_pwhash = store_pg_user_set_pwhash,
	.user_set_banned = store_pg_user_set_banned,
	.user_rename = store_pg_user_rename,
	.user_delete = store_pg_user_delete,
	.user_count = store_pg_user_count,
	.users_foreach = store_pg_users_foreach,
	.group_create = store_pg_group_create,
	.group_by_name = store_pg_group_by_name,
	.group_by_id = store_pg_group_by_id,
	.group_set_banned = store_pg_group_set_banned,
	.group_rename = store_pg_group_rename,
	.group_delete = store_pg_group_delete,
	.groups_foreach = store_pg_groups_foreach,
	.member_add = store_pg_member_add,
	.member_remove = store_pg_member_remove,
	.members_foreach = store_pg_members_foreach,
	.chat_create = store_pg_chat_create,
	.chat_meta_foreach = store_pg_chat_meta_foreach,
	.messages_append = store_pg_append_given_ids,
	.history = store_pg_history,
	.last_message_id = store_pg_last_message_id,
	.reserve_message_ids = store_pg_reserve_message_ids,
	.message_count = store_pg_message_count,
	.dedup_get = store_pg_dedup_get,
	.file_add = store_pg_file_add,
	.file_get = store_pg_file_get,
	.file_delete = store_pg_file_delete,
	.files_foreach = store_pg_files_foreach,
	.file_chunk = STORE_PG_FILE_CHUNK,
	.file_chunk_put = store_pg_file_chunk_put,
	.file_chunk_get = store_pg_file_chunk_get,
	.file_chunks_drop = store_pg_file_chunks_drop,
};
