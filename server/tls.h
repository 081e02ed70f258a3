/* tls.h - TLS for chatroomd (OpenSSL 3): the server's certificate and key,
 * and one connection's TLS reads and writes.
 *
 * The context: tls_init() loads the certificate chain and the key at start
 * (TLS 1.2 at least, renegotiation off, the system's ciphers);
 * tls_reload() (SIGHUP) loads them again for the connections that come
 * next. A connection made before keeps the pair it was made with (its SSL
 * object holds a reference to its context), and a reload that fails keeps
 * the running pair. The current context is guarded by the tls lock (a
 * leaf: nothing else is taken while it is held).
 *
 * A connection: tls_conn_new() makes its SSL object (in a worker, never
 * the accept thread); tls_handshake(), tls_read() and tls_write() are
 * non-blocking, and when one cannot go on it says whether it waits for
 * input (TLS_WANT_IN) or for room to write (TLS_WANT_OUT): a read may need
 * a write and a write a read. An SSL object is used by one thread at a
 * time: the one that holds its connection (client.h); client.c is the one
 * place that calls these for a connection.
 *
 * The OpenSSL pitfalls this layer handles: tls_read() reads until OpenSSL
 * needs more input or the buffer is full, and tls_pending() tells whether
 * decrypted bytes are still inside OpenSSL (epoll cannot see them); a
 * tls_write() that could not finish must be called again with the same
 * bytes first (more may follow them: the buffer may move and grow). */
#ifndef CHATROOM_TLS_H
#define CHATROOM_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct ssl_st;
struct ssl_ctx_st;

/* What a TLS call that could not go on waits for. */
enum tls_want { TLS_WANT_NONE = 0, TLS_WANT_IN = 1, TLS_WANT_OUT = 2 };

/* Largest plaintext of one TLS record: tls_write() takes at most this. */
#define TLS_RECORD_MAX 16384

/* A server context from a PEM certificate file (the chain after the
 * server's own certificate is sent too) and a PEM key file. NULL, with the
 * reason in err, when a file cannot be read or parsed or the key does not
 * match the certificate. */
struct ssl_ctx_st *tls_ctx_load(const char *cert_file, const char *key_file, char *err,
                                size_t errlen);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* The expiry (notAfter) of the first certificate in cert_file, and its
 * subject in one line. 0, or -1 with the reason in err. */
int tls_cert_info(const char *cert_file, time_t *not_after, char *subject, size_t sublen,
                  char *err, size_t errlen);

/* The context for new connections: load it at start (0 or -1 and err),
 * load it again on SIGHUP (0, or -1: the running pair stays, reason in
 * err), drop it at exit. */
int tls_init(const char *cert_file, const char *key_file, char *err, size_t errlen);
int tls_reload(const char *cert_file, const char *key_file, char *err, size_t errlen);
void tls_shutdown(void);

/* A server-side TLS connection on socket fd, from the current context;
 * NULL when out of memory or TLS is not set up. */
struct ssl_st *tls_conn_new(int fd);
void tls_conn_free(struct ssl_st *ssl);

/* One step of the handshake: 1 done, 0 call again when *want is
 * satisfied, -1 failed (why says why). */
int tls_handshake(struct ssl_st *ssl, int *want, char *why, size_t whylen);

/* Like read(2) and write(2) on a non-blocking socket: > 0 bytes, 0 the
 * peer closed (read), -1 with errno: EAGAIN (*want says for what), EPROTO
 * (a TLS error), or the socket's error. */
ssize_t tls_read(struct ssl_st *ssl, void *buf, size_t n, int *want);
ssize_t tls_write(struct ssl_st *ssl, const void *buf, size_t n, int *want);

/* Decrypted bytes wait inside OpenSSL: read them before waiting for the
 * socket. */
int tls_pending(struct ssl_st *ssl);

/* Say goodbye (close_notify) without waiting for the answer. */
void tls_bye(struct ssl_st *ssl);

#endif
