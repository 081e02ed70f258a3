"""The installed SysV init script drives the installed daemon: the source is
configured with --prefix in a temporary directory and installed there, and
the script's start, status, reload, force-reload, stop, restart and
try-restart are run against it on a free loopback port, with
start-stop-daemon and with the plain-shell fallback. The installed systemd
unit is checked with systemd-analyze."""
import json
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
from opslib import TOP_SRCDIR, free_port, have, make, run  # noqa: E402
import tap  # noqa: E402

SLOW = float(os.environ.get("CHATROOM_TEST_SLOW", "1"))

# LSB exit codes of the init script
RUNNING, STALE, NOT_RUNNING = 0, 1, 3
NOT_CONFIGURED, NOT_RUNNING_ACTION = 6, 7


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def hello(port):
    """The server's answer to a protocol-2 hello."""
    with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
        msg = {"message_type": "hello", "timestamp": time.time(), "protocol": 2,
               "client": "ops-test/1"}
        s.sendall(json.dumps(msg).encode() + b"\n")
        line = s.makefile("rb").readline()
    return json.loads(line)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


TMP = PREFIX = None


def setUpModule():
    """A second build of the sources, configured for a temporary prefix and
    installed there."""
    global TMP, PREFIX
    TMP = tempfile.mkdtemp(prefix="chatroom-initd-")
    PREFIX = os.path.join(TMP, "inst")
    build = os.path.join(TMP, "build")
    os.mkdir(build)
    run([os.path.join(TOP_SRCDIR, "configure"), "--quiet", "--prefix=" + PREFIX,
         "--disable-tests"], cwd=build)
    make(["install"], cwd=build)


def tearDownModule():
    shutil.rmtree(TMP, True)


class InitScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TMP
        cls.prefix = PREFIX
        cls.script = os.path.join(cls.prefix, "etc", "init.d", "chatroomd")
        cls.conf = os.path.join(cls.prefix, "etc", "chatroomd.conf")
        cls.sample = os.path.join(cls.prefix, "share", "doc", "chatroom", "chatroomd.conf.sample")
        cls.defaults = os.path.join(cls.prefix, "etc", "default", "chatroomd")
        # Not the script's default: shows the defaults file is read.
        cls.pidfile = os.path.join(cls.tmp, "run", "chatroomd.pid")

    def setUp(self):
        self.port = free_port()
        self.write_conf(heartbeat_interval=23)
        self.write_defaults("auto")
        self.addCleanup(self.kill_leftover)

    def kill_leftover(self):
        """A failed test must not leave its daemon running."""
        pid = self.pid()
        if pid and alive(pid):
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "chatroomd":
                    os.kill(pid, signal.SIGKILL)
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)

    def write_conf(self, heartbeat_interval, extra=""):
        """The installed sample, with the test's address, port and interval."""
        with open(self.sample) as f:
            text = f.read()
        for name, value in (("Listen", "127.0.0.1"), ("Port", str(self.port)),
                            ("HeartbeatInterval", str(heartbeat_interval))):
            # the first one: [Server]'s (later sections, such as [TLS], may
            # have an option of the same name)
            text, n = re.subn(r"(?m)^#\s*%s\s*=.*$" % name, "%s = %s" % (name, value), text,
                              count=1)
            self.assertEqual(n, 1, "the sample has no commented %s line" % name)
        with open(self.conf, "w") as f:
            f.write(text + extra)

    def write_defaults(self, use_ssd):
        os.makedirs(os.path.dirname(self.defaults), exist_ok=True)
        with open(self.defaults, "w") as f:
            f.write("CHATROOMD_PIDFILE=%s\nCHATROOMD_STOP_TIMEOUT=%d\nUSE_START_STOP_DAEMON=%s\n"
                    % (self.pidfile, int(20 * SLOW), use_ssd))

    def initd(self, action, expect=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CHATROOMD") and k != "USE_START_STOP_DAEMON"}
        env["CHATROOMD_ADMIN_PASSWORD"] = "Admin12345"
        p = subprocess.run([self.script, action], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env,
                           timeout=60 * SLOW, stdin=subprocess.DEVNULL)
        if expect is not None:
            self.assertEqual(p.returncode, expect,
                             "init.d/chatroomd %s: %s" % (action, p.stdout))
        return p

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def wait_for(self, cond, what, seconds=5):
        deadline = time.time() + seconds * SLOW
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def lifecycle(self, use_ssd):
        self.write_defaults(use_ssd)
        self.assertIn("not running", self.initd("status", NOT_RUNNING).stdout)

        self.initd("start", 0)
        pid = self.pid()
        self.assertIsNotNone(pid, "no pidfile at " + self.pidfile)
        self.assertTrue(alive(pid))
        with open("/proc/%d/comm" % pid) as f:
            self.assertEqual(f.read().strip(), "chatroomd")
        self.assertEqual(hello(self.port)["heartbeat_interval"], 23)

        self.assertIn("already running", self.initd("start", 0).stdout)
        self.assertEqual(self.pid(), pid)

        out = self.initd("status", RUNNING).stdout
        self.assertIn("is running", out)
        self.assertIn(str(pid), out)

        # HeartbeatInterval is reloadable: SIGHUP applies it in place.
        self.write_conf(heartbeat_interval=17)
        self.initd("reload", 0)
        self.wait_for(lambda: hello(self.port)["heartbeat_interval"] == 17,
                      "the reloaded HeartbeatInterval")
        self.assertEqual(self.pid(), pid)
        self.assertTrue(alive(pid))
        self.write_conf(heartbeat_interval=19)
        self.initd("force-reload", 0)
        self.wait_for(lambda: hello(self.port)["heartbeat_interval"] == 19,
                      "the force-reloaded HeartbeatInterval")
        self.assertEqual(self.pid(), pid)

        self.initd("stop", 0)
        self.assertFalse(alive(pid))
        self.assertFalse(os.path.exists(self.pidfile))
        self.assertTrue(refused(self.port))
        self.assertIn("not running", self.initd("status", NOT_RUNNING).stdout)

        self.initd("stop", 0)
        self.initd("reload", NOT_RUNNING_ACTION)
        self.initd("try-restart", 0)
        self.assertIsNone(self.pid(), "try-restart started a stopped server")

    @unittest.skipUnless(have("start-stop-daemon") or os.path.exists("/sbin/start-stop-daemon"),
                         "start-stop-daemon is not installed")
    def test_start_status_reload_stop_with_start_stop_daemon(self):
        self.lifecycle("yes")

    def test_start_status_reload_stop_in_plain_shell(self):
        self.lifecycle("no")

    def test_restart_replaces_the_process(self):
        self.initd("start", 0)
        old = self.pid()
        self.initd("restart", 0)
        new = self.pid()
        self.assertNotEqual(old, new)
        self.assertFalse(alive(old))
        self.assertTrue(alive(new))
        hello(self.port)
        self.initd("stop", 0)

    def test_broken_configuration_is_refused_and_the_server_keeps_running(self):
        self.initd("start", 0)
        pid = self.pid()
        self.write_conf(heartbeat_interval=23, extra="\n[Limits]\nNoSuchOption = 1\n")
        self.assertIn("NoSuchOption", self.initd("configtest", NOT_CONFIGURED).stdout)
        self.initd("restart", NOT_CONFIGURED)
        self.initd("reload", NOT_CONFIGURED)
        self.assertEqual(self.pid(), pid)
        self.assertTrue(alive(pid))
        self.assertEqual(hello(self.port)["heartbeat_interval"], 23)
        self.initd("stop", 0)

    def test_stale_pidfile_is_reported_and_replaced(self):
        os.makedirs(os.path.dirname(self.pidfile), exist_ok=True)
        gone = subprocess.Popen(["true"])
        gone.wait()
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % gone.pid)
        self.initd("status", STALE)
        self.initd("start", 0)
        self.assertNotEqual(self.pid(), gone.pid)
        self.initd("status", RUNNING)
        self.initd("stop", 0)


class SystemdUnit(unittest.TestCase):
    """The installed unit passes `systemd-analyze verify`: its syntax, the
    daemon it runs and its documentation pages (found through MANPATH)."""

    @unittest.skipUnless(have("systemd-analyze"), "systemd-analyze is not installed")
    def test_unit_verifies(self):
        prefix = PREFIX
        unit = os.path.join(prefix, "lib", "systemd", "system", "chatroomd.service")
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))
        p = subprocess.run(["systemd-analyze", "verify", unit], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    if os.path.exists(os.path.join(TOP_SRCDIR, "config.status")):
        # configure refuses to build a source tree configured in place.
        tap.skip_all("the source tree is configured in place: run this test from a VPATH build")
    tap.main()
