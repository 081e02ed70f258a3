/* store_pg_private.h - what the files of the PostgreSQL store share
 * (store_pg.c: connection, schema, messages; store_pg_account.c:
 * accounts, groups, memberships, files). Nothing else includes it, and
 * nothing outside these files speaks SQL to PostgreSQL.
 *
 * Every public function takes st->lock for the whole call; the helpers
 * below expect it held. */
#ifndef CHATROOM_STORE_PG_PRIVATE_H
#define CHATROOM_STORE_PG_PRIVATE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "store_pg.h"

#define STORE_PG_MAX_PARAMS 8

struct store_pg {
	pthread_mutex_t lock; /* guards everything below; a leaf lock */
	PGconn *conn;
	int down;             /* the connection was lost: logged once, reconnect on use */
};

double store_pg__now(void);
/* Run sql with text parameters (none: several statements may be given);
 * *out gets the result (PQclear it) when it succeeded. A STORE_* status:
 * STORE_EXISTS for a unique violation, STORE_NOTFOUND for a foreign key
 * one, STORE_BUSY for a deadlock or serialization failure, STORE_ERR
 * (logged) for anything else, a lost connection included. */
int store_pg__run(store_pg_t *st, const char *what, PGresult **out, const char *sql, int n,
                  const char *const *params);
/* store_pg__run() with parameters given by fmt: 'i' int64_t, 'd' double,
 * 's' string. must_change: STORE_NOTFOUND when no row was changed or
 * returned. */
int store_pg__q(store_pg_t *st, const char *what, PGresult **out, int must_change,
                const char *sql, const char *fmt, ...);
/* Column col of row as an integer (0 when NULL). */
int64_t store_pg__int(PGresult *r, int row, int col);

#endif
