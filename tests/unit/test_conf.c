/* test_conf.c - chatroomd's configuration (server/conf.c): defaults, the
 * file, the command line winning over the file, FILE:LINE errors, value
 * checks, Listen lists, --configtest output and SIGHUP reloads. Error
 * messages go to stderr, which each test captures into a file. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "conf.h"
#include "log.h"
#include "tunables.h"

struct fixture {
	char dir[64];
	char conf[128];   /* the configuration file */
	char err[128];    /* captured stderr */
	int saved_stderr;
	struct conf c;
	int loaded;       /* c needs conf_free */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	log_init("test_conf", LOG_LVL_INFO, 1, 0);
	strcpy(f->dir, "/tmp/test_conf.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof f->conf, "%s/chatroomd.conf", f->dir);
	snprintf(f->err, sizeof f->err, "%s/stderr", f->dir);
	f->saved_stderr = -1;
	*state = f;
	return 0;
}

static void capture_end(struct fixture *f)
{
	if (f->saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(f->saved_stderr, 2);
	close(f->saved_stderr);
	f->saved_stderr = -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	capture_end(f);
	if (f->loaded)
		conf_free(&f->c);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Send stderr to f->err (emptied) until capture_end(). */
static void capture(struct fixture *f)
{
	fflush(stderr);
	int fd = open(f->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	f->saved_stderr = dup(2);
	assert_true(f->saved_stderr >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
}

/* What was written to stderr since capture() (malloc'd). */
static char *captured(struct fixture *f)
{
	capture_end(f);
	FILE *fp = fopen(f->err, "r");
	assert_non_null(fp);
	char *buf = calloc(1, 65536);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* conf_load(f->c) with the file holding text and argv "chatroomd -f FILE"
 * followed by the NULL-terminated extra arguments. stderr is captured. */
static int load(struct fixture *f, const char *text, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	write_file(f->conf, text);
	argv[argc++] = "chatroomd";
	argv[argc++] = "-f";
	argv[argc++] = f->conf;
	va_start(ap, text);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	if (f->loaded)
		conf_free(&f->c);
	capture(f);
	int rc = conf_load(&f->c, argc, argv);
	capture_end(f);
	f->loaded = 1;
	return rc;
}

/* Loading text fails, and stderr names want. */
static void assert_load_fails_with(struct fixture *f, const char *text, const char *want)
{
	assert_int_equal(load(f, text, NULL), CONF_EXIT_FAIL);
	char *err = captured(f);
	if (!strstr(err, want))
		fail_msg("stderr lacks \"%s\"; it was:\n%s", want, err);
	free(err);
}

/* ---- defaults and precedence ---- */

static void test_empty_file_gives_the_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "", NULL), CONF_RUN);
	assert_int_equal(f->c.port, CR_DEFAULT_PORT);
	assert_int_equal(f->c.workers, conf_auto_workers());
	assert_true(f->c.workers >= CR_WORKERS_MIN);
	assert_int_equal(f->c.max_connections, conf_auto_max_connections());
	assert_int_equal(f->c.queue, CR_DEFAULT_QUEUE);
	assert_int_equal(f->c.max_output, CR_DEFAULT_MAX_OUTPUT);
	assert_int_equal(f->c.max_line, CR_DEFAULT_MAX_LINE);
	assert_int_equal(f->c.heartbeat_interval, CR_DEFAULT_HEARTBEAT_INTERVAL);
	assert_int_equal(f->c.heartbeat_timeout, CR_DEFAULT_HEARTBEAT_TIMEOUT);
	assert_int_equal(f->c.batch_size, CR_DEFAULT_BATCH_SIZE);
	assert_int_equal(f->c.login_fail_max, CR_DEFAULT_LOGIN_FAIL_MAX);
	assert_int_equal(f->c.log_level, LOG_LVL_INFO);
	assert_false(f->c.use_syslog);
	assert_false(f->c.foreground);
	assert_int_equal(f->c.n_listen, 2);
	assert_string_equal(f->c.listen[0], "0.0.0.0");
	assert_string_equal(f->c.listen[1], "::");
	assert_string_equal(f->c.pidfile, "");
	assert_string_equal(f->c.admin_password, "");
	assert_true(f->c.max_file_size == 104857600LL);
	assert_non_null(strstr(f->c.file_extensions, "txt"));
	assert_string_equal(f->c.config_file, f->conf);
}

static void test_file_values_replace_the_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f,
	                      "# comment\n"
	                      "; another comment\n"
	                      "\n"
	                      "[Server]\n"
	                      "  Port = 7000  \n"
	                      "Database = /tmp/x.db\n"
	                      "Syslog = yes\n"
	                      "LogLevel = debug\n"
	                      "[Limits]\n"
	                      "Workers=3\n"
	                      "MaxOutput = 65536\n"
	                      "[Files]\n"
	                      "MaxFileSize = 1000000000000\n",
	                      NULL),
	                 CONF_RUN);
	assert_int_equal(f->c.port, 7000);
	assert_string_equal(f->c.database, "/tmp/x.db");
	assert_true(f->c.use_syslog);
	assert_int_equal(f->c.log_level, LOG_LVL_DEBUG);
	assert_int_equal(f->c.workers, 3);
	assert_int_equal(f->c.max_output, 65536);
	assert_true(f->c.max_file_size == 1000000000000LL);
	/* untouched options keep their defaults */
	assert_int_equal(f->c.queue, CR_DEFAULT_QUEUE);
}

static void test_section_and_option_names_ignore_case(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[server]\nPORT = 7001\n[LIMITS]\nworkers = 4\n", NULL), CONF_RUN);
	assert_int_equal(f->c.port, 7001);
	assert_int_equal(f->c.workers, 4);
}

static void test_command_line_beats_the_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Server]\nPort = 7000\n[Limits]\nWorkers = 3\nQueue = 9\n", "--port",
	                      "7002", "--workers=5", NULL),
	                 CONF_RUN);
	assert_int_equal(f->c.port, 7002);
	assert_int_equal(f->c.workers, 5);
	assert_int_equal(f->c.queue, 9); /* from the file: not on the command line */

	/* the short option too, wherever it is on the command line */
	assert_int_equal(load(f, "[Server]\nPort = 7000\n", "-p", "7003", NULL), CONF_RUN);
	assert_int_equal(f->c.port, 7003);
}

static void test_command_line_flags_and_actions(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "", "-n", "--syslog", NULL), CONF_RUN);
	assert_true(f->c.foreground);
	assert_true(f->c.use_syslog);
	assert_int_equal(load(f, "", "-t", NULL), CONF_CONFIGTEST);
	assert_int_equal(load(f, "", "--configtest", NULL), CONF_CONFIGTEST);
	assert_int_equal(load(f, "", "--set-admin-password", NULL), CONF_SET_ADMIN_PW);
}

/* ---- Listen ---- */

static void test_first_listen_line_replaces_the_default_list(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Server]\nListen = 127.0.0.1\nListen = ::1, 10.0.0.1\n", NULL),
	                 CONF_RUN);
	assert_int_equal(f->c.n_listen, 3);
	assert_string_equal(f->c.listen[0], "127.0.0.1");
	assert_string_equal(f->c.listen[1], "::1");
	assert_string_equal(f->c.listen[2], "10.0.0.1");
}

static void test_listen_on_the_command_line_replaces_the_file_list(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Server]\nListen = 10.0.0.1, 10.0.0.2\n", "-l", "127.0.0.1", "--listen",
	                      "::1", NULL),
	                 CONF_RUN);
	assert_int_equal(f->c.n_listen, 2);
	assert_string_equal(f->c.listen[0], "127.0.0.1");
	assert_string_equal(f->c.listen[1], "::1");
}

static void test_too_many_listen_addresses_are_an_error(void **state)
{
	struct fixture *f = *state;
	char text[512] = "[Server]\nListen = ";
	for (int i = 0; i <= CONF_MAX_LISTEN; i++) {
		char a[32];
		snprintf(a, sizeof a, "%s10.0.0.%d", i ? ", " : "", i + 1);
		strcat(text, a);
	}
	strcat(text, "\n");
	assert_load_fails_with(f, text, ":2: Listen: more than 8 addresses");
}

static void test_empty_listen_is_an_error(void **state)
{
	struct fixture *f = *state;
	assert_load_fails_with(f, "[Server]\nListen = ,\n", ":2: Listen: no address given");
}

/* ---- errors ---- */

static void test_line_without_equals_is_reported_with_file_and_line(void **state)
{
	struct fixture *f = *state;
	char want[200];

	snprintf(want, sizeof want, "%s:3: expected 'Name = Value', got 'Port 7000'", f->conf);
	assert_load_fails_with(f, "[Server]\n\nPort 7000\n", want);
}

static void test_malformed_section_header_is_reported(void **state)
{
	struct fixture *f = *state;
	char want[200];

	snprintf(want, sizeof want, "%s:1: malformed section header '[Server'", f->conf);
	assert_load_fails_with(f, "[Server\nPort = 1\n", want);
	assert_load_fails_with(f, "[Server] x\n", ":1: malformed section header");
}

static void test_option_outside_a_section_is_reported(void **state)
{
	struct fixture *f = *state;
	assert_load_fails_with(f, "Port = 7000\n", ":1: option 'Port' outside of a [Section]");
}

static void test_unknown_section_is_reported(void **state)
{
	struct fixture *f = *state;
	assert_load_fails_with(f, "[Server]\nPort = 1\n[Nonsense]\n", ":3: unknown section [Nonsense]");
}

static void test_unknown_option_is_reported_with_its_section(void **state)
{
	struct fixture *f = *state;
	/* a known name in the wrong section is unknown there */
	assert_load_fails_with(f, "[Limits]\nPort = 7000\n", ":2: unknown option 'Port' in section [Limits]");
}

static void test_every_error_in_a_file_is_reported(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Server]\nPort = x\nBogus = 1\n[Limits]\nWorkers = -1\n", NULL),
	                 CONF_EXIT_FAIL);
	char *err = captured(f);
	assert_non_null(strstr(err, ":2: Port:"));
	assert_non_null(strstr(err, ":3: unknown option 'Bogus'"));
	assert_non_null(strstr(err, ":5: Workers:"));
	free(err);
}

static void test_bad_values_are_reported(void **state)
{
	struct fixture *f = *state;

	assert_load_fails_with(f, "[Server]\nPort = seven\n", ":2: Port: 'seven' is not a whole number");
	assert_load_fails_with(f, "[Server]\nPort = 70x\n", "'70x' is not a whole number");
	assert_load_fails_with(f, "[Server]\nPort = \n", "is not a whole number");
	assert_load_fails_with(f, "[Server]\nSyslog = maybe\n", ":2: Syslog: 'maybe' is not yes or no");
	assert_load_fails_with(f, "[Server]\nLogLevel = loud\n",
	                       "'loud' is not one of error, warning, info, debug");
	assert_load_fails_with(f, "[Server]\nPort = 99999999999999999999\n", "is not a whole number");
}

static void test_values_out_of_range_are_reported_with_the_range(void **state)
{
	struct fixture *f = *state;

	assert_load_fails_with(f, "[Server]\nPort = 0\n", ":2: Port: 0 is out of range (1 to 65535)");
	assert_load_fails_with(f, "[Server]\nPort = 65536\n", "65536 is out of range (1 to 65535)");
	assert_load_fails_with(f, "[Limits]\nMaxOutput = 4095\n", "4095 is out of range (4096 to");
	assert_load_fails_with(f, "[Limits]\nQueue = -1\n", "-1 is out of range (0 to");
	/* the edges themselves are accepted */
	assert_int_equal(load(f, "[Server]\nPort = 65535\n[Limits]\nQueue = 0\nMaxOutput = 4096\n", NULL),
	                 CONF_RUN);
	assert_int_equal(f->c.port, 65535);
	assert_int_equal(f->c.queue, 0);
	assert_int_equal(f->c.max_output, 4096);
}

static void test_bad_command_line_value_names_the_option(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "", "--workers", "-1", NULL), CONF_EXIT_FAIL);
	char *err = captured(f);
	assert_non_null(strstr(err, "--workers: -1 is out of range"));
	free(err);
}

static void test_unknown_command_line_option_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "", "--no-such-option", NULL), CONF_EXIT_FAIL);
	char *err = captured(f);
	assert_non_null(strstr(err, "Try 'chatroomd --help'"));
	free(err);
	assert_int_equal(load(f, "", "stray", NULL), CONF_EXIT_FAIL);
	err = captured(f);
	assert_non_null(strstr(err, "unexpected argument 'stray'"));
	free(err);
}

static void test_missing_named_file_is_an_error(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "chatroomd", "-f", "/nonexistent/chatroomd.conf", NULL };

	capture(f);
	assert_int_equal(conf_load(&f->c, 3, argv), CONF_EXIT_FAIL);
	f->loaded = 1;
	char *err = captured(f);
	assert_non_null(strstr(err, "cannot read configuration file /nonexistent/chatroomd.conf"));
	free(err);
}

static void test_heartbeat_timeout_must_exceed_the_interval(void **state)
{
	struct fixture *f = *state;
	assert_load_fails_with(f, "[Timeouts]\nHeartbeatInterval = 30\nHeartbeatTimeout = 30\n",
	                       "HeartbeatTimeout (30) must be longer than HeartbeatInterval (30)");
}

/* ---- --configtest ---- */

/* conf_print() output, malloc'd. */
static char *printed(const struct conf *c)
{
	FILE *fp = tmpfile();
	assert_non_null(fp);
	conf_print(c, fp);
	long n = ftell(fp);
	assert_true(n > 0);
	char *buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	rewind(fp);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

static void test_configtest_prints_every_section_and_the_values(void **state)
{
	struct fixture *f = *state;
	static const char *sections[] = { "[Server]", "[Limits]", "[Timeouts]", "[Store]",
		                          "[Security]", "[Presence]", "[Files]" };

	assert_int_equal(load(f, "[Server]\nPort = 7000\nListen = 127.0.0.1, ::1\n", "-t", NULL),
	                 CONF_CONFIGTEST);
	char *out = printed(&f->c);
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (!strstr(out, sections[i]))
			fail_msg("%s missing from:\n%s", sections[i], out);
	assert_non_null(strstr(out, "\nPort = 7000\n"));
	assert_non_null(strstr(out, "\nListen = 127.0.0.1, ::1\n"));
	assert_non_null(strstr(out, "\nSyslog = no\n"));
	assert_non_null(strstr(out, "\nLogLevel = info\n"));
	assert_non_null(strstr(out, f->conf)); /* names the file read */
	free(out);
}

static void test_configtest_hides_the_admin_password(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Security]\nAdminPassword = s3cret-pw\n", "-t", NULL), CONF_CONFIGTEST);
	char *out = printed(&f->c);
	assert_null(strstr(out, "s3cret-pw"));
	assert_non_null(strstr(out, "AdminPassword = (set)"));
	free(out);
}

static void test_printed_configuration_reads_back_the_same(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[Server]\nPort = 7005\nListen = ::1\n[Limits]\nWorkers = 7\n", NULL),
	                 CONF_RUN);
	char *first = printed(&f->c);
	/* the output is valid file syntax: loading it prints the same again */
	assert_int_equal(load(f, first, NULL), CONF_RUN);
	char *second = printed(&f->c);
	assert_string_equal(first, second);
	free(first);
	free(second);
}

/* ---- reload ---- */

static void test_reload_applies_reloadable_options_and_reports_the_others(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "chatroomd", "-f", f->conf, NULL };

	assert_int_equal(load(f, "[Limits]\nWorkers = 3\nMaxOutput = 65536\n", NULL), CONF_RUN);
	write_file(f->conf, "[Limits]\nWorkers = 9\nMaxOutput = 131072\n[Timeouts]\nLoginTimeout = 5\n");
	capture(f);
	assert_int_equal(conf_reload(&f->c, 3, argv), 0);
	char *err = captured(f);
	assert_int_equal(f->c.max_output, 131072);
	assert_int_equal(f->c.login_timeout, 5);
	assert_int_equal(f->c.workers, 3); /* needs a restart */
	assert_non_null(strstr(err, "Workers changed, but takes effect only after a restart"));
	assert_non_null(strstr(err, "MaxOutput changed"));
	assert_null(strstr(err, "MaxOutput changed, but"));
	assert_null(strstr(err, "Queue changed")); /* unchanged: not mentioned */
	free(err);
}

static void test_reload_applies_reloadable_strings(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "chatroomd", "-f", f->conf, NULL };

	assert_int_equal(load(f, "[Files]\nExtensions = txt\n[Server]\nDatabase = /tmp/a.db\n", NULL),
	                 CONF_RUN);
	char *before = f->c.file_extensions;
	write_file(f->conf, "[Files]\nExtensions = txt,png\n[Server]\nDatabase = /tmp/b.db\n");
	capture(f);
	assert_int_equal(conf_reload(&f->c, 3, argv), 0);
	char *err = captured(f);
	assert_string_equal(f->c.file_extensions, "txt,png");
	/* the old string stays valid for threads still reading it; nobody
	 * else has it here, so the test releases it */
	assert_ptr_not_equal(before, f->c.file_extensions);
	assert_string_equal(before, "txt");
	free(before);
	assert_string_equal(f->c.database, "/tmp/a.db");
	assert_non_null(strstr(err, "Database changed, but takes effect only after a restart"));
	free(err);
}

static void test_reload_of_a_broken_file_keeps_the_running_configuration(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "chatroomd", "-f", f->conf, NULL };

	assert_int_equal(load(f, "[Limits]\nMaxOutput = 65536\n", NULL), CONF_RUN);
	write_file(f->conf, "[Limits]\nMaxOutput = 131072\nRate = fast\n");
	capture(f);
	assert_int_equal(conf_reload(&f->c, 3, argv), -1);
	char *err = captured(f);
	assert_int_equal(f->c.max_output, 65536);
	assert_non_null(strstr(err, ":3: Rate:"));
	assert_non_null(strstr(err, "keeping the running configuration"));
	free(err);
}

static void test_reload_keeps_command_line_options(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "chatroomd", "-f", f->conf, "--max-output", "8192", NULL };

	assert_int_equal(load(f, "[Limits]\nMaxOutput = 65536\n", "--max-output", "8192", NULL), CONF_RUN);
	assert_int_equal(f->c.max_output, 8192);
	write_file(f->conf, "[Limits]\nMaxOutput = 131072\n");
	capture(f);
	assert_int_equal(conf_reload(&f->c, 5, argv), 0);
	capture_end(f);
	assert_int_equal(f->c.max_output, 8192); /* the command line still wins */
}

/* Language: zh by default (the reference's), en on request, nothing else;
 * LegacyReplyDelay: 2 ms by default, 0 turns it off, at most 1000. */
static void test_language_and_legacy_reply_delay(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "", NULL), CONF_RUN);
	assert_int_equal(f->c.language, CAT_ZH);
	assert_int_equal(f->c.legacy_reply_delay, CR_DEFAULT_LEGACY_REPLY_DELAY_MS);
	assert_int_equal(load(f, "[Server]\nLanguage = en\n[Limits]\nLegacyReplyDelay = 0\n", NULL), CONF_RUN);
	assert_int_equal(f->c.language, CAT_EN);
	assert_int_equal(f->c.legacy_reply_delay, 0);
	assert_int_equal(load(f, "", "--language", "zh", "--legacy-reply-delay", "5", NULL), CONF_RUN);
	assert_int_equal(f->c.language, CAT_ZH);
	assert_int_equal(f->c.legacy_reply_delay, 5);
	assert_load_fails_with(f, "[Server]\nLanguage = fr\n", "'fr' is not one of zh, en");
	assert_load_fails_with(f, "[Limits]\nLegacyReplyDelay = 1001\n", "LegacyReplyDelay");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_file_gives_the_defaults),
		T(test_language_and_legacy_reply_delay),
		T(test_file_values_replace_the_defaults),
		T(test_section_and_option_names_ignore_case),
		T(test_command_line_beats_the_file),
		T(test_command_line_flags_and_actions),
		T(test_first_listen_line_replaces_the_default_list),
		T(test_listen_on_the_command_line_replaces_the_file_list),
		T(test_too_many_listen_addresses_are_an_error),
		T(test_empty_listen_is_an_error),
		T(test_line_without_equals_is_reported_with_file_and_line),
		T(test_malformed_section_header_is_reported),
		T(test_option_outside_a_section_is_reported),
		T(test_unknown_section_is_reported),
		T(test_unknown_option_is_reported_with_its_section),
		T(test_every_error_in_a_file_is_reported),
		T(test_bad_values_are_reported),
		T(test_values_out_of_range_are_reported_with_the_range),
		T(test_bad_command_line_value_names_the_option),
		T(test_unknown_command_line_option_fails),
		T(test_missing_named_file_is_an_error),
		T(test_heartbeat_timeout_must_exceed_the_interval),
		T(test_configtest_prints_every_section_and_the_values),
		T(test_configtest_hides_the_admin_password),
		T(test_printed_configuration_reads_back_the_same),
		T(test_reload_applies_reloadable_options_and_reports_the_others),
		T(test_reload_applies_reloadable_strings),
		T(test_reload_of_a_broken_file_keeps_the_running_configuration),
		T(test_reload_keeps_command_line_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
