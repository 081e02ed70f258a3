#!/usr/bin/env python3
"""Registration needs no login, so its cost is bounded: a name that is taken
(or invalid) is refused before a password hash is spent on it, one address
may create RegisterMaxAddress accounts per RegisterWindow (refusals answered
"too many new accounts from your address", logged and counted), and other
addresses are not affected."""
import unittest

from harness import Conn, PASSWORD, SLOW
from robust import RobustCase
import tap

LIMIT = 3
REFUSED = "too many new accounts from your address"



class Registration(RobustCase):
    ARGS = ["--language", "en", "--register-max-address", str(LIMIT), "--register-window", "600"]

    def setUp(self):
        self.srv = self.start_server(self.ARGS)

    def stats(self):
        return self.admin_stats()

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
