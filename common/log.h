/* log.h - leveled logging to stderr or syslog, one line per event. */
#ifndef CHATROOM_LOG_H
#define CHATROOM_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident: program name; use_syslog: also (or only, when !to_stderr) syslog. */
void log_init(const char *ident, int level, int to_stderr, int use_syslog);
void log_set_level(int level);
int log_level_parse(const char *name); /* "error".."debug" -> level, -1 if unknown */
const char *log_level_name(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
