/* test_slow.h - how long the unit tests wait for something to happen,
 * scaled by CHATROOM_TEST_SLOW (3 in the sanitizer builds of
 * tests/run-all) as the integration tests scale theirs: a sanitizer makes
 * every thread slower, never the logic different. */
#ifndef CHATROOM_TEST_SLOW_H
#define CHATROOM_TEST_SLOW_H

#include <stdlib.h>

/* ms scaled by the slow factor (at least 1). */
static inline long slow_ms(long ms)
{
	const char *e = getenv("CHATROOM_TEST_SLOW");
	double f = e ? atof(e) : 1.0;
	if (!(f >= 1.0))
		f = 1.0;
	return (long)((double)ms * f);
}

#endif
