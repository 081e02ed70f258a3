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

/* 1 if password matches the stored hash, 0 if not (or hash is empty). */
int passwd_verify(const char *hash, const char *password);

/* 1 if hash was made with other parameters than the current ones. */
int passwd_needs_rehash(const char *hash);

#endif
