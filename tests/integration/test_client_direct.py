#!/usr/bin/env python3
"""chatroom's direct messages and members in script mode: /msg, /create_chat
--invite-only, /invite, /kick, /leave and /list -c, what each side prints,
and that refused commands fail (status 1) and change nothing."""
import re
import subprocess
import unittest

from harness import CHATROOM, user
from clientlib import ClientTest, chat_lines, client_env, run_client
import tap

DIRECT_RE = re.compile(r"^\[direct\] \[\d\d:\d\d:\d\d\] #(\S+) <([^>]*)> (.*)$")


class DirectScript(ClientTest):
    def test_msg_opens_enters_and_sends(self):
        self.register("alice", "bob")
        b = self.client("bob")
        b.wait_for(r"^\*\*\* logged in as bob")
        rc, out, err = run_client(self.srv.port, ["/msg bob hello   bob", "and more"], user="alice")
        text = "\n".join(out)
        self.assertEqual(rc, 0, text + err)
        self.assertIn("*** new direct chat alice_bob with bob", text)
        self.assertIn("*** entered chat alice_bob", text)
        self.assertEqual(chat_lines(out), [("alice_bob", "alice", "hello   bob"),
                                           ("alice_bob", "alice", "and more")])
        # bob, in public, sees both marked, with sender and chat, and stays
        m = b.wait_for(r"^\[direct\] .*<alice> and more$")
        got = [DIRECT_RE.match(l).groups() for l in b.lines if DIRECT_RE.match(l)]
        self.assertEqual(got, [("alice_bob", "alice", "hello   bob"), ("alice_bob", "alice", "and more")])
        self.assertEqual(chat_lines(b.lines), [])
        b.send("still in public")
        b.wait_for(r"^\[\d\d:\d\d:\d\d\] #public <bob> still in public$")
        # a second /msg finds the same chat, from either side
        b.send("/msg alice hi back")
        b.wait_for(r"^\*\*\* the direct chat alice_bob with alice")
        b.wait_for(r"#alice_bob <bob> hi back$")
        b.send("/list -c")
        b.wait_for(r"^\*\*\*   alice_bob \(id \d+, 2 members, private\)$")
        self.assertEqual(b.finish(), 0, b.lines)

    def test_bad_msg_fails_and_keeps_the_current_chat(self):
        self.register("carol")
        rc, out, err = run_client(self.srv.port, ["/msg nobody_here hi", "/msg carol hi me", "/msg",
                                                  "after"], user="carol")
        text = "\n".join(out)
        self.assertEqual(rc, 1, text)
        self.assertIn("!!! ERROR 1003: user not found: nobody_here", text)
        self.assertIn("!!! ERROR 1008: a direct chat needs another user, not yourself", text)
        self.assertIn("!!! usage: /msg USER [TEXT]", text)
        # the text of a refused /msg went nowhere; the next line to public
        self.assertEqual(chat_lines(out), [("public", "carol", "after")])
        c = user(self.srv, "carol", protocol2=True)
        self.addCleanup(c.close)
        c.send("list_chats_request", list_type="joined")
        names = [x["group_name"] for x in c.recv_type("list_chats_response")["chats"]]
        self.assertEqual(names, ["public"])

    def test_invite_only_invite_and_kick(self):
        self.register("dave", "erin")
        e = self.client("erin")
        e.wait_for(r"^\*\*\* logged in as erin")
        e.send("/join_chat club")
        e.wait_for(r"^!!! ERROR 1004")
        d = self.client("dave")
        d.send("/create_chat club --invite-only", "/enter_chat club", "/list -c")
        d.wait_for(r"^\*\*\*   club \(id \d+, 1 member, invite-only\)$")
        e.send("/join_chat club")
        e.wait_for(r"^!!! ERROR 1005: club is invite-only")
        d.send("/invite erin")
        d.wait_for(r"^\*\*\* added erin to chat club$")
        e.wait_for(r"^\*\*\* dave added you to chat club; /enter_chat club to talk there$")
        e.send("/enter_chat club", "hi club")
        d.wait_for(r"#club <erin> hi club$")
        # erin may not kick the creator; the creator kicks erin
        e.send("/kick dave")
        e.wait_for(r"^!!! ERROR 1005: only the chat's creator or Admin may remove members$")
        d.send("/kick erin")
        d.wait_for(r"^\*\*\* removed erin from chat club$")
        e.wait_for(r"^\*\*\* dave removed you from chat club$")
        e.wait_for(r"^\*\*\* current chat public$")
        e.send("back outside")
        e.wait_for(r"#public <erin> back outside$")
        self.assertEqual(d.finish(), 0, d.lines)
        self.assertEqual(e.finish(), 1, e.lines)  # its refused commands

    def test_invite_errors(self):
        self.register("frank")
        rc, out, err = run_client(self.srv.port, ["/invite nobody_here", "/invite frank", "/kick frank"],
                                  user="frank")
        text = "\n".join(out)
        self.assertEqual(rc, 1, text)
        self.assertIn("!!! ERROR 1005: everyone is a member of public", text)
        self.assertEqual(text.count("!!! ERROR"), 3, text)

    def test_leave_moves_to_public(self):
        self.register("gina")
        rc, out, err = run_client(self.srv.port, ["/create_chat grp", "/enter_chat grp", "in grp",
                                                  "/leave", "in public", "/list -c", "/leave"],
                                  user="gina")
        text = "\n".join(out)
        self.assertEqual(rc, 1, text)  # the second /leave: public cannot be left
        self.assertIn("*** left chat grp", text)
        self.assertIn("*** current chat public", text)
        self.assertIn("!!! ERROR 1005: public cannot be left: every user is a member", text)
        self.assertEqual(chat_lines(out), [("grp", "gina", "in grp"), ("public", "gina", "in public")])
        listed = [l for l in out if re.match(r"^\*\*\*   \S+ \(id", l)]
        self.assertEqual(len(listed), 1, listed)
        self.assertTrue(listed[0].startswith("***   public "), listed)


class Help(unittest.TestCase):
    def test_help_names_the_direct_commands(self):
        p = subprocess.run([CHATROOM, "--help"], capture_output=True, env=client_env())
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"/msg USER [TEXT]", p.stdout)


if __name__ == "__main__":
    tap.main()
