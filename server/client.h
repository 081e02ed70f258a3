/* client.h - one connection: its identity, its bounded output queue, who
 * serves it, and how it is asked to close.
 *
 * Serving: a connection is held by at most one thread at a time (`owned`):
 * a worker while it has work (session.c), or, for one non-blocking write,
 * a thread flushing output it queued for it (a deferral's batch holds each
 * of its recipients at once, around one io_uring system call that writes
 * them all and has completed before any is let go: uring.h). Only the
 * holder reads or writes the socket. When nobody holds it, it is parked
 * in the waiter (waiter.c), which hands it back to the pool when it
 * becomes readable, or writable with output pending, or is asked to close.
 *
 * TLS: a connection accepted on the TLS port reads and writes through its
 * SSL object (tls.h), made and driven through the handshake by the worker
 * of its first turns; client_read() and client_write() are the one place
 * a socket is read or written, plain or TLS. Whoever holds the connection
 * uses its SSL object, so it is never used by two threads at once; the
 * waiter is asked for what the TLS layer waits for (a read may wait for
 * room to write, a write for input), and a connection whose decrypted
 * input is still inside OpenSSL is handed back at once, not left for an
 * epoll event that would never come.
 *
 * Output: any thread may queue bytes for a client (client_push) and never
 * blocks on a socket doing so. A broadcast serializes a message once into
 * an outbuf_t that every recipient's queue references. Queued output past
 * max_output closes the client as a slow consumer.
 *
 * Locking: fields marked [table] are guarded by the table lock (table.h);
 * fields marked [out] by out_lock; [owner] fields belong to the thread that
 * holds the connection; [atomic] fields need no lock. See table.h for the
 * lock order. */
#ifndef CHATROOM_CLIENT_H
#define CHATROOM_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
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

/* Buffers of one recipient sent in a batched write (client_defer_end);
 * what is queued past them is written right after it. */
#define CLIENT_BATCH_IOV 4

struct chatgroup;

typedef struct client {
	atomic_int refs;
	int fd;                     /* the socket, closed when the last reference goes */
	void *sess;                 /* [owner] the session (session.c), NULL before the first turn */
	struct client *pool_next;   /* [pool lock] the pool's queue of connections to serve */
	long long pool_since_ms;    /* [pool lock] when it joined that queue */
	char addr[64];              /* "ip:port", for logs */
	char ip[48];                /* the peer's address alone (per-address limit) */
	int tls_port;               /* accepted on the TLS port: set before its first turn */
	struct ssl_st *tls;         /* [owner] its TLS connection (tls.h), made at its first
	                             * turn; NULL on a plain connection */
	int tls_ready;              /* [owner] the TLS handshake is done */
	int io_rd_wants_out;        /* [owner] the last TLS read or handshake step waits for
	                             * room to write */
	int io_wr_wants_in;         /* [owner] the last TLS write waits for input */
	long long anon_since_ms;    /* [table] monotonic ms since which it is not logged in:
	                             * the accept, or the last logout */
	atomic_llong last_rx_ms;    /* [atomic] monotonic ms of the last received line */
	atomic_int lang;            /* [atomic] catalog language (CAT_EN, CAT_ZH) of the
	                             * texts sent to it: set at accept, changed by hello */

	/* [table+holder] identity, kept here only (the session reads it from
	 * here): changed only by the connection's holder (login, logout, the
	 * end of the session), under the table write lock; so the holder reads
	 * it without a lock, every other thread under the table lock. */
	int64_t user_id;            /* who it logged in as; -1 before login, after logout */
	char username[96];
	int protocol;               /* 1: legacy, 2: asked for protocol 2 */
	/* [table] place */
	int logged_in;              /* 1 while it is user_id's session (in the table's users);
	                             * a newer login elsewhere or Admin ends that
	                             * (session_kick) from another thread, leaving the
	                             * identity to the holder */
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
	int flush_pending;          /* queued for a flush (deferred or by the waiter) */
	int hold;                   /* a raw transfer is in progress: queue, do not write */
	int owned;                  /* a thread holds the connection (see above) */
	int kick;                   /* the waiter reported it while held: the holder
	                             * must serve it again (or hand it to the pool) */
	int registered;             /* known to the waiter's epoll (which holds a reference) */
	int gone;                   /* its session ended: never park or serve it again */
	long long due_ns;           /* monotonic ns before which nothing queued is written
	                             * (a legacy reply floor, client_delay); 0: none */

	/* [atomic] closing */
	atomic_int closing;         /* set once; the worker then closes */
	const char *_Atomic close_reason;
} client_t;

client_t *client_new(int fd, const char *addr); /* one reference; NULL on failure */
client_t *client_ref(client_t *c);
void client_unref(client_t *c);

/* Queue b (taking a new reference) for c, from any thread, holding any
 * lock, and never blocking on the socket. flush: get it written (from any
 * thread but c's holder, which writes before it parks anyway): inside
 * client_defer_begin/end this thread writes it at client_defer_end(), once
 * however many messages were queued; otherwise the waiter writes it.
 * Returns 0, or -1 when the client is closing or is now over max_output
 * (then it is asked to close). */
int client_push(client_t *c, outbuf_t *b, int flush, size_t max_output);

/* Coalesce flushes: between these calls (in one thread, holding no lock at
 * client_defer_end), output queued for a client is written once, at
 * client_defer_end(), by this thread. A worker calls them around the lines
 * of one read, so a burst of messages fans out as one write per recipient,
 * and the writes to all recipients go to the kernel together (uring.h).
 * self: the caller's own client (NULL for none), left to its holder. */
void client_defer_begin(client_t *self);
void client_defer_end(void);
/* Release this thread's deferral array (when a thread is done with it). */
void client_defer_free(void);

/* Serialize o and queue it for c from c's holder. Replies a session asks
 * for are accepted whatever their size (the protocol bounds them: history,
 * lists): they are written as the socket drains, and the session reads no
 * more requests while the queue is over max_output, so a client's own
 * requests cannot grow it further. A client that does not read is still
 * closed when anything else (a broadcast) is queued for it past the
 * limit. */
int client_send(client_t *c, json_object *o, size_t max_output);

/* Holder only: write as much queued output as the socket takes.
 * Returns 0 when the queue is empty (or held), 1 when the socket is full
 * (or output waits behind a hold or a delay), -1 on a socket error. */
int client_flush(client_t *c);

/* Holder only: write nothing queued for c (now or later) before due_ns
 * (CLOCK_MONOTONIC). A connection let go meanwhile is parked, and the
 * waiter hands it to a worker when the time comes, so no thread waits
 * for it. A later due_ns extends the delay, an earlier one is ignored. */
void client_delay(client_t *c, long long due_ns);

/* Holder only: sleep until c's delay (client_delay) is over, for the
 * paths that hold the connection anyway (raw transfers, the last words
 * before a close). */
void client_wait_delay(client_t *c);

/* From a thread that does not hold c: take c if nobody holds it, write its
 * queue without blocking and let it go again (parked in the waiter, which
 * waits for room when the socket is full). A held or closing client is
 * left to its holder. Returns 1 when output is left queued, else 0. */
int client_flush_other(client_t *c);

/* Tests only: called as client_flush_other() is about to let c go, while
 * it still holds c. */
extern void (*client_let_go_test_hook)(client_t *c);

/* The holder lets c go: parks it in the waiter (want_out: wake it when the
 * socket takes output; want_in: when it is readable). Returns 1 when
 * parked, 0 when the caller must serve it on: it was reported meanwhile,
 * output was queued (and the socket is not full), or it is closing. */
int client_park(client_t *c, int want_in, int want_out);

/* The waiter reports c (readable, writable, or closing): hand it to the
 * pool unless a thread holds it, which then serves it again. */
void client_ready(client_t *c);

/* Holder only: the session is over; nobody takes c again. */
void client_retire(client_t *c);

/* Holder only: start (on=1) or end (on=0) a raw transfer on the socket:
 * while on, queued messages wait. */
void client_hold(client_t *c, int on);

/* Ask the connection to close with reason (a static string, logged by the
 * session). The first reason wins. Safe from any thread: shuts the
 * socket's read side down, which wakes a parked connection in the waiter
 * and its holder in any poll() (POLLIN or POLLRDHUP). */
void client_close(client_t *c, const char *reason);

size_t client_queued(client_t *c); /* unsent bytes */

/* Holder only: the connection's I/O, plain or TLS, like read(2) and
 * write(2) on a non-blocking socket (-1 with errno EAGAIN when it must
 * wait: client_poll_events() says for what). A TLS read reads until
 * OpenSSL wants more input or buf is full. */
ssize_t client_read(client_t *c, void *buf, size_t n);
ssize_t client_write(client_t *c, const void *buf, size_t n);

/* Holder only: the poll(2) events to wait for before reading again (in)
 * or writing again (out), as the TLS layer needs them. */
short client_poll_events(const client_t *c, int in, int out);

/* Holder only: one step of the TLS handshake of a connection accepted on
 * the TLS port. 1 done (tls_ready), 0 park it (client_park(c, 1, 0)) and
 * call again, -1 failed (why). */
int client_tls_step(client_t *c, char *why, size_t whylen);

/* Holder only: a TLS connection whose handshake is done sends its
 * close_notify, without waiting. */
void client_tls_bye(client_t *c);

#endif
