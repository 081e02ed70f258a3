"""Helpers for the tests of the chatroom client: run it in script mode
through pipes, in a terminal under tmux, and behind a TCP proxy that can cut
its connection. Builds on harness.py (Server, Conn, user)."""
import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CHATROOM, PASSWORD, SLOW, TIMEOUT, Server, started_server

# A chat line of script mode: [HH:MM:SS] #group <sender> content
# (the date comes first for a message of another day).
CHAT_RE = re.compile(r"^\[(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\] #(\S+) <([^>]*)> (.*)$")

# An empty home directory, so no user configuration file is read.
HOME = tempfile.mkdtemp(prefix="chatroom-home-")
atexit.register(shutil.rmtree, HOME, True)


def client_env(password=PASSWORD, extra=None):
    e = dict(os.environ)
    for k in ("CHATROOM_PASSWORD", "CHATROOM_HOST", "CHATROOM_PORT", "CHATROOM_USER", "CHATROOM_LANG",
              "CHATROOM_TLS", "CHATROOM_CAFILE", "CHATROOM_PIN_SHA256", "XDG_CONFIG_HOME"):
        e.pop(k, None)
    e["HOME"] = HOME
    if password is not None:
        e["CHATROOM_PASSWORD"] = password
    e.update(extra or {})
    return e


def chat_lines(lines, sender=None):
    """(group, sender, content) of every chat line, optionally of one sender."""
    out = []
    for line in lines:
        m = CHAT_RE.match(line)
        if m and (sender is None or m.group(2) == sender):
            out.append(m.groups())
    return out


def check_sanitizers(stderr):
    """A sanitizer build reports on standard error: that is a failure even
    when the client did what the test wanted."""
    if "Sanitizer" in stderr or "runtime error:" in stderr:
        raise AssertionError("sanitizer report from the client:\n" + stderr)


class Client:
    """chatroom in script mode: lines go to its standard input, its standard
    output is collected line by line by a thread."""

    def __init__(self, port, args=(), env=None, password=PASSWORD, user=None):
        cmd = [CHATROOM, "--host", "127.0.0.1", "--port", str(port)]
        if user:
            cmd += ["--user", user]
        cmd += list(args)
        e = client_env(password, env)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e)
        self.lines = []
        self.err = b""
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, *lines):
        for line in lines:
            self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def wait_for(self, pattern, timeout=None, start=0, count=1):
        """Wait until `count` output lines from index `start` on match the
        regular expression; return the last match."""
        rx = re.compile(pattern)
        deadline = time.time() + (timeout or TIMEOUT * 2)
        with self.cond:
            while True:
                found = [m for m in (rx.search(l) for l in self.lines[start:]) if m]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.time()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("no line matching %r; output so far:\n%s\nstderr:\n%s"
                                         % (pattern, "\n".join(self.lines), self.stderr()))
                self.cond.wait(min(left, 0.2))

    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def finish(self, timeout=None):
        """Close standard input and return the exit status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout or 30 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("client did not exit; output:\n%s" % "\n".join(self.lines))
        self.reader.join(5)
        self.err = self.proc.stderr.read()
        check_sanitizers(self.stderr())
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def run_client(port, script, args=(), user=None, password=PASSWORD, timeout=None, env=None):
    """Run a client over a whole script; return (status, stdout lines, stderr)."""
    cmd = [CHATROOM, "--host", "127.0.0.1", "--port", str(port)]
    if user:
        cmd += ["--user", user]
    cmd += list(args)
    e = client_env(password, env)
    p = subprocess.run(cmd, input="".join(l + "\n" for l in script).encode(), capture_output=True,
                       env=e, timeout=timeout or 60 * SLOW)
    err = p.stderr.decode("utf-8", "replace")
    check_sanitizers(err)
    return p.returncode, p.stdout.decode("utf-8", "replace").splitlines(), err


class Proxy:
    """A TCP proxy on a free loopback port to the server. cut() closes every
    proxied connection; while refusing, new connections are closed at once;
    mute_replies() stops forwarding from the server to clients (a message
    is stored and acknowledged, but the acknowledgement is lost); inject()
    sends clients a line as if from the server."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.pairs = []
        self.lock = threading.Lock()
        self.wlock = threading.Lock()  # whole writes to clients: pumped or injected
        self.refusing = False
        self.muted = False
        self.stopped = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.refusing:
                c.close()
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.pairs.append((c, s))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(c, s, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, True), daemon=True).start()

    def _pump(self, src, dst, from_server):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and self.muted:
                    continue
                with self.wlock:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, s in pairs:
            for x in (c, s):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                x.close()

    def mute_replies(self, on=True):
        self.muted = on

    def inject(self, msg):
        """Send every proxied client the JSON object msg, as one line from
        the server (between two whole reads of the server's output)."""
        line = (json.dumps(msg) + "\n").encode()
        with self.lock:
            pairs = list(self.pairs)
        for c, _ in pairs:
            with self.wlock:
                c.sendall(line)

    def stop(self):
        self.stopped = True
        self.cut()
        self.lsock.close()


class Tmux:
    """A program in a detached tmux session of a fixed size, on a tmux
    server of its own (-L) so that tests never touch the user's sessions."""
    count = 0

    def __init__(self, command, env=None, width=100, height=30):
        Tmux.count += 1
        self.name = "chatroom-test-%d-%d" % (os.getpid(), Tmux.count)
        envs = []
        for k, v in (env or {}).items():
            envs += ["-e", "%s=%s" % (k, v)]
        subprocess.run(["tmux", "-L", self.name, "-f", "/dev/null", "new-session", "-d", "-s", self.name,
                        "-x", str(width), "-y", str(height)] + envs + [command], check=True)

    def keys(self, *keys, literal=False):
        args = ["tmux", "-L", self.name, "send-keys", "-t", self.name]
        if literal:
            args.append("-l")
        subprocess.run(args + list(keys), check=True)

    def type(self, text):
        self.keys(text, literal=True)

    def screen(self, escapes=False):
        """The visible screen; with escapes, its colour sequences too."""
        p = subprocess.run(["tmux", "-L", self.name, "capture-pane", "-p"] + (["-e"] if escapes else [])
                           + ["-t", self.name], capture_output=True)
        return p.stdout.decode("utf-8", "replace")

    def wait_screen(self, pattern, timeout=None, count=1):
        """Wait until the screen has `count` matches of the regular
        expression (a multi-line one: ^ and $ match at each line); return
        the screen. A line that is still on the screen matches again: to
        wait for a second prompt, ask for count=2."""
        rx = re.compile(pattern, re.M)
        deadline = time.time() + (timeout or TIMEOUT * 2)
        while True:
            s = self.screen()
            if len(rx.findall(s)) >= count:
                return s
            if time.time() > deadline:
                raise AssertionError("screen never matched %r %d times:\n%s" % (pattern, count, s))
            time.sleep(0.05)

    def alive(self):
        return subprocess.run(["tmux", "-L", self.name, "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def kill(self):
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


def register(test, srv, names):
    """Register these accounts on srv (password PASSWORD), each from its own
    connection; a refusal fails test."""
    for n in names:
        c = srv.connect()
        r = c.register(n)
        test.assertTrue(r.get("success"), r)
        c.close()


def start_server(test, names=("alice", "bob"), args=()):
    """A started chatroomd (stopped when test ends) with these accounts
    registered."""
    srv = started_server(test, args)
    register(test, srv, names)
    return srv


class ClientTest(unittest.TestCase):
    """A test of the client in script mode against its own server
    (self.srv, no accounts yet); its clients are killed when it ends."""

    def setUp(self):
        self.srv = started_server(self)

    def client(self, name, **kw):
        c = Client(self.srv.port, user=name, **kw)
        self.addCleanup(c.kill)
        return c

    def register(self, *names):
        register(self, self.srv, names)


def need_tmux(test):
    return unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")(test)
