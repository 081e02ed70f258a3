/* server.h - the few process-wide objects every part of chatroomd uses. */
#ifndef CHATROOM_SERVER_H
#define CHATROOM_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf.h"
#include "store.h"

extern struct conf *srv_conf;   /* the live configuration (see conf.h) */
extern store_t *srv_store;      /* the workers' database connection */
extern atomic_int srv_stopping; /* set when shutdown starts */

/* Read an option that SIGHUP may change. */
#define CONF(field) __atomic_load_n(&srv_conf->field, __ATOMIC_RELAXED)

/* Monotonic milliseconds. */
long long srv_now_ms(void);

#endif
