"""Administration and moderation: Admin's commands end to end."""
import os
import unittest

from adminlib import ADMIN_PASSWORD, AdminServerTest, admin, admin_cmd, drop, group_id, recv_any, upload
from harness import PASSWORD, SLOW, user
import tap

NOTIFICATION_FIELDS = {"message_type", "timestamp", "operation", "operator_id", "operator_name",
                       "target_type", "target_id", "target_name", "message"}


class Admin(AdminServerTest):
    def login(self, name, password=PASSWORD, protocol2=False):
        c = user(self.srv, name, password, protocol2=protocol2)
        self.addCleanup(c.close)
        return c

    def admin(self):
        a = admin(self.srv)
        self.addCleanup(a.close)
        return a

    def uid(self, conn):
        conn.send("user_info_request")
        return conn.recv_type("user_info_response")["user_info"]["user_id"]

    def seen(self, conn):
        """Everything conn has been sent so far (a round trip makes sure)."""
        conn.send("user_info_request")
        conn.recv_type("user_info_response")
        return list(conn.backlog)

    def types_seen(self, conn):
        return [m["message_type"] for m in self.seen(conn)]

    def new_group(self, owner, members=()):
        name = self.name("grp")
        owner.send("create_chat_request", chat_name=name, member_usernames=list(members))
        r = owner.recv_type("create_chat_response")
        self.assertTrue(r["success"], r)
        return name, r["chat_group_id"]

    def can_login(self, name, password=PASSWORD):
        c = self.srv.connect()
        try:
            return c.login(name, password)["success"]
        finally:
            c.close()

    # --- permissions --------------------------------------------------------

    def test_every_admin_command_is_refused_for_others_with_1005(self):
        other = self.login(self.name("plain"))
        victim = self.name("victim")
        self.login(victim)
        commands = [("add", "-u", None, "", "newbie9 secret123"), ("del", "-u", None, victim, ""),
                    ("del", "-g", None, "public", ""), ("del", "-f", 1, "", ""),
                    ("modify", "-u", 1, "", "password other123"),
                    ("modify", "-g", 1, "", "name renamed"), ("ban", "-u", None, victim, ""),
                    ("ban", "-g", None, "public", ""), ("free", "-u", None, victim, ""),
                    ("free", "-g", None, "public", ""), ("free", "-l", None, "", ""),
                    ("stats", "", None, "", "")]
        for command, action, tid, tname, value in commands:
            r = admin_cmd(other, command, action, tid, tname, value)
            self.assertEqual(r["message_type"], "error_message", (command, action))
            self.assertEqual(r["error_code"], 1005, (command, action))
        self.assertTrue(self.can_login(victim))
        self.assertFalse(self.can_login("newbie9", "secret123"))

    # --- add / modify -------------------------------------------------------

    def test_add_user_creates_an_account_and_tells_the_others(self):
        a, watcher = self.admin(), self.login(self.name("watch"))
        name = self.name("added")
        r = admin_cmd(a, "add", "-u", new_value="%s pass1234" % name)
        self.assertEqual(r["message_type"], "admin_command_response")
        self.assertTrue(r["success"], r)
        self.assertIsNone(r["data"])
        self.assertEqual(set(r), {"message_type", "timestamp", "success", "message", "data"})
        n = watcher.recv_type("admin_operation_notification")
        self.assertEqual(set(n), NOTIFICATION_FIELDS)
        self.assertEqual(n["operation"], "add_-u")
        self.assertEqual((n["operator_id"], n["operator_name"]), (0, "Admin"))
        self.assertEqual((n["target_type"], n["target_name"]), ("user", name))
        self.assertNotIn("admin_operation_notification", self.types_seen(a))  # not to Admin
        c = self.login(name, "pass1234")
        self.assertEqual(group_id(c, "public"), group_id(a, "public"))
        # taken name, bad password: refused
        self.assertFalse(admin_cmd(a, "add", "-u", new_value="%s pass1234" % name)["success"])
        self.assertFalse(admin_cmd(a, "add", "-u", new_value="%sx short" % name)["success"])

    def test_modify_password(self):
        a, name = self.admin(), self.name("pw")
        c = self.login(name)
        r = admin_cmd(a, "modify", "-u", target_id=self.uid(c), new_value="password newpass99")
        self.assertTrue(r["success"], r)
        self.assertNotIn("newpass99", self.srv.log_text())
        self.assertFalse(self.can_login(name, PASSWORD))
        self.assertTrue(self.can_login(name, "newpass99"))

    def test_modify_username_ends_the_session_and_the_new_name_logs_in(self):
        a, name, new = self.admin(), self.name("old"), self.name("new")
        c = self.login(name)
        r = admin_cmd(a, "modify", "-u", target_id=self.uid(c), new_value="username " + new)
        self.assertTrue(r["success"], r)
        self.assertTrue(c.expect_closed(timeout=5 * SLOW))
        self.assertFalse(self.can_login(name))
        self.assertTrue(self.can_login(new))
        self.assertFalse(admin_cmd(a, "modify", "-u", target_id=0, new_value="username Boss")["success"])

    def test_modify_group_name(self):
        a, c = self.admin(), self.login(self.name("gm"))
        old, gid = self.new_group(c)
        new = self.name("renamed")
        r = admin_cmd(a, "modify", "-g", target_id=gid, new_value="name " + new)
        self.assertTrue(r["success"], r)
        self.assertEqual(group_id(c, new), gid)
        self.assertIsNone(group_id(c, old))
        c.send("enter_chat_request", chat_name=new)
        self.assertTrue(c.recv_type("enter_chat_response")["success"])
        c.chat("in the renamed chat", group_id=gid)
        self.assertEqual(c.recv_type("chat_message")["chat_group_name"], new)
        pub = group_id(a, "public")
        self.assertFalse(admin_cmd(a, "modify", "-g", target_id=pub, new_value="name other")["success"])

    # --- bans ---------------------------------------------------------------

    def test_banned_user_cannot_send_but_still_reads_until_freed(self):
        a, talker = self.admin(), self.login(self.name("talk"))
        name = self.name("banned")
        b = self.login(name)
        r = admin_cmd(a, "ban", "-u", target_name=name)
        self.assertTrue(r["success"], r)
        n = b.recv_type("admin_operation_notification")
        self.assertEqual((n["operation"], n["target_type"], n["target_name"]), ("ban_-u", "user", name))
        b.chat("let me speak")
        e = b.recv_type("error_message")
        self.assertEqual(e["error_code"], 1005)
        # a legacy client: the reference's words
        self.assertEqual(e["error_message"], "您已被禁言，无法发送消息")
        talker.chat("can you read this?")
        self.assertEqual(b.recv_type("chat_message")["content"], "can you read this?")
        self.assertFalse(admin_cmd(a, "ban", "-u", target_name="Admin")["success"])
        r = admin_cmd(a, "free", "-u", target_name=name)
        self.assertTrue(r["success"], r)
        b.chat("free again")
        drop(b, "chat_message")
        self.assertEqual(b.recv_type("chat_message")["content"], "free again")

    def test_banned_group_accepts_no_messages_until_freed(self):
        a, c = self.admin(), self.login(self.name("gb"))
        name, gid = self.new_group(c)
        r = admin_cmd(a, "ban", "-g", target_name=name)
        self.assertTrue(r["success"], r)
        c.chat("hello?", group_id=gid)
        self.assertEqual(c.recv_type("error_message")["error_code"], 1005)
        err, _ = upload(c, "f.txt", b"x", gid)
        self.assertEqual(err["error_code"], 1005)
        r = admin_cmd(a, "free", "-g", target_id=gid)
        self.assertTrue(r["success"], r)
        c.send("enter_chat_request", chat_name=name)
        c.recv_type("enter_chat_response")
        c.chat("works", group_id=gid)
        self.assertEqual(c.recv_type("chat_message")["content"], "works")

    def test_public_cannot_be_banned_or_deleted(self):
        a = self.admin()
        for command in ("ban", "del"):
            r = admin_cmd(a, command, "-g", target_name="public")
            self.assertEqual(r["message_type"], "admin_command_response")
            self.assertFalse(r["success"], r)
        self.assertIsNotNone(group_id(a, "public"))

    def test_free_list_reports_what_is_banned(self):
        a, c = self.admin(), self.login(self.name("fl"))
        uname = self.name("listed")
        u = self.login(uname)
        gname, gid = self.new_group(c)
        self.assertTrue(admin_cmd(a, "ban", "-u", target_id=self.uid(u))["success"])
        self.assertTrue(admin_cmd(a, "ban", "-g", target_id=gid)["success"])
        r = admin_cmd(a, "free", "-l")
        self.assertTrue(r["success"], r)
        self.assertIn({"id": self.uid(u), "username": uname}, r["data"]["banned_users"])
        self.assertIn({"id": gid, "name": gname}, r["data"]["banned_groups"])
        self.assertIn(uname, r["message"])
        self.assertIn(gname, r["message"])
        # a listing is not announced
        self.assertNotIn("free_-l", [m.get("operation") for m in self.seen(c)])
        admin_cmd(a, "free", "-u", target_id=self.uid(u))
        admin_cmd(a, "free", "-g", target_id=gid)
        r = admin_cmd(a, "free", "-l")
        self.assertNotIn(uname, [x["username"] for x in r["data"]["banned_users"]])

    # --- deletions ----------------------------------------------------------

    def test_delete_user_ends_their_session_and_account(self):
        a, name = self.admin(), self.name("doomed")
        c = self.login(name)
        other = self.login(self.name("stay"))
        gname, gid = self.new_group(other, [name])
        r = admin_cmd(a, "del", "-u", target_name=name)
        self.assertTrue(r["success"], r)
        self.assertTrue(c.expect_closed(timeout=5 * SLOW))
        self.assertFalse(self.can_login(name))
        other.send("list_users_request", list_type="current_chat", chat_group_id=gid)
        names = [x["username"] for x in other.recv_type("list_users_response")["users"]]
        self.assertNotIn(name, names)
        self.assertEqual(other.recv_type("admin_operation_notification")["operation"], "del_-u")
        self.assertFalse(admin_cmd(a, "del", "-u", target_name=name)["success"])
        self.assertFalse(admin_cmd(a, "del", "-u", target_name="Admin")["success"])
        self.assertTrue(self.can_login("Admin", ADMIN_PASSWORD))

    def test_delete_group_moves_its_members_back_to_public(self):
        a, c = self.admin(), self.login(self.name("mover"))
        listener = self.login(self.name("pub"))
        name, gid = self.new_group(c)
        c.send("enter_chat_request", chat_name=name)
        self.assertTrue(c.recv_type("enter_chat_response")["success"])
        _, final = upload(c, "g.txt", b"group file", gid)
        self.assertTrue(final["success"])
        r = admin_cmd(a, "del", "-g", target_id=gid)
        self.assertTrue(r["success"], r)
        m = recv_any(c, ("system_message",))
        self.assertIn(name, m["content"])
        self.assertIn("public", m["content"])
        # the next message without a group goes to public
        c.chat("back in public")
        got = listener.recv_type("chat_message")
        self.assertEqual((got["content"], got["chat_group_name"]), ("back in public", "public"))
        c.send("enter_chat_request", chat_name=name)
        self.assertEqual(recv_any(c, ("enter_chat_response", "error_message"))["message_type"],
                         "error_message")
        self.assertIsNone(group_id(c, name))
        c.send("file_download_request", file_id=str(final["file_id"]))
        self.assertEqual(c.recv_type("error_message")["error_code"], 1006)
        self.assertFalse(os.path.exists(os.path.join(self.srv.dir, "files", str(gid))))

    # --- stats and logging --------------------------------------------------

    def test_stats_gives_the_counters(self):
        a = self.admin()
        r = admin_cmd(a, "stats")
        self.assertTrue(r["success"], r)
        for key in ("connections_total", "users_online", "logins", "messages_in", "workers"):
            self.assertIsInstance(r["data"][key], int, key)
        self.assertGreaterEqual(r["data"]["logins"], 1)
        self.assertGreaterEqual(r["data"]["users_online"], 1)

    def test_admin_actions_are_logged_with_who_did_them(self):
        a, name = self.admin(), self.name("logme")
        self.login(name)
        admin_cmd(a, "ban", "-u", target_name=name)
        admin_cmd(a, "free", "-u", target_name=name)
        log = self.srv.log_text()
        self.assertIn("admin: Admin (id 0)", log)
        self.assertIn("User %s banned" % name, log)
        self.assertIn("User %s freed" % name, log)

    def test_unknown_command_is_answered_with_usage(self):
        r = admin_cmd(self.admin(), "frobnicate", "-x")
        self.assertEqual(r["message_type"], "admin_command_response")
        self.assertFalse(r["success"])
        # Admin here is a legacy client: the reference's usage texts
        self.assertIn("用法: /ban -u <用户ID或用户名>", r["message"])
        self.assertIn("用法: /stats", r["message"])


if __name__ == "__main__":
    tap.main()
