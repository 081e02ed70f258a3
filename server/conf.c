/* conf.c - chatroomd's options: one table drives the defaults, the
 * configuration file, the command line, --help and --configtest. */
#include "config.h"
#include "conf.h"
#include "catalog.h"
#include "tunables.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef STATEDIR
#define STATEDIR "/var/lib/chatroomd"
#endif

#define CONF_DEFAULT_FILE SYSCONFDIR "/chatroomd.conf"

enum conf_type { CT_INT, CT_LL, CT_BOOL, CT_STR, CT_LIST, CT_LEVEL, CT_LANG, CT_SYNC };

struct conf_opt {
	const char *section;  /* file section, NULL: command line only */
	const char *name;     /* file name */
	const char *lopt;     /* long option */
	int sopt;             /* short option or 0 */
	enum conf_type type;
	size_t off;
	const char *def;      /* default, parsed like any value */
	long long min, max;
	int reload;           /* applied by SIGHUP */
	const char *arg;      /* argument name in --help */
	const char *help;
};

#define STR_(x) #x
#define STR(x) STR_(x)
#define O(f) offsetof(struct conf, f)

static const struct conf_opt conf_opts[] = {
	{ "Server", "Listen", "listen", 'l', CT_LIST, O(listen), "0.0.0.0, ::", 0, 0, 0, "ADDR",
	  "address to listen on (IPv4 or IPv6; repeat for several)" },
	{ "Server", "Port", "port", 'p', CT_INT, O(port), STR(CR_DEFAULT_PORT), 1, 65535, 0, "PORT",
	  "TCP port" },
	{ "Server", "Database", "database", 0, CT_STR, O(database), STATEDIR "/chatroom.db", 0, 0, 0,
	  "FILE", "SQLite database (created with its schema if absent)" },
	{ "Server", "DataDir", "data-dir", 0, CT_STR, O(data_dir), STATEDIR "/files", 0, 0, 0, "DIR",
	  "folder for uploaded files" },
	{ "Server", "PidFile", "pidfile", 0, CT_STR, O(pidfile), "", 0, 0, 0, "FILE",
	  "write the process id to FILE (locked; removed on exit)" },
	{ "Server", "User", "user", 'u', CT_STR, O(user), "", 0, 0, 0, "USER",
	  "drop privileges to USER after opening the port and the database" },
	{ "Server", "Syslog", "syslog", 0, CT_BOOL, O(use_syslog), "no", 0, 1, 0, NULL,
	  "log to syslog (also in the foreground)" },
	{ "Server", "LogLevel", "log-level", 0, CT_LEVEL, O(log_level), "info", 0, 3, 1, "LEVEL",
	  "error, warning, info or debug" },
	{ "Server", "Language", "language", 0, CT_LANG, O(language), CR_DEFAULT_LANGUAGE, 0, 1, 1, "LANG",
	  "language of the texts sent to legacy clients: zh (the reference's) or en" },
	{ "Limits", "Workers", "workers", 0, CT_INT, O(workers), "0", 0, 1000000, 0, "N",
	  "worker threads at most (they serve connections that have work); 0: "
	  STR(CR_WORKERS_PER_CPU) " per CPU, at least " STR(CR_WORKERS_MIN) },
	{ "Limits", "Queue", "queue", 0, CT_INT, O(queue), STR(CR_DEFAULT_QUEUE), 0, 1000000, 0, "N",
	  "new connections waiting for a worker before newcomers get 1013" },
	{ "Limits", "MaxTransfers", "max-transfers", 0, CT_INT, O(max_transfers), "0", 0, 1000000, 1,
	  "N", "file uploads and downloads at once (each holds a worker); 0: half of Workers" },
	{ "Limits", "StackSize", "stack-size", 0, CT_INT, O(stack_kb), STR(CR_DEFAULT_STACK_KB), 64,
	  65536, 0, "KIB", "worker thread stack size in KiB" },
	{ "Limits", "IoUring", "io-uring", 0, CT_BOOL, O(io_uring), "yes", 0, 1, 0, "yes|no",
	  "write a broadcast to many sockets with one system call (io_uring, where the kernel "
	  "allows it); no: one writev() per recipient" },
	{ "Limits", "MaxLine", "max-line", 0, CT_INT, O(max_line), STR(CR_DEFAULT_MAX_LINE), 256,
	  64 * 1024 * 1024, 0, "BYTES", "longest accepted line; longer gets 1015 and a close" },
	{ "Limits", "MaxOutput", "max-output", 0, CT_INT, O(max_output), STR(CR_DEFAULT_MAX_OUTPUT),
	  4096, INT_MAX, 1, "BYTES", "unsent output per client before it is closed as too slow" },
	{ "Limits", "MaxConnections", "max-connections", 0, CT_INT, O(max_connections), "0", 0,
	  10000000, 1, "N",
	  "connections at most, in total; 0: the descriptor limit less " STR(CR_FD_RESERVE) },
	{ "Limits", "MaxPerAddress", "max-per-address", 0, CT_INT, O(max_per_address), "1000", 1,
	  10000000, 1, "N", "connections at most from one address" },
	{ "Limits", "HistoryMax", "history-max", 0, CT_INT, O(history_max), STR(CR_DEFAULT_HISTORY_MAX),
	  1, 100000, 1, "N", "largest history_request limit" },
	{ "Limits", "Rate", "rate", 0, CT_INT, O(rate), STR(CR_DEFAULT_RATE), 1, 100000000, 1, "N",
	  "messages per second a connection may send (token bucket rate)" },
	{ "Limits", "LegacyReplyDelay", "legacy-reply-delay", 0, CT_INT, O(legacy_reply_delay),
	  STR(CR_DEFAULT_LEGACY_REPLY_DELAY_MS), 0, 1000, 1, "MS",
	  "a legacy client's reply to its own request leaves no sooner than this (0: off)" },
	{ "Limits", "Burst", "burst", 0, CT_INT, O(burst), STR(CR_DEFAULT_BURST), 1, 100000000, 1, "N",
	  "messages a connection may send at once (token bucket size)" },
	{ "Limits", "MaxChatsPerUser", "max-chats-per-user", 0, CT_INT, O(max_chats_per_user),
	  STR(CR_DEFAULT_MAX_CHATS_PER_USER), 1, 10000000, 1, "N",
	  "chats one user may belong to; create_chat and join_chat beyond get 1005" },
	{ "Timeouts", "HeartbeatInterval", "heartbeat-interval", 0, CT_INT, O(heartbeat_interval),
	  STR(CR_DEFAULT_HEARTBEAT_INTERVAL), 1, 86400, 1, "SECONDS",
	  "heartbeat interval told to protocol-2 clients" },
	{ "Timeouts", "HeartbeatTimeout", "heartbeat-timeout", 0, CT_INT, O(heartbeat_timeout),
	  STR(CR_DEFAULT_HEARTBEAT_TIMEOUT), 1, 86400, 1, "SECONDS",
	  "silence after which a protocol-2 client is closed" },
	{ "Timeouts", "LoginTimeout", "login-timeout", 0, CT_INT, O(login_timeout),
	  STR(CR_DEFAULT_LOGIN_TIMEOUT), 1, 86400, 1, "SECONDS",
	  "time to log in after connecting" },
	{ "Timeouts", "TransferTimeout", "transfer-timeout", 0, CT_INT, O(transfer_timeout),
	  STR(CR_DEFAULT_TRANSFER_TIMEOUT), 1, 86400, 1, "SECONDS",
	  "time a file upload or download may stall before the connection is closed" },
	{ "Store", "BatchSize", "batch-size", 0, CT_INT, O(batch_size), STR(CR_DEFAULT_BATCH_SIZE), 1,
	  100000, 0, "N", "messages per database transaction at most" },
	{ "Store", "BatchTime", "batch-ms", 0, CT_INT, O(batch_ms), STR(CR_DEFAULT_BATCH_MS), 0, 60000, 0,
	  "MS", "extra wait for a batch to fill before it is committed (0: none)" },
	{ "Store", "WriterQueue", "writer-queue", 0, CT_INT, O(writer_queue),
	  STR(CR_DEFAULT_WRITER_QUEUE), 1, 100000000, 0, "N",
	  "messages accepted but not yet stored, at most; then senders get 1011" },
	{ "Store", "Synchronous", "synchronous", 0, CT_SYNC, O(synchronous), "full", 0, 1, 0, "MODE",
	  "full: every message synced to disk before it is delivered; normal: delivered once "
	  "written, synced every CheckpointInterval" },
	{ "Store", "CheckpointInterval", "checkpoint-interval", 0, CT_INT, O(checkpoint_interval),
	  STR(CR_DEFAULT_CHECKPOINT_INTERVAL), 10, 60000, 0, "MS",
	  "Synchronous = normal: how often committed messages are synced to disk" },
	{ "Store", "DedupWindow", "dedup-window", 0, CT_INT, O(dedup_window),
	  STR(CR_DEFAULT_DEDUP_WINDOW), 1, 10000000, 0, "N", "client_msg_ids remembered per user" },
	{ "Security", "HashOpsLimit", "hash-opslimit", 0, CT_INT, O(hash_opslimit),
	  STR(CR_DEFAULT_HASH_OPSLIMIT), 1, 100, 0, "N", "password hash cost: Argon2id passes" },
	{ "Security", "HashMemLimit", "hash-memlimit", 0, CT_INT, O(hash_memlimit_kb),
	  STR(CR_DEFAULT_HASH_MEMLIMIT_KB), 8, 4 * 1024 * 1024, 0, "KIB",
	  "password hash cost: memory per hash in KiB" },
	{ "Security", "HashConcurrency", "hash-concurrency", 0, CT_INT, O(hash_concurrency),
	  STR(CR_DEFAULT_HASH_CONCURRENCY), 1, 1024, 0, "N", "password hashes computed at once" },
	{ "Security", "AdminPassword", "admin-password", 0, CT_STR, O(admin_password), "", 0, 0, 0,
	  "PASSWORD", "password given to Admin at start when it has none" },
	{ "Security", "AdminPasswordFile", "admin-password-file", 0, CT_STR, O(admin_password_file),
	  "", 0, 0, 0, "FILE",
	  "read AdminPassword from the first line of FILE (not visible in ps)" },
	{ "Security", "LoginFailMax", "login-fail-max", 0, CT_INT, O(login_fail_max),
	  STR(CR_DEFAULT_LOGIN_FAIL_MAX), 1, 1000000, 1, "N",
	  "failed logins for one account from one address before they are refused" },
	{ "Security", "LoginFailMaxAddress", "login-fail-max-address", 0, CT_INT,
	  O(login_fail_max_address), STR(CR_DEFAULT_LOGIN_FAIL_MAX_ADDRESS), 1, 1000000, 1, "N",
	  "failed logins from one address before its logins are refused" },
	{ "Security", "LoginFailWindow", "login-fail-window", 0, CT_INT, O(login_fail_window),
	  STR(CR_DEFAULT_LOGIN_FAIL_WINDOW), 1, 86400, 1, "SECONDS",
	  "window of the LoginFail limits; refused logins wait until it has passed" },
	{ "Security", "LoginFailMaxAccount", "login-fail-max-account", 0, CT_INT,
	  O(login_fail_max_account), STR(CR_DEFAULT_LOGIN_FAIL_MAX_ACCOUNT), 1, 1000000, 1, "N",
	  "failed logins for one account, from any address, before its logins are slowed" },
	{ "Security", "LoginFailDelay", "login-fail-delay", 0, CT_INT, O(login_fail_delay),
	  STR(CR_DEFAULT_LOGIN_FAIL_DELAY), 0, 60, 1, "SECONDS",
	  "wait before each login to an account slowed by LoginFailMaxAccount" },
	{ "Security", "LoginThrottleEntries", "login-throttle-entries", 0, CT_INT,
	  O(login_throttle_entries), STR(CR_DEFAULT_LOGIN_THROTTLE_ENTRIES), 64, 16777216, 0, "N",
	  "failed-login counts kept per table (addresses, accounts)" },
	{ "Security", "RegisterMaxAddress", "register-max-address", 0, CT_INT,
	  O(register_max_address), STR(CR_DEFAULT_REGISTER_MAX_ADDRESS), 0, 1000000, 1, "N",
	  "new accounts from one address per RegisterWindow; 0: no limit" },
	{ "Security", "RegisterWindow", "register-window", 0, CT_INT, O(register_window),
	  STR(CR_DEFAULT_REGISTER_WINDOW), 1, 86400, 1, "SECONDS", "window of RegisterMaxAddress" },
	{ "Presence", "MaxGroupSize", "presence-max-group", 0, CT_INT, O(presence_max_group),
	  STR(CR_DEFAULT_PRESENCE_MAX_GROUP), 0, 10000000, 1, "N",
	  "groups with more members send no presence updates" },
	{ "Files", "MaxFileSize", "max-file-size", 0, CT_LL, O(max_file_size), "104857600", 1,
	  (long long)1 << 40, 1, "BYTES", "largest upload" },
	{ "Files", "MinFreeSpace", "min-free-space", 0, CT_LL, O(min_free_space),
	  STR(CR_DEFAULT_MIN_FREE_SPACE), 0, (long long)1 << 60, 1, "BYTES",
	  "free space an upload must leave on the data folder's file system; 0: no check" },
	{ "Files", "Extensions", "file-extensions", 0, CT_STR, O(file_extensions),
	  "txt,pdf,doc,docx,xls,xlsx,ppt,pptx,jpg,jpeg,png,gif,bmp,mp3,mp4,avi,zip,rar,7z,tar,gz", 0, 0,
	  1, "LIST", "file extensions allowed for upload, comma-separated" },
	{ "TLS", "Port", "tls-port", 0, CT_INT, O(tls_port), "0", 0, 65535, 0, "PORT",
	  "TLS-only port on the Listen addresses beside Port; 0: none" },
	{ "TLS", "Certificate", "tls-cert", 0, CT_STR, O(tls_cert), "", 0, 0, 1, "FILE",
	  "PEM certificate of the TLS port, then its chain (read again on SIGHUP)" },
	{ "TLS", "Key", "tls-key", 0, CT_STR, O(tls_key), "", 0, 0, 1, "FILE",
	  "PEM private key of that certificate (read again on SIGHUP)" },
	{ "Cluster", "Postgres", "postgres", 0, CT_STR, O(postgres), "", 0, 0, 0, "CONNINFO",
	  "keep everything in PostgreSQL (a libpq connection string) instead of the SQLite "
	  "Database: the record shared by a cluster's nodes" },
	{ "Cluster", "Redis", "redis", 0, CT_STR, O(redis), "", 0, 0, 0, "HOST:PORT",
	  "Redis between the cluster's nodes (needs Postgres)" },
	{ "Cluster", "NodeName", "node-name", 0, CT_STR, O(node_name), "", 0, 0, 0, "NAME",
	  "this node's name in the cluster, unique; empty: the host name" },
	{ "Cluster", "GapWait", "gap-wait", 0, CT_INT, O(gap_wait), STR(CR_DEFAULT_GAP_WAIT), 0,
	  60000, 0, "MS", "a message held back behind a missing one waits this long before the "
	  "missing one is fetched from PostgreSQL" },
	{ "Cluster", "SweepInterval", "sweep-interval", 0, CT_INT, O(sweep_interval),
	  STR(CR_DEFAULT_SWEEP_INTERVAL), 10, 3600000, 0, "MS",
	  "how often each group, its members and bans are compared with PostgreSQL" },
	{ "Cluster", "NodeTimeout", "node-timeout", 0, CT_INT, O(node_timeout),
	  STR(CR_DEFAULT_NODE_TIMEOUT), 3, 3600, 0, "SECONDS",
	  "a node that stops refreshing its key in Redis is gone after this long, and its "
	  "users offline on the others" },
	{ "Cluster", "DebugDropPublish", "debug-drop-publish", 0, CT_INT, O(debug_drop_publish),
	  "0", 0, 1000000, 0, "N", "testing only: drop every Nth publish on the bus (0: none)" },
	{ "Cluster", "DebugDropNotices", "debug-drop-notices", 0, CT_INT, O(debug_drop_notices),
	  "0", 0, 1, 0, "0|1", "testing only: publish no notice of changes to accounts, groups "
	  "and memberships (the other nodes see them at their sweep)" },
};

#define CONF_NOPTS (sizeof conf_opts / sizeof conf_opts[0])

/* Errors go to stderr at start and --configtest; during a reload (SIGHUP,
 * when a daemon's stderr is /dev/null) to the log. */
static int conf_reloading;

__attribute__((format(printf, 1, 2))) static void conf_err(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (conf_reloading)
		log_error("%s", text);
	else
		fprintf(stderr, "%s\n", text);
}

/* The configuration file named with -f, made absolute at the first load:
 * a daemon works in / and re-reads it there on SIGHUP. */
static char *conf_abs_file;

static void *conf_field(struct conf *c, const struct conf_opt *o)
{
	return (char *)c + o->off;
}

static const void *conf_cfield(const struct conf *c, const struct conf_opt *o)
{
	return (const char *)c + o->off;
}

static char *conf_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void conf_free_list(struct conf *c)
{
	for (int i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	c->n_listen = 0;
}

/* Set one option from text. Returns NULL or a reason. replace_list: a list
 * value replaces the previous list rather than adding to it. */
static const char *conf_set(struct conf *c, const struct conf_opt *o, const char *val, int replace_list)
{
	static char why[160];
	char *end;
	switch (o->type) {
	case CT_INT:
	case CT_LL: {
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (errno || end == val || *conf_trim(end) != '\0') {
			snprintf(why, sizeof why, "'%s' is not a whole number", val);
			return why;
		}
		if (v < o->min || v > o->max) {
			snprintf(why, sizeof why, "%lld is out of range (%lld to %lld)", v, o->min, o->max);
			return why;
		}
		if (o->type == CT_INT)
			*(int *)conf_field(c, o) = (int)v;
		else
			*(long long *)conf_field(c, o) = v;
		return NULL;
	}
	case CT_BOOL:
		if (!strcasecmp(val, "yes") || !strcasecmp(val, "true") || !strcmp(val, "1") ||
		    !strcasecmp(val, "on"))
			*(int *)conf_field(c, o) = 1;
		else if (!strcasecmp(val, "no") || !strcasecmp(val, "false") || !strcmp(val, "0") ||
		         !strcasecmp(val, "off"))
			*(int *)conf_field(c, o) = 0;
		else {
			snprintf(why, sizeof why, "'%s' is not yes or no", val);
			return why;
		}
		return NULL;
	case CT_LANG: {
		int l = catalog_lang_parse(val);
		if (l < 0) {
			snprintf(why, sizeof why, "'%s' is not one of zh, en", val);
			return why;
		}
		*(int *)conf_field(c, o) = l;
		return NULL;
	}
	case CT_SYNC:
		if (!strcasecmp(val, "full"))
			*(int *)conf_field(c, o) = CONF_SYNC_FULL;
		else if (!strcasecmp(val, "normal"))
			*(int *)conf_field(c, o) = CONF_SYNC_NORMAL;
		else {
			snprintf(why, sizeof why, "'%s' is not full or normal", val);
			return why;
		}
		return NULL;
	case CT_LEVEL: {
		int l = log_level_parse(val);
		if (l < 0) {
			snprintf(why, sizeof why, "'%s' is not one of error, warning, info, debug", val);
			return why;
		}
		*(int *)conf_field(c, o) = l;
		return NULL;
	}
	case CT_STR: {
		char **p = conf_field(c, o);
		free(*p);
		*p = strdup(val);
		return NULL;
	}
	case CT_LIST: {
		if (replace_list)
			conf_free_list(c);
		char *copy = strdup(val), *save = NULL;
		for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
			if (c->n_listen == CONF_MAX_LISTEN) {
				free(copy);
				snprintf(why, sizeof why, "more than %d addresses", CONF_MAX_LISTEN);
				return why;
			}
			c->listen[c->n_listen++] = strdup(t);
		}
		free(copy);
		if (c->n_listen == 0)
			return "no address given";
		return NULL;
	}
	}
	return "unknown type";
}

int conf_auto_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	n *= CR_WORKERS_PER_CPU;
	return n < CR_WORKERS_MIN ? CR_WORKERS_MIN : n > 100000 ? 100000 : (int)n;
}

int conf_auto_max_connections(void)
{
	/* chatroomd raises its soft limit to the hard one at start */
	struct rlimit rl;
	long long n = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = rl.rlim_max == RLIM_INFINITY ? 10000000 : (long long)rl.rlim_max;
	n -= CR_FD_RESERVE;
	return n < 1 ? 1 : n > 10000000 ? 10000000 : (int)n;
}

static void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < CONF_NOPTS; i++) {
		const char *why = conf_set(c, &conf_opts[i], conf_opts[i].def, 1);
		if (why) { /* a bug in the table above, caught by any test run */
			fprintf(stderr, "chatroomd: bad default for %s: %s\n", conf_opts[i].name, why);
			abort();
		}
	}
}

static const struct conf_opt *conf_find_name(const char *section, const char *name)
{
	for (size_t i = 0; i < CONF_NOPTS; i++)
		if (!strcasecmp(conf_opts[i].section, section) && !strcasecmp(conf_opts[i].name, name))
			return &conf_opts[i];
	return NULL;
}

/* Parse a configuration file into c. Errors go to stderr as FILE:LINE. */
static int conf_read_file(struct conf *c, const char *path, int must_exist)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		conf_err("chatroomd: cannot read configuration file %s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096], section[64] = "";
	int lineno = 0, rc = 0, listen_seen = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *s = conf_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e[1] != '\0') {
				conf_err("%s:%d: malformed section header '%s'", path, lineno, s);
				rc = -1;
				continue;
			}
			*e = '\0';
			snprintf(section, sizeof section, "%s", conf_trim(s + 1));
			int known = 0;
			for (size_t i = 0; i < CONF_NOPTS; i++)
				if (!strcasecmp(conf_opts[i].section, section))
					known = 1;
			if (!known) {
				conf_err("%s:%d: unknown section [%s]", path, lineno, section);
				rc = -1;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			conf_err("%s:%d: expected 'Name = Value', got '%s'", path, lineno, s);
			rc = -1;
			continue;
		}
		*eq = '\0';
		char *name = conf_trim(s), *val = conf_trim(eq + 1);
		if (!*section) {
			conf_err("%s:%d: option '%s' outside of a [Section]", path, lineno, name);
			rc = -1;
			continue;
		}
		const struct conf_opt *o = conf_find_name(section, name);
		if (!o) {
			conf_err("%s:%d: unknown option '%s' in section [%s]", path, lineno, name,
			        section);
			rc = -1;
			continue;
		}
		/* the first Listen line of a file replaces the default list */
		const char *why = conf_set(c, o, val, o->type == CT_LIST && !listen_seen++);
		if (why) {
			conf_err("%s:%d: %s: %s", path, lineno, o->name, why);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static void conf_usage(FILE *out)
{
	fprintf(out,
	        "Usage: chatroomd [OPTION]...\n"
	        "Chat server speaking the Chat-Room protocol (see chatroomd(8)).\n\n"
	        "  -f, --config FILE        configuration file (default " CONF_DEFAULT_FILE ")\n"
	        "  -t, --configtest         check the configuration, print it, and exit\n"
	        "  -n, --foreground         stay in the foreground and log to stderr\n"
	        "      --set-admin-password read a new Admin password from standard input, store it, exit\n"
	        "  -h, --help               show this help and exit\n"
	        "  -V, --version            show the version and exit\n\n"
	        "Options also settable in the configuration file ([Section] Name):\n");
	for (size_t i = 0; i < CONF_NOPTS; i++) {
		const struct conf_opt *o = &conf_opts[i];
		char left[64];
		if (o->sopt)
			snprintf(left, sizeof left, "-%c, --%s%s%s", o->sopt, o->lopt, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", o->lopt, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		fprintf(out, "  %-28s %s\n  %-28s   [%s] %s, default: %s%s\n", left, o->help, "",
		        o->section, o->name, *o->def ? o->def : "(none)", o->reload ? "; SIGHUP reloads" : "");
	}
	fprintf(out, "\nReport bugs to the chatroom project; see chatroomd(8).\n");
}

#define OPT_BASE 1000
#define OPT_SETADMIN 999

/* Build getopt_long's table from conf_opts. */
static void conf_getopt_table(struct option *lo, char *so, size_t solen)
{
	size_t n = 0;
	snprintf(so, solen, "f:tnhV");
	lo[n++] = (struct option){ "config", required_argument, NULL, 'f' };
	lo[n++] = (struct option){ "configtest", no_argument, NULL, 't' };
	lo[n++] = (struct option){ "foreground", no_argument, NULL, 'n' };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	lo[n++] = (struct option){ "set-admin-password", no_argument, NULL, OPT_SETADMIN };
	for (size_t i = 0; i < CONF_NOPTS; i++) {
		const struct conf_opt *o = &conf_opts[i];
		lo[n++] = (struct option){ o->lopt, o->arg ? required_argument : no_argument, NULL,
			                   (int)(OPT_BASE + i) };
		if (o->sopt) {
			size_t l = strlen(so);
			snprintf(so + l, solen - l, "%c%s", o->sopt, o->arg ? ":" : "");
		}
	}
	lo[n] = (struct option){ 0, 0, 0, 0 };
}

static const struct conf_opt *conf_find_short(int ch)
{
	for (size_t i = 0; i < CONF_NOPTS; i++)
		if (conf_opts[i].sopt == ch)
			return &conf_opts[i];
	return NULL;
}

/* Parse argv. pass 0 only notes -f and the actions; pass 1 applies options. */
static int conf_parse_args(struct conf *c, int argc, char **argv, int pass, int *action,
                           const char **file)
{
	struct option lo[CONF_NOPTS + 8];
	char so[128];
	conf_getopt_table(lo, so, sizeof so);
	int ch, list_replaced = 0;
	optind = 1;
	opterr = pass == 0;
	while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		const struct conf_opt *o = NULL;
		switch (ch) {
		case 'f': *file = optarg; continue;
		case 't': *action = CONF_CONFIGTEST; continue;
		case 'n': c->foreground = 1; continue;
		case 'h': if (pass == 0) conf_usage(stdout); *action = CONF_EXIT_OK; return 0;
		case 'V':
			if (pass == 0)
				printf("chatroomd %s\n", PACKAGE_VERSION);
			*action = CONF_EXIT_OK;
			return 0;
		case OPT_SETADMIN: *action = CONF_SET_ADMIN_PW; continue;
		case '?':
			if (pass == 0)
				fprintf(stderr, "Try 'chatroomd --help' for the list of options.\n");
			return -1;
		default:
			if (ch >= OPT_BASE && ch < OPT_BASE + (int)CONF_NOPTS)
				o = &conf_opts[ch - OPT_BASE];
			else
				o = conf_find_short(ch);
		}
		if (!o || pass == 0)
			continue;
		const char *why = conf_set(c, o, o->arg ? optarg : "yes",
		                           o->type == CT_LIST && !list_replaced++);
		if (why) {
			fprintf(stderr, "chatroomd: --%s: %s\n", o->lopt, why);
			return -1;
		}
	}
	if (optind < argc) {
		if (pass == 0)
			fprintf(stderr, "chatroomd: unexpected argument '%s'\nTry 'chatroomd --help'.\n",
			        argv[optind]);
		return -1;
	}
	return 0;
}

static int conf_build(struct conf *c, int argc, char **argv, int *action)
{
	const char *file = NULL;
	int fg = 0;
	*action = CONF_RUN;
	conf_defaults(c);
	if (conf_parse_args(c, argc, argv, 0, action, &file) < 0)
		return -1;
	if (*action == CONF_EXIT_OK)
		return 0;
	fg = c->foreground;
	if (file && !conf_abs_file) {
		char *abs = realpath(file, NULL);
		conf_abs_file = abs ? abs : strdup(file);
	}
	if (file && conf_abs_file)
		file = conf_abs_file;
	if (conf_read_file(c, file ? file : CONF_DEFAULT_FILE, file != NULL) < 0)
		return -1;
	c->config_file = strdup(file ? file : CONF_DEFAULT_FILE);
	if (access(c->config_file, R_OK) != 0) {
		free(c->config_file);
		c->config_file = NULL;
	}
	if (conf_parse_args(c, argc, argv, 1, action, &file) < 0)
		return -1;
	c->foreground = fg;
	/* 0: computed for this machine */
	if (c->workers == 0)
		c->workers = conf_auto_workers();
	if (c->max_connections == 0)
		c->max_connections = conf_auto_max_connections();
	if (c->tls_port && (!c->tls_cert[0] || !c->tls_key[0])) {
		conf_err("chatroomd: the TLS port needs a certificate and a key (--tls-cert, "
		         "--tls-key; [TLS] Certificate, Key)");
		return -1;
	}
	if (c->tls_port && c->tls_port == c->port) {
		conf_err("chatroomd: the TLS port (%d) must differ from the plain port", c->tls_port);
		return -1;
	}
	if (c->synchronous == CONF_SYNC_NORMAL && c->postgres[0]) {
		conf_err("chatroomd: Synchronous = normal is for the SQLite store; with Postgres every "
		         "commit is synced (synchronous_commit on): set Synchronous = full");
		return -1;
	}
	if (c->redis[0] && !c->postgres[0]) {
		conf_err("chatroomd: Redis (%s) is set without Postgres: a cluster's nodes share "
		         "PostgreSQL; set Postgres too",
		         c->redis);
		return -1;
	}
	if (c->heartbeat_timeout <= c->heartbeat_interval) {
		conf_err("chatroomd: HeartbeatTimeout (%d) must be longer than HeartbeatInterval (%d)",
		        c->heartbeat_timeout, c->heartbeat_interval);
		return -1;
	}
	return 0;
}

int conf_load(struct conf *c, int argc, char **argv)
{
	int action;
	free(conf_abs_file); /* a new start: -f is resolved again */
	conf_abs_file = NULL;
	if (conf_build(c, argc, argv, &action) < 0)
		return CONF_EXIT_FAIL;
	return action;
}

int conf_reload(struct conf *c, int argc, char **argv)
{
	struct conf n;
	int action, rc;
	conf_reloading = 1;
	rc = conf_build(&n, argc, argv, &action);
	conf_reloading = 0;
	if (rc < 0) {
		log_error("configuration reload failed: the file has errors (see above); keeping the "
		          "running configuration");
		conf_free(&n);
		return -1;
	}
	for (size_t i = 0; i < CONF_NOPTS; i++) {
		const struct conf_opt *o = &conf_opts[i];
		void *dst = conf_field(c, o);
		const void *src = conf_cfield(&n, o);
		int changed;
		switch (o->type) {
		case CT_INT: case CT_BOOL: case CT_LEVEL: case CT_LANG: case CT_SYNC:
			changed = *(const int *)src != *(int *)dst;
			if (changed && o->reload)
				__atomic_store_n((int *)dst, *(const int *)src, __ATOMIC_RELAXED);
			break;
		case CT_LL:
			changed = *(const long long *)src != *(long long *)dst;
			if (changed && o->reload)
				__atomic_store_n((long long *)dst, *(const long long *)src, __ATOMIC_RELAXED);
			break;
		case CT_STR: {
			char *const *s = src;
			char **d = dst;
			changed = strcmp(*s, *d) != 0;
			/* The old string is kept (leaked) on purpose: other threads may
			 * still be reading it, and reloads are rare. */
			if (changed && o->reload)
				__atomic_store_n(d, strdup(*s), __ATOMIC_RELEASE);
			break;
		}
		case CT_LIST:
		default:
			changed = n.n_listen != c->n_listen;
			for (int k = 0; !changed && k < n.n_listen; k++)
				changed = strcmp(n.listen[k], c->listen[k]) != 0;
			break;
		}
		if (changed && o->reload)
			log_info("reload: %s changed", o->name);
		else if (changed)
			log_warn("reload: %s changed, but takes effect only after a restart", o->name);
	}
	log_set_level(c->log_level);
	conf_free(&n);
	return 0;
}

void conf_print(const struct conf *c, FILE *out)
{
	const char *section = "";
	fprintf(out, "# chatroomd %s effective configuration (file: %s)\n", PACKAGE_VERSION,
	        c->config_file ? c->config_file : "none");
	for (size_t i = 0; i < CONF_NOPTS; i++) {
		const struct conf_opt *o = &conf_opts[i];
		const void *p = conf_cfield(c, o);
		if (strcmp(section, o->section)) {
			section = o->section;
			fprintf(out, "\n[%s]\n", section);
		}
		fprintf(out, "%s = ", o->name);
		switch (o->type) {
		case CT_INT: fprintf(out, "%d\n", *(const int *)p); break;
		case CT_LL: fprintf(out, "%lld\n", *(const long long *)p); break;
		case CT_BOOL: fprintf(out, "%s\n", *(const int *)p ? "yes" : "no"); break;
		case CT_LEVEL: fprintf(out, "%s\n", log_level_name(*(const int *)p)); break;
		case CT_LANG: fprintf(out, "%s\n", catalog_lang_name(*(const int *)p)); break;
		case CT_SYNC:
			fprintf(out, "%s\n", *(const int *)p == CONF_SYNC_NORMAL ? "normal" : "full");
			break;
		case CT_STR:
			if (o->off == O(admin_password))
				fprintf(out, "%s\n", **(char *const *)p ? "(set)" : "");
			else
				fprintf(out, "%s\n", *(char *const *)p);
			break;
		case CT_LIST:
			for (int k = 0; k < c->n_listen; k++)
				fprintf(out, "%s%s", k ? ", " : "", c->listen[k]);
			fprintf(out, "\n");
			break;
		}
	}
}

void conf_free(struct conf *c)
{
	for (size_t i = 0; i < CONF_NOPTS; i++)
		if (conf_opts[i].type == CT_STR) {
			char **p = conf_field(c, &conf_opts[i]);
			free(*p);
			*p = NULL;
		}
	conf_free_list(c);
	free(c->config_file);
	c->config_file = NULL;
}
