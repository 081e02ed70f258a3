/* stats.h - server counters, updated with relaxed atomics from any thread
 * and written to the log on SIGUSR1 (and shown to Admin). */
#ifndef CHATROOM_STATS_H
#define CHATROOM_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

struct stats {
	atomic_ullong connections_total;
	atomic_ullong connections_rejected;  /* busy, limits */
	atomic_ullong logins;
	atomic_ullong login_failures;
	atomic_ullong login_delays;          /* logins slowed: account under attack */
	atomic_ullong register_refusals;     /* RegisterMaxAddress reached */
	atomic_ullong messages_in;
	atomic_ullong deliveries_out;
	atomic_ullong slow_consumer_closes;
	atomic_ullong heartbeat_timeouts;
	atomic_ullong login_timeouts;
	atomic_ullong rate_limit_hits;
	atomic_ullong bad_input;
	atomic_ullong tls_handshakes;         /* finished */
	atomic_ullong tls_handshake_failures; /* closed before the handshake finished:
	                                       * it failed, the peer left, or the login
	                                       * timeout ended it */
};

extern struct stats stats;

#define STATS_INC(f) atomic_fetch_add_explicit(&stats.f, 1, memory_order_relaxed)
#define STATS_ADD(f, n) atomic_fetch_add_explicit(&stats.f, (n), memory_order_relaxed)
#define STATS_GET(f) atomic_load_explicit(&stats.f, memory_order_relaxed)

/* One line "name=value ..." with the counters and live gauges. */
void stats_format(char *buf, size_t len);

#endif
