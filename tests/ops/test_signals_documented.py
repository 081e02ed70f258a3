"""chatroomd(8)'s SIGNALS and EXIT STATUS sections say what the daemon does:
SIGUSR1 logs exactly the statistics the page lists, SIGHUP reloads,
SIGTERM and SIGINT end it with status 0; a configuration error exits with
2 and an address in use with 1."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import TOP_BUILDDIR, TOP_SRCDIR, free_port  # noqa: E402
from test_options_documented import man_entries  # noqa: E402
import tap  # noqa: E402

CHATROOMD = os.environ.get("CHATROOMD", os.path.join(TOP_BUILDDIR, "server", "chatroomd"))
SLOW = float(os.environ.get("CHATROOM_TEST_SLOW", "1"))
MAN8 = os.path.join(TOP_SRCDIR, "man", "chatroomd.8")


def man8_entry(section, tag):
    for heading, t, body in man_entries(MAN8):
        if heading == section and re.sub(r"\s+,", ",", t) == tag:
            return body
    raise AssertionError("chatroomd.8 has no entry %r in %s" % (tag, section))


class Daemon:
    """chatroomd in the foreground, logging to a file."""

    def __init__(self, test, *extra):
        self.dir = tempfile.mkdtemp(prefix="chatroom-signals-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "log")
        self.cmd = [CHATROOMD, "-n", "-f", "/dev/null", "-l", "127.0.0.1", "-p", str(self.port),
                    "--database", os.path.join(self.dir, "chat.db"),
                    "--data-dir", os.path.join(self.dir, "files")] + list(extra)
        self.proc = None
        test.addCleanup(self.kill)

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chatroomd exited: " + self.text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("chatroomd does not listen: " + self.text())

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern):
        deadline = time.time() + 5 * SLOW
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError("no %r in the log:\n%s" % (pattern, self.text()))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class SignalsDocumented(unittest.TestCase):
    def test_sigusr1_logs_the_statistics_listed_in_the_page(self):
        d = Daemon(self).start()
        d.proc.send_signal(signal.SIGUSR1)
        line = d.wait_log(r"statistics: (.*)").group(1)
        logged = set(re.findall(r"(\w+)=", line))
        body = man8_entry("SIGNALS", "SIGUSR1")
        documented = set(re.findall(r"\b([a-z]+(?:_[a-z]+)+|logins|workers)\b", body))
        self.assertEqual(documented, logged)

    def test_sighup_reloads_and_the_server_keeps_running(self):
        d = Daemon(self).start()
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log(r"reloading the configuration")
        self.assertIn("Reload", man8_entry("SIGNALS", "SIGHUP"))
        time.sleep(0.2)
        self.assertIsNone(d.proc.poll())
        socket.create_connection(("127.0.0.1", d.port), timeout=2).close()

    def test_sigterm_and_sigint_exit_with_status_0(self):
        self.assertIn("exit with status 0", man8_entry("SIGNALS", "SIGTERM, SIGINT"))
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig):
                d = Daemon(self).start()
                d.proc.send_signal(sig)
                self.assertEqual(d.proc.wait(timeout=20 * SLOW), 0, d.text())
                self.assertIn("final statistics", d.text())

    def test_configuration_error_exits_with_status_2(self):
        self.assertIn("configuration", man8_entry("EXIT STATUS", "2"))
        d = Daemon(self, "--workers", "-1")
        p = subprocess.run(d.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("workers", p.stderr)

    def test_address_in_use_exits_with_status_1(self):
        self.assertIn("listened on", man8_entry("EXIT STATUS", "1"))
        busy = socket.socket()
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        self.addCleanup(busy.close)
        d = Daemon(self)
        d.cmd[d.cmd.index("-p") + 1] = str(busy.getsockname()[1])
        p = subprocess.run(d.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout)


if __name__ == "__main__":
    tap.main()
