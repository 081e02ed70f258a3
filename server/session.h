/* session.h - one connection served by one worker: the read loop, the
 * dispatch of messages to the command handlers, and replies. */
#ifndef CHATROOM_SESSION_H
#define CHATROOM_SESSION_H

#include <json-c/json.h>
#include <stdint.h>

#include "client.h"
#include "frame.h"

/* [worker] state; only the serving worker touches it. */
struct session {
	client_t *c;
	frame_reader_t fr;
	double tokens;          /* rate limit bucket */
	long long tokens_ms;    /* last refill */
	int strikes;            /* messages refused in a row by the rate limit */
	int lines;              /* lines received so far */
	int login_failures;     /* on this connection */
	/* mirror of the table's view of this client, for the worker's own use */
	int64_t user_id;        /* -1 until logged in */
	char username[96];
	int protocol;
};

/* The worker body handed to the pool. */
void session_serve(client_t *c);

/* Queue a reply to this session's own client; takes ownership of o. */
void session_reply(struct session *s, json_object *o);
/* Queue an error_message. */
void session_error(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ask every connection to close (server shutdown), telling each why. */
void session_close_all(const char *why);

#endif
