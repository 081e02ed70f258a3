/* throttle.h - failed-login throttling against password guessing.
 *
 * Counts live in two bounded tables, each keyed by a keyed 64-bit hash of a
 * string: the source table (an address, or an account and an address) and
 * the account table (an existing account, from any address). A key whose
 * count reaches `max` within `window` seconds of its first failure is
 * refused (throttle_check) or slowed (the caller asks throttle_count) for
 * the rest of that window.
 *
 * Bounded memory without eviction of live counts: a new key takes only an
 * empty slot or one whose window has passed, never a live count. When its
 * neighbourhood is all live (a table flooded by many addresses), the new
 * key is not counted (as OpenSSH's PerSourcePenalties "permissive"
 * overflow) and throttle_overflows() grows; the counts already kept still
 * hold. The account table only takes accounts that exist, so an attacker
 * cannot fill it with cheap names.
 *
 * Locking: one mutex (a leaf) guards both tables. */
#ifndef CHATROOM_THROTTLE_H
#define CHATROOM_THROTTLE_H

#include <stddef.h>

enum throttle_table { THROTTLE_SOURCE, THROTTLE_ACCOUNT };

/* Allocate both tables with `entries` slots each (rounded up to a power of
 * two). Called once at start; a first use without it allocates the default
 * size. 0, or -1 out of memory. */
int throttle_init(size_t entries);
/* Seconds the key must still wait, 0 when it may try. */
int throttle_check(enum throttle_table t, const char *key, int max, int window_s);
/* Failures counted for key within its current window. */
int throttle_count(enum throttle_table t, const char *key, int window_s);
/* Count one failure for key. */
void throttle_fail(enum throttle_table t, const char *key, int window_s);
/* throttle_check() and, when it allows, throttle_fail() in one step, so
 * that concurrent callers cannot all pass before any is counted: seconds
 * to wait (nothing counted), or 0 and one more counted. */
int throttle_take(enum throttle_table t, const char *key, int max, int window_s);
/* Forget key (after a successful login). */
void throttle_clear(enum throttle_table t, const char *key);
/* Failures not counted because a table was full, since start. */
unsigned long long throttle_overflows(void);

/* The part of an address the source keys use, into out: an IPv4 address
 * whole, an IPv6 address as its /64 (one host usually owns the whole
 * /64), an IPv4-mapped IPv6 address as the IPv4 address. */
void throttle_source(const char *ip, char *out, size_t outlen);

#endif
