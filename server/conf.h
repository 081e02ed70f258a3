/* conf.h - chatroomd's configuration: defaults (common/tunables.h), the
 * configuration file (chatroomd.conf(5)) and the command line, which wins.
 *
 * One table in conf.c describes every option once: its file section and
 * name, its long option, type, default, whether SIGHUP reloads it, and its
 * help text; --help, --configtest and the parser are all driven by it.
 *
 * The live configuration is read by many threads without a lock. SIGHUP
 * (conf_reload) changes a reloadable number with one relaxed atomic store
 * and a reloadable string by storing a new pointer and keeping the old
 * string allocated, so a reader reads each field once with CONF() (server.h)
 * and always sees a whole value, old or new. */
#ifndef CHATROOM_CONF_H
#define CHATROOM_CONF_H

#include <stddef.h>
#include <stdio.h>

#define CONF_MAX_LISTEN 8

/* [Store] Synchronous */
#define CONF_SYNC_FULL 0   /* every commit waits for the disk */
#define CONF_SYNC_NORMAL 1 /* commits are synced by a checkpoint thread */

struct conf {
	/* [Server] */
	char *listen[CONF_MAX_LISTEN]; /* addresses, IPv4 or IPv6 */
	int n_listen;
	int port;
	char *database;     /* SQLite file */
	char *data_dir;     /* uploaded files */
	char *pidfile;
	char *user;         /* drop privileges to this user after start */
	int foreground;
	int use_syslog;
	int log_level;
	int language;       /* CAT_ZH or CAT_EN: texts for legacy clients */
	/* [Limits] */
	int workers;
	int queue;
	int max_transfers;  /* 0: half of workers */
	int stack_kb;
	int max_line;
	int max_output;
	int max_connections;
	int max_per_address;
	int history_max;
	int rate;
	int burst;
	int legacy_reply_delay; /* ms: floor of a legacy reply's delay, 0 off */
	/* [Timeouts] */
	int heartbeat_interval;
	int heartbeat_timeout;
	int login_timeout;
	int transfer_timeout; /* seconds a file transfer may stall */
	/* [Store] */
	int batch_size;
	int batch_ms;
	int writer_queue;
	int dedup_window;
	int io_uring;            /* broadcasts written through io_uring (uring.h) */
	int synchronous;         /* CONF_SYNC_FULL or CONF_SYNC_NORMAL */
	int checkpoint_interval; /* ms: Synchronous = normal's sync interval */
	/* [Security] */
	int hash_opslimit;
	int hash_memlimit_kb;
	int hash_concurrency;
	char *admin_password; /* set at start when Admin has none */
	char *admin_password_file; /* ... or the first line of this file */
	int login_fail_max;    /* failed logins for one account from one address ... */
	int login_fail_max_address; /* ... or from one address ... */
	int login_fail_window; /* ... within this many seconds, then refused */
	int login_fail_max_account; /* failed logins for one account, then ... */
	int login_fail_delay;  /* ... each login to it waits this many seconds */
	int login_throttle_entries; /* counts kept per throttle table */
	int register_max_address; /* new accounts from one address (0: any) ... */
	int register_window;   /* ... within this many seconds */
	int max_chats_per_user; /* chats one user may be a member of */
	/* [Presence] */
	int presence_max_group;
	/* [Files] */
	long long max_file_size;
	long long min_free_space; /* bytes an upload must leave free */
	char *file_extensions; /* comma-separated allow-list */
	/* [Cluster] */
	char *postgres;     /* libpq connection string; "": SQLite (database) */
	char *redis;        /* HOST:PORT of the bus; "": none */
	char *node_name;    /* "": the host name */
	int gap_wait;       /* ms before a gap is fetched from PostgreSQL */
	int sweep_interval; /* ms between comparisons with PostgreSQL */
	int node_timeout;   /* seconds a node's key lives without refresh */
	int debug_drop_publish; /* testing: drop every Nth publish */
	int debug_drop_notices; /* testing: publish no notice of a change */

	/* [TLS] */
	int tls_port;          /* 0: no TLS port */
	char *tls_cert;        /* PEM: the certificate, then its chain */
	char *tls_key;         /* PEM: its private key */

	/* not options */
	char *config_file;  /* the file read, or NULL */
};

enum conf_action { CONF_RUN = 0, CONF_EXIT_OK, CONF_EXIT_FAIL, CONF_CONFIGTEST, CONF_SET_ADMIN_PW };

/* Defaults, then the file (-f FILE, or the default path if it exists), then
 * the command line. Errors are printed to stderr naming the file, line and
 * option. Returns what main() should do. */
int conf_load(struct conf *c, int argc, char **argv);

/* Re-read the file for SIGHUP: options marked reloadable are applied to c,
 * others that changed are reported as needing a restart. 0, or -1 when the
 * file has an error (c unchanged). */
int conf_reload(struct conf *c, int argc, char **argv);

/* Print the effective configuration in file syntax. */
void conf_print(const struct conf *c, FILE *out);

void conf_free(struct conf *c);

/* Computed defaults: Workers (a few per CPU) and MaxConnections (from the
 * descriptor limit). */
int conf_auto_workers(void);
int conf_auto_max_connections(void);

#endif
