/* valid.h - the reference server's rules for usernames, passwords and chat
 * names. Each returns NULL when the value is acceptable, else an English
 * reason to show the user. */
#ifndef CHATROOM_VALID_H
#define CHATROOM_VALID_H

const char *valid_username(const char *s);
const char *valid_password(const char *s);
const char *valid_chat_name(const char *s);

#endif
