#!/usr/bin/env python3
"""Admin's commands through the chatroom client in script mode: /add, /del,
/modify, /ban, /free, /stats, what others see of them, and the refusal a
normal user gets."""
import unittest

from adminlib import ADMIN_PASSWORD, AdminServerTest, admin, admin_cmd, upload
from clientlib import Client, run_client
from harness import PASSWORD, user
import tap


class ClientAdmin(AdminServerTest):
    def account(self, base):
        name = self.name(base)
        conn = user(self.srv, name)
        self.addCleanup(conn.close)
        return name, conn

    def as_admin(self, script):
        return run_client(self.srv.port, script, user="Admin", password=ADMIN_PASSWORD)

    def can_login(self, name, password=PASSWORD):
        c = self.srv.connect()
        try:
            return c.login(name, password)["success"]
        finally:
            c.close()

    def test_add_modify_and_delete_users(self):
        new, renamed = self.name("newbie"), self.name("renamed")
        rc, out, err = self.as_admin([
            "/add -u %s pass1234" % new,
            "/modify -u %s password other567" % new,
            "/modify -u %s username %s" % (new, renamed),
        ])
        self.assertEqual(rc, 0, (out, err))
        self.assertTrue(any(l.startswith("*** User %s added (id " % new) for l in out), out)
        self.assertIn("*** Password of %s changed" % new, out)
        self.assertIn("*** User %s renamed to %s" % (new, renamed), out)
        self.assertFalse(self.can_login(new, "pass1234"))
        self.assertTrue(self.can_login(renamed, "other567"))
        rc, out, err = self.as_admin(["/del -u " + renamed])
        self.assertEqual(rc, 0, (out, err))
        self.assertTrue(any(l.startswith("*** User %s (id " % renamed) and l.endswith(") deleted")
                            for l in out), out)
        self.assertFalse(self.can_login(renamed, "other567"))

    def test_ban_free_and_the_banned_list(self):
        victim, vconn = self.account("victim")
        owner, oconn = self.account("owner")
        room = self.name("room")
        gid = oconn.create_chat(room)["chat_group_id"]
        rc, out, err = self.as_admin(["/ban -u " + victim, "/ban -g %d" % gid, "/free -l"])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("*** User %s banned" % victim, out)
        self.assertIn("*** Chat %s banned" % room, out)
        users = out.index(next(l for l in out if l.startswith("*** banned users: ")))
        chats = out.index(next(l for l in out if l.startswith("*** banned chats: ")))
        self.assertIn("***   %s (id %d)" % (victim, vconn.user_id), out[users:chats])
        self.assertIn("***   %s (id %d)" % (room, gid), out[chats:])
        # the ban works: the victim cannot send
        vconn.chat("may I?")
        self.assertEqual(vconn.recv_type("error_message")["error_code"], 1005)
        rc, out, err = self.as_admin(["/free -u " + victim, "/free -g " + room, "/free -l"])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("*** User %s freed" % victim, out)
        self.assertIn("*** Chat %s freed" % room, out)
        self.assertFalse([l for l in out if victim in l and "(id" in l], out)

    def test_rename_and_delete_a_chat_and_delete_a_file(self):
        owner, oconn = self.account("chatter")
        room, new = self.name("old"), self.name("new")
        gid = oconn.create_chat(room)["chat_group_id"]
        _, final = upload(oconn, "doomed.txt", b"bye", gid)
        rc, out, err = self.as_admin(["/modify -g %d name %s" % (gid, new),
                                      "/del -f %d" % final["file_id"], "/del -g " + new])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("*** Chat %s renamed to %s" % (room, new), out)
        self.assertIn("*** File doomed.txt (id %d) deleted" % final["file_id"], out)
        self.assertIn("*** Chat %s (id %d) deleted" % (new, gid), out)

    def test_stats_prints_the_counters(self):
        rc, out, err = self.as_admin(["/stats"])
        self.assertEqual(rc, 0, (out, err))
        i = out.index("*** server counters:")
        counters = dict(l[4:].split() for l in out[i + 1:] if l.startswith("***   "))
        for key in ("connections_total", "users_online", "logins", "messages_in"):
            self.assertTrue(counters[key].isdigit(), (key, counters))
        self.assertGreaterEqual(int(counters["logins"]), 1)

    def test_refused_change_is_printed_and_fails(self):
        rc, out, err = self.as_admin(["/ban -g public", "/del -u nosuchuser42"])
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("!!! admin command refused: the group public cannot be banned", out)
        self.assertIn("!!! admin command refused: user not found: nosuchuser42", out)

    def test_normal_user_is_refused_with_1005(self):
        name, _ = self.account("plain")
        victim, _ = self.account("target")
        rc, out, err = run_client(self.srv.port, ["/ban -u " + victim, "/stats", "/free -l"],
                                  user=name)
        self.assertEqual(rc, 1, (out, err))
        refusals = [l for l in out if l.startswith("!!! ERROR 1005: ")]
        self.assertEqual(len(refusals), 3, out)
        self.assertIn("only Admin", refusals[0])
        # and nothing happened
        a = admin(self.srv)
        self.addCleanup(a.close)
        banned = admin_cmd(a, "free", "-l")["data"]["banned_users"]
        self.assertNotIn(victim, [u["username"] for u in banned])

    def test_help_shows_admin_commands_only_to_admin(self):
        name, _ = self.account("helpme")
        rc, out, err = run_client(self.srv.port, ["/help"], user=name)
        self.assertEqual(rc, 0, (out, err))
        self.assertTrue(any("/send_files" in l for l in out), out)
        self.assertFalse([l for l in out if "/ban" in l or "/stats" in l or "administration" in l], out)
        rc, out, err = self.as_admin(["/help"])
        self.assertEqual(rc, 0, (out, err))
        text = "\n".join(out)
        self.assertIn("*** administration:", text)
        for cmd in ("/add -u", "/del -u", "/modify -u", "/modify -g", "/ban -u", "/free -u",
                    "/free -l", "/stats"):
            self.assertIn(cmd, text)

    def test_others_see_admin_operations_as_info_lines(self):
        name, _ = self.account("watcher")
        victim, _ = self.account("noisy")
        c = Client(self.srv.port, user=name)
        self.addCleanup(c.kill)
        c.wait_for(r"^\*\*\* logged in as ")
        a = admin(self.srv)
        self.addCleanup(a.close)
        self.assertTrue(admin_cmd(a, "ban", "-u", target_name=victim)["success"])
        c.wait_for(r"^\*\*\* admin: User %s banned \(by Admin\)$" % victim)
        self.assertTrue(admin_cmd(a, "free", "-u", target_name=victim)["success"])
        c.wait_for(r"^\*\*\* admin: User %s freed \(by Admin\)$" % victim)
        self.assertEqual(c.finish(), 0, c.lines)

    def test_wrong_arguments_give_a_usage_line_and_send_nothing(self):
        bad = ["/ban", "/ban -x someone", "/ban -u", "/ban -u a b", "/del -f abc", "/del",
               "/modify -u 3 username", "/modify -g 3", "/add -u onlyname", "/free", "/free -l extra",
               "/stats now", "/add -g x y"]
        before = self.srv.log_text().count("admin: Admin")
        rc, out, err = self.as_admin(bad + ["/stats"])
        self.assertEqual(rc, 1, (out, err))
        usage = [l for l in out if l.startswith("!!! usage: /")]
        self.assertEqual(len(usage), len(bad), out)
        self.assertIn("!!! usage: /free -u USER | -g GROUP | -l", out)
        self.assertIn("*** server counters:", out)  # the good command after them ran
        self.assertEqual(self.srv.log_text().count("admin: Admin"), before + 1)


if __name__ == "__main__":
    tap.main()
