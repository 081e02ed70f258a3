/* tls.c - TLS on the client's connection (--tls): the server's certificate
 * is verified against the system's trust store or --cafile, with the host
 * name checked (and sent, SNI); or, with --pin-sha256, the server's public
 * key must be the one pinned. Any failure closes the connection: there is
 * no way to turn verification off.
 *
 * Non-blocking, in the client's one poll() loop: tls_step() advances the
 * handshake, tls_read() and tls_write() work like recv() and send(), and
 * tls_poll_events() says what to wait for when OpenSSL needs the other
 * direction (a read may need a write, a write a read). tls_read() reads
 * until OpenSSL needs more input or the buffer is full; tls_pending() says
 * whether decrypted bytes are left, which poll() cannot see. */
#include "config.h"
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Largest plaintext of one TLS record. */
#define TLS_RECORD_MAX 16384

static SSL_CTX *tls_ctx;
static SSL *tls_ssl;
static int tls_ready;       /* the handshake is done */
static int tls_rd_wants_out; /* the last read (or handshake step) waits for room to write */
static int tls_wr_wants_in;  /* the last write waits for input */

static void tls_error_text(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, len, "%s", r ? r : "TLS error");
	ERR_clear_error();
}

int tls_setup(char *err, size_t errlen)
{
	char why[256];
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx) {
		tls_error_text(why, sizeof why);
		snprintf(err, errlen, "cannot set up TLS: %s", why);
		return -1;
	}
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(tls_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* net.c retries a write from its buffer, which moves and grows */
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (cl.o.cafile) {
		FILE *f = fopen(cl.o.cafile, "r");
		if (!f) {
			snprintf(err, errlen, "--cafile %s: %s", cl.o.cafile, strerror(errno));
			return -1;
		}
		fclose(f);
		if (SSL_CTX_load_verify_locations(tls_ctx, cl.o.cafile, NULL) != 1) {
			tls_error_text(why, sizeof why);
			snprintf(err, errlen, "--cafile %s: %s", cl.o.cafile, why);
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(tls_ctx) != 1) {
		tls_error_text(why, sizeof why);
		snprintf(err, errlen, "cannot read the system's trust store: %s", why);
		return -1;
	}
	return 0;
}

/* With a pin, the chain need not lead to a trusted authority (a
 * self-signed server): the key is checked after the handshake instead. */
static int tls_verify_pinned(int preverify, X509_STORE_CTX *x)
{
	(void)preverify;
	(void)x;
	return 1;
}

int tls_begin(int fd, const char *host, char *err, size_t errlen)
{
	char why[256];
	tls_end();
	tls_ssl = SSL_new(tls_ctx);
	if (!tls_ssl || SSL_set_fd(tls_ssl, fd) != 1) {
		tls_error_text(why, sizeof why);
		snprintf(err, errlen, "cannot start TLS: %s", why);
		tls_end();
		return -1;
	}
	unsigned char addr[16];
	int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	if (is_ip) {
		/* an address is checked against the certificate's IP names */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls_ssl), host) != 1) {
			snprintf(err, errlen, "cannot check the address %s", host);
			tls_end();
			return -1;
		}
	} else if (SSL_set_tlsext_host_name(tls_ssl, host) != 1 || SSL_set1_host(tls_ssl, host) != 1) {
		tls_error_text(why, sizeof why);
		snprintf(err, errlen, "cannot check the host name %s: %s", host, why);
		tls_end();
		return -1;
	}
	SSL_set_verify(tls_ssl, SSL_VERIFY_PEER, cl.o.pin ? tls_verify_pinned : NULL);
	SSL_set_connect_state(tls_ssl);
	tls_ready = tls_rd_wants_out = tls_wr_wants_in = 0;
	return 0;
}

/* The SHA-256 of the server's public key (SubjectPublicKeyInfo, DER),
 * base64: what --pin-sha256 takes. */
static int tls_peer_pin(char *out, size_t outlen)
{
	X509 *x = SSL_get1_peer_certificate(tls_ssl);
	if (!x)
		return -1;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	X509_free(x);
	if (n <= 0)
		return -1;
	int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || outlen < 4 * ((mdlen + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

int tls_step(char *err, size_t errlen, int *fatal)
{
	char why[256];
	*fatal = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(tls_ssl);
	if (r == 1) {
		if (cl.o.pin) {
			char pin[64];
			if (tls_peer_pin(pin, sizeof pin) < 0 || strcmp(pin, cl.o.pin) != 0) {
				snprintf(err, errlen,
				         "the server's key does not match --pin-sha256 (its pin is %s)",
				         tls_peer_pin(pin, sizeof pin) == 0 ? pin : "unknown");
				*fatal = 1;
				return -1;
			}
		}
		tls_ready = 1;
		tls_rd_wants_out = 0;
		return 1;
	}
	int e = SSL_get_error(tls_ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		tls_rd_wants_out = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	long v = SSL_get_verify_result(tls_ssl);
	if (v != X509_V_OK) {
		/* fail closed, naming the problem */
		snprintf(err, errlen, "the server's certificate is not valid for %s: %s", cl.o.host,
		         X509_verify_cert_error_string(v));
		*fatal = 1;
		ERR_clear_error();
		return -1;
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		snprintf(err, errlen, "TLS handshake: %s",
		         errno ? strerror(errno) : "the server closed the connection");
		ERR_clear_error();
		return -1;
	}
	tls_error_text(why, sizeof why);
	snprintf(err, errlen, "TLS handshake: %s", why);
	return -1;
}

int tls_active(void)
{
	return tls_ssl != NULL;
}

ssize_t tls_read(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t k = 0;
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(tls_ssl, (char *)buf + got, n - got, &k) == 1) {
			got += k;
			continue;
		}
		if (got > 0)
			return (ssize_t)got; /* the condition shows again next call */
		int e = SSL_get_error(tls_ssl, 0), saved = errno;
		tls_rd_wants_out = e == SSL_ERROR_WANT_WRITE;
		switch (e) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			errno = EAGAIN;
			return -1;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_SYSCALL:
			ERR_clear_error();
			if (saved == 0)
				return 0;
			errno = saved;
			return -1;
		default:
			ERR_clear_error();
			errno = EPROTO;
			return -1;
		}
	}
	return (ssize_t)got;
}

ssize_t tls_write(const void *buf, size_t n)
{
	size_t k = 0;
	if (n == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(tls_ssl, buf, n > TLS_RECORD_MAX ? TLS_RECORD_MAX : n, &k) == 1) {
		tls_wr_wants_in = 0;
		return (ssize_t)k;
	}
	int e = SSL_get_error(tls_ssl, 0), saved = errno;
	tls_wr_wants_in = e == SSL_ERROR_WANT_READ;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	errno = e == SSL_ERROR_SYSCALL && saved ? saved : e == SSL_ERROR_SYSCALL ? EPIPE : EPROTO;
	return -1;
}

int tls_pending(void)
{
	return tls_ssl && SSL_pending(tls_ssl) > 0;
}

short tls_poll_events(int want_in, int want_out)
{
	short ev = 0;
	if (!tls_ssl)
		return (short)((want_in ? POLLIN : 0) | (want_out ? POLLOUT : 0));
	if (!tls_ready)
		return tls_rd_wants_out ? POLLOUT : POLLIN;
	if (want_in)
		ev |= tls_rd_wants_out ? POLLOUT : POLLIN;
	if (want_out)
		ev |= tls_wr_wants_in ? POLLIN : POLLOUT;
	return ev;
}

void tls_end(void)
{
	if (!tls_ssl)
		return;
	if (tls_ready)
		SSL_shutdown(tls_ssl); /* close_notify, not waiting for the answer */
	ERR_clear_error();
	SSL_free(tls_ssl);
	tls_ssl = NULL;
	tls_ready = 0;
}

void tls_free(void)
{
	tls_end();
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}
