#!/usr/bin/env python3
"""Flood control: a client sending past --rate/--burst gets error 1014 and
is closed when it keeps on; connections past --max-connections or
--max-per-address get 1013 and are closed; thousands of connections that
never log in (silent, or half a line) are closed by --login-timeout. In
every case the well-behaved clients are served as usual meanwhile."""
import json
import resource
import selectors
import socket
import time
import unittest

from harness import Conn, Closed, SLOW
from robust import RobustCase, p2_user, wait_for
import tap


def raw_connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5 * SLOW)
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, timeout):
    """Everything the server sends until it closes; None if it does not
    close within timeout."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data
            data += d
    except (ConnectionResetError, BrokenPipeError):
        return data
    except socket.timeout:
        return None


def refusal(s, timeout=5 * SLOW):
    data = read_all(s, timeout)
    if data is None:
        return None
    lines = [json.loads(l) for l in data.splitlines() if l.strip()]
    return lines[-1] if lines else {}


def chat_roundtrip(test, c, text):
    """c sends text and sees its own echo; no error comes back. Other
    messages received meanwhile are kept in c.others."""
    if not hasattr(c, "others"):
        c.others = []
    c.chat(text)
    deadline = time.time() + 5 * SLOW
    while True:
        m = c.recv(timeout=max(0.1, deadline - time.time()))
        if m["message_type"] == "error_message":
            test.fail("error instead of the echo of %r: %r" % (text, m))
        if m["message_type"] == "chat_message" and m["content"] == text:
            return m
        c.others.append(m)


class RateLimit(RobustCase):
    def test_flooder_gets_1014_then_is_closed_and_others_are_unaffected(self):
        rate, burst = 5, 10
        srv = self.start_server(["--rate", str(rate), "--burst", str(burst)])
        calm, _ = p2_user(srv, "calm")
        flood, _ = p2_user(srv, "flooder")
        t0 = time.time()
        for i in range(40):
            flood.chat("flood %d" % i, client_msg_id="f%d" % i)
        acked, refused = set(), 0
        deadline = time.time() + 3 * SLOW
        while time.time() < deadline and len(acked) + refused < 40:
            try:
                m = flood.recv(timeout=0.5)
            except TimeoutError:
                continue
            if m["message_type"] == "chat_ack":
                acked.add(m["client_msg_id"])
            elif m["message_type"] == "error_message":
                self.assertEqual(1014, m["error_code"], m)
                refused += 1
        elapsed = time.time() - t0
        self.assertEqual(40, len(acked) + refused, "every message is acked or refused")
        self.assertGreater(refused, 0)
        self.assertLessEqual(len(acked), burst + rate * elapsed + 1)

        # the calm client, under the rate, is served normally meanwhile
        for i in range(5):
            chat_roundtrip(self, calm, "calm %d" % i)
            time.sleep(1.0 / rate + 0.02)
        # it saw exactly the flooder's accepted messages, none refused
        seen = {m["content"] for m in calm.backlog + calm.others
                if m["message_type"] == "chat_message"}
        self.assertEqual({"flood %s" % c[1:] for c in acked}, seen)

        # keep flooding: closed after repeated abuse (SESSION_MAX_STRIKES
        # refusals in a row), with a last 1014. The bucket (burst 10) may
        # have refilled, and a token that refills while the server works
        # through the flood accepts one line and starts the count again,
        # so the flooder keeps on in rounds of 60 until it is closed; the
        # rounds are bounded, and a server that never closes it fails.
        last, closed = None, False
        for _ in range(20):
            for i in range(60):
                try:
                    flood.send("heartbeat")
                except OSError:
                    break
            try:
                while True:
                    m = flood.recv(timeout=1 * SLOW)
                    if m["message_type"] == "error_message":
                        last = m
            except Closed:
                closed = True
                break
            except TimeoutError:
                continue
        self.assertTrue(closed, "a client that kept flooding was never closed")
        self.assertIsNotNone(last)
        self.assertEqual(1014, last["error_code"])
        self.assertIn("repeatedly", last["error_message"])
        self.assertIn("closed for flooding", srv.log_text())
        chat_roundtrip(self, calm, "still here")


class ConnectionLimits(RobustCase):
    def test_past_max_connections_newcomers_get_1013(self):
        srv = self.start_server(["--max-connections", "10"])
        calm, _ = p2_user(srv, "calm")
        idle = [raw_connect(srv.port) for _ in range(9)]
        time.sleep(0.3)
        extra = raw_connect(srv.port)
        m = refusal(extra)
        self.assertIsNotNone(m, "the connection past the limit was not closed")
        self.assertEqual(1013, m.get("error_code"), m)
        self.assertEqual(m["error_message"], "服务器连接数已满，请稍后再试")  # no hello: legacy texts
        chat_roundtrip(self, calm, "unaffected")
        # a freed place is given to the next newcomer
        idle.pop().close()

        def admitted():
            s = raw_connect(srv.port)
            s.sendall(b'{"message_type":"hello","timestamp":1,"protocol":2}\n')
            s.settimeout(2 * SLOW)
            try:
                return b'"hello"' in s.recv(4096)
            except OSError:
                return False
            finally:
                s.close()
        wait_for(admitted, 10 * SLOW, "a place to be freed")
        for s in idle:
            s.close()

    def test_past_max_per_address_that_address_gets_1013_others_do_not(self):
        srv = self.start_server(["--max-per-address", "3"])
        try:
            mine = [raw_connect(srv.port, "127.0.0.2") for _ in range(3)]
        except OSError as e:
            self.skipTest("cannot use 127.0.0.2 as a source address: %s" % e)
        time.sleep(0.3)
        m = refusal(raw_connect(srv.port, "127.0.0.2"))
        self.assertIsNotNone(m)
        self.assertEqual(1013, m.get("error_code"), m)
        self.assertEqual(m["error_message"], "来自您地址的连接过多")  # no hello: legacy texts
        # another address is served
        calm, _ = p2_user(srv, "calm")
        chat_roundtrip(self, calm, "another address")
        for s in mine:
            s.close()


class LoginTimeoutStorm(RobustCase):
    def test_thousands_that_never_log_in_are_closed_while_others_chat(self):
        n = 2000 if SLOW <= 1 else 400
        timeout = 2
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 100:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
            except (ValueError, OSError):
                self.skipTest("cannot open %d files (ulimit -n %d)" % (n, soft))
        srv = self.start_server(["--login-timeout", str(timeout), "--workers", str(n + 1000),
                                 "--queue", str(n + 100), "--max-per-address", str(n + 100)])
        alice, _ = p2_user(srv, "alice")
        bob, _ = p2_user(srv, "bob")

        t0 = time.time()
        socks = []
        for i in range(n):
            s = raw_connect(srv.port)
            if i % 2:
                s.sendall(b'{"message_type":"login_request","username":"ali')
            socks.append(s)
        opened = time.time() - t0

        # others chat as usual while the idle connections pile up
        lat = []
        for i in range(20):
            t = time.time()
            alice.chat("during the storm %d" % i)
            m = bob.recv_type("chat_message")
            lat.append(time.time() - t)
            self.assertEqual("during the storm %d" % i, m["content"])
            time.sleep(0.02)

        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed, got = {}, {}
        deadline = t0 + opened + timeout + 10 * SLOW
        while len(closed) < n and time.time() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    d = s.recv(4096)
                except (ConnectionResetError, BrokenPipeError):
                    d = b""
                except BlockingIOError:
                    continue
                if d:
                    got[s.fileno()] = got.get(s.fileno(), b"") + d
                    continue
                closed[s.fileno()] = time.time() - t0
                sel.unregister(s)
        sel.close()
        for s in socks:
            s.close()
        self.assertEqual(n, len(closed), "connections not closed by the login timeout")
        busy = [v for v in got.values() if b"1013" in v]
        self.assertEqual([], busy[:3], "connections refused as busy instead of served")
        self.assertGreaterEqual(min(closed.values()), timeout - 0.6,
                                "closed before the login timeout")
        self.assertIn("login timeout", srv.log_text())
        chat_roundtrip(self, alice, "after the storm")
        lat.sort()
        print("%d never-logged-in connections opened in %.2f s, all closed %.1f-%.1f s after "
              "the first; chat meanwhile: 20/20 delivered, max latency %.1f ms"
              % (n, opened, min(closed.values()), max(closed.values()), lat[-1] * 1000))


if __name__ == "__main__":
    tap.main()
