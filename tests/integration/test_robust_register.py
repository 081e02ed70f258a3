#!/usr/bin/env python3
"""Registration needs no login, so its cost is bounded: a name that is taken
(or invalid) is refused before a password hash is spent on it, one address
may create RegisterMaxAddress accounts per RegisterWindow (refusals answered
"too many new accounts from your address", logged and counted), and other
addresses are not affected."""
import socket
import unittest

from harness import Conn, PASSWORD, SLOW
from robust import RobustCase
import tap

LIMIT = 3
REFUSED = "too many new accounts from your address"


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


class Registration(RobustCase):
    ARGS = ["--language", "en", "--register-max-address", str(LIMIT), "--register-window", "600"]

    def setUp(self):
        self.srv = self.start_server(self.ARGS)

    def conn(self, source):
        try:
            return SourceConn(self.srv.port, source)
        except OSError as e:
            self.skipTest("cannot use %s as a source address: %s" % (source, e))

    def stats(self):
        a = self.conn("127.0.0.1")
        self.assertTrue(a.login("Admin", "Admin12345")["success"])
        a.send("admin_command_request", command="stats", action="", target_id=None,
               target_name="", new_value="")
        r = a.recv_type("admin_command_response")
        a.close()
        return r["data"]

    def test_registering_a_taken_name_costs_no_hash(self):
        c = self.conn("127.0.0.2")
        self.assertTrue(c.register("taken1")["success"])
        before = self.stats()["password_hashes"]
        for _ in range(3):
            r = c.register("taken1", "another1")
            self.assertFalse(r["success"], r)
            self.assertEqual(r["error_message"], "username already exists")
        self.assertEqual(self.stats()["password_hashes"], before + 1)  # the Admin login

    def test_new_accounts_from_one_address_are_limited(self):
        c = self.conn("127.0.0.3")
        for i in range(LIMIT):
            self.assertTrue(c.register("many%d" % i)["success"])
        r = c.register("many%d" % LIMIT)
        self.assertFalse(r["success"], r)
        self.assertIsNone(r["user_id"])
        self.assertRegex(r["error_message"], "^" + REFUSED + r": try again in \d+ seconds$")
        # nothing was stored: the name is still free, for another address
        r = self.conn("127.0.0.4").register("many%d" % LIMIT)
        self.assertTrue(r["success"], r)
        self.assertEqual(self.stats()["register_refusals"], 1)
        self.assertIn("registration refused", self.srv.log_text())
        # taken names are answered as before, not counted
        r = c.register("many0")
        self.assertEqual(r["error_message"], "username already exists")
        # and logins from the limited address work
        self.assertTrue(self.conn("127.0.0.3").login("many0", PASSWORD)["success"])


class RegistrationDefault(RobustCase):
    """The default (RegisterMaxAddress 50 per 600 seconds) lets a class
    behind one address register."""

    def test_a_class_behind_one_address_registers_by_default(self):
        srv = self.start_server(["--register-max-address", "50"])
        c = Conn(srv.port, timeout=5 * SLOW)
        for i in range(40):
            r = c.register("pupil%02d" % i)
            self.assertTrue(r["success"], r)


if __name__ == "__main__":
    tap.main()
