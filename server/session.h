/* session.h - one connection served by a worker while it has work: the
 * read loop, the dispatch of messages to the command handlers, and replies.
 * Between turns the connection is parked in the waiter (waiter.h). */
#ifndef CHATROOM_SESSION_H
#define CHATROOM_SESSION_H

#include <json-c/json.h>
#include <stdint.h>

#include "client.h"
#include "frame.h"

/* [owner] state, kept between turns (client->sess); only the worker
 * serving the connection touches it. */
struct session {
	client_t *c;
	frame_reader_t fr;
	double tokens;          /* rate limit bucket */
	long long tokens_ms;    /* last refill */
	int strikes;            /* messages refused in a row by the rate limit */
	int lines;              /* lines received so far */
	int login_failures;     /* on this connection */
	/* who it is logged in as, and its protocol: c's (client.h) */
	long long rx_ns;        /* monotonic ns of the last read from the socket */
	long long reply_due_ns; /* legacy: the reply to the line being handled leaves
	                         * no sooner than this (monotonic ns); 0: no floor */
	const char *req_cmid;   /* client_msg_id of the line being handled, or NULL:
	                         * protocol-2 errors about it carry it back */
};

/* One turn, handed to the pool: serve c while it has work, then park it
 * (or end it). The connection's reference belongs to its session. */
void session_serve(client_t *c);

/* Queue a reply to this session's own client; takes ownership of o. */
void session_reply(struct session *s, json_object *o);
/* Queue an error_message whose text is catalog entry id (catalog.h) in
 * the client's language, formatted with the arguments that follow. */
void session_error(struct session *s, int code, int id, ...);
/* The client's language (CAT_EN, CAT_ZH), and catalog entry id formatted
 * in it into buf. */
int session_lang(const struct session *s);
char *session_text(struct session *s, char *buf, size_t len, int id, ...);

/* Raw transfers (file upload and download), between JSON lines on the
 * same connection; for the serving worker only. Each timeout_ms is how long
 * the peer may stall (no byte moves) before the transfer is abandoned. */
enum session_raw_status {
	SESSION_RAW_OK = 0,
	SESSION_RAW_STALLED = -1, /* the peer moved no byte for timeout_ms */
	SESSION_RAW_CLOSED = -2,  /* the peer closed, a socket error, or the client is closing */
	SESSION_RAW_LOCAL = -3,   /* writing out_fd (or reading in_fd) failed; for a read,
	                           * all n bytes were still consumed from the peer */
};
/* Move exactly n bytes from the peer to out_fd: first those already
 * buffered behind the last line, then from the socket. Output queued for
 * the client meanwhile keeps being written. */
int session_read_raw(struct session *s, int out_fd, size_t n, int timeout_ms);
/* session_read_raw() passing the bytes to put(ctx, ...) instead, in pieces
 * of any size; put returns -1 for a local failure (SESSION_RAW_LOCAL, the
 * rest is still consumed from the peer and not passed on), else 0. */
int session_read_raw_cb(struct session *s, int (*put)(void *ctx, const void *buf, size_t n),
                        void *ctx, size_t n, int timeout_ms);
/* Write everything queued for the client now. SESSION_RAW_*. */
int session_flush(struct session *s, int timeout_ms);
/* Write everything queued so far, then hold the queue (client->hold): what
 * other threads queue from now on waits until session_release(), so that
 * nothing lands inside raw bytes written with session_write_raw*. */
int session_hold(struct session *s, int timeout_ms);
void session_release(struct session *s);
/* Write n bytes (from buf, or read from in_fd in chunks) to the socket;
 * only between session_hold() and session_release(). */
int session_write_raw(struct session *s, const void *buf, size_t n, int timeout_ms);
int session_write_raw_fd(struct session *s, int in_fd, size_t n, int timeout_ms);

/* Ask every connection to close (server shutdown), telling each why:
 * catalog entry id, in its language. */
void session_close_all(int id);

/* End another client's session: queue a warning system_message (catalog
 * entry id with the argument arg, in c's language), make it no longer its
 * user's session (table_unlink_user: its identity stays, for its own
 * worker, until the session ends) and close it with reason for the log.
 * Needs the table write lock (table.h). */
void session_kick(client_t *c, int id, const char *arg, const char *reason);

#endif
