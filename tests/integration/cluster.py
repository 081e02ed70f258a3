"""What the cluster tests run on: a PostgreSQL 15 server, a Redis server,
chatroomd nodes and HAProxy in front of them, all on free loopback ports
with their files in temporary folders, started by the test itself and
stopped (and their folders removed) whatever the test's outcome.

A machine set up by contrib/install-deps has everything; a binary that is
missing fails the test with a message naming the Debian package (it is
never a skip: a cluster test that does not run hides what it tests).

PostgreSQL refuses to run as root, so as root initdb and postgres run as a
dedicated system user (POSTGRES_USER, created with useradd when absent)
through setpriv; as another user they run as that user. Its unix socket
lives in its temporary folder, it listens on 127.0.0.1 only and trusts
local connections (a throwaway test server). Start it once per test file
(it takes a second or two) and give each test its own database:

    pg = Postgres().start()          # setUpModule
    conninfo = pg.new_database()     # per test (or per class)
    pg.cleanup()                     # tearDownModule

    redis = Redis().start()
    nodes = [harness.Server(["--postgres", conninfo, "--redis", redis.address,
                             "--node-name", "n%d" % i]) for i in range(3)]
    lb = HAProxy([n.port for n in nodes]).start()
    lb.wait_up(3)                    # every node passes its health check
    c = lb.connect()                 # a harness.Conn through HAProxy

Every process started here is also registered for an atexit hook, so an
interrupted test run leaves none behind.
"""
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness

PG_BIN = os.environ.get("CHATROOM_PG_BIN", "/usr/lib/postgresql/15/bin")
POSTGRES_USER = "chatroom-test"   # the system user that runs PostgreSQL as root
PG_ROLE = "chatroom"              # the database superuser of the test server
START_TIMEOUT = 30 * harness.SLOW

_live = []  # processes started here and not yet stopped


def _reap_all():
    for p in list(_live):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_reap_all)


def _need(path, package):
    """path, or a failure that says which Debian package provides it."""
    found = path if os.path.isabs(path) else shutil.which(path)
    if not found or not os.access(found, os.X_OK):
        raise RuntimeError("%s not found: install the Debian package %s (contrib/install-deps "
                           "installs everything the tests need)" % (path, package))
    return found


def _start(cmd, log_path, **kw):
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             **kw)
    finally:
        log.close()
    _live.append(p)
    return p


def _stop(p, sig=signal.SIGTERM, timeout=20):
    if p is None:
        return None
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout * harness.SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _live:
        _live.remove(p)
    return p.returncode


def _tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait(pred, what, proc, log_path):
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with status %s:\n%s" % (what, proc.returncode,
                                                               _tail(log_path)))
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("%s did not start within %.0f s:\n%s" % (what, START_TIMEOUT,
                                                                _tail(log_path)))


def _test_user():
    """(uid, gid) to run PostgreSQL as: the caller when not root, else
    POSTGRES_USER (created as a system user when missing)."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        useradd = _need("useradd", "passwd")
        r = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                            POSTGRES_USER], capture_output=True, text=True)
        if r.returncode != 0 and "already exists" not in r.stderr:
            raise RuntimeError("cannot create the system user %s to run PostgreSQL: %s"
                               % (POSTGRES_USER, r.stderr.strip()))
        pw = pwd.getpwnam(POSTGRES_USER)
    return pw.pw_uid, pw.pw_gid


class Postgres:
    """A PostgreSQL 15 server in a temporary folder. stop() and start()
    again keep its data (a restart, or a few seconds of outage)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chatroom-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = harness.free_port()
        self.proc = None
        self.ndb = 0
        self.uid, self.gid = _test_user()
        os.chown(self.dir, self.uid, self.gid)

    def _as_user(self, cmd):
        if os.getuid() != 0:
            return cmd
        return [_need("setpriv", "util-linux"), "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
                "--clear-groups", "--"] + cmd

    def start(self):
        postgres = _need(os.path.join(PG_BIN, "postgres"), "postgresql-15")
        if not os.path.exists(self.data):
            initdb = _need(os.path.join(PG_BIN, "initdb"), "postgresql-15")
            r = subprocess.run(self._as_user([initdb, "-D", self.data, "-U", PG_ROLE,
                                              "--auth=trust", "--encoding=UTF8", "--locale=C",
                                              "--no-sync"]),
                               capture_output=True, text=True, cwd=self.dir)
            if r.returncode != 0:
                raise RuntimeError("initdb failed (%d):\n%s%s" % (r.returncode, r.stdout,
                                                                  r.stderr))
        # fsync off: a test server's data need not survive a power cut, and
        # it spares the shared disk; commits are still synchronous for the
        # server (chatroomd acknowledges after COMMIT returns)
        self.proc = _start(self._as_user([postgres, "-D", self.data, "-p", str(self.port),
                                          "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                                          "-c", "fsync=off", "-c", "full_page_writes=off",
                                          "-c", "max_connections=200"]),
                           self.log_path, cwd=self.dir)
        _wait(self._ready, "PostgreSQL", self.proc, self.log_path)
        return self

    def _ready(self):
        try:
            self.psql("SELECT 1", db="postgres")
            return True
        except RuntimeError:
            return False

    def psql(self, sql, db="postgres"):
        """Run sql (psql -c) and return its rows as lists of strings."""
        psql = _need(os.path.join(PG_BIN, "psql"), "postgresql-client-15")
        r = subprocess.run([psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_ROLE, "-d", db,
                            "-c", sql], capture_output=True, text=True,
                           timeout=30 * harness.SLOW)
        if r.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, r.stderr.strip()))
        return [l.split("\t") for l in r.stdout.splitlines() if l]

    def new_database(self):
        """A new empty database; its libpq connection string."""
        self.ndb += 1
        name = "chat%d" % self.ndb
        self.psql("CREATE DATABASE %s" % name)
        return self.conninfo(name)

    def conninfo(self, db):
        return "host=127.0.0.1 port=%d user=%s dbname=%s" % (self.port, PG_ROLE, db)

    def stop(self):
        """Fast shutdown (SIGINT): sessions are ended, nothing committed is lost."""
        rc = _stop(self.proc, signal.SIGINT)
        self.proc = None
        return rc

    def log_tail(self):
        return _tail(self.log_path)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """A Redis server without persistence; stop() and start() again is a
    restart on the same port (everything it held is gone, as after a
    crash)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chatroom-redis-")
        self.port = harness.free_port()
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        redis = _need("redis-server", "redis-server")
        self.proc = _start([redis, "--port", str(self.port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", self.dir,
                            "--daemonize", "no"], self.log_path, cwd=self.dir)
        _wait(lambda: _redis_ping(self.port), "Redis", self.proc, self.log_path)
        return self

    def stop(self, sig=signal.SIGTERM):
        rc = _stop(self.proc, sig)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class HAProxy:
    """HAProxy in TCP mode in front of chatroomd nodes on 127.0.0.1 (their
    ports): leastconn, a TCP health check every CHECK_MS, and a client
    timeout long enough for idle chat connections. An admin socket tells
    which nodes are up (wait_up)."""

    CHECK_MS = 200

    def __init__(self, ports):
        self.dir = tempfile.mkdtemp(prefix="chatroom-haproxy-")
        self.port = harness.free_port()
        self.ports = list(ports)
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self.proc = None

    def config(self):
        servers = "".join("    server node%d 127.0.0.1:%d check inter %d fall 2 rise 1\n"
                          % (i, p, self.CHECK_MS) for i, p in enumerate(self.ports))
        return ("global\n"
                "    maxconn 4096\n"
                "    stats socket %s mode 600 level admin\n"
                "defaults\n"
                "    mode tcp\n"
                "    timeout connect 2s\n"
                "    timeout client 1h\n"
                "    timeout server 1h\n"
                "    retries 2\n"
                "    option redispatch\n"
                "frontend chat\n"
                "    bind 127.0.0.1:%d\n"
                "    default_backend nodes\n"
                "backend nodes\n"
                "    balance leastconn\n"
                "%s" % (self.sock, self.port, servers))

    def start(self):
        haproxy = _need("haproxy", "haproxy")
        with open(self.cfg, "w") as f:
            f.write(self.config())
        r = subprocess.run([haproxy, "-c", "-q", "-f", self.cfg], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("haproxy refuses its configuration:\n%s%s" % (r.stdout, r.stderr))
        self.proc = _start([haproxy, "-db", "-f", self.cfg], self.log_path, cwd=self.dir)
        _wait(self._listening, "HAProxy", self.proc, self.log_path)
        return self

    def _listening(self):
        """Both the port and the admin socket answer: HAProxy may accept on
        the port before the admin socket has its name."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(self.sock)
            return True
        except OSError:
            return False

    def admin(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            out = b""
            while True:
                d = s.recv(65536)
                if not d:
                    return out.decode()
                out += d

    def up(self):
        """The names of the nodes that pass their health check."""
        try:
            lines = self.admin("show stat").splitlines()
        except (FileNotFoundError, ConnectionRefusedError):
            # HAProxy may take its port before its admin socket
            return []
        if not lines:
            return []
        head = lines[0].lstrip("# ").split(",")
        out = []
        for l in lines[1:]:
            row = dict(zip(head, l.split(",")))
            if row.get("pxname") == "nodes" and row.get("svname", "").startswith("node") and \
                    row.get("status") == "UP":
                out.append(row["svname"])
        return out

    def wait_up(self, n, timeout=None):
        """Wait until exactly n nodes pass their health check."""
        ok = harness.wait_for(lambda: len(self.up()) == n, timeout or START_TIMEOUT)
        if not ok:
            raise RuntimeError("HAProxy sees %r up, not %d nodes:\n%s" % (self.up(), n,
                                                                          _tail(self.log_path)))

    def connect(self, **kw):
        return harness.Conn(self.port, **kw)

    def stop(self):
        rc = _stop(self.proc, signal.SIGUSR1)  # soft stop: ends when connections close
        self.proc = None
        return rc

    def cleanup(self):
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """n chatroomd nodes on one new PostgreSQL database of pg, a Redis of
    their own and HAProxy in front. node_args[i] (optional) adds options
    to node i. finish() stops it all and returns what went wrong (as
    harness.Server.finish: a node that died, a sanitizer report)."""

    def __init__(self, pg, n=3, node_args=None):
        self.pg = pg
        self.conninfo = pg.new_database()
        self.redis = Redis()
        self.nodes = []
        for i in range(n):
            extra = list((node_args or {}).get(i, []))
            self.nodes.append(harness.Server(["--postgres", self.conninfo,
                                              "--redis", self.redis.address,
                                              "--node-name", "node%d" % i] + extra))
        self.lb = None

    def start(self):
        try:
            self.redis.start()
            for n in self.nodes:
                n.start()
            self.lb = HAProxy([n.port for n in self.nodes]).start()
            self.lb.wait_up(len(self.nodes))
        except BaseException:
            self.finish()
            raise
        return self

    def finish(self):
        problems = []
        if self.lb:
            self.lb.cleanup()
        for i, n in enumerate(self.nodes):
            p = n.finish()
            if p:
                problems.append("node%d:\n%s" % (i, "\n".join(p)))
        self.redis.cleanup()
        return problems
