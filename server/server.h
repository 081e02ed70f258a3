/* server.h - the few process-wide objects every part of chatroomd uses. */
#ifndef CHATROOM_SERVER_H
#define CHATROOM_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"

extern struct conf *srv_conf;   /* the live configuration (see conf.h) */
extern atomic_int srv_stopping; /* set when shutdown starts */

/* Read an option that SIGHUP may change. */
#define CONF(field) __atomic_load_n(&srv_conf->field, __ATOMIC_RELAXED)

/* Monotonic milliseconds. */
long long srv_now_ms(void);

/* Timed waits all run on the monotonic clock, so that a step of the wall
 * clock neither stalls nor rushes them: srv_cond_init() makes a condition
 * variable whose pthread_cond_timedwait() deadlines are monotonic,
 * srv_deadline() is such a deadline ms milliseconds from now, and
 * srv_timespec_add_ms() moves a deadline on by ms. */
int srv_cond_init(pthread_cond_t *cond);
void srv_deadline(struct timespec *ts, long long ms);
void srv_timespec_add_ms(struct timespec *ts, long long ms);

/* Name the calling thread, as ps -L, top -H and /proc/PID/task/TID/comm
 * show it ("writer", "worker 3"...), so that an operator can tell which
 * thread is busy. The kernel keeps SRV_THREAD_NAME_MAX bytes; the rest is
 * cut. The main thread keeps the program's name, which pgrep and the init
 * scripts look for. */
#define SRV_THREAD_NAME_MAX 15
void srv_thread_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
