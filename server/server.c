/* server.c - the process-wide objects of server.h. Kept apart from main.c
 * so that the unit tests can link every module without main(). */
#include "config.h"
#include "server.h"

#include <time.h>

struct conf *srv_conf;
store_t *srv_store;
atomic_int srv_stopping;

long long srv_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
