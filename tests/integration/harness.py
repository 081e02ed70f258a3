"""Integration test harness: starts the real chatroomd on a free loopback
port with a temporary database, and talks to it over real sockets.

Environment (set by `make check`): CHATROOMD, the daemon to run; CHATROOM,
the client; CHATROOM_TEST_SLOW, a factor for every wait (sanitizer builds).

Either drive a Server yourself:

    from harness import Server, Conn, user
    class T(unittest.TestCase):
        def setUp(self):
            self.srv = Server(); self.srv.start()
            self.addCleanup(self.srv.cleanup)

or derive from ServerTest, which runs one server per test class (with
server_args), closes the connections a test opened, fails a test during
which the server died or a sanitizer reported, and prints the server's log
when a test fails:

    class Chat(ServerTest):
        server_args = ["--max-line", "1024"]
        def test_echo(self):
            a = self.login_user()
            a.chat("hi")
            self.assertEqual(a.recv_chat("hi")["sender_username"], a.username)

    if __name__ == "__main__":
        main()
"""
import json
import os
import shutil
import signal
import random
import socket
import subprocess
import tempfile
import sys
import time
import unittest

CHATROOMD = os.environ.get("CHATROOMD", os.path.join(os.path.dirname(__file__), "../../server/chatroomd"))
CHATROOM = os.environ.get("CHATROOM", os.path.join(os.path.dirname(__file__), "../../client/chatroom"))
# Sanitizer and valgrind builds are slower: scale every wait by this factor.
SLOW = float(os.environ.get("CHATROOM_TEST_SLOW", "1"))
TIMEOUT = 5.0 * SLOW

PASSWORD = "secret123"


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port for a test server to listen on, free now and outside the
    kernel's ephemeral range. A port taken with bind(0) comes from that
    range, so while a test restarts its server any connect() of a test
    running beside it may take it as its local port, and the restart
    fails with EADDRINUSE. Below the range only another test's listener
    can collide, and each one checks that the port is free."""
    low = _ephemeral_low()
    if low <= 2048:
        lo, hi = 1024, low
    else:
        lo, hi = max(1024, low // 3), low
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(lo, hi)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One chatroomd process. start() may be called again after stop() or
    kill(): it reuses the same database (a restart)."""

    def __init__(self, args=None, admin_password="Admin12345", env=None, preexec=None):
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-")
        self.env = dict(env or {})
        self.preexec = preexec  # run in the child before chatroomd starts
        self.db = os.path.join(self.dir, "chat.db")
        self.port = free_port()
        self.args = list(args or [])
        self.admin_password = admin_password
        self.proc = None
        self.pids = []  # of every process start() started (sanitizer report files)
        self.log_path = os.path.join(self.dir, "chatroomd.log")

    def command(self):
        cmd = [CHATROOMD, "--foreground", "--listen", "127.0.0.1", "--port", str(self.port),
               "--database", self.db, "--data-dir", os.path.join(self.dir, "files"),
               # tests register many accounts from 127.0.0.1; a test of the
               # limit passes its own value (the last one counts)
               "--register-max-address", "0"]
        return cmd + self.args

    def start(self, wait=True):
        env = dict(os.environ)
        if self.admin_password:
            env["CHATROOMD_ADMIN_PASSWORD"] = self.admin_password
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     preexec_fn=self.preexec)
        self.pids.append(self.proc.pid)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self):
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("chatroomd exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("chatroomd did not listen on port %d:\n%s" % (self.port, self.log_text()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Stop the server (SIGTERM: graceful) and return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout or 20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self, sig=signal.SIGTERM):
        """Stop (gracefully by default) and start again on the same database
        and port. Returns the exit status of the stopped process."""
        rc = self.stop(sig)
        self.start()
        return rc

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                       "runtime error:", "ERROR: ThreadSanitizer")

    def sanitizer_reports(self):
        """The problems a sanitizer reported, in the log or in the report
        files its processes wrote (log_path= in *SAN_OPTIONS, as
        tests/run-all sets it): a list with one entry per report, its first
        line and the lines that follow."""
        texts = [self.log_text()]
        for path in sanitizer_files(self.pids):
            try:
                with open(path, errors="replace") as f:
                    texts.append(f.read())
            except OSError:
                pass
        out = []
        for text in texts:
            lines = text.splitlines()
            for i, l in enumerate(lines):
                if any(mark in l for mark in self.SANITIZER_MARKS):
                    out.append("\n".join(lines[i:i + 25]))
        return out

    def finish(self):
        """The end of a server's life in a test: stop it with SIGTERM and
        return what went wrong, as a list of texts (empty when all is
        well): it died before (a crash, whatever the test saw), it did not
        exit with status 0 on SIGTERM, or a sanitizer reported. A server
        the test itself stopped or killed (stop(), kill()) is only checked
        for sanitizer reports. Removes its folder."""
        problems = []
        if self.proc is not None:
            if self.proc.poll() is not None:
                problems.append("chatroomd died during the test (status %r)" % self.proc.returncode)
                self.stop()
            else:
                rc = self.stop()
                if rc != 0:
                    problems.append("chatroomd exited with status %r on SIGTERM" % rc)
        reports = self.sanitizer_reports()
        if reports:
            problems.append("sanitizer reports:\n" + "\n...\n".join(reports))
        if problems:
            problems.append("chatroomd log (tail):\n" + self.log_tail())
        if os.environ.get("CHATROOM_KEEP_LOGS"):
            sys.stderr.write("server folder kept: %s\n" % self.dir)
        else:
            self.cleanup()
        return problems

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, **kw):
        return Conn(self.port, **kw)


def sanitizer_files(pids):
    """Report files a sanitizer with log_path= wrote for these processes."""
    import glob
    import re
    found = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"):
        m = re.search(r"(?:^|[: ])log_path=([^: ]+)", os.environ.get(var, ""))
        if m:
            for pid in pids:
                found += glob.glob("%s.%d" % (m.group(1), pid))
    return sorted(set(found))


def started_server(test, args=(), **kw):
    """A started Server for one test (a TestCase), checked when the test
    ends as ServerTest checks its server (Server.finish): a server that
    died, did not exit 0 on SIGTERM or had a sanitizer report fails the
    test."""
    srv = Server(list(args), **kw)
    test.addCleanup(check_finish, srv)
    srv.start()
    return srv


def check_finish(srv):
    problems = srv.finish()
    if problems:
        raise AssertionError("\n".join(problems))


class Closed(Exception):
    pass


class Conn:
    """A client connection speaking JSON lines.

    Every message received is also appended to self.seen, so a test can
    check afterwards everything the client was sent (for example that a
    legacy client only ever got the reference's fields)."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT, rcvbuf=None):
        if rcvbuf:
            # set before connecting, so the window stays small (a slow reader)
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout
        self.backlog = []  # messages read while waiting for another type
        self.seen = []     # every message received, in order
        self.user_id = None
        self.username = None
        self.group = None  # current chat group {"id", "name"} after login

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, obj, **fields):
        if isinstance(obj, str):
            obj = {"message_type": obj}
        obj = dict(obj, **fields)
        obj.setdefault("timestamp", time.time())
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_line(self, timeout):
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no message within %.1fs" % timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no message within %.1fs" % timeout)
            except ConnectionResetError:
                raise Closed("connection reset")
            if not data:
                raise Closed("connection closed by server")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _read_msg(self, timeout):
        line = self._read_line(timeout)
        try:
            m = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("server sent a line that is not UTF-8 JSON (%s): %r" % (e, line[:200]))
        if not isinstance(m, dict) or not isinstance(m.get("message_type"), str):
            raise AssertionError("server sent a message without message_type: %r" % (m,))
        self.seen.append(m)
        return m

    def recv(self, timeout=None):
        """The next message (a dict), backlog first."""
        if self.backlog:
            return self.backlog.pop(0)
        return self._read_msg(timeout or self.timeout)

    def recv_where(self, pred, timeout=None, what="matching message"):
        """The next message for which pred(m) is true; others are kept in
        the backlog."""
        for i, m in enumerate(self.backlog):
            if pred(m):
                return self.backlog.pop(i)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no %s within timeout; got %r" % (what, self.backlog))
            m = self._read_msg(left)
            if pred(m):
                return m
            self.backlog.append(m)

    def recv_type(self, mtype, timeout=None):
        """The next message of type mtype (or of any type in a tuple); others
        are kept in the backlog."""
        types = mtype if isinstance(mtype, tuple) else (mtype,)
        return self.recv_where(lambda m: m["message_type"] in types, timeout, what="/".join(types))

    def expect_error(self, code, timeout=None):
        """The next error_message; asserts its code and a non-empty text."""
        m = self.recv_type("error_message", timeout)
        if m.get("error_code") != code:
            raise AssertionError("expected error %d, got %r" % (code, m))
        if not isinstance(m.get("error_message"), str) or not m["error_message"]:
            raise AssertionError("error_message without text: %r" % (m,))
        return m

    def collect(self, wait=0.5):
        """Everything received within wait seconds (backlog first)."""
        out, self.backlog = self.backlog, []
        deadline = time.time() + wait
        while True:
            left = deadline - time.time()
            if left <= 0:
                return out
            try:
                out.append(self._read_msg(left))
            except TimeoutError:
                return out

    def drain(self, wait=0.2):
        """Discard whatever is pending."""
        self.collect(wait)

    def expect_closed(self, timeout=None):
        """True if the server closes the connection within timeout."""
        try:
            deadline = time.time() + (timeout or self.timeout)
            while True:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self._read_line(left)
        except Closed:
            return True
        except (TimeoutError, OSError):
            return False

    def no_message(self, wait=0.3, types=None):
        """True if nothing (of the given types, when set) arrives within
        wait seconds."""
        if any(types is None or m["message_type"] in types for m in self.backlog):
            return False
        deadline = time.time() + wait
        while True:
            left = deadline - time.time()
            if left <= 0:
                return True
            try:
                m = self._read_msg(left)
            except TimeoutError:
                return True
            self.backlog.append(m)
            if types is None or m["message_type"] in types:
                return False

    # protocol helpers -------------------------------------------------
    def hello(self, client="tests/1"):
        self.send("hello", protocol=2, client=client)
        return self.recv_type("hello")

    def register(self, username, password=PASSWORD):
        """register_response (or an error_message, if the server answers
        one); test r.get("success")."""
        self.send("register_request", username=username, password=password)
        return self.recv_type(("register_response", "error_message"))

    def login(self, username, password=PASSWORD):
        """login_response (or an error_message such as 1001)."""
        self.send("login_request", username=username, password=password)
        r = self.recv_type(("login_response", "error_message"))
        if r.get("success"):
            self.user_id = r.get("user_id")
            self.username = r.get("username")
            self.group = r.get("current_chat_group")
        return r

    def chat(self, content, group_id=None, **extra):
        """Send a chat_message to group_id; without one, the message carries
        no chat_group_id and goes to the current group."""
        msg = {"message_type": "chat_message", "content": content}
        if group_id is not None:
            msg["chat_group_id"] = group_id
        msg.update(extra)
        self.send(msg)

    def recv_chat(self, content=None, timeout=None):
        """The next chat_message (with this content, when given)."""
        return self.recv_where(lambda m: m["message_type"] == "chat_message" and
                               (content is None or m.get("content") == content),
                               timeout, what="chat_message %r" % (content,))

    def create_chat(self, name, members=()):
        self.send("create_chat_request", chat_name=name, member_usernames=list(members))
        return self.recv_type(("create_chat_response", "error_message"))

    def enter_chat(self, name):
        """enter_chat_request; returns (response, [chat_history...],
        chat_history_complete) or (response or error, None, None)."""
        self.send("enter_chat_request", chat_name=name)
        r = self.recv_type(("enter_chat_response", "error_message"))
        if r["message_type"] != "enter_chat_response" or not r.get("success"):
            return r, None, None
        self.group = {"id": r["chat_group_id"], "name": r["chat_name"]}
        return (r,) + self.read_history()

    def read_history(self, timeout=None):
        """chat_history messages up to chat_history_complete."""
        hist = []
        while True:
            m = self.recv_type(("chat_history", "chat_history_complete"), timeout)
            if m["message_type"] == "chat_history_complete":
                return hist, m
            hist.append(m)


_names = [0]


def uname(prefix="u"):
    """A fresh valid username (letters, digits, at most 20 characters)."""
    _names[0] += 1
    return "%s%d_%d" % (prefix[:10], os.getpid() % 10000, _names[0])


def user(server, name, password=PASSWORD, protocol2=False):
    """A connection registered (if needed) and logged in as name."""
    c = server.connect()
    try:
        if protocol2:
            c.hello()
        c.register(name, password)
        r = c.login(name, password)
        assert r.get("success"), r
    except BaseException:
        c.close()
        raise
    return c


def wait_for(pred, timeout=TIMEOUT, step=0.05):
    """Poll pred() until it is true; returns its last value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


class ServerTest(unittest.TestCase):
    """Base class: one server per test class (started with server_args),
    a fresh username per call of self.name(). When a test fails, the tail of
    the server's log is printed; when the server died during a test, the
    test fails."""

    server_args = []
    reported = 0  # length of the sanitizer reports already failed a test

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(cls.server_args)
        try:
            cls.srv.start()
        except Exception:
            cls.srv.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        # proc is None when tearDown already failed a test for its death,
        # or a test stopped the server itself.
        running = cls.srv.proc is not None
        alive = cls.srv.alive()
        rc = cls.srv.stop()
        reports = cls.srv.sanitizer_reports()[cls.reported:]
        log = cls.srv.log_tail()
        cls.srv.cleanup()
        if reports:
            raise AssertionError("sanitizer reports in the chatroomd log:\n" + "\n...\n".join(reports))
        if running and not alive:
            raise AssertionError("chatroomd was dead at the end of the class; log:\n%s" % log)
        if running and rc != 0:
            raise AssertionError("chatroomd exited with %r after SIGTERM; log:\n%s" % (rc, log))

    def setUp(self):
        self.conns = []
        if not self.srv.alive():
            self.srv.start()
        self.reports_before = len(self.srv.sanitizer_reports())

    def tearDown(self):
        for c in self.conns:
            c.close()
        if not self.srv.alive():
            rc = self.srv.proc.returncode if self.srv.proc else None
            log = self.srv.log_tail()
            self.srv.stop()
            self.fail("chatroomd died (status %r); log:\n%s" % (rc, log))
        reports = self.srv.sanitizer_reports()
        type(self).reported = len(reports)
        if len(reports) > self.reports_before:
            self.fail("sanitizer reports in the chatroomd log:\n" +
                      "\n...\n".join(reports[self.reports_before:]))

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            sys.stderr.write("--- chatroomd log (tail) for %s:\n%s\n---\n" % (self.id(), self.srv.log_tail()))
        return out

    def name(self, prefix="u"):
        return uname(prefix)

    def connect(self, **kw):
        c = self.srv.connect(**kw)
        self.conns.append(c)
        return c

    def login_user(self, name=None, protocol2=False, password=PASSWORD):
        c = user(self.srv, name or self.name(), password, protocol2)
        self.conns.append(c)
        return c


def main():
    """Run the test file, one TAP result per test (tap.py)."""
    import tap
    if not os.path.exists(CHATROOMD):
        tap.skip_all("chatroomd not found at %s (set CHATROOMD)" % CHATROOMD)
    tap.main()
