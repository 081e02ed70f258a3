/* stats.c - server counters; see stats.h. */
#include "config.h"
#include "stats.h"
#include "cluster_presence.h"
#include "passwd.h"
#include "pool.h"
#include "table.h"
#include "throttle.h"
#include "uring.h"
#include "waiter.h"
#include "writer.h"

struct stats stats;

void stats_format(char *buf, size_t len)
{
	table_rdlock();
	/* users_online: on every node of a cluster; node_users_online: here */
	size_t active = table_count_clients(), online = cpres_count_online(),
	       here = table_count_online();
	table_unlock();
	struct pool_queue_stats q;
	pool_queue_stats(&q);
	snprintf(buf, len,
	         "connections_total=%llu connections_active=%zu users_online=%zu node_users_online=%zu "
	         "connections_rejected=%llu logins=%llu login_failures=%llu login_delays=%llu "
	         "login_throttle_overflows=%llu register_refusals=%llu password_hashes=%llu "
	         "messages_in=%llu "
	         "deliveries_out=%llu messages_persisted=%llu writer_queue=%zu "
	         "slow_consumer_closes=%llu heartbeat_timeouts=%llu login_timeouts=%llu "
	         "rate_limit_hits=%llu bad_input=%llu tls_handshakes=%llu "
	         "tls_handshake_failures=%llu workers=%d workers_busy=%d "
	         "connections_parked=%ld pool_queue=%d pool_queue_most=%d pool_waits=%llu "
	         "pool_wait_longest_ms=%lld write_batches=%llu write_rings=%d",
	         STATS_GET(connections_total), active, online, here, STATS_GET(connections_rejected),
	         STATS_GET(logins), STATS_GET(login_failures), STATS_GET(login_delays),
	         throttle_overflows(), STATS_GET(register_refusals), passwd_hashes(),
	         STATS_GET(messages_in),
	         STATS_GET(deliveries_out), (unsigned long long)writer_stored_total(), writer_depth(),
	         STATS_GET(slow_consumer_closes), STATS_GET(heartbeat_timeouts),
	         STATS_GET(login_timeouts), STATS_GET(rate_limit_hits), STATS_GET(bad_input),
	         STATS_GET(tls_handshakes), STATS_GET(tls_handshake_failures),
	         pool_threads(), pool_busy(), waiter_count(), q.now, q.most, q.waited, q.longest_ms,
	         uring_batches(), uring_threads());
}
