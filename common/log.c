/* log.c - leveled logging. Each call writes one whole line with a single
 * write so that lines from different threads never interleave. */
#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_cur_level = LOG_LVL_INFO;
static int log_to_stderr = 1;
static int log_to_syslog = 0;
static const char *log_ident = "chatroom";

static const char *const log_names[] = { "error", "warning", "info", "debug" };

void log_init(const char *ident, int level, int to_stderr, int use_syslog)
{
	log_ident = ident;
	log_cur_level = level;
	log_to_stderr = to_stderr;
	if (use_syslog && !log_to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_to_syslog)
		closelog();
	log_to_syslog = use_syslog;
}

/* Atomic: a reload (SIGHUP) changes it while other threads log. */
void log_set_level(int level) { __atomic_store_n(&log_cur_level, level, __ATOMIC_RELAXED); }

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return i;
	if (strcasecmp(name, "warn") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *log_level_name(int level)
{
	return (level >= 0 && level < 4) ? log_names[level] : "?";
}

/* The last defence against forged log lines: a control character that a
 * caller let through (client strings should come through text_escape())
 * is shown as '?', so one call is always one line. */
static void log_one_line(char *text)
{
	for (unsigned char *p = (unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void log_msg(int level, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (level > __atomic_load_n(&log_cur_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	log_one_line(text);

	if (log_to_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level], "%s", text);
	}
	if (log_to_stderr) {
		char line[1200];
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		int n = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s[%d] %s: %s\n",
		                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		                 tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
		                 log_names[level], text);
		if (n > (int)sizeof line - 1)
			n = (int)sizeof line - 1;
		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* nowhere left to report it */
		}
	}
}
