/* client.h - one connection: its identity, its bounded output queue, and
 * how it is asked to close.
 *
 * Output: any thread may queue bytes for a client (client_push); only the
 * connection's own worker writes them to the socket (client_flush), so a
 * slow reader never blocks anybody else. A broadcast serializes a message
 * once into an outbuf_t that every recipient's queue references. Queued
 * output past max_output closes the client as a slow consumer.
 *
 * Locking: fields marked [table] are guarded by the table lock (table.h);
 * fields marked [out] by out_lock; [worker] fields belong to the worker
 * thread serving the connection; [atomic] fields need no lock. See table.h
 * for the lock order. */
#ifndef CHATROOM_CLIENT_H
#define CHATROOM_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <json-c/json.h>

/* A serialized message, shared by every queue it is in. */
typedef struct outbuf {
	atomic_int refs;
	size_t len;
	char data[];
} outbuf_t;

outbuf_t *outbuf_new(const char *data, size_t len); /* one reference */
outbuf_t *outbuf_json(json_object *o);              /* serialized + '\n' */
void outbuf_unref(outbuf_t *b);

struct chatgroup;

typedef struct client {
	atomic_int refs;
	int fd;                     /* the socket, closed when the last reference goes */
	int evfd;                   /* eventfd: wakes the worker when output is queued */
	char addr[64];              /* "ip:port", for logs */
	char ip[48];                /* the peer's address alone (per-address limit) */
	long long anon_since_ms;    /* [table] monotonic ms since which it is not logged in:
	                             * the accept, or the last logout */
	atomic_llong last_rx_ms;    /* [atomic] monotonic ms of the last received line */
	atomic_int lang;            /* [atomic] catalog language (CAT_EN, CAT_ZH) of the
	                             * texts sent to it: set at accept, changed by hello */

	/* [table] identity and place */
	int64_t user_id;            /* -1 until logged in */
	char username[96];
	int protocol;               /* 1: legacy, 2: asked for protocol 2 */
	struct chatgroup *cur;          /* current group, NULL before login */
	struct client *next, *prev; /* list of all connections */
	struct client *gnext, *gprev; /* list of the clients whose current group is cur */
	struct client *unext;       /* user id hash chain (logged in only) */
	unsigned presence_gen;      /* de-duplicates presence fan-out */

	/* [out] output queue: a ring of shared buffers */
	pthread_mutex_t out_lock;
	outbuf_t **q;
	unsigned qcap, qhead, qlen;
	size_t qoff;                /* bytes of q[qhead] already written */
	size_t qbytes;              /* unsent bytes in the queue */
	int wake_pending;           /* the worker will look at the queue without a
	                             * wake: set by a push that woke it, cleared
	                             * only when a flush found the queue empty */
	int hold;                   /* a raw transfer is in progress: queue, do not write */
	int writing;                /* a thread is writing the queue to the socket */

	/* [atomic] closing */
	atomic_int closing;         /* set once; the worker then closes */
	const char *_Atomic close_reason;
} client_t;

client_t *client_new(int fd, const char *addr); /* one reference; NULL on failure */
client_t *client_ref(client_t *c);
void client_unref(client_t *c);

/* Queue b (taking a new reference) for c. wake: signal the worker (from any
 * thread other than c's own worker); inside client_defer_begin/end the
 * signal is sent once at the end, however many messages were queued.
 * Returns 0, or -1 when the client is closing or is now over max_output
 * (then it is asked to close). */
int client_push(client_t *c, outbuf_t *b, int wake, size_t max_output);

/* Coalesce wake-ups: between these calls (in one thread), pushes to the
 * same client wake its worker once, at client_defer_end(). A worker calls
 * them around the lines of one read, so a burst of messages fans out as
 * one wake and one write per recipient. self: the caller's own client,
 * never woken (its worker flushes after the batch anyway). */
void client_defer_begin(client_t *self);
void client_defer_end(void);
/* Release this thread's deferral array (when a connection ends). */
void client_defer_free(void);

/* Serialize o and queue it for c from c's own worker. */
int client_send(client_t *c, json_object *o, size_t max_output);

/* Worker only: write as much queued output as the socket takes.
 * Returns 0 when the queue is empty (and re-arms wake-ups), 1 when the
 * socket is full (wait for POLLOUT), -1 on a socket error. */
int client_flush(client_t *c);

/* From a thread other than c's worker (client_defer_end does this): write
 * c's queue to its socket without blocking, so a broadcast costs one write
 * per recipient and no thread switch. Only one thread writes a socket at a
 * time (`writing`); a busy or held queue is left to whoever has it. Returns
 * 1 when the socket is full: the caller must then wake c's worker, which
 * waits for POLLOUT. */
int client_flush_other(client_t *c);

/* Worker only: start (on=1) or end (on=0) a raw transfer on the socket:
 * while on, queued messages wait; on waits for a write in progress by
 * another thread to finish. */
void client_hold(client_t *c, int on);

/* Worker only: clear the eventfd after poll() reported it readable. */
void client_clear_wake(client_t *c);

/* Ask the connection to close with reason (a static string, logged by the
 * worker). The first reason wins. Safe from any thread: shuts the socket
 * down so that the worker's poll() returns. */
void client_close(client_t *c, const char *reason);

size_t client_queued(client_t *c); /* unsent bytes */

#endif
