#!/usr/bin/env python3
"""Failed-login throttling: after 5 failed logins within a minute from one
address, or for one account, further login attempts from that address or
for that account are answered login_response success false with "too many
failed logins" for a while, even with the right password; other addresses
and other accounts are not affected."""
import socket
import time
import unittest

from harness import Conn, PASSWORD, SLOW
from robust import RobustCase, p2_user
import tap

FAILS = 5
BLOCKED = "too many failed logins"


class SourceConn(Conn):
    """A Conn from a chosen loopback source address."""

    def __init__(self, port, source):
        real = socket.create_connection

        def from_source(address, timeout=None, *args, **kw):
            return real(address, timeout=timeout, source_address=(source, 0))
        socket.create_connection = from_source  # the tests are single-threaded
        try:
            super().__init__(port, timeout=5 * SLOW)
        finally:
            socket.create_connection = real


class LoginThrottle(RobustCase):
    # 5 for an address as well (chatroomd's default for addresses is higher)
    ARGS = ["--login-fail-max", str(FAILS), "--login-fail-max-address", str(FAILS),
            "--login-fail-window", "60"]

    def setUp(self):
        self.srv = self.start_server(self.ARGS)
        for name in ("victim", "bystander", "other"):
            c, _ = p2_user(self.srv, name)
            c.close()

    def conn(self, source):
        try:
            return SourceConn(self.srv.port, source)
        except OSError as e:
            self.skipTest("cannot use %s as a source address: %s" % (source, e))

    def fail_logins(self, user, sources):
        for src in sources:
            c = self.conn(src)
            r = c.login(user, "wrong-password1")
            self.assertFalse(r["success"])
            self.assertNotIn(BLOCKED, r.get("error_message") or "")
            c.close()

    def assert_blocked(self, r):
        self.assertFalse(r["success"], r)
        self.assertIn(BLOCKED, r.get("error_message") or "", r)

    def test_five_failures_from_one_address_block_that_address(self):
        self.fail_logins("victim", ["127.0.0.2"] * FAILS)
        # the right password, from the same address: refused
        self.assert_blocked(self.conn("127.0.0.2").login("victim"))
        # even for another account, from that address
        self.assert_blocked(self.conn("127.0.0.2").login("bystander"))
        # another address, another account: served
        r = self.conn("127.0.0.3").login("bystander")
        self.assertTrue(r["success"], r)

    def test_five_failures_for_one_account_block_that_account(self):
        self.fail_logins("victim", ["127.0.0.%d" % (10 + i) for i in range(FAILS)])
        # from a fresh address, with the right password: refused
        self.assert_blocked(self.conn("127.0.0.20").login("victim"))
        # another account from that fresh address: served
        r = self.conn("127.0.0.20").login("other")
        self.assertTrue(r["success"], r)

    def test_four_failures_do_not_block(self):
        self.fail_logins("victim", ["127.0.0.30"] * (FAILS - 1))
        r = self.conn("127.0.0.30").login("victim")
        self.assertTrue(r["success"], r)


class LoginThrottleExpiry(LoginThrottle):
    ARGS = ["--login-fail-max", str(FAILS), "--login-fail-max-address", str(FAILS),
            "--login-fail-window", "2"]

    def test_the_block_ends_when_the_window_has_passed(self):
        self.fail_logins("victim", ["127.0.0.40"] * FAILS)
        r = self.conn("127.0.0.40").login("victim")
        self.assert_blocked(r)
        time.sleep(2.5)
        r = self.conn("127.0.0.40").login("victim")
        self.assertTrue(r["success"], r)

    # the inherited tests need the longer window
    test_five_failures_from_one_address_block_that_address = None
    test_five_failures_for_one_account_block_that_account = None
    test_four_failures_do_not_block = None


if __name__ == "__main__":
    tap.main()
