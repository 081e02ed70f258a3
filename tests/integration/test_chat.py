#!/usr/bin/env python3
"""Chatting in a group: delivery to everyone in the group with an echo to
the sender, the server's own sender fields, content cleaning, empty
content, and message order."""

from harness import ServerTest, main


class PublicChat(ServerTest):

    def test_two_users_see_each_others_messages_and_their_echo(self):
        alice = self.login_user(self.name("alice"))
        bob = self.login_user(self.name("bob"))
        # as the reference client: with the current group's id
        alice.chat("hi bob", group_id=alice.group["id"])
        for conn in (alice, bob):
            m = conn.recv_chat("hi bob")
            self.assertEqual(m["sender_username"], alice.username)
            self.assertEqual(m["sender_id"], alice.user_id)
            self.assertEqual(m["chat_group_id"], alice.group["id"])
            self.assertEqual(m["chat_group_name"], "public")
            self.assertIsInstance(m["message_id"], int)
        bob.chat("hi alice", group_id=bob.group["id"])
        ma = alice.recv_chat("hi alice")
        mb = bob.recv_chat("hi alice")
        self.assertEqual(ma["sender_username"], bob.username)
        self.assertEqual(ma["message_id"], mb["message_id"])

    def test_chat_without_group_id_goes_to_the_current_group(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("no group id")
        self.assertEqual(b.recv_chat("no group id")["chat_group_name"], "public")

    def test_each_message_is_delivered_once(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("only once")
        b.recv_chat("only once")
        a.recv_chat("only once")
        for conn in (a, b):
            again = [m for m in conn.collect(0.4)
                     if m["message_type"] == "chat_message" and m["content"] == "only once"]
            self.assertEqual(again, [])

    def test_sender_fields_from_client_are_ignored(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("spoof attempt", sender_id=b.user_id, sender_username=b.username,
               chat_group_name="not-public", message_id=999999)
        m = b.recv_chat("spoof attempt")
        self.assertEqual(m["sender_id"], a.user_id)
        self.assertEqual(m["sender_username"], a.username)
        self.assertEqual(m["chat_group_name"], "public")
        self.assertNotEqual(m["message_id"], 999999)

    def test_control_characters_are_stripped(self):
        a = self.login_user()
        a.chat("bell\x07 esc\x1b[31m cr\r del\x7f c1\u0085 end\nline2\tcol")
        m = a.recv_chat()
        self.assertEqual(m["content"], "bell esc[31m cr del c1 end\nline2\tcol")

    def test_nul_character_is_stripped_not_a_terminator(self):
        a = self.login_user()
        a.chat("before\x00after")
        self.assertEqual(a.recv_chat()["content"], "beforeafter")

    def test_long_content_is_cut_to_1000_characters(self):
        a = self.login_user()
        a.chat("x" * 1500)
        m = a.recv_chat()
        self.assertEqual(m["content"], "x" * 1000 + "...")

    def test_content_of_exactly_1000_characters_is_kept(self):
        a = self.login_user()
        a.chat("y" * 1000)
        self.assertEqual(a.recv_chat()["content"], "y" * 1000)

    def test_multibyte_characters_count_as_one(self):
        a = self.login_user()
        a.chat("中" * 1200)
        self.assertEqual(a.recv_chat()["content"], "中" * 1000 + "...")
        a.chat("😀" * 1001)
        self.assertEqual(a.recv_chat()["content"], "😀" * 1000 + "...")

    def test_empty_content_is_refused(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("")
        a.expect_error(1008)
        # content that is empty once cleaned is refused as well
        a.chat("\x01\x02")
        a.expect_error(1008)
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))
        # and the connection is still usable
        a.chat("not empty")
        b.recv_chat("not empty")

    def test_missing_content_is_refused(self):
        a = self.login_user()
        a.send("chat_message", chat_group_id=a.group["id"])
        a.expect_error(1008)

    def test_unicode_round_trip(self):
        a = self.login_user()
        b = self.login_user()
        text = "héllo 你好 😀 \"quoted\" \\ back/slash"
        a.chat(text)
        self.assertEqual(b.recv_chat(text)["content"], text)

    def test_message_ids_increase_in_one_order_for_everyone(self):
        a = self.login_user()
        b = self.login_user()
        c = self.login_user()
        for i in range(10):
            a.chat("a%d" % i)
            b.chat("b%d" % i)
        seqs = []
        for conn in (a, b, c):
            got = []
            while len(got) < 20:
                m = conn.recv_chat()
                if m["content"][:1] in ("a", "b") and m["content"][1:].isdigit():
                    got.append((m["message_id"], m["content"]))
            seqs.append(got)
        self.assertEqual(seqs[0], seqs[1])
        self.assertEqual(seqs[0], seqs[2])
        ids = [i for i, _ in seqs[0]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 20)
        # each sender's own messages keep their order
        self.assertEqual([c for _, c in seqs[0] if c[0] == "a"], ["a%d" % i for i in range(10)])

    def test_only_members_in_the_group_receive(self):
        a = self.login_user()
        b = self.login_user()
        gname = self.name("grp")
        r = a.create_chat(gname, [])
        self.assertIs(r.get("success"), True, r)
        gid = r["chat_group_id"]
        a.enter_chat(gname)
        a.chat("in my group", group_id=gid)
        a.recv_chat("in my group")
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))

    def test_chat_to_a_group_that_is_not_current_is_not_echoed_to_members_elsewhere(self):
        # the message goes to members whose current group is that group
        a = self.login_user()
        b = self.login_user()
        gname = self.name("cur")
        r = a.create_chat(gname, [b.username])
        gid = r["chat_group_id"]
        a.enter_chat(gname)
        # b is a member but its current group is still public
        a.chat("for the group", group_id=gid)
        a.recv_chat("for the group")
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))
        # once b enters, b sees it in the history
        _, hist, done = b.enter_chat(gname)
        self.assertIn("for the group", [h["content"] for h in hist])


if __name__ == "__main__":
    main()
