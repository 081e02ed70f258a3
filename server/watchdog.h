/* watchdog.h - the watchdog thread: twice a second it ends protocol-2
 * clients silent past the heartbeat timeout and connections that have not
 * logged in within the login timeout. Legacy clients are never ended for
 * idling (TCP keepalive finds the dead ones). */
#ifndef CHATROOM_WATCHDOG_H
#define CHATROOM_WATCHDOG_H

int watchdog_start(void);
void watchdog_stop(void);

#endif
