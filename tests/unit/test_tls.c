/* test_tls.c - server/tls.c: loading a certificate and key (missing
 * files, garbage, a key of another certificate), reading a certificate's
 * expiry, and a connection's non-blocking handshake, reads (until OpenSSL
 * needs more input; what is left shows in tls_pending) and writes retried
 * after the socket filled up. The certificates are made with OpenSSL's API
 * (test_certs.h), with a known expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "tls.h"
#include "test_certs.h"

/* 2030-01-02 03:04:05 UTC */
#define TEST_NOT_AFTER ((time_t)1893553445)

static char test_dir[] = "/tmp/test_tls.XXXXXX";
static char cert_a[256], key_a[256], cert_b[256], key_b[256], garbage[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(cert_a, sizeof cert_a, "%s/a.pem", test_dir);
	snprintf(key_a, sizeof key_a, "%s/a.key", test_dir);
	snprintf(cert_b, sizeof cert_b, "%s/b.pem", test_dir);
	snprintf(key_b, sizeof key_b, "%s/b.key", test_dir);
	snprintf(garbage, sizeof garbage, "%s/garbage.pem", test_dir);
	test_make_cert(cert_a, key_a, "a.example", 7, TEST_NOT_AFTER);
	test_make_cert(cert_b, key_b, "b.example", 8, TEST_NOT_AFTER);
	FILE *f = fopen(garbage, "w");
	if (!f)
		return -1;
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	const char *files[] = { cert_a, key_a, cert_b, key_b, garbage };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		unlink(files[i]);
	rmdir(test_dir);
	tls_shutdown();
	return 0;
}

static void test_load_a_matching_pair(void **state)
{
	(void)state;
	char err[512] = "";
	SSL_CTX *ctx = tls_ctx_load(cert_a, key_a, err, sizeof err);
	assert_non_null(ctx);
	tls_ctx_free(ctx);
}

static void test_missing_files_are_named(void **state)
{
	(void)state;
	char err[512] = "";
	assert_null(tls_ctx_load("/nonexistent/cert.pem", key_a, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem: No such file or directory"));
	assert_null(tls_ctx_load(cert_a, "/nonexistent/key.pem", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/key.pem: No such file or directory"));
	assert_null(tls_ctx_load("", key_a, err, sizeof err));
	assert_non_null(strstr(err, "no certificate file given"));
}

static void test_garbage_is_refused(void **state)
{
	(void)state;
	char err[512] = "";
	assert_null(tls_ctx_load(garbage, key_a, err, sizeof err));
	assert_non_null(strstr(err, garbage));
	/* a certificate where the key should be */
	assert_null(tls_ctx_load(cert_a, cert_a, err, sizeof err));
	assert_non_null(strstr(err, "key"));
}

static void test_key_of_another_certificate_is_refused(void **state)
{
	(void)state;
	char err[512] = "";
	assert_null(tls_ctx_load(cert_a, key_b, err, sizeof err));
	assert_non_null(strstr(err, "does not match the certificate"));
}

static void test_expiry_and_subject_are_read(void **state)
{
	(void)state;
	char err[512] = "", subject[256] = "";
	time_t t = 0;
	assert_int_equal(tls_cert_info(cert_b, &t, subject, sizeof subject, err, sizeof err), 0);
	assert_int_equal((long long)t, (long long)TEST_NOT_AFTER);
	assert_non_null(strstr(subject, "CN=b.example"));
	assert_int_equal(tls_cert_info(garbage, &t, subject, sizeof subject, err, sizeof err), -1);
	assert_non_null(strstr(err, garbage));
}

static void test_failed_reload_keeps_the_running_pair(void **state)
{
	(void)state;
	char err[512] = "";
	assert_int_equal(tls_init(cert_a, key_a, err, sizeof err), 0);
	assert_int_equal(tls_reload(cert_a, key_b, err, sizeof err), -1);
	assert_non_null(strstr(err, "does not match"));
	/* new connections still get a's certificate */
	SSL *s = tls_conn_new(-1);
	assert_non_null(s);
	X509 *x = SSL_get_certificate(s);
	assert_non_null(x);
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(x)), 7);
	tls_conn_free(s);
	assert_int_equal(tls_reload(cert_b, key_b, err, sizeof err), 0);
	s = tls_conn_new(-1);
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(SSL_get_certificate(s))), 8);
	tls_conn_free(s);
}

/* A client SSL over one end of a socket pair, the server's over the other,
 * both non-blocking, with the handshake done. */
struct pair {
	int fd[2];
	SSL_CTX *cctx;
	SSL *client, *server;
};

static void pair_open(struct pair *p)
{
	char err[512], why[256];
	assert_int_equal(tls_init(cert_a, key_a, err, sizeof err), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
	p->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->cctx);
	SSL_CTX_set_mode(p->cctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	p->client = SSL_new(p->cctx);
	SSL_set_fd(p->client, p->fd[0]);
	SSL_set_connect_state(p->client);
	p->server = tls_conn_new(p->fd[1]);
	assert_non_null(p->server);
	int done = 0, steps = 0;
	while (done != 1) {
		assert_true(++steps < 100);
		SSL_do_handshake(p->client);
		int want;
		done = tls_handshake(p->server, &want, why, sizeof why);
		assert_int_not_equal(done, -1);
		if (done == 0)
			assert_int_not_equal(want, TLS_WANT_NONE);
	}
	/* the client's last step reads the server's Finished */
	while (SSL_do_handshake(p->client) != 1)
		assert_true(++steps < 200);
}

static void pair_close(struct pair *p)
{
	SSL_free(p->client);
	tls_conn_free(p->server);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
}

static void test_read_takes_every_record_and_pending_shows_the_rest(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	/* three records */
	for (int i = 0; i < 3; i++)
		assert_int_equal(SSL_write(p.client, "0123456789", 10), 10);
	char buf[64];
	int want;
	/* one call reads all three, until OpenSSL needs more input */
	assert_int_equal(tls_read(p.server, buf, sizeof buf, &want), 30);
	assert_false(tls_pending(p.server));
	errno = 0;
	assert_int_equal(tls_read(p.server, buf, sizeof buf, &want), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(want, TLS_WANT_IN);
	/* a buffer smaller than a record leaves the rest inside OpenSSL,
	 * where epoll cannot see it: tls_pending says so */
	assert_int_equal(SSL_write(p.client, "abcdefghij", 10), 10);
	assert_int_equal(tls_read(p.server, buf, 4, &want), 4);
	assert_true(tls_pending(p.server));
	assert_int_equal(tls_read(p.server, buf + 4, sizeof buf - 4, &want), 6);
	assert_memory_equal(buf, "abcdefghij", 10);
	assert_false(tls_pending(p.server));
	/* the peer's close_notify is an end of file */
	SSL_shutdown(p.client);
	assert_int_equal(tls_read(p.server, buf, sizeof buf, &want), 0);
	pair_close(&p);
}

/* The stream written: byte k is 'a' + k % 26. */
static char *stream_at(size_t off, size_t n)
{
	char *b = malloc(n);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + (off + i) % 26);
	return b;
}

/* The reader takes what is there and checks it against the stream. */
static void drain_and_check(SSL *client, size_t *got)
{
	char rb[65536];
	int r;
	while ((r = SSL_read(client, rb, sizeof rb)) > 0)
		for (int i = 0; i < r; i++, (*got)++)
			assert_int_equal(rb[i], (char)('a' + *got % 26));
}

static void test_write_retried_with_the_same_bytes_after_the_socket_filled(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	size_t sent = 0, got = 0, blocked = 0, total = 4 * 1024 * 1024;
	/* as the output queue does: each attempt passes the unsent bytes from
	 * a buffer at a new address, the same bytes first and more after */
	while (sent < total) {
		int want;
		size_t n = TLS_RECORD_MAX + 1000 * (blocked % 3);
		char *b = stream_at(sent, n);
		ssize_t w = tls_write(p.server, b, n, &want);
		free(b);
		if (w > 0) {
			assert_true((size_t)w <= TLS_RECORD_MAX);
			sent += (size_t)w;
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		assert_int_equal(want, TLS_WANT_OUT);
		blocked++;
		drain_and_check(p.client, &got);
	}
	drain_and_check(p.client, &got);
	assert_true(blocked > 0);
	assert_int_equal(got, sent);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_a_matching_pair),
		cmocka_unit_test(test_missing_files_are_named),
		cmocka_unit_test(test_garbage_is_refused),
		cmocka_unit_test(test_key_of_another_certificate_is_refused),
		cmocka_unit_test(test_expiry_and_subject_are_read),
		cmocka_unit_test(test_failed_reload_keeps_the_running_pair),
		cmocka_unit_test(test_read_takes_every_record_and_pending_shows_the_rest),
		cmocka_unit_test(test_write_retried_with_the_same_bytes_after_the_socket_filled),
	};
	return cmocka_run_group_tests_name("tls", tests, setup, teardown);
}
