/* text.h - UTF-8 checks and the reference server's text cleaning rules. */
#ifndef CHATROOM_TEXT_H
#define CHATROOM_TEXT_H

#include <stddef.h>

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int text_utf8_valid(const char *s, size_t n);

/* Number of code points in a valid UTF-8 string. */
size_t text_utf8_chars(const char *s);

/* The reference server's cleaning of chat content: drop control characters
 * except '\n' and '\t' (and DEL), then cut to max_chars code points followed
 * by "..." when longer. Returns a malloc'd string (NULL on OOM). */
char *text_clean_content(const char *s, size_t max_chars);

/* Make s valid UTF-8 in place by dropping every byte that does not start a
 * well-formed sequence: a string cut in the middle of a character (by a
 * "%.64s") loses the partial character, so it ends on a character
 * boundary. Returns the new length. */
size_t text_utf8_repair(char *s);

/* Room for a client-supplied string in a log line (text_escape). */
#define TEXT_LOG_FIELD 100

/* s made safe for one log line, into out (outlen bytes, at least 8): control
 * characters as \n, \r, \t or \xNN, a backslash as \\, bytes that are not
 * UTF-8 as \xNN; cut on a character boundary with "..." when longer than
 * fits. NULL is written as "(null)". Returns out. */
const char *text_escape(char *out, size_t outlen, const char *s);

/* 1 if s is empty or only white space. */
int text_blank(const char *s);

#endif
