/* state_store.h - private to the state layer (state.c, state_account.c,
 * state_chat.c, state_file.c): the database interface and what its files
 * share. */
#ifndef CHATROOM_STATE_STORE_H
#define CHATROOM_STATE_STORE_H

#include "store.h"

/* The STATE_* status for a STORE_* one. */
int state__of(int store_rc);

/* Tests only: when set, called before each attempt of a login to take the
 * table lock with the account unchanged (state_login), so that a test can
 * change the account between the password check and that lock. */
extern void (*state_login_test_hook)(void);

#endif
