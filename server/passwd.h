/* passwd.h - password hashing with libsodium's crypto_pwhash (Argon2id).
 *
 * At most `concurrency` hashes run at once (a counting semaphore), so a burst
 * of logins queues instead of exhausting memory: each hash uses memlimit. */
#ifndef CHATROOM_PASSWD_H
#define CHATROOM_PASSWD_H

#include <stddef.h>

/* opslimit: passes; memlimit_kb: KiB per hash; concurrency >= 1.
 * Returns 0, or -1 when libsodium cannot start. */
int passwd_init(unsigned opslimit, size_t memlimit_kb, unsigned concurrency);

/* Hash password into out (crypto_pwhash_STRBYTES). 0 or -1 (out of memory). */
int passwd_hash(const char *password, char *out, size_t outlen);

/* 1 if password matches the stored hash, 0 if not. An empty or missing
 * hash (a name that does not exist, an account without a password) is
 * checked against a dummy hash made at the current cost, so that it takes
 * as long as a real one and timing does not tell which names exist. */
int passwd_verify(const char *hash, const char *password);

/* A copy of that dummy hash (for tests). 0, or -1 when there is none. */
int passwd_dummy_hash(char *out, size_t outlen);

/* One source (an address) may hold at most half the hash slots (at least
 * one), so that a few connections from it cannot keep every slot busy and
 * make everyone else's logins queue behind them. passwd_source_enter()
 * waits until source has a share free; each enter needs one leave. The
 * sources are kept only while they hash (bounded by the threads hashing). */
int passwd_source_enter(const char *source);
/* As passwd_source_enter() without waiting: -1 when source's share is full. */
int passwd_source_tryenter(const char *source);
void passwd_source_leave(const char *source);

/* Hashes computed (passwd_hash and passwd_verify) since start. */
unsigned long long passwd_hashes(void);

/* 1 if hash was made with other parameters than the current ones. */
int passwd_needs_rehash(const char *hash);

#endif
