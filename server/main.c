/* main.c - chatroomd start-up, signals and shutdown.
 *
 * Threads: the main thread waits for signals; the accept thread
 * (listener.c) hands connections to the worker pool (pool.c, session.c);
 * the watchdog (watchdog.c) ends silent clients; the writer (writer.c)
 * stores messages. */
#include "config.h"
#include "broadcast.h"
#include "bus.h"
#include "cluster.h"
#include "cluster_presence.h"
#include "cluster_sync.h"
#include "cmd.h"
#include "catalog.h"
#include "conf.h"
#include "tunables.h"
#include "listener.h"
#include "log.h"
#include "passwd.h"
#include "pool.h"
#include "proto.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "throttle.h"
#include "order.h"
#include "state.h"
#include "store.h"
#include "store_pg.h"
#include "tls.h"
#include "uring.h"
#include "table.h"
#include "valid.h"
#include "waiter.h"
#include "watchdog.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* How long shutdown waits for connections to finish their last writes. */
#define MAIN_SHUTDOWN_MS 5000
/* A TLS certificate that expires sooner than this is logged as a warning
 * at start and on reload. */
#define MAIN_TLS_EXPIRY_WARN_DAYS 14

static struct conf main_conf;
static int main_pidfd = -1;

/* Each connection uses one descriptor: take whatever the hard limit
 * allows, and say so when MaxConnections asks for more. */
static void main_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)srv_conf->max_connections + CR_FD_RESERVE)
		log_warn("file descriptor limit %llu is low for MaxConnections %d (each connection "
		         "uses one descriptor; raise ulimit -n or lower MaxConnections)",
		         (unsigned long long)rl.rlim_cur, srv_conf->max_connections);
}

static int main_mkdir_p(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* A daemon works in /: make a relative path absolute before it detaches. */
static void main_absolute(char **path)
{
	char cwd[4096], *abs;
	if (!*path || !**path || **path == '/' || !getcwd(cwd, sizeof cwd))
		return;
	size_t n = strlen(cwd) + strlen(*path) + 2;
	if (!(abs = malloc(n)))
		return;
	snprintf(abs, n, "%s/%s", cwd, *path);
	free(*path);
	*path = abs;
}

/* The parent of the daemon waits on this pipe for "ready" so that a failed
 * start gives a non-zero exit status and the error on the terminal. */
static int main_ready_fd = -1;

static int main_daemonize(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		char c = 1;
		close(p[1]);
		ssize_t n = read(p[0], &c, 1);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	main_ready_fd = p[1];
	if (chdir("/") < 0)
		return -1;
	umask(027);
	return 0;
}

/* After start-up succeeded: release the waiting parent and detach stdio. */
static void main_ready(void)
{
	if (main_ready_fd < 0)
		return;
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > 2)
			close(null);
	}
	char ok = 0;
	if (write(main_ready_fd, &ok, 1) < 0)
		log_warn("could not tell the starting process that the server is ready");
	close(main_ready_fd);
	main_ready_fd = -1;
}

static int main_pidfile(const char *path)
{
	main_pidfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (main_pidfd < 0) {
		log_error("cannot open pid file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(main_pidfd, LOCK_EX | LOCK_NB) < 0) {
		log_error("pid file %s is locked: is chatroomd already running?", path);
		close(main_pidfd);
		main_pidfd = -1;
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(main_pidfd, 0) < 0 || write(main_pidfd, buf, (size_t)n) != n) {
		log_error("cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The name store_open() is given: the SQLite file, or in cluster mode
 * PostgreSQL's connection string (which it tells by the prefix). */
static const char *main_store_name(void)
{
	static char name[4200];
	const char *pg = srv_conf->postgres;
	if (!pg[0])
		return srv_conf->database;
	if (strncmp(pg, "postgresql://", 13) == 0 || strncmp(pg, "postgres://", 11) == 0)
		return pg;
	snprintf(name, sizeof name, STORE_PG_PREFIX "%s", pg);
	return name;
}

/* The database in log lines: a connection string may hold a password. */
static const char *main_store_label(void)
{
	return srv_conf->postgres[0] ? "PostgreSQL" : srv_conf->database;
}

/* chatroomd -t in cluster mode: PostgreSQL and Redis answer, and the
 * schema's version fits. Prints what is wrong; 0 when all is well. */
static int main_check_cluster(void)
{
	char err[512];
	int bad = 0;
	if (srv_conf->postgres[0]) {
		if (store_pg_check(srv_conf->postgres, err, sizeof err) != STORE_OK) {
			fprintf(stderr, "chatroomd: Postgres: %s\n", err);
			bad = 1;
		} else {
			printf("# PostgreSQL: reachable, schema version fits\n");
		}
	}
	if (srv_conf->redis[0]) {
		if (bus_check(srv_conf->redis, err, sizeof err) < 0) {
			fprintf(stderr, "chatroomd: Redis: %s\n", err);
			bad = 1;
		} else {
			printf("# Redis: reachable\n");
		}
	}
	return bad;
}

/* Where delivery starts in each group: after what is stored (history). */
static int main_order_group(void *ctx, int64_t gid, int64_t seq)
{
	(void)ctx;
	order_set_last(gid, seq);
	return 0;
}

/* Cluster mode from start: ids at commit, delivery through the order, and
 * with Redis the bus. 0, or -1 (logged). */
static int main_cluster_start(void)
{
	char err[512], host[256];
	bcast_cluster_start();
	cluster_enable();
	if (store_pg_groups_seq(store_pg_from(srv_store), main_order_group, NULL) != STORE_OK) {
		log_error("cannot read the groups' positions from PostgreSQL");
		return -1;
	}
	if (!srv_conf->redis[0])
		return 0;
	if (!srv_conf->node_name[0]) {
		if (gethostname(host, sizeof host) < 0)
			snprintf(host, sizeof host, "node-%d", (int)getpid());
		host[sizeof host - 1] = '\0';
		free(srv_conf->node_name);
		srv_conf->node_name = strdup(host);
		if (!srv_conf->node_name) {
			log_error("out of memory");
			return -1;
		}
	}
	struct bus_opts bo = {
		.redis = srv_conf->redis,
		.node = srv_conf->node_name,
		.conninfo = srv_conf->postgres,
		.gap_wait_ms = srv_conf->gap_wait,
		.sweep_ms = srv_conf->sweep_interval,
		.heartbeat_s = srv_conf->node_timeout,
		.drop_every = srv_conf->debug_drop_publish,
		.drop_notices = srv_conf->debug_drop_notices,
		.refresh = cluster_refresh,
		.login_elsewhere = cluster_login_elsewhere,
		.sync = cluster_sync_apply,
		.notice = cpres_notice,
		.tick = cpres_tick,
		.batch_begin = bcast_batch_begin,
		.batch_end = bcast_batch_end,
	};
	if (bus_start(&bo, err, sizeof err) < 0) {
		log_error("cannot start the bus: %s", err);
		return -1;
	}
	cpres_start(srv_conf->node_name, srv_conf->node_timeout);
	log_info("cluster: node %s, Redis at %s", srv_conf->node_name, srv_conf->redis);
	return 0;
}

static void main_chown_state(uid_t uid, gid_t gid)
{
	if (srv_conf->postgres[0])
		return; /* nothing of ours on this disk */
	const char *suffix[] = { "", "-wal", "-shm" };
	char path[4200];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s%s", srv_conf->database, suffix[i]);
		if (chown(path, uid, gid) < 0 && errno != ENOENT)
			log_warn("cannot give %s to the server user: %s", path, strerror(errno));
	}
	if (chown(srv_conf->data_dir, uid, gid) < 0)
		log_warn("cannot give %s to the server user: %s", srv_conf->data_dir, strerror(errno));
	if (main_pidfd >= 0 && fchown(main_pidfd, uid, gid) < 0)
		log_warn("cannot give the pid file to the server user: %s", strerror(errno));
}

static int main_drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_error("user '%s' does not exist", user);
		return -1;
	}
	main_chown_state(pw->pw_uid, pw->pw_gid);
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
	log_info("running as user %s", user);
	return 0;
}

/* Give Admin the configured password when it has none. */
static int main_admin_password(const char *pw)
{
	char hash[256];
	int has = state_admin_has_password();
	if (has < 0) {
		log_error("the database has no Admin account");
		return -1;
	}
	if (has)
		return 0;
	if (!pw || !*pw) {
		log_warn("Admin has no password yet, so nobody can administer this server: set one "
		         "with 'chatroomd --set-admin-password' or AdminPassword in the configuration");
		return 0;
	}
	const char *why = valid_password(pw);
	if (why) {
		log_error("AdminPassword: %s", why);
		return -1;
	}
	if (passwd_hash(pw, hash, sizeof hash) < 0 ||
	    state_admin_set_pwhash(hash) != STATE_OK) {
		log_error("could not store the Admin password");
		return -1;
	}
	log_info("Admin password set from the configuration");
	return 0;
}

/* AdminPasswordFile: a password in a file (mode 0600) is not shown by ps
 * as --admin-password is. Read before detaching, so a relative path works. */
static int main_read_password_file(void)
{
	char line[256];
	FILE *fp = fopen(srv_conf->admin_password_file, "r");
	if (!fp) {
		fprintf(stderr, "chatroomd: AdminPasswordFile %s: %s\n", srv_conf->admin_password_file,
		        strerror(errno));
		return -1;
	}
	char *got = fgets(line, sizeof line, fp);
	fclose(fp);
	if (!got) {
		fprintf(stderr, "chatroomd: AdminPasswordFile %s is empty\n", srv_conf->admin_password_file);
		return -1;
	}
	line[strcspn(line, "\r\n")] = '\0';
	char *pw = strdup(line);
	memset(line, 0, sizeof line);
	if (!pw) {
		fprintf(stderr, "chatroomd: out of memory\n");
		return -1;
	}
	free(srv_conf->admin_password);
	srv_conf->admin_password = pw;
	return 0;
}

static int main_set_admin_password(void)
{
	char line[256];
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		/* do not show the password as it is typed */
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		fprintf(stderr, "New Admin password: ");
	}
	char *got = fgets(line, sizeof line, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!got) {
		fprintf(stderr, "chatroomd: no password on standard input\n");
		return 1;
	}
	line[strcspn(line, "\r\n")] = '\0';
	const char *why = valid_password(line);
	if (why) {
		fprintf(stderr, "chatroomd: %s\n", why);
		return 1;
	}
	char hash[256], err[512];
	if (passwd_hash(line, hash, sizeof hash) < 0) {
		fprintf(stderr, "chatroomd: could not hash the password\n");
		return 1;
	}
	memset(line, 0, sizeof line); /* do not leave the password in memory */
	if (state_open(main_store_name(), err, sizeof err) < 0) {
		fprintf(stderr, "chatroomd: %s\n", err);
		return 1;
	}
	int rc = state_admin_set_pwhash(hash);
	state_close();
	if (rc != STATE_OK) {
		fprintf(stderr, "chatroomd: could not store the password in %s\n", main_store_label());
		return 1;
	}
	printf("Admin password set in %s\n", main_store_label());
	return 0;
}

/* -t: the TLS port's certificate and key load and match; when the
 * certificate expires. 0, or -1 (said on stderr). */
static int main_tls_check(void)
{
	char err[512], subject[256] = "", when[64];
	time_t not_after;
	if (!srv_conf->tls_port)
		return 0;
	struct ssl_ctx_st *ctx = tls_ctx_load(srv_conf->tls_cert, srv_conf->tls_key, err, sizeof err);
	if (!ctx) {
		fprintf(stderr, "chatroomd: TLS: %s\n", err);
		return -1;
	}
	tls_ctx_free(ctx);
	if (tls_cert_info(srv_conf->tls_cert, &not_after, subject, sizeof subject, err,
	                  sizeof err) < 0) {
		fprintf(stderr, "chatroomd: TLS: %s\n", err);
		return -1;
	}
	struct tm tm;
	gmtime_r(&not_after, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
	long long days = ((long long)not_after - (long long)time(NULL)) / 86400;
	printf("# TLS certificate %s (%s) and key %s: OK; %s %s (%lld days)\n", srv_conf->tls_cert,
	       subject, srv_conf->tls_key, not_after < time(NULL) ? "EXPIRED on" : "expires",
	       when, days);
	return 0;
}

/* Log which certificate new TLS connections get and when it expires
 * (warning when that is within a few weeks, or past). */
static void main_tls_log(const char *what)
{
	char err[512], subject[256] = "";
	time_t not_after;
	if (tls_cert_info(srv_conf->tls_cert, &not_after, subject, sizeof subject, err,
	                  sizeof err) < 0) {
		log_info("%s: %s", what, srv_conf->tls_cert);
		return;
	}
	long long days = ((long long)not_after - (long long)time(NULL)) / 86400;
	if (not_after < time(NULL))
		log_warn("%s: %s (%s) EXPIRED %lld days ago: clients will refuse it", what,
		         srv_conf->tls_cert, subject, -days);
	else if (days < MAIN_TLS_EXPIRY_WARN_DAYS)
		log_warn("%s: %s (%s) expires in %lld days: renew it, then send SIGHUP", what,
		         srv_conf->tls_cert, subject, days);
	else
		log_info("%s: %s (%s), expires in %lld days", what, srv_conf->tls_cert, subject, days);
}

/* SIGHUP: the TLS port's certificate and key again, for new connections. */
static void main_tls_reload(void)
{
	char err[512];
	if (!srv_conf->tls_port)
		return;
	if (tls_reload(srv_conf->tls_cert, srv_conf->tls_key, err, sizeof err) < 0) {
		log_error("TLS certificate reload failed, keeping the one in use: %s", err);
		return;
	}
	main_tls_log("TLS certificate reloaded for new connections");
}

/* Returns 0, or the worker threads still busy: then nothing they may use
 * (the store, the table) is freed. */
static int main_shutdown(void)
{
	int busy;
	char line[1024];
	log_info("shutting down: no new connections, telling clients, storing every message");
	listener_stop();
	watchdog_stop();
	atomic_store(&srv_stopping, 1);
	session_close_all(CAT_SHUTDOWN);
	/* every parked connection is woken by its close and ends in a worker */
	long long end = srv_now_ms() + MAIN_SHUTDOWN_MS;
	for (;;) {
		table_rdlock();
		size_t left = table_count_clients();
		table_unlock();
		if (left == 0 || srv_now_ms() >= end)
			break;
		poll(NULL, 0, 10);
	}
	busy = pool_stop(MAIN_SHUTDOWN_MS);
	if (busy == 0) {
		waiter_stop();
	} else {
		/* a worker still serves a connection: leave the waiter, the
		 * store and the table alone rather than free what it may use;
		 * the process exits with them */
		log_warn("shutdown: %d connections still being served are left to the exit", busy);
	}
	writer_stop();
	/* after the writer: its last batches are published */
	cpres_stop();
	bus_stop();
	order_reset();
	stats_format(line, sizeof line);
	log_info("final statistics: %s", line);
	if (busy == 0) {
		state_close();
	}
	if (main_pidfd >= 0 && srv_conf->pidfile[0]) {
		unlink(srv_conf->pidfile);
		close(main_pidfd);
	}
	log_info("chatroomd stopped");
	return busy;
}

int main(int argc, char **argv)
{
	char err[512];
	srv_conf = &main_conf;
	int action = conf_load(srv_conf, argc, argv);
	if (action == CONF_EXIT_OK)
		return 0;
	if (action == CONF_EXIT_FAIL)
		return 2;
	if (action == CONF_CONFIGTEST) {
		conf_print(srv_conf, stdout);
		log_init("chatroomd", LOG_LVL_ERROR, 1, 0);
		if (main_tls_check() < 0 || main_check_cluster() != 0)
			return 1;
		printf("# configuration OK\n");
		return 0;
	}
	if (!srv_conf->admin_password[0] && srv_conf->admin_password_file[0] &&
	    main_read_password_file() < 0)
		return 1;
	const char *envpw = getenv("CHATROOMD_ADMIN_PASSWORD");
	if (envpw && *envpw && !srv_conf->admin_password[0]) {
		free(srv_conf->admin_password);
		srv_conf->admin_password = strdup(envpw);
	}
	log_init("chatroomd", srv_conf->log_level, srv_conf->foreground || !srv_conf->use_syslog,
	         srv_conf->use_syslog);
	if (passwd_init((unsigned)srv_conf->hash_opslimit, (size_t)srv_conf->hash_memlimit_kb,
	                (unsigned)srv_conf->hash_concurrency) < 0) {
		fprintf(stderr, "chatroomd: cannot initialise libsodium\n");
		return 1;
	}
	if (action == CONF_SET_ADMIN_PW)
		return main_set_admin_password();
	if (throttle_init((size_t)srv_conf->login_throttle_entries) < 0) {
		fprintf(stderr, "chatroomd: out of memory for the login throttle\n");
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Every thread inherits this mask; the main thread takes the signals
	 * with sigwait(). Blocked before the port is open, so a SIGTERM that
	 * comes early still means a clean stop. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (srv_conf->tls_port && tls_init(srv_conf->tls_cert, srv_conf->tls_key, err, sizeof err) < 0) {
		fprintf(stderr, "chatroomd: TLS: %s\n", err);
		return 1;
	}
	if (main_mkdir_p(srv_conf->data_dir) < 0) {
		fprintf(stderr, "chatroomd: cannot create data directory %s: %s\n", srv_conf->data_dir,
		        strerror(errno));
		return 1;
	}
	if (listener_bind() < 0)
		return 1;
	if (!srv_conf->foreground) {
		main_absolute(&srv_conf->database);
		main_absolute(&srv_conf->data_dir);
		main_absolute(&srv_conf->pidfile);
		main_absolute(&srv_conf->tls_cert); /* read again on SIGHUP */
		main_absolute(&srv_conf->tls_key);
		if (main_daemonize() < 0) {
			fprintf(stderr, "chatroomd: cannot become a daemon: %s\n", strerror(errno));
			return 1;
		}
		log_init("chatroomd", srv_conf->log_level, 0, 1);
	}
	if (srv_conf->pidfile[0] && main_pidfile(srv_conf->pidfile) < 0)
		return 1;
	main_raise_nofile();


	if (state_open(main_store_name(), err, sizeof err) < 0) {
		log_error("cannot open the database %s: %s", main_store_label(), err);
		return 1;
	}
	table_init();
	int64_t last_id = 0;
	if (state_load(&last_id) < 0) {
		log_error("cannot read groups from the database %s", main_store_label());
		return 1;
	}
	bcast_set_last_id(last_id);
	bcast_reserve_ids();
	if (main_admin_password(srv_conf->admin_password) < 0)
		return 1;

	struct writer_opts wo = {
		.db_path = srv_conf->database,
		.pg_conninfo = srv_conf->postgres[0] ? srv_conf->postgres : NULL,
		.batch_size = srv_conf->batch_size,
		.batch_ms = srv_conf->batch_ms,
		.max_queue = (size_t)srv_conf->writer_queue,
		.dedup_window = srv_conf->dedup_window,
		.sync_interval_ms =
		        srv_conf->synchronous == CONF_SYNC_NORMAL ? srv_conf->checkpoint_interval : 0,
		.on_stored = bcast_stored,
	};
	if (srv_conf->postgres[0] && main_cluster_start() < 0)
		return 1;
	uring_configure(srv_conf->io_uring); /* before any thread broadcasts */
	if (writer_start(&wo, err, sizeof err) < 0) {
		log_error("cannot start the writer: %s", err);
		return 1;
	}
	if (srv_conf->user[0] && main_drop_privileges(srv_conf->user) < 0)
		return 1;
	if (pool_start(srv_conf->workers, srv_conf->queue, (size_t)srv_conf->stack_kb * 1024,
	               session_serve) < 0 ||
	    waiter_start() < 0 || watchdog_start() < 0 || listener_start() < 0) {
		log_error("cannot start the server threads");
		return 1;
	}
	if (srv_conf->tls_port)
		main_tls_log("TLS certificate");
	char sync[96] = "";
	if (srv_conf->synchronous == CONF_SYNC_NORMAL)
		snprintf(sync, sizeof sync, ", Synchronous = normal (synced every %d ms)",
		         srv_conf->checkpoint_interval);
	log_info("chatroomd %s started: database %s%s, %d workers at most, %d connections at most, "
	         "last message id %lld",
	         PACKAGE_VERSION, main_store_label(), sync, srv_conf->workers,
	         CONF(max_connections), (long long)last_id);
	main_ready();

	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading the configuration");
			conf_reload(srv_conf, argc, argv);
			main_tls_reload();
		} else if (sig == SIGUSR1) {
			char line[1024];
			stats_format(line, sizeof line);
			log_info("statistics: %s", line);
		}
	}
	if (main_shutdown() == 0) {
		table_destroy();
		tls_shutdown();
	}
	conf_free(srv_conf);
	return 0;
}
