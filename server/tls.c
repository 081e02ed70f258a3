/* tls.c - TLS contexts and connections; see tls.h. */
#include "config.h"
#include "tls.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* [tls_lock] the context new connections are made from */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *tls_ctx;

/* The newest OpenSSL error as text, and the error queue emptied. */
static void tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e) {
		const char *r = ERR_reason_error_string(e);
		if (r)
			snprintf(buf, len, "%s", r);
		else
			ERR_error_string_n(e, buf, len);
	} else {
		snprintf(buf, len, "unknown error");
	}
	ERR_clear_error();
}

/* A file that cannot be opened says so plainly (OpenSSL's reason would be
 * "system lib"). */
static int tls_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (!path || !*path) {
		snprintf(err, errlen, "no %s file given", what);
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

SSL_CTX *tls_ctx_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	char why[256];
	if (tls_readable("certificate", cert_file, err, errlen) < 0 ||
	    tls_readable("key", key_file, err, errlen) < 0)
		return NULL;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_last_error(why, sizeof why);
		snprintf(err, errlen, "cannot make a TLS context: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* No renegotiation (a client could make the server redo handshakes
	 * at will); a peer that drops the connection without close_notify is
	 * an end of file like any other; no compression (CRIME). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                         SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
	                         SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Writes are retried from the output queue, whose buffers move and
	 * grow (the same bytes first); a write returns once a record is out;
	 * an idle connection keeps no read or write buffer. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE |
	                      SSL_MODE_RELEASE_BUFFERS);
	/* No resumption: nothing to keep per session, and a ticket after the
	 * handshake would be a write nobody asked for. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_last_error(why, sizeof why);
		snprintf(err, errlen, "certificate %s: %s", cert_file, why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			snprintf(err, errlen, "key %s does not match the certificate %s", key_file,
			         cert_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
		tls_last_error(why, sizeof why);
		snprintf(err, errlen, "key %s: %s", key_file, why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "key %s does not match the certificate %s", key_file, cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

int tls_cert_info(const char *cert_file, time_t *not_after, char *subject, size_t sublen,
                  char *err, size_t errlen)
{
	char why[256];
	if (tls_readable("certificate", cert_file, err, errlen) < 0)
		return -1;
	FILE *f = fopen(cert_file, "r");
	if (!f) {
		snprintf(err, errlen, "certificate %s: %s", cert_file, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		tls_last_error(why, sizeof why);
		snprintf(err, errlen, "certificate %s: %s", cert_file, why);
		return -1;
	}
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		snprintf(err, errlen, "certificate %s: its expiry date cannot be read", cert_file);
		X509_free(x);
		ERR_clear_error();
		return -1;
	}
	*not_after = timegm(&tm);
	if (subject && sublen) {
		X509_NAME_oneline(X509_get_subject_name(x), subject, (int)sublen);
	}
	X509_free(x);
	return 0;
}

int tls_init(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, err, errlen);
	if (!ctx)
		return -1;
	pthread_mutex_lock(&tls_lock);
	SSL_CTX *old = tls_ctx;
	tls_ctx = ctx;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(old);
	return 0;
}

int tls_reload(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	/* the old context lives on in the connections made from it: SSL_new
	 * took a reference for each */
	return tls_init(cert_file, key_file, err, errlen);
}

void tls_shutdown(void)
{
	pthread_mutex_lock(&tls_lock);
	SSL_CTX *old = tls_ctx;
	tls_ctx = NULL;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(old);
}

SSL *tls_conn_new(int fd)
{
	SSL *ssl = NULL;
	pthread_mutex_lock(&tls_lock);
	if (tls_ctx)
		ssl = SSL_new(tls_ctx);
	pthread_mutex_unlock(&tls_lock);
	if (!ssl) {
		ERR_clear_error();
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void tls_conn_free(SSL *ssl)
{
	SSL_free(ssl);
}

/* After a call that returned r <= 0: what it waits for (errno EAGAIN), or
 * an error (errno set, -1), or the end (0). */
static ssize_t tls_result(SSL *ssl, int r, int *want)
{
	int e = SSL_get_error(ssl, r), saved = errno;
	*want = TLS_WANT_NONE;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want = TLS_WANT_IN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = TLS_WANT_OUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0 || saved == EAGAIN)
			return 0; /* an end of file OpenSSL did not call one */
		errno = saved;
		return -1;
	default: {
		char why[256];
		tls_last_error(why, sizeof why);
		log_debug("TLS error: %s", why);
		errno = EPROTO;
		return -1;
	}
	}
}

int tls_handshake(SSL *ssl, int *want, char *why, size_t whylen)
{
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(ssl);
	*want = TLS_WANT_NONE;
	if (r == 1)
		return 1;
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		*want = TLS_WANT_IN;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		*want = TLS_WANT_OUT;
		return 0;
	}
	if (e == SSL_ERROR_SYSCALL) {
		snprintf(why, whylen, "%s", errno ? strerror(errno) : "the peer closed the connection");
		ERR_clear_error();
	} else if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(why, whylen, "the peer closed the connection");
	} else {
		tls_last_error(why, whylen);
	}
	return -1;
}

ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *want)
{
	size_t got = 0;
	*want = TLS_WANT_NONE;
	/* Read until OpenSSL needs more input (or buf is full): what it has
	 * decrypted already would be invisible to epoll. */
	while (got < n) {
		size_t k = 0;
		ERR_clear_error();
		errno = 0;
		int r = SSL_read_ex(ssl, (char *)buf + got, n - got, &k);
		if (r == 1) {
			got += k;
			continue;
		}
		int w;
		ssize_t res = tls_result(ssl, 0, &w);
		if (got > 0) {
			/* give what we have; the condition shows again next call */
			return (ssize_t)got;
		}
		*want = w;
		return res;
	}
	return (ssize_t)got;
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *want)
{
	size_t k = 0;
	*want = TLS_WANT_NONE;
	if (n == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(ssl, buf, n > TLS_RECORD_MAX ? TLS_RECORD_MAX : n, &k) == 1)
		return (ssize_t)k;
	ssize_t r = tls_result(ssl, 0, want);
	if (r == 0) { /* a write never sees an end of file: the peer is gone */
		errno = EPIPE;
		return -1;
	}
	return r;
}

int tls_pending(SSL *ssl)
{
	/* decrypted bytes of the current record (not SSL_has_pending, which
	 * is also true for a partial record that needs more input) */
	return SSL_pending(ssl) > 0;
}

void tls_bye(SSL *ssl)
{
	ERR_clear_error();
	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}
