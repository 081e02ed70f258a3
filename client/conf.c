/* conf.c - the client's options: defaults, configuration file, environment
 * and command line (later ones win), and reading passwords. */
#include "config.h"
#include "client.h"
#include "tunables.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#define CONF_PASSWORD_MAX 256

enum {
	OPT_PASSWORD_FILE = 1000,
	OPT_RECONNECT_MIN,
	OPT_RECONNECT_MAX,
	OPT_EXIT_WAIT,
	OPT_COLOR,
	OPT_NO_COLOR,
	OPT_NO_PRESENCE,
	OPT_DOWNLOAD_DIR,
	OPT_LANG,
	OPT_TLS,
	OPT_CAFILE,
	OPT_PIN,
};

static const struct option conf_longopts[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "user", required_argument, NULL, 'u' },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "config", required_argument, NULL, 'c' },
	{ "reconnect-min", required_argument, NULL, OPT_RECONNECT_MIN },
	{ "reconnect-max", required_argument, NULL, OPT_RECONNECT_MAX },
	{ "exit-wait", required_argument, NULL, OPT_EXIT_WAIT },
	{ "color", optional_argument, NULL, OPT_COLOR },
	{ "colour", optional_argument, NULL, OPT_COLOR },
	{ "no-color", no_argument, NULL, OPT_NO_COLOR },
	{ "no-presence", no_argument, NULL, OPT_NO_PRESENCE },
	{ "download-dir", required_argument, NULL, OPT_DOWNLOAD_DIR },
	{ "lang", required_argument, NULL, OPT_LANG },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "pin-sha256", required_argument, NULL, OPT_PIN },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void conf_usage(FILE *f)
{
	fprintf(f,
	        "Usage: chatroom [OPTION]...\n"
	        "Line-mode client for the chatroomd chat server.\n"
	        "\n"
	        "  -H, --host HOST          server host (default localhost, $CHATROOM_HOST)\n"
	        "  -p, --port PORT          server port (default %d, $CHATROOM_PORT)\n"
	        "  -u, --user NAME          log in as NAME at start ($CHATROOM_USER)\n"
	        "      --password-file FILE read the password from the first line of FILE\n"
	        "                           (else $CHATROOM_PASSWORD, else a prompt)\n"
	        "  -c, --config FILE        configuration file (default ~/.config/chatroom/config\n"
	        "                           or ~/.chatroomrc)\n"
	        "      --reconnect-min SEC  first reconnect delay (default %g)\n"
	        "      --reconnect-max SEC  longest reconnect delay (default %g)\n"
	        "      --exit-wait SEC      script mode: wait this long at end of input for\n"
	        "                           acknowledgements (default %g)\n"
	        "      --color[=WHEN]       colour output: auto (default), always, never\n"
	        "      --no-color           same as --color=never\n"
	        "      --no-presence        do not show users coming online or going offline\n"
	        "      --download-dir DIR   where /recv_files saves files (default: the current\n"
	        "                           directory)\n"
	        "      --lang LANG          language of the server's texts: en (default) or zh\n"
	        "                           ($CHATROOM_LANG)\n"
	        "      --tls                connect with TLS, verifying the server's certificate\n"
	        "                           and host name ($CHATROOM_TLS=yes)\n"
	        "      --cafile FILE        trust the authorities in FILE (PEM) instead of the\n"
	        "                           system's ($CHATROOM_CAFILE)\n"
	        "      --pin-sha256 BASE64  accept only the server key with this SHA-256 pin\n"
	        "                           (a self-signed server; $CHATROOM_PIN_SHA256)\n"
	        "  -h, --help               show this help and exit\n"
	        "  -V, --version            show the version and exit\n"
	        "\n"
	        "Type /help in the client for its commands (among them /msg USER [TEXT] to\n"
	        "talk to one user, /invite, /kick and /leave). When standard input is not a\n"
	        "terminal, lines and commands are read from it (script mode); see chatroom(1).\n"
	        "Exit status: 0 success, 1 a command failed, 2 usage error, 3 connection failed\n"
	        "(also a server certificate that is not trusted).\n",
	        CR_DEFAULT_PORT, CL_DEFAULT_RECONNECT_MIN, CL_DEFAULT_RECONNECT_MAX,
	        CL_DEFAULT_EXIT_WAIT);
}

static void conf_set(char **slot, const char *val)
{
	free(*slot);
	*slot = val ? strdup(val) : NULL;
}

/* A folder setting: "~/x" is x in the home directory. */
static void conf_set_dir(char **slot, const char *val)
{
	const char *home = getenv("HOME");
	if (val[0] == '~' && (val[1] == '/' || !val[1]) && home && *home) {
		size_t n = strlen(home) + strlen(val) + 1;
		char *p = malloc(n);
		if (p) {
			snprintf(p, n, "%s%s", home, val + 1);
			free(*slot);
			*slot = p;
			return;
		}
	}
	conf_set(slot, val);
}

static int conf_seconds(const char *val, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(val, &end);
	if (errno || end == val || *end || d < 0.01 || d > 86400.0)
		return -1;
	*out = d;
	return 0;
}

static int conf_port_ok(const char *val)
{
	char *end;
	long p = strtol(val, &end, 10);
	return *val && !*end && p > 0 && p < 65536;
}

static int conf_color(const char *val)
{
	if (!val || !strcasecmp(val, "auto"))
		return -1;
	if (!strcasecmp(val, "always") || !strcasecmp(val, "yes"))
		return 1;
	if (!strcasecmp(val, "never") || !strcasecmp(val, "no"))
		return 0;
	return -2;
}

/* The first line of path, without its line ending. */
static char *conf_read_password_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "chatroom: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char buf[CONF_PASSWORD_MAX];
	char *res = NULL;
	if (fgets(buf, sizeof buf, f)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		res = strdup(buf);
	} else {
		fprintf(stderr, "chatroom: %s: empty password file\n", path);
	}
	explicit_bzero(buf, sizeof buf);
	fclose(f);
	return res;
}

/* The languages the server speaks (its hello's "lang"). */
static int conf_lang_ok(const char *val)
{
	return !strcmp(val, "zh") || !strcmp(val, "en");
}

/* yes/no: 1, 0, or -1 when neither. */
static int conf_bool(const char *val)
{
	if (!strcasecmp(val, "yes") || !strcmp(val, "1") || !strcasecmp(val, "true"))
		return 1;
	if (!strcasecmp(val, "no") || !strcmp(val, "0") || !strcasecmp(val, "false"))
		return 0;
	return -1;
}

/* A --pin-sha256 value: the base64 of 32 bytes (44 characters, one '='). */
static int conf_pin_ok(const char *val)
{
	size_t n = strlen(val);
	if (n != 44 || val[43] != '=')
		return 0;
	for (size_t i = 0; i < 43; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", val[i]))
			return 0;
	return 1;
}

/* One "key = value" setting from the configuration file. */
static int conf_apply(const char *key, const char *val)
{
	char k[64];
	size_t i;
	for (i = 0; key[i] && i < sizeof k - 1; i++)
		k[i] = key[i] == '_' ? '-' : key[i];
	k[i] = '\0';

	if (!strcmp(k, "host"))
		conf_set(&cl.o.host, val);
	else if (!strcmp(k, "port")) {
		if (!conf_port_ok(val))
			return -1;
		conf_set(&cl.o.port, val);
	} else if (!strcmp(k, "user") || !strcmp(k, "username"))
		conf_set(&cl.o.user, val);
	else if (!strcmp(k, "password-file")) {
		char *p = conf_read_password_file(val);
		if (!p)
			return -1;
		free(cl.o.password);
		cl.o.password = p;
	} else if (!strcmp(k, "reconnect-min"))
		return conf_seconds(val, &cl.o.reconnect_min);
	else if (!strcmp(k, "reconnect-max"))
		return conf_seconds(val, &cl.o.reconnect_max);
	else if (!strcmp(k, "exit-wait"))
		return conf_seconds(val, &cl.o.exit_wait);
	else if (!strcmp(k, "color") || !strcmp(k, "colour")) {
		int c = conf_color(val);
		if (c == -2)
			return -1;
		cl.o.color = c;
	} else if (!strcmp(k, "download-dir")) {
		if (!*val)
			return -1;
		conf_set_dir(&cl.o.download_dir, val);
	} else if (!strcmp(k, "lang")) {
		if (!conf_lang_ok(val))
			return -1;
		conf_set(&cl.o.lang, val);
	} else if (!strcmp(k, "presence")) {
		int b = conf_bool(val);
		if (b < 0)
			return -1;
		cl.o.presence = b;
	} else if (!strcmp(k, "tls")) {
		int b = conf_bool(val);
		if (b < 0)
			return -1;
		cl.o.tls = b;
	} else if (!strcmp(k, "cafile")) {
		if (!*val)
			return -1;
		conf_set_dir(&cl.o.cafile, val);
	} else if (!strcmp(k, "pin-sha256")) {
		if (!conf_pin_ok(val))
			return -1;
		conf_set(&cl.o.pin, val);
	} else
		return -2;
	return 0;
}

static char *conf_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Returns 0, 1 when the file does not exist (and !must), -1 on an error. */
static int conf_load_file(const char *path, int must)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !must)
			return 1;
		fprintf(stderr, "chatroom: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *s = conf_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "chatroom: %s:%d: expected key = value\n", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *key = conf_trim(s), *val = conf_trim(eq + 1);
		int r = conf_apply(key, val);
		if (r == -2) {
			fprintf(stderr, "chatroom: %s:%d: unknown setting '%s'\n", path, lineno, key);
			rc = -1;
			break;
		} else if (r < 0) {
			fprintf(stderr, "chatroom: %s:%d: bad value for %s: '%s'\n", path, lineno, key, val);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* The default configuration file: $XDG_CONFIG_HOME/chatroom/config (or
 * ~/.config/chatroom/config), else ~/.chatroomrc. */
static int conf_load_default(void)
{
	char path[4096];
	const char *home = getenv("HOME");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	int r = 1;
	if (xdg && *xdg) {
		snprintf(path, sizeof path, "%s/chatroom/config", xdg);
		r = conf_load_file(path, 0);
	} else if (home && *home) {
		snprintf(path, sizeof path, "%s/.config/chatroom/config", home);
		r = conf_load_file(path, 0);
	}
	if (r == 1 && home && *home) {
		snprintf(path, sizeof path, "%s/.chatroomrc", home);
		r = conf_load_file(path, 0);
	}
	return r < 0 ? -1 : 0;
}

static int conf_env(void)
{
	const char *v;
	if ((v = getenv("CHATROOM_HOST")) && *v)
		conf_set(&cl.o.host, v);
	if ((v = getenv("CHATROOM_PORT")) && *v) {
		if (!conf_port_ok(v)) {
			fprintf(stderr, "chatroom: CHATROOM_PORT: bad port '%s'\n", v);
			return -1;
		}
		conf_set(&cl.o.port, v);
	}
	if ((v = getenv("CHATROOM_USER")) && *v)
		conf_set(&cl.o.user, v);
	if ((v = getenv("CHATROOM_PASSWORD")) && *v)
		conf_set(&cl.o.password, v);
	if ((v = getenv("CHATROOM_TLS")) && *v) {
		int b = conf_bool(v);
		if (b < 0) {
			fprintf(stderr, "chatroom: CHATROOM_TLS: '%s' is not yes or no\n", v);
			return -1;
		}
		cl.o.tls = b;
	}
	if ((v = getenv("CHATROOM_CAFILE")) && *v)
		conf_set(&cl.o.cafile, v);
	if ((v = getenv("CHATROOM_PIN_SHA256")) && *v) {
		if (!conf_pin_ok(v)) {
			fprintf(stderr, "chatroom: CHATROOM_PIN_SHA256: '%s' is not the base64 of a "
			                "SHA-256 digest\n", v);
			return -1;
		}
		conf_set(&cl.o.pin, v);
	}
	if ((v = getenv("CHATROOM_LANG")) && *v) {
		if (!conf_lang_ok(v)) {
			fprintf(stderr, "chatroom: CHATROOM_LANG: '%s' is not zh or en\n", v);
			return -1;
		}
		conf_set(&cl.o.lang, v);
	}
	return 0;
}

int conf_parse(int argc, char **argv)
{
	char portbuf[16];
	snprintf(portbuf, sizeof portbuf, "%d", CR_DEFAULT_PORT);
	cl.o.host = strdup(CL_DEFAULT_HOST);
	cl.o.port = strdup(portbuf);
	cl.o.reconnect_min = CL_DEFAULT_RECONNECT_MIN;
	cl.o.reconnect_max = CL_DEFAULT_RECONNECT_MAX;
	cl.o.exit_wait = CL_DEFAULT_EXIT_WAIT;
	cl.o.color = -1;
	cl.o.presence = 1;
	cl.o.script = !isatty(STDIN_FILENO);

	/* The configuration file comes first, so --config is looked for
	 * before the other options are applied over it. */
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			conf_usage(stdout);
			return CL_EXIT_OK;
		}
	}
	if ((config ? conf_load_file(config, 1) : conf_load_default()) < 0)
		return CL_EXIT_USAGE;
	if (conf_env() < 0)
		return CL_EXIT_USAGE;

	int c;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "H:p:u:c:hV", conf_longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			conf_set(&cl.o.host, optarg);
			break;
		case 'p':
			if (!conf_port_ok(optarg)) {
				fprintf(stderr, "chatroom: bad port '%s'\n", optarg);
				return CL_EXIT_USAGE;
			}
			conf_set(&cl.o.port, optarg);
			break;
		case 'u':
			conf_set(&cl.o.user, optarg);
			break;
		case 'c':
			break; /* loaded above */
		case OPT_PASSWORD_FILE: {
			char *p = conf_read_password_file(optarg);
			if (!p)
				return CL_EXIT_USAGE;
			free(cl.o.password);
			cl.o.password = p;
			break;
		}
		case OPT_RECONNECT_MIN:
		case OPT_RECONNECT_MAX:
		case OPT_EXIT_WAIT: {
			double *slot = c == OPT_RECONNECT_MIN ? &cl.o.reconnect_min
			             : c == OPT_RECONNECT_MAX ? &cl.o.reconnect_max : &cl.o.exit_wait;
			if (conf_seconds(optarg, slot) < 0) {
				fprintf(stderr, "chatroom: bad number of seconds '%s'\n", optarg);
				return CL_EXIT_USAGE;
			}
			break;
		}
		case OPT_COLOR:
			cl.o.color = conf_color(optarg);
			if (cl.o.color == -2) {
				fprintf(stderr, "chatroom: --color takes auto, always or never\n");
				return CL_EXIT_USAGE;
			}
			break;
		case OPT_NO_COLOR:
			cl.o.color = 0;
			break;
		case OPT_NO_PRESENCE:
			cl.o.presence = 0;
			break;
		case OPT_DOWNLOAD_DIR:
			if (!*optarg) {
				fprintf(stderr, "chatroom: --download-dir needs a folder\n");
				return CL_EXIT_USAGE;
			}
			conf_set_dir(&cl.o.download_dir, optarg);
			break;
		case OPT_LANG:
			if (!conf_lang_ok(optarg)) {
				fprintf(stderr, "chatroom: --lang takes zh or en\n");
				return CL_EXIT_USAGE;
			}
			conf_set(&cl.o.lang, optarg);
			break;
		case OPT_TLS:
			cl.o.tls = 1;
			break;
		case OPT_CAFILE:
			if (!*optarg) {
				fprintf(stderr, "chatroom: --cafile needs a file\n");
				return CL_EXIT_USAGE;
			}
			conf_set(&cl.o.cafile, optarg);
			break;
		case OPT_PIN:
			if (!conf_pin_ok(optarg)) {
				fprintf(stderr, "chatroom: --pin-sha256 takes the base64 of a SHA-256 "
				                "digest (44 characters), as chatroom(1) shows how to make\n");
				return CL_EXIT_USAGE;
			}
			conf_set(&cl.o.pin, optarg);
			break;
		case 'h':
			conf_usage(stdout);
			return CL_EXIT_OK;
		case 'V':
			printf("chatroom %s (protocol %d)\n", PACKAGE_VERSION, CR_PROTOCOL_VERSION);
			return CL_EXIT_OK;
		default:
			fprintf(stderr, "Try 'chatroom --help' for more information.\n");
			return CL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chatroom: unexpected argument '%s'\n"
		                "Try 'chatroom --help' for more information.\n", argv[optind]);
		return CL_EXIT_USAGE;
	}
	if (cl.o.reconnect_max < cl.o.reconnect_min)
		cl.o.reconnect_max = cl.o.reconnect_min;
	if ((cl.o.cafile || cl.o.pin) && !cl.o.tls) {
		/* never a silent plain connection for someone who meant TLS */
		fprintf(stderr, "chatroom: --cafile and --pin-sha256 need --tls\n");
		return CL_EXIT_USAGE;
	}
	if (cl.o.tls) {
		char err[512];
		if (tls_setup(err, sizeof err) < 0) {
			fprintf(stderr, "chatroom: %s\n", err);
			return CL_EXIT_USAGE;
		}
	}
	return -1;
}

char *conf_read_password(const char *prompt)
{
	/* The terminal, even when standard input is a pipe; as getpass(3). */
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int own = fd >= 0;
	if (!own) {
		if (!isatty(STDIN_FILENO))
			return NULL;
		fd = STDIN_FILENO;
	}
	struct termios old, noecho;
	int restore = 0;
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL | ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
			restore = 1;
	}
	if (write(own ? fd : STDERR_FILENO, prompt, strlen(prompt)) < 0) {
		/* nothing to do: the prompt is a courtesy */
	}
	char buf[CONF_PASSWORD_MAX];
	size_t n = 0;
	int ok = 0;
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (ch == '\n' || ch == '\r') {
			ok = 1;
			break;
		}
		if (n < sizeof buf - 1)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (own)
		close(fd);
	char *res = ok || n ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof buf);
	return res;
}

char *conf_password_for_login(void)
{
	if (cl.o.password)
		return strdup(cl.o.password);
	return conf_read_password("Password: ");
}
