#!/usr/bin/env python3
"""Accounts: registration rules, login, duplicate accounts, wrong passwords,
a second login ending the older session, logout, and the login timeout."""
import time

from harness import PASSWORD, SLOW, ServerTest, main, wait_for


class Registration(ServerTest):

    def assertRegisterFails(self, username, password=PASSWORD, text=None):
        """Registration is refused (with this error_message, when given: it
        is asked on a protocol-2 connection, whose texts are the server's
        own) and no account is created."""
        c = self.connect()
        if text is not None:
            c.hello()
        r = c.register(username, password)
        self.assertEqual(r["message_type"], "register_response", r)
        self.assertIs(r["success"], False, r)
        self.assertIsInstance(r["error_message"], str, r)
        self.assertTrue(r["error_message"], r)
        if text is not None:
            self.assertEqual(r["error_message"], text)
        self.assertIsNone(r.get("user_id"), r)
        # and the account was not created: logging in fails
        lr = c.login(username, password)
        self.assertFalse(lr.get("success"), lr)
        return r

    def test_register_then_login(self):
        name = self.name("reg")
        c = self.connect()
        r = c.register(name)
        self.assertIs(r["success"], True, r)
        self.assertEqual(r["username"], name)
        self.assertIsInstance(r["user_id"], int)
        self.assertIsNone(r.get("error_message"))
        lr = c.login(name)
        self.assertIs(lr["success"], True, lr)
        self.assertEqual(lr["user_id"], r["user_id"])
        self.assertEqual(lr["username"], name)

    def test_login_puts_user_in_public(self):
        c = self.login_user()
        g = c.group
        self.assertIsInstance(g, dict)
        self.assertEqual(g["name"], "public")
        self.assertIsInstance(g["id"], int)
        # public is listed among the joined chats
        c.send("list_chats_request", list_type="joined")
        r = c.recv_type("list_chats_response")
        self.assertIn("public", [x["group_name"] for x in r["chats"]])

    def test_cjk_username(self):
        name = "用户" + self.name("")[-6:].replace("_", "")
        c = self.connect()
        r = c.register(name)
        self.assertIs(r["success"], True, r)
        self.assertEqual(c.login(name)["username"], name)

    def test_username_too_short(self):
        self.assertRegisterFails("ab")

    def test_username_too_long(self):
        self.assertRegisterFails("a" * 21)

    def test_username_starting_with_digit(self):
        self.assertRegisterFails("1abc")

    def test_username_with_bad_characters(self):
        for bad in ("ab cd", "ab-cd", "abc!", "ab.cd", "ab\ncd"):
            with self.subTest(username=bad):
                self.assertRegisterFails(bad)

    def test_password_too_short(self):
        self.assertRegisterFails(self.name("pw"), "ab1", "password must be 6 to 50 characters long")

    def test_password_too_long(self):
        self.assertRegisterFails(self.name("pw"), "a1" * 26, "password must be 6 to 50 characters long")

    def test_password_without_digit(self):
        self.assertRegisterFails(self.name("pw"), "abcdefgh",
                                 "password must contain at least one letter and one digit")

    def test_password_without_letter(self):
        self.assertRegisterFails(self.name("pw"), "12345678",
                                 "password must contain at least one letter and one digit")

    def test_duplicate_username(self):
        name = self.name("dup")
        self.assertIs(self.connect().register(name).get("success"), True)
        c = self.connect()
        c.hello()
        c.send("register_request", username=name, password="other123")
        m = c.recv_type("register_response")
        self.assertIs(m["success"], False, m)
        self.assertEqual(m["error_message"], "username already exists")
        # the first account keeps its password
        self.assertFalse(c.login(name, "other123").get("success"))
        self.assertIs(self.connect().login(name).get("success"), True)

    def test_register_with_wrong_field_type(self):
        c = self.connect()
        c.send("register_request", username=12345, password=PASSWORD)
        c.expect_error(1008)


class Login(ServerTest):

    def test_wrong_password(self):
        name = self.name("wp")
        self.assertTrue(self.connect().register(name).get("success"))
        c = self.connect()
        c.hello()
        c.send("login_request", username=name, password="wrong123")
        m = c.recv_type("login_response")
        self.assertIs(m["success"], False, m)
        self.assertEqual(m["error_message"], "invalid username or password")
        # still usable: the right password works on the same connection
        self.assertIs(c.login(name).get("success"), True)

    def test_unknown_user(self):
        # the same answer as a wrong password: no way to probe for names
        c = self.connect()
        c.hello()
        c.send("login_request", username=self.name("nobody"), password=PASSWORD)
        m = c.recv_type("login_response")
        self.assertIs(m["success"], False, m)
        self.assertEqual(m["error_message"], "invalid username or password")

    def test_commands_need_login(self):
        c = self.connect()
        c.send("chat_message", content="hello", chat_group_id=1)
        c.expect_error(1001)
        c.send("enter_chat_request", chat_name="public")
        c.expect_error(1001)
        c.send("list_users_request", list_type="all")
        c.expect_error(1001)

    def test_second_login_ends_older_session(self):
        # chatroom-protocol(7): the older session is told why, then closed
        name = self.name("twice")
        old = self.login_user(name, protocol2=True)
        watcher = self.login_user()
        new = self.login_user(name)
        m = old.recv_type("system_message")
        self.assertEqual(m["content"], "You were logged out: your account logged in from another connection")
        self.assertEqual(m["level"], "warning")
        self.assertTrue(old.expect_closed())
        new.chat("from the new session")
        m = watcher.recv_chat("from the new session")
        self.assertEqual(m["sender_username"], name)
        # the new session receives chat
        watcher.chat("to the new session")
        new.recv_chat("to the new session")

    def test_user_stays_online_after_older_session_is_ended(self):
        name = self.name("stay")
        old = self.login_user(name)
        new = self.login_user(name)
        self.assertTrue(old.expect_closed())
        line = "127.0.0.1:%d (-): connection closed: logged in again" % old.sock.getsockname()[1]
        old.close()
        other = self.login_user()
        # the old session's end is logged after it left the client table
        # (and told the others whatever it tells them): the race under test
        wait_for(lambda: line in self.srv.log_text())
        self.assertIn(line, self.srv.log_text())
        other.send("list_users_request", list_type="all")
        users = {u["username"]: u for u in other.recv_type("list_users_response")["users"]}
        self.assertIs(users[name]["is_online"], True, "the new session is online")
        other.chat("still reachable")
        new.recv_chat("still reachable")

    def test_new_session_starts_in_public(self):
        name = self.name("pub")
        old = self.login_user(name)
        gname = self.name("g")
        old.create_chat(gname, [])
        old.enter_chat(gname)
        new = self.login_user(name)
        self.assertEqual(new.group["name"], "public")
        new.send("user_info_request")
        self.assertEqual(new.recv_type("user_info_response")["current_chat_group_name"], "public")

    def test_login_again_after_logout_on_same_connection(self):
        name = self.name("again")
        c = self.login_user(name)
        c.send("logout_request")
        c.recv_type("system_message")
        r = c.login(name)
        self.assertIs(r.get("success"), True, r)
        other = self.login_user()
        other.chat("welcome back")
        c.recv_chat("welcome back")

    def test_logout_answers_system_message(self):
        c = self.login_user()
        c.send("logout_request")
        m = c.recv_type("system_message")
        self.assertIsInstance(m["content"], str)
        self.assertIn(m["level"], ("info", "warning", "error"))
        # logged out: chat is refused
        c.chat("after logout")
        c.expect_error(1001)

    def test_logout_marks_user_offline(self):
        name = self.name("off")
        c = self.login_user(name)
        other = self.login_user()
        c.send("logout_request")
        c.recv_type("system_message")
        other.send("list_users_request", list_type="all")
        users = {u["username"]: u for u in other.recv_type("list_users_response")["users"]}
        self.assertIs(users[name]["is_online"], False)
        self.assertIs(users[other.username]["is_online"], True)

    def test_dropped_connection_marks_user_offline(self):
        name = self.name("drop")
        c = self.login_user(name)
        other = self.login_user()
        c.close()

        def offline():
            other.send("list_users_request", list_type="all")
            users = {u["username"]: u for u in other.recv_type("list_users_response")["users"]}
            return users[name]["is_online"] is False
        # logged once the connection has left the client table
        wait_for(lambda: "(%s): connection closed" % name in self.srv.log_text())
        self.assertTrue(offline(), "user still online after disconnecting")


class LoginThrottle(ServerTest):
    server_args = ["--login-fail-max", "3", "--login-fail-window", "2"]

    def test_repeated_wrong_passwords_lock_the_account_for_a_while(self):
        name = self.name("lock")
        self.assertTrue(self.connect().register(name).get("success"))
        c = self.connect()
        for _ in range(3):
            self.assertFalse(c.login(name, "wrong999").get("success"))
        r = c.login(name)
        self.assertFalse(r.get("success"), "right password accepted while locked: %r" % (r,))
        # other accounts are not affected
        self.login_user()
        time.sleep(2.5)
        self.assertIs(self.connect().login(name).get("success"), True)


class LoginTimeout(ServerTest):
    server_args = ["--login-timeout", "1"]

    def test_connection_that_never_logs_in_is_closed(self):
        c = self.connect()
        t0 = time.time()
        self.assertTrue(c.expect_closed(timeout=4 * SLOW), "not closed after the login timeout")
        self.assertGreaterEqual(time.time() - t0, 0.5)

    def test_connection_that_only_says_hello_is_closed(self):
        c = self.connect()
        c.hello()
        self.assertTrue(c.expect_closed(timeout=4 * SLOW), "not closed after the login timeout")

    def test_registered_but_not_logged_in_is_closed(self):
        c = self.connect()
        self.assertTrue(c.register(self.name("reg")).get("success"))
        self.assertTrue(c.expect_closed(timeout=4 * SLOW), "not closed after the login timeout")

    def test_logged_in_connection_is_not_closed(self):
        c = self.login_user()
        self.assertFalse(c.expect_closed(timeout=2.5), "a logged-in legacy client was closed")
        c.send("heartbeat")
        c.recv_type("heartbeat")


if __name__ == "__main__":
    main()
