/* xfer.c - file transfers: /send_files uploads to the current chat,
 * /recv_files lists the current chat's files and downloads them.
 *
 * One job at a time and one file at a time, each file a small state
 * machine driven by the server's answers (see chatroom-protocol(7)):
 *
 *   upload:   file_upload_request -> file_upload_response "ready"
 *             -> exactly file_size raw bytes -> file_upload_response (file_id)
 *   download: file_download_request -> file_download_response
 *             -> "===FILE_DATA_START===\n" + file_size raw bytes
 *                + "\n===FILE_DATA_END===\n" -> file_download_response
 *
 * The raw bytes share the connection with the JSON lines: net.c asks this
 * module how many raw bytes a download still expects before it frames
 * lines again, and holds every outgoing line back while an upload's bytes
 * go out. A file is read and written in chunks, never loaded whole.
 *
 * The name the server gives a file is never used as a path: only its last
 * element, cleaned, names a new file in the download folder, and an
 * existing file is never replaced (a number is added to the name). */
#include "config.h"
#include "client.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XFER_START_MARKER "===FILE_DATA_START==="   /* a line of its own */
#define XFER_END_MARKER   "\n===FILE_DATA_END===\n" /* right after the data */
#define XFER_END_LEN      (sizeof XFER_END_MARKER - 1)
#define XFER_NAME_MAX     200  /* bytes of a saved file's name, before a suffix */
#define XFER_SUFFIX_MAX   1000 /* name-1.ext ... name-1000.ext, then give up */
#define XFER_PATH_MAX     4096
#define XFER_SHOW_NAME    20   /* characters of a name in the progress prompt */

enum xfer_job {
	JOB_NONE = 0,
	JOB_UPLOAD,   /* /send_files */
	JOB_LIST,     /* /recv_files -l */
	JOB_DOWNLOAD, /* /recv_files -n, -a */
};

enum xfer_state {
	XS_IDLE = 0,  /* between two files (or no job) */
	XS_UP_READY,  /* upload request sent; waiting for "ready" */
	XS_UP_SEND,   /* the file's bytes go out */
	XS_UP_FINAL,  /* all bytes sent; waiting for the file_id */
	XS_LIST,      /* file_list_request sent */
	XS_DL_RESP,   /* download request sent; waiting for the first response */
	XS_DL_START,  /* waiting for the start marker line */
	XS_DL_DATA,   /* the file's bytes come in */
	XS_DL_END,    /* the end marker comes in */
	XS_DL_CLOSE,  /* file saved; waiting for the closing response */
};

static struct {
	enum xfer_job job;
	enum xfer_state st;
	char **paths;         /* upload: local files, in order */
	size_t npaths, next_path;
	int64_t *ids;         /* download: file ids, in order */
	size_t nids, next_id;
	int64_t group_id;     /* the chat of the job */
	char *group_name;
	int fd;               /* the file being read or written; -1 */
	char *name;           /* the file's name as shown */
	char *path;           /* download: the local file being written */
	int64_t id, size, done;
	char end[XFER_END_LEN];
	size_t endlen;
	int werr;             /* download: errno of the first failure to save */
	int show_progress;    /* large, on a terminal */
	double started, last_progress, last_draw;
	unsigned nok, nfail;
} xf = { .fd = -1 };

/* Set a string; 0, or -1 when out of memory (the slot is then NULL). */
static int xfer_set(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
	return v && !*slot ? -1 : 0;
}

/* "512 bytes", "1.5 KB", "48.0 MB" */
static const char *xfer_size(int64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%lld byte%s", (long long)n, n == 1 ? "" : "s");
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KB", (double)n / 1024);
	else if (n < 1024LL * 1024 * 1024)
		snprintf(buf, len, "%.1f MB", (double)n / (1024 * 1024));
	else
		snprintf(buf, len, "%.2f GB", (double)n / (1024.0 * 1024 * 1024));
	return buf;
}

/* The current file's name for messages. */
static const char *xfer_name(void)
{
	return xf.name ? xf.name : "the file";
}

int xfer_busy(void)
{
	return xf.job != JOB_NONE;
}

int xfer_uploading(void)
{
	return xf.st == XS_UP_SEND;
}

size_t xfer_raw_need(void)
{
	if (xf.st == XS_DL_DATA)
		return (size_t)(xf.size - xf.done) + XFER_END_LEN;
	if (xf.st == XS_DL_END)
		return XFER_END_LEN - xf.endlen;
	return 0;
}

/* progress ---------------------------------------------------------------- */

/* The first XFER_SHOW_NAME characters of name for the prompt, which
 * readline prints as it is: control characters (C0, DEL, C1) become '?' so
 * that a name from the server cannot drive the terminal. */
static void xfer_show_name(const char *name, char *out, size_t len)
{
	size_t n = 0;
	int chars = 0;
	const unsigned char *p = (const unsigned char *)(name ? name : "");
	while (*p && chars < XFER_SHOW_NAME) {
		size_t k = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		for (size_t i = 1; i < k; i++)
			if ((p[i] & 0xc0) != 0x80)
				k = 1; /* not UTF-8: one byte, shown as '?' below */
		int ctl = *p < 0x20 || *p == 0x7f || (*p == 0xc2 && k == 2 && p[1] <= 0x9f) ||
		          (k == 1 && *p >= 0x80);
		if (n + (ctl ? 1 : k) >= len)
			break;
		if (ctl)
			out[n++] = '?';
		else
			memcpy(out + n, p, k), n += k;
		p += k;
		chars++;
	}
	out[n] = '\0';
}

void xfer_progress(char *buf, size_t len)
{
	char a[32], b[32], name[4 * XFER_SHOW_NAME + 1];
	buf[0] = '\0';
	if (!xf.show_progress || (xf.st != XS_UP_SEND && xf.st != XS_DL_DATA))
		return;
	xfer_show_name(xf.name, name, sizeof name);
	snprintf(buf, len, "[%s %s %d%% %s/%s] ", xf.st == XS_UP_SEND ? "sending" : "receiving", name,
	         (int)(xf.size ? xf.done * 100 / xf.size : 100), xfer_size(xf.done, a, sizeof a),
	         xfer_size(xf.size, b, sizeof b));
}

/* Something happened for the transfer: it is not stalled; on a terminal,
 * redraw the progress (in the prompt) now and then. */
static void xfer_moved(void)
{
	double now = cl_now();
	xf.last_progress = now;
	if (xf.show_progress && now - xf.last_draw >= CL_PROGRESS_EVERY) {
		xf.last_draw = now;
		ui_prompt_update();
	}
}

static void xfer_begin_bytes(void)
{
	xf.done = 0;
	xf.started = xf.last_draw = cl_now();
	xf.show_progress = !cl.o.script && isatty(STDOUT_FILENO) && xf.size >= CL_PROGRESS_MIN;
	xfer_moved();
	if (xf.show_progress)
		ui_prompt_update();
}

/* jobs -------------------------------------------------------------------- */

static void xfer_close_file(void)
{
	if (xf.fd >= 0)
		close(xf.fd);
	xf.fd = -1;
}

/* A download that will not complete leaves nothing behind. */
static void xfer_discard_partial(void)
{
	xfer_close_file();
	if (xf.path) {
		unlink(xf.path);
		xfer_set(&xf.path, NULL);
	}
}

static void xfer_file_failed(void)
{
	xf.nfail++;
	cl.failed = 1;
}

static void xfer_job_done(void)
{
	unsigned total = xf.nok + xf.nfail;
	int ok = xf.nfail == 0;
	if (total > 1)
		ui_sys("%u of %u files %s%s", xf.nok, total, xf.job == JOB_UPLOAD ? "sent" : "received",
		       xf.nfail ? "; see the errors above" : "");
	for (size_t i = 0; i < xf.npaths; i++)
		free(xf.paths[i]);
	free(xf.paths);
	free(xf.ids);
	xfer_close_file();
	xfer_set(&xf.name, NULL);
	xfer_set(&xf.path, NULL);
	xfer_set(&xf.group_name, NULL);
	xf.paths = NULL;
	xf.ids = NULL;
	xf.npaths = xf.next_path = xf.nids = xf.next_id = 0;
	xf.nok = xf.nfail = 0;
	xf.job = JOB_NONE;
	xf.st = XS_IDLE;
	xf.show_progress = 0;
	ui_prompt_update();
	cmd_answered(CMD_WAIT_XFER, ok);
}

/* Whether a job may start now; says why not. */
static int xfer_can_start(void)
{
	if (xf.job != JOB_NONE) {
		ui_err("a file transfer is running; wait for it to finish");
		cl.failed = 1;
		return 0;
	}
	if (!cl.logged_in) {
		ui_err("not logged in: use /login NAME first");
		cl.failed = 1;
		return 0;
	}
	if (cl.group_id == 0) {
		ui_err("no current chat: use /enter_chat NAME first");
		cl.failed = 1;
		return 0;
	}
	xf.group_id = cl.group_id;
	if (xfer_set(&xf.group_name, cl.group_name ? cl.group_name : "this chat") < 0) {
		ui_err("out of memory");
		cl.failed = 1;
		return 0;
	}
	xf.nok = xf.nfail = 0;
	return 1;
}

/* upload ------------------------------------------------------------------ */

/* "~/x" is x in the home directory, as a shell would have it. NULL when
 * out of memory. */
static char *xfer_expand(const char *p)
{
	const char *home = getenv("HOME");
	if (p[0] == '~' && p[1] == '/' && home && *home) {
		size_t n = strlen(home) + strlen(p);
		char *r = malloc(n);
		if (r)
			snprintf(r, n, "%s%s", home, p + 1);
		return r;
	}
	return strdup(p);
}

/* Open the next file to send. 0, or -1 after saying why not. */
static int xfer_up_open(const char *path)
{
	struct stat sb;
	const char *why = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, &sb) < 0)
		why = strerror(errno);
	else if (!S_ISREG(sb.st_mode))
		why = S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file";
	else if (sb.st_size == 0)
		why = "empty file (the server takes files of at least one byte)";
	if (why) {
		ui_err("cannot send %s: %s", path, why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (xfer_set(&xf.name, base) < 0) {
		ui_err("cannot send %s: out of memory", path);
		close(fd);
		return -1;
	}
	xf.fd = fd;
	xf.size = (int64_t)sb.st_size;
	xf.done = 0;
	return 0;
}

static void xfer_up_next(void)
{
	while (xf.next_path < xf.npaths) {
		if (xfer_up_open(xf.paths[xf.next_path++]) < 0) {
			xfer_file_failed();
			continue;
		}
		json_object *m = proto_new("file_upload_request");
		proto_set_string(m, "filename", xf.name);
		proto_set_string(m, "file_data", "");
		proto_set_int(m, "file_size", xf.size);
		proto_set_int(m, "chat_group_id", xf.group_id);
		net_send(m);
		/* The server reads the bytes that follow the request as the
		 * file: nothing else may go out until they have. */
		net_hold();
		xf.st = XS_UP_READY;
		xfer_moved();
		return;
	}
	xfer_job_done();
}

void xfer_send_files(int argc, char **argv)
{
	if (!xfer_can_start())
		return;
	xf.paths = calloc((size_t)argc, sizeof *xf.paths);
	if (!xf.paths) {
		ui_err("out of memory");
		cl.failed = 1;
		return;
	}
	for (int i = 1; i < argc; i++) {
		if (!(xf.paths[xf.npaths++] = xfer_expand(argv[i]))) {
			ui_err("out of memory");
			xf.job = JOB_UPLOAD;
			xfer_file_failed();
			xfer_job_done();
			return;
		}
	}
	xf.job = JOB_UPLOAD;
	xfer_up_next();
}

ssize_t xfer_raw_fill(char *buf, size_t cap)
{
	if (xf.st != XS_UP_SEND)
		return 0;
	size_t want = (size_t)(xf.size - xf.done);
	if (want > cap)
		want = cap;
	ssize_t r;
	do
		r = read(xf.fd, buf, want);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		/* The server expects exactly the size announced, and no
		 * other byte can stand in for the file's. */
		ui_err("cannot send %s: %s", xfer_name(),
		       r < 0 ? strerror(errno) : "the file became shorter while being sent");
		xfer_close_file();
		xfer_file_failed();
		xf.st = XS_IDLE;
		return -1;
	}
	xf.done += r;
	if (xf.done == xf.size) {
		xfer_close_file();
		xf.st = XS_UP_FINAL;
		if (xf.show_progress)
			ui_prompt_update();
	}
	xfer_moved();
	return r;
}

static void xfer_on_upload_response(json_object *m)
{
	int ok = 0;
	const char *msg = NULL;
	json_object *idv = NULL;
	char sz[32];
	(void)proto_get_bool(m, "success", &ok);
	(void)proto_get_string(m, "message", &msg);
	json_object_object_get_ex(m, "file_id", &idv);
	int has_id = idv && json_object_is_type(idv, json_type_int);

	if (xf.st == XS_UP_READY && ok && !has_id) {
		xf.st = XS_UP_SEND;
		xfer_begin_bytes(); /* net.c now sends them as the socket takes them */
		return;
	}
	if (xf.st == XS_UP_READY) {
		ui_err("cannot send %s: %s", xfer_name(), msg ? msg : "refused by the server");
		xfer_close_file();
		net_unhold();
	} else if (ok && has_id) {
		ui_sys("sent %s (%s) to %s as file %lld", xfer_name(), xfer_size(xf.size, sz, sizeof sz),
		       xf.group_name, (long long)json_object_get_int64(idv));
		xf.nok++;
		xf.st = XS_IDLE;
		xfer_up_next();
		return;
	} else {
		ui_err("cannot send %s: %s", xfer_name(), msg ? msg : "refused by the server");
	}
	xfer_file_failed();
	xf.st = XS_IDLE;
	xfer_up_next();
}

/* list -------------------------------------------------------------------- */

static void xfer_list_request(void)
{
	json_object *m = proto_new("file_list_request");
	proto_set_int(m, "chat_group_id", xf.group_id);
	net_send(m);
	xf.st = XS_LIST;
	xfer_moved();
}

static void xfer_dl_next(void);

static void xfer_on_list(json_object *m)
{
	json_object *arr;
	char sz[32];
	if (!json_object_object_get_ex(m, "files", &arr) || !json_object_is_type(arr, json_type_array)) {
		ui_err("malformed file_list_response");
		xfer_file_failed();
		xfer_job_done();
		return;
	}
	size_t n = json_object_array_length(arr);
	if (xf.job == JOB_LIST) {
		if (n == 0)
			ui_sys("no files in %s", xf.group_name);
		else
			ui_sys("%zu file%s in %s:", n, n == 1 ? "" : "s", xf.group_name);
		for (size_t i = 0; i < n; i++) {
			json_object *f = json_object_array_get_idx(arr, i);
			const char *name = NULL, *who = NULL, *when = NULL;
			int64_t id = 0, size = 0;
			(void)proto_get_int(f, "file_id", &id);
			(void)proto_get_string(f, "original_filename", &name);
			(void)proto_get_int(f, "file_size", &size);
			(void)proto_get_string(f, "uploader_username", &who);
			(void)proto_get_string(f, "upload_time", &when);
			ui_sys("  %lld: %s (%s, from %s, %s)", (long long)id, name ? name : "?",
			       xfer_size(size, sz, sizeof sz), who ? who : "?", when ? when : "?");
		}
		xf.nok = 1;
		xfer_job_done();
		return;
	}
	/* /recv_files -a: everything listed */
	if (n == 0) {
		ui_sys("no files in %s", xf.group_name);
		xfer_job_done();
		return;
	}
	xf.ids = calloc(n, sizeof *xf.ids);
	if (!xf.ids) {
		ui_err("out of memory");
		xfer_file_failed();
		xfer_job_done();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t id = 0;
		if (proto_get_int(json_object_array_get_idx(arr, i), "file_id", &id) == 0 && id > 0)
			xf.ids[xf.nids++] = id;
	}
	xf.st = XS_IDLE;
	xfer_dl_next();
}

/* download ---------------------------------------------------------------- */

/* The server's name for a file, made safe as the name of a new file in the
 * download folder: its last path element only, no control characters, no
 * leading dot (so never "." or ".." nor a hidden file), not too long. */
static void xfer_clean_name(const char *server_name, int64_t id, char *out, size_t len)
{
	const char *base = server_name ? server_name : "";
	for (const char *p = base; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	while (*base == '.')
		base++;
	size_t n = 0;
	size_t max = len - 1 < XFER_NAME_MAX ? len - 1 : XFER_NAME_MAX;
	for (const char *p = base; *p && n < max; p++) {
		unsigned char ch = (unsigned char)*p;
		out[n++] = ch < 0x20 || ch == 0x7f ? '_' : (char)ch;
	}
	/* cut short in the middle of a UTF-8 sequence: drop its first part */
	if (((unsigned char)base[n] & 0xc0) == 0x80) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0)
			n--;
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "file-%lld", (long long)id);
}

/* Create a new file for name in the download folder, adding "-N" before
 * the extension when the name is taken. Sets xf.fd and xf.path, or
 * returns -1 with errno set. */
static int xfer_dl_create(const char *name)
{
	const char *dir = cl.o.download_dir && *cl.o.download_dir ? cl.o.download_dir : ".";
	const char *dot = strrchr(name, '.');
	int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
	char path[XFER_PATH_MAX];
	for (int i = 0; i <= XFER_SUFFIX_MAX; i++) {
		int n = i == 0 ? snprintf(path, sizeof path, "%s/%s", dir, name)
		               : snprintf(path, sizeof path, "%s/%.*s-%d%s", dir, stem, name, i, name + stem);
		if (n < 0 || (size_t)n >= sizeof path) {
			errno = ENAMETOOLONG;
			return -1;
		}
		/* O_EXCL: never replace a file, nor follow a link planted there */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (xfer_set(&xf.path, path) < 0) {
				close(fd);
				unlink(path);
				errno = ENOMEM;
				return -1;
			}
			xf.fd = fd;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

static void xfer_dl_next(void)
{
	if (xf.next_id < xf.nids) {
		char idbuf[32];
		xf.id = xf.ids[xf.next_id++];
		snprintf(idbuf, sizeof idbuf, "%lld", (long long)xf.id);
		json_object *m = proto_new("file_download_request");
		proto_set_string(m, "file_id", idbuf); /* a string, as the reference */
		net_send(m);
		xf.st = XS_DL_RESP;
		xfer_moved();
		return;
	}
	xfer_job_done();
}

void xfer_recv_files(int argc, char **argv)
{
	const char *usage = "usage: /recv_files -l | -n FILE_ID | -a (list, get one, get all)";
	const char *f = argv[1];
	int64_t id = 0;
	if (!strcmp(f, "-n")) {
		char *end;
		long long v;
		if (argc != 3 || argv[2][0] < '0' || argv[2][0] > '9' ||
		    (errno = 0, v = strtoll(argv[2], &end, 10), errno || *end || v <= 0)) {
			ui_err("%s", usage);
			cl.failed = 1;
			return;
		}
		id = v;
	} else if ((strcmp(f, "-l") != 0 && strcmp(f, "-a") != 0) || argc != 2) {
		ui_err("%s", usage);
		cl.failed = 1;
		return;
	}
	if (!xfer_can_start())
		return;
	if (f[1] == 'l') {
		xf.job = JOB_LIST;
		xfer_list_request();
	} else if (f[1] == 'a') {
		xf.job = JOB_DOWNLOAD;
		xfer_list_request();
	} else {
		xf.ids = calloc(1, sizeof *xf.ids);
		if (!xf.ids) {
			ui_err("out of memory");
			cl.failed = 1;
			return;
		}
		xf.ids[0] = id;
		xf.nids = 1;
		xf.job = JOB_DOWNLOAD;
		xfer_dl_next();
	}
}

static void xfer_on_download_response(json_object *m)
{
	int ok = 0;
	const char *msg = NULL, *name = NULL;
	int64_t size = -1;
	char clean[XFER_NAME_MAX + 32];
	(void)proto_get_bool(m, "success", &ok);
	(void)proto_get_string(m, "message", &msg);
	(void)proto_get_string(m, "filename", &name);
	(void)proto_get_int(m, "file_size", &size);

	if (xf.st == XS_DL_CLOSE) {
		/* the closing response: the file was saved at the end marker */
		xf.st = XS_IDLE;
		xfer_dl_next();
		return;
	}
	if (!ok) {
		ui_err("cannot get file %lld: %s", (long long)xf.id, msg ? msg : "refused by the server");
		xfer_file_failed();
		xf.st = XS_IDLE;
		xfer_dl_next();
		return;
	}
	if (size < 0) {
		/* raw bytes of unknown length follow: no way to find the
		 * next line after them */
		ui_err("cannot get file %lld: the server gave no file size", (long long)xf.id);
		xfer_file_failed();
		xf.st = XS_IDLE;
		net_drop("bad file_download_response");
		return;
	}
	if (xfer_set(&xf.name, name ? name : "") < 0)
		xf.werr = ENOMEM; /* nothing is saved, but the bytes must be read */
	xf.size = size;
	xf.done = 0;
	xf.endlen = 0;
	xf.werr = 0;
	xfer_clean_name(name, xf.id, clean, sizeof clean);
	if (!xf.werr && xfer_dl_create(clean) < 0)
		xf.werr = errno; /* the bytes still come: they are read and dropped */
	else if (name && strcmp(clean, name) != 0)
		ui_warn("the server's name for file %lld, %s, is saved as %s", (long long)xf.id, name, clean);
	xf.st = XS_DL_START;
	xfer_moved();
}

int xfer_on_line(const char *line, size_t len)
{
	if (xf.st != XS_DL_START || len != sizeof XFER_START_MARKER - 1 ||
	    memcmp(line, XFER_START_MARKER, len) != 0)
		return 0;
	xf.st = XS_DL_DATA;
	xfer_begin_bytes();
	if (xf.size == 0)
		xf.st = XS_DL_END;
	return 1;
}

/* The end marker is in: the file is complete. */
static void xfer_dl_saved(void)
{
	char sz[32];
	if (memcmp(xf.end, XFER_END_MARKER, XFER_END_LEN) != 0) {
		ui_err("cannot get %s: the data did not end where the server said", xfer_name());
		xfer_discard_partial();
		xfer_file_failed();
		xf.st = XS_IDLE;
		net_drop("file transfer out of step");
		return;
	}
	if (xf.fd >= 0 && close(xf.fd) < 0 && !xf.werr)
		xf.werr = errno;
	xf.fd = -1;
	if (xf.werr) {
		const char *dir = cl.o.download_dir && *cl.o.download_dir ? cl.o.download_dir : ".";
		ui_err("cannot save %s in %s: %s", xfer_name(), dir, strerror(xf.werr));
		xfer_discard_partial();
		xfer_file_failed();
	} else {
		ui_sys("received %s (%s) as %s", xfer_name(), xfer_size(xf.size, sz, sizeof sz), xf.path);
		xf.nok++;
		xfer_set(&xf.path, NULL);
	}
	xf.st = XS_DL_CLOSE;
	if (xf.show_progress)
		ui_prompt_update();
}

static void xfer_write(const char *p, size_t n)
{
	while (n > 0 && xf.fd >= 0 && !xf.werr) {
		ssize_t w = write(xf.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			xf.werr = w < 0 ? errno : EIO;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

void xfer_raw_in(const char *p, size_t n)
{
	while (n > 0 && (xf.st == XS_DL_DATA || xf.st == XS_DL_END)) {
		size_t k;
		if (xf.st == XS_DL_DATA) {
			k = (size_t)(xf.size - xf.done);
			if (k > n)
				k = n;
			xfer_write(p, k);
			xf.done += (int64_t)k;
			if (xf.done == xf.size)
				xf.st = XS_DL_END;
		} else {
			k = XFER_END_LEN - xf.endlen;
			if (k > n)
				k = n;
			memcpy(xf.end + xf.endlen, p, k);
			xf.endlen += k;
			if (xf.endlen == XFER_END_LEN) {
				p += k;
				n -= k;
				xfer_dl_saved();
				break;
			}
		}
		p += k;
		n -= k;
	}
	if (xf.job != JOB_NONE)
		xfer_moved();
}

/* answers ----------------------------------------------------------------- */

int xfer_on_message(json_object *m, const char *type)
{
	if (!strcmp(type, "file_upload_response") && (xf.st == XS_UP_READY || xf.st == XS_UP_FINAL)) {
		xfer_moved();
		xfer_on_upload_response(m);
		return 1;
	}
	if (!strcmp(type, "file_download_response") && (xf.st == XS_DL_RESP || xf.st == XS_DL_CLOSE)) {
		xfer_moved();
		xfer_on_download_response(m);
		return 1;
	}
	if (!strcmp(type, "file_list_response") && xf.st == XS_LIST) {
		xfer_moved();
		xfer_on_list(m);
		return 1;
	}
	return 0;
}

int xfer_on_error(int64_t code, const char *text)
{
	const char *what;
	char idbuf[48];
	switch (xf.st) {
	case XS_UP_READY:
	case XS_UP_FINAL:
		what = xfer_name();
		break;
	case XS_DL_RESP:
		snprintf(idbuf, sizeof idbuf, "file %lld", (long long)xf.id);
		what = idbuf;
		break;
	case XS_LIST:
		what = "the file list";
		break;
	default:
		return 0;
	}
	ui_err("ERROR %lld: cannot %s %s: %s", (long long)code,
	       xf.st == XS_UP_READY || xf.st == XS_UP_FINAL ? "send" : "get", what, text ? text : "");
	xfer_file_failed();
	if (xf.st == XS_UP_READY) {
		xfer_close_file();
		net_unhold();
	}
	enum xfer_state was = xf.st;
	xf.st = XS_IDLE;
	if (was == XS_LIST)
		xfer_job_done();
	else if (xf.job == JOB_UPLOAD)
		xfer_up_next();
	else
		xfer_dl_next();
	return 1;
}

void xfer_on_disconnected(void)
{
	if (xf.job == JOB_NONE)
		return;
	if (xf.st != XS_IDLE && xf.st != XS_DL_CLOSE && xf.st != XS_LIST) {
		ui_err("transfer of %s interrupted: connection lost", xfer_name());
		xfer_file_failed();
	}
	xfer_discard_partial();
	size_t left = xf.job == JOB_UPLOAD ? xf.npaths - xf.next_path : xf.nids - xf.next_id;
	if (xf.st == XS_LIST || left > 0) {
		ui_err("%s not done: connection lost",
		       xf.job == JOB_UPLOAD ? "/send_files" : "/recv_files");
		xfer_file_failed();
	}
	xf.st = XS_IDLE;
	xfer_job_done();
}

void xfer_tick(double now)
{
	if (xf.job == JOB_NONE || xf.st == XS_IDLE || now - xf.last_progress < CL_XFER_STALL)
		return;
	ui_err("file transfer stalled: nothing for %.0f seconds", CL_XFER_STALL);
	/* the byte stream is in an unknown place: start over */
	net_drop("file transfer stalled");
}

double xfer_next_timer(double now)
{
	if (xf.job == JOB_NONE || xf.st == XS_IDLE)
		return 3600;
	double t = xf.last_progress + CL_XFER_STALL - now;
	return t < 0 ? 0 : t;
}

void xfer_free(void)
{
	/* at exit mid-download: no partial file left behind */
	if (xf.st == XS_DL_START || xf.st == XS_DL_DATA || xf.st == XS_DL_END)
		xfer_discard_partial();
	xfer_close_file();
	for (size_t i = 0; i < xf.npaths; i++)
		free(xf.paths[i]);
	free(xf.paths);
	free(xf.ids);
	free(xf.name);
	free(xf.path);
	free(xf.group_name);
	memset(&xf, 0, sizeof xf);
	xf.fd = -1;
}
