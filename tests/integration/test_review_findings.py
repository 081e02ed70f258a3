#!/usr/bin/env python3
"""Findings of a review of chatroomd as an attacker reads it, one class per
finding: what an attacker tried, and what the server must do instead."""
import unittest

from adminlib import (ADMIN_PASSWORD, FAST_HASH, AdminServerTest, admin, admin_cmd, download,
                      recv_any, upload)

# The texts are checked in English: legacy clients get [Server] Language.
EN = ["--language", "en"]


class EnglishServerTest(AdminServerTest):
    server_args = FAST_HASH + EN
from harness import PASSWORD, Server, check_finish, main, started_server, user


class LogInjection(EnglishServerTest):
    """Client-supplied strings in log lines are escaped: no string a client
    sends can start a log line of its own."""

    def assert_no_forged_line(self, marker):
        for line in self.srv.log_text().splitlines():
            self.assertFalse(line.startswith(marker), line)

    def test_a_newline_in_an_admin_command_does_not_forge_a_log_line(self):
        a = admin(self.srv)
        r = admin_cmd(a, "frob\nFORGED1 chatroomd[1] info: Admin logged in\x1b[2J")
        self.assertEqual(r["message_type"], "admin_command_response")
        self.assert_no_forged_line("FORGED1")
        self.assertIn("frob\\nFORGED1 chatroomd[1] info: Admin logged in\\x1b[2J",
                      self.srv.log_text())

    def test_a_newline_in_a_login_name_does_not_forge_a_log_line(self):
        c = self.srv.connect()
        r = c.login("x\nFORGED2 chatroomd[1] info: Admin logged in", "wrong-password1")
        self.assertFalse(r["success"])
        self.assert_no_forged_line("FORGED2")

    def test_a_name_that_does_not_exist_is_not_logged(self):
        # often a password typed into the user field
        c = self.srv.connect()
        r = c.login("MySecretPassw0rd", "wrong-password1")
        self.assertFalse(r["success"])
        log = self.srv.log_text()
        self.assertIn("failed login for a name that does not exist", log)
        self.assertNotIn("MySecretPassw0rd", log)


def stats(srv):
    a = admin(srv)
    r = admin_cmd(a, "stats")
    a.close()
    return r["data"]


class UnknownUserTiming(EnglishServerTest):
    """Usernames cannot be enumerated by timing: a login as a name that does
    not exist costs a password hash, as a real one does."""

    def test_unknown_user_login_costs_a_hash(self):
        before = stats(self.srv)["password_hashes"]
        c = self.srv.connect()
        r = c.login("nosuchuser", "wrong-password1")
        self.assertFalse(r["success"])
        self.assertEqual(r["error_message"], "invalid username or password")
        # one hash for the unknown name, one for the Admin login of stats()
        self.assertEqual(stats(self.srv)["password_hashes"], before + 2)

    def test_known_user_login_costs_a_hash(self):
        name = self.name("known")
        user(self.srv, name).close()
        before = stats(self.srv)["password_hashes"]
        c = self.srv.connect()
        self.assertFalse(c.login(name, "wrong-password1")["success"])
        self.assertEqual(stats(self.srv)["password_hashes"], before + 2)


class AdminActionsEndSessions(EnglishServerTest):
    """A password reset evicts the sessions that knew the old password, and a
    ban refuses every action that writes: chat_message, file_upload,
    create_chat, join_chat."""

    def login(self, name):
        c = user(self.srv, name)
        self.addCleanup(c.close)
        return c

    def test_password_change_ends_the_users_session(self):
        a, name = admin(self.srv), self.name("reset")
        c = self.login(name)
        r = admin_cmd(a, "modify", "-u", target_name=name, new_value="password newpass99")
        self.assertTrue(r["success"], r)
        m = c.recv_type("system_message")
        self.assertEqual(m["content"], "Admin changed your password: log in again with the new one")
        self.assertTrue(c.expect_closed())
        # Admin's own session goes on
        self.assertTrue(admin_cmd(a, "stats")["success"])
        self.assertTrue(self.srv.connect().login(name, "newpass99")["success"])

    def test_admin_changing_its_own_password_keeps_its_session(self):
        a = admin(self.srv)
        r = admin_cmd(a, "modify", "-u", target_name="Admin", new_value="password " + ADMIN_PASSWORD)
        self.assertTrue(r["success"], r)
        self.assertTrue(admin_cmd(a, "stats")["success"])

    def banned(self):
        a, name = admin(self.srv), self.name("banned")
        c = self.login(name)
        self.assertTrue(admin_cmd(a, "ban", "-u", target_name=name)["success"])
        return c, name

    def test_banned_user_cannot_create_a_chat(self):
        c, name = self.banned()
        c.send("create_chat_request", chat_name=self.name("room"), member_usernames=["Admin"])
        e = c.expect_error(1005)
        self.assertEqual(e["error_message"], "you are banned: you cannot create chats")
        c.send("list_chats_request", list_type="all")
        names = [g["group_name"] for g in c.recv_type("list_chats_response")["chats"]]
        self.assertEqual(names, ["public"])

    def test_banned_user_cannot_join_a_chat(self):
        owner = self.login(self.name("owner"))
        room = self.name("room")
        owner.create_chat(room)
        c, name = self.banned()
        c.send("join_chat_request", chat_name=room)
        e = c.expect_error(1005)
        self.assertEqual(e["error_message"], "you are banned: you cannot join chats")

    def test_banned_user_still_reads(self):
        c, name = self.banned()
        c.send("history_request", chat_group_id=1, limit=5)
        self.assertEqual(recv_any(c, ("chat_history_complete", "error_message"))["message_type"],
                         "chat_history_complete")


class PathLikeFileNames(EnglishServerTest):
    """The server keeps only a base name: no '/', '\\', control character
    or leading dot reaches another client, whatever the uploader sent."""

    def check(self, sent, kept):
        c = user(self.srv, self.name("up"))
        self.addCleanup(c.close)
        first, final = upload(c, sent, b"hello", 1)
        self.assertEqual(final["message_type"], "file_upload_response", final)
        self.assertEqual(final["message"], "File '%s' uploaded" % kept)
        self.assertIn(": %s (0KB)" % kept, c.recv_type("file_notification")["content"])
        c.send("file_list_request", chat_group_id=1)
        listed = [f["original_filename"] for f in c.recv_type("file_list_response")["files"]
                  if f["file_id"] == final["file_id"]]
        self.assertEqual(listed, [kept])
        d = download(c, final["file_id"])
        self.assertEqual(d["first"]["filename"], kept)
        self.assertEqual(d["data"], b"hello")

    def test_path_like_file_names_are_cut_to_their_base_name(self):
        self.check("../../../../home/victim/x.txt", "x.txt")

    def test_backslash_paths_are_cut_too(self):
        self.check("..\\..\\Windows\\evil.txt", "evil.txt")

    def test_a_leading_dot_is_removed(self):
        self.check("/etc/.profile.txt", "profile.txt")


class ValidUtf8InErrors(EnglishServerTest):
    """Every text the server sends is valid UTF-8: a client's string quoted
    in an error is cut on a character boundary. (The harness refuses a line
    that is not UTF-8.)"""

    NAME = "a" * 63 + "\u00e9"  # "%.64s" cuts the "é" in half

    def test_error_quoting_a_long_name_is_valid_utf8(self):
        c = user(self.srv, self.name("utf"))
        self.addCleanup(c.close)
        c.send("enter_chat_request", chat_name=self.NAME)
        e = c.expect_error(1004)
        self.assertEqual(e["error_message"], "chat not found: " + "a" * 63)
        c.send("join_chat_request", chat_name=self.NAME)
        self.assertEqual(c.expect_error(1004)["error_message"], "chat not found: " + "a" * 63)
        c.send("create_chat_request", chat_name="utfroom", member_usernames=[self.NAME])
        self.assertEqual(c.expect_error(1003)["error_message"], "user not found: " + "a" * 63)


class LookalikeAccounts(EnglishServerTest):
    """Names that differ only by case are one name for registration (and
    for Admin's add and rename); logins keep the exact name."""

    def test_a_name_differing_only_by_case_cannot_be_registered(self):
        c = self.srv.connect()
        r = c.register("admin")
        self.assertFalse(r["success"], r)
        self.assertEqual(r["error_message"], "username already exists")
        name = self.name("Carol")
        self.assertTrue(c.register(name)["success"])
        for other in (name.lower(), name.upper()):
            r = c.register(other)
            self.assertEqual(r["error_message"], "username already exists")
        # the exact name logs in; another case is another (unknown) name
        self.assertTrue(self.srv.connect().login(name)["success"])
        self.assertFalse(self.srv.connect().login(name.upper())["success"])

    def test_admin_cannot_add_or_rename_to_a_lookalike(self):
        a = admin(self.srv)
        name = self.name("Dave")
        user(self.srv, name).close()
        self.assertFalse(admin_cmd(a, "add", "-u", new_value="%s pass1234" % name.upper())["success"])
        other = self.name("erin")
        user(self.srv, other).close()
        r = admin_cmd(a, "modify", "-u", target_name=other, new_value="username " + name.lower())
        self.assertFalse(r["success"], r)
        # a change of case of one's own name is not a clash
        r = admin_cmd(a, "modify", "-u", target_name=name, new_value="username " + name.upper())
        self.assertTrue(r["success"], r)


class LookalikesInAnOldDatabase(unittest.TestCase):
    def test_an_old_database_with_a_clash_keeps_working_and_reports_it(self):
        import sqlite3
        srv = started_server(self, EN + ["--hash-opslimit", "1", "--hash-memlimit", "64"])
        user(srv, "Frank").close()
        srv.stop()
        # as an older chatroomd would have let it happen
        db = sqlite3.connect(srv.db)
        db.execute("INSERT INTO users(username, pwhash, banned, created_at) "
                   "SELECT 'frank', pwhash, 0, 0 FROM users WHERE username = 'Frank'")
        db.commit()
        db.close()
        srv.start()
        r1 = srv.connect().login("Frank")
        r2 = srv.connect().login("frank")
        self.assertTrue(r1["success"] and r2["success"], (r1, r2))
        self.assertNotEqual(r1["user_id"], r2["user_id"])
        r = srv.connect().register("FRANK")
        self.assertEqual(r["error_message"], "username already exists")
        # the server has opened the database: the clash was reported
        self.assertIn("store: accounts Frank, frank differ only by case", srv.log_text())


class HashUpgrade(unittest.TestCase):
    """Raising the hash cost upgrades each stored hash at its next login."""

    def test_raising_the_hash_cost_upgrades_the_hash_at_login(self):
        import sqlite3
        srv = started_server(self, EN + ["--hash-opslimit", "1", "--hash-memlimit", "64"])
        user(srv, "grace").close()
        srv.stop()

        def stored():
            db = sqlite3.connect(srv.db)
            try:
                return db.execute("SELECT pwhash FROM users WHERE username = 'grace'").fetchone()[0]
            finally:
                db.close()
        self.assertIn("$m=64,t=1,", stored())
        srv.args = EN + ["--hash-opslimit", "2", "--hash-memlimit", "128"]
        srv.start()
        self.assertTrue(srv.connect().login("grace")["success"])
        self.assertIn("$m=128,t=2,", stored())
        self.assertIn("password hash of grace upgraded", srv.log_text())
        # and the upgraded hash verifies
        self.assertTrue(srv.connect().login("grace")["success"])


class UploadsLeaveFreeSpace(unittest.TestCase):
    """Uploads cannot fill the disk that holds the database: one that would
    leave less than MinFreeSpace free is refused, and nothing is stored."""

    def test_an_upload_that_would_leave_too_little_free_space_is_refused(self):
        import os
        # more free space than any test machine has
        srv = started_server(self, EN + ["--hash-opslimit", "1", "--hash-memlimit", "64",
                                    "--min-free-space", str(1 << 59)])
        c = user(srv, "heidi")
        first, final = upload(c, "big.txt", b"x" * 1000, 1)
        self.assertEqual(first["message_type"], "error_message", first)
        self.assertEqual(first["error_code"], 1009)
        self.assertEqual(first["error_message"],
                         "the server is low on disk space: the upload is refused")
        self.assertIn("refused: the data folder's file system is low on space", srv.log_text())
        c.send("file_list_request", chat_group_id=1)
        self.assertEqual(c.recv_type("file_list_response")["files"], [])
        files = os.path.join(srv.dir, "files")
        self.assertEqual([f for _, _, fs in os.walk(files) for f in fs], [])
        # the connection goes on: the raw bytes were never asked for
        c.send("user_info_request")
        self.assertEqual(c.recv_type("user_info_response")["user_info"]["username"], "heidi")


class AdminPasswordFile(unittest.TestCase):
    """--admin-password is visible in ps: a file can hold the password."""

    def test_the_admin_password_can_come_from_a_file(self):
        import os
        srv = Server(EN + ["--hash-opslimit", "1", "--hash-memlimit", "64"], admin_password=None)
        self.addCleanup(check_finish, srv)
        path = os.path.join(srv.dir, "admin.pw")
        with open(path, "w") as f:
            f.write("FromAFile42\n")
        os.chmod(path, 0o600)
        srv.args += ["--admin-password-file", path]
        srv.start()
        self.assertTrue(srv.connect().login("Admin", "FromAFile42")["success"])
        self.assertNotIn("FromAFile42", " ".join(srv.command()))

    def test_an_unreadable_password_file_stops_the_start(self):
        import os
        import subprocess
        srv = Server(["--admin-password-file", "/nonexistent/admin.pw"], admin_password=None)
        self.addCleanup(srv.cleanup)
        p = subprocess.run(srv.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertIn("AdminPasswordFile /nonexistent/admin.pw: No such file or directory",
                      p.stderr)


class ChatsPerUser(unittest.TestCase):
    """No account can make the server keep chats without limit: past
    MaxChatsPerUser, create_chat and joining a new chat get 1005."""

    def test_a_user_in_max_chats_can_create_or_join_no_more(self):
        srv = started_server(self, EN + ["--hash-opslimit", "1", "--hash-memlimit", "64",
                                    "--max-chats-per-user", "3"])
        other = user(srv, "ivan")
        self.assertTrue(other.create_chat("ivanroom")["success"])
        c = user(srv, "judy")
        # public, then two of its own
        self.assertTrue(c.create_chat("judy1")["success"])
        self.assertTrue(c.create_chat("judy2")["success"])
        c.send("create_chat_request", chat_name="judy3", member_usernames=[])
        self.assertEqual(c.expect_error(1005)["error_message"],
                         "you are in too many chats: at most 3")
        c.send("join_chat_request", chat_name="ivanroom")
        self.assertEqual(c.expect_error(1005)["error_message"],
                         "you are in too many chats: at most 3")
        # a chat one is in can still be joined again
        c.send("join_chat_request", chat_name="judy1")
        self.assertEqual(c.recv_type("system_message")["content"],
                         "You are already a member of chat judy1")
        c.send("list_chats_request", list_type="all")
        names = sorted(g["group_name"] for g in c.recv_type("list_chats_response")["chats"])
        self.assertEqual(names, ["ivanroom", "judy1", "judy2", "public"])


if __name__ == "__main__":
    main()
