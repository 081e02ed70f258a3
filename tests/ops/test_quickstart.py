#!/usr/bin/env python3
"""contrib/quickstart works the way README tells a new user to start: in a
copy of the sources as a clone has them (no configure, nothing built), it
builds and runs chatroomd in the foreground with its database in ./var/,
says that Admin has no password yet, and serves chat. Run a second time, it
builds nothing new and the history of the first run is still there.

The extra arguments quickstart passes on to chatroomd put it on a free
loopback port instead of 8888."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import TOP_SRCDIR, free_port, make_env, run  # noqa: E402
import tap  # noqa: E402
from harness import SLOW, Conn, uname  # noqa: E402

# Building from nothing on a small machine: autogen, configure, make.
BUILD_TIMEOUT = 600 * SLOW
START_TIMEOUT = 60 * SLOW


def clone_sources(dest):
    """The files a clone of the repository has (what git tracks), or, where
    the sources are not a git checkout, the tree without its build
    directories and generated files."""
    if os.path.isdir(os.path.join(TOP_SRCDIR, ".git")) and shutil.which("git"):
        files = run(["git", "-C", TOP_SRCDIR, "ls-files", "-z"]).stdout.split("\0")
        for rel in filter(None, files):
            src = os.path.join(TOP_SRCDIR, rel)
            dst = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
        return
    skip = shutil.ignore_patterns(".git", "build-*", "var", "autom4te.cache", "*.o", "*.a",
                                  "config.status", "config.log", "Makefile")
    shutil.copytree(TOP_SRCDIR, dest, ignore=skip, dirs_exist_ok=True)


class Quickstart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="chatroom-quickstart-")
        cls.src = os.path.join(cls.tmp, "chatroom")
        clone_sources(cls.src)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def start(self, timeout):
        """quickstart on a free port; returns (process, port, log path)
        once the daemon accepts connections."""
        port = free_port()
        log = os.path.join(self.tmp, "quickstart-%d.log" % port)
        env = {k: v for k, v in make_env().items() if not k.startswith("CHATROOMD")}
        with open(log, "w") as out:
            p = subprocess.Popen([os.path.join(self.src, "contrib", "quickstart"),
                                  "--listen", "127.0.0.1", "--port", str(port)],
                                 cwd=self.tmp, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=env)
        self.addCleanup(self.stop, p)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                self.fail("quickstart exited with %d:\n%s" % (p.returncode, self.tail(log)))
            try:
                Conn(port, timeout=2).close()
                return p, port, log
            except OSError:
                time.sleep(0.5)
        self.fail("quickstart did not serve within %d s:\n%s" % (timeout, self.tail(log)))

    @staticmethod
    def tail(log, n=40):
        with open(log, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30 * SLOW)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def test_builds_runs_and_keeps_the_history(self):
        p, port, log = self.start(BUILD_TIMEOUT)
        # quickstart execs the daemon: the process is chatroomd itself
        with open("/proc/%d/comm" % p.pid) as f:
            self.assertEqual(f.read().strip(), "chatroomd")
        self.assertIn("Admin has no password until you set one", self.tail(log, 10000))
        db = os.path.join(self.src, "var", "chatroom.db")
        self.assertTrue(os.path.exists(db), "no database at %s" % db)

        a, b = uname("qa"), uname("qb")
        ca, cb = Conn(port), Conn(port)
        self.addCleanup(ca.close)
        self.addCleanup(cb.close)
        for c, name in ((ca, a), (cb, b)):
            self.assertTrue(c.register(name).get("success"))
            self.assertTrue(c.login(name).get("success"))
        ca.chat("hello from the quick start")
        self.assertEqual(cb.recv_chat("hello from the quick start")["sender_username"], a)
        ca.close()
        cb.close()
        self.stop(p)
        self.assertEqual(p.returncode, 0, self.tail(log))

        # Again: nothing to build, and the message is still there.
        p, port, log = self.start(START_TIMEOUT)
        out = self.tail(log, 10000)
        self.assertNotIn("checking for", out, "configure ran again")
        c = Conn(port)
        self.addCleanup(c.close)
        self.assertTrue(c.login(b).get("success"))
        r, hist, _ = c.enter_chat(c.group["name"])
        self.assertTrue(r.get("success"), r)
        self.assertIn("hello from the quick start", [m.get("content") for m in hist])
        c.close()
        self.stop(p)
        self.assertEqual(p.returncode, 0, self.tail(log))


if __name__ == "__main__":
    tap.main()
