/* server.c - the process-wide objects of server.h. Kept apart from main.c
 * so that the unit tests can link every module without main(). */
#include "config.h"
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define SRV_NS_PER_S 1000000000L

struct conf *srv_conf;
atomic_int srv_stopping;

long long srv_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int srv_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return rc == 0 ? 0 : -1;
}

void srv_timespec_add_ms(struct timespec *ts, long long ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= SRV_NS_PER_S) {
		ts->tv_sec++;
		ts->tv_nsec -= SRV_NS_PER_S;
	}
}

void srv_deadline(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	srv_timespec_add_ms(ts, ms);
}

void srv_thread_name(const char *fmt, ...)
{
	char name[SRV_THREAD_NAME_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	/* Only a longer name than the kernel keeps can fail; it is cut above. */
	(void)pthread_setname_np(pthread_self(), name);
}
