#!/usr/bin/env python3
"""chatroomd's options that no other test exercises, each by what it does
(chatroomd(8), chatroomd.conf(5)): -V, --set-admin-password,
--admin-password, -u, --log-level, --stack-size, --dedup-window,
--hash-concurrency, --file-extensions, --listen (IPv6, several), --syslog,
--synchronous, --checkpoint-interval and --io-uring (also where the
kernel refuses io_uring)."""
import ctypes
import errno
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import CHATROOMD, SLOW, Conn, Server, check_finish, started_server, user
from adminlib import group_id, upload
from robust import history_all
import tap

FAST_HASH = ["--hash-opslimit", "1", "--hash-memlimit", "64"]


def run(args, stdin=b""):
    p = subprocess.run([CHATROOMD] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def admin_login(srv, password):
    c = srv.connect()
    try:
        return c.login("Admin", password).get("success")
    finally:
        c.close()


class Version(unittest.TestCase):
    def test_short_and_long_version(self):
        for opt in ("-V", "--version"):
            rc, out, err = run([opt])
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"^chatroomd \d+\.\d+\.\d+\n$")


class AdminPassword(unittest.TestCase):
    def test_set_admin_password_reads_standard_input_and_stores_it(self):
        srv = Server(FAST_HASH, admin_password=None)
        self.addCleanup(srv.cleanup)
        rc, out, err = run(["--database", srv.db, "--set-admin-password"], b"Newpass123\n")
        self.assertEqual(rc, 0, err)
        self.assertIn("Admin password set in %s" % srv.db, out + err)
        # a password the rules refuse is not stored: status 1, the reason
        rc, out, err = run(["--database", srv.db, "--set-admin-password"], b"short\n")
        self.assertEqual(rc, 1)
        self.assertIn("chatroomd: password must be 6 to 50 characters long", err)
        srv.start()
        self.assertIs(admin_login(srv, "Newpass123"), True)
        self.assertIs(admin_login(srv, "short"), False)
        self.assertEqual(srv.finish(), [])

    def test_admin_password_is_given_only_when_admin_has_none(self):
        srv = Server(FAST_HASH + ["--admin-password", "Option123"], admin_password=None)
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertIs(admin_login(srv, "Option123"), True)
        self.assertEqual(srv.stop(), 0)
        srv.args = FAST_HASH + ["--admin-password", "Other1234"]
        srv.start()
        self.assertIs(admin_login(srv, "Option123"), True)
        self.assertIs(admin_login(srv, "Other1234"), False)
        self.assertEqual(srv.finish(), [])


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
class DropPrivileges(unittest.TestCase):
    def test_user_option_runs_the_server_as_that_user(self):
        srv = Server(["-u", "nobody"])
        os.chmod(srv.dir, 0o777)  # nobody writes the WAL files there
        self.addCleanup(srv.cleanup)
        srv.start()
        # the port opens before the switch: served and stored, it is done
        c = user(srv, "dropped", protocol2=True)
        c.chat("stored as nobody", client_msg_id="n1")
        c.recv_type("chat_ack")
        c.close()
        with open("/proc/%d/status" % srv.proc.pid) as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        self.assertEqual(uids, ["65534"] * 4)
        self.assertEqual(srv.finish(), [])


class LogLevel(unittest.TestCase):
    def session(self, srv):
        c = user(srv, "logger")
        c.send("no_such_request")
        c.expect_error(1008)
        c.close()

    def test_warning_hides_info_and_debug_shows_request_errors(self):
        quiet = started_server(self, ["--log-level", "warning"])
        self.session(quiet)
        loud = started_server(self, ["--log-level", "debug"])
        self.session(loud)
        # the login is logged at info, the 1008 at debug
        self.assertIn("logger logged in", loud.log_text())
        self.assertIn(" debug: ", loud.log_text())
        self.assertRegex(loud.log_text(), r"debug: 127\.0\.0\.1:\d+: error 1008: ")
        self.assertNotIn("logger logged in", quiet.log_text())
        self.assertNotIn(" info: ", quiet.log_text())
        self.assertNotIn(" debug: ", quiet.log_text())


class StackSize(unittest.TestCase):
    def stacks(self, srv, size_kib):
        with open("/proc/%d/maps" % srv.proc.pid) as f:
            n = 0
            for line in f:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if hi - lo == size_kib * 1024 and line.split()[1] == "rw-p":
                    n += 1
            return n

    def test_workers_get_the_stack_size_asked(self):
        srv = started_server(self, ["--stack-size", "1000"])
        c = user(srv, "stacked")
        self.addCleanup(c.close)
        # the worker serving c has a stack mapping of exactly 1000 KiB
        self.assertGreaterEqual(self.stacks(srv, 1000), 1)
        rc, out, err = run(["--stack-size", "10", "--database", os.path.join(srv.dir, "x.db")])
        self.assertEqual(rc, 2)
        self.assertIn("--stack-size: 10 is out of range (64 to 65536)", err)


class DedupWindow(unittest.TestCase):
    def test_only_the_last_n_client_msg_ids_are_remembered(self):
        srv = started_server(self, ["--dedup-window", "2"])
        c = user(srv, "dedup", protocol2=True)
        self.addCleanup(c.close)
        ids = {}
        for k in "abc":
            c.chat("msg " + k, client_msg_id=k)
            ids[k] = c.recv_type("chat_ack")["message_id"]
        # c is among the last 2: answered with its first id, not sent again
        c.chat("again c", client_msg_id="c")
        self.assertEqual(c.recv_type("chat_ack")["message_id"], ids["c"])
        # a has left the window: a new message
        c.chat("again a", client_msg_id="a")
        self.assertGreater(c.recv_type("chat_ack")["message_id"], ids["c"])
        contents = []
        while "again a" not in contents:
            contents.append(c.recv_type("chat_message")["content"])
        self.assertEqual(contents, ["msg a", "msg b", "msg c", "again a"])


class HashConcurrency(unittest.TestCase):
    def test_one_hash_at_a_time_still_serves_every_login(self):
        srv = started_server(self, FAST_HASH + ["--hash-concurrency", "1"])
        names = ["hc%d" % i for i in range(6)]
        results = {}

        def login(name):
            c = srv.connect()
            try:
                c.register(name)
                results[name] = c.login(name).get("success")
            finally:
                c.close()
        threads = [threading.Thread(target=login, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {n: True for n in names})
        rc, out, err = run(["--hash-concurrency", "0", "--database", os.path.join(srv.dir, "x.db")])
        self.assertEqual(rc, 2)
        self.assertIn("--hash-concurrency: 0 is out of range (1 to 1024)", err)


class FileExtensions(unittest.TestCase):
    def test_only_the_listed_extensions_are_taken(self):
        srv = started_server(self, ["--file-extensions", "exe,md"])
        c = user(srv, "ext", protocol2=True)
        self.addCleanup(c.close)
        gid = group_id(c, "public")
        for name in ("tool.exe", "README.MD"):
            err, final = upload(c, name, b"abc", gid)
            self.assertIs(final["success"], True, (name, err))
        for name in ("notes.txt", "x.pdf"):
            err, final = upload(c, name, b"abc", gid)
            self.assertIsNone(final, name)
            self.assertEqual(err["error_code"], 1008, name)


class Listen(unittest.TestCase):
    def test_ipv6_and_several_addresses(self):
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError as e:
            self.skipTest("no IPv6 loopback here: %s" % e)
        srv = started_server(self, ["--listen", "::1"])  # and 127.0.0.1 (Server)
        log = srv.log_text()
        self.assertIn("listening on 127.0.0.1 port %d" % srv.port, log)
        self.assertIn("listening on ::1 port %d" % srv.port, log)
        for host in ("127.0.0.1", "::1"):
            c = Conn(srv.port, host=host)
            self.addCleanup(c.close)
            self.assertEqual(c.hello()["message_type"], "hello")


class Synchronous(unittest.TestCase):
    """--synchronous normal: commits do not wait for the disk, and the
    checkpoint thread copies them into the database file every
    --checkpoint-interval; with full (the default) every commit syncs and
    the WAL is checkpointed only once it is large."""

    def file_messages(self, db):
        """Messages in the database file itself, the WAL ignored."""
        con = sqlite3.connect("file:%s?immutable=1" % db, uri=True)
        try:
            return con.execute("SELECT count(*) FROM messages").fetchone()[0]
        except sqlite3.OperationalError as e:  # even the schema is in the WAL still
            self.assertIn("no such table", str(e))
            return 0
        finally:
            con.close()

    def send_and_receive(self, srv, n):
        a = user(srv, "syncer", protocol2=True)
        self.addCleanup(a.close)
        b = user(srv, "syncee", protocol2=True)
        self.addCleanup(b.close)
        for i in range(n):
            a.chat("synced %d" % i, client_msg_id="s%d" % i)
        acks = [a.recv_type("chat_ack")["message_id"] for _ in range(n)]
        got = [b.recv_type("chat_message") for _ in range(n)]
        self.assertEqual(acks, [m["message_id"] for m in got])
        self.assertEqual(["synced %d" % i for i in range(n)], [m["content"] for m in got])
        return b, got[0]["chat_group_id"]

    def test_normal_delivers_and_the_thread_checkpoints_into_the_file(self):
        srv = started_server(self, FAST_HASH + ["--synchronous", "normal",
                                                "--checkpoint-interval", "20"])
        b, gid = self.send_and_receive(srv, 50)
        deadline = time.time() + 10 * SLOW
        while self.file_messages(srv.db) < 50 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(50, self.file_messages(srv.db))
        self.assertEqual(["synced %d" % i for i in range(50)],
                         [m["content"] for m in history_all(b, gid)])
        self.assertIn("Synchronous = normal", srv.log_text())

    def test_full_leaves_a_small_log_to_sqlite(self):
        srv = started_server(self, FAST_HASH)
        self.send_and_receive(srv, 50)
        time.sleep(0.3)
        # synced in the WAL at every commit, not yet in the file
        self.assertEqual(0, self.file_messages(srv.db))

    def test_bad_values_are_refused_with_the_reason(self):
        code, _, err = run(["-t", "--synchronous", "fast"])
        self.assertEqual(2, code)
        self.assertIn("--synchronous: 'fast' is not full or normal", err)
        code, _, err = run(["-t", "--synchronous", "normal", "--checkpoint-interval", "5"])
        self.assertEqual(2, code)
        self.assertIn("--checkpoint-interval: 5 is out of range (10 to 60000)", err)
        code, _, err = run(["-t", "--synchronous", "normal", "--postgres", "host=/nonexistent"])
        self.assertEqual(2, code)
        self.assertIn("Synchronous = normal is for the SQLite store", err)


def deny_io_uring():
    """In the child before exec: a seccomp filter under which
    io_uring_setup() fails with ENOSYS, as in a container whose profile
    does not allow io_uring."""
    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    NR_IO_URING_SETUP = 425  # the same on every Linux architecture
    code = (Filter * 4)(
        Filter(0x20, 0, 0, 0),                  # load seccomp_data.nr
        Filter(0x15, 0, 1, NR_IO_URING_SETUP),  # equal: next, else skip one
        Filter(0x06, 0, 0, 0x00050000 | errno.ENOSYS),  # SECCOMP_RET_ERRNO
        Filter(0x06, 0, 0, 0x7FFF0000),         # SECCOMP_RET_ALLOW
    )
    prog = Prog(4, code)
    libc = ctypes.CDLL(None, use_errno=True)
    ul = ctypes.c_ulong
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0 or \
       libc.prctl(PR_SET_SECCOMP, ul(SECCOMP_MODE_FILTER), ctypes.byref(prog), ul(0), ul(0)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


class IoUring(unittest.TestCase):
    """--io-uring: a broadcast is written to all of its recipients with one
    io_uring system call (yes, the default) or one writev() each (no); the
    members see the same messages in the same order either way."""

    MEMBERS = 8

    def stats(self, srv):
        srv.proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 5 * SLOW
        while time.time() < deadline:
            lines = [l for l in srv.log_text().splitlines() if "statistics:" in l]
            if lines:
                return dict(kv.split("=", 1) for kv in lines[-1].split("statistics: ", 1)[1].split())
            time.sleep(0.05)
        self.fail("no statistics line in the log")

    def broadcast(self, srv):
        members = []
        for i in range(self.MEMBERS):
            u = user(srv, "ring%d" % i, protocol2=True)
            self.addCleanup(u.close)
            members.append(u)
        sender = members[0]
        for i in range(30):
            sender.chat("fan %d" % i, client_msg_id="f%d" % i)
        acks = [sender.recv_type("chat_ack")["message_id"] for _ in range(30)]
        for u in members:
            got = [u.recv_type("chat_message") for _ in range(30)]
            self.assertEqual(["fan %d" % i for i in range(30)], [m["content"] for m in got])
            self.assertEqual(acks, [m["message_id"] for m in got])

    def test_on_by_default_every_member_gets_every_message_in_order(self):
        srv = started_server(self, FAST_HASH)
        self.broadcast(srv)
        st = self.stats(srv)
        if "io_uring is not available" in srv.log_text():
            # this kernel refuses io_uring: what was checked is the writev()
            # path, as in test_refused_by_the_kernel_...
            self.assertEqual("0", st["write_batches"])
            self.assertEqual("0", st["write_rings"])
            return
        # the writer thread delivered through its ring
        self.assertGreater(int(st["write_batches"]), 0)
        self.assertGreaterEqual(int(st["write_rings"]), 1)

    def test_off_every_member_gets_every_message_with_writev(self):
        srv = started_server(self, FAST_HASH + ["--io-uring", "no"])
        self.broadcast(srv)
        st = self.stats(srv)
        self.assertEqual("0", st["write_batches"])
        self.assertEqual("0", st["write_rings"])
        self.assertNotIn("io_uring", srv.log_text())

    def test_refused_by_the_kernel_members_get_every_message_with_writev(self):
        # as under a container's seccomp profile: the server says so once
        # and writes each recipient with writev()
        srv = started_server(self, FAST_HASH, preexec=deny_io_uring)
        self.broadcast(srv)
        st = self.stats(srv)
        self.assertEqual("0", st["write_batches"])
        self.assertEqual("0", st["write_rings"])
        log = srv.log_text()
        self.assertIn("io_uring is not available (Function not implemented): "
                      "broadcasts write one socket per system call", log)
        self.assertEqual(1, log.count("io_uring is not available"))

    def test_bad_values_are_refused_with_the_reason(self):
        code, _, err = run(["-t", "--io-uring", "maybe"])
        self.assertEqual(2, code)
        self.assertIn("--io-uring: 'maybe' is not yes or no", err)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                     "a private /dev/log needs root and unshare (util-linux)")
class Syslog(unittest.TestCase):
    """--syslog in the foreground: the server logs to syslog(3), facility
    daemon, and to standard error. The server runs in a mount namespace of
    its own whose /dev/log is the test's socket (the machine's /dev is not
    touched)."""

    def test_syslog_gets_the_log_lines_too(self):
        srv = Server(["--syslog"])
        self.addCleanup(check_finish, srv)
        sock_path = os.path.join(srv.dir, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(sock_path)
        old = os.path.join(srv.dir, "olddev")
        script = ("set -e; mount --make-rprivate /; mkdir -p {old}; mount --rbind /dev {old}; "
                  "mount -t tmpfs tmpfs /dev; "
                  "for n in null zero full random urandom; do touch /dev/$n; mount --bind {old}/$n /dev/$n; done; "
                  "touch /dev/log; mount --bind {sock} /dev/log; exec \"$@\"").format(old=old, sock=sock_path)
        command = srv.command
        srv.command = lambda: ["unshare", "--mount", "sh", "-c", script, "sh"] + command()
        srv.start()
        c = user(srv, "syslogged")
        c.close()
        sock.settimeout(10 * SLOW)
        got = []
        while not any("syslogged logged in" in g for g in got):
            got.append(sock.recv(65536).decode("utf-8", "replace"))
        pid = srv.proc.pid
        # <30>: facility daemon (3), severity info (6)
        started = [g for g in got if " started: database " in g]
        self.assertEqual(len(started), 1, got)
        self.assertRegex(started[0], r"^<30>.*chatroomd\[%d\]: chatroomd \S+ started: database " % pid)
        # and standard error still has them (foreground)
        self.assertIn("syslogged logged in", srv.log_text())


if __name__ == "__main__":
    tap.main()
