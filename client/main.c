/* main.c - chatroom, the line-mode client: start-up and the one poll() loop
 * that serves the terminal (or script input), the socket and the timers. */
#include "config.h"
#include "client.h"
#include "proto.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct client cl;

static volatile sig_atomic_t main_sig_int, main_sig_term, main_sig_winch;

static void main_on_signal(int sig)
{
	if (sig == SIGINT)
		main_sig_int = 1;
	else if (sig == SIGWINCH)
		main_sig_winch = 1;
	else
		main_sig_term = 1;
}

double cl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void main_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = main_on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: poll() must return so the flags are seen */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Script mode at the end of input: leave once every line has run and every
 * message is acknowledged (and echoed), or after --exit-wait seconds. */
static void main_check_exit(double now)
{
	static double drained_at;
	if (!cl.o.script || !cl.stdin_eof || ui_has_pending() || cl.wait_type)
		return;
	if (drained_at == 0)
		drained_at = now;
	if (sess_settled() || now - drained_at > cl.o.exit_wait || !cl.username)
		cl.quit = 1;
}

static int main_exit_status(void)
{
	if (cl.exit_code >= 0)
		return cl.exit_code;
	if (cl.outbox) {
		ui_err("%zu message%s not acknowledged by the server", cl.outbox_len,
		       cl.outbox_len == 1 ? "" : "s");
		return cl.state == CONN_UP ? CL_EXIT_FAILED : CL_EXIT_CONNECT;
	}
	return cl.failed ? CL_EXIT_FAILED : CL_EXIT_OK;
}

static void main_loop(void)
{
	while (!cl.quit) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int in_idx = -1, net_idx = -1;
		short ev;
		double now = cl_now();

		ui_poll_setup(&ev);
		if (ev) {
			pfd[n].fd = STDIN_FILENO;
			pfd[n].events = ev;
			pfd[n].revents = 0;
			in_idx = (int)n++;
		}
		net_poll_setup(&ev);
		if (ev) {
			pfd[n].fd = cl.fd;
			pfd[n].events = ev;
			pfd[n].revents = 0;
			net_idx = (int)n++;
		}
		double t = net_next_timer(now), t2 = cmd_next_timer(now), t3 = xfer_next_timer(now);
		if (t2 < t)
			t = t2;
		if (t3 < t)
			t = t3;
		if (cl.o.script && cl.stdin_eof && t > 0.1)
			t = 0.1; /* re-check the exit condition */
		int timeout = (int)(t * 1000) + 1;

		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			ui_err("poll: %s", strerror(errno));
			cl.exit_code = CL_EXIT_FAILED;
			break;
		}
		if (main_sig_term) {
			cl.quit = 1;
			break;
		}
		if (main_sig_winch) {
			main_sig_winch = 0;
			ui_resize();
		}
		if (main_sig_int) {
			main_sig_int = 0;
			if (cl.o.script) {
				cl.quit = 1;
				break;
			}
			ui_interrupt();
		}
		if (r > 0) {
			if (net_idx >= 0)
				net_on_events(pfd[net_idx].revents);
			if (in_idx >= 0 && pfd[in_idx].revents && !cl.quit)
				ui_on_stdin();
		}
		now = cl_now();
		net_tick(now);
		xfer_tick(now);
		cmd_tick(now);
		cmd_pump();
		if (cl.o.script)
			ui_pump();
		main_check_exit(now);
	}
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	cl.exit_code = -1;
	int rc = conf_parse(argc, argv);
	if (rc >= 0)
		return rc;

	sess_init();
	net_init();
	main_signals();

	/* Ask for the password before anything is drawn. */
	if (cl.o.user) {
		char *pw = conf_password_for_login();
		if (!pw) {
			fprintf(stderr, "chatroom: no password for %s: use --password-file, "
			                "CHATROOM_PASSWORD or a terminal\n", cl.o.user);
			sess_free();
			return CL_EXIT_USAGE;
		}
		sess_login(cl.o.user, pw, 1);
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}

	ui_init();
	if (net_connect_now() < 0) {
		ui_finish();
		sess_free();
		net_close();
		tls_free();
		return CL_EXIT_CONNECT;
	}
	main_loop();
	ui_finish();
	rc = main_exit_status();
	if (xfer_busy()) {
		ui_err("left during a file transfer: it did not complete");
		if (rc == CL_EXIT_OK)
			rc = CL_EXIT_FAILED;
	}
	xfer_free();
	net_close();
	tls_free();
	sess_free();
	free(cl.held_cmd);
	return rc;
}
