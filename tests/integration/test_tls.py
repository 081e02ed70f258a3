"""TLS: the TLS port beside the plain one (chatroomd --tls-port), and the
client's --tls. A test certificate authority and certificates are made at
test time with the openssl command: a server certificate for localhost and
127.0.0.1, a second one (another serial) for the reload, one for another
host name, and one from an authority the client does not know.

Run alone: CHATROOMD=... CHATROOM=... python3 tests/integration/test_tls.py
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from adminlib import ADMIN_PASSWORD, FAST_HASH, admin, admin_cmd, download, upload
from harness import (CHATROOM, PASSWORD, SLOW, TIMEOUT, Closed, Conn, ServerTest, main,
                     started_server, uname, wait_for)

CERTS = None  # the folder of the test certificates (setUpModule)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=chatroom test authority " + name, cwd=d)


def make_cert(d, name, ca, serial, san):
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-set_serial", str(serial), "-days", "2", "-extfile", ext, "-out", name + ".pem",
            cwd=d)


def setUpModule():
    global CERTS
    if not shutil.which("openssl"):
        raise unittest.SkipTest("the openssl command is needed (Debian package openssl)")
    CERTS = tempfile.mkdtemp(prefix="chatroom-tls-")
    make_ca(CERTS, "ca")
    make_ca(CERTS, "otherca")
    make_cert(CERTS, "server", "ca", 1001, "DNS:localhost,IP:127.0.0.1")
    make_cert(CERTS, "renewed", "ca", 1002, "DNS:localhost,IP:127.0.0.1")
    make_cert(CERTS, "wronghost", "ca", 1003, "DNS:other.example")
    make_cert(CERTS, "stranger", "otherca", 1004, "DNS:localhost,IP:127.0.0.1")


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


class TLSConn(Conn):
    """A Conn over TLS, verifying the server against the test authority."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT, rcvbuf=None,
                 server_hostname="localhost"):
        ctx = ssl.create_default_context(cafile=cert("ca.pem"))
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect((host, port))
        self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        self.buf = b""
        self.timeout = timeout
        self.backlog = []
        self.seen = []
        self.user_id = None
        self.username = None
        self.group = None

    def serial(self):
        return int(self.sock.getpeercert()["serialNumber"], 16)


def tls_args(port, name="server"):
    return FAST_HASH + ["--tls-port", str(port), "--tls-cert", cert(name + ".pem"),
                        "--tls-key", cert(name + ".key")]


def free_other_port(srv):
    from harness import free_port
    while True:
        p = free_port()
        if p != srv.port:
            return p


def stats(srv):
    a = admin(srv)
    try:
        return admin_cmd(a, "stats")["data"]
    finally:
        a.close()


class TLSServerTest(ServerTest):
    """One server per class with a TLS port (self.srv.tls_port)."""

    extra_args = []

    @classmethod
    def setUpClass(cls):
        from harness import free_port
        cls.tls_port = free_port()
        cls.server_args = tls_args(cls.tls_port) + cls.extra_args
        super().setUpClass()
        cls.wait_tls(cls.tls_port)

    @staticmethod
    def wait_tls(port):
        deadline = time.time() + 10 * SLOW
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def tls(self, **kw):
        c = TLSConn(self.tls_port, **kw)
        self.conns.append(c)
        return c

    def tls_user(self, name=None, protocol2=False):
        c = self.tls()
        name = name or self.name("t")
        if protocol2:
            c.hello()
        self.assertTrue(c.register(name).get("success"))
        r = c.login(name)
        self.assertTrue(r.get("success"), r)
        return c


class ChatOverTLS(TLSServerTest):
    extra_args = ["--rate", "100000", "--burst", "100000", "--queue", "1000",
                  "--max-output", "16777216"]

    def test_handshake_and_chat(self):
        a = self.tls_user()
        b = self.tls_user(protocol2=True)
        self.assertEqual(a.serial(), 1001)
        self.assertIn(a.sock.version(), ("TLSv1.2", "TLSv1.3"))
        a.chat("over tls")
        self.assertEqual(b.recv_chat("over tls")["sender_username"], a.username)
        b.chat("and back", client_msg_id="m1")
        a.recv_chat("and back")
        self.assertEqual(b.recv_type("chat_ack")["client_msg_id"], "m1")

    def test_tls_and_plain_clients_in_one_group(self):
        t = self.tls_user()
        p = self.login_user()
        t.chat("from tls")
        self.assertEqual(p.recv_chat("from tls")["sender_username"], t.username)
        p.chat("from plain")
        self.assertEqual(t.recv_chat("from plain")["sender_username"], p.username)

    def test_many_lines_in_one_record_are_all_handled(self):
        # Requests in full records, more at once than a worker reads in one
        # turn (SESSION_TURN_READS reads of 16 KiB): the connection goes
        # back to the pool with decrypted bytes still inside OpenSSL, which
        # epoll cannot report; they must be handled all the same.
        a = self.tls_user()
        b = self.login_user()
        n = 2500
        lines = b"".join(b'{"message_type":"chat_message","content":"batch %05d"}\n' % i
                         for i in range(n))
        self.assertGreater(len(lines), 8 * 16384)
        a.send_raw(lines)
        for i in range(n):
            b.recv_chat("batch %05d" % i, timeout=30 * SLOW)
            b.backlog.clear()

    def test_tls_version_below_1_2_is_refused(self):
        ctx = ssl.create_default_context(cafile=cert("ca.pem"))
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=TIMEOUT)
        with self.assertRaises((ssl.SSLError, OSError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()
        self.tls_user().send("heartbeat")

    def test_plain_bytes_to_the_tls_port_are_closed(self):
        before = stats(self.srv)["tls_handshake_failures"]
        c = Conn(self.tls_port)
        self.conns.append(c)
        c.send("register_request", username=self.name("p"), password=PASSWORD)
        self.assertTrue(c.expect_closed(), "plain text on the TLS port was not closed")
        self.assertTrue(wait_for(lambda: stats(self.srv)["tls_handshake_failures"] > before))
        self.assertIn("TLS handshake failed", self.srv.log_text())
        # and the server serves everyone else
        a = self.tls_user()
        b = self.login_user()
        a.chat("still up")
        b.recv_chat("still up")

    def test_file_upload_and_download_over_tls(self):
        up = self.tls_user()
        down = self.tls_user()
        plain = self.login_user()
        data = os.urandom(3 * 1024 * 1024 + 17)
        first, final = upload(up, "tls.txt", data, up.group["id"], chunk=100000)
        self.assertTrue(final and final.get("success"), (first, final))
        fid = final["file_id"]
        for conn in (down, plain, up):
            got = download(conn, fid)
            self.assertEqual(got["data"], data)
        # the connections go on with JSON after the raw bytes
        up.chat("after the file")
        down.recv_chat("after the file")
        plain.recv_chat("after the file")

    def test_hundred_concurrent_tls_logins(self):
        n = 100
        names = [self.name("c") for _ in range(n)]
        conns, errors = [None] * n, []

        def one(i):
            try:
                c = TLSConn(self.tls_port, timeout=30 * SLOW)
                conns[i] = c
                r = c.register(names[i])
                assert r.get("success"), r
                r = c.login(names[i])
                assert r.get("success"), r
            except Exception as e:  # reported below
                errors.append("%s: %r" % (names[i], e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.conns.extend(c for c in conns if c)
        self.assertEqual(errors, [])
        conns[0].chat("hello hundred")
        for c in conns:
            c.recv_chat("hello hundred", timeout=30 * SLOW)


class SlowTLSReader(TLSServerTest):
    extra_args = ["--max-output", "262144", "--rate", "100000", "--burst", "100000"]

    def test_tls_reader_that_stops_reading_is_closed_and_others_lose_nothing(self):
        name = self.name("slow")
        self.assertTrue(self.tls().register(name).get("success"))
        slow = self.tls(rcvbuf=4096)
        self.assertTrue(slow.login(name).get("success"))
        sender = self.tls_user()
        good = self.tls_user()
        plain = self.login_user()
        # as test_limits.SlowReader: more than the socket buffers and
        # --max-output, in rounds the readers drain, so a client that
        # reads is never far behind
        n, rounds = 5000, 100
        content = "s" * 990
        for start in range(0, n, rounds):
            for _ in range(rounds):
                sender.chat(content)
            for conn in (sender, good, plain):
                for _ in range(rounds):
                    conn.recv_chat(content)
                conn.backlog.clear()
        got, closed = 0, False
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            try:
                m = slow.recv(timeout=2 * SLOW)
            except (Closed, OSError, ssl.SSLError) as e:
                closed = True
                break
            except TimeoutError:
                break
            if m["message_type"] == "chat_message":
                got += 1
        self.assertTrue(closed, "slow TLS reader not closed (read %d of %d)" % (got, n))
        self.assertLess(got, n)
        self.assertIn("slow consumer", self.srv.log_text())
        good.chat("after the slow one")
        sender.recv_chat("after the slow one")
        plain.recv_chat("after the slow one")


class LimitsOverTLS(TLSServerTest):
    """Flood control and the transfer stall deadline hold over TLS."""
    extra_args = ["--rate", "5", "--burst", "5", "--transfer-timeout", "1"]

    def test_flood_gets_1014_and_the_connection_stays_usable(self):
        a = self.tls_user()
        b = self.login_user()
        for i in range(30):
            a.chat("flood %d" % i)
        got = [a.recv_type(("error_message", "chat_message")) for _ in range(30)]
        errors = [m for m in got if m["message_type"] == "error_message"]
        self.assertTrue(errors, "no error for 30 messages at once with --burst 5")
        self.assertTrue(all(e["error_code"] == 1014 for e in errors), errors)
        time.sleep(1.2)
        a.chat("after the flood")
        b.recv_chat("after the flood")

    def test_stalled_upload_gets_1010_and_is_closed(self):
        c = self.tls_user(protocol2=True)
        c.send("file_upload_request", filename="half.txt", file_data="", file_size=100000,
               chat_group_id=c.group["id"])
        self.assertTrue(c.recv_type("file_upload_response")["success"])
        c.send_raw(b"h" * 100)
        e = c.expect_error(1010, timeout=10 * SLOW)
        self.assertEqual(e["error_message"], "upload stalled: no data for 1 seconds")
        self.assertTrue(c.expect_closed(timeout=5 * SLOW))
        other = self.tls_user()
        other.send("heartbeat")
        other.recv_type("heartbeat")


class HandshakeTimeout(unittest.TestCase):
    def test_handshake_never_started_or_never_finished_is_closed_and_counted(self):
        from harness import free_port
        port = free_port()
        srv = started_server(self, tls_args(port) + ["--login-timeout", "1"],
                             admin_password=ADMIN_PASSWORD)
        TLSServerTest.wait_tls(port)
        silent = Conn(port)
        half = Conn(port)
        self.addCleanup(silent.close)
        self.addCleanup(half.close)
        # the first bytes of a ClientHello, and then nothing
        half.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        self.assertTrue(silent.expect_closed(timeout=10 * SLOW))
        self.assertTrue(half.expect_closed(timeout=10 * SLOW))
        s = stats(srv)
        self.assertGreaterEqual(s["tls_handshake_failures"], 2)
        self.assertGreaterEqual(s["login_timeouts"], 2)
        self.assertIn("TLS handshake not finished", srv.log_text())
        c = TLSConn(port)
        self.addCleanup(c.close)
        c.send("heartbeat")
        c.recv_type("heartbeat")


class Reload(unittest.TestCase):
    def test_sighup_loads_the_new_certificate_for_new_connections_only(self):
        from harness import free_port
        d = tempfile.mkdtemp(prefix="chatroom-tls-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        crt, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        shutil.copy(cert("server.pem"), crt)
        shutil.copy(cert("server.key"), key)
        port = free_port()
        srv = started_server(self, FAST_HASH + ["--tls-port", str(port), "--tls-cert", crt,
                                                "--tls-key", key],
                             admin_password=ADMIN_PASSWORD)
        TLSServerTest.wait_tls(port)
        old = TLSConn(port)
        self.addCleanup(old.close)
        self.assertEqual(old.serial(), 1001)
        name = uname("r")
        self.assertTrue(old.register(name).get("success"))
        self.assertTrue(old.login(name).get("success"))

        # a renewal: new files under the same names, then SIGHUP
        shutil.copy(cert("renewed.pem"), crt)
        shutil.copy(cert("renewed.key"), key)
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "TLS certificate reloaded" in srv.log_text()))
        new = TLSConn(port)
        self.addCleanup(new.close)
        self.assertEqual(new.serial(), 1002)
        name2 = uname("r")
        self.assertTrue(new.register(name2).get("success"))
        self.assertTrue(new.login(name2).get("success"))
        # the connection made before goes on with its pair
        old.chat("before the reload")
        self.assertEqual(new.recv_chat("before the reload")["sender_username"], name)
        new.chat("after the reload")
        old.recv_chat("after the reload")

        # a failed reload (a key of another certificate) keeps the pair
        shutil.copy(cert("server.key"), key)
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "TLS certificate reload failed" in srv.log_text()))
        self.assertIn("does not match", srv.log_text())
        third = TLSConn(port)
        self.addCleanup(third.close)
        self.assertEqual(third.serial(), 1002)
        third.send("heartbeat")
        third.recv_type("heartbeat")
        old.chat("still here")
        new.recv_chat("still here")


def tls_server(test, name="server"):
    """A started server whose TLS port shows certificate name; (server,
    TLS port), with the accounts alice and bob."""
    from harness import free_port
    port = free_port()
    srv = started_server(test, tls_args(port, name), admin_password=ADMIN_PASSWORD)
    TLSServerTest.wait_tls(port)
    for n in ("alice", "bob"):
        c = srv.connect()
        test.assertTrue(c.register(n).get("success"))
        c.close()
    return srv, port


def pin_of(name):
    """The --pin-sha256 of a certificate's key, as chatroom(1) makes it."""
    p = subprocess.run("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
                       "openssl dgst -sha256 -binary | base64" % cert(name + ".pem"),
                       shell=True, check=True, capture_output=True, text=True)
    return p.stdout.strip()


class Client(unittest.TestCase):
    """chatroom --tls: it talks over TLS to a server it can verify, and
    refuses (exit status 3, the problem named) any other."""

    def run_client(self, port, script, args, env=None):
        from clientlib import run_client
        return run_client(port, script, args=args, user="alice", env=env)

    def test_chat_over_tls_by_host_name_and_by_address(self):
        srv, port = tls_server(self)
        bob = user_conn(srv, "bob")
        for host in ("localhost", "127.0.0.1"):
            rc, out, err = self.run_client(port, ["hello from %s" % host],
                                           ["--tls", "--cafile", cert("ca.pem"), "--host", host])
            self.assertEqual(rc, 0, (out, err))
            self.assertEqual(bob.recv_chat("hello from %s" % host)["sender_username"], "alice")
        self.assertGreaterEqual(stats(srv)["tls_handshakes"], 2)

    def test_reconnects_over_tls_after_a_restart(self):
        from clientlib import Client as ScriptClient
        srv, port = tls_server(self)
        args = ["--tls", "--cafile", cert("ca.pem"), "--host", "localhost",
                "--reconnect-min", "0.2", "--reconnect-max", "1"]
        a = ScriptClient(port, args, user="alice")
        self.addCleanup(a.kill)
        a.wait_for(r"^\*\*\* logged in as alice")
        a.send("before restart")
        a.wait_for(r"<alice> before restart$")
        srv.stop()
        a.wait_for(r"^\*\*\* connection lost")
        a.send("typed while down")
        srv.start()
        a.wait_for(r"^\*\*\* reconnected; logged in again as alice")
        a.wait_for(r"<alice> typed while down$")
        self.assertEqual(a.finish(), 0, a.lines)

    def test_settings_from_the_environment_and_the_configuration_file(self):
        srv, port = tls_server(self)
        bob = user_conn(srv, "bob")
        rc, out, err = self.run_client(port, ["from the environment"], ["--host", "localhost"],
                                       env={"CHATROOM_TLS": "yes",
                                            "CHATROOM_CAFILE": cert("ca.pem")})
        self.assertEqual(rc, 0, (out, err))
        bob.recv_chat("from the environment")
        conf = os.path.join(CERTS, "client.conf")
        with open(conf, "w") as f:
            f.write("tls = yes\ncafile = %s\n" % cert("ca.pem"))
        rc, out, err = self.run_client(port, ["from the file"], ["--host", "localhost", "-c", conf])
        self.assertEqual(rc, 0, (out, err))
        bob.recv_chat("from the file")

    def test_certificate_of_an_unknown_authority_is_refused(self):
        srv, port = tls_server(self, "stranger")
        for args in (["--cafile", cert("ca.pem")], []):  # the test's authority; the system's
            rc, out, err = self.run_client(port, ["must not be sent"],
                                           ["--tls", "--host", "localhost"] + args)
            self.assertEqual(rc, 3, (out, err))
            text = "\n".join(out) + err
            self.assertIn("certificate is not valid for localhost", text)
            self.assertIn("unable to get local issuer certificate", text)
        self.assertNotIn("must not be sent", srv.log_text())
        self.assertEqual(stats(srv)["tls_handshakes"], 0)

    def test_certificate_for_another_host_is_refused(self):
        srv, port = tls_server(self, "wronghost")
        rc, out, err = self.run_client(port, ["x"], ["--tls", "--cafile", cert("ca.pem"),
                                                     "--host", "localhost"])
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("hostname mismatch", ("\n".join(out) + err).lower())
        rc, out, err = self.run_client(port, ["x"], ["--tls", "--cafile", cert("ca.pem"),
                                                     "--host", "127.0.0.1"])
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("ip address mismatch", ("\n".join(out) + err).lower())

    def test_pinned_key(self):
        srv, port = tls_server(self, "stranger")
        bob = user_conn(srv, "bob")
        rc, out, err = self.run_client(port, ["pinned"], ["--tls", "--pin-sha256",
                                                          pin_of("stranger")])
        self.assertEqual(rc, 0, (out, err))
        bob.recv_chat("pinned")
        rc, out, err = self.run_client(port, ["x"], ["--tls", "--pin-sha256", pin_of("server")])
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("does not match --pin-sha256 (its pin is %s)" % pin_of("stranger"),
                      "\n".join(out) + err)

    def test_plain_port_with_tls_and_bad_options(self):
        srv, port = tls_server(self)
        rc, out, err = self.run_client(srv.port, ["x"], ["--tls", "--cafile", cert("ca.pem")])
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("TLS handshake", "\n".join(out) + err)
        rc, out, err = self.run_client(port, ["x"], ["--cafile", cert("ca.pem")])
        self.assertEqual(rc, 2)
        self.assertIn("need --tls", err)
        rc, out, err = self.run_client(port, ["x"], ["--tls", "--cafile", "/nonexistent.pem"])
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent.pem: No such file or directory", err)
        rc, out, err = self.run_client(port, ["x"], ["--tls", "--pin-sha256", "short"])
        self.assertEqual(rc, 2)
        self.assertIn("--pin-sha256 takes", err)


def user_conn(srv, name):
    c = srv.connect()
    r = c.login(name)
    assert r.get("success"), r
    return c


class Options(unittest.TestCase):
    def run_daemon(self, *args):
        from harness import CHATROOMD
        return subprocess.run([CHATROOMD, "-f", "/dev/null"] + list(args), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=30)

    def test_configtest_checks_the_pair_and_says_when_it_expires(self):
        p = self.run_daemon("-t", "--tls-port", "9999", "--tls-cert", cert("server.pem"),
                            "--tls-key", cert("server.key"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"TLS certificate .*server.pem .*: OK; expires \d{4}-\d\d-\d\d")

    def test_configtest_refuses_a_key_that_does_not_match(self):
        p = self.run_daemon("-t", "--tls-port", "9999", "--tls-cert", cert("server.pem"),
                            "--tls-key", cert("renewed.key"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not match", p.stderr)

    def test_missing_files_and_settings_are_named(self):
        p = self.run_daemon("-t", "--tls-port", "9999", "--tls-cert", "/nonexistent/c.pem",
                            "--tls-key", cert("server.key"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/c.pem: No such file or directory", p.stderr)
        p = self.run_daemon("-t", "--tls-port", "9999")
        self.assertEqual(p.returncode, 2)
        self.assertIn("needs a certificate and a key", p.stderr)
        p = self.run_daemon("-t", "--port", "9999", "--tls-port", "9999", "--tls-cert",
                            cert("server.pem"), "--tls-key", cert("server.key"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("must differ", p.stderr)


if __name__ == "__main__":
    main()
