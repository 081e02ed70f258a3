/* test_passwd.c - password hashing (server/passwd.c). The cost parameters
 * are libsodium's minimum so that the tests run fast. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "log.h"
#include "passwd.h"

#define OPS 1
#define MEM_KB 64

static int setup(void **state)
{
	log_init("test_passwd", LOG_LVL_ERROR, 1, 0);
	(void)state;
	return passwd_init(OPS, MEM_KB, 2);
}

static void test_hash_is_argon2id_and_verifies(void **state)
{
	char h[crypto_pwhash_STRBYTES];

	assert_int_equal(passwd_hash("secret123", h, sizeof h), 0);
	assert_memory_equal(h, "$argon2id$", 10);
	assert_int_equal(passwd_verify(h, "secret123"), 1);
	(void)state;
}

static void test_wrong_password_does_not_verify(void **state)
{
	char h[crypto_pwhash_STRBYTES];

	assert_int_equal(passwd_hash("secret123", h, sizeof h), 0);
	assert_int_equal(passwd_verify(h, "secret124"), 0);
	assert_int_equal(passwd_verify(h, ""), 0);
	assert_int_equal(passwd_verify(h, "Secret123"), 0);
	(void)state;
}

static void test_same_password_hashes_differently(void **state)
{
	char a[crypto_pwhash_STRBYTES], b[crypto_pwhash_STRBYTES];

	assert_int_equal(passwd_hash("secret123", a, sizeof a), 0);
	assert_int_equal(passwd_hash("secret123", b, sizeof b), 0);
	assert_string_not_equal(a, b); /* salted */
	assert_int_equal(passwd_verify(b, "secret123"), 1);
	(void)state;
}

static void test_empty_or_garbage_hash_never_verifies(void **state)
{
	assert_int_equal(passwd_verify("", "anything1"), 0);
	assert_int_equal(passwd_verify(NULL, "anything1"), 0);
	assert_int_equal(passwd_verify("not a hash", "anything1"), 0);
	(void)state;
}

static void test_small_output_buffer_is_refused(void **state)
{
	char h[16];
	assert_int_equal(passwd_hash("secret123", h, sizeof h), -1);
	(void)state;
}

static void test_needs_rehash_after_parameter_change(void **state)
{
	char h[crypto_pwhash_STRBYTES];

	assert_int_equal(passwd_hash("secret123", h, sizeof h), 0);
	assert_int_equal(passwd_needs_rehash(h), 0);
	assert_int_equal(passwd_init(OPS + 1, MEM_KB, 2), 0);
	assert_int_equal(passwd_needs_rehash(h), 1);
	/* the old hash still verifies: rehash happens at the next login */
	assert_int_equal(passwd_verify(h, "secret123"), 1);
	assert_int_equal(passwd_init(OPS, MEM_KB, 2), 0);
	assert_int_equal(passwd_needs_rehash(h), 0);
	(void)state;
}

static void test_needs_rehash_for_other_algorithms(void **state)
{
	char h[crypto_pwhash_STRBYTES];

	/* Argon2i with the very same parameters still needs a rehash */
	assert_int_equal(crypto_pwhash_str_alg(h, "secret123", 9, OPS + 2, MEM_KB * 1024,
	                                       crypto_pwhash_ALG_ARGON2I13), 0);
	assert_int_equal(passwd_init(OPS + 2, MEM_KB, 2), 0);
	assert_int_equal(passwd_needs_rehash(h), 1);
	assert_int_equal(passwd_init(OPS, MEM_KB, 2), 0);
	assert_int_equal(passwd_needs_rehash("garbage"), 1);
	assert_int_equal(passwd_needs_rehash(""), 0);
	(void)state;
}

static void test_bad_parameters_are_refused(void **state)
{
	log_set_level(-1);
	assert_int_equal(passwd_init(OPS, MEM_KB, 0), -1);
	assert_int_equal(passwd_init(0, MEM_KB, 1), -1);
	assert_int_equal(passwd_init(OPS, 1, 1), -1);
	log_set_level(LOG_LVL_ERROR);
	(void)state;
}

/* Several threads hashing at once all get correct, verifiable hashes
 * (with concurrency 2 they take turns on the semaphore). */
struct hash_job {
	char pw[32];
	char h[crypto_pwhash_STRBYTES];
	int rc;
};

static void *hash_thread(void *arg)
{
	struct hash_job *j = arg;
	j->rc = passwd_hash(j->pw, j->h, sizeof j->h);
	return NULL;
}

static void test_concurrent_hashes(void **state)
{
	pthread_t t[6];
	struct hash_job jobs[6];

	for (int i = 0; i < 6; i++) {
		snprintf(jobs[i].pw, sizeof jobs[i].pw, "password%d", i);
		assert_int_equal(pthread_create(&t[i], NULL, hash_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(passwd_verify(jobs[i].h, jobs[i].pw), 1);
		assert_int_equal(passwd_verify(jobs[i].h, jobs[(i + 1) % 6].pw), 0);
	}
	(void)state;
}

/* One address may hold at most half the hash slots (concurrency 2 here:
 * one), so that it cannot keep every slot busy; other addresses still get
 * theirs, and a leave frees the share. */
static void test_one_address_cannot_take_every_hash_slot(void **state)
{
	(void)state;
	assert_int_equal(passwd_source_enter("192.0.2.1"), 0);
	assert_int_equal(passwd_source_tryenter("192.0.2.1"), -1);
	assert_int_equal(passwd_source_tryenter("192.0.2.2"), 0);
	passwd_source_leave("192.0.2.1");
	assert_int_equal(passwd_source_tryenter("192.0.2.1"), 0);
	passwd_source_leave("192.0.2.1");
	passwd_source_leave("192.0.2.2");
}

/* Many threads of two addresses hashing through their shares at once: all
 * finish (nobody waits for ever) and all hashes verify. */
static void *source_thread(void *arg)
{
	struct hash_job *j = arg;
	const char *src = j->pw[8] % 2 ? "192.0.2.1" : "192.0.2.2";
	assert_int_equal(passwd_source_enter(src), 0);
	j->rc = passwd_hash(j->pw, j->h, sizeof j->h);
	passwd_source_leave(src);
	return NULL;
}

static void test_hashes_from_one_address_take_turns(void **state)
{
	pthread_t t[8];
	struct hash_job jobs[8];
	(void)state;
	for (int i = 0; i < 8; i++) {
		snprintf(jobs[i].pw, sizeof jobs[i].pw, "password%d", i);
		assert_int_equal(pthread_create(&t[i], NULL, source_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
		assert_int_equal(passwd_verify(jobs[i].h, jobs[i].pw), 1);
	}
	/* every share was given back */
	assert_int_equal(passwd_source_tryenter("192.0.2.1"), 0);
	passwd_source_leave("192.0.2.1");
}

static void test_hashes_are_counted(void **state)
{
	char h[crypto_pwhash_STRBYTES];
	(void)state;
	unsigned long long before = passwd_hashes();
	assert_int_equal(passwd_hash("secret123", h, sizeof h), 0);
	assert_int_equal(passwd_verify(h, "secret123"), 1);
	assert_true(passwd_hashes() == before + 2);
}

/* Usernames cannot be enumerated by timing: a missing hash (an unknown
 * user) costs one hash too, against a dummy made at the configured cost
 * and remade when the cost changes. */
static void test_unknown_user_costs_a_hash_at_the_configured_cost(void **state)
{
	char d[crypto_pwhash_STRBYTES], d2[crypto_pwhash_STRBYTES];
	(void)state;
	unsigned long long before = passwd_hashes();
	assert_int_equal(passwd_verify("", "secret123"), 0);
	assert_int_equal(passwd_verify(NULL, "secret123"), 0);
	assert_true(passwd_hashes() == before + 2);
	assert_int_equal(passwd_dummy_hash(d, sizeof d), 0);
	assert_int_equal(passwd_needs_rehash(d), 0);
	assert_int_equal(passwd_init(OPS + 1, MEM_KB, 2), 0);
	assert_int_equal(passwd_dummy_hash(d2, sizeof d2), 0);
	assert_int_equal(passwd_needs_rehash(d2), 0);
	assert_string_not_equal(d, d2);
	assert_int_equal(passwd_init(OPS, MEM_KB, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_is_argon2id_and_verifies),
		cmocka_unit_test(test_wrong_password_does_not_verify),
		cmocka_unit_test(test_same_password_hashes_differently),
		cmocka_unit_test(test_empty_or_garbage_hash_never_verifies),
		cmocka_unit_test(test_small_output_buffer_is_refused),
		cmocka_unit_test(test_needs_rehash_after_parameter_change),
		cmocka_unit_test(test_needs_rehash_for_other_algorithms),
		cmocka_unit_test(test_bad_parameters_are_refused),
		cmocka_unit_test(test_concurrent_hashes),
		cmocka_unit_test(test_one_address_cannot_take_every_hash_slot),
		cmocka_unit_test(test_hashes_from_one_address_take_turns),
		cmocka_unit_test(test_hashes_are_counted),
		cmocka_unit_test(test_unknown_user_costs_a_hash_at_the_configured_cost),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
