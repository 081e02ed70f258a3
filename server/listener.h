/* listener.h - the accept thread: binds the Listen addresses, accepts
 * connections, applies the connection limits and hands each one to the
 * worker pool (or answers 1013 when the pool is full). */
#ifndef CHATROOM_LISTENER_H
#define CHATROOM_LISTENER_H

/* Bind every listen address (before privileges are dropped). 0 or -1. */
int listener_bind(void);
int listener_start(void);
/* Stop accepting and close the listening sockets. */
void listener_stop(void);
/* A connection from addr ended (for the per-address limit). */
void listener_release(const char *ip);

#endif
