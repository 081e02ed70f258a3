/* throttle.h - failed-login throttling, per address and per account,
 * against password guessing: after `max` failures within `window` seconds
 * the key is refused until the window has passed since its first failure.
 *
 * Locking: one mutex (a leaf) guards the table. The table is bounded: when
 * full, the oldest entries are forgotten. */
#ifndef CHATROOM_THROTTLE_H
#define CHATROOM_THROTTLE_H

/* Seconds the key must still wait, 0 when it may try. */
int throttle_check(const char *key, int max, int window_s);
/* Count one failure for key. */
void throttle_fail(const char *key, int window_s);
/* Forget key (after a successful login). */
void throttle_clear(const char *key);

#endif
