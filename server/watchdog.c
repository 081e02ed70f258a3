/* watchdog.c - heartbeat and login timeouts; see watchdog.h. */
#include "config.h"
#include "watchdog.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "table.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define WATCHDOG_TICK_MS 500

static pthread_t watchdog_thread;
static pthread_mutex_t watchdog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_cond; /* monotonic deadlines: srv_cond_init() */
static int watchdog_stopping; /* [watchdog_lock] */
static int watchdog_running;

struct watchdog_scan {
	long long now;
	long long hb_timeout_ms, login_timeout_ms;
};

/* Called with the table read lock: client_close() only shuts the socket
 * down, so this never blocks. */
static void watchdog_check(void *ctx, client_t *c)
{
	struct watchdog_scan *s = ctx;
	long long idle = s->now - atomic_load_explicit(&c->last_rx_ms, memory_order_relaxed);
	if (!c->logged_in && s->now - c->anon_since_ms > s->login_timeout_ms) {
		{
			if (!atomic_load(&c->closing))
				STATS_INC(login_timeouts);
			client_close(c, "login timeout: did not log in in time");
			return;
		}
	}
	if (c->protocol == 2 && idle > s->hb_timeout_ms) {
		if (!atomic_load(&c->closing))
			STATS_INC(heartbeat_timeouts);
		client_close(c, "heartbeat timeout: nothing received from a protocol-2 client");
	}
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	srv_thread_name("watchdog");
	pthread_mutex_lock(&watchdog_lock);
	while (!watchdog_stopping) {
		struct timespec ts;
		srv_deadline(&ts, WATCHDOG_TICK_MS);
		pthread_cond_timedwait(&watchdog_cond, &watchdog_lock, &ts);
		if (watchdog_stopping)
			break;
		pthread_mutex_unlock(&watchdog_lock);
		struct watchdog_scan s = { srv_now_ms(), (long long)CONF(heartbeat_timeout) * 1000,
			                   (long long)CONF(login_timeout) * 1000 };
		table_rdlock();
		table_clients_foreach(watchdog_check, &s);
		table_unlock();
		pthread_mutex_lock(&watchdog_lock);
	}
	pthread_mutex_unlock(&watchdog_lock);
	return NULL;
}

int watchdog_start(void)
{
	if (srv_cond_init(&watchdog_cond) != 0)
		return -1;
	if (pthread_create(&watchdog_thread, NULL, watchdog_main, NULL) != 0)
		return -1;
	watchdog_running = 1;
	return 0;
}

void watchdog_stop(void)
{
	if (!watchdog_running)
		return;
	pthread_mutex_lock(&watchdog_lock);
	watchdog_stopping = 1;
	pthread_cond_signal(&watchdog_cond);
	pthread_mutex_unlock(&watchdog_lock);
	pthread_join(watchdog_thread, NULL);
	watchdog_running = 0;
}
