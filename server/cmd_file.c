/* cmd_file.c - file upload, download and listing. The file's bytes travel
 * raw on the same connection, between two JSON lines, exactly as the
 * reference frames them (see chatroom-protocol(7)):
 *
 *   upload:   request -> file_upload_response "ready" -> file_size raw bytes
 *             -> file_notification to the group -> file_upload_response
 *   download: request -> file_download_response -> "===FILE_DATA_START===\n"
 *             + bytes + "\n===FILE_DATA_END===\n" -> file_download_response
 *
 * With SQLite, files live in <DataDir>/<group id>/<generated name>, which
 * this file owns; in cluster mode (PostgreSQL) the database keeps their
 * bytes in chunks (state_file_chunk_*), so that every node serves every
 * file, and the data directory holds none. What describes them is the
 * state layer's (state_file_*). The name the client gave is only ever
 * stored as text, so no client can choose a path. A
 * transfer runs in the worker serving the connection, holding that worker
 * (not the table lock nor a group lock) while bytes move; MaxTransfers
 * bounds how many run at once, so workers stay free for everybody's chat. */
#include "config.h"
#include "broadcast.h"
#include "cmd.h"
#include "catalog.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "state.h"
#include "table.h"
#include "tunables.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CMD_FILE_NAME_MAX 255          /* bytes of the filename a client gives */
#define CMD_FILE_PATH_MAX 4096
/* The reference client's reader polls with a 1 s timeout and switches to
 * raw mode between two polls: a legacy client needs the start marker a
 * little over 1 s after the first download response, and the closing
 * response about 0.5 s after the end marker. */
#define CMD_FILE_LEGACY_START_MS 1100
#define CMD_FILE_LEGACY_END_MS 500

static const char cmd_file_start_marker[] = "===FILE_DATA_START===\n";
static const char cmd_file_end_marker[] = "\n===FILE_DATA_END===\n";

/* Transfers in progress, bounded by MaxTransfers. */
static atomic_int cmd_file_active;

/* Take a transfer slot, or answer why not. */
static int cmd_file_slot(struct session *s)
{
	int max = CONF(max_transfers);
	if (max <= 0)
		max = srv_conf->workers / 2 > 0 ? srv_conf->workers / 2 : 1;
	if (atomic_fetch_add(&cmd_file_active, 1) >= max) {
		atomic_fetch_sub(&cmd_file_active, 1);
		log_info("%s (%s): file transfer refused: %d already in progress", s->c->addr,
		         s->c->username, max);
		session_error(s, PROTO_E_SERVER, CAT_TRANSFERS_BUSY);
		return 0;
	}
	return 1;
}

static void cmd_file_slot_free(void)
{
	atomic_fetch_sub(&cmd_file_active, 1);
}

static int cmd_file_timeout_ms(void)
{
	return CONF(transfer_timeout) * 1000;
}

/* The folder of group gid's files. */
static void cmd_file_dir(int64_t gid, char *out, size_t len)
{
	snprintf(out, len, "%s/%lld", srv_conf->data_dir, (long long)gid);
}

static void cmd_file_path(int64_t gid, const char *stored_name, char *out, size_t len)
{
	snprintf(out, len, "%s/%lld/%s", srv_conf->data_dir, (long long)gid, stored_name);
}

/* A name no client chose: 32 random hex digits. */
static int cmd_file_new_name(char *out, size_t len)
{
	unsigned char r[16];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (len < 2 * sizeof r + 1)
		return -1;
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* The filename a client gave: text for lists, never a path. -1, or the
 * catalog entry that says why not. */
static int cmd_file_name_bad(const char *name, size_t len)
{
	if (len == 0)
		return CAT_FILENAME_EMPTY;
	if (len > CMD_FILE_NAME_MAX)
		return CAT_FILENAME_LONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f)
			return CAT_FILENAME_CONTROL;
	}
	return -1;
}

/* The extension of name as the reference names it in its refusal
 * (Python's os.path.splitext(name)[1]: from the last '.' of the last path
 * element, not a leading one; "" when none); points into name. */
/* The last path element of name (after the last '/' or '\\'), without its
 * leading dots: what a file is known by, whatever path the client sent. */
static const char *cmd_file_last_element(const char *name)
{
	const char *base = name;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	while (*base == '.')
		base++;
	return base;
}

static const char *cmd_file_ext(const char *name)
{
	const char *dot = strrchr(cmd_file_last_element(name), '.');
	return dot ? dot : "";
}

/* Whether an upload of size bytes leaves MinFreeSpace free on the data
 * folder's file system. A failing statvfs() does not refuse (the write
 * itself then reports a full disk). */
static int cmd_file_space_ok(int64_t size)
{
	long long min = CONF(min_free_space);
	struct statvfs sv;
	if (min <= 0 || statvfs(srv_conf->data_dir, &sv) != 0)
		return 1;
	unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	return avail >= (unsigned long long)size + (unsigned long long)min;
}

/* The name a file is listed and sent back with: its last path element
 * (after the last '/' or '\\'), without leading dots, control characters
 * as '_' (only an old database holds any: uploads with them are refused),
 * in place. A client that saves a file under the name it is given then
 * never writes outside its folder nor a hidden file. Empty when nothing is
 * left. */
static void cmd_file_basename(char *name)
{
	const char *base = cmd_file_last_element(name);
	memmove(name, base, strlen(base) + 1);
	for (unsigned char *p = (unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '_';
}

/* Whether the extension of name (as Python's os.path.splitext sees it: after
 * the last '.' of the last path element, not a leading one) is allowed. */
static int cmd_file_ext_ok(const char *name)
{
	const char *dot = cmd_file_ext(name);
	if (!dot[0] || !dot[1])
		return 0;
	const char *conf = __atomic_load_n(&srv_conf->file_extensions, __ATOMIC_ACQUIRE);
	char *list = strdup(conf ? conf : ""), *save = NULL;
	int ok = 0;
	if (!list)
		return 0;
	for (char *t = strtok_r(list, ", \t", &save); t && !ok; t = strtok_r(NULL, ", \t", &save)) {
		while (*t == '.')
			t++;
		ok = *t && strcasecmp(t, dot + 1) == 0;
	}
	free(list);
	return ok;
}

/* What the table says about group gid (0: the current group) for user uid. */
struct cmd_file_group {
	int64_t id;
	char name[160];
	int found, member, banned;
	int user_banned;
};

static void cmd_file_group_get(struct session *s, int64_t gid, struct cmd_file_group *out)
{
	memset(out, 0, sizeof *out);
	table_rdlock();
	group_t *g = gid > 0 ? table_group(gid) : s->c->cur;
	out->user_banned = table_user_banned(s->c->user_id);
	if (g) {
		out->found = 1;
		out->id = g->id;
		snprintf(out->name, sizeof out->name, "%s", g->name);
		out->member = table_is_member(g, s->c->user_id);
		out->banned = g->banned;
	}
	table_unlock();
}

/* Answer 1004/1005 unless the session's user may use group gid's files. */
static int cmd_file_group_ok(struct session *s, int64_t gid, struct cmd_file_group *g)
{
	cmd_file_group_get(s, gid, g);
	if (!g->found) {
		if (gid > 0)
			session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_NOT_FOUND);
		else
			session_error(s, PROTO_E_INVALID, CAT_NO_CURRENT_CHAT_FILE);
		return 0;
	}
	if (!g->member) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER);
		return 0;
	}
	return 1;
}

/* where the bytes are -------------------------------------------------------- */

/* Where a file's bytes are: the data directory's file (chunk 0, fd), or
 * the database's chunks (chunk > 0, moved through buf). */
struct cmd_file_bytes {
	const state_file_t *f;
	size_t chunk;      /* > 0: the database keeps the bytes, in chunks this big */
	int fd;            /* the data directory's file, or -1 */
	char *buf;         /* one chunk */
};

/* Find out where f's bytes are (and take a chunk's buffer); 0, or -1
 * (logged). */
static int cmd_file_bytes_init(struct cmd_file_bytes *b, const state_file_t *f)
{
	memset(b, 0, sizeof *b);
	b->f = f;
	b->fd = -1;
	b->chunk = state_file_chunk_size();
	if (b->chunk > 0 && !(b->buf = malloc(b->chunk))) {
		log_error("files: no memory for a transfer's chunk");
		return -1;
	}
	return 0;
}

static void cmd_file_bytes_free(struct cmd_file_bytes *b)
{
	if (b->fd >= 0)
		close(b->fd);
	free(b->buf);
	b->fd = -1;
	b->buf = NULL;
}

/* An upload's bytes, put into the data directory's new file or into the
 * database's chunks one by one as they fill. */
struct cmd_file_sink {
	struct cmd_file_bytes b;
	char path[CMD_FILE_PATH_MAX]; /* the data directory's file */
	size_t fill;                  /* bytes in b.buf */
	int64_t idx;                  /* the next chunk's number */
};

/* Get ready to take f's bytes; 0, or -1 (logged). */
static int cmd_file_sink_open(struct cmd_file_sink *k, const state_file_t *f)
{
	char dir[CMD_FILE_PATH_MAX];
	k->fill = 0;
	k->idx = 0;
	k->path[0] = '\0';
	if (cmd_file_bytes_init(&k->b, f) < 0)
		return -1;
	if (k->b.chunk > 0)
		return 0;
	cmd_file_dir(f->group_id, dir, sizeof dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		log_error("files: cannot prepare %s for an upload: %s", dir, strerror(errno));
		return -1;
	}
	cmd_file_path(f->group_id, f->stored_name, k->path, sizeof k->path);
	k->b.fd = open(k->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (k->b.fd < 0) {
		log_error("files: cannot create %s: %s", k->path, strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_file_sink_flush(struct cmd_file_sink *k)
{
	if (k->fill == 0)
		return 0;
	if (state_file_chunk_put(k->b.f->stored_name, k->idx, k->b.buf, k->fill) != STATE_OK)
		return -1; /* logged by the store */
	k->idx++;
	k->fill = 0;
	return 0;
}

/* session_read_raw_cb()'s put. */
static int cmd_file_sink_put(void *ctx, const void *data, size_t n)
{
	struct cmd_file_sink *k = ctx;
	const char *p = data;
	if (k->b.chunk == 0) {
		while (n > 0) {
			ssize_t w = write(k->b.fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				log_error("files: writing %s failed: %s", k->path, strerror(errno));
				return -1;
			}
			p += w;
			n -= (size_t)w;
		}
		return 0;
	}
	while (n > 0) {
		size_t take = k->b.chunk - k->fill < n ? k->b.chunk - k->fill : n;
		memcpy(k->b.buf + k->fill, p, take);
		k->fill += take;
		p += take;
		n -= take;
		if (k->fill == k->b.chunk && cmd_file_sink_flush(k) < 0)
			return -1;
	}
	return 0;
}

/* All bytes arrived (ok) or not: store the last ones and let go. 0 when
 * every byte is stored. */
static int cmd_file_sink_close(struct cmd_file_sink *k, int ok)
{
	int rc = 0;
	if (ok && k->b.chunk > 0)
		rc = cmd_file_sink_flush(k);
	if (k->b.fd >= 0) {
		if (close(k->b.fd) < 0 && ok) {
			log_error("files: writing %s failed: %s", k->path, strerror(errno));
			rc = -1;
		}
		k->b.fd = -1;
	}
	cmd_file_bytes_free(&k->b);
	return rc;
}

/* Remove what an upload that does not become a file stored. */
static void cmd_file_sink_discard(struct cmd_file_sink *k)
{
	if (k->b.chunk > 0)
		state_file_chunks_drop(k->b.f->stored_name); /* a failure is logged; swept later */
	else if (k->path[0])
		unlink(k->path);
}

/* A download's bytes: chunk 0 (or the file) found before the transfer
 * starts, so that a file whose bytes are missing gets an error. */
struct cmd_file_source {
	struct cmd_file_bytes b;
	int64_t size;
	size_t first;    /* the length of chunk 0, in b.buf */
};

/* Find f's bytes and their size; 0, or -1 when they are missing (logged). */
static int cmd_file_source_open(struct cmd_file_source *k, const state_file_t *f)
{
	char path[CMD_FILE_PATH_MAX];
	struct stat sb;
	k->first = 0;
	k->size = 0;
	if (cmd_file_bytes_init(&k->b, f) < 0)
		return -1;
	if (k->b.chunk > 0) {
		if (state_file_chunk_get(f->stored_name, 0, k->b.buf, k->b.chunk, &k->first) !=
		    STATE_OK) {
			log_error("files: file %lld (%s): its bytes are missing from the database",
			          (long long)f->id, f->filename);
			return -1;
		}
		k->size = f->size;
		return 0;
	}
	cmd_file_path(f->group_id, f->stored_name, path, sizeof path);
	k->b.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (k->b.fd < 0 || fstat(k->b.fd, &sb) < 0) {
		log_error("files: file %lld (%s) is missing: %s: %s", (long long)f->id, f->filename,
		          path, strerror(errno));
		return -1;
	}
	k->size = (int64_t)sb.st_size;
	return 0;
}

/* Write all the file's bytes to the client: SESSION_RAW_*. A chunk that
 * is gone (the file deleted meanwhile) is SESSION_RAW_LOCAL. */
static int cmd_file_source_send(struct session *s, struct cmd_file_source *k, int timeout)
{
	if (k->b.chunk == 0)
		return session_write_raw_fd(s, k->b.fd, (size_t)k->size, timeout);
	int64_t left = k->size;
	size_t len = k->first;
	for (int64_t idx = 0; left > 0; idx++) {
		if (idx > 0 && state_file_chunk_get(k->b.f->stored_name, idx, k->b.buf, k->b.chunk,
		                                    &len) != STATE_OK)
			return SESSION_RAW_LOCAL;
		if (len == 0 || (int64_t)len > left)
			return SESSION_RAW_LOCAL;
		int rc = session_write_raw(s, k->b.buf, len, timeout);
		if (rc != SESSION_RAW_OK)
			return rc;
		left -= (int64_t)len;
	}
	return SESSION_RAW_OK;
}

/* upload ------------------------------------------------------------------ */

static json_object *cmd_upload_response(const char *message, int64_t file_id)
{
	json_object *o = proto_new("file_upload_response");
	proto_set_bool(o, "success", 1);
	proto_set_string(o, "message", message);
	if (file_id > 0)
		proto_set_int(o, "file_id", file_id);
	else
		proto_set_null(o, "file_id");
	return o;
}

/* The file_notification: a chat_message with the reference's fields, its
 * content in each recipient's language. */
static void cmd_file_notify(const state_file_t *f)
{
	json_object *o[CAT_NLANGS];
	for (int l = 0; l < CAT_NLANGS; l++) {
		char text[1400];
		o[l] = proto_new("file_notification");
		proto_set_int(o[l], "sender_id", f->uploader_id);
		proto_set_string(o[l], "sender_username", f->uploader_name);
		proto_set_int(o[l], "chat_group_id", f->group_id);
		proto_set_string(o[l], "chat_group_name", "");
		proto_set_string(o[l], "content", catalog_format(text, sizeof text, l, CAT_FILE_NOTIFICATION,
		                                                  f->uploader_name, f->filename,
		                                                  (long long)(f->size / 1024)));
		proto_set_null(o[l], "message_id");
	}
	table_rdlock();
	group_t *g = table_group(f->group_id);
	if (g)
		bcast_group(g, o);
	table_unlock();
	for (int l = 0; l < CAT_NLANGS; l++)
		json_object_put(o[l]);
}

void cmd_file_upload(struct session *s, json_object *req)
{
	const char *name = NULL;
	int64_t size = 0, gid = 0;
	char path[CMD_FILE_PATH_MAX];
	state_file_t f;
	int why;

	/* types checked by cmd.c */
	proto_get_string(req, "filename", &name);
	proto_get_int(req, "file_size", &size);
	proto_get_int(req, "chat_group_id", &gid);
	if (size <= 0) {
		session_error(s, PROTO_E_INVALID, CAT_FILE_SIZE_ZERO);
		return;
	}
	/* the reference's order: size, then type, then membership */
	long long max = CONF(max_file_size);
	if (size > max) {
		session_error(s, PROTO_E_FILE_TOO_LARGE, CAT_FILE_TOO_LARGE, max / (1024 * 1024), max);
		return;
	}
	json_object *nj = NULL;
	json_object_object_get_ex(req, "filename", &nj);
	if ((why = cmd_file_name_bad(name, (size_t)json_object_get_string_len(nj))) >= 0) {
		session_error(s, PROTO_E_INVALID, why);
		return;
	}
	if (!cmd_file_ext_ok(name)) {
		char ext[CMD_FILE_NAME_MAX + 1];
		snprintf(ext, sizeof ext, "%s", cmd_file_ext(name));
		for (char *p = ext; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		session_error(s, PROTO_E_INVALID, CAT_FILE_TYPE, ext,
		              __atomic_load_n(&srv_conf->file_extensions, __ATOMIC_ACQUIRE));
		return;
	}
	struct cmd_file_group g;
	if (!cmd_file_group_ok(s, gid, &g))
		return;
	if (g.user_banned) {
		session_error(s, PROTO_E_PERMISSION, CAT_USER_BANNED_FILE);
		return;
	}
	if (g.banned) {
		session_error(s, PROTO_E_PERMISSION, CAT_CHAT_BANNED_FILE);
		return;
	}

	/* in cluster mode the bytes go to the database, not the data folder */
	if (state_file_chunk_size() == 0 && !cmd_file_space_ok(size)) {
		log_warn("%s (%s): upload of %lld bytes refused: the data folder's file system is low "
		         "on space (MinFreeSpace)", s->c->addr, s->c->username, (long long)size);
		session_error(s, PROTO_E_SERVER, CAT_FILE_LOW_SPACE);
		return;
	}

	memset(&f, 0, sizeof f);
	f.group_id = g.id;
	f.uploader_id = s->c->user_id;
	f.size = size;
	snprintf(f.uploader_name, sizeof f.uploader_name, "%s", s->c->username);
	snprintf(f.filename, sizeof f.filename, "%s", name);
	cmd_file_basename(f.filename);
	if (!f.filename[0]) {
		session_error(s, PROTO_E_INVALID, CAT_FILE_NAME_EMPTY);
		return;
	}
	if (cmd_file_new_name(f.stored_name, sizeof f.stored_name) < 0) {
		log_error("files: cannot name an upload: %s", strerror(errno));
		session_error(s, PROTO_E_SERVER, CAT_FILES_UNAVAILABLE);
		return;
	}
	if (!cmd_file_slot(s))
		return;
	struct cmd_file_sink sink;
	if (cmd_file_sink_open(&sink, &f) < 0) {
		cmd_file_sink_close(&sink, 0);
		cmd_file_slot_free();
		session_error(s, PROTO_E_SERVER, CAT_FILES_UNAVAILABLE);
		return;
	}
	if (sink.b.chunk > 0)
		snprintf(path, sizeof path, "%s in the database", f.stored_name);
	else
		snprintf(path, sizeof path, "%s", sink.path);

	log_info("%s: %s uploads %s (%lld bytes) to chat %s as %s", s->c->addr, s->c->username, f.filename,
	         (long long)size, g.name, path);
	char text[1400];
	session_reply(s, cmd_upload_response(session_text(s, text, sizeof text, CAT_UPLOAD_READY), 0));
	int rc = session_read_raw_cb(s, cmd_file_sink_put, &sink, (size_t)size, cmd_file_timeout_ms());
	if (cmd_file_sink_close(&sink, rc == SESSION_RAW_OK) < 0 && rc == SESSION_RAW_OK)
		rc = SESSION_RAW_LOCAL;
	cmd_file_slot_free();
	if (rc != SESSION_RAW_OK) {
		cmd_file_sink_discard(&sink);
		switch (rc) {
		case SESSION_RAW_LOCAL:
			log_error("files: storing %s failed", path);
			session_error(s, PROTO_E_SERVER, CAT_FILE_SAVE_FAILED);
			break;
		case SESSION_RAW_STALLED:
			log_warn("%s (%s): upload of %s stalled; partial file removed", s->c->addr,
			         s->c->username, f.filename);
			session_error(s, PROTO_E_NETWORK, CAT_UPLOAD_STALLED, CONF(transfer_timeout));
			client_close(s->c, "file upload stalled");
			break;
		default:
			log_warn("%s (%s): connection lost during the upload of %s; partial file removed",
			         s->c->addr, s->c->username, f.filename);
			client_close(s->c, "connection lost during a file upload");
			break;
		}
		return;
	}

	/* Admin may have deleted the chat while its bytes were arriving */
	cmd_file_group_get(s, g.id, &g);
	if (!g.found) {
		cmd_file_sink_discard(&sink);
		session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_DELETED_UPLOAD);
		return;
	}
	int64_t id = 0;
	f.uploaded_at = proto_now();
	rc = state_file_add(&f, &id);
	if (rc == STATE_NOTFOUND) {
		/* the database holds no such chat (deleted on another node) */
		cmd_file_sink_discard(&sink);
		session_error(s, PROTO_E_CHAT_NOT_FOUND, CAT_CHAT_DELETED_UPLOAD);
		return;
	}
	if (rc != STATE_OK) {
		log_error("files: recording %s (%s) failed", f.filename, path);
		cmd_file_sink_discard(&sink);
		session_error(s, PROTO_E_DATABASE, CAT_FILE_RECORD_FAILED);
		return;
	}
	f.id = id;
	log_info("%s: %s uploaded %s to chat %s (file %lld)", s->c->addr, s->c->username, f.filename,
	         g.name, (long long)id);
	cmd_file_notify(&f);
	session_reply(s, cmd_upload_response(session_text(s, text, sizeof text, CAT_UPLOADED, f.filename),
	                                     id));
}

/* download ---------------------------------------------------------------- */

static json_object *cmd_download_response(int ok, const char *message, const char *filename,
                                          int64_t size)
{
	json_object *o = proto_new("file_download_response");
	proto_set_bool(o, "success", ok);
	proto_set_string(o, "message", message);
	proto_set_string(o, "filename", filename);
	proto_set_int(o, "file_size", size);
	return o;
}

/* Sleep ms, returning early when the client is asked to close. */
static void cmd_file_pause(client_t *c, int ms)
{
	long long end = srv_now_ms() + ms;
	while (!atomic_load(&c->closing)) {
		long long left = end - srv_now_ms();
		if (left <= 0)
			break;
		poll(NULL, 0, left > 50 ? 50 : (int)left);
	}
}

/* file_id is a string in the reference; an integer is taken too. */
static int cmd_file_id(json_object *req, int64_t *id)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(req, "file_id", &v) || !v)
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		*id = json_object_get_int64(v);
		return *id > 0 ? 0 : -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *p = json_object_get_string(v);
	char *end;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	long long n = strtoll(p, &end, 10);
	if (errno || *end || n <= 0)
		return -1;
	*id = n;
	return 0;
}

void cmd_file_download(struct session *s, json_object *req)
{
	int64_t id;
	state_file_t f;

	if (cmd_file_id(req, &id) < 0) {
		session_error(s, PROTO_E_INVALID, CAT_DOWNLOAD_ARGS);
		return;
	}
	int rc = state_file_get(id, &f);
	if (rc == STATE_NOTFOUND) {
		session_error(s, PROTO_E_FILE_NOT_FOUND, CAT_FILE_NOT_FOUND);
		return;
	}
	if (rc != STATE_OK) {
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	cmd_file_basename(f.filename);
	if (!f.filename[0])
		snprintf(f.filename, sizeof f.filename, "file");
	struct cmd_file_group g;
	cmd_file_group_get(s, f.group_id, &g);
	if (!g.found) {
		session_error(s, PROTO_E_FILE_NOT_FOUND, CAT_FILE_NOT_FOUND);
		return;
	}
	if (!g.member) {
		session_error(s, PROTO_E_PERMISSION, CAT_NOT_MEMBER_FILE);
		return;
	}
	if (!cmd_file_slot(s))
		return;
	struct cmd_file_source src;
	if (cmd_file_source_open(&src, &f) < 0) {
		cmd_file_bytes_free(&src.b);
		cmd_file_slot_free();
		session_error(s, PROTO_E_FILE_NOT_FOUND, CAT_FILE_MISSING);
		return;
	}
	int64_t size = src.size;
	int timeout = cmd_file_timeout_ms();
	log_info("%s: %s downloads %s (file %lld, %lld bytes)", s->c->addr, s->c->username, f.filename,
	         (long long)id, (long long)size);

	char text[1400];
	session_reply(s, cmd_download_response(1, session_text(s, text, sizeof text, CAT_DOWNLOAD_STARTING),
	                                       f.filename, size));
	/* nothing queued from now on may land inside the raw bytes */
	rc = session_hold(s, timeout);
	if (rc == SESSION_RAW_OK && s->c->protocol == 1)
		cmd_file_pause(s->c, CMD_FILE_LEGACY_START_MS);
	if (rc == SESSION_RAW_OK)
		rc = session_write_raw(s, cmd_file_start_marker, sizeof cmd_file_start_marker - 1, timeout);
	if (rc == SESSION_RAW_OK)
		rc = cmd_file_source_send(s, &src, timeout);
	if (rc == SESSION_RAW_OK)
		rc = session_write_raw(s, cmd_file_end_marker, sizeof cmd_file_end_marker - 1, timeout);
	if (rc == SESSION_RAW_OK && s->c->protocol == 1)
		cmd_file_pause(s->c, CMD_FILE_LEGACY_END_MS);
	cmd_file_bytes_free(&src.b);
	session_release(s);
	cmd_file_slot_free();
	if (rc != SESSION_RAW_OK) {
		/* the byte stream is broken mid-file: the client cannot resync */
		log_warn("%s (%s): download of %s failed (%s)", s->c->addr, s->c->username, f.filename,
		         rc == SESSION_RAW_STALLED ? "stalled" : rc == SESSION_RAW_LOCAL ? "read error"
		                                                                           : "connection lost");
		client_close(s->c, rc == SESSION_RAW_STALLED ? "file download stalled"
		                                             : "file download failed");
		return;
	}
	session_reply(s, cmd_download_response(1, session_text(s, text, sizeof text, CAT_DOWNLOADED,
	                                                       f.filename), f.filename, size));
}

/* list -------------------------------------------------------------------- */

static int cmd_file_list_one(void *ctx, const state_file_t *f)
{
	char when[32], name[sizeof f->filename];
	snprintf(name, sizeof name, "%s", f->filename);
	cmd_file_basename(name);
	if (!name[0])
		snprintf(name, sizeof name, "file");
	json_object *o = json_object_new_object();
	proto_format_time(f->uploaded_at, when, sizeof when);
	proto_set_int(o, "file_id", f->id);
	proto_set_string(o, "original_filename", name);
	proto_set_int(o, "file_size", f->size);
	proto_set_string(o, "uploader_username", f->uploader_name);
	proto_set_string(o, "upload_time", when);
	json_object_array_add(ctx, o);
	return 0;
}

void cmd_file_list(struct session *s, json_object *req)
{
	int64_t gid = 0;
	proto_get_int(req, "chat_group_id", &gid); /* an integer or absent: cmd.c checked */
	struct cmd_file_group g;
	if (!cmd_file_group_ok(s, gid, &g))
		return;
	json_object *files = json_object_new_array();
	if (state_files_foreach(g.id, cmd_file_list_one, files) != STATE_OK) {
		json_object_put(files);
		session_error(s, PROTO_E_DATABASE, CAT_DATABASE_ERROR);
		return;
	}
	json_object *o = proto_new("file_list_response");
	proto_set_int(o, "chat_group_id", g.id);
	json_object_object_add(o, "files", files);
	session_reply(s, o);
}

/* used by the admin commands ---------------------------------------------- */

int cmd_file_remove(const state_file_t *f)
{
	char path[CMD_FILE_PATH_MAX];
	/* in cluster mode the record's deletion takes the bytes with it */
	if (state_file_chunk_size() == 0) {
		cmd_file_path(f->group_id, f->stored_name, path, sizeof path);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("files: cannot remove %s: %s", path, strerror(errno));
	}
	return state_file_delete(f->id);
}

struct cmd_file_vec {
	state_file_t *v;
	size_t n, cap;
	int oom;
};

static int cmd_file_collect(void *ctx, const state_file_t *f)
{
	struct cmd_file_vec *fv = ctx;
	if (fv->n == fv->cap) {
		size_t cap = fv->cap ? 2 * fv->cap : 16;
		state_file_t *v = realloc(fv->v, cap * sizeof *v);
		if (!v) {
			fv->oom = 1;
			return 1;
		}
		fv->v = v;
		fv->cap = cap;
	}
	fv->v[fv->n++] = *f;
	return 0;
}

int cmd_file_remove_group(int64_t gid)
{
	struct cmd_file_vec fv = { 0 };
	char dir[CMD_FILE_PATH_MAX];
	/* collect first: the callbacks run under the database's lock */
	int rc = state_files_foreach(gid, cmd_file_collect, &fv);
	if (rc == STATE_OK && fv.oom)
		rc = STATE_NOMEM;
	for (size_t i = 0; rc == STATE_OK && i < fv.n; i++) {
		int r = cmd_file_remove(&fv.v[i]);
		if (r != STATE_OK && r != STATE_NOTFOUND)
			rc = r;
	}
	free(fv.v);
	cmd_file_dir(gid, dir, sizeof dir);
	if (rc == STATE_OK && state_file_chunk_size() == 0 && rmdir(dir) < 0 && errno != ENOENT)
		log_warn("files: cannot remove %s: %s", dir, strerror(errno));
	return rc;
}
