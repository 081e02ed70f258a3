"""Integration test harness: starts the real chatroomd on a free loopback
port with a temporary database, and talks to it over real sockets.

Environment (set by `make check`): CHATROOMD, the daemon to run; CHATROOM,
the client. Use with unittest:

    from harness import Server, Conn
    class T(unittest.TestCase):
        def setUp(self):
            self.srv = Server(); self.srv.start()
            self.addCleanup(self.srv.stop)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CHATROOMD = os.environ.get("CHATROOMD", os.path.join(os.path.dirname(__file__), "../../server/chatroomd"))
CHATROOM = os.environ.get("CHATROOM", os.path.join(os.path.dirname(__file__), "../../client/chatroom"))
# Sanitizer and valgrind builds are slower: scale every wait by this factor.
SLOW = float(os.environ.get("CHATROOM_TEST_SLOW", "1"))
TIMEOUT = 5.0 * SLOW

PASSWORD = "secret123"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One chatroomd process. start() may be called again after stop() or
    kill(): it reuses the same database (a restart)."""

    def __init__(self, args=None, admin_password="Admin12345"):
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-")
        self.db = os.path.join(self.dir, "chat.db")
        self.port = free_port()
        self.args = list(args or [])
        self.admin_password = admin_password
        self.proc = None
        self.log_path = os.path.join(self.dir, "chatroomd.log")

    def command(self):
        cmd = [CHATROOMD, "--foreground", "--listen", "127.0.0.1", "--port", str(self.port),
               "--database", self.db, "--data-dir", os.path.join(self.dir, "files")]
        return cmd + self.args

    def start(self, wait=True):
        env = dict(os.environ)
        if self.admin_password:
            env["CHATROOMD_ADMIN_PASSWORD"] = self.admin_password
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
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

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, **kw):
        return Conn(self.port, **kw)


class Closed(Exception):
    pass


class Conn:
    """A client connection speaking JSON lines."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout
        self.backlog = []  # messages read while waiting for another type

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

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

    def recv(self, timeout=None):
        """The next message (a dict), backlog first."""
        if self.backlog:
            return self.backlog.pop(0)
        return json.loads(self._read_line(timeout or self.timeout))

    def recv_type(self, mtype, timeout=None):
        """The next message of type mtype; others are kept in the backlog."""
        for i, m in enumerate(self.backlog):
            if m["message_type"] == mtype:
                return self.backlog.pop(i)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no %s within timeout; got %r" % (mtype, self.backlog))
            m = json.loads(self._read_line(left))
            if m["message_type"] == mtype:
                return m
            self.backlog.append(m)

    def expect_closed(self, timeout=None):
        """True if the server closes the connection within timeout."""
        try:
            while True:
                self._read_line(timeout or self.timeout)
        except Closed:
            return True
        except (TimeoutError, OSError):
            return False

    def no_message(self, wait=0.3):
        """True if nothing arrives within wait seconds."""
        if self.backlog:
            return False
        try:
            self.backlog.append(json.loads(self._read_line(wait)))
            return False
        except TimeoutError:
            return True

    # protocol helpers -------------------------------------------------
    def hello(self, client="tests/1"):
        self.send("hello", protocol=2, client=client)
        return self.recv_type("hello")

    def register(self, username, password=PASSWORD):
        self.send("register_request", username=username, password=password)
        return self.recv_type("register_response")

    def login(self, username, password=PASSWORD):
        self.send("login_request", username=username, password=password)
        return self.recv_type("login_response")

    def chat(self, content, group_id=None, **extra):
        msg = {"message_type": "chat_message", "content": content}
        if group_id is not None:
            msg["chat_group_id"] = group_id
        msg.update(extra)
        self.send(msg)


def user(server, name, password=PASSWORD, protocol2=False):
    """A connection registered (if needed) and logged in as name."""
    c = server.connect()
    if protocol2:
        c.hello()
    c.register(name, password)
    r = c.login(name, password)
    assert r["success"], r
    return c
