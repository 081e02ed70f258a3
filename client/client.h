/* client.h - state of the chatroom client, shared by its modules.
 *
 * The client is one thread around one poll() loop (main.c), so the state is
 * a single global struct without locks. Each module owns the fields in its
 * section and is the only one that changes them; the others read them. */
#ifndef CHATROOM_CLIENT_H
#define CHATROOM_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"

/* Exit statuses, documented in chatroom(1). */
#define CL_EXIT_OK      0 /* everything worked */
#define CL_EXIT_FAILED  1 /* a command failed or a message was not acknowledged */
#define CL_EXIT_USAGE   2 /* bad option, configuration or password file */
#define CL_EXIT_CONNECT 3 /* could not connect, or connection down at exit with messages unsent */

/* Client limits and defaults. */
#define CL_DEFAULT_HOST           "localhost"
#define CL_DEFAULT_RECONNECT_MIN  1.0    /* seconds before the first reconnect attempt */
#define CL_DEFAULT_RECONNECT_MAX  30.0   /* cap of the doubling back-off */
#define CL_DEFAULT_EXIT_WAIT      10.0   /* script mode: seconds to wait for acks at EOF */
#define CL_CONNECT_TIMEOUT        10.0   /* seconds for a TCP connect and the hello reply */
#define CL_REPLY_TIMEOUT          15.0   /* seconds to wait for the answer to a command */
#define CL_MAX_LINE               (1024 * 1024) /* longest line accepted from the server */
#define CL_INPUT_MAX_LINE         (64 * 1024)   /* longest input line in script mode */
#define CL_HISTORY_PAGE           500    /* history_request limit while catching up */
#define CL_SHOWN_KEYS             1024   /* (sender, client_msg_id) of the last messages shown */
#define CL_HISTORY_MAX            500    /* largest N for /history N */
#define CL_SCRIPT_QUEUE_MAX       1000   /* input lines read ahead in script mode */
#define CL_XFER_STALL             30.0   /* seconds a file transfer may make no progress */
#define CL_XFER_CHUNK             (256 * 1024) /* bytes read from a file or the socket at once */
#define CL_PROGRESS_MIN           (4 * 1024 * 1024) /* smaller transfers show no progress */
#define CL_PROGRESS_EVERY         0.25   /* seconds between two progress updates */

enum cl_conn_state {
	CONN_DOWN = 0,   /* no socket; a reconnect may be scheduled */
	CONN_CONNECTING, /* non-blocking connect() in progress */
	CONN_TLS,        /* connected, TLS handshake in progress (--tls) */
	CONN_HELLO,      /* connected, hello sent, waiting for the reply */
	CONN_UP,         /* protocol negotiated; requests may be sent */
};

/* Options, after defaults, configuration file, environment and command line
 * (in that order; later wins). Owned by conf.c. */
struct cl_opts {
	char *host;
	char *port;
	char *user;          /* log in at start as this user */
	char *password;      /* from --password-file or CHATROOM_PASSWORD */
	double reconnect_min;
	double reconnect_max;
	double exit_wait;
	int color;           /* -1 auto, 0 never, 1 always */
	int presence;        /* show user_status_update lines */
	int script;          /* 1 when standard input is not a terminal */
	char *download_dir;  /* where /recv_files saves; NULL: the current directory */
	char *lang;          /* "zh" or "en": language asked of the server in hello;
	                      * NULL: none asked (the server's texts are English) */
	int tls;             /* connect with TLS */
	char *cafile;        /* trusted authorities for TLS; NULL: the system's */
	char *pin;           /* --pin-sha256: the server's key (SHA-256 of its
	                      * SubjectPublicKeyInfo, base64); NULL: none */
};

/* A chat line accepted from the user and not yet acknowledged. */
struct cl_outmsg {
	struct cl_outmsg *next;
	char cmid[48];        /* client_msg_id: random prefix + counter */
	int64_t group_id;     /* the group current when it was typed */
	char *content;
	unsigned sent_gen;    /* connection generation it was last sent on; 0 = never */
};

/* A message shown, by its sender's client_msg_id: a copy of it under
 * another message_id is not shown again. */
struct cl_shown {
	int64_t sender_id;
	char cmid[72];        /* the server's limit is 64 bytes */
};

/* What a chat_history ... chat_history_complete batch is for. The server
 * answers requests of one connection in order, so a FIFO matches them. */
enum cl_hist_purpose {
	HIST_SHOW = 0,   /* /history or /enter_chat: print everything */
	HIST_BASELINE,   /* after login: learn the newest id, print nothing */
	HIST_DISCARD,    /* enter_chat history during a resync: superseded by catch-up */
	HIST_CATCHUP,    /* after reconnect: print what was missed, page forward */
	HIST_CATCHUP_BACK, /* the same from an empty start: page backward, print at the end */
};

#define CL_HIST_FIFO 16

struct client {
	struct cl_opts o;

	/* --- connection: net.c --- */
	int fd;
	enum cl_conn_state state;
	unsigned gen;            /* incremented on every successful connect */
	int ever_connected;      /* a connection has been made at least once */
	int proto2;              /* the server answered hello */
	double heartbeat;        /* seconds, from the hello reply; 0 = none */
	double last_rx, last_tx; /* monotonic times of the last bytes in and out */
	double next_attempt;     /* monotonic time of the next reconnect attempt */
	double backoff;          /* current back-off base, seconds */
	double state_since;      /* monotonic time the current state began */

	/* --- session: sess.c --- */
	char *username;          /* who we are (or want to be) logged in as */
	char *password;          /* kept to log in again after a reconnect */
	int64_t user_id;
	int logged_in;           /* login_response success on this connection */
	int login_inflight;      /* login_request sent, no answer yet */
	int login_initial;       /* the pending login is the one from -u */
	int superseded;          /* the server said our account logged in elsewhere */
	int had_session;         /* logged in before: re-login after reconnect */
	int64_t group_id;        /* current group; 0 when none */
	char *group_name;
	int64_t last_shown;      /* newest message id printed in the current group */
	int64_t base_id;         /* newest id known to exist when we looked (baseline) */
	int64_t max_acked;       /* newest acked id of ours in the current group */
	int resync;              /* catching up after a reconnect */
	enum cl_hist_purpose hist[CL_HIST_FIFO];
	int hist_head, hist_len;
	json_object *held;       /* live chat messages held back during a resync (array) */
	struct cl_shown shown[CL_SHOWN_KEYS]; /* ring of the last messages shown with a client_msg_id */
	unsigned shown_next, shown_len;
	char *direct_text;       /* /msg's text, sent once its chat is entered */
	char *direct_chat;       /* ... the name of that chat */
	struct cl_outmsg *outbox, **outbox_tail;
	size_t outbox_len;
	char cmid_prefix[20];
	unsigned long cmid_counter;

	/* --- commands: cmd.c --- */
	const char *wait_type;   /* response type the last command waits for, or NULL */
	const char *wait_then;   /* after wait_type, wait for this one too (e.g. history) */
	char *held_cmd;          /* typed while (re)connecting: runs once connected */
	double wait_deadline;

	/* --- program: main.c --- */
	int failed;              /* a command failed: exit status 1 */
	int quit;                /* leave the loop */
	int exit_code;           /* forced exit status when >= 0 */
	int stdin_eof;
	double eof_time;
};

extern struct client cl;

/* main.c */
double cl_now(void); /* monotonic seconds */

/* conf.c: options, configuration file, environment, passwords */
int conf_parse(int argc, char **argv); /* returns -1 to continue, else an exit status */
char *conf_read_password(const char *prompt); /* no echo; NULL when impossible */
char *conf_password_for_login(void); /* the configured password, or a prompt */

/* What a command waits for when it is a file transfer: xfer.c ends the wait
 * itself, after the last file of the job. */
#define CMD_WAIT_XFER "file transfer"

/* net.c: the connection */
void net_init(void);
int net_connect_now(void); /* first connection, blocking until TCP is up: 0 or -1 */
void net_send(json_object *msg); /* consumes msg; dropped when not connected */
int net_ready(void); /* protocol negotiated */
void net_drop(const char *why);
void net_kick(void); /* connect again now if idle after a drop */
void net_poll_setup(short *events);
void net_on_events(short revents);
void net_tick(double now);
double net_next_timer(double now); /* seconds until net_tick is due */
void net_close(void);
/* While an upload is announced and its bytes go out, net_send keeps every
 * JSON line back, so none lands inside the raw bytes; net_unhold sends
 * them. The hold ends by itself once xfer_raw_fill has given the last byte. */
void net_hold(void);
void net_unhold(void);

/* tls.c: TLS on the connection (--tls); see its top comment */
int tls_setup(char *err, size_t errlen); /* the context, at start: 0 or -1 */
int tls_begin(int fd, const char *host, char *err, size_t errlen); /* 0 or -1 */
/* One handshake step: 1 done, 0 again (tls_poll_events), -1 failed; *fatal:
 * the server's certificate or key was refused (never retried). */
int tls_step(char *err, size_t errlen, int *fatal);
int tls_active(void);
ssize_t tls_read(void *buf, size_t n);        /* like recv() */
ssize_t tls_write(const void *buf, size_t n); /* like send(); same bytes again after EAGAIN */
int tls_pending(void);                        /* decrypted bytes poll() cannot see */
short tls_poll_events(int want_in, int want_out);
void tls_end(void);  /* the connection's TLS state goes (close_notify if up) */
void tls_free(void); /* at exit */

/* sess.c: protocol state, incoming messages, outbox and catch-up */
void sess_init(void);
void sess_on_connected(void); /* hello answered (or legacy server) */
void sess_on_disconnected(void);
void sess_handle(json_object *msg, const char *type);
void sess_login(const char *user, const char *password, int initial);
void sess_logout(void);
void sess_enter(const char *name); /* /enter_chat */
/* /msg: open the direct chat with user, enter it, then send text (NULL:
 * none). */
void sess_open_direct(const char *user, const char *text);
void sess_say(const char *content);
int sess_ready(void); /* connected, logged in state settled, not catching up */
int sess_settled(void); /* nothing in flight that exit must wait for */
void sess_history_push(enum cl_hist_purpose p);
void sess_free(void);

/* cmd.c: slash commands */
void cmd_line(const char *line); /* a line typed or read from standard input */
int cmd_is_command(const char *line);
int cmd_runs_offline(const char *line);
void cmd_answered(const char *type, int ok); /* a response arrived */
/* The command goes on into entering a chat (/msg): wait for its answer
 * and history. */
void cmd_wait_enter(void);
void cmd_connection_lost(void);
void cmd_pump(void); /* run a command held until the connection is back */
void cmd_tick(double now);
double cmd_next_timer(double now);

/* xfer.c: file transfers (/send_files, /recv_files) */
void xfer_send_files(int argc, char **argv);
void xfer_recv_files(int argc, char **argv);
int xfer_busy(void); /* a transfer job runs */
/* The reader: a line that is not JSON may be the start marker of a
 * download (returns 1 when taken); raw bytes go to xfer_raw_in while
 * xfer_raw_need says how many the download still expects. */
int xfer_on_line(const char *line, size_t len);
size_t xfer_raw_need(void);
void xfer_raw_in(const char *data, size_t n);
/* The writer: the bytes of the upload, at most cap at a time. Returns the
 * count (0 once all are given) or -1 when the file cannot be read. */
int xfer_uploading(void);
ssize_t xfer_raw_fill(char *buf, size_t cap);
int xfer_on_message(json_object *msg, const char *type); /* 1 when it was for a transfer */
int xfer_on_error(int64_t code, const char *text); /* 1 when it answered a transfer */
void xfer_on_disconnected(void);
void xfer_tick(double now);
double xfer_next_timer(double now);
void xfer_progress(char *buf, size_t len); /* prompt prefix while a large transfer runs */
void xfer_free(void);

/* admin.c: Admin's commands */
void admin_command(int argc, char **argv);
void admin_on_response(json_object *msg);
void admin_on_notification(json_object *msg);
int admin_is_admin(void); /* the session's account is Admin */

/* ui.c: terminal output, readline, script input */
void ui_init(void);
void ui_finish(void);
void ui_poll_setup(short *events);
void ui_on_stdin(void);
void ui_pump(void); /* script mode: run queued input lines that may run now */
int ui_has_pending(void);
/* Script mode: forget the input lines read but not yet run (after /exit). */
void ui_discard_input(void);
void ui_prompt_update(void);
void ui_resize(void);
void ui_interrupt(void);
void ui_chat(json_object *msg, int history);
/* A direct message of a chat that is not the current one: shown marked,
 * with its sender and chat. */
void ui_direct(json_object *msg);
void ui_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ui_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ui_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ui_err_code(int64_t code, const char *text);

#endif
