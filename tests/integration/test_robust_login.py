#!/usr/bin/env python3
"""Failed-login throttling: after 5 failed logins within a minute from one
address, or for one account from one address, further login attempts from
that address (or for that account from it) are answered login_response
success false with "too many failed logins" for a while, even with the right
password; other addresses are not affected. Failures for one account from
many addresses slow its logins down but never refuse the right password."""
import time
import unittest

from robust import RobustCase, p2_user
import tap

FAILS = 5
# these logins are legacy connections: the legacy language (zh)
BLOCKED = "登录失败次数过多"



class LoginThrottle(RobustCase):
    # 5 for an address as well (chatroomd's default for addresses is higher)
    ARGS = ["--login-fail-max", str(FAILS), "--login-fail-max-address", str(FAILS),
            "--login-fail-window", "60", "--login-fail-max-account", str(FAILS),
            "--login-fail-delay", "1"]

    def setUp(self):
        self.srv = self.start_server(self.ARGS)
        for name in ("victim", "bystander", "other"):
            c, _ = p2_user(self.srv, name)
            c.close()

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

    def login_delays(self):
        return self.admin_stats()["login_delays"]

    def test_wrong_passwords_from_other_addresses_never_refuse_the_right_one(self):
        self.fail_logins("victim", ["127.0.0.%d" % (10 + i) for i in range(FAILS)])
        # from a fresh address, with the right password: served
        r = self.conn("127.0.0.20").login("victim")
        self.assertTrue(r["success"], r)

    def test_an_address_that_failed_on_an_account_under_attack_waits(self):
        self.fail_logins("victim", ["127.0.0.%d" % (90 + i) for i in range(FAILS)])
        before = self.login_delays()
        # it failed once on this account: answered at once, not slowed
        self.assert_blocked(self.conn("127.0.0.90").login("victim"))
        self.assertEqual(self.login_delays(), before)
        # its other accounts are not affected
        self.assertTrue(self.conn("127.0.0.90").login("other")["success"])

    def test_an_account_failing_from_many_addresses_is_slowed(self):
        self.fail_logins("victim", ["127.0.0.%d" % (50 + i) for i in range(FAILS)])
        before = self.login_delays()
        r = self.conn("127.0.0.60").login("victim")
        self.assertTrue(r["success"], r)
        self.assertEqual(self.login_delays(), before + 1)
        # another account is not slowed
        r = self.conn("127.0.0.60").login("other")
        self.assertTrue(r["success"], r)
        self.assertEqual(self.login_delays(), before + 1)

    def test_unknown_names_do_not_slow_an_account(self):
        for i in range(FAILS):
            c = self.conn("127.0.0.%d" % (70 + i))
            self.assertFalse(c.login("nosuchuser%d" % i, "wrong-password1")["success"])
            c.close()
        before = self.login_delays()
        self.assertTrue(self.conn("127.0.0.80").login("victim")["success"])
        self.assertEqual(self.login_delays(), before)

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
    test_wrong_passwords_from_other_addresses_never_refuse_the_right_one = None
    test_an_account_failing_from_many_addresses_is_slowed = None
    test_unknown_names_do_not_slow_an_account = None
    test_an_address_that_failed_on_an_account_under_attack_waits = None
    test_four_failures_do_not_block = None


if __name__ == "__main__":
    tap.main()
